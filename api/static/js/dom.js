// Small DOM helpers shared by the page's modules. Text goes in through textContent only:
// nothing a person or a model wrote ever becomes markup.

export const $ = (id) => document.getElementById(id);

/** A new element with an optional class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A `type=button` button; `label` is its accessible name when the text is an icon. */
export function button(text, { className = "", label = "", onClick = null } = {}) {
  const b = el("button", className, text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

/** Save `blob` as a file named `name`. */
export function download(blob, name) {
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** Put `text` on the clipboard, saying so on `control` (a button) for a moment. */
export async function copyText(text, control) {
  const was = control.textContent;
  try {
    await navigator.clipboard.writeText(text);
    control.textContent = "Copied";
  } catch {
    control.textContent = "Copy failed";
  }
  setTimeout(() => { control.textContent = was; }, 1500);
}

// The one confirmation dialog of the page (index.html #confirm).
let confirming = null;

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(question, action = "Confirm") {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  $("confirm-ok").textContent = action;
  confirming?.(false);
  dialog.showModal();
  $("confirm-cancel").focus(); // the safe choice is the default one
  return new Promise((resolve) => {
    confirming = (answer) => {
      confirming = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
  });
}

export function wireConfirm() {
  $("confirm-ok").addEventListener("click", () => confirming?.(true));
  $("confirm-cancel").addEventListener("click", () => confirming?.(false));
  $("confirm").addEventListener("close", () => confirming?.(false));
}
