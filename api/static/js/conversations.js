// The sidebar's conversations: grouped by the day they were started, each renamed in
// place or deleted (after a confirmation), a search of titles and message text on the
// server, and kept current when another tab changes them.

import * as api from "./api.js";
import { $, button, confirmAction, el } from "./dom.js";
import { fullTime, groupOf } from "./dates.js";
import { icon } from "./icons.js";
import { notify } from "./notice.js";
import { listChanged, on, state } from "./page.js";

const SEARCH_DELAY_MS = 250;

export class Conversations {
  /** `hooks`: open(cid), isBookmarked(cid), deleted(cid), rendered(). */
  constructor(hooks) {
    this.hooks = hooks;
    this.items = [];
    this.searchTimer = 0;
    this.searchSeq = 0;
    this.list = $("conversations");
    this.list.addEventListener("click", (e) => this.clicked(e));
    $("bookmarked-only").addEventListener("change", () => this.load());
    $("search").addEventListener("input", () => this.searchSoon());
    $("search").addEventListener("keydown", (e) => {
      if (e.key === "Escape" && $("search").value) {
        e.stopPropagation(); // Escape clears the search first, then closes the drawer
        $("search").value = "";
        this.showResults(null);
      }
    });
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.search();
    });
    on("listchanged", () => this.load());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && state.me) this.load();
    });
  }

  get(cid) {
    return this.items.find((c) => c.id === cid) ?? null;
  }

  async load() {
    try {
      this.items = await api.listConversations($("bookmarked-only").checked);
    } catch (exc) {
      notify(`Conversations could not be loaded: ${exc.message}`, "error");
      return;
    }
    this.render();
  }

  clear() {
    this.items = [];
    this.list.replaceChildren();
  }

  render() {
    const groups = new Map();
    for (const c of this.items) {
      const name = groupOf(c.created_at);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(c);
    }
    const sections = [...groups].map(([name, items]) => {
      const section = el("section", "conversation-group");
      const heading = el("h3", "group-heading", name);
      heading.id = `group-${name.replace(/\W+/g, "-").toLowerCase()}`;
      section.setAttribute("aria-labelledby", heading.id);
      const ul = el("ul");
      ul.append(...items.map((c) => this.item(c)));
      section.append(heading, ul);
      return section;
    });
    this.list.replaceChildren(...sections);
    $("conversations-empty").hidden = this.items.length > 0;
    this.hooks.rendered();
  }

  item(c) {
    const li = el("li", "conversation");
    li.dataset.id = c.id;
    const a = el("a", "conversation-link", c.title);
    a.href = `#/c/${encodeURIComponent(c.id)}`;
    a.dataset.id = c.id;
    a.title = `${c.title}\nStarted ${fullTime(c.created_at)}`;
    if (this.hooks.isBookmarked(c.id)) {
      const star = el("span", "star", " \u2605");
      star.setAttribute("aria-label", "bookmarked");
      a.append(star);
    }
    if (c.id === state.cid) a.setAttribute("aria-current", "page");
    const rename = button("", { className: "item-action", label: `Rename ${c.title}` });
    rename.append(icon("pencil"));
    rename.dataset.action = "rename";
    const remove = button("", { className: "item-action", label: `Delete ${c.title}` });
    remove.append(icon("trash"));
    remove.dataset.action = "delete";
    li.append(a, rename, remove);
    return li;
  }

  markCurrent() {
    for (const a of this.list.querySelectorAll("a[data-id]")) {
      if (a.dataset.id === state.cid) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  clicked(e) {
    const li = e.target.closest("li.conversation");
    if (!li) return;
    const action = e.target.closest("button")?.dataset.action;
    if (action === "rename") this.rename(li);
    else if (action === "delete") this.remove(li.dataset.id);
    else if (e.target.closest("a[data-id]")) {
      e.preventDefault();
      this.hooks.open(li.dataset.id);
    }
  }

  /** The title becomes a text box: Enter (or leaving it) saves, Escape cancels. */
  rename(li) {
    const c = this.get(li.dataset.id);
    if (!c || li.querySelector("input")) return;
    const input = el("input", "rename");
    input.value = c.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", "New title");
    const link = li.querySelector("a");
    link.hidden = true;
    li.prepend(input);
    input.focus();
    input.select();
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      input.remove();
      link.hidden = false;
      if (!save || !title || title === c.title) {
        link.focus();
        return;
      }
      await this.setTitle(c.id, title);
      this.list.querySelector(`li[data-id="${CSS.escape(c.id)}"] a`)?.focus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        finish(true);
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }

  async setTitle(cid, title) {
    try {
      const updated = await api.updateConversation(cid, { title });
      const c = this.get(cid);
      if (c) c.title = updated.title;
      this.render();
      listChanged();
      notify("Renamed.");
      return updated;
    } catch (exc) {
      notify(`Not renamed: ${exc.message}`, "error");
      return null;
    }
  }

  async remove(cid) {
    const c = this.get(cid);
    const title = c?.title ?? "this conversation";
    if (!(await confirmAction(`Delete “${title}” and all its messages? This cannot be undone.`,
                              "Delete"))) return;
    try {
      await api.deleteConversation(cid);
    } catch (exc) {
      if (exc.status !== 404) {
        notify(`Not deleted: ${exc.message}`, "error");
        return;
      }
    }
    this.items = this.items.filter((x) => x.id !== cid);
    this.render();
    this.hooks.deleted(cid);
    listChanged();
    notify(`Deleted “${title}”.`);
  }

  // --- search -------------------------------------------------------------------------

  searchSoon() {
    clearTimeout(this.searchTimer);
    const q = $("search").value.trim();
    if (!q) {
      this.showResults(null);
      return;
    }
    this.searchTimer = setTimeout(() => this.search(), SEARCH_DELAY_MS);
  }

  async search() {
    clearTimeout(this.searchTimer);
    const q = $("search").value.trim();
    if (!q) return;
    const seq = ++this.searchSeq;
    try {
      const found = await api.searchConversations(q);
      if (seq === this.searchSeq) this.showResults(found, q);
    } catch (exc) {
      if (seq === this.searchSeq) notify(`Search failed: ${exc.message}`, "error");
    }
  }

  showResults(found, q = "") {
    const box = $("search-results");
    this.list.hidden = Boolean(found);
    $("conversations-empty").hidden = Boolean(found) || this.items.length > 0;
    if (!found) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const items = found.data.map((hit) => {
      const li = el("li", "search-hit");
      const a = el("a", "conversation-link");
      a.href = `#/c/${encodeURIComponent(hit.conversation_id)}`;
      a.addEventListener("click", (e) => {
        e.preventDefault();
        this.hooks.open(hit.conversation_id);
      });
      a.append(el("span", "hit-title", hit.title));
      if (hit.snippet) a.append(el("span", "hit-snippet", hit.snippet));
      li.append(a);
      return li;
    });
    const heading = el("h3", "group-heading", found.data.length
      ? `${found.data.length} found for “${q}”` : `Nothing found for “${q}”`);
    const list = el("ul");
    list.append(...items);
    box.replaceChildren(heading, list);
    if (!found.complete) {
      box.append(el("p", "muted small", `Searched your ${found.searched} most recent ` +
                                        "conversations."));
    }
    box.hidden = false;
  }
}
