// The edge's HTTP API, as the page uses it. Errors arrive as {"error": {code, message}}.
// Every call carries the signed-in user's access token (auth.js); an expired one is
// renewed once and the call repeated; a 401 otherwise asks the page to sign in.

import * as auth from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

export const events = new EventTarget();

async function send(method, path, init) {
  init.headers = { ...init.headers, ...auth.authHeader() };
  try {
    return await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, "network", `the server cannot be reached (${exc.message})`);
  }
}

/** fetch with the caller's credentials; a 401 renews the access token once. */
export async function authorizedFetch(method, path, init = {}) {
  init = { method, ...init };
  let response = await send(method, path, init);
  if (response.status === 401 && auth.signedIn() && await auth.renew()) {
    response = await send(method, path, init);
  }
  if (response.status === 401) events.dispatchEvent(new Event("unauthorized"));
  return response;
}

export async function errorOf(response, method, path) {
  const data = await response.json().catch(() => null);
  const error = data?.error ?? {};
  return new ApiError(response.status, error.code ?? "error",
                      error.message ?? `${method} ${path}: HTTP ${response.status}`,
                      Number(response.headers.get("Retry-After")) || null);
}

async function call(method, path, body, headers = {}) {
  const init = { headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await authorizedFetch(method, path, init);
  if (response.status === 204) return null;
  if (!response.ok) throw await errorOf(response, method, path);
  return response.json().catch(() => null);
}

// The models that answer (the list also names the embedder, kind "embedding").
export const listModels = () => call("GET", "/v1/models")
  .then((r) => r.data.filter((m) => m.kind !== "embedding"));
const conversation = (cid) => `/v1/conversations/${encodeURIComponent(cid)}`;

export const listConversations = (bookmarked = false) =>
  call("GET", `/v1/conversations${bookmarked ? "?bookmarked=true" : ""}`).then((r) => r.data);
export const createConversation = (settings = null) =>
  call("POST", "/v1/conversations", settings ? { settings } : {});
export const getConversation = (cid) => call("GET", conversation(cid));
/** `changes`: {title?, settings?}. */
export const updateConversation = (cid, changes) => call("PATCH", conversation(cid), changes);
export const deleteConversation = (cid) => call("DELETE", conversation(cid));
export const searchConversations = (q) =>
  call("GET", `/v1/conversations/search?q=${encodeURIComponent(q)}`);
export const listMessages = (cid) =>
  call("GET", `${conversation(cid)}/messages?limit=1000`).then((r) => r.data);
export const listDocuments = (scope) =>
  call("GET", `/v1/documents${scope ? `?scope=${encodeURIComponent(scope)}` : ""}`)
    .then((r) => r.data);
export const getDocument = (id) => call("GET", `/v1/documents/${encodeURIComponent(id)}`);
export const deleteDocument = (id) => call("DELETE", `/v1/documents/${encodeURIComponent(id)}`);
export const getPassage = (id, chunk) =>
  call("GET", `/v1/documents/${encodeURIComponent(id)}/passages/${Number(chunk)}`);

/** Post a question; `fields`: model, web_search, parent_id or replaces, and whatever the
 *  page's other modules add. The same key on a retry makes the edge answer once. */
export const sendMessage = (cid, text, fields = {}) =>
  call("POST", `${conversation(cid)}/messages`, { text, ...fields },
       { "Idempotency-Key": crypto.randomUUID() });

/** Answer question `mid` again, as another version of its answer. */
export const regenerate = (cid, mid, fields = {}) =>
  call("POST", `${conversation(cid)}/messages/${encodeURIComponent(mid)}/regenerate`, fields,
       { "Idempotency-Key": crypto.randomUUID() });

/** The conversation (the branch ending at `tip`) as a file: {blob, name}. */
export async function exportConversation(cid, format, tip = null) {
  const query = new URLSearchParams({ format });
  if (tip) query.set("tip", tip);
  const path = `${conversation(cid)}/export?${query}`;
  const response = await authorizedFetch("GET", path);
  if (!response.ok) throw await errorOf(response, "GET", path);
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "");
  return { blob: await response.blob(), name: name ? name[1] : `conversation.${format}` };
}

// Assistants, memory and pages by URL (assist.js, memory.js, pages.js).
export const getAssistant = (name) => call("GET", `/v1/assistants/${encodeURIComponent(name)}`);
export const listMemories = () => call("GET", "/v1/memories");
export const addMemory = (text) => call("POST", "/v1/memories", { text });
export const editMemory = (id, text) =>
  call("PATCH", `/v1/memories/${encodeURIComponent(id)}`, { text });
export const deleteMemory = (id) => call("DELETE", `/v1/memories/${encodeURIComponent(id)}`);
export const pauseMemory = (paused) => call("PUT", "/v1/memories/settings", { paused });
export const addPage = (url) => call("POST", "/v1/documents", { url });

export const cancelRequest = (rid) =>
  call("POST", `/v1/requests/${encodeURIComponent(rid)}/cancel`);

export const me = () => call("GET", "/v1/me");
export const usage = () => call("GET", "/v1/usage");
export const bookmark = (cid, on) =>
  call(on ? "PUT" : "DELETE", `/v1/conversations/${encodeURIComponent(cid)}/bookmark`);
export const share = (cid, on) =>
  call("PATCH", `/v1/conversations/${encodeURIComponent(cid)}/share`, { public: on });
export const sharedConversation = (token) =>
  call("GET", `/v1/public/conversations/${encodeURIComponent(token)}`);
export const listKeys = () => call("GET", "/v1/keys").then((r) => r.data);
export const createKey = (name) => call("POST", "/v1/keys", { name });
export const revokeKey = (prefix) => call("DELETE", `/v1/keys/${encodeURIComponent(prefix)}`);
export const submitBatch = (prompts, model) =>
  call("POST", "/v1/batches", model ? { prompts, model } : { prompts });
export const getBatch = (id) => call("GET", `/v1/batches/${encodeURIComponent(id)}`);
export const cancelBatch = (id) => call("POST", `/v1/batches/${encodeURIComponent(id)}/cancel`);
export async function batchResults(id) {
  const path = `/v1/batches/${encodeURIComponent(id)}/results`;
  const response = await authorizedFetch("GET", path);
  if (!response.ok) throw await errorOf(response, "GET", path);
  return response.blob();
}
export const adminStatus = () => call("GET", "/v1/admin/status");

export const eventsUrl = (rid) => `/v1/requests/${encodeURIComponent(rid)}/events`;

/** Upload with progress (fetch cannot report upload progress; XHR can). */
export function uploadDocument(file, scope, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    for (const [name, value] of Object.entries(auth.authHeader())) {
      xhr.setRequestHeader(name, value);
    }
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      const data = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else {
        reject(new ApiError(xhr.status, data?.error?.code ?? "error",
                            data?.error?.message ?? `upload failed: HTTP ${xhr.status}`));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "network", "the upload did not reach the server")));
    const form = new FormData();
    form.append("file", file);
    if (scope) form.append("scope", scope);
    xhr.send(form);
  });
}
