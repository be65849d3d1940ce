// Chatting in the conversation shown: opening it (and picking up an answer still being
// written, from this tab before a reload or from another tab), sending, editing a
// question, regenerating an answer, and stopping. One answer streams at a time per tab.

import * as api from "./api.js";
import { describeLimit } from "./account.js";
import { Answer, follow } from "./answer.js";
import { Inflight } from "./inflight.js";
import { clearNotice, notify } from "./notice.js";
import { emit, listChanged, messageFields, state } from "./page.js";
import { Thread } from "./thread.js";

const STOP_RETRY_MS = [500, 1000, 2000, 4000];
const TITLE_POLLS_MS = [800, 1500, 3000, 5000];
export const DEFAULT_TITLE = "New conversation";

export class Chat {
  /** `ui`: setBusy(busy), title(cid) (the list's title of cid), refreshList(),
   *  model() (the model picked), webSearch() (asked for), createSettings() (a new
   *  conversation's settings). */
  constructor(ui) {
    this.ui = ui;
    this.inflight = new Inflight(sessionStorage);
    this.current = null; // {answer, stream, cid, stopping}
    this.loadToken = 0;
    this.thread = new Thread({
      onEdit: (message, text) => this.edit(message, text),
      onRegenerate: (answer, message) => this.regenerate(answer, message),
    });
  }

  get busy() {
    return this.current !== null;
  }

  detach() {
    // Leaving a view closes its stream only: the answer goes on being generated.
    this.current?.stream.close();
    this.current = null;
    this.thread.detach();
    this.ui.setBusy(false);
  }

  async open(cid) {
    this.detach();
    clearNotice(); // a notice belongs to the conversation it was about
    state.cid = cid;
    const token = ++this.loadToken;
    emit("conversation", { cid });
    this.thread.clear();
    if (!cid) return true;
    let tree;
    try {
      tree = await this.thread.load(cid);
    } catch (exc) {
      if (token !== this.loadToken) return false;
      if (exc.status === 404) {
        // Gone, or never the caller's: the page goes on as a new chat.
        this.inflight.remove(cid);
        state.cid = null;
        history.replaceState(null, "", "#/");
        emit("conversation", { cid: null });
        notify("That conversation does not exist.", "error");
      } else {
        notify(`The conversation could not be loaded: ${exc.message}`, "error");
      }
      return false;
    }
    if (token !== this.loadToken) return false;
    this.thread.render();
    this.thread.toEnd();
    this.resume(cid, tree);
    return true;
  }

  /** An answer being written for this conversation: this tab's (kept across a reload),
   *  or the last question's on the branch shown when it has no answer yet (sent from
   *  another tab, or before the store caught up). */
  resume(cid, tree) {
    const pending = this.inflight.get(cid);
    const answered = (rid) => [...tree.byId.values()].some(
      (m) => m.role === "assistant" && m.request_id === rid);
    if (pending && answered(pending.rid)) {
      this.inflight.remove(cid); // finished and stored meanwhile: the history shows it
    } else if (pending) {
      let parent = pending.parent ?? null;
      if (!pending.regenerate) {
        const asked = [...tree.byId.values()].find(
          (m) => m.role === "user" && m.request_id === pending.rid);
        parent = (asked ?? this.thread.addQuestion({
          id: pending.message ?? `local:${pending.rid}`, parent_id: pending.parent ?? null,
          role: "user", text: pending.text, request_id: pending.rid,
          created_at: pending.at ?? new Date().toISOString() })).id;
      }
      this.stream(new Answer(pending.rid), parent, { resumed: !pending.done });
      return;
    }
    const tip = tree.tip();
    if (tip?.role === "user" && tip.request_id) {
      this.stream(new Answer(tip.request_id), tip.id, { resumed: true, foreign: true });
    }
  }

  stream(answer, parentId, { resumed = false, foreign = false } = {}) {
    const cid = state.cid;
    this.thread.startAnswer(answer, parentId);
    this.ui.setBusy(true);
    if (resumed && !foreign) notify("Resuming the answer that was streaming…");
    const current = { answer, stream: null, cid, stopping: false };
    this.current = current;
    const finished = () => {
      if (this.current === current) {
        this.current = null;
        this.ui.setBusy(false);
      }
    };
    current.stream = follow(answer, {
      onEnd: (a) => {
        this.inflight.finish(cid, a.requestId);
        finished();
        this.thread.endAnswer(a);
        const said = { stopped: "Answer stopped.", blocked: "The answer was blocked.",
                       error: "The answer failed." }[a.state];
        if (said) notify(said, a.state === "error" ? "error" : "info");
        else clearNotice();
        emit("answerended", { cid, answer: a });
        this.awaitTitle(cid);
      },
      onConnection: (lost) => {
        if (lost) notify("Connection lost: reconnecting to the answer…", "warn", true);
        else clearNotice("warn");
      },
      onGone: (a) => {
        const entry = this.inflight.get(cid);
        this.inflight.remove(cid);
        finished();
        if (entry?.done || foreign) {
          // An old answer the edge has forgotten and never stored, or one started
          // elsewhere that never came: nothing to show.
          a.element.remove();
          this.thread.detach();
          return;
        }
        a.setState("error");
        a.note("error", "This answer's stream is no longer available.");
      },
    });
  }

  /** A new conversation's title is written by the model after its first answer: the
   *  list is read again until it shows, and the other tabs are told. */
  async awaitTitle(cid) {
    if (this.ui.title(cid) !== DEFAULT_TITLE) return;
    for (const wait of TITLE_POLLS_MS) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      await this.ui.refreshList();
      if (this.ui.title(cid) !== DEFAULT_TITLE) {
        listChanged();
        return;
      }
    }
  }

  /** Create the conversation (a new chat's first message) or use the one shown. */
  async conversation() {
    if (state.cid) return { cid: state.cid, created: false };
    const created = await api.createConversation(this.ui.createSettings());
    state.cid = created.id;
    this.loadToken++;
    history.pushState(null, "", `#/c/${encodeURIComponent(created.id)}`);
    emit("conversation", { cid: created.id, created: true });
    listChanged();
    return { cid: created.id, created: true };
  }

  /** Post a question: a new one after the branch shown, or (`replaces`) a new version
   *  of one. Returns whether it was sent. */
  async post(text, { replaces = null } = {}) {
    if (!text.trim() || this.busy) return false;
    clearNotice();
    this.ui.setBusy(true);
    let cid = null;
    let created = false;
    try {
      ({ cid, created } = await this.conversation());
      const tree = this.thread.tree;
      const tip = tree.tip();
      const parent = replaces ? replaces.parent_id ?? null : tip?.id ?? null;
      const fields = { ...messageFields(cid) };
      const model = this.ui.model();
      if (model) fields.model = model;
      if (this.ui.webSearch()) fields.web_search = true;
      if (replaces) fields.replaces = replaces.id;
      else if (tip && tip !== tree.newest()) fields.parent_id = tip.id;
      const accepted = await api.sendMessage(cid, text, fields);
      if (state.cid !== cid) return true; // switched away meanwhile: the history shows it
      const at = new Date().toISOString();
      this.inflight.add(cid, { rid: accepted.request_id, text, message: accepted.message_id,
                               parent, at });
      this.thread.addQuestion({ id: accepted.message_id, parent_id: parent, role: "user",
                                text, request_id: accepted.request_id, created_at: at });
      this.stream(new Answer(accepted.request_id), accepted.message_id);
      return true;
    } catch (exc) {
      this.ui.setBusy(false);
      if (created) await this.discard(cid);
      notify(`Not sent: ${describeLimit(exc)}`, "error", true);
      return false;
    }
  }

  /** A conversation made for a first message that was refused leaves nothing behind. */
  async discard(cid) {
    try {
      await api.deleteConversation(cid);
    } catch {
      // it stays, empty: the list shows it, and it can be deleted from there
    }
    if (state.cid === cid) {
      state.cid = null;
      history.replaceState(null, "", "#/");
      emit("conversation", { cid: null });
    }
    listChanged();
  }

  edit(message, text) {
    return this.post(text, { replaces: message });
  }

  async regenerate(answer, message) {
    if (this.busy || !state.cid) return;
    const question = message?.parent_id ? this.thread.tree.get(message.parent_id) : null;
    if (!question) return;
    clearNotice();
    this.ui.setBusy(true);
    const cid = state.cid;
    try {
      const fields = { ...messageFields(cid) };
      const model = this.ui.model();
      if (model) fields.model = model;
      const accepted = await api.regenerate(cid, question.id, fields);
      if (state.cid !== cid) return;
      this.inflight.add(cid, { rid: accepted.request_id, parent: question.id,
                               regenerate: true });
      this.stream(new Answer(accepted.request_id), question.id);
    } catch (exc) {
      this.ui.setBusy(false);
      notify(`Not regenerated: ${describeLimit(exc)}`, "error", true);
    }
  }

  /** Stop the answer streaming here. A stop that cannot reach the server (it is down,
   *  or the network is) is sent again until it does, or until the answer ends. */
  async stop() {
    const current = this.current;
    if (!current || current.stopping) return;
    current.stopping = true;
    notify("Stopping…");
    for (let attempt = 0; this.current === current && !current.answer.finished; attempt++) {
      try {
        await api.cancelRequest(current.answer.requestId);
        return;
      } catch (exc) {
        if (exc.status === 409) return; // it had just finished
        if (exc.status === 404 || exc.status === 405) {
          notify("This server cannot stop an answer.", "error");
          current.stopping = false;
          return;
        }
        if (attempt === 0) notify("Stopping: waiting for the server…", "warn", true);
      }
      await new Promise((resolve) => setTimeout(
        resolve, STOP_RETRY_MS[Math.min(attempt, STOP_RETRY_MS.length - 1)]));
    }
  }
}
