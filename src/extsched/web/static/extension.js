// One extension's page: its schedules, the editor, run history and the update flow.
import { api, ext } from "./api.js";
import { every, fill, h, stateMessage } from "./dom.js";
import { openHistory, refreshHistory } from "./run_history.js";
import { openEditor } from "./schedule_form.js";
import { renderSchedules } from "./schedule_table.js";
import { boot, canWrite } from "./session.js";
import { openUpdate } from "./extension_update.js";

const REFRESH_MS = 5000;
const PAGE = 25;

const page = {
  extensionId: document.body.dataset.extensionId,
  writable: false,
  install: null,
  endpoints: [],
  settings: null,
  schedules: [],
  cursor: null,
  loaded: false,
};

function schedulable() {
  return page.endpoints.filter((e) => e.schedulable);
}

// Every page of schedules loaded so far, read again, so a refresh keeps what "Load more" showed.
async function fetchSchedules(extraPage) {
  const want = Math.max(page.schedules.length, PAGE) + (extraPage ? PAGE : 0);
  const found = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) query.set("cursor", cursor);
    const { data } = await api("GET", ext(page.extensionId, `/schedules?${query}`));
    found.push(...data.schedules);
    cursor = data.nextCursor;
  } while (cursor && found.length < want);
  page.schedules = found;
  page.cursor = cursor;
}

function renderHeader() {
  const i = page.install;
  const name = i.displayName || i.slug;
  document.title = `${name} · Schedules · extsched settings`;
  fill(document.getElementById("extension-title"), name);
  fill(document.getElementById("crumb-name"), name);
  fill(
    document.getElementById("extension-meta"),
    `${i.slug} · version ${i.version}`,
    i.enabled ? "" : " · disabled",
  );
  const banners = [];
  if (page.settings && page.settings.schedulesPaused) {
    banners.push(
      h(
        "p",
        { class: "banner warn" },
        "Every schedule of this tenant is paused (kill switch). ",
        h("a", { href: "/settings/extensions" }, "Tenant settings"),
      ),
    );
  }
  if (!i.enabled) {
    banners.push(
      h("p", { class: "banner warn" }, "This extension is disabled: its schedules do not run."),
    );
  }
  fill(document.getElementById("banners"), banners);
  const actions = document.getElementById("extension-actions");
  fill(
    actions,
    page.writable
      ? h("button", { type: "button", onclick: () => openUpdate(page, reloadAll) }, "Update extension")
      : null,
  );
}

function renderToolbar() {
  const box = document.getElementById("schedule-actions");
  // With no schedule yet the empty state offers the button instead: one "New schedule" at a time.
  const canCreate = page.writable && schedulable().length > 0 && page.schedules.length > 0;
  fill(
    box,
    canCreate
      ? h("button", { type: "button", class: "primary", onclick: () => openEditor(page, null, reloadSchedules) }, "New schedule")
      : null,
  );
}

function renderList() {
  const box = document.getElementById("schedules");
  const parts = [];
  if (!schedulable().length) {
    parts.push(
      stateMessage(
        "empty",
        "This extension declares no schedulable endpoints, so there is nothing to schedule. " +
          "A later version may add some.",
      ),
    );
  }
  if (!page.schedules.length) {
    if (schedulable().length) {
      parts.push(
        stateMessage(
          "empty",
          "No schedules yet. A schedule calls one of this extension's endpoints on a cron, in the time zone you choose.",
          page.writable
            ? h("button", { type: "button", class: "primary", onclick: () => openEditor(page, null, reloadSchedules) }, "New schedule")
            : null,
        ),
      );
    }
    fill(box, parts);
    return;
  }
  fill(box, parts, h("div", { id: "schedule-table" }));
  renderSchedules(document.getElementById("schedule-table"), page, {
    edit: (s) => openEditor(page, s, reloadSchedules),
    history: (s) => openHistory(page, s),
    changed: reloadSchedules,
  });
  if (page.cursor) {
    box.append(
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => reloadSchedules(true) }, "Load more schedules")),
    );
  }
}

async function reloadSchedules(extraPage = false) {
  try {
    await fetchSchedules(extraPage === true);
    renderToolbar();
    renderList();
  } catch (err) {
    if (!page.loaded) throw err;
    // A refresh that fails keeps what is shown; a user action tells its own error.
  }
  refreshHistory(page);
}

async function reloadAll() {
  // The server resolves the page's id (install id, registry id or slug); the tenant's list
  // adds the extension's name and slug to that install.
  const [own, listed, endpoints, settings] = await Promise.all([
    api("GET", `/api/v1/extensions/${encodeURIComponent(page.extensionId)}`).then(({ data }) => data),
    api("GET", "/api/v1/extensions").then(({ data }) => data.extensions),
    api("GET", ext(page.extensionId, "/endpoints")).then(({ data }) => data.endpoints),
    api("GET", "/api/tenant/settings").then(({ data }) => data),
  ]);
  const install = listed.find((e) => e.id === own.id) || { ...own, slug: page.extensionId, displayName: null };
  Object.assign(page, { install, endpoints, settings });
  await fetchSchedules(false);
  renderHeader();
  renderToolbar();
  renderList();
  refreshHistory(page);
}

async function start() {
  page.writable = canWrite();
  const box = document.getElementById("schedules");
  fill(box, stateMessage("loading", "Loading schedules…"));
  try {
    await reloadAll();
    page.loaded = true;
  } catch (err) {
    if (err.status === 401) return;
    if (err.code === "EXTENSION_NOT_INSTALLED") {
      fill(
        box,
        stateMessage("error", "This extension is not installed for your tenant.",
          h("a", { href: "/settings/extensions" }, "Installed extensions")),
      );
    } else {
      fill(box, stateMessage("error", `Could not load schedules: ${err.message}`,
        h("button", { type: "button", onclick: start }, "Retry")));
    }
    return;
  }
  every(REFRESH_MS, () => reloadSchedules());
}

boot(start);
