// A small Markdown renderer for answers: it builds DOM nodes and sets only textContent
// and a few vetted attributes, never innerHTML, so no text can become markup or script.
// Covers what chat answers use: paragraphs, headings, lists (nested), quotes, fenced code
// (highlighted), tables, rules, and inline code, bold, italic, strike-through, links.

import { highlight } from "./highlight.js";

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
// Quotes and lists nest, and so do emphasis marks: past this depth what is left is shown
// as text, so a hostile answer cannot exhaust the stack (and no reader needs more).
const MAX_DEPTH = 12;

/** Render `source` as Markdown into `into`, replacing what it held. */
export function renderMarkdown(source, into) {
  const fragment = document.createDocumentFragment();
  for (const block of parseBlocks(source.replace(/\r\n?/g, "\n").split("\n"), 0)) {
    fragment.append(renderBlock(block));
  }
  into.replaceChildren(fragment);
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line);
}

function parseBlocks(lines, depth) {
  if (depth >= MAX_DEPTH) return [{ type: "paragraph", text: lines.join("\n").trim() }];
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (/^\s*$/.test(line)) {
      i++;
    } else if ((m = FENCE.exec(line))) {
      const marker = m[1];
      const body = [];
      i++;
      while (i < lines.length && !isClosingFence(lines[i], marker)) body.push(lines[i++]);
      i++; // the closing fence; an answer still streaming may not have it yet
      blocks.push({ type: "code", lang: m[2].toLowerCase(), text: body.join("\n") });
    } else if ((m = HEADING.exec(line))) {
      blocks.push({ type: "heading", level: m[1].length, text: m[2] });
      i++;
    } else if (RULE.test(line)) {
      blocks.push({ type: "rule" });
      i++;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ""));
      blocks.push({ type: "quote", children: parseBlocks(inner, depth + 1) });
    } else if (ITEM.test(line)) {
      const [list, next] = parseList(lines, i, depth);
      blocks.push(list);
      i = next;
    } else if (line.includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
      const rows = [cells(line)];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && !/^\s*$/.test(lines[i])) {
        rows.push(cells(lines[i++]));
      }
      blocks.push({ type: "table", rows });
    } else {
      const para = [line];
      i++;
      while (i < lines.length && !/^\s*$/.test(lines[i]) && !startsBlock(lines[i])) {
        para.push(lines[i++]);
      }
      blocks.push({ type: "paragraph", text: para.join("\n") });
    }
  }
  return blocks;
}

function isClosingFence(line, marker) {
  const t = line.trim();
  return t.length >= marker.length && t === marker[0].repeat(t.length);
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function parseList(lines, start, depth) {
  const first = ITEM.exec(lines[start]);
  const ordered = /\d/.test(first[2]);
  const list = { type: "list", ordered, start: ordered ? parseInt(first[2], 10) : 1, items: [] };
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (!m || /\d/.test(m[2]) !== ordered) break;
    const indent = m[1].length + m[2].length + 1;
    const body = [m[3]];
    i++;
    while (i < lines.length) {
      const line = lines[i];
      if (/^\s*$/.test(line)) {
        // A blank line ends the item unless indented content follows it.
        const after = lines[i + 1];
        if (after !== undefined && /^\s{2,}\S/.test(after)) {
          body.push("");
          i++;
          continue;
        }
        break;
      }
      const lead = line.match(/^\s*/)[0].length;
      if (lead >= 2) {
        body.push(line.slice(Math.min(lead, indent)));
      } else if (ITEM.test(line) || startsBlock(line)) {
        break;
      } else {
        body.push(line); // a lazy continuation of the item's paragraph
      }
      i++;
    }
    list.items.push(parseBlocks(body, depth + 1));
    // Blank lines between items of one list keep the list going.
    let j = i;
    while (j < lines.length && /^\s*$/.test(lines[j])) j++;
    if (j > i && j < lines.length && ITEM.exec(lines[j]) &&
        /\d/.test(ITEM.exec(lines[j])[2]) === ordered) {
      i = j;
    }
  }
  return [list, i];
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function renderBlock(block) {
  switch (block.type) {
    case "heading": {
      // Answers sit under the page's own headings: start them at h3.
      const h = el(`h${Math.min(6, block.level + 2)}`);
      h.append(renderInline(block.text));
      return h;
    }
    case "rule":
      return el("hr");
    case "quote": {
      const q = el("blockquote");
      for (const child of block.children) q.append(renderBlock(child));
      return q;
    }
    case "list": {
      const list = el(block.ordered ? "ol" : "ul");
      if (block.ordered && block.start !== 1) list.start = block.start;
      for (const item of block.items) {
        const li = el("li");
        if (item.length === 1 && item[0].type === "paragraph") {
          li.append(renderInline(item[0].text)); // a tight item: no <p>
        } else {
          for (const child of item) li.append(renderBlock(child));
        }
        list.append(li);
      }
      return list;
    }
    case "code":
      return codeBlock(block.text, block.lang);
    case "table": {
      const wrap = el("div", "table-wrap");
      const table = el("table");
      const [head, ...rows] = block.rows;
      const thead = el("thead");
      const tr = el("tr");
      for (const c of head) {
        const th = el("th");
        th.scope = "col";
        th.append(renderInline(c));
        tr.append(th);
      }
      thead.append(tr);
      const tbody = el("tbody");
      for (const row of rows) {
        const r = el("tr");
        for (let k = 0; k < head.length; k++) {
          const td = el("td");
          td.append(renderInline(row[k] ?? ""));
          r.append(td);
        }
        tbody.append(r);
      }
      table.append(thead, tbody);
      wrap.append(table);
      return wrap;
    }
    default: {
      const p = el("p");
      p.append(renderInline(block.text));
      return p;
    }
  }
}

function codeBlock(text, lang) {
  const figure = el("figure", "code");
  const bar = el("figcaption");
  const name = el("span", "lang");
  name.textContent = lang || "text";
  const copy = el("button", "copy");
  copy.type = "button";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy ${lang || "code"}`);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = "Copied";
    } catch {
      copy.textContent = "Copy failed";
    }
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  bar.append(name, copy);
  const pre = el("pre");
  pre.tabIndex = 0; // wide code scrolls: keyboard users can reach it
  const code = el("code");
  if (lang) code.dataset.lang = lang;
  code.append(highlight(text, lang));
  pre.append(code);
  figure.append(bar, pre);
  return figure;
}

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);

/**
 * Where a link really goes, as the browser will resolve it, or null when it must stay
 * text: a scheme other than http(s) or mailto (javascript:, data:), or a link written as
 * relative that resolves to another site (`/\\evil.example`, `//evil.example`: browsers
 * read a backslash as a slash). `local` says it stays on this page's origin.
 */
function resolveLink(href) {
  let url;
  try {
    url = new URL(href, location.href);
  } catch {
    return null;
  }
  if (!SAFE_SCHEMES.has(url.protocol)) return null;
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(href);
  const local = url.origin === location.origin;
  if (!absolute && !local) return null;
  return { href: url.href, local: local && !absolute };
}

/** Inline Markdown as a fragment of text nodes and elements. */
export function renderInline(text, depth = 0) {
  const out = document.createDocumentFragment();
  if (depth >= MAX_DEPTH) {
    out.append(document.createTextNode(text));
    return out;
  }
  let plain = "";
  const flush = () => {
    if (plain) out.append(document.createTextNode(plain));
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    const rest = text.slice(i);
    let m;
    if (ch === "\\" && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!~|<>]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
    } else if (ch === "\n") {
      flush();
      out.append(el("br"));
      i++;
    } else if (ch === "`" && (m = /^(`+)([\s\S]*?[^`])\1(?!`)/.exec(rest))) {
      flush();
      const code = el("code");
      code.textContent = m[2].trim() ? m[2].replace(/^ (.*) $/, "$1") : m[2];
      out.append(code);
      i += m[0].length;
    } else if (ch === "*" && (m = /^\*\*(?=\S)([\s\S]*?\S)\*\*/.exec(rest))) {
      flush();
      const strong = el("strong");
      strong.append(renderInline(m[1], depth + 1));
      out.append(strong);
      i += m[0].length;
    } else if (ch === "_" && !/\w/.test(text[i - 1] ?? "") &&
               (m = /^__(?=\S)([\s\S]*?\S)__(?!\w)/.exec(rest))) {
      // Underscores inside words (snake_case, __dunder__ names) are not emphasis.
      flush();
      const strong = el("strong");
      strong.append(renderInline(m[1], depth + 1));
      out.append(strong);
      i += m[0].length;
    } else if (ch === "*" && (m = /^\*(?=[^\s*])([\s\S]*?[^\s*])\*(?!\*)/.exec(rest))) {
      flush();
      const em = el("em");
      em.append(renderInline(m[1], depth + 1));
      out.append(em);
      i += m[0].length;
    } else if (ch === "_" && !/\w/.test(text[i - 1] ?? "") &&
               (m = /^_(?=\S)([\s\S]*?\S)_(?!\w)/.exec(rest))) {
      flush();
      const em = el("em");
      em.append(renderInline(m[1], depth + 1));
      out.append(em);
      i += m[0].length;
    } else if (ch === "~" && (m = /^~~(?=\S)([\s\S]*?\S)~~/.exec(rest))) {
      flush();
      const del = el("del");
      del.append(renderInline(m[1], depth + 1));
      out.append(del);
      i += m[0].length;
    } else if (ch === "[" && (m = linkAt(text, i))) {
      flush();
      out.append(link(m.href, renderInline(m.label, depth + 1)));
      i = m.end;
    } else if (ch === "h" && !/\w/.test(text[i - 1] ?? "") &&
               (m = /^https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/.exec(rest))) {
      flush();
      out.append(link(m[0], document.createTextNode(m[0])));
      i += m[0].length;
    } else {
      plain += ch;
      i++;
    }
  }
  flush();
  return out;
}

/** `[label](destination "title")` at `start`, destinations with balanced parentheses. */
function linkAt(text, start) {
  const close = text.indexOf("]", start + 1);
  if (close < 0 || text[close + 1] !== "(") return null;
  const label = text.slice(start + 1, close);
  if (!label || label.includes("\n") || label.includes("[")) return null;
  let i = close + 2;
  while (text[i] === " ") i++;
  let depth = 0;
  const from = i;
  for (; i < text.length; i++) {
    const c = text[i];
    if (/\s/.test(c)) break;
    if (c === "(") depth++;
    else if (c === ")") {
      if (depth === 0) break;
      depth--;
    }
  }
  const href = text.slice(from, i).replace(/^<(.*)>$/, "$1");
  const title = /^\s*(?:"[^"\n]*"\s*)?\)/.exec(text.slice(i));
  if (!href || !title) return null;
  return { label, href, end: i + title[0].length };
}

function link(href, content) {
  const target = resolveLink(href);
  if (!target) {
    // javascript:, data: and disguised off-site links stay visible text, never a link.
    const span = el("span");
    span.append(content);
    return span;
  }
  const a = el("a");
  a.href = target.href;
  if (!target.local) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  a.append(content);
  return a;
}
