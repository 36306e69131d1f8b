// The admin/user API (`/api/...`) with the session cookie. Writes are sent as JSON from the
// same origin, which is what the node's CSRF rule asks of cookie-authenticated writes.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Signed out (401): the app listens and shows the sign-in page. */
export const SIGNED_OUT = 'onehub:signed-out';

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Calls the API; resolves with One Hub's whole envelope, throws ApiError when not a success. */
export async function call(method, path, { params, body, raw = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  // The node's CSRF rule: every cookie-authenticated write is JSON, even one without a body.
  if (method !== 'GET' && method !== 'HEAD') init.headers['Content-Type'] = 'application/json';
  if (body !== undefined) init.body = JSON.stringify(body);
  let resp;
  try {
    resp = await fetch(path + query(params), init);
  } catch {
    throw new ApiError('network error', 0);
  }
  if (resp.status === 401) {
    window.dispatchEvent(new Event(SIGNED_OUT));
  }
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A plain-text error (e.g. a sign-in callback's 400) says why; show its first line.
    const why = !resp.ok && text.trim() ? text.trim().split('\n')[0].slice(0, 200) : '';
    throw new ApiError(why || `HTTP ${resp.status}`, resp.status);
  }
  if (raw) return json;
  if (!resp.ok || !json || json.success === false) {
    const msg = (json && (json.message || (json.error && json.error.message))) || `HTTP ${resp.status}`;
    throw new ApiError(msg, resp.status);
  }
  return json;
}

export const get = (path, params) => call('GET', path, { params }).then((r) => r.data);
export const post = (path, body, params) => call('POST', path, { body, params });
export const put = (path, body, params) => call('PUT', path, { body, params });
export const del = (path, params) => call('DELETE', path, { params });
