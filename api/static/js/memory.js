// Long-term memory on the page: a "Memory" panel to see, add, edit and delete what is
// remembered, and pause it; a "Temporary chat" switch in the composer, remembered per
// conversation in this browser, whose messages neither read nor write memory.

import * as api from "./api.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const TEMPORARY = "chatstream.temporary";

export class MemoryPanel {
  /** actions: where the panel's button goes; composer: the message form. */
  constructor(actions, composer, notify, currentConversation) {
    this.notify = notify;
    this.current = currentConversation;
    this.open = el("button", "quiet", "Memory");
    this.open.type = "button";
    this.open.id = "open-memory";
    actions.prepend(this.open);
    this.dialog = this.build();
    document.body.append(this.dialog);
    this.open.addEventListener("click", () => { this.dialog.showModal(); this.load(); });

    const label = el("label", "small temporary-toggle");
    this.temporary = el("input");
    this.temporary.type = "checkbox";
    this.temporary.id = "temporary-chat";
    label.append(this.temporary, " Temporary chat (no memory)");
    composer.append(label);
    this.temporary.addEventListener("change", () => this.remember());
  }

  build() {
    const dialog = el("dialog");
    dialog.id = "memory";
    dialog.setAttribute("aria-labelledby", "memory-heading");
    const head = el("div", "panel-head");
    const title = el("h2", "", "Memory");
    title.id = "memory-heading";
    const close = el("button", "icon-button", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    close.addEventListener("click", () => dialog.close());
    head.append(title, close);
    const note = el("p", "muted small", "Facts kept from your conversations, recalled into " +
                    "new ones and cited as Memory. Only you see them.");
    this.state = el("p", "small");
    this.state.id = "memory-state";
    const pause = el("label", "small");
    this.paused = el("input");
    this.paused.type = "checkbox";
    this.paused.id = "memory-paused";
    pause.append(this.paused, " Pause memory");
    this.paused.addEventListener("change", () => this.pause());
    const form = el("form", "inline-form");
    form.id = "memory-form";
    const label = el("label", "", "Remember ");
    this.text = el("input");
    this.text.id = "memory-text";
    this.text.maxLength = 300;
    this.text.required = true;
    label.append(this.text);
    const add = el("button", "primary", "Add");
    add.type = "submit";
    form.append(label, add);
    form.addEventListener("submit", (e) => { e.preventDefault(); this.add(); });
    this.list = el("ul", "memory-list");
    this.list.id = "memory-list";
    dialog.append(head, note, this.state, pause, form, this.list);
    return dialog;
  }

  async load() {
    let found;
    try {
      found = await api.listMemories();
    } catch (exc) {
      this.state.textContent = `Memory is unavailable: ${exc.message}`;
      return;
    }
    this.paused.checked = found.paused;
    this.state.textContent = !found.enabled ? "Memory is off for your organisation."
      : found.paused ? "Paused: nothing is recalled or kept." : "";
    this.list.replaceChildren(...found.data.map((m) => this.row(m)));
    if (!found.data.length) this.list.append(el("li", "muted small", "Nothing remembered yet."));
  }

  row(m) {
    const li = el("li", "memory");
    li.dataset.id = m.id;
    const text = el("input");
    text.defaultValue = m.text; // the attribute too: the row is found by its fact
    text.maxLength = 300;
    text.setAttribute("aria-label", "Remembered fact");
    const save = el("button", "quiet", "Save");
    save.type = "button";
    save.addEventListener("click", async () => {
      try {
        await api.editMemory(m.id, text.value);
        this.notify("Memory saved.");
      } catch (exc) {
        this.notify(`Not saved: ${exc.message}`, "error");
      }
    });
    const forget = el("button", "danger", "Forget");
    forget.type = "button";
    forget.addEventListener("click", async () => {
      try {
        await api.deleteMemory(m.id);
        li.remove();
      } catch (exc) {
        this.notify(`Not forgotten: ${exc.message}`, "error");
      }
    });
    li.append(text, save, forget);
    return li;
  }

  async add() {
    try {
      await api.addMemory(this.text.value);
      this.text.value = "";
      await this.load();
    } catch (exc) {
      this.notify(`Not added: ${exc.message}`, "error");
    }
  }

  async pause() {
    try {
      await api.pauseMemory(this.paused.checked);
      await this.load();
    } catch (exc) {
      this.notify(`Not changed: ${exc.message}`, "error");
    }
  }

  temporaryIds() {
    try {
      return new Set(JSON.parse(localStorage.getItem(TEMPORARY) ?? "[]"));
    } catch {
      return new Set();
    }
  }

  /** The switch follows the conversation shown (a new one starts off). */
  sync() {
    const cid = this.current();
    this.temporary.checked = Boolean(cid) && this.temporaryIds().has(cid);
  }

  remember() {
    const cid = this.current();
    if (!cid) return; // kept by extra() for the first message, then stored
    const ids = this.temporaryIds();
    if (this.temporary.checked) ids.add(cid); else ids.delete(cid);
    localStorage.setItem(TEMPORARY, JSON.stringify([...ids].slice(-500)));
  }

  /** What a message sends for memory: nothing, or memory:false in a temporary chat. */
  extra() {
    if (!this.temporary.checked) return {};
    this.remember();
    return { memory: false };
  }
}
