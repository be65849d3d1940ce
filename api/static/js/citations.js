// An answer's sources: each document passage a button that opens it (its page, the
// passage, and the sentences the answer drew on marked), each web result a link.

import * as api from "./api.js";
import { $, button, el } from "./dom.js";

function label(c) {
  return c.page ? `page ${c.page}, passage ${c.chunk + 1}` : `passage ${c.chunk + 1}`;
}

const capital = (s) => s[0].toUpperCase() + s.slice(1);

/** Fill `section` with the sources of `citations`; `answerText()` is the answer so far. */
export function renderSources(section, citations, answerText) {
  const seen = new Set();
  const items = [];
  for (const c of citations) {
    const key = `${c.document_id}:${c.chunk}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const li = el("li");
    li.dataset.documentId = c.document_id;
    if (c.url && /^https?:\/\//.test(c.url)) {
      // A web result: its page, opened apart from this one.
      const a = el("a", "source-title", c.title);
      a.href = c.url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      li.append(a, el("span", "source-passage", ` ${new URL(c.url).hostname}`));
    } else {
      const open = button("", { className: "source-open" });
      open.append(el("span", "source-title", c.title),
                  el("span", "source-passage", ` ${label(c)}`));
      open.setAttribute("aria-haspopup", "dialog");
      open.addEventListener("click", () => showPassage(c, answerText()));
      li.append(open);
      if (c.excerpt) li.append(el("span", "source-excerpt", c.excerpt));
    }
    items.push(li);
  }
  const heading = el("h3", "sources-heading", "Sources");
  const list = el("ol");
  list.append(...items);
  section.replaceChildren(heading, list);
  section.hidden = items.length === 0;
}

const WORD = /[\p{L}\p{N}]{4,}/gu;

function words(text) {
  return new Set((text.toLowerCase().match(WORD) ?? []));
}

/** The passage's sentences, each marked when the answer shares enough words with it
 *  (the document's title left out: an answer may name it, as the offline model does). */
export function markedPassage(text, answer, title = "") {
  const wanted = words(answer);
  for (const w of words(title)) wanted.delete(w);
  const sentences = text.split(/(?<=[.!?])\s+/);
  const scores = sentences.map((s) => [...words(s)].filter((w) => wanted.has(w)).length);
  const best = Math.max(0, ...scores);
  const fragment = document.createDocumentFragment();
  sentences.forEach((s, i) => {
    if (i) fragment.append(" ");
    if (best >= 2 && scores[i] >= Math.max(2, Math.ceil(best * 0.6))) {
      fragment.append(el("mark", "", s));
    } else {
      fragment.append(s);
    }
  });
  return fragment;
}

async function showPassage(citation, answer) {
  const dialog = $("passage");
  $("passage-heading").textContent = citation.title;
  $("passage-where").textContent = capital(label(citation));
  const body = $("passage-text");
  body.replaceChildren(el("span", "muted", "Loading the passage…"));
  if (!dialog.open) dialog.showModal();
  try {
    const passage = await api.getPassage(citation.document_id, citation.chunk);
    const where = label({ ...citation, page: passage.page ?? citation.page });
    $("passage-where").textContent = `${capital(where)} of ${passage.title}`;
    body.replaceChildren(markedPassage(passage.text, answer, passage.title));
    body.querySelector("mark")?.scrollIntoView({ block: "center" });
  } catch (exc) {
    body.replaceChildren(el("span", "muted", exc.status === 404
      ? "This passage is no longer available: its document was removed."
      : `The passage could not be loaded: ${exc.message}`));
  }
}

export function wirePassage() {
  const dialog = $("passage");
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
}
