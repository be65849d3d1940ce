// The chat page: sign-in, conversations, the model picker, sending and streaming, stop,
// resume after a reload, documents, bookmarks and sharing, batches, usage and keys, the
// admins' status view, theme. One answer streams at a time per tab.

import * as api from "./api.js";
import * as auth from "./auth.js";
import { Account, describeLimit } from "./account.js";
import { Answer, follow } from "./answer.js";
import { AssistantPanel } from "./assist.js";
import { Batches } from "./batches.js";
import { Documents } from "./documents.js";
import { Inflight } from "./inflight.js";
import { MemoryPanel } from "./memory.js";
import { PageByUrl } from "./pages.js";
import { Sharing, showShared, tokenFromHash } from "./share.js";
import { StatusView } from "./status.js";

const $ = (id) => document.getElementById(id);

const ui = {
  app: $("app"),
  sidebar: $("sidebar"),
  openSidebar: $("open-sidebar"),
  closeSidebar: $("close-sidebar"),
  newChat: $("new-chat"),
  conversations: $("conversations"),
  conversationsEmpty: $("conversations-empty"),
  title: $("title"),
  model: $("model"),
  theme: $("theme"),
  messages: $("messages"),
  empty: $("empty"),
  notice: $("notice"),
  composer: $("composer"),
  input: $("message"),
  send: $("send"),
  stop: $("stop"),
  bookmarkedOnly: $("bookmarked-only"),
};

const state = {
  cid: null,
  conversations: [],
  current: null, // {answer, stream} of the answer streaming in this view
  loadToken: 0, // a newer conversation switch makes older loads moot
};

const inflight = new Inflight(sessionStorage);

// --- notices (one polite live region for the whole page) -------------------------------

let noticeTimer = 0;
function notify(text, kind = "info", sticky = false) {
  clearTimeout(noticeTimer);
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = !text;
  if (text && !sticky) noticeTimer = setTimeout(() => { ui.notice.hidden = true; }, 6000);
}

// The skip link moves focus without touching the URL's fragment, which names the
// conversation.
document.querySelector(".skip-link").addEventListener("click", (e) => {
  e.preventDefault();
  ui.input.focus();
});

// --- theme ------------------------------------------------------------------------------

const THEMES = ["system", "light", "dark"];
function applyTheme(theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  ui.theme.querySelector(".theme-text").textContent = `Theme: ${theme}`;
  ui.theme.dataset.theme = theme;
}
ui.theme.addEventListener("click", () => {
  const now = ui.theme.dataset.theme ?? "system";
  const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
  localStorage.setItem("chatstream.theme", next);
  applyTheme(next);
});
applyTheme(localStorage.getItem("chatstream.theme") ?? "system");

// --- sidebar (a drawer on narrow screens) ---------------------------------------------

function setSidebar(open) {
  ui.app.classList.toggle("sidebar-open", open);
  ui.openSidebar.setAttribute("aria-expanded", String(open));
  if (open) ui.newChat.focus();
}
ui.openSidebar.addEventListener("click", () => setSidebar(true));
$("backdrop").addEventListener("click", () => setSidebar(false));
ui.closeSidebar.addEventListener("click", () => {
  setSidebar(false);
  ui.openSidebar.focus();
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  if (ui.app.classList.contains("sidebar-open")) {
    setSidebar(false);
    ui.openSidebar.focus();
  } else if (state.current && !ui.stop.hidden) {
    stop();
  }
});

// --- models -----------------------------------------------------------------------------

async function loadModels() {
  let models = [];
  try {
    models = await api.listModels();
  } catch (exc) {
    notify(`Models could not be loaded: ${exc.message}`, "error");
  }
  const saved = localStorage.getItem("chatstream.model") ?? "";
  const options = [new Option("Default", "")];
  for (const m of models) {
    const option = new Option(m.id, m.id);
    option.title = m.description ?? "";
    options.push(option);
  }
  ui.model.replaceChildren(...options);
  ui.model.value = models.some((m) => m.id === saved) ? saved : "";
}
ui.model.addEventListener("change", () => localStorage.setItem("chatstream.model", ui.model.value));

// --- conversations ------------------------------------------------------------------------

async function loadConversations() {
  try {
    state.conversations = await api.listConversations(ui.bookmarkedOnly.checked);
  } catch (exc) {
    notify(`Conversations could not be loaded: ${exc.message}`, "error");
    return;
  }
  const items = state.conversations.map((c) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#/c/${encodeURIComponent(c.id)}`;
    a.textContent = c.title;
    a.dataset.id = c.id;
    if (sharing.isBookmarked(c.id)) {
      const star = document.createElement("span");
      star.className = "star";
      star.textContent = " \u2605";
      star.setAttribute("aria-label", "bookmarked");
      a.append(star);
    }
    if (c.id === state.cid) a.setAttribute("aria-current", "page");
    li.append(a);
    return li;
  });
  ui.conversations.replaceChildren(...items);
  ui.conversationsEmpty.hidden = items.length > 0;
  showTitle();
}

function showTitle() {
  const c = state.conversations.find((x) => x.id === state.cid);
  ui.title.textContent = c ? c.title : "New conversation";
  document.title = c ? `${c.title} · chatstream` : "chatstream";
  sharing.refresh(); // bookmark and share act on the conversation shown
}

function markCurrent() {
  for (const a of ui.conversations.querySelectorAll("a")) {
    if (a.dataset.id === state.cid) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  showTitle();
}

function detach() {
  // Leaving a view closes its stream only: the answer goes on being generated.
  state.current?.stream.close();
  state.current = null;
  setBusy(false);
}

function userMessage(text, requestId) {
  const article = document.createElement("article");
  article.className = "msg user";
  article.setAttribute("aria-label", "You");
  if (requestId) article.dataset.requestId = requestId;
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = text; // what people type is shown as they typed it, never as markup
  article.append(body);
  return article;
}

// Follow the end of the conversation as answers grow, unless the reader scrolled up.
let stickToEnd = true;
ui.messages.addEventListener("scroll", () => {
  const m = ui.messages;
  stickToEnd = m.scrollHeight - m.scrollTop - m.clientHeight < 80;
});
new MutationObserver(() => {
  if (stickToEnd) ui.messages.scrollTop = ui.messages.scrollHeight;
}).observe(ui.messages, { childList: true, subtree: true, characterData: true });

function append(node) {
  ui.empty.hidden = true;
  ui.messages.append(node);
}

function clearMessages() {
  stickToEnd = true;
  ui.messages.replaceChildren(ui.empty);
  ui.empty.hidden = false;
}

async function openConversation(cid) {
  detach();
  state.cid = cid;
  memory.sync();
  const token = ++state.loadToken;
  markCurrent();
  clearMessages();
  if (!cid) return;
  let messages;
  try {
    messages = await api.listMessages(cid);
  } catch (exc) {
    if (token !== state.loadToken) return;
    notify(exc.status === 404 ? "That conversation does not exist." :
           `The conversation could not be loaded: ${exc.message}`, "error");
    if (exc.status === 404) {
      inflight.remove(cid);
      go(null);
    }
    return;
  }
  if (token !== state.loadToken) return;
  for (const m of messages) {
    append(m.role === "user" ? userMessage(m.text, m.request_id)
                             : Answer.fromStored(m).element);
  }
  // An answer this tab was streaming before a reload (or before switching away).
  const pending = inflight.get(cid);
  if (!pending) return;
  if (messages.some((m) => m.role === "assistant" && m.request_id === pending.rid)) {
    inflight.remove(cid); // finished and stored meanwhile: the history shows it
    return;
  }
  if (!messages.some((m) => m.role === "user" && m.request_id === pending.rid)) {
    append(userMessage(pending.text, pending.rid));
  }
  stream(new Answer(pending.rid), !pending.done);
}

function go(cid) {
  const hash = cid ? `#/c/${encodeURIComponent(cid)}` : "#/";
  if (location.hash !== hash) history.pushState(null, "", hash);
  openConversation(cid);
}

function cidFromHash() {
  const m = /^#\/c\/([^/]+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

window.addEventListener("popstate", () => {
  // Into or out of a shared conversation's read-only view: start the page afresh.
  if (tokenFromHash() || document.body.classList.contains("readonly")) location.reload();
  else openConversation(cidFromHash());
});
ui.conversations.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-id]");
  if (!a) return;
  e.preventDefault();
  setSidebar(false);
  go(a.dataset.id);
  ui.input.focus();
});
ui.newChat.addEventListener("click", () => {
  setSidebar(false);
  go(null);
  ui.input.focus();
});

// --- sending, streaming, stopping -------------------------------------------------------

function setBusy(busy) {
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
  ui.stop.disabled = false;
  ui.composer.setAttribute("aria-busy", String(busy));
}

function stream(answer, resumed = false) {
  append(answer.element);
  setBusy(true);
  if (resumed) notify("Resuming the answer that was streaming…", "info");
  const cid = state.cid;
  const current = { answer, stream: null };
  state.current = current;
  const finished = () => {
    if (state.current === current) {
      state.current = null;
      setBusy(false);
    }
  };
  current.stream = follow(answer, {
    onEnd: (a) => {
      inflight.finish(cid, a.requestId);
      finished();
      const said = { stopped: "Answer stopped.", blocked: "The answer was blocked.",
                     error: "The answer failed." }[a.state] ?? "Answer complete.";
      notify(said, a.state === "error" ? "error" : "info");
      loadConversations();
    },
    onConnection: (lost) => {
      if (lost) notify("Connection lost: reconnecting to the answer…", "warn", true);
      else if (ui.notice.dataset.kind === "warn") notify("");
    },
    onGone: (a) => {
      const entry = inflight.get(cid);
      inflight.remove(cid);
      finished();
      if (entry?.done) {
        a.element.remove(); // an old answer the edge has forgotten and never stored
        return;
      }
      a.setState("error");
      a.note("error", "This answer's stream is no longer available.");
    },
  });
}

async function send(text) {
  if (!text.trim() || state.current) return;
  setBusy(true);
  let cid = state.cid;
  try {
    if (!cid) {
      const title = text.replace(/\s+/g, " ").trim();
      const created = await api.createConversation(
        title.length <= 60 ? title : `${title.slice(0, 57).trimEnd()}...`);
      cid = created.id;
      state.cid = cid;
      state.loadToken++;
      history.pushState(null, "", `#/c/${encodeURIComponent(cid)}`);
      await loadConversations();
    }
    const accepted = await api.sendMessage(cid, text, ui.model.value,
                                           !$("web-toggle").hidden && $("web-search").checked,
                                           { ...assistant.extra(), ...memory.extra() });
    stickToEnd = true; // your own message brings you to the end
    if (state.cid !== cid) return; // switched away meanwhile: the history will show it
    inflight.add(cid, { rid: accepted.request_id, text });
    append(userMessage(text, accepted.request_id));
    ui.input.value = "";
    resize();
    stream(new Answer(accepted.request_id));
  } catch (exc) {
    setBusy(false);
    notify(`Not sent: ${describeLimit(exc)}`, "error", true);
  }
}

async function stop() {
  const current = state.current;
  if (!current) return;
  ui.stop.disabled = true;
  try {
    await api.cancelRequest(current.answer.requestId);
    notify("Stopping…");
  } catch (exc) {
    ui.stop.disabled = false;
    if (exc.status === 409) return; // it had just finished
    notify(exc.status === 404 || exc.status === 405
      ? "This server cannot stop an answer." : `Stop failed: ${exc.message}`, "error");
  }
}

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  send(ui.input.value);
});
ui.stop.addEventListener("click", stop);
ui.input.addEventListener("keydown", (e) => {
  // Enter sends, Shift+Enter starts a new line (and IME composition is left alone).
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});
function resize() {
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 240)}px`;
}
ui.input.addEventListener("input", resize);

// --- start ------------------------------------------------------------------------------

const documents = new Documents($("documents-section"), notify);
new PageByUrl($("documents-section"), documents, notify);
const assistant = new AssistantPanel(ui.model, $("composer"), ui.input, notify);
const memory = new MemoryPanel(document.querySelector(".who-actions"), $("composer"), notify,
                               () => state.cid);
const account = new Account(notify);
const sharing = new Sharing(notify, () => state.cid);
new Batches(notify, () => ui.model.value);
new StatusView(notify);
ui.bookmarkedOnly.addEventListener("change", loadConversations);
document.addEventListener("bookmarks-changed", loadConversations);

/** Who the caller is; with AUTH=jwt and no session, the sign-in form first. */
async function signedIn() {
  for (;;) {
    try {
      return await account.load();
    } catch (exc) {
      if (exc.status !== 401) throw exc;
      if (!(await auth.restore())) await account.askSignIn(auth.takeReason());
    }
  }
}

let started = false;
async function load() {
  await sharing.enable(account.jwt); // the bookmarks, before the list shows their stars
  await Promise.all([loadModels(), loadConversations(), documents.load()]);
  assistant.show();
  await openConversation(state.cid);
}

// A session that ends (a refresh token refused or reused, or sign out) clears the page
// and asks again; whoever signs in next sees only their own conversations.
auth.events.addEventListener("signedout", async () => {
  if (!started) return; // start() asks for the first session itself
  detach();
  state.conversations = [];
  ui.conversations.replaceChildren();
  clearMessages();
  await account.askSignIn(auth.takeReason());
  await account.load();
  await load();
});
api.events.addEventListener("unauthorized", () => {
  if (started && account.jwt && !auth.signedIn()) auth.signOut("Sign in to go on.");
});

async function showReadOnly(token) {
  await showShared(token, {
    notify,
    render: (messages) => {
      for (const m of messages) {
        append(m.role === "user" ? userMessage(m.text) : Answer.fromStored(m).element);
      }
    },
  });
}

async function start() {
  const token = tokenFromHash();
  if (token) {
    await showReadOnly(token);
    ui.app.dataset.ready = "true";
    return;
  }
  state.cid = cidFromHash();
  try {
    await signedIn();
  } catch (exc) {
    notify(`The server cannot be reached: ${exc.message}`, "error", true);
    return;
  }
  started = true;
  await load();
  ui.app.dataset.ready = "true";
}
start();
