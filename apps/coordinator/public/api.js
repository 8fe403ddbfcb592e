// REST under /api with the bearer token, the one-line error box, and debounced background refreshes.
import { $ } from './dom.js';
import { state } from './state.js';

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Status of an ApiError for an answer to a token no longer in use (signed out, or signed in again). */
export const SIGNED_OUT = -1;

let onRejectedToken = () => undefined;

/** Who signs the page out when the coordinator answers 401 to an action. */
export function setRejectedTokenHandler(handler) {
  onRejectedToken = handler;
}

export function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

export function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

export function setLive(text, kind) {
  const live = $('live');
  live.hidden = false;
  live.textContent = text;
  live.dataset.kind = kind;
}

/**
 * Calls the REST API with the token; resolves with the parsed JSON (null for an empty body), or the
 * Response with `raw`. Throws an ApiError with the coordinator's own message on a non-2xx answer.
 */
export async function api(path, { method = 'GET', body, raw = false } = {}) {
  const token = state.token;
  if (!token) throw new ApiError('signed out', SIGNED_OUT);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(`The coordinator at ${location.origin} is not reachable. Is it running?`, 0);
  }
  // The answer to a request made with a token that is no longer in use (signed out or another one).
  if (token !== state.token) throw new ApiError('signed out', SIGNED_OUT);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const data = await response.json();
      message = data.message ?? data.error?.message ?? message;
      if (Array.isArray(message)) message = message.join('; ');
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(message, response.status);
  }
  if (raw) return response;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * Runs an action and shows its failure in one line; a rejected token (401) signs the page out. A
 * user's action clears the previous message first; background refreshes (`{ background: true }`)
 * leave it, so a refusal stays readable while events arrive.
 */
export async function attempt(action, { background = false } = {}) {
  try {
    if (!background) clearError();
    return await action();
  } catch (error) {
    if (error instanceof ApiError && error.status === SIGNED_OUT) return undefined;
    if (error instanceof ApiError && error.status === 401) {
      onRejectedToken(`The token was not accepted (${error.message}). Sign in again.`);
    } else {
      showError(error.message);
    }
    return undefined;
  }
}

/** Debounces refreshes triggered by pushed events (no polling loop). */
export function soon(key, fn, delay = 120) {
  clearTimeout(state.timers.get(key));
  state.timers.set(key, setTimeout(() => attempt(fn, { background: true }), delay));
}

/** A number input's value, or undefined when it is empty. */
export function numberField(id) {
  const raw = $(id).value.trim();
  return raw === '' ? undefined : Number(raw);
}
