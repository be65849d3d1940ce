// Sharing (a public read-only link, and taking it down), bookmarks, and the read-only
// view a public link opens (#/s/<token>), which needs no credential.

import * as api from "./api.js";
import { $ } from "./dom.js";

/** The page URL of a share, from the API's `/v1/public/conversations/<token>`. */
export function pageLink(apiUrl) {
  const token = apiUrl.split("/").pop();
  return `${location.origin}${location.pathname}#/s/${encodeURIComponent(token)}`;
}

export function tokenFromHash() {
  const m = /^#\/s\/([^/]+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

export class Sharing {
  constructor(notify, currentCid) {
    this.notify = notify;
    this.currentCid = currentCid;
    this.marks = new Set();
    this.enabled = false;
    this.dialog = $("share-dialog");
    this.bookmarkButton = $("bookmark");
    this.shareButton = $("share");
    this.dialog.querySelector("[data-close]").addEventListener("click", () => this.dialog.close());
    this.shareButton.addEventListener("click", () => this.share());
    this.bookmarkButton.addEventListener("click", () => this.toggleBookmark());
    $("share-copy").addEventListener("click", async () => {
      const link = $("share-link");
      link.select();
      try {
        await navigator.clipboard.writeText(link.value);
        this.notify("Link copied.");
      } catch {
        this.notify("Select the link and copy it.", "warn");
      }
    });
    $("share-stop").addEventListener("click", () => this.unshare());
  }

  /** Bookmarks and sharing need accounts (AUTH=jwt). */
  async enable(on) {
    this.enabled = on;
    $("bookmarked-filter").hidden = !on;
    if (on) {
      try {
        this.marks = new Set((await api.listConversations(true)).map((c) => c.id));
      } catch {
        this.marks = new Set();
      }
    }
    this.refresh();
  }

  refresh() {
    const cid = this.currentCid();
    const show = this.enabled && Boolean(cid);
    this.bookmarkButton.hidden = !show;
    this.shareButton.hidden = !show;
    const on = this.marks.has(cid);
    this.bookmarkButton.setAttribute("aria-pressed", String(on));
    this.bookmarkButton.querySelector(".star").textContent = on ? "\u2605" : "\u2606";
    this.bookmarkButton.querySelector(".label").textContent = on ? "Bookmarked" : "Bookmark";
  }

  isBookmarked(cid) {
    return this.marks.has(cid);
  }

  async toggleBookmark() {
    const cid = this.currentCid();
    if (!cid) return;
    const on = !this.marks.has(cid);
    try {
      await api.bookmark(cid, on);
      if (on) this.marks.add(cid);
      else this.marks.delete(cid);
      this.refresh();
      this.notify(on ? "Bookmarked." : "Bookmark removed.");
      this.dispatch();
    } catch (exc) {
      this.notify(`Bookmark failed: ${exc.message}`, "error");
    }
  }

  dispatch() {
    document.dispatchEvent(new Event("bookmarks-changed"));
  }

  async share() {
    const cid = this.currentCid();
    if (!cid) return;
    try {
      const out = await api.share(cid, true);
      $("share-link").value = pageLink(out.url);
      this.dialog.showModal();
      $("share-link").select();
    } catch (exc) {
      this.notify(`Not shared: ${exc.message}`, "error");
    }
  }

  async unshare() {
    const cid = this.currentCid();
    try {
      await api.share(cid, false);
      this.dialog.close();
      this.notify("The public link is taken down.");
    } catch (exc) {
      this.notify(`The link is still up: ${exc.message}`, "error");
    }
  }
}

/** Fill the page with a shared conversation, read-only; false if the link is dead. */
export async function showShared(token, { render, notify }) {
  document.body.classList.add("readonly");
  $("readonly").hidden = false;
  try {
    const shared = await api.sharedConversation(token);
    $("title").textContent = shared.title;
    document.title = `${shared.title} · chatstream`;
    render(shared.messages);
    return true;
  } catch (exc) {
    $("title").textContent = "Shared conversation";
    notify(exc.status === 404 ? "Nothing is shared at this link any more."
      : `The shared conversation could not be loaded: ${exc.message}`, "error", true);
    return false;
  }
}
