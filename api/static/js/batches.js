// Batch jobs: prompts from a text area (one a line) or a JSON Lines file, each batch's
// progress as a bar until it completes, cancel, and the results as a JSON Lines download.
// The ids of this tab's batches are kept in sessionStorage, so a reload keeps them.

import * as api from "./api.js";
import { describeLimit } from "./account.js";
import { $, download, el } from "./dom.js";

const KEY = "chatstream.batches";
const POLL_MS = 1000;
const FINAL = new Set(["completed", "cancelled"]);

/** Prompts of a JSON Lines file: `{"prompt": "..."}` or a bare JSON string a line. */
export function parseJsonl(text) {
  const prompts = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} is not JSON`);
    }
    const prompt = typeof value === "string" ? value : value?.prompt;
    if (typeof prompt !== "string" || !prompt.trim()) {
      throw new Error(`line ${i + 1} has no "prompt"`);
    }
    prompts.push(prompt);
  });
  return prompts;
}

export class Batches {
  constructor(notify, model) {
    this.notify = notify;
    this.model = model; // () => the model picked on the page, or ""
    this.dialog = $("batches");
    this.list = $("batch-list");
    this.rows = new Map();
    this.timer = 0;
    $("open-batches").addEventListener("click", () => this.open());
    this.dialog.querySelector("[data-close]").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => clearTimeout(this.timer));
    $("batch-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  ids() {
    return JSON.parse(sessionStorage.getItem(KEY) ?? "[]");
  }

  open() {
    this.dialog.showModal();
    for (const id of this.ids()) if (!this.rows.has(id)) this.row(id);
    this.poll();
  }

  async prompts() {
    const file = $("batch-file").files[0];
    if (file) return parseJsonl(await file.text());
    return $("batch-prompts").value.split(/\r?\n/).map((p) => p.trim()).filter(Boolean);
  }

  async submit() {
    const error = $("batch-error");
    error.hidden = true;
    let prompts;
    try {
      prompts = await this.prompts();
    } catch (exc) {
      error.textContent = `The file cannot be read: ${exc.message}`;
      error.hidden = false;
      return;
    }
    if (!prompts.length) {
      error.textContent = "Write at least one prompt, or choose a file.";
      error.hidden = false;
      return;
    }
    try {
      const batch = await api.submitBatch(prompts, this.model());
      sessionStorage.setItem(KEY, JSON.stringify([batch.id, ...this.ids()].slice(0, 50)));
      $("batch-prompts").value = "";
      $("batch-file").value = "";
      this.show(batch);
      this.poll();
    } catch (exc) {
      error.textContent = `Not submitted: ${describeLimit(exc)}`;
      error.hidden = false;
    }
  }

  row(id) {
    let row = this.rows.get(id);
    if (row) return row;
    const li = el("li", "batch");
    li.dataset.batchId = id;
    const label = el("span", "batch-label", `Batch ${id.slice(0, 8)}`);
    const bar = el("progress");
    bar.setAttribute("aria-label", `Progress of batch ${id.slice(0, 8)}`);
    const text = el("span", "batch-status muted small", "Loading…");
    const cancel = el("button", "danger", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => this.cancel(id));
    const download = el("button", "", "Download results");
    download.type = "button";
    download.addEventListener("click", () => this.download(id));
    li.append(label, bar, text, cancel, download);
    this.list.prepend(li);
    row = { li, bar, text, cancel, download, status: null };
    this.rows.set(id, row);
    return row;
  }

  show(batch) {
    const row = this.row(batch.id);
    row.status = batch.status;
    row.bar.max = batch.total;
    row.bar.value = batch.completed;
    row.li.dataset.status = batch.status;
    row.text.textContent = `${batch.status}: ${batch.completed} of ${batch.total} answered`;
    row.cancel.hidden = FINAL.has(batch.status);
  }

  async poll() {
    clearTimeout(this.timer);
    if (!this.dialog.open) return;
    for (const [id, row] of this.rows) {
      if (FINAL.has(row.status)) continue;
      try {
        this.show(await api.getBatch(id));
      } catch (exc) {
        row.text.textContent = exc.status === 404 ? "No longer known to this server"
          : `Progress unavailable: ${exc.message}`;
        if (exc.status === 404) row.status = "gone";
      }
    }
    const live = [...this.rows.values()].some((r) => !FINAL.has(r.status) && r.status !== "gone");
    if (live) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  async cancel(id) {
    try {
      this.show(await api.cancelBatch(id));
      this.notify("Batch cancelled: prompts not yet started are dropped.");
    } catch (exc) {
      this.notify(`Not cancelled: ${exc.message}`, "error");
    }
  }

  async download(id) {
    try {
      download(await api.batchResults(id), `batch-${id}.jsonl`);
    } catch (exc) {
      this.notify(`Results unavailable: ${exc.message}`, "error");
    }
  }
}
