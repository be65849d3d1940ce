// The chat page's composition: each part is a module of its own (see page.js for what
// they share and where other modules hook in); this file wires them together and starts
// the page: the session first, then the data, then the conversation in the URL.

import * as api from "./api.js";
import * as auth from "./auth.js";
import { Account } from "./account.js";
import { Answer } from "./answer.js";
import { AssistantPanel } from "./assist.js";
import { Batches } from "./batches.js";
import { Chat, DEFAULT_TITLE } from "./chat.js";
import { wirePassage } from "./citations.js";
import { Composer } from "./composer.js";
import { Conversations } from "./conversations.js";
import { DocumentList } from "./documents.js";
import { $, wireConfirm } from "./dom.js";
import { wireExport } from "./export.js";
import { MemoryPanel } from "./memory.js";
import { userView } from "./message-view.js";
import { Models } from "./models.js";
import { notify } from "./notice.js";
import { addMessageFields, emit, mount, on, state } from "./page.js";
import { PageByUrl } from "./pages.js";
import { Settings } from "./settings.js";
import { Sharing, showShared, tokenFromHash } from "./share.js";
import { setSidebar, sidebarOpen, wireMore, wireSidebar } from "./sidebar.js";
import { StatusView } from "./status.js";
import { wireTheme } from "./theme.js";

wireConfirm();
wireTheme();
wireSidebar();
wireMore();
wirePassage();

// The skip link moves focus without touching the URL's fragment, which names the
// conversation.
document.querySelector(".skip-link").addEventListener("click", (e) => {
  e.preventDefault();
  composer.focus();
});

const models = new Models();
const account = new Account(notify);
const sharing = new Sharing(notify, () => state.cid);
const library = new DocumentList($("documents"), () => "tenant");
$("upload").addEventListener("change", () => {
  const files = [...$("upload").files];
  $("upload").value = "";
  for (const file of files) library.upload(file);
});
new PageByUrl($("documents-section"), library, notify);
new Batches(notify, () => models.picked());
new StatusView(notify);

const conversations = new Conversations({
  open: (cid) => {
    setSidebar(false);
    go(cid);
    composer.focus();
  },
  isBookmarked: (cid) => sharing.isBookmarked(cid),
  rendered: () => showTitle(),
  deleted: (cid) => {
    chat.inflight.remove(cid);
    if (state.cid === cid) go(null);
  },
});

function titleOf(cid) {
  return conversations.get(cid)?.title ?? DEFAULT_TITLE;
}

const settings = new Settings({
  title: () => titleOf(state.cid),
  // A conversation shows its own model (the default when it has none); a new chat the
  // model picked last in this browser.
  shown: (s) => models.show(s.model ?? (state.cid ? "" : null)),
});

const chat = new Chat({
  setBusy: (busy) => composer.setBusy(busy),
  title: titleOf,
  refreshList: () => conversations.load(),
  model: () => models.picked(),
  webSearch: () => !$("web-toggle").hidden && $("web-search").checked,
  createSettings: () => settings.takePending(),
});

const composer = new Composer({
  send: (text) => chat.post(text),
  stop: () => chat.stop(),
  conversation: async () => {
    try {
      return (await chat.conversation()).cid;
    } catch (exc) {
      notify(`Not attached: ${exc.message}`, "error");
      return null;
    }
  },
});

// Assistants (picked as models) and long-term memory add their fields to each message.
const assistant = new AssistantPanel($("model"), $("composer"), $("message"), notify);
const memory = new MemoryPanel(document.querySelector(".who-actions"), $("composer-tools"),
                               notify, () => state.cid);
mount("composer", $("temporary-chat").closest("label"), 40); // beside the model, not Send
addMessageFields(() => assistant.extra());
addMessageFields(() => memory.extra());
// A conversation made for a first message keeps the switch as it was set for it.
on("conversation", ({ created }) => (created ? memory.remember() : memory.sync()));

$("model").addEventListener("change", () => {
  models.remember(models.picked());
  settings.setModel(models.picked());
});
wireExport(() => chat.thread.tree.tip());

// The title and the list follow the conversation shown.
function showTitle() {
  const title = state.cid ? titleOf(state.cid) : DEFAULT_TITLE;
  $("title").textContent = title;
  document.title = state.cid ? `${title} · chatstream` : "chatstream";
  sharing.refresh(); // bookmark and share act on the conversation shown
}
on("conversation", () => {
  conversations.markCurrent();
  showTitle();
});
on("listchanged", showTitle);

function go(cid) {
  const hash = cid ? `#/c/${encodeURIComponent(cid)}` : "#/";
  if (location.hash !== hash) history.pushState(null, "", hash);
  return chat.open(cid);
}

function cidFromHash() {
  const m = /^#\/c\/([^/]+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

window.addEventListener("popstate", () => {
  // Into or out of a shared conversation's read-only view: start the page afresh.
  if (tokenFromHash() || document.body.classList.contains("readonly")) location.reload();
  else chat.open(cidFromHash());
});
$("new-chat").addEventListener("click", () => {
  setSidebar(false);
  go(null);
  composer.focus();
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || document.querySelector("dialog[open]")) return;
  if (sidebarOpen()) {
    setSidebar(false);
    $("open-sidebar").focus();
  } else if (chat.busy) {
    chat.stop();
  }
});
document.addEventListener("bookmarks-changed", () => conversations.load());

/** Who the caller is; with AUTH=jwt and no session, the sign-in form first. */
async function signedIn() {
  for (;;) {
    try {
      return await account.load();
    } catch (exc) {
      if (exc.status !== 401) throw exc;
      if (!(await auth.restore())) {
        await account.askSignIn(auth.takeReason());
        composer.focus(); // what is typed while the page loads goes into the box
      }
    }
  }
}

let started = false;

async function load(cid) {
  state.me = account.me;
  emit("session", { me: account.me });
  await sharing.enable(account.jwt); // the bookmarks, before the list shows their stars
  const [, , hasLibrary] = await Promise.all([models.load(), conversations.load(),
                                              library.load()]);
  $("documents-section").hidden = !hasLibrary;
  $("attach").hidden = !hasLibrary;
  assistant.show();
  await go(cid);
}

// A session that ends (a refresh token refused or reused, or sign out) clears the page
// and asks again; whoever signs in next sees only their own conversations, and starts on
// a new chat rather than at the URL of the one before.
auth.events.addEventListener("signedout", async () => {
  if (!started) return; // start() asks for the first session itself
  chat.detach();
  state.me = null;
  await chat.open(null);
  history.replaceState(null, "", "#/");
  conversations.clear();
  await account.askSignIn(auth.takeReason());
  composer.focus();
  await account.load();
  await load(null);
});
api.events.addEventListener("unauthorized", () => {
  if (started && account.jwt && !auth.signedIn()) auth.signOut("Sign in to go on.");
});

async function showReadOnly(token) {
  await showShared(token, {
    notify,
    render: (messages) => {
      const views = messages.map((m) => (m.role === "user" ? userView(m)
        : Answer.fromStored(m).element));
      $("empty").hidden = views.length > 0;
      $("messages").append(...views);
    },
  });
}

async function start() {
  const token = tokenFromHash();
  if (token) {
    await showReadOnly(token);
    $("app").dataset.ready = "true";
    return;
  }
  composer.focus();
  try {
    await signedIn();
  } catch (exc) {
    notify(`The server cannot be reached: ${exc.message}`, "error", true);
    return;
  }
  started = true;
  await load(cidFromHash());
  $("app").dataset.ready = "true";
}
start();
