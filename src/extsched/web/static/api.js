// The JSON API, as every client uses it; problems (RFC 9457) become ApiError.
import { signOut, token } from "./session.js";

export class ApiError extends Error {
  constructor(status, problem) {
    const p = problem && typeof problem === "object" ? problem : {};
    super(p.detail || p.title || `request failed (${status})`);
    this.status = status;
    this.code = p.code || null;
    this.fieldErrors = p.fieldErrors && typeof p.fieldErrors === "object" ? p.fieldErrors : {};
    this.problem = p;
  }
}

export async function api(method, path, { body, headers } = {}) {
  const init = {
    method,
    headers: { Accept: "application/json", Authorization: `Bearer ${token()}`, ...headers },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { title: "The service cannot be reached; check your connection." });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { title: `unexpected answer (${response.status})` };
    }
  }
  if (response.status === 401) {
    signOut(`Sign-in refused: ${(data && data.detail) || "the token was not accepted"}.`);
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data, etag: response.headers.get("ETag") };
}

export function ext(extensionId, rest = "") {
  return `/api/extensions/${encodeURIComponent(extensionId)}${rest}`;
}
