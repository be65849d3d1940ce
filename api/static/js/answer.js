// One assistant answer on the page: its text (rendered as Markdown), citations, and
// state, built from the SSE events of /v1/requests/{rid}/events or from a stored message.
//
// States (data-state on the article): queued, streaming, reconnecting, done, stopped,
// blocked, error. A `restart` event (a worker took over) drops the partial text and
// says so; the ids of the events are positions in the answer's stream, so an event
// at or before the last one seen is a repeat and is ignored.

import { authorizedFetch, eventsUrl } from "./api.js";
import { renderSources } from "./citations.js";
import { el } from "./dom.js";
import { readEvents } from "./sse.js";
import { renderMarkdown } from "./markdown.js";

const ENDINGS = {
  stop: ["done", ""],
  cancelled: ["stopped", "Stopped"],
  blocked: ["blocked", "Blocked by the prompt guard"],
  length: ["done", "Cut short: the length limit was reached"],
  content_filter: ["blocked", "Blocked by the provider's content filter"],
  tool_calls: ["done", "The model asked to call a tool"],
};

function describe(model, provider) {
  return [...new Set([model, provider].filter(Boolean))].join(" · ");
}

export class Answer {
  constructor(requestId) {
    this.requestId = requestId;
    this.text = "";
    this.citations = [];
    this.calls = []; // tool calls: {id, name, arguments}, by index
    this.lastId = 0;
    this.state = "queued";
    this.element = el("article", "msg assistant");
    this.element.setAttribute("aria-label", "Answer");
    if (requestId) this.element.dataset.requestId = requestId;
    this.meta = el("p", "meta", "Waiting for the model…");
    this.body = el("div", "body markdown");
    this.notes = el("div", "notes");
    this.sources = el("section", "sources");
    this.sources.hidden = true;
    this.tools = el("section", "tool-calls");
    this.tools.hidden = true;
    this.ending = el("p", "ending");
    this.ending.hidden = true;
    this.footer = el("div", "msg-footer");
    this.element.append(this.meta, this.body, this.tools, this.sources, this.notes,
                        this.ending, this.footer);
    this.setState("queued");
    this.pending = false;
    // Times of this answer as the page saw them (ms since the page loaded).
    this.timing = { sent: performance.now(), first: null, end: null };
    this.usage = null;
    this.stored = null; // the stored answer's timings, when it comes from the history
    this.messageId = null;
    this.createdAt = null;
    this.model = "";
  }

  setState(state) {
    this.state = state;
    this.element.dataset.state = state;
    const live = state === "queued" || state === "streaming" || state === "reconnecting";
    this.element.setAttribute("aria-busy", String(live));
  }

  get finished() {
    return ["done", "stopped", "blocked", "error"].includes(this.state);
  }

  note(kind, text) {
    const p = el("p", `note ${kind}`, text);
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    this.notes.append(p);
    return p;
  }

  /** Apply one SSE event; `id` is its position in the stream (null if it has none). */
  apply(name, data, id = null) {
    if (id !== null) {
      if (id <= this.lastId) return false; // already applied: never repeat text
      this.lastId = id;
    }
    if (this.finished) return false;
    switch (name) {
      case "status":
        if (data.state === "generating") {
          this.setState("streaming");
          this.meta.textContent = describe(data.model, data.provider) || "Generating…";
          this.element.dataset.model = data.model ?? "";
          this.model = data.model ?? "";
        } else {
          this.meta.textContent = "Queued…";
        }
        break;
      case "citations":
        this.citations = data.citations ?? [];
        this.renderSources();
        break;
      case "token":
        if (this.state !== "streaming") this.setState("streaming");
        this.timing.first ??= performance.now();
        this.text += data.text;
        this.scheduleRender();
        break;
      case "tool_calls": {
        if (this.state !== "streaming") this.setState("streaming");
        const call = (this.calls[data.index] ??= { id: "", name: "", arguments: "" });
        call.id ||= data.id ?? "";
        call.name += data.name ?? "";
        call.arguments += data.arguments ?? "";
        this.renderTools();
        break;
      }
      case "restart":
        this.text = "";
        this.citations = [];
        this.calls = [];
        this.renderTools();
        this.renderSources();
        this.render();
        this.timing.first = null;
        this.note("restart", "The answer was interrupted and starts over.");
        this.element.dataset.restarts = String(Number(this.element.dataset.restarts ?? 0) + 1);
        break;
      case "done":
        // A refused request has no answer, only the guard's reason.
        if (data.refusal && !this.text) this.text = data.refusal;
        this.timing.end = performance.now();
        this.messageId = data.message_id ?? null;
        this.finish(data.finish_reason ?? "stop", data.usage);
        break;
      case "error":
        this.render();
        this.setState("error");
        this.note("error", `The answer failed: ${data.message ?? "unknown error"}` +
                  (data.code ? ` (${data.code})` : ""));
        break;
      default:
        return false;
    }
    return true;
  }

  finish(reason, usage) {
    this.usage = usage ?? null;
    this.render();
    const [state, label] = ENDINGS[reason] ?? ["done", `Ended: ${reason}`];
    this.setState(state);
    this.element.dataset.finishReason = reason;
    if (label) {
      this.ending.textContent = label;
      this.ending.hidden = false;
    }
    this.element.dispatchEvent(new Event("answer-finished"));
  }

  /** Time to the first token and tokens per second, as stored or as seen live. */
  stats() {
    const tokens = this.usage?.completion_tokens ?? 0;
    let first = this.stored?.ttft_ms ?? null;
    let total = this.stored?.duration_ms ?? null;
    if (first == null && this.timing.first != null) first = this.timing.first - this.timing.sent;
    if (total == null && this.timing.end != null) total = this.timing.end - this.timing.sent;
    const parts = [];
    if (first != null) parts.push(`${(first / 1000).toFixed(1)} s to first token`);
    if (tokens && first != null && total != null && total > first) {
      parts.push(`${Math.round(tokens / ((total - first) / 1000))} tokens/s`);
    }
    if (tokens) parts.push(`${tokens} tokens`);
    return parts.join(" · ");
  }

  /** A stored answer (from the conversation's history). */
  static fromStored(message) {
    const a = new Answer(message.request_id);
    a.stored = message.timings ?? null;
    a.messageId = message.id;
    a.createdAt = message.created_at;
    a.model = message.model ?? "";
    a.text = message.text;
    a.citations = message.citations ?? [];
    a.calls = (message.tool_calls ?? []).map((c) => ({ ...c }));
    a.meta.textContent = describe(message.model, message.provider);
    a.renderTools();
    a.renderSources();
    a.finish(message.finish_reason ?? "stop", message.usage);
    return a;
  }

  scheduleRender() {
    if (this.pending) return;
    this.pending = true;
    // Coalesce the tokens of one frame; a hidden tab renders on its next frame.
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render() {
    renderMarkdown(this.text, this.body);
  }

  /** Each tool call as a small card: the function's name and its arguments (pretty
   *  printed once they are whole JSON), and the result when the client sent one. */
  renderTools() {
    const cards = this.calls.filter(Boolean).map((c) => {
      const card = el("div", "tool-call");
      card.dataset.callId = c.id;
      card.append(el("span", "tool-label", "Tool call"), el("code", "tool-name", c.name));
      let args = c.arguments;
      try { args = JSON.stringify(JSON.parse(args), null, 2); } catch { /* still arriving */ }
      card.append(el("pre", "tool-arguments", args));
      if (c.result != null) card.append(el("pre", "tool-result", `→ ${c.result}`));
      return card;
    });
    this.tools.replaceChildren(...cards);
    this.tools.hidden = cards.length === 0;
  }

  renderSources() {
    renderSources(this.sources, this.citations, () => this.text);
  }
}

// A page being left aborts its streams, which looks like an error: not one to act on.
let leaving = false;
addEventListener("pagehide", () => { leaving = true; });
addEventListener("beforeunload", () => { leaving = true; });
addEventListener("pageshow", () => { leaving = false; });

const RETRY_MS = [500, 1000, 2000, 5000];

/**
 * Follow `answer`'s stream from its start (a reload rebuilds the text from event 1) and
 * apply each event. A stream that ends or breaks before the answer's last event is
 * reopened after the last event applied (Last-Event-ID), with a growing pause, unless the
 * edge says the answer is gone (404). The hooks hear about the connection
 * (`onConnection(lost)`), the end (`onEnd(answer)`) and a gone answer (`onGone`).
 */
export function follow(answer, { onEnd, onConnection, onGone }) {
  let ended = false;
  let retries = 0;
  let timer = 0;
  let control = null;
  const end = () => {
    if (ended) return;
    ended = true;
    control?.abort();
    onEnd?.(answer);
  };
  const lost = () => {
    if (answer.state !== "reconnecting") answer.setState("reconnecting");
    onConnection?.(true);
  };
  const open = async () => {
    if (ended || leaving) return;
    control = new AbortController();
    const headers = { Accept: "text/event-stream" };
    if (answer.lastId) headers["Last-Event-ID"] = String(answer.lastId);
    let response = null;
    try {
      response = await authorizedFetch("GET", eventsUrl(answer.requestId),
                                       { headers, signal: control.signal });
      if (response.status === 404) {
        ended = true;
        onGone?.(answer);
        return;
      }
      if (response.ok) {
        if (answer.state === "reconnecting") {
          answer.setState(answer.text ? "streaming" : "queued");
        }
        onConnection?.(false);
        await readEvents(response, (name, raw, id) => {
          let data;
          try {
            data = JSON.parse(raw);
          } catch {
            return;
          }
          retries = 0;
          answer.apply(name, data, id);
          if (answer.finished) end();
        });
      }
    } catch {
      // a network error or an aborted read: reopened below unless the answer ended
    }
    if (ended || leaving) return;
    lost();
    const pause = response?.status === 429
      ? (Number(response.headers.get("Retry-After")) || 5) * 1000
      : RETRY_MS[Math.min(retries++, RETRY_MS.length - 1)];
    timer = setTimeout(open, pause);
  };
  open();
  return {
    close: () => {
      ended = true;
      clearTimeout(timer);
      control?.abort();
    },
  };
}
