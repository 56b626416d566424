// What went wrong, shown once: #error (a problem's title, detail and request id to quote) and #conflict
// (a stale edit, with #reload).

const $ = (selector) => document.querySelector(selector);

export function showError(problem) {
  const box = $("#error");
  box.querySelector(".problem-title").textContent = problem.title || "Something went wrong";
  const fields = (problem.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
  box.querySelector(".problem-detail").textContent = fields && !problem.detail ? fields : problem.detail || "";
  const reference = box.querySelector(".problem-reference");
  const id = box.querySelector("[data-request-id]");
  id.textContent = problem.requestId || "";
  id.dataset.requestId = problem.requestId || "";
  reference.hidden = !problem.requestId;
  box.hidden = false;
}

export function clearError() {
  $("#error").hidden = true;
}

export function showConflict() {
  $("#conflict").hidden = false;
  $("#reload").focus();
}

export function clearConflict() {
  $("#conflict").hidden = true;
}

/** Run an action, showing its failure; a stale edit (412) shows the conflict instead. */
export async function guarded(action) {
  try {
    return await action();
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    if (error?.status === 412) showConflict();
    else showError(error?.title ? error : { title: "Something went wrong", detail: String(error?.message || error) });
    return undefined;
  }
}
