// The answers this tab has under way, per conversation, kept in sessionStorage so a
// reload can reopen the stream from its start and rebuild the text already generated.

const KEY = "chatstream.inflight";

export class Inflight {
  constructor(storage) {
    this.storage = storage;
  }

  all() {
    try {
      return JSON.parse(this.storage.getItem(KEY) ?? "{}") ?? {};
    } catch {
      return {};
    }
  }

  save(entries) {
    this.storage.setItem(KEY, JSON.stringify(entries));
  }

  get(cid) {
    return this.all()[cid] ?? null;
  }

  add(cid, entry) {
    this.save({ ...this.all(), [cid]: { ...entry, done: false } });
  }

  /** Ended, but kept until the history shows it: the store catches up a moment later. */
  finish(cid, rid) {
    const entries = this.all();
    if (entries[cid]?.rid === rid) {
      entries[cid].done = true;
      this.save(entries);
    }
  }

  remove(cid) {
    const entries = this.all();
    delete entries[cid];
    this.save(entries);
  }
}
