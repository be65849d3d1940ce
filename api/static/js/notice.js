// One polite live region for the whole page. A notice belongs to what caused it: `clear`
// takes it down when the page moves on (another conversation, the next answer).

import { $ } from "./dom.js";

let timer = 0;

export function notify(text, kind = "info", sticky = false) {
  const notice = $("notice");
  clearTimeout(timer);
  notice.textContent = text;
  notice.dataset.kind = kind;
  notice.hidden = !text;
  if (text && !sticky) timer = setTimeout(() => { notice.hidden = true; }, 6000);
}

/** Take the notice down (of `kind` only, when given). */
export function clearNotice(kind = null) {
  const notice = $("notice");
  if (kind && notice.dataset.kind !== kind) return;
  notify("");
}
