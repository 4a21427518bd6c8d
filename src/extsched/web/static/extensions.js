// The tenant's page: installed extensions, tenant settings (default zone, kill switch), audit log.
import { api, ApiError } from "./api.js";
import { confirmDialog, fill, h, stateMessage, toast } from "./dom.js";
import { boot, canWrite } from "./session.js";
import { timeEl } from "./times.js";

async function loadInstalled() {
  const box = document.getElementById("installed");
  fill(box, stateMessage("loading", "Loading extensions…"));
  try {
    const { data } = await api("GET", "/api/v1/extensions");
    if (!data.extensions.length) {
      fill(box, stateMessage("empty", "No extensions are installed for this tenant yet."));
      return;
    }
    fill(
      box,
      h(
        "ul",
        { class: "extension-list" },
        data.extensions.map((e) =>
          h(
            "li",
            {},
            h("a", { href: `/settings/extensions/${encodeURIComponent(e.slug)}` }, e.displayName || e.slug),
            h("span", { class: "muted" }, ` ${e.slug} · version ${e.version}`),
            e.enabled ? null : h("span", { class: "badge warn" }, "disabled"),
          ),
        ),
      ),
    );
  } catch (err) {
    fill(box, stateMessage("error", `Could not load extensions: ${err.message}`, retry(loadInstalled)));
  }
}

function retry(fn) {
  return h("button", { type: "button", onclick: fn }, "Retry");
}

async function loadSettings() {
  const box = document.getElementById("tenant-settings");
  fill(box, stateMessage("loading", "Loading settings…"));
  let settings;
  try {
    settings = (await api("GET", "/api/tenant/settings")).data;
  } catch (err) {
    fill(box, stateMessage("error", `Could not load settings: ${err.message}`, retry(loadSettings)));
    return;
  }
  const pausedNote = settings.schedulesPaused
    ? h("p", { class: "banner warn", text: "Every schedule of this tenant is paused." })
    : null;
  if (!canWrite()) {
    fill(
      box,
      pausedNote,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Default time zone"),
        h("dd", {}, settings.defaultTimezone),
        h("dt", {}, "Schedules"),
        h("dd", {}, settings.schedulesPaused ? "Paused (kill switch on)" : "Running"),
      ),
    );
    return;
  }
  const zone = h("input", {
    id: "default-zone",
    list: "zones",
    value: settings.defaultTimezone,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "default-zone-error default-zone-hint",
  });
  const zoneError = h("p", { id: "default-zone-error", class: "error" });
  const form = h(
    "form",
    { class: "inline-form", novalidate: true },
    h(
      "div",
      { class: "field" },
      h("label", { for: "default-zone" }, "Default time zone"),
      zone,
      h("p", { id: "default-zone-hint", class: "hint" }, "New schedules start in this zone."),
      zoneError,
    ),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    zoneError.textContent = "";
    zone.removeAttribute("aria-invalid");
    try {
      await api("PUT", "/api/tenant/settings", { body: { defaultTimezone: zone.value } });
      toast("Default time zone saved.");
      loadSettings();
      loadAudit(true);
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.defaultTimezone) {
        zoneError.textContent = err.fieldErrors.defaultTimezone;
        zone.setAttribute("aria-invalid", "true");
        zone.focus();
      } else toast(err.message, "error");
    }
  });
  const kill = h("input", {
    type: "checkbox",
    role: "switch",
    id: "kill-switch",
    checked: settings.schedulesPaused,
    "aria-describedby": "kill-switch-hint",
  });
  kill.addEventListener("change", async () => {
    const pause = kill.checked;
    kill.checked = !pause; // until the change is confirmed and saved
    if (pause) {
      const sure = await confirmDialog({
        title: "Pause every schedule?",
        message:
          "No schedule of this tenant will run, and run-now is refused, until you resume. " +
          "Occurrences missed while paused are not made up.",
        confirm: "Pause all schedules",
      });
      if (!sure) return;
    }
    try {
      await api("PUT", "/api/tenant/settings", { body: { schedulesPaused: pause } });
      toast(pause ? "Every schedule is paused." : "Schedules resumed.");
      loadSettings();
      loadAudit(true);
    } catch (err) {
      toast(err.message, "error");
    }
  });
  fill(
    box,
    pausedNote,
    form,
    h("h3", {}, "Kill switch"),
    h(
      "div",
      { class: "field switch-field" },
      kill,
      h("label", { for: "kill-switch" }, "Pause all schedules"),
      h(
        "p",
        { id: "kill-switch-hint", class: "hint" },
        "The kill switch: stops every schedule of every extension of this tenant.",
      ),
    ),
  );
}

const audit = { cursor: null, entries: [] };

function changeList(details) {
  const before = (details && details.before) || {};
  const after = (details && details.after) || {};
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  if (!fields.length) return h("span", { class: "muted" }, "—");
  const show = (v) => (v === undefined ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  return h(
    "ul",
    { class: "changes" },
    fields.map((f) => {
      const was = f in before ? h("span", { class: "before" }, show(before[f])) : null;
      const now = f in after ? h("span", { class: "after" }, show(after[f])) : h("em", {}, "removed");
      return h("li", {}, h("strong", {}, f), ": ", was, was ? " → " : null, now);
    }),
  );
}

async function loadAudit(fromStart) {
  const box = document.getElementById("audit");
  if (fromStart) {
    audit.cursor = null;
    audit.entries = [];
    fill(box, stateMessage("loading", "Loading the audit log…"));
  }
  try {
    const query = new URLSearchParams({ limit: "20" });
    if (audit.cursor) query.set("cursor", audit.cursor);
    const { data } = await api("GET", `/api/tenant/audit?${query}`);
    audit.entries.push(...data.entries);
    audit.cursor = data.nextCursor;
  } catch (err) {
    fill(box, stateMessage("error", `Could not load the audit log: ${err.message}`, retry(() => loadAudit(true))));
    return;
  }
  if (!audit.entries.length) {
    fill(box, stateMessage("empty", "Nothing has been changed yet."));
    return;
  }
  fill(
    box,
    h(
      "table",
      { class: "grid audit" },
      h("caption", { class: "visually-hidden" }, "Audit log, newest first"),
      h("thead", {}, h("tr", {}, ["When", "Actor", "Action", "Target", "Changes"].map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        audit.entries.map((e) =>
          h(
            "tr",
            {},
            h("td", { "data-label": "When" }, timeEl(e.createdAt)),
            h("td", { "data-label": "Actor" }, e.actor),
            h("td", { "data-label": "Action" }, h("code", {}, e.action)),
            h("td", { "data-label": "Target" }, `${e.targetType} `, h("code", { class: "id" }, e.targetId)),
            h("td", { "data-label": "Changes" }, changeList(e.details)),
          ),
        ),
      ),
    ),
    audit.cursor
      ? h("div", { class: "actions" }, h("button", { type: "button", onclick: () => loadAudit(false) }, "Older entries"))
      : null,
  );
}

boot(() => {
  loadInstalled();
  loadSettings();
  loadAudit(true);
});
