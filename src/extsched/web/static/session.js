// Sign-in as SPEC §11 pins it: a `#token=` fragment is kept in sessionStorage and removed from
// the address bar; without a token the page shows the "Token" form.

const KEY = "extsched.token";
const WRITE = "extension:write";

export function token() {
  return sessionStorage.getItem(KEY);
}

function takeFragmentToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const given = params.get("token");
  if (given === null) return;
  if (given.trim()) sessionStorage.setItem(KEY, given.trim());
  // The fragment never reaches the server, but it would stay in history and in screenshots.
  history.replaceState(history.state, "", location.pathname + location.search);
}

// The token's claims, only to shape the page (which controls to offer); the API decides.
export function claims() {
  const t = token();
  if (!t) return {};
  try {
    const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

export function canWrite() {
  const perms = claims().permissions;
  return Array.isArray(perms) && perms.includes(WRITE);
}

let started = false;

function showSignIn(reason) {
  document.getElementById("app").hidden = true;
  document.getElementById("sign-out").hidden = true;
  const form = document.getElementById("signin");
  form.hidden = false;
  document.getElementById("signin-reason").textContent = reason || "";
  document.getElementById("signin-token").focus();
}

// The API refused the token (expired, revoked, wrong tenant): back to the form, with the reason.
export function signOut(reason) {
  sessionStorage.removeItem(KEY);
  if (started) {
    // A page already drawn holds data from the old credential; start over from a clean page.
    sessionStorage.setItem("extsched.signout-reason", reason || "");
    location.reload();
    return;
  }
  showSignIn(reason);
}

// Runs `start` once a token is at hand, now or after the form is used.
export function boot(start) {
  takeFragmentToken();
  const reason = sessionStorage.getItem("extsched.signout-reason");
  sessionStorage.removeItem("extsched.signout-reason");
  const go = () => {
    started = true;
    document.getElementById("signin").hidden = true;
    document.getElementById("app").hidden = false;
    const out = document.getElementById("sign-out");
    out.hidden = false;
    out.onclick = () => signOut("Signed out.");
    start();
  };
  document.getElementById("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = document.getElementById("signin-token");
    if (!field.value.trim()) {
      document.getElementById("signin-reason").textContent = "Enter a token.";
      return;
    }
    sessionStorage.setItem(KEY, field.value.trim());
    field.value = "";
    go();
  });
  if (token()) go();
  else showSignIn(reason);
}
