// Export the conversation shown (the branch on screen) as Markdown or JSON.

import * as api from "./api.js";
import { $, download } from "./dom.js";
import { notify } from "./notice.js";
import { on, state } from "./page.js";

export function wireExport(tip) {
  const dialog = $("export-dialog");
  $("export").addEventListener("click", () => dialog.showModal());
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  const save = async (format) => {
    try {
      const { blob, name } = await api.exportConversation(state.cid, format, tip()?.id);
      download(blob, name);
      dialog.close();
    } catch (exc) {
      notify(`Not exported: ${exc.message}`, "error");
    }
  };
  $("export-markdown").addEventListener("click", () => save("markdown"));
  $("export-json").addEventListener("click", () => save("json"));
  on("conversation", ({ cid }) => { $("export").hidden = !cid; });
}
