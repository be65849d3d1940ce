// The conversation shown: its messages as a tree (tree.js), the branch picked rendered,
// the answer streaming in it, following the end as it grows, and the jump-to-latest
// button when the reader has scrolled up.

import * as api from "./api.js";
import { Answer } from "./answer.js";
import { $ } from "./dom.js";
import { answerFooter, userView } from "./message-view.js";
import { Tree } from "./tree.js";

export class Thread {
  /** `actions`: onEdit(message, text), onRegenerate(answer, message). */
  constructor(actions) {
    this.actions = actions;
    this.tree = new Tree();
    this.live = null; // {node, answer}: the answer streaming in this view
    this.messages = $("messages");
    this.stick = true;
    this.messages.addEventListener("scroll", () => this.scrolled());
    $("jump").addEventListener("click", () => this.toEnd(true));
    // Follow the end as answers grow, unless the reader scrolled up.
    new MutationObserver(() => {
      if (this.stick) this.messages.scrollTop = this.messages.scrollHeight;
      else this.scrolled();
    }).observe(this.messages, { childList: true, subtree: true, characterData: true });
  }

  scrolled() {
    const m = this.messages;
    this.stick = m.scrollHeight - m.scrollTop - m.clientHeight < 80;
    $("jump").hidden = this.stick;
  }

  toEnd(focus = false) {
    this.stick = true;
    this.messages.scrollTop = this.messages.scrollHeight;
    $("jump").hidden = true;
    if (focus) $("message").focus();
  }

  clear() {
    this.tree = new Tree();
    this.live = null;
    this.stick = true;
    $("jump").hidden = true;
    this.messages.replaceChildren($("empty"));
    $("empty").hidden = false;
  }

  /** The stored messages of `cid` as a tree (404 and other errors are thrown). */
  async load(cid) {
    const messages = await api.listMessages(cid);
    this.tree = new Tree(messages);
    return this.tree;
  }

  /** Render the branch picked; the live answer keeps its element. */
  render() {
    const views = [];
    const acts = { tree: this.tree, onPick: (m) => this.pick(m),
                   onEdit: this.actions.onEdit };
    for (const m of this.tree.path()) {
      if (m.role === "user") {
        views.push(userView(m, acts));
      } else if (this.live?.node === m) {
        views.push(this.live.answer.element);
        answerFooter(this.live.answer, m, this.answerActions());
      } else {
        const answer = Answer.fromStored(m);
        answerFooter(answer, m, this.answerActions());
        views.push(answer.element);
      }
    }
    $("empty").hidden = views.length > 0;
    this.messages.replaceChildren($("empty"), ...views);
  }

  answerActions() {
    return { tree: this.tree, onPick: (m) => this.pick(m),
             onRegenerate: this.actions.onRegenerate };
  }

  pick(message) {
    this.tree.pick(message);
    this.render();
    // The version shown keeps its place: focus its switcher for the next step.
    const id = CSS.escape(message.id);
    this.messages.querySelector(`[data-message-id="${id}"] .versions button:not(:disabled)`)
      ?.focus();
  }

  /** Add a question this page just sent and show the branch it starts. */
  addQuestion(message) {
    const node = this.tree.add(message);
    this.tree.pick(node);
    return node;
  }

  /** Show `answer` streaming as the reply to the question `parentId`. */
  startAnswer(answer, parentId) {
    const node = this.tree.add({ id: `live:${answer.requestId}`, parent_id: parentId,
                                 role: "assistant", request_id: answer.requestId,
                                 created_at: new Date().toISOString(), text: "" });
    this.tree.pick(node);
    this.live = { node, answer };
    answer.element.dataset.messageId = node.id;
    this.render();
    this.toEnd();
    return node;
  }

  /** The streamed answer ended: it becomes the stored message it now is. */
  endAnswer(answer) {
    if (this.live?.answer !== answer) return;
    const { node } = this.live;
    if (answer.messageId) {
      const { sent, first, end } = answer.timing;
      const stored = this.tree.replace(node.id, {
        id: answer.messageId, text: answer.text, model: answer.model,
        usage: answer.usage, finish_reason: answer.element.dataset.finishReason ?? "stop",
        citations: answer.citations,
        timings: { ttft_ms: first == null ? null : first - sent,
                   duration_ms: end == null ? null : end - sent } });
      this.live = { node: stored, answer };
      answer.element.dataset.messageId = stored.id;
    }
    answerFooter(answer, this.live.node, this.answerActions());
  }

  /** The answer of this view stops being followed (it goes on being generated). */
  detach() {
    this.live = null;
  }
}
