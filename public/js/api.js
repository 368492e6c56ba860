// The API client of the browser app: JSON over fetch with the session cookie, the one error
// shape turned into an `ApiError` whose message a creator can understand, uploads with progress.

/** An API refusal or a network failure, with a message fit to show. */
export class ApiError extends Error {
  constructor(status, code, message, requestId, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details;
  }
}

const FRIENDLY = {
  network: "Can't reach Creator OS. Check your connection and try again.",
  unauthenticated: "Your session has ended. Please sign in again.",
  session_expired: "Your session has expired. Please sign in again.",
  session_revoked: "You were signed out. Please sign in again.",
  invalid_credentials: "That email and password don't match an account.",
  forbidden: "You don't have permission to do that in this workspace.",
  not_found: "That item no longer exists, or you don't have access to it.",
  payload_too_large: "That is too large to upload here.",
  internal_error: "Something went wrong on our side. Please try again.",
  route_not_found: "This feature isn't available on this server yet.",
};

/** Words for an error code, falling back on the server's message. */
export function friendlyMessage(status, code, message) {
  if (FRIENDLY[code]) return FRIENDLY[code];
  if (status === 401) return FRIENDLY.unauthenticated;
  if (status === 403) return FRIENDLY.forbidden;
  if (status === 404) return FRIENDLY.not_found;
  if (status === 413) return FRIENDLY.payload_too_large;
  if (status === 429) return "Too many attempts. Please wait a moment and try again.";
  if (status >= 500) return FRIENDLY.internal_error;
  if (!message) return "That didn't work. Please try again.";
  return message.charAt(0).toUpperCase() + message.slice(1) + (/[.!?]$/.test(message) ? "" : ".");
}

async function errorFrom(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = body?.error ?? {};
  const code = error.code ?? `http_${response.status}`;
  return new ApiError(
    response.status,
    code,
    friendlyMessage(response.status, code, error.message),
    error.request_id ?? response.headers.get("x-request-id"),
    error.details,
  );
}

/** Called with every 401 so the app can return to the sign-in screen. */
let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

/**
 * One API call. `body` is sent as JSON unless it is a Blob/ArrayBuffer (sent raw).
 * Resolves with the parsed JSON (or the Response when `raw`), rejects with an ApiError.
 */
export async function api(method, path, body, { raw = false, signal, quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", headers: {}, signal };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
      init.body = body;
    } else {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", FRIENDLY.network);
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !quiet401) onUnauthenticated(error);
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body, options) => api("POST", path, body, options);
export const patch = (path, body, options) => api("PATCH", path, body, options);
export const del = (path, options) => api("DELETE", path, undefined, options);

/**
 * Sends a body with upload progress (XHR: fetch has no upload progress).
 * `onProgress(sentBytes, totalBytes)`; resolves with the JSON answer.
 */
export function sendWithProgress(method, path, body, onProgress, { signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.withCredentials = true;
    xhr.responseType = "text";
    xhr.upload.onprogress = (event) => onProgress?.(event.loaded, event.total || body.size || 0);
    xhr.onerror = () => reject(new ApiError(0, "network", FRIENDLY.network));
    xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
    xhr.onload = () => {
      let json;
      try {
        json = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        json = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(json);
        return;
      }
      const error = json?.error ?? {};
      const code = error.code ?? `http_${xhr.status}`;
      if (xhr.status === 401) onUnauthenticated();
      reject(new ApiError(xhr.status, code, friendlyMessage(xhr.status, code, error.message), error.request_id));
    };
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(body);
  });
}
