// A message's parts besides its text: the time, the versions of it (edits of a question,
// regenerations of an answer) with the arrows between them, and its actions (copy, edit
// and send again, regenerate).

import { button, copyText, el } from "./dom.js";
import { fullTime, timeOf } from "./dates.js";

function time(iso) {
  const t = el("time", "msg-time", timeOf(iso));
  t.dateTime = iso;
  t.title = fullTime(iso);
  return t;
}

/** "‹ 2 / 3 ›" between the versions of `message` (nothing when it has none). */
function versions(message, tree, onPick, what) {
  const siblings = tree.siblings(message).filter((s) => s.role === message.role);
  if (siblings.length < 2) return null;
  const at = siblings.findIndex((s) => s.id === message.id);
  const group = el("span", "versions");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `Versions of this ${what}`);
  const previous = button("\u2039", { className: "version-step", label: `Previous version`,
                                      onClick: () => onPick(siblings[at - 1]) });
  previous.disabled = at === 0;
  const next = button("\u203A", { className: "version-step", label: `Next version`,
                                  onClick: () => onPick(siblings[at + 1]) });
  next.disabled = at === siblings.length - 1;
  group.append(previous, el("span", "version-count", `${at + 1} / ${siblings.length}`), next);
  return group;
}

/** The article of a question; `actions`: {tree, onPick, onEdit} (none when read-only). */
export function userView(message, actions = null) {
  const article = el("article", "msg user");
  article.setAttribute("aria-label", "You");
  if (message.request_id) article.dataset.requestId = message.request_id;
  if (message.id) article.dataset.messageId = message.id;
  const body = el("div", "body", message.text); // as typed, never as markup
  const footer = el("div", "msg-footer");
  if (message.created_at) footer.append(time(message.created_at));
  if (actions) {
    const v = versions(message, actions.tree, actions.onPick, "question");
    if (v) footer.append(v);
    const edit = button("Edit", { className: "msg-action", label: "Edit this message" });
    edit.addEventListener("click", () => startEdit(article, body, message, actions.onEdit));
    const copy = button("Copy", { className: "msg-action", label: "Copy this message" });
    copy.addEventListener("click", () => copyText(message.text, copy));
    footer.append(edit, copy);
  }
  article.append(body, footer);
  return article;
}

function startEdit(article, body, message, onEdit) {
  if (article.querySelector(".edit-box")) return;
  const form = el("form", "edit-box");
  const box = el("textarea");
  box.value = message.text;
  box.rows = Math.min(10, message.text.split("\n").length + 1);
  box.setAttribute("aria-label", "Edited message");
  const send = el("button", "primary", "Send");
  send.type = "submit";
  const cancel = button("Cancel");
  form.append(box, el("div", "inline-form end"));
  form.lastChild.append(cancel, send);
  body.hidden = true;
  article.classList.add("editing");
  article.insertBefore(form, body.nextSibling);
  const close = () => {
    form.remove();
    body.hidden = false;
    article.classList.remove("editing");
  };
  cancel.addEventListener("click", () => {
    close();
    article.querySelector(".msg-action")?.focus();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      cancel.click();
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = box.value;
    if (!text.trim() || text === message.text) {
      cancel.click();
      return;
    }
    send.disabled = true;
    if (await onEdit(message, text)) close();
    else send.disabled = false;
  });
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

/** Fill an answer's footer: its time, speed, versions and actions. */
export function answerFooter(answer, message, actions) {
  const footer = answer.footer;
  const parts = [];
  const when = message?.created_at ?? answer.createdAt;
  if (when) parts.push(time(when));
  const stats = answer.stats();
  if (stats) parts.push(el("span", "msg-stats", stats));
  if (actions && message) {
    const v = versions(message, actions.tree, actions.onPick, "answer");
    if (v) parts.push(v);
  }
  const copy = button("Copy", { className: "msg-action", label: "Copy the whole answer" });
  copy.addEventListener("click", () => copyText(answer.text, copy));
  parts.push(copy);
  if (actions?.onRegenerate && answer.finished) {
    parts.push(button("Regenerate", { className: "msg-action", label: "Regenerate this answer",
                                      onClick: () => actions.onRegenerate(answer, message) }));
  }
  footer.replaceChildren(...parts);
}
