// The assistant: the buffered answer (POST /assistant) and the streamed one (POST /assistant/stream read
// as server-sent events from the fetch body, token by token), which #stop aborts. #answer's data-state:
// idle | streaming | done | stopped | error.

import { Problem } from "./api.js";
import { clearError, guarded, showError } from "./feedback.js";
import { events } from "./sse.js";

const $ = (selector) => document.querySelector(selector);

export class Assistant {
  constructor(api) {
    this.api = api;
    this.controller = null;
    this.answer = $("#answer");
    $("#assistant-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    $("#ask-stream").addEventListener("click", () => this.stream());
    $("#stop").addEventListener("click", () => this.controller?.abort());
  }

  prompt() {
    const prompt = $("#prompt").value.trim();
    if (!prompt) $("#prompt").focus();
    return prompt;
  }

  busy(on) {
    $("#ask").disabled = on;
    $("#ask-stream").disabled = on;
    this.answer.setAttribute("aria-busy", String(on));
  }

  state(value, meta = "") {
    this.answer.dataset.state = value;
    $("#answer-meta").textContent = meta;
  }

  async ask() {
    const prompt = this.prompt();
    if (!prompt || this.controller) return;
    this.busy(true);
    clearError();
    this.answer.textContent = "";
    this.state("idle", "Thinking…");
    const answer = await guarded(() => this.api.ask(prompt));
    this.busy(false);
    if (!answer) {
      this.state("error");
      return;
    }
    this.answer.textContent = answer.data.text;
    this.state("done", describe(answer.data));
  }

  async stream() {
    const prompt = this.prompt();
    if (!prompt || this.controller) return;
    const controller = (this.controller = new AbortController());
    this.busy(true);
    $("#stop").disabled = false;
    clearError();
    this.answer.textContent = "";
    this.state("streaming", "Answering…");
    let requestId = null;
    try {
      const response = await this.api.askStream(prompt, controller.signal);
      requestId = response.headers.get("X-Request-Id");
      let finished = false;
      for await (const { event, data } of events(response.body)) {
        const payload = JSON.parse(data);
        if (event === "token") {
          this.answer.append(payload.text);
        } else if (event === "done") {
          finished = true;
          this.state("done", describe(payload));
        } else if (event === "error") {
          finished = true;
          this.state("error", "");
          showError(
            new Problem({
              title: "The answer was interrupted",
              detail: payload.detail || payload.code,
              code: payload.code,
              requestId,
            }),
          );
        }
      }
      if (!finished) {
        this.state("error", "");
        showError(new Problem({ title: "The answer was cut off", detail: "The stream ended early.", requestId }));
      }
    } catch (error) {
      if (error?.name === "AbortError") {
        this.state("stopped", "Stopped.");
      } else {
        this.state("error", "");
        showError(error?.title ? error : new Problem({ title: "Something went wrong", detail: String(error), requestId }));
      }
    } finally {
      this.controller = null;
      $("#stop").disabled = true;
      this.busy(false);
    }
  }
}

function describe(result) {
  const usage = result.usage || {};
  return `${result.provider || ""} ${result.model || ""} · ${usage.input_tokens ?? "?"} in, ${usage.output_tokens ?? "?"} out`.trim();
}
