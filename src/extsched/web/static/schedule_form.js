// The create/edit form: live cron check with the next occurrences, payload check, and the
// server's field errors shown next to their fields.
import { api, ApiError, ext } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { label } from "./schedule_table.js";
import { timeText } from "./times.js";

const FIELDS = ["name", "endpointId", "cron", "timezone", "payloadJson", "enabled", "maxAttempts", "jitterSeconds"];
let sequence = 0;

function field(id, text, control, hint) {
  control.id = id;
  const describedBy = [`${id}-error`, hint ? `${id}-hint` : null].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  return h(
    "div",
    { class: "field", "data-field": id },
    h("label", { for: id }, text),
    control,
    hint ? h("div", { id: `${id}-hint`, class: "hint" }, hint) : null,
    h("p", { id: `${id}-error`, class: "error" }),
  );
}

function setError(form, name, message) {
  const control = form.querySelector(`[name="${name}"]`);
  const slot = form.querySelector(`#f-${name}-error`);
  if (!control || !slot) return false;
  slot.textContent = message || "";
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  return true;
}

function endpointOption(e, selected) {
  const text = e.schedulable ? `${e.method} ${e.path}` : `${e.method} ${e.path} — ${e.reason}`;
  return h("option", { value: e.id, disabled: !e.schedulable, selected: e.id === selected }, text);
}

function parsePayload(text) {
  if (!text.trim()) return { value: null };
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not valid JSON: ${err.message}` };
  }
  if (value === null || typeof value !== "object") return { error: "must be a JSON object or array" };
  return { value };
}

export function openEditor(page, schedule, saved) {
  const panel = document.getElementById("editor");
  const editing = schedule !== null;
  const current = schedule || {
    name: null,
    endpointId: "",
    cron: "",
    timezone: (page.settings && page.settings.defaultTimezone) || "UTC",
    payloadJson: null,
    enabled: true,
    maxAttempts: 3,
    jitterSeconds: 0,
  };
  const formId = ++sequence;
  const endpoint = h(
    "select",
    { name: "endpointId", required: true },
    h(
      "option",
      { value: "", disabled: true, selected: !page.endpoints.some((e) => e.id === current.endpointId) },
      current.endpointId ? "Its endpoint no longer exists: choose one" : "Choose an endpoint",
    ),
    page.endpoints.map((e) => endpointOption(e, current.endpointId)),
  );
  const cron = h("input", { name: "cron", value: current.cron, autocomplete: "off", spellcheck: "false", placeholder: "0 9 * * 1-5", required: true });
  const zone = h("input", { name: "timezone", value: current.timezone, list: "zones", autocomplete: "off", spellcheck: "false" });
  const payload = h("textarea", { name: "payloadJson", rows: "6", spellcheck: "false" });
  payload.value = current.payloadJson === null ? "" : JSON.stringify(current.payloadJson, null, 2);
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: current.enabled });
  const attempts = h("input", { type: "number", name: "maxAttempts", min: "1", max: "5", value: String(current.maxAttempts) });
  const jitter = h("input", { type: "number", name: "jitterSeconds", min: "0", max: "300", value: String(current.jitterSeconds) });
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const formError = h("div", { class: "error form-error", role: "alert" });

  const form = h(
    "form",
    { novalidate: true, class: "editor" },
    field("f-name", "Name", h("input", { name: "name", value: current.name || "", maxlength: "128", autocomplete: "off" })),
    field("f-endpointId", "Endpoint", endpoint, "Endpoints the installed version declares; those that cannot be scheduled say why."),
    field("f-cron", "Cron", cron, preview),
    field("f-timezone", "Time zone", zone, "An IANA time zone such as Europe/Paris; type to search."),
    field("f-payloadJson", "Payload (JSON)", payload, h("span", { id: "payload-note" }, "Sent as the request body. Never put secrets here: use the extension's install secrets.")),
    h(
      "div",
      { class: "field switch-field", "data-field": "f-enabled" },
      enabled,
      h("label", { for: "f-enabled" }, "Enabled"),
      h("p", { id: "f-enabled-error", class: "error" }),
    ),
    h(
      "details",
      { class: "advanced" },
      h("summary", {}, "Retries and jitter"),
      field("f-maxAttempts", "Max attempts", attempts, "1–5 tries for each occurrence."),
      field("f-jitterSeconds", "Jitter (seconds)", jitter, "0–300: spreads start times of many schedules."),
    ),
    formError,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Save"),
      h("button", { type: "button", onclick: () => close() }, "Cancel"),
    ),
  );
  enabled.id = "f-enabled";
  enabled.setAttribute("aria-describedby", "f-enabled-error");

  function close() {
    panel.hidden = true;
    fill(panel);
  }

  function endpointIsGet() {
    const e = page.endpoints.find((x) => x.id === endpoint.value);
    return Boolean(e && e.method.toUpperCase() === "GET");
  }

  function syncPayload() {
    const get = endpointIsGet();
    payload.disabled = get;
    document.getElementById("payload-note").textContent = get
      ? "GET endpoints receive no body, so a GET schedule has no payload."
      : "Sent as the request body. Never put secrets here: use the extension's install secrets.";
    if (get) setError(form, "payloadJson", "");
  }

  function checkPayload() {
    if (payload.disabled) return { value: null };
    const parsed = parsePayload(payload.value);
    setError(form, "payloadJson", parsed.error ? `Payload is ${parsed.error}` : "");
    return parsed;
  }

  let previewTimer = null;
  let previewSeq = 0;
  async function refreshPreview() {
    const mine = ++previewSeq;
    if (!cron.value.trim()) {
      fill(preview, h("span", { class: "hint" }, "Five fields: minute hour day-of-month month day-of-week. At most every 5 minutes."));
      setError(form, "cron", "");
      return;
    }
    try {
      const { data } = await api("POST", ext(page.extensionId, "/schedules/preview"), {
        body: { cron: cron.value, timezone: zone.value || undefined, count: 5 },
      });
      if (mine !== previewSeq || formId !== sequence) return;
      if (!data.valid) {
        const errors = data.fieldErrors || {};
        setError(form, "cron", errors.cron || "");
        setError(form, "timezone", errors.timezone || "");
        fill(preview);
        return;
      }
      setError(form, "cron", "");
      setError(form, "timezone", "");
      const z = zone.value || current.timezone;
      fill(
        preview,
        h("p", { class: "description" }, data.description),
        h("p", { class: "hint" }, "Next runs:"),
        h("ol", { class: "occurrences" }, data.occurrences.map((o) => h("li", {}, h("time", { datetime: o.utc, title: `Your time: ${timeText(o.utc)}` }, timeText(o.utc, z))))),
      );
    } catch (err) {
      if (err instanceof ApiError && err.status !== 401) fill(preview, h("span", { class: "hint" }, `Preview unavailable: ${err.message}`));
    }
  }
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, 250);
  }

  endpoint.addEventListener("change", () => {
    syncPayload();
    setError(form, "endpointId", "");
  });
  cron.addEventListener("input", schedulePreview);
  zone.addEventListener("change", schedulePreview);
  zone.addEventListener("input", schedulePreview);
  payload.addEventListener("input", checkPayload);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    for (const name of FIELDS) setError(form, name, "");
    const parsed = checkPayload();
    if (parsed.error) {
      payload.focus();
      return;
    }
    const values = {
      name: form.querySelector('[name="name"]').value.trim() || null,
      endpointId: endpoint.value,
      cron: cron.value.trim(),
      timezone: zone.value.trim(),
      payloadJson: payload.disabled ? null : parsed.value,
      enabled: enabled.checked,
      maxAttempts: Number(attempts.value),
      jitterSeconds: Number(jitter.value),
    };
    let body = values;
    if (editing) {
      // Only what changed, so a field another admin edited meanwhile is not overwritten.
      body = {};
      for (const name of FIELDS) {
        if (JSON.stringify(values[name]) !== JSON.stringify(schedule[name] ?? null)) body[name] = values[name];
      }
      if (body.endpointId === "") delete body.endpointId;
    } else if (!values.timezone) delete body.timezone;
    const save = form.querySelector('button[type="submit"]');
    save.disabled = true;
    try {
      if (editing) {
        await api("PATCH", ext(page.extensionId, `/schedules/${schedule.id}`), {
          body,
          headers: { "If-Match": `"${schedule.revision}"` },
        });
      } else {
        await api("POST", ext(page.extensionId, "/schedules"), { body });
      }
      toast(editing ? `Schedule ${values.name || values.cron} saved.` : `Schedule ${values.name || values.cron} created.`);
      close();
      saved();
    } catch (err) {
      save.disabled = false;
      if (!(err instanceof ApiError) || err.status === 401) return;
      const unplaced = [];
      for (const [name, message] of Object.entries(err.fieldErrors)) {
        if (!setError(form, name, message)) unplaced.push(`${name}: ${message}`);
      }
      const invalid = form.querySelector('[aria-invalid="true"]');
      if (err.code === "REVISION_CONFLICT") {
        formError.textContent = "Someone else changed this schedule meanwhile. Cancel and open it again to see their change.";
      } else if (unplaced.length || !invalid) {
        formError.textContent = [err.message, ...unplaced].join(" — ");
      }
      (invalid || formError).focus();
    }
  });

  fill(
    panel,
    h("h2", { id: "editor-title" }, editing ? `Edit schedule “${label(schedule)}”` : "New schedule"),
    schedule && schedule.disabledReason
      ? h("p", { class: "banner warn" }, "This schedule was disabled by an extension update: choose an endpoint the installed version declares, then enable it.")
      : null,
    form,
  );
  formError.tabIndex = -1;
  panel.hidden = false;
  syncPayload();
  refreshPreview();
  panel.scrollIntoView({ block: "start" });
  form.querySelector('[name="name"]').focus();
}
