// Documents for retrieval, in one knowledge scope: the library (every conversation's
// answers may cite it) in the sidebar, or one conversation's attachments above the
// composer. Upload with progress, then indexing status until ready or failed, and
// removal after a confirmation.

import * as api from "./api.js";
import { button, confirmAction, el } from "./dom.js";
import { notify } from "./notice.js";

const POLL_MS = 500;

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

export class DocumentList {
  /** `list`: the <ul>; `scope()`: the scope shown ("tenant", "conversation:<id>", or
   *  null for none yet); `onChange(count)`: after the list changed. */
  constructor(list, scope, { onChange = () => {}, itemClass = "document" } = {}) {
    this.list = list;
    this.scope = scope;
    this.onChange = onChange;
    this.itemClass = itemClass;
    this.rows = new Map();
    this.generation = 0; // a newer load makes older polls and uploads' rows moot
  }

  async load() {
    const generation = ++this.generation;
    this.rows.clear();
    this.list.replaceChildren();
    const scope = this.scope();
    if (!scope) {
      this.onChange(0);
      return true;
    }
    let docs;
    try {
      docs = await api.listDocuments(scope);
    } catch (exc) {
      if (exc.status === 503) return false; // documents are not configured on this edge
      notify(`Documents could not be loaded: ${exc.message}`, "error");
      return true;
    }
    if (generation !== this.generation) return true;
    for (const doc of docs.reverse()) {
      this.show(doc);
      if (doc.status === "queued" || doc.status === "indexing") this.poll(doc.id, generation);
    }
    this.onChange(this.rows.size);
    return true;
  }

  row(id, title) {
    let row = this.rows.get(id);
    if (!row) {
      const li = el("li", this.itemClass);
      const name = el("span", "document-title", title);
      const progress = el("progress");
      progress.max = 1;
      const status = el("span", "document-status");
      status.id = `doc-status-${id}`;
      progress.setAttribute("aria-label", `${title}: progress`);
      progress.setAttribute("aria-describedby", status.id);
      const remove = button("Remove", { className: "link-button", label: `Remove ${title}` });
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

  /** Upload `file` into `scope` (the list's, unless given). */
  async upload(file, scope = this.scope()) {
    const generation = this.generation;
    // A temporary row until the edge has named the document.
    const key = `upload-${crypto.randomUUID()}`;
    const row = this.row(key, file.name);
    row.li.dataset.status = "uploading";
    row.status.textContent = "Uploading: 0%";
    row.progress.value = 0;
    this.onChange(this.rows.size);
    try {
      const doc = await api.uploadDocument(file, scope, (fraction) => {
        row.progress.value = fraction;
        row.status.textContent = `Uploading: ${Math.round(fraction * 100)}%`;
      });
      this.rows.delete(key);
      row.li.remove();
      if (generation !== this.generation) return;
      this.show(doc);
      notify(`${doc.title} uploaded; indexing it.`);
      this.poll(doc.id, generation);
    } catch (exc) {
      row.li.dataset.status = "failed";
      row.progress.hidden = true;
      row.status.textContent = `Upload failed: ${exc.message}`;
      row.remove.hidden = false;
      row.remove.textContent = "Dismiss";
      row.remove.setAttribute("aria-label", `Dismiss ${file.name}`);
      row.remove.onclick = () => this.forget(key);
    }
  }

  async poll(id, generation = this.generation) {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (generation !== this.generation || !this.rows.has(id)) return;
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
      if (generation !== this.generation || !this.rows.has(id)) return;
      this.show(doc);
      if (doc.status === "ready" || doc.status === "failed") {
        notify(`${doc.title}: ${statusText(doc)}`, doc.status === "failed" ? "error" : "info");
        return;
      }
    }
  }

  forget(id) {
    this.rows.get(id)?.li.remove();
    this.rows.delete(id);
    this.onChange(this.rows.size);
  }

  async remove(id, title) {
    if (!(await confirmAction(`Remove “${title}”? Answers will no longer cite it.`,
                              "Remove"))) return;
    try {
      await api.deleteDocument(id);
    } catch (exc) {
      if (exc.status !== 404) {
        notify(`${title} could not be removed: ${exc.message}`, "error");
        return;
      }
    }
    this.forget(id);
    notify(`${title} removed.`);
  }
}
