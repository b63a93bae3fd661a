// The JSON API client: every call carries the signed-in key as a bearer token. The key lives in
// sessionStorage (this tab only); nothing is sent anywhere but this server.

const KEY = 'encore.apiKey';

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(secret) {
  sessionStorage.setItem(KEY, secret);
}

export function clearApiKey() {
  sessionStorage.removeItem(KEY);
}

/** A failed call: the HTTP status and the problem+json body. */
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem && typeof problem === 'object' ? (problem.detail || problem.title) : String(problem);
    super(`${status}: ${detail}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Calls the API; resolves with the parsed JSON body (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey() || ''}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  const data = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

/** `/v1/catalogs/{c}` with the name escaped, plus `rest`. */
export function catalogPath(catalog, rest = '') {
  return `/v1/catalogs/${encodeURIComponent(catalog)}${rest}`;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
