// The caller's tasks: the list (status filter, cursor paging), create (one Idempotency-Key per submitted
// form, so a double click or a retry makes one task), edit title and status (If-Match: a stale edit shows
// the conflict), delete.

import { idempotencyKey } from "./api.js";
import { clearConflict, clearError, guarded } from "./feedback.js";

export const PAGE_SIZE = 10;
const STATUSES = [
  ["todo", "To do"],
  ["in_progress", "In progress"],
  ["done", "Done"],
];

const $ = (selector) => document.querySelector(selector);

function element(tag, properties = {}, children = []) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

export class Tasks {
  constructor(api, { onChange }) {
    this.api = api;
    this.onChange = onChange; // told after every accepted change (the overview refreshes)
    this.cursor = null;
    this.pending = null; // the submitted create form: {key, title}, kept until it is answered
    this.generation = 0; // a newer listing makes an older one's answer stale
    this.list = $("#items");

    $("#create-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    $("#status-filter").addEventListener("change", () => this.load());
    $("#more").addEventListener("click", () => this.load({ more: true }));
    $("#reload").addEventListener("click", async () => {
      clearConflict();
      await this.load();
      (this.list.querySelector(".status") || $("#new-title")).focus();
    });
    this.list.addEventListener("click", (event) => this.clicked(event));
    this.list.addEventListener("change", (event) => {
      if (event.target.matches(".status")) this.changeStatus(event.target.closest("li"), event.target);
    });
    this.list.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveTitle(event.target.closest("li"));
    });
    this.list.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && event.target.matches(".edit-title")) this.closeEditor(event.target.closest("li"));
    });
  }

  get filter() {
    return $("#status-filter").value;
  }

  /** The first page again (more: the next page, appended). */
  async load({ more = false } = {}) {
    const generation = more ? this.generation : ++this.generation;
    const cursor = more ? this.cursor : null;
    const button = $("#more");
    button.disabled = true;
    this.list.setAttribute("aria-busy", "true");
    const answer = await guarded(() => this.api.listItems({ status: this.filter, limit: PAGE_SIZE, cursor }));
    this.list.setAttribute("aria-busy", "false");
    button.disabled = false;
    if (!answer || generation !== this.generation) return;
    const focusNext = more && button === document.activeElement;
    if (!more) this.list.replaceChildren();
    const rows = answer.data.items.map((item) => this.row(item));
    this.list.append(...rows);
    this.cursor = answer.data.next_cursor;
    button.hidden = !this.cursor;
    if (focusNext) (rows[0]?.querySelector(".status") || $("#new-title")).focus();
    this.updateEmpty();
  }

  updateEmpty() {
    $("#empty").hidden = this.list.children.length > 0;
  }

  row(item) {
    const li = element("li", { className: "item" });
    li.dataset.itemId = item.id;
    this.fill(li, item);
    return li;
  }

  fill(li, item) {
    li.dataset.version = String(item.version);
    li.dataset.status = item.status;
    const statusId = `status-${item.id}`;
    const select = element(
      "select",
      { className: "status", id: statusId },
      STATUSES.map(([value, label]) => element("option", { value, textContent: label })),
    );
    select.value = item.status;
    li.replaceChildren(
      element("span", { className: "title", textContent: item.title }),
      element("label", { className: "visually-hidden", htmlFor: statusId, textContent: `Status of ${item.title}` }),
      select,
      element("button", { type: "button", className: "edit", textContent: "Edit" }, []),
      element("button", { type: "button", className: "delete", textContent: "Delete" }, []),
    );
    li.querySelector(".edit").setAttribute("aria-label", `Edit ${item.title}`);
    li.querySelector(".delete").setAttribute("aria-label", `Delete ${item.title}`);
  }

  /** Put the answered item in place: replaced, or removed when it left the filter. */
  place(li, item) {
    if (this.filter && item.status !== this.filter) {
      this.removeRow(li);
    } else {
      this.fill(li, item);
    }
  }

  removeRow(li) {
    const next = li.nextElementSibling || li.previousElementSibling;
    const hadFocus = li.contains(document.activeElement);
    li.remove();
    if (hadFocus) (next?.querySelector(".status") || $("#new-title")).focus();
    this.updateEmpty();
  }

  clicked(event) {
    const button = event.target.closest("button");
    const li = button?.closest("li[data-item-id]");
    if (!li) return;
    if (button.matches(".edit")) this.openEditor(li);
    else if (button.matches(".delete")) this.remove(li, button);
    else if (button.matches(".cancel")) this.closeEditor(li);
  }

  async create() {
    const input = $("#new-title");
    const button = $("#create");
    const title = input.value.trim();
    if (this.pending?.inFlight) return; // a second click while the first is answered: nothing new
    if (!title) {
      input.focus();
      return;
    }
    // The same form submitted again (a retry after a failure) keeps its key: the server answers the
    // first request's 201 instead of making a second task.
    if (!this.pending || this.pending.title !== title) this.pending = { key: idempotencyKey(), title };
    this.pending.inFlight = true;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    clearError();
    let answer;
    try {
      answer = await guarded(() => this.api.createItem({ title }, this.pending.key));
    } finally {
      this.pending.inFlight = false;
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    if (!answer) return; // shown; the input keeps the title for another try
    this.pending = null;
    const item = answer.data;
    if (input.value.trim() === title) input.value = "";
    if (!this.list.querySelector(`li[data-item-id="${CSS.escape(item.id)}"]`) && (!this.filter || item.status === this.filter)) {
      this.list.prepend(this.row(item));
    }
    this.updateEmpty();
    input.focus();
    this.onChange();
  }

  async changeStatus(li, select) {
    select.disabled = true;
    clearError();
    const answer = await guarded(() => this.api.updateItem(li.dataset.itemId, { status: select.value }, li.dataset.version));
    select.disabled = false;
    if (!answer) {
      select.value = li.dataset.status; // not saved: show what the server has
      return;
    }
    this.place(li, answer.data);
    li.querySelector(".status")?.focus();
    this.onChange();
  }

  openEditor(li) {
    const title = li.querySelector(".title");
    const editId = `edit-${li.dataset.itemId}`;
    const form = element("form", { className: "editor" }, [
      element("label", { className: "visually-hidden", htmlFor: editId, textContent: "Title" }),
      element("input", { className: "edit-title", id: editId, type: "text", value: title.textContent, maxLength: 200 }),
      element("button", { type: "submit", className: "save", textContent: "Save" }),
      element("button", { type: "button", className: "cancel", textContent: "Cancel" }),
    ]);
    form.dataset.original = title.textContent;
    title.replaceWith(form);
    li.querySelector(".edit").hidden = true;
    const input = form.querySelector(".edit-title");
    input.focus();
    input.select();
  }

  closeEditor(li) {
    const form = li.querySelector(".editor");
    if (!form) return;
    form.replaceWith(element("span", { className: "title", textContent: form.dataset.original }));
    const edit = li.querySelector(".edit");
    edit.hidden = false;
    edit.focus();
  }

  async saveTitle(li) {
    const input = li.querySelector(".edit-title");
    const save = li.querySelector(".save");
    const title = input.value.trim();
    if (!title) {
      input.focus();
      return;
    }
    save.disabled = true;
    clearError();
    const answer = await guarded(() => this.api.updateItem(li.dataset.itemId, { title }, li.dataset.version));
    save.disabled = false;
    if (!answer) return; // the editor stays open with what the user typed
    this.place(li, answer.data);
    li.querySelector(".edit")?.focus();
    this.onChange();
  }

  async remove(li, button) {
    button.disabled = true;
    clearError();
    const answer = await guarded(() => this.api.deleteItem(li.dataset.itemId, li.dataset.version));
    button.disabled = false;
    if (!answer) return;
    this.removeRow(li);
    this.onChange();
  }
}
