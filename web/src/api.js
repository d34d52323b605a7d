// The JSON API and the update token. The token is typed once per tab and kept in the tab's
// session storage; without it the page is read-only.

const TOKEN_KEY = 'kgrec.updateToken';

export const updateToken = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || null,
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An error answer of the API, with its message for people. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body && body.error ? body.error : {};
    throw new ApiError(
      response.status,
      detail.code || 'http_' + response.status,
      detail.message || `${response.status} ${response.statusText}`,
    );
  }
  return body;
}

/** GET `path` with query `params` (empty values left out). */
export async function get(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && String(v).trim() !== '') url.searchParams.set(k, v);
  }
  return answer(await fetch(url, { headers: { Accept: 'application/json' } }));
}

/** POST JSON to `path`, with the update token when one is set. */
export async function post(path, body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = updateToken.get();
  if (token) headers.Authorization = 'Bearer ' + token;
  return answer(await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) }));
}

/** `/v1/users/{id}/…` and `/v1/items/{id}/…` with the id encoded. */
export const userPath = (id, rest) => `/v1/users/${encodeURIComponent(id)}/${rest}`;
