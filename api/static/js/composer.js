// The composer: the message box (Enter sends, Shift+Enter a new line), a count of the
// characters left near the limit (over it, Send waits), Send and Stop, and attaching
// documents to the conversation with the paperclip, by dropping files or by pasting them.

import { $ } from "./dom.js";
import { DocumentList } from "./documents.js";
import { on, state } from "./page.js";

const DEFAULT_MAX_CHARS = 16_000;

export class Composer {
  /** `hooks`: send(text) → Promise<bool>, stop(), conversation() → Promise<cid>. */
  constructor(hooks) {
    this.hooks = hooks;
    this.input = $("message");
    this.max = DEFAULT_MAX_CHARS;
    this.busy = false;
    this.attachments = new DocumentList($("attachments"), () => (
      state.cid ? `conversation:${state.cid}` : null), {
      itemClass: "attachment",
      onChange: (n) => { $("attachments").hidden = n === 0; },
    });
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    $("stop").addEventListener("click", () => {
      this.input.focus(); // Stop hides itself: focus goes back to the box, not the page
      this.hooks.stop();
    });
    this.input.addEventListener("keydown", (e) => {
      // Enter sends, Shift+Enter starts a new line (and IME composition is left alone).
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $("composer").requestSubmit();
      }
    });
    this.input.addEventListener("input", () => this.changed());
    this.wireAttach();
    // A conversation this page just made has nothing attached yet but what is uploading.
    on("conversation", ({ created }) => created || this.attachments.load());
    on("session", ({ me }) => {
      this.max = me.max_message_chars ?? DEFAULT_MAX_CHARS;
      this.changed();
    });
  }

  focus() {
    this.input.focus();
  }

  changed() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
    const n = this.input.value.length;
    const count = $("composer-count");
    const over = n > this.max;
    count.textContent = n > this.max * 0.8
      ? (over ? `${n - this.max} characters over the limit of ${this.max}`
        : `${this.max - n} characters left`) : "";
    count.dataset.over = String(over);
    this.input.setAttribute("aria-invalid", String(over));
    $("send").disabled = this.busy || over;
  }

  setBusy(busy) {
    this.busy = busy;
    $("stop").hidden = !busy;
    $("composer").setAttribute("aria-busy", String(busy));
    this.changed();
    if (!busy && document.activeElement === document.body) this.input.focus();
  }

  async submit() {
    const text = this.input.value;
    if (this.busy || !text.trim() || text.length > this.max) return;
    if (await this.hooks.send(text)) {
      // Only what was sent is cleared: text typed meanwhile (a retry) stays.
      if (this.input.value === text) this.input.value = "";
      this.changed();
    }
  }

  async attach(files) {
    if (!files.length) return;
    const cid = await this.hooks.conversation();
    if (!cid) return;
    for (const file of files) this.attachments.upload(file, `conversation:${cid}`);
  }

  wireAttach() {
    const input = $("attach-input");
    input.addEventListener("change", () => {
      const files = [...input.files];
      input.value = "";
      this.attach(files);
    });
    this.input.addEventListener("paste", (e) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (!files.length) return; // text is pasted as text
      e.preventDefault();
      this.attach(files);
    });
    const zone = $("drop-zone");
    let depth = 0;
    const main = document.querySelector(".main");
    const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
    main.addEventListener("dragenter", (e) => {
      if (!hasFiles(e) || document.body.classList.contains("readonly")) return;
      depth++;
      zone.hidden = false;
    });
    main.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.hidden = true;
    });
    main.addEventListener("dragover", (e) => {
      if (hasFiles(e)) e.preventDefault(); // allow the drop
    });
    main.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      zone.hidden = true;
      this.attach([...e.dataTransfer.files]);
    });
  }
}
