// /stats and /activity. Both are fed asynchronously by the activity pipeline (docs/API.md: eventually
// consistent, locally within seconds), so after a change the page polls briefly until they move.

import { guarded } from "./feedback.js";

const ACTIVITY_SHOWN = 10;
const POLL_AFTER_MS = [250, 500, 1000, 1500, 2500, 4000, 6000]; // then it stops polling
const LABELS = {
  "item.created": "Created a task",
  "item.updated": "Updated a task",
  "item.deleted": "Deleted a task",
  "user.signed_in": "Signed in",
};

const $ = (selector) => document.querySelector(selector);

export class Overview {
  constructor(api) {
    this.api = api;
    this.timer = null;
    this.seen = null; // what the page last showed, to tell when a change has arrived
    $("#refresh-overview").addEventListener("click", () => this.refresh());
  }

  /** Read both now; true when something changed since the last read. */
  async refresh() {
    const answer = await guarded(() => Promise.all([this.api.stats(), this.api.activity(ACTIVITY_SHOWN)]));
    if (!answer) return false;
    const [{ data: stats }, { data: activity }] = answer;
    for (const node of document.querySelectorAll("#stats [data-counter]")) {
      node.textContent = String(stats[node.dataset.counter] ?? 0);
    }
    this.renderActivity(activity.events);
    const seen = JSON.stringify([stats, activity.events.map((event) => event.id)]);
    const changed = seen !== this.seen;
    this.seen = seen;
    return changed;
  }

  renderActivity(events) {
    const list = $("#activity");
    list.replaceChildren(
      ...events.map((event) => {
        const li = document.createElement("li");
        li.dataset.eventId = event.id;
        const type = Object.assign(document.createElement("span"), { className: "event-type", textContent: event.type });
        const label = Object.assign(document.createElement("span"), {
          className: "event-label",
          textContent: LABELS[event.type] || event.type,
        });
        const at = Object.assign(document.createElement("time"), {
          dateTime: event.at,
          textContent: new Date(event.at).toLocaleString(),
        });
        li.append(label, " ", type, " ", at);
        return li;
      }),
    );
  }

  /** After a change: poll until stats or activity have moved and then held still (the pipeline has
   * applied the change, and any made just after it), briefly. */
  follow() {
    clearTimeout(this.timer);
    let moved = false;
    let step = 0;
    const poll = async () => {
      const changed = await this.refresh();
      step += 1;
      if (moved && !changed) return;
      moved ||= changed;
      if (step < POLL_AFTER_MS.length) this.timer = setTimeout(poll, POLL_AFTER_MS[step]);
    };
    this.timer = setTimeout(poll, POLL_AFTER_MS[0]);
  }

  stop() {
    clearTimeout(this.timer);
  }
}
