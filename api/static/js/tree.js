// A conversation's messages as a tree: each message follows its parent (`parent_id`,
// null for the first), an edit is a sibling of the message it edits and a regenerated
// answer a sibling of the answer it replaces. The branch shown follows, at each fork, the
// version picked there, or else the newest.

export class Tree {
  constructor(messages = []) {
    this.byId = new Map();
    this.children = new Map(); // parent id ("" for the start) → messages, oldest first
    this.picked = new Map(); // parent id → the child picked there
    let previous = null;
    for (const m of messages) {
      // A server that says nothing of parents has a line: each follows the one before.
      this.add("parent_id" in m ? m : { ...m, parent_id: previous?.id ?? null });
      previous = m;
    }
  }

  add(message) {
    if (this.byId.has(message.id)) {
      Object.assign(this.byId.get(message.id), message);
      return this.byId.get(message.id);
    }
    this.byId.set(message.id, message);
    const key = message.parent_id ?? "";
    if (!this.children.has(key)) this.children.set(key, []);
    this.children.get(key).push(message);
    return message;
  }

  /** Put `message` where the placeholder `id` was (a streamed answer, once stored). */
  replace(id, message) {
    const old = this.byId.get(id);
    if (!old) return this.add(message);
    this.byId.delete(id);
    const kids = this.children.get(old.parent_id ?? "");
    kids.splice(kids.indexOf(old), 1);
    const key = old.parent_id ?? "";
    if (this.picked.get(key) === id) this.picked.set(key, message.id);
    return this.add({ ...old, ...message });
  }

  get(id) {
    return this.byId.get(id) ?? null;
  }

  siblings(message) {
    return this.children.get(message.parent_id ?? "") ?? [message];
  }

  /** Show `message` (and the newest of what follows it, unless picked before). */
  pick(message) {
    this.picked.set(message.parent_id ?? "", message.id);
  }

  /** The branch shown: from the first message to the last, following the picks. */
  path() {
    const out = [];
    let key = "";
    for (;;) {
      const kids = this.children.get(key);
      if (!kids?.length) return out;
      const chosen = kids.find((k) => k.id === this.picked.get(key)) ?? kids[kids.length - 1];
      out.push(chosen);
      key = chosen.id;
    }
  }

  /** The last message of the branch shown, or null for an empty conversation. */
  tip() {
    const path = this.path();
    return path.length ? path[path.length - 1] : null;
  }

  /** The newest message of the whole conversation (what a message with no parent
   *  named follows on the server). */
  newest() {
    let newest = null;
    for (const m of this.byId.values()) {
      if (!newest || Date.parse(m.created_at) > Date.parse(newest.created_at)) newest = m;
    }
    return newest;
  }
}
