// Per-conversation settings: title, system prompt, model and temperature, kept with the
// conversation on the server (PATCH /v1/conversations/{cid}). Set before a new chat's
// first message, they go with the conversation when it is created.

import * as api from "./api.js";
import { $ } from "./dom.js";
import { notify } from "./notice.js";
import { listChanged, on, state } from "./page.js";

export class Settings {
  /** `hooks`: title() (the title shown), shown(settings) (after a change). */
  constructor(hooks) {
    this.hooks = hooks;
    this.current = {}; // the shown conversation's settings
    this.pending = {}; // a new chat's, until it is created
    this.dialog = $("settings");
    $("open-settings").addEventListener("click", () => this.open());
    this.dialog.querySelector("[data-close]").addEventListener("click", () => this.dialog.close());
    $("settings-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.save();
    });
    on("conversation", ({ cid }) => this.load(cid));
  }

  async load(cid) {
    this.current = cid ? {} : this.pending;
    if (!cid) {
      this.hooks.shown(this.current);
      return;
    }
    try {
      const conversation = await api.getConversation(cid);
      if (state.cid !== cid) return;
      this.current = conversation.settings ?? {};
    } catch {
      this.current = {}; // the conversation view says what went wrong
    }
    this.hooks.shown(this.current);
  }

  /** The settings a new conversation is created with (and forgets them). */
  takePending() {
    const pending = this.pending;
    this.pending = {};
    return pending;
  }

  open() {
    $("settings-title").value = state.cid ? this.hooks.title() : "";
    $("settings-title").disabled = !state.cid;
    $("settings-system").value = this.current.system_prompt ?? "";
    $("settings-model").value = this.current.model ?? "";
    const t = this.current.temperature;
    $("settings-temperature").value = t == null ? "" : String(t);
    $("settings-error").hidden = true;
    this.dialog.showModal();
  }

  read() {
    const raw = $("settings-temperature").value.trim();
    const temperature = raw === "" ? null : Number(raw);
    if (temperature !== null && !(temperature >= 0 && temperature <= 2)) {
      throw new Error("The temperature is a number from 0 to 2, or empty.");
    }
    return {
      system_prompt: $("settings-system").value.trim() || null,
      model: $("settings-model").value || null,
      temperature,
    };
  }

  async save() {
    const error = $("settings-error");
    let settings;
    try {
      settings = this.read();
    } catch (exc) {
      error.textContent = exc.message;
      error.hidden = false;
      return;
    }
    if (!state.cid) {
      this.pending = settings;
      this.current = settings;
      this.dialog.close();
      this.hooks.shown(settings);
      notify("Saved for this new conversation.");
      return;
    }
    const body = { settings };
    const title = $("settings-title").value.trim();
    if (title && title !== this.hooks.title()) body.title = title;
    try {
      const updated = await api.updateConversation(state.cid, body);
      this.current = updated.settings ?? settings;
      this.dialog.close();
      this.hooks.shown(this.current);
      if (body.title) listChanged();
      notify("Settings saved.");
    } catch (exc) {
      error.textContent = `Not saved: ${exc.message}`;
      error.hidden = false;
    }
  }

  /** The model picked in the composer is kept in the conversation's settings. */
  async setModel(model) {
    if (model.startsWith("assistant:")) return; // the conversation keeps its assistant
    const settings = { ...this.current, model: model || null };
    if (!state.cid) {
      this.pending = { ...this.pending, model: model || null };
      this.current = this.pending;
      return;
    }
    try {
      const updated = await api.updateConversation(state.cid, { settings });
      this.current = updated.settings ?? settings;
    } catch (exc) {
      notify(`The model is not remembered for this conversation: ${exc.message}`, "warn");
    }
  }
}
