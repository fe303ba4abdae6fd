// The v1 API from the browser.  The API key lives in sessionStorage only
// (gone when the tab closes; never localStorage, never a cookie) and is sent
// as a bearer key to this same origin.

const KEY_ITEM = "skruntime.apiKey";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
  get slug() {
    const type = (this.problem && this.problem.type) || "";
    return type.startsWith("urn:skruntime:problem:") ? type.slice("urn:skruntime:problem:".length) : "";
  }
}

export const session = {
  get key() {
    return sessionStorage.getItem(KEY_ITEM);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_ITEM, value);
    else sessionStorage.removeItem(KEY_ITEM);
  },
  canDeploy: false, // probed at sign-in (GET /v1/keys answers 200 to admin keys only)
  onUnauthorized: () => {},
};

/**
 * Call the API.  `query` values that are null/undefined/"" are left out.
 * Resolves with the JSON body (null for 204); rejects with an ApiError
 * carrying the problem document.
 */
export async function api(path, { method = "GET", body, query } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") params.set(k, String(v));
    const text = params.toString();
    if (text) url += "?" + text;
  }
  const headers = { Accept: "application/json" };
  const key = session.key;
  if (key) headers.Authorization = "Bearer " + key;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, { title: "Network error", detail: "the server could not be reached: " + err.message });
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { title: "Unreadable answer", detail: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401) session.onUnauthorized(error);
    throw error;
  }
  return data;
}

/** Every page of a `{items, nextCursor}` list, up to `maxPages`. */
export async function allPages(path, query = {}, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const page = await api(path, { query: { ...query, cursor, limit: 1000 } });
    items.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) return { items, complete: true };
  }
  return { items, complete: false };
}

/**
 * Check a key: it must be known (GET /v1/machines), and we learn whether it
 * may deploy (GET /v1/keys is for admin keys only).  Never keeps a bad key.
 */
export async function checkKey(key) {
  session.key = key;
  try {
    await api("/v1/machines");
  } catch (err) {
    session.key = null;
    throw err;
  }
  try {
    await api("/v1/keys");
    session.canDeploy = true;
  } catch (err) {
    if (err.status !== 403) throw err;
    session.canDeploy = false;
  }
}
