// A page by URL in the documents section: pasted, fetched and indexed by the server,
// then shown (and followed until ready) like an upload.

import * as api from "./api.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class PageByUrl {
  constructor(section, documents, notify) {
    const form = el("form", "inline-form page-url");
    form.id = "page-url-form";
    const label = el("label", "small", "Add a page by URL ");
    this.url = el("input");
    this.url.type = "url";
    this.url.id = "page-url";
    this.url.required = true;
    this.url.maxLength = 2048;
    this.url.placeholder = "https://";
    label.append(this.url);
    const add = el("button", "", "Add page");
    add.type = "submit";
    form.append(label, add);
    section.querySelector("#documents").before(form);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const doc = await api.addPage(this.url.value.trim());
        this.url.value = "";
        documents.show(doc);
        documents.poll(doc.id);
      } catch (exc) {
        notify(`The page was not added: ${exc.message}`, "error");
      }
    });
  }
}
