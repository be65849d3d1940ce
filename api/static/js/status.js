// The admins' status view: each stage's consumer lag, events per second (from two
// readings of its counters), errors and dead letters, and the model providers' circuit
// breakers, refreshed every two seconds while the dialog is open.

import * as api from "./api.js";
import { $ } from "./dom.js";

const EVERY_MS = 2000;
// A circuit breaker's state, in words: closed means calls go through.
const BREAKER = { closed: "working", open: "failing: calls paused",
                  half_open: "recovering: trying again", "half-open": "recovering: trying again" };

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

export class StatusView {
  constructor(notify) {
    this.notify = notify;
    this.dialog = $("status");
    this.previous = null;
    this.timer = 0;
    $("open-status").addEventListener("click", () => this.open());
    this.dialog.querySelector("[data-close]").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => clearTimeout(this.timer));
  }

  open() {
    this.previous = null;
    this.dialog.showModal();
    this.refresh();
  }

  async refresh() {
    clearTimeout(this.timer);
    if (!this.dialog.open) return;
    try {
      this.render(await api.adminStatus());
    } catch (exc) {
      $("status-note").textContent = `Status unavailable: ${exc.message}`;
    }
    this.timer = setTimeout(() => this.refresh(), EVERY_MS);
  }

  render(status) {
    const before = this.previous;
    const rows = status.stages.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.stage = s.stage;
      tr.dataset.lag = String(s.lag);
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = s.stage;
      const was = before?.stages.find((x) => x.stage === s.stage);
      let rate = "–";
      if (s.handled != null && was?.handled != null && status.at > before.at) {
        rate = ((s.handled - was.handled) / (status.at - before.at)).toFixed(1);
      }
      tr.append(th, cell(String(s.lag)), cell(rate),
                cell(s.errors == null ? "–" : String(s.errors)),
                cell(s.dead_letters == null ? "–" : String(s.dead_letters)));
      if (s.lag > 0) tr.classList.add("behind");
      return tr;
    });
    $("status-table").tBodies[0].replaceChildren(...rows);
    const breakers = Object.entries(status.breakers).map(([provider, state]) => {
      const li = document.createElement("li");
      li.dataset.state = state;
      li.textContent = `${provider}: ${BREAKER[state] ?? state}`;
      return li;
    });
    if (!breakers.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "No provider runs in this process.";
      breakers.push(li);
    }
    $("breakers").replaceChildren(...breakers);
    $("status-note").textContent = `Updated ${new Date(status.at * 1000).toLocaleTimeString()}; `
      + "every 2 seconds while open. A dash: counted by the worker that runs the stage.";
    this.previous = status;
  }
}
