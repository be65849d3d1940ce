// The model picker: the models of GET /v1/models, those that cannot answer here shown
// but not offered (a provider without a key, a local model not installed). The pick is
// remembered per conversation (its settings), and for new chats in this browser.

import * as api from "./api.js";
import { $ } from "./dom.js";
import { notify } from "./notice.js";

const KEY = "chatstream.model";

export class Models {
  constructor() {
    this.models = [];
  }

  async load() {
    try {
      this.models = await api.listModels();
    } catch (exc) {
      notify(`Models could not be loaded: ${exc.message}`, "error");
    }
    this.fill($("model"));
    // A conversation's settings name a model; an assistant is picked in the composer.
    this.fill($("settings-model"), (m) => m.provider !== "assistant");
    this.show(null);
  }

  fill(select, keep = () => true) {
    const options = [new Option("Default", "")];
    for (const m of this.models.filter(keep)) {
      const usable = m.available !== false;
      const option = new Option(usable ? m.id : `${m.id} (unavailable)`, m.id);
      option.disabled = !usable;
      option.title = usable ? (m.description ?? "") : (m.unavailable_reason ?? "");
      options.push(option);
    }
    select.replaceChildren(...options);
  }

  usable(id) {
    return this.models.some((m) => m.id === id && m.available !== false);
  }

  /** Show the model of a conversation's settings, or for a new chat the last picked. */
  show(model) {
    const wanted = model ?? localStorage.getItem(KEY) ?? "";
    $("model").value = this.usable(wanted) ? wanted : "";
  }

  picked() {
    return $("model").value;
  }

  remember(model) {
    localStorage.setItem(KEY, model);
  }
}
