// One schedule's run history, newest first; refreshed while open.
import { api, ext } from "./api.js";
import { fill, h, redraw, stateMessage } from "./dom.js";
import { label } from "./schedule_table.js";
import { duration, timeEl } from "./times.js";

const PAGE = 20;
const open = { schedule: null, runs: [], cursor: null, pages: 1 };

function panel() {
  return document.getElementById("history");
}

function close() {
  open.schedule = null;
  panel().hidden = true;
  fill(panel());
}

function errorCell(r) {
  if (r.skipReason) return h("span", { class: "muted" }, `skipped: ${r.skipReason.replace(/_/g, " ")}`);
  if (!r.error) return h("span", { class: "muted" }, r.httpStatus ? `HTTP ${r.httpStatus}` : "—");
  return h("span", { class: "error-text", title: r.error }, r.httpStatus ? `HTTP ${r.httpStatus}: ${r.error}` : r.error);
}

function draw(page) {
  const s = open.schedule;
  const zone = s.timezone;
  const body = open.runs.length
    ? h(
        "table",
        { class: "grid runs" },
        h("caption", { class: "visually-hidden" }, `Runs of ${label(s)}, newest first`),
        h("thead", {}, h("tr", {}, ["Status", "Trigger", "Scheduled for", "Started", "Duration", "Attempt", "Error"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          open.runs.map((r) =>
            h(
              "tr",
              { "data-id": r.id },
              h("td", { "data-label": "Status" }, h("span", { class: `badge status-${r.status}` }, r.status.replace(/_/g, " "))),
              h("td", { "data-label": "Trigger" }, r.trigger.replace(/_/g, " ")),
              h("td", { "data-label": "Scheduled for" }, timeEl(r.scheduledFor, zone)),
              h("td", { "data-label": "Started" }, timeEl(r.startedAt, zone)),
              h("td", { "data-label": "Duration" }, duration(r.durationMs)),
              h("td", { "data-label": "Attempt" }, `${r.attempt} / ${r.maxAttempts}`),
              h("td", { "data-label": "Error" }, errorCell(r)),
            ),
          ),
        ),
      )
    : stateMessage("empty", "No runs yet. Runs appear here when the schedule fires or you run it now.");
  redraw(
    panel(),
    h(
      "div",
      { class: "section-head" },
      h("h2", { id: "history-title", tabindex: "-1", "data-focus": "history-title" }, `Run history: ${label(s)}`),
      h("button", { type: "button", class: "quiet", "data-focus": "close", onclick: close }, "Close history"),
    ),
    body,
    open.cursor
      ? h("div", { class: "actions" }, h("button", { type: "button", "data-focus": "older", onclick: () => more(page) }, "Older runs"))
      : null,
  );
}

async function load(page) {
  const s = open.schedule;
  const runs = [];
  let cursor = null;
  let pages = 0;
  do {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    const { data } = await api("GET", ext(page.extensionId, `/schedules/${s.id}/runs?${query}`));
    runs.push(...data.runs);
    cursor = data.nextCursor;
    pages += 1;
  } while (cursor && pages < open.pages);
  if (open.schedule !== s) return;
  open.runs = runs;
  open.cursor = cursor;
  draw(page);
}

async function more(page) {
  open.pages += 1;
  await load(page).catch(() => {});
}

export async function openHistory(page, schedule) {
  Object.assign(open, { schedule, runs: [], cursor: null, pages: 1 });
  panel().hidden = false;
  fill(panel(), h("h2", { id: "history-title" }, `Run history: ${label(schedule)}`), stateMessage("loading", "Loading runs…"));
  panel().scrollIntoView({ block: "start" });
  try {
    await load(page);
    panel().querySelector("h2").focus();
  } catch (err) {
    if (open.schedule === schedule && err.status !== 401) {
      fill(panel(), h("h2", { id: "history-title" }, `Run history: ${label(schedule)}`),
        stateMessage("error", `Could not load runs: ${err.message}`,
          h("button", { type: "button", onclick: () => openHistory(page, schedule) }, "Retry")));
    }
  }
}

// Called on every refresh of the list: follows the open schedule (renamed, or deleted).
export function refreshHistory(page) {
  if (!open.schedule) return;
  const fresh = page.schedules.find((s) => s.id === open.schedule.id);
  if (!fresh) {
    close();
    return;
  }
  open.schedule = fresh;
  load(page).catch(() => {});
}
