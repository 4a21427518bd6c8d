// Moving the install to another version: choose it, see the remap preview, and when schedules
// would be left without their endpoint, edit them or disable them as part of the update.
import { api, ApiError, ext } from "./api.js";
import { fill, h, stateMessage, toast } from "./dom.js";
import { openEditor } from "./schedule_form.js";

function dialog() {
  return document.getElementById("update-dialog");
}

function closeDialog() {
  dialog().close();
  fill(dialog());
}

async function editSchedule(page, scheduleId, reload) {
  closeDialog();
  let schedule = page.schedules.find((s) => s.id === scheduleId);
  if (!schedule) {
    try {
      schedule = (await api("GET", ext(page.extensionId, `/schedules/${scheduleId}`))).data;
    } catch (err) {
      toast(`Could not open the schedule: ${err.message}`, "error");
      return;
    }
  }
  openEditor(page, schedule, reload);
}

function missingList(page, missing, reload) {
  return h(
    "ul",
    { class: "missing" },
    missing.map((m) =>
      h(
        "li",
        {},
        h("span", { class: "name" }, m.name || "(unnamed)"),
        " ",
        m.method && m.path ? h("code", {}, `${m.method} ${m.path}`) : h("span", { class: "muted" }, "endpoint already gone"),
        " ",
        h("button", { type: "button", class: "small", onclick: () => editSchedule(page, m.scheduleId, reload) }, "Edit"),
      ),
    ),
  );
}

export async function openUpdate(page, reload) {
  const box = dialog();
  fill(box, h("h2", { id: "update-title" }, "Update extension"), stateMessage("loading", "Loading versions…"));
  box.showModal();
  let versions;
  try {
    versions = (await api("GET", ext(page.extensionId, "/versions"))).data.versions;
  } catch (err) {
    fill(
      box,
      h("h2", { id: "update-title" }, "Update extension"),
      stateMessage("error", `Could not load versions: ${err.message}`),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: closeDialog }, "Cancel")),
    );
    return;
  }
  const select = h(
    "select",
    { id: "update-version", name: "version" },
    h("option", { value: "", disabled: true, selected: true }, "Choose a version"),
    versions.map((v) =>
      h("option", { value: v.version, disabled: v.current }, v.current ? `${v.version} (installed)` : v.version),
    ),
  );
  const outcome = h("div", { class: "remap", "aria-live": "polite" });
  const actions = h("div", { class: "actions" });
  const cancel = h("button", { type: "button", onclick: closeDialog }, "Cancel");

  async function apply(version, disableMissing) {
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try {
      await api("POST", "/api/v1/extensions/update", {
        body: { registryId: page.install.registryId, version, disableMissingSchedules: disableMissing },
      });
      closeDialog();
      toast(`Updated to version ${version}.`);
      await reload();
    } catch (err) {
      for (const b of actions.querySelectorAll("button")) b.disabled = false;
      if (err instanceof ApiError && err.code === "SCHEDULE_REMAP_FAILED") {
        await preview(); // someone changed the schedules meanwhile: show the analysis again
      } else if (err.status !== 401) {
        fill(outcome, stateMessage("error", `The update failed: ${err.message}`));
      }
    }
  }

  async function preview() {
    const version = select.value;
    fill(actions, cancel);
    if (!version) return;
    fill(outcome, stateMessage("loading", `Checking version ${version}…`));
    let plan;
    try {
      plan = (
        await api("POST", "/api/v1/extensions/update/preview", {
          body: { registryId: page.install.registryId, version },
        })
      ).data;
    } catch (err) {
      fill(outcome, stateMessage("error", `Could not check version ${version}: ${err.message}`));
      return;
    }
    if (select.value !== version) return;
    const moved = plan.remapped.length;
    const movedText = `${moved} schedule${moved === 1 ? "" : "s"} will call the same endpoints in version ${version}.`;
    if (!plan.blocked) {
      fill(outcome, h("p", {}, movedText));
      fill(actions, cancel, h("button", { type: "button", class: "primary", onclick: () => apply(version, false) }, "Update"));
      return;
    }
    const n = plan.missing.length;
    fill(
      outcome,
      h("p", {}, movedText),
      h(
        "p",
        { class: "banner warn", role: "alert" },
        `${n} schedule${n === 1 ? " uses an endpoint" : "s use endpoints"} that version ${version} does not declare. ` +
          "Edit them to use another endpoint, or update anyway and they are disabled.",
      ),
      missingList(page, plan.missing, reload),
    );
    fill(actions, cancel, h("button", { type: "button", class: "danger", onclick: () => apply(version, true) }, "Disable them and update"));
  }

  select.addEventListener("change", preview);
  fill(
    box,
    h("h2", { id: "update-title" }, "Update extension"),
    h("p", { class: "muted" }, `Installed: version ${page.install.version}`),
    h("div", { class: "field" }, h("label", { for: "update-version" }, "Version"), select),
    outcome,
    actions,
  );
  fill(actions, cancel);
  select.focus();
}
