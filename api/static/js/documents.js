// Documents for retrieval: upload with progress, then indexing status until ready or
// failed, and removal. Every conversation's answers may cite them.

import * as api from "./api.js";

const POLL_MS = 500;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function statusText(doc) {
  switch (doc.status) {
    case "queued":
      return "Queued for indexing";
    case "indexing":
      return doc.chunks_total
        ? `Indexing: ${doc.chunks_done} of ${doc.chunks_total} passages`
        : "Indexing";
    case "ready":
      return `Ready: ${doc.chunks_total} passage${doc.chunks_total === 1 ? "" : "s"}`;
    case "failed":
      return `Failed: ${doc.error ?? "unknown reason"}`;
    default:
      return doc.status;
  }
}

export class Documents {
  constructor(section, notify) {
    this.section = section;
    this.notify = notify;
    this.list = section.querySelector("#documents");
    this.input = section.querySelector("#upload");
    this.rows = new Map();
    this.input.addEventListener("change", () => {
      const files = [...this.input.files];
      this.input.value = "";
      for (const file of files) this.upload(file);
    });
  }

  async load() {
    let docs;
    try {
      docs = await api.listDocuments();
    } catch (exc) {
      if (exc.status === 503) {
        this.section.hidden = true; // documents are not configured on this edge
        return;
      }
      this.notify(`Documents could not be loaded: ${exc.message}`, "error");
      return;
    }
    for (const doc of docs.reverse()) {
      this.show(doc);
      if (doc.status === "queued" || doc.status === "indexing") this.poll(doc.id);
    }
  }

  row(id, title) {
    let row = this.rows.get(id);
    if (!row) {
      const li = el("li", "document");
      const name = el("span", "document-title", title);
      const progress = el("progress");
      progress.max = 1;
      const status = el("span", "document-status");
      status.id = `doc-status-${id}`;
      progress.setAttribute("aria-label", `${title}: progress`);
      progress.setAttribute("aria-describedby", status.id);
      const remove = el("button", "link-button", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${title}`);
      remove.hidden = true;
      li.append(name, progress, status, remove);
      this.list.prepend(li);
      row = { li, name, progress, status, remove };
      this.rows.set(id, row);
    }
    return row;
  }

  show(doc) {
    const row = this.row(doc.id, doc.title);
    row.li.dataset.status = doc.status;
    row.li.dataset.id = doc.id;
    row.status.textContent = statusText(doc);
    row.progress.value = doc.status === "ready" ? 1 : doc.progress;
    row.progress.hidden = doc.status === "ready" || doc.status === "failed";
    row.remove.hidden = false;
    row.remove.onclick = () => this.remove(doc.id, doc.title);
  }

  async upload(file) {
    // A temporary row until the edge has named the document.
    const key = `upload-${crypto.randomUUID()}`;
    const row = this.row(key, file.name);
    row.li.dataset.status = "uploading";
    row.status.textContent = "Uploading: 0%";
    row.progress.value = 0;
    try {
      const doc = await api.uploadDocument(file, (fraction) => {
        row.progress.value = fraction;
        row.status.textContent = `Uploading: ${Math.round(fraction * 100)}%`;
      });
      this.rows.delete(key);
      row.li.remove();
      this.show(doc);
      this.notify(`${doc.title} uploaded; indexing it.`);
      this.poll(doc.id);
    } catch (exc) {
      row.li.dataset.status = "failed";
      row.progress.hidden = true;
      row.status.textContent = `Upload failed: ${exc.message}`;
      row.remove.hidden = false;
      row.remove.textContent = "Dismiss";
      row.remove.setAttribute("aria-label", `Dismiss ${file.name}`);
      row.remove.onclick = () => {
        this.rows.delete(key);
        row.li.remove();
      };
    }
  }

  async poll(id) {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      let doc;
      try {
        doc = await api.getDocument(id);
      } catch (exc) {
        if (exc.status === 404) {
          this.forget(id);
          return;
        }
        continue; // a passing failure: try again
      }
      if (!this.rows.has(id)) return;
      this.show(doc);
      if (doc.status === "ready" || doc.status === "failed") {
        this.notify(`${doc.title}: ${statusText(doc)}`, doc.status === "failed" ? "error" : "info");
        return;
      }
    }
  }

  forget(id) {
    this.rows.get(id)?.li.remove();
    this.rows.delete(id);
  }

  async remove(id, title) {
    try {
      await api.deleteDocument(id);
    } catch (exc) {
      if (exc.status !== 404) {
        this.notify(`${title} could not be removed: ${exc.message}`, "error");
        return;
      }
    }
    this.forget(id);
    this.notify(`${title} removed.`);
  }
}
