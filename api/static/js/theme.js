// Light and dark follow the system unless the theme button picks one (remembered).

import { $ } from "./dom.js";

const THEMES = ["system", "light", "dark"];
const KEY = "chatstream.theme";

function apply(theme) {
  const button = $("theme");
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  button.querySelector(".theme-text").textContent = `Theme: ${theme}`;
  button.dataset.theme = theme;
}

export function wireTheme() {
  $("theme").addEventListener("click", () => {
    const now = $("theme").dataset.theme ?? "system";
    const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
    localStorage.setItem(KEY, next);
    apply(next);
  });
  apply(localStorage.getItem(KEY) ?? "system");
}
