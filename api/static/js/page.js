// What the page's modules share, and where other modules hook in.
//
// State: `state.cid` (the conversation shown; null for a new chat) and `state.me` (the
// caller, from GET /v1/me).
// Events on `bus` (CustomEvent, data in `detail`):
//   "session"       {me}    signed in (or dev mode), before the data loads
//   "conversation"  {cid, created}  the conversation shown changed (cid null: a new
//                           chat; created: this page just made it, for a first message)
//   "listchanged"   {}      conversations were added, renamed or removed (any tab)
//   "answerended"   {cid, answer}
// Mount points: `mount(where, node, order)` places a node in the sidebar's sections, the
// top bar's actions or the composer's tools, ordered by `order` (data-order in
// index.html: conversations 10, library 30; bookmark 10 … theme 90; attach 10, model 20,
// web 30, count 80, send 90).
// Message fields: `addMessageFields(fn)`; `fn(cid)` returns fields (an object) merged
// into every message the page posts.

import { $ } from "./dom.js";

export const state = { cid: null, me: null };

export const bus = new EventTarget();

export function emit(name, detail = {}) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

export function on(name, handler) {
  bus.addEventListener(name, (e) => handler(e.detail));
}

const MOUNTS = { sidebar: "sidebar-sections", topbar: "topbar-actions", composer: "composer-tools" };

export function mount(where, node, order = 50) {
  const parent = $(MOUNTS[where]);
  node.dataset.order = String(order);
  const after = [...parent.children].find((c) => Number(c.dataset.order ?? 0) > order);
  parent.insertBefore(node, after ?? null);
  return node;
}

const fieldSources = [];

export function addMessageFields(fn) {
  fieldSources.push(fn);
}

export function messageFields(cid) {
  return Object.assign({}, ...fieldSources.map((fn) => fn(cid) ?? {}));
}

// Other tabs of this browser hear about list changes (a rename, a delete, a new title).
const channel = "BroadcastChannel" in window ? new BroadcastChannel("chatstream") : null;

/** The list changed here: tell this page and the other tabs. */
export function listChanged() {
  emit("listchanged");
  channel?.postMessage({ type: "listchanged" });
}

channel?.addEventListener("message", (e) => {
  if (e.data?.type === "listchanged") emit("listchanged");
});
