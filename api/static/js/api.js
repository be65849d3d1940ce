// The edge's HTTP API, as the page uses it. Errors arrive as {"error": {code, message}}.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, "network", `the server cannot be reached (${exc.message})`);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(response.status, error.code ?? "error",
                       error.message ?? `${method} ${path}: HTTP ${response.status}`);
  }
  return data;
}

export const listModels = () => call("GET", "/v1/models").then((r) => r.data);
export const listConversations = () => call("GET", "/v1/conversations").then((r) => r.data);
export const createConversation = (title) => call("POST", "/v1/conversations", { title });
export const listMessages = (cid) =>
  call("GET", `/v1/conversations/${encodeURIComponent(cid)}/messages`).then((r) => r.data);
export const listDocuments = () => call("GET", "/v1/documents").then((r) => r.data);
export const getDocument = (id) => call("GET", `/v1/documents/${encodeURIComponent(id)}`);
export const deleteDocument = (id) => call("DELETE", `/v1/documents/${encodeURIComponent(id)}`);

export function sendMessage(cid, text, model) {
  const body = { text };
  if (model) body.model = model;
  // The same key on a retry makes the edge answer once.
  return call("POST", `/v1/conversations/${encodeURIComponent(cid)}/messages`, body,
              { "Idempotency-Key": crypto.randomUUID() });
}

export const cancelRequest = (rid) =>
  call("POST", `/v1/requests/${encodeURIComponent(rid)}/cancel`);

export const eventsUrl = (rid) => `/v1/requests/${encodeURIComponent(rid)}/events`;

/** Upload with progress (fetch cannot report upload progress; XHR can). */
export function uploadDocument(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
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
    xhr.send(form);
  });
}
