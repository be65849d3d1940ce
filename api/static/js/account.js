// Who is signed in, the sign-in form (AUTH=jwt), this month's usage against the plan,
// and the caller's API keys (a new key is shown once, then only its prefix).

import * as api from "./api.js";
import * as auth from "./auth.js";
import { $, button, confirmAction, copyText, el } from "./dom.js";

const LIMITS = [
  ["messages", "messages_per_month", "Messages"],
  ["tokens", "tokens_per_month", "Tokens"],
  ["documents", "documents_per_month", "Documents"],
  ["web_searches", "web_searches_per_month", "Web searches"],
];

/** A 429's message: which limit, and when it resets. */
export function describeLimit(exc) {
  if (exc.status !== 429) return exc.message;
  const wait = exc.retryAfter;
  if (!wait) return exc.message;
  const when = wait < 90 ? `${wait} seconds`
    : wait < 5400 ? `${Math.round(wait / 60)} minutes`
    : new Date(Date.now() + wait * 1000).toLocaleString();
  // The edge's message names the limit; say when it resets in words, not seconds.
  return `${exc.message.replace(/;? *retry in \d+s$/, "")}. It resets in ${when}.`;
}

export class Account {
  constructor(notify) {
    this.notify = notify;
    this.me = null;
    this.shownKey = null; // the prefix of the key whose secret is on screen
    this.dialog = $("account");
    this.signin = $("signin");
    $("open-account").addEventListener("click", () => this.open());
    $("sign-out").addEventListener("click", () => auth.logOut());
    this.dialog.querySelector("[data-close]").addEventListener("click", () => this.dialog.close());
    $("key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.createKey();
    });
    // The sign-in form cannot be dismissed: nothing works without a session.
    this.signin.addEventListener("cancel", (e) => e.preventDefault());
  }

  /** Ask for email and password until a sign-in succeeds. */
  askSignIn(reason = "") {
    const error = $("signin-error");
    error.textContent = reason;
    error.hidden = !reason;
    if (!this.signin.open) this.signin.showModal();
    $("signin-email").focus();
    return new Promise((resolve) => {
      const form = $("signin-form");
      const submit = async (e) => {
        e.preventDefault();
        const go = $("signin-submit");
        go.disabled = true;
        try {
          await auth.signIn($("signin-email").value, $("signin-password").value,
                            $("signin-tenant").value.trim());
          $("signin-password").value = "";
          form.removeEventListener("submit", submit);
          this.signin.close();
          resolve();
        } catch (exc) {
          if (exc.code === "tenant_required") {
            $("signin-tenant-row").hidden = false;
            $("signin-tenant").focus();
          }
          error.textContent = exc.status === 429 ? describeLimit(exc)
            : exc.status === 401 ? "Wrong email or password."
            : exc.code === "tenant_required" ? "This email and password open several "
              + "organisations: say which one." : `Sign-in failed: ${exc.message}`;
          error.hidden = false;
        } finally {
          go.disabled = false;
        }
      };
      form.addEventListener("submit", submit);
    });
  }

  /** Who the caller is (GET /v1/me), shown in the sidebar. */
  async load() {
    this.me = await api.me();
    const jwt = this.me.auth === "jwt";
    const text = $("who-text");
    if (jwt) {
      text.replaceChildren("Signed in as ", el("strong", "", this.me.email ?? this.me.user_id),
                           ` · ${this.me.tenant_id} (${this.me.role})`);
    } else {
      text.replaceChildren("Signed in as the local ", el("strong", "", this.me.tenant_id),
                           " tenant");
    }
    $("sign-out").hidden = !jwt;
    $("keys-section").hidden = !jwt;
    $("open-status").hidden = !this.me.operator;
    $("web-toggle").hidden = !this.me.web_search;
    return this.me;
  }

  get jwt() {
    return this.me?.auth === "jwt";
  }

  async open() {
    this.dialog.showModal();
    this.hideSecret();
    await Promise.all([this.showUsage(), this.jwt ? this.showKeys() : null]);
  }

  async showUsage() {
    const list = $("usage");
    let usage;
    try {
      usage = await api.usage();
    } catch (exc) {
      list.replaceChildren(el("li", "muted", exc.status === 404
        ? "Usage is not tracked on this server: it runs without accounts."
        : `Usage could not be loaded: ${exc.message}`));
      $("usage-plan").textContent = "";
      return;
    }
    // The counters and limits are the whole tenant's (a plan is per tenant); the
    // caller's own share is said beside each.
    $("usage-plan").textContent = `Plan ${usage.plan}, ${usage.month}: the use of everyone ` +
      `in ${this.me?.tenant_id ?? "your team"}, and yours.`;
    const mine = usage.users?.[this.me?.user_id] ?? null;
    const items = [];
    for (const [used, limit, label] of LIMITS) {
      if (!(limit in usage.limits) && !(used in usage.used)) continue;
      const n = usage.used[used] ?? 0;
      const max = usage.limits[limit];
      const li = el("li", "meter");
      li.dataset.limit = used;
      const team = max == null ? `${n} (no limit)` : `${n} of ${max}`;
      li.append(el("span", "meter-label", label),
                el("span", "meter-value", mine && used in mine
                  ? `team ${team} · you ${mine[used]}` : `team ${team}`));
      if (max) {
        const bar = el("progress");
        bar.max = max;
        bar.value = Math.min(n, max);
        bar.setAttribute("aria-label", `${label}, the team's: ${n} of ${max}`);
        li.append(bar);
      }
      items.push(li);
    }
    list.replaceChildren(...items);
  }

  async showKeys() {
    const list = $("keys");
    let keys;
    try {
      keys = await api.listKeys();
    } catch (exc) {
      list.replaceChildren(el("li", "muted", `Keys could not be loaded: ${exc.message}`));
      return;
    }
    list.replaceChildren(...keys.map((k) => {
      const li = el("li", "key");
      li.dataset.prefix = k.prefix;
      li.append(el("code", "", `cs_${k.prefix}_…`), el("span", "", k.name || "(no name)"),
                el("span", "muted small", new Date(k.created_at).toLocaleDateString()));
      if (k.revoked) {
        li.dataset.revoked = "true";
        li.append(el("span", "muted small", "revoked"));
        return li;
      }
      const name = k.name || k.prefix;
      const revoke = button("Revoke", { className: "danger", label: `Revoke key ${name}` });
      revoke.addEventListener("click", async () => {
        if (!(await confirmAction(`Revoke the key “${name}”? Whatever uses it stops ` +
                                  "working at once.", "Revoke"))) return;
        try {
          await api.revokeKey(k.prefix);
          if (this.shownKey === k.prefix) this.hideSecret();
          this.notify("Key revoked.");
          await this.showKeys();
        } catch (exc) {
          this.notify(`Not revoked: ${exc.message}`, "error");
        }
      });
      li.append(revoke);
      return li;
    }));
    if (!keys.length) list.replaceChildren(el("li", "muted", "No keys yet."));
  }

  hideSecret() {
    $("key-secret").replaceChildren();
    $("key-secret").hidden = true;
    this.shownKey = null;
  }

  async createKey() {
    try {
      const created = await api.createKey($("key-name").value.trim());
      const secret = $("key-secret");
      const copy = button("Copy key", { className: "copy-key" });
      copy.addEventListener("click", () => copyText(created.key, copy));
      secret.replaceChildren(el("span", "", "Your new key, shown only now: "),
                             el("code", "", created.key), copy);
      secret.hidden = false;
      this.shownKey = created.prefix;
      $("key-name").value = "";
      await this.showKeys();
    } catch (exc) {
      this.notify(`No key created: ${exc.message}`, "error");
    }
  }
}
