// The console's entry point: read config.json, finish a sign-in redirect if this is one, then show the
// tasks, the overview and the assistant. The same code runs locally (the API's origin serves the page
// and the OAuth endpoints) and deployed (S3 behind CloudFront, Cognito's hosted UI).

import { Api, Problem } from "./api.js";
import { Assistant } from "./assistant.js";
import { Auth } from "./auth.js";
import { clearError, showError } from "./feedback.js";
import { Overview } from "./overview.js";
import { Tasks } from "./tasks.js";

const $ = (selector) => document.querySelector(selector);

async function loadConfig() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) {
    throw new Problem({
      title: "The console is not configured",
      detail: `config.json answered ${response.status}.`,
      status: response.status,
      requestId: response.headers.get("X-Request-Id"),
    });
  }
  return response.json();
}

function showSignedIn(signedIn) {
  $("#workspace").hidden = !signedIn;
  $("#welcome").hidden = signedIn;
  $("#sign-in").hidden = signedIn;
  $("#sign-out").hidden = !signedIn;
  $("#signed-in-as").hidden = !signedIn;
  if (!signedIn) {
    $("#user").textContent = "";
    $("#welcome-text").textContent = "Sign in to see and manage your tasks, follow their activity and ask the assistant.";
  }
}

async function main() {
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    $("#welcome-text").textContent = "The console could not start.";
    showError(error.title ? error : new Problem({ title: "The console could not start", detail: String(error) }));
    return;
  }

  let started = false;
  const auth = new Auth(config, {
    onChange: (current) => {
      if (!current.signedIn) {
        started = false;
        overview.stop();
        showSignedIn(false);
      }
    },
  });
  const api = new Api(config, auth);
  const overview = new Overview(api);
  const tasks = new Tasks(api, { onChange: () => overview.follow() });
  new Assistant(api);

  $("#sign-in").addEventListener("click", () => auth.signIn());
  $("#sign-out").addEventListener("click", () => auth.signOut());
  $("#dismiss-error").addEventListener("click", () => {
    clearError();
    $("#main").focus();
  });
  $("#sign-in").disabled = false;

  try {
    await auth.completeSignIn();
  } catch (error) {
    showError(error);
  }
  if (!auth.signedIn) {
    showSignedIn(false);
    return;
  }

  showSignedIn(true);
  started = true;
  const workspace = $("#workspace");
  workspace.setAttribute("aria-busy", "true"); // until the first reads have drawn the page
  try {
    // The profile names the user, and its first read of this sign-in records it (a sign-in event).
    const { data: me } = await api.me();
    $("#user").textContent = me.username;
  } catch (error) {
    showError(error);
  }
  if (!started) return;
  await Promise.all([tasks.load(), overview.refresh()]);
  overview.follow(); // this sign-in's event reaches the overview a moment later
  workspace.setAttribute("aria-busy", "false");
  // Only where the user has not gone already: typing that began while the list loaded stays where it began.
  if (!document.activeElement || document.activeElement === document.body) $("#new-title").focus();
}

main();
