// The REST API, as every other client speaks it. The tokens live only in this module's
// private variables: nothing is written to localStorage, sessionStorage or a cookie, so
// an injected script finds no token to carry away, and a reload asks to sign in again.

let access = null;
let refresh = null;
let account = null;
let renewing = null;
const signedOutListeners = [];

/** A refusal from the API: its status, message, reason and field errors. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `The server answered ${status}`);
    this.status = status;
    this.reason = typeof body?.error === 'string' ? body.error : null;
    this.fields = body?.error && typeof body.error === 'object' && !body.error.request_id
      ? body.error : null;
  }
}

/** Whether a token is held. */
export const signedIn = () => access !== null;

/** The signed-in account's fields, as the login answered them. */
export const currentUser = () => account;

/** Calls `listener` when the session ends on its own (revoked, expired). */
export function onSignedOut(listener) {
  signedOutListeners.push(listener);
}

/** Keeps what a login that passed every factor answered. */
export function adopt(loggedIn) {
  access = loggedIn.token;
  refresh = loggedIn.refresh_token;
  account = { _id: loggedIn._id, name: loggedIn.name, email: loggedIn.email };
}

/** Updates the account's fields shown in the page. */
export function rename(name) {
  if (account) account = { ...account, name };
}

/** Drops the tokens. */
export function forget() {
  access = null;
  refresh = null;
  account = null;
}

/**
 * One call: `json` or `form` is the body. Answers the envelope's `data` (or the whole
 * body when `whole`), null for 204; throws ApiError otherwise. A 401 with a token held
 * spends the refresh token once, shared by every call that met it, and retries.
 */
export async function call(method, path, { json, form, auth = true, whole = false } = {}) {
  const sentWith = access;
  const response = await send(method, path, { json, form, auth });
  if (response.status === 401 && auth && sentWith !== null) {
    if (access === sentWith && !(await renew())) {
      signOutLocally();
      throw await failure(response);
    }
    if (access === null) throw await failure(response);
    return read(await send(method, path, { json, form, auth }), whole);
  }
  return read(response, whole);
}

async function send(method, path, { json, form, auth }) {
  const headers = { Accept: 'application/json' };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (auth && access) headers.Authorization = `Bearer ${access}`;
  return fetch(path, { method, headers, body, credentials: 'omit', cache: 'no-store' });
}

async function read(response, whole) {
  if (response.status === 204) return null;
  if (!response.ok) throw await failure(response);
  const body = await response.json();
  return whole ? body : body.data;
}

async function failure(response) {
  const body = await response.json().catch(() => null);
  return new ApiError(response.status, body);
}

/** Spends the refresh token for a new pair; one renewal at a time. */
function renew() {
  if (!renewing) {
    const spent = refresh;
    renewing = (async () => {
      if (!spent) return false;
      const response = await send('POST', '/users/token', {
        json: { refresh_token: spent },
        auth: false,
      });
      if (!response.ok) return false;
      const { data } = await response.json();
      access = data.token;
      refresh = data.refresh_token;
      return true;
    })().catch(() => false).finally(() => {
      renewing = null;
    });
  }
  return renewing;
}

function signOutLocally() {
  forget();
  for (const listener of signedOutListeners) listener();
}

/** Ends this session on the server, then forgets its tokens whatever it answered. */
export async function signOut() {
  try {
    if (access) await send('POST', '/users/logout', { auth: true });
  } finally {
    forget();
  }
}
