// The sidebar: beside the conversation on wide screens, a drawer on narrow ones.

import { $ } from "./dom.js";

export function setSidebar(open) {
  $("app").classList.toggle("sidebar-open", open);
  $("open-sidebar").setAttribute("aria-expanded", String(open));
  if (open) $("new-chat").focus();
}

export function sidebarOpen() {
  return $("app").classList.contains("sidebar-open");
}

export function wireSidebar() {
  $("open-sidebar").addEventListener("click", () => setSidebar(true));
  $("backdrop").addEventListener("click", () => setSidebar(false));
  $("close-sidebar").addEventListener("click", () => {
    setSidebar(false);
    $("open-sidebar").focus();
  });
}

/** On narrow screens the top bar's actions are a menu behind the More button. */
export function wireMore() {
  const more = $("more");
  const actions = $("topbar-actions");
  const set = (open) => {
    actions.classList.toggle("open", open);
    more.setAttribute("aria-expanded", String(open));
  };
  more.addEventListener("click", () => {
    set(!actions.classList.contains("open"));
    if (actions.classList.contains("open")) actions.querySelector("button:not([hidden])")?.focus();
  });
  actions.addEventListener("click", (e) => {
    if (e.target.closest("button") && getComputedStyle(more).display !== "none") set(false);
  });
  actions.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && actions.classList.contains("open")) {
      e.stopPropagation();
      set(false);
      more.focus();
    }
  });
  document.addEventListener("click", (e) => {
    if (!e.target.closest("#topbar-actions, #more")) set(false);
  });
}
