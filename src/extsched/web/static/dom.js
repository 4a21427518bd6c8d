// Builds elements from plain values. Text always goes in as text, never as markup, so whatever
// a schedule's name or payload holds is shown, not run.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Replaces a section's content; the control that had focus (marked `data-focus`) keeps it, so a
// periodic refresh never pulls a keyboard user out of the list.
export function redraw(box, ...children) {
  const active = document.activeElement;
  const key = active && box.contains(active) && active.dataset ? active.dataset.focus : null;
  fill(box, ...children);
  if (key) {
    const again = box.querySelector(`[data-focus="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
  return box;
}

export function toast(message, kind = "info") {
  const item = h("div", { class: `toast ${kind}` }, message);
  document.getElementById("toasts").append(item);
  setTimeout(() => item.remove(), kind === "error" ? 10000 : 6000);
}

// A modal confirmation; resolves true only when the named button is pressed.
export function confirmDialog({ title, message, confirm, danger = true }) {
  return new Promise((resolve) => {
    const titleId = `confirm-${Math.random().toString(36).slice(2)}`;
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    fill(
      dialog,
      h("h2", { id: titleId, text: title }),
      h("p", { text: message }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => done(false) }, "Cancel"),
        h(
          "button",
          { type: "button", class: danger ? "danger" : "primary", onclick: () => done(true) },
          confirm,
        ),
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A section's loading, error and empty states, announced the same way everywhere.
export function stateMessage(kind, message, ...actions) {
  return h(
    "div",
    { class: `state ${kind}`, role: kind === "error" ? "alert" : null },
    h("p", { text: message }),
    actions.length ? h("div", { class: "actions" }, actions) : null,
  );
}

// Polls while the page is visible; returns a function that stops it.
export function every(ms, fn) {
  const timer = setInterval(() => {
    if (!document.hidden) fn();
  }, ms);
  return () => clearInterval(timer);
}
