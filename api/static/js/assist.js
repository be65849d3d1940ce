// Assistants on the page: when the model picker names one (`assistant:NAME`, listed by
// /v1/models), its description, the inputs of its template's variables and its
// conversation starters show above the composer; the message carries the variables.

import * as api from "./api.js";

const PREFIX = "assistant:";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class AssistantPanel {
  /** picker: the model <select>; composer: the form; input: its textarea. */
  constructor(picker, composer, input, notify) {
    this.picker = picker;
    this.composer = composer;
    this.input = input;
    this.notify = notify;
    this.fields = new Map();
    this.panel = el("section", "assistant-panel");
    this.panel.id = "assistant-panel";
    this.panel.setAttribute("aria-label", "Assistant");
    this.panel.hidden = true;
    composer.before(this.panel);
    picker.addEventListener("change", () => this.show());
  }

  get name() {
    const value = this.picker.value;
    return value.startsWith(PREFIX) ? value.slice(PREFIX.length) : null;
  }

  async show() {
    const name = this.name;
    this.fields.clear();
    this.panel.replaceChildren();
    this.panel.hidden = !name;
    if (!name) return;
    let assistant;
    try {
      assistant = await api.getAssistant(name);
    } catch (exc) {
      this.notify(`The assistant could not be loaded: ${exc.message}`, "error");
      return;
    }
    if (this.name !== name) return; // picked another meanwhile
    const spec = assistant.spec;
    const head = el("p", "assistant-title", spec.title);
    const version = el("span", "muted small", ` version ${assistant.version}`);
    head.append(version);
    this.panel.append(head);
    if (spec.description) this.panel.append(el("p", "muted small", spec.description));
    for (const v of spec.variables) this.panel.append(this.field(v));
    if (spec.starters.length) {
      const starters = el("div", "starters");
      for (const text of spec.starters) {
        const button = el("button", "quiet starter", text);
        button.type = "button";
        button.addEventListener("click", () => {
          this.input.value = text;
          this.composer.requestSubmit();
        });
        starters.append(button);
      }
      this.panel.append(starters);
    }
  }

  field(v) {
    const label = el("label", "small variable", `${v.description || v.name}${v.required ? "" : " (optional)"} `);
    let input;
    if (v.type === "enum" || v.type === "boolean") {
      input = el("select");
      const choices = v.type === "enum" ? v.choices : ["true", "false"];
      if (!v.required || v.default === null) input.append(new Option("", ""));
      for (const c of choices) input.append(new Option(c, c));
      if (v.default !== null && v.default !== undefined) input.value = String(v.default);
    } else {
      input = el("input");
      input.type = v.type === "date" ? "date" : (v.type === "string" ? "text" : "number");
      if (v.type === "string") input.maxLength = v.max_length;
      if (v.default !== null && v.default !== undefined) input.value = String(v.default);
    }
    input.name = v.name;
    input.dataset.type = v.type;
    this.fields.set(v.name, input);
    label.append(input);
    return label;
  }

  /** What a message sends for the assistant: its variables, typed. */
  extra() {
    if (!this.name) return {};
    const variables = {};
    for (const [name, input] of this.fields) {
      if (input.value === "") continue; // left out: the server names a missing one
      const type = input.dataset.type;
      variables[name] = type === "integer" ? parseInt(input.value, 10)
        : type === "number" ? Number(input.value)
          : type === "boolean" ? input.value === "true" : input.value;
    }
    return Object.keys(variables).length ? { variables } : {};
  }
}
