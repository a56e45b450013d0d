// The one way our scripts call the JSON API: same-origin cookies, the CSRF header (double
// submit), one silent session refresh on 401, and problem+json turned into a sentence.

const CSRF_COOKIE = "sentinel_csrf";

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }
}

function send(method, url, body) {
  const headers = { Accept: "application/json", "X-CSRF-Token": csrfToken() };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(url, init);
}

export async function refreshSession() {
  try {
    return (await send("POST", "/auth/v1/browser/refresh")).ok;
  } catch {
    return false;
  }
}

export async function api(method, url, body) {
  let response = await send(method, url, body);
  // Page loads refresh the session in the server's middleware; /auth/v1 calls and a page left
  // open past the access token's lifetime need it done here.
  if (response.status === 401 && !url.startsWith("/auth/v1/browser/")) {
    if (await refreshSession()) response = await send(method, url, body);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  return data;
}

const FALLBACK = {
  400: "That did not work. Check the values and try again.",
  401: "Your session has ended. Sign in again to continue.",
  403: "Your role in this organization does not allow this.",
  404: "It was not found; it may have been removed in the meantime.",
  409: "That conflicts with the current state. Reload the page and try again.",
  422: "Some values are not valid.",
  429: "Too many attempts. Wait a moment, then try again.",
  500: "Something went wrong on our side. Try again in a moment.",
};

function fieldLabel(form, loc) {
  const name = [...(loc || [])].reverse().find((part) => typeof part === "string" && part !== "body");
  const field = form && name ? form.elements.namedItem(name) : null;
  const label = field && field.labels && field.labels[0];
  return label ? label.textContent.trim() : name || "Value";
}

function sentence(text) {
  const clean = String(text || "").trim();
  return clean ? clean[0].toUpperCase() + clean.slice(1) + (/[.!?]$/.test(clean) ? "" : ".") : "";
}

export function describe(error, form) {
  if (!(error instanceof ApiError)) {
    return "Sentinel could not be reached. Check your connection and try again.";
  }
  const problem = error.problem;
  if (error.status === 422 && Array.isArray(problem.errors) && problem.errors.length) {
    return problem.errors.map((e) => `${fieldLabel(form, e.loc)}: ${sentence(e.msg)}`).join(" ");
  }
  if (error.status === 429 && error.retryAfter) {
    return `Too many attempts. Try again in ${error.retryAfter} seconds.`;
  }
  return sentence(problem.detail) || FALLBACK[error.status] || FALLBACK[500];
}

export function invalidFields(error) {
  if (!(error instanceof ApiError) || !Array.isArray(error.problem.errors)) return [];
  return error.problem.errors
    .map((e) => [...(e.loc || [])].reverse().find((p) => typeof p === "string" && p !== "body"))
    .filter(Boolean);
}
