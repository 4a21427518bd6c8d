// The schedule list: one row per schedule with its switch and buttons inside it.
import { api, ext } from "./api.js";
import { confirmDialog, h, redraw, toast } from "./dom.js";
import { timeEl } from "./times.js";

export function label(s) {
  return s.name || s.cron;
}

const REASONS = {
  endpoint_missing_after_update: "its endpoint is not in the installed version",
};

function statusBadge(status) {
  if (!status) return h("span", { class: "muted" }, "never run");
  return h("span", { class: `badge status-${status}` }, status.replace(/_/g, " "));
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Error copied.");
  } catch {
    toast("Copying is not allowed here; select the text instead.", "error");
  }
}

async function toggle(page, s, checkbox, changed) {
  checkbox.disabled = true;
  try {
    await api("PATCH", ext(page.extensionId, `/schedules/${s.id}`), {
      body: { enabled: checkbox.checked },
      headers: { "If-Match": `"${s.revision}"` },
    });
    toast(`${label(s)} ${checkbox.checked ? "enabled" : "disabled"}.`);
  } catch (err) {
    checkbox.checked = !checkbox.checked;
    toast(`Could not change ${label(s)}: ${err.message}`, "error");
  } finally {
    checkbox.disabled = false;
    changed();
  }
}

async function runNow(page, s, changed) {
  try {
    const { status } = await api("POST", ext(page.extensionId, `/schedules/${s.id}/run-now`));
    toast(status === 202 ? `Run of ${label(s)} queued.` : `A run of ${label(s)} is already queued or running.`);
  } catch (err) {
    toast(`Could not run ${label(s)}: ${err.message}`, "error");
  }
  changed();
}

async function remove(page, s, changed) {
  const sure = await confirmDialog({
    title: `Delete schedule “${label(s)}”?`,
    message: "It stops running and its run history is deleted. This cannot be undone.",
    confirm: "Delete",
  });
  if (!sure) return;
  try {
    await api("DELETE", ext(page.extensionId, `/schedules/${s.id}`));
    toast(`Schedule ${label(s)} deleted.`);
  } catch (err) {
    toast(`Could not delete ${label(s)}: ${err.message}`, "error");
  }
  changed();
}

function row(page, s, actions) {
  const key = (what) => `${s.id}:${what}`;
  const enabledCell = page.writable
    ? (() => {
        const box = h("input", {
          type: "checkbox",
          role: "switch",
          checked: s.enabled,
          "aria-label": `Enabled: ${label(s)}`,
          "data-focus": key("enabled"),
        });
        box.addEventListener("change", () => toggle(page, s, box, actions.changed));
        return box;
      })()
    : h("span", {}, s.enabled ? "On" : "Off");
  const button = (text, what, onclick, cls) =>
    h("button", { type: "button", class: cls, "data-focus": key(what), onclick }, text);
  const endpoint =
    s.endpointMethod && s.endpointPath
      ? h("code", {}, `${s.endpointMethod} ${s.endpointPath}`)
      : h("span", { class: "muted" }, "endpoint no longer exists");
  return h(
    "tr",
    { "data-id": s.id },
    h(
      "td",
      { "data-label": "Name" },
      h("span", { class: s.name ? "name" : "name muted" }, s.name || "(unnamed)"),
      s.disabledReason
        ? h("span", { class: "badge warn" }, `Disabled: ${REASONS[s.disabledReason] || s.disabledReason}`)
        : null,
    ),
    h("td", { "data-label": "Endpoint" }, endpoint),
    h(
      "td",
      { "data-label": "Cron" },
      h("code", {}, s.cron),
      h("div", { class: "muted small" }, s.cronDescription),
    ),
    h("td", { "data-label": "Time zone" }, s.timezone),
    h("td", { "data-label": "Enabled" }, enabledCell),
    h("td", { "data-label": "Next run" }, timeEl(s.nextRunAt, s.timezone)),
    h(
      "td",
      { "data-label": "Last run" },
      statusBadge(s.lastRunStatus),
      s.lastRunAt ? h("div", { class: "small" }, timeEl(s.lastRunAt, s.timezone)) : null,
    ),
    h(
      "td",
      { "data-label": "Last error" },
      s.lastError
        ? [
            h("span", { class: "error-text", title: s.lastError }, s.lastError),
            button("Copy error", "copy", () => copyText(s.lastError), "quiet small"),
          ]
        : h("span", { class: "muted" }, "—"),
    ),
    h(
      "td",
      { "data-label": "Actions" },
      h(
        "div",
        { class: "buttons" },
        page.writable ? button("Run now", "run", () => runNow(page, s, actions.changed)) : null,
        page.writable ? button("Edit", "edit", () => actions.edit(s)) : null,
        button("History", "history", () => actions.history(s)),
        page.writable ? button("Delete", "delete", () => remove(page, s, actions.changed), "danger") : null,
      ),
    ),
  );
}

export function renderSchedules(box, page, actions) {
  redraw(
    box,
    h(
      "div",
      { class: "table-wrap" },
      h(
      "table",
      { class: "grid schedules" },
      h("caption", { class: "visually-hidden" }, "Schedules"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Name", "Endpoint", "Cron", "Time zone", "Enabled", "Next run", "Last run", "Last error", "Actions"].map(
            (t) => h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h("tbody", {}, page.schedules.map((s) => row(page, s, actions))),
      ),
    ),
  );
}
