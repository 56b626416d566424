// Sign-in: OAuth 2.0 authorization code with PKCE (S256) against the authority in config.json (Cognito's
// hosted UI deployed, the local issuer's same endpoints under `make dev`). Tokens live in this module's
// memory only; the one thing that must survive the redirect, the PKCE verifier and the state, waits in
// sessionStorage and is removed as soon as the callback reads it.

const PENDING_KEY = "console.pkce";
const REFRESH_MARGIN_MS = 60_000; // refresh a minute before expiry...
const REFRESH_FRACTION = 0.2; // ...or, for short-lived tokens, when a fifth of the lifetime is left

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

/** An OAuth error or a failed token request, shaped like the API's problems so the page shows it alike. */
export class AuthError extends Error {
  constructor(title, detail, { status = 0, code = "auth_error", requestId = null } = {}) {
    super(detail || title);
    this.title = title;
    this.detail = detail;
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export class Auth {
  constructor(config, { onChange = () => {} } = {}) {
    this.config = config;
    this.onChange = onChange;
    this.tokens = null; // {access, id, refresh, expiresAt, lifetime}
    this.refreshing = null; // the refresh in flight, shared by every caller
    this.timer = null;
  }

  get signedIn() {
    return this.tokens !== null;
  }

  /** Off to the authority's sign-in page; the verifier and state wait in sessionStorage. */
  async signIn() {
    const verifier = randomString(48);
    const state = randomString(16);
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state }));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: this.config.clientId,
      redirect_uri: this.config.redirectUri,
      scope: this.config.scope || "openid",
      state,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: "S256",
    });
    window.location.assign(`${this.config.authority}/oauth2/authorize?${query}`);
  }

  /** The redirect back: exchange the code (once) and clean the URL. False when this is no callback. */
  async completeSignIn(location = window.location) {
    const params = new URLSearchParams(location.search);
    if (!params.has("code") && !params.has("error")) return false;
    const pending = sessionStorage.getItem(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY); // single use, whatever happens next
    window.history.replaceState(null, "", location.pathname + location.hash);
    if (params.has("error")) {
      throw new AuthError("Sign-in failed", params.get("error_description") || params.get("error"), {
        code: params.get("error"),
      });
    }
    let saved = null;
    try {
      saved = JSON.parse(pending);
    } catch {
      saved = null;
    }
    if (!saved || saved.state !== params.get("state")) {
      throw new AuthError("Sign-in failed", "The sign-in answer does not match a sign-in started here; sign in again.", {
        code: "invalid_state",
      });
    }
    await this.tokenRequest({
      grant_type: "authorization_code",
      code: params.get("code"),
      redirect_uri: this.config.redirectUri,
      client_id: this.config.clientId,
      code_verifier: saved.verifier,
    });
    return true;
  }

  /** A usable access token, refreshed first when it is about to expire. */
  async accessToken() {
    if (!this.tokens) throw new AuthError("Not signed in", "Sign in to continue.", { status: 401, code: "unauthorized" });
    if (Date.now() >= this.refreshAt()) await this.refresh();
    return this.tokens.access;
  }

  refreshAt() {
    const { expiresAt, lifetime } = this.tokens;
    return expiresAt - Math.min(REFRESH_MARGIN_MS, lifetime * REFRESH_FRACTION);
  }

  /** One refresh at a time: concurrent callers share it. */
  refresh() {
    if (!this.refreshing) {
      const refreshToken = this.tokens?.refresh;
      if (!refreshToken) {
        return Promise.reject(new AuthError("Session ended", "Sign in again.", { status: 401, code: "unauthorized" }));
      }
      this.refreshing = this.tokenRequest({
        grant_type: "refresh_token",
        refresh_token: refreshToken,
        client_id: this.config.clientId,
      }).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async tokenRequest(form) {
    let response;
    try {
      response = await fetch(`${this.config.authority}/oauth2/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form),
      });
    } catch (error) {
      throw new AuthError("Cannot reach the sign-in service", String(error.message || error));
    }
    const body = await response.json().catch(() => ({}));
    const requestId = body.request_id || response.headers.get("X-Request-Id");
    if (!response.ok) {
      if (form.grant_type === "refresh_token") this.forget();
      throw new AuthError(
        body.title || "Sign-in failed",
        body.detail || body.error_description || body.error || `The token endpoint answered ${response.status}.`,
        { status: response.status, code: body.code || body.error || "auth_error", requestId },
      );
    }
    const lifetime = Math.max(1, Number(body.expires_in) || 3600) * 1000;
    this.tokens = {
      access: body.access_token,
      id: body.id_token,
      refresh: body.refresh_token || this.tokens?.refresh || null, // a refresh grant keeps the old one
      expiresAt: Date.now() + lifetime,
      lifetime,
    };
    this.schedule();
    this.onChange(this);
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.tokens?.refresh) return;
    this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.max(0, this.refreshAt() - Date.now()));
  }

  forget() {
    clearTimeout(this.timer);
    const had = this.tokens !== null;
    this.tokens = null;
    if (had) this.onChange(this);
  }

  /** Forget the tokens here, then end the session at the authority too (it redirects back). */
  signOut() {
    this.forget();
    const query = new URLSearchParams({ client_id: this.config.clientId, logout_uri: this.config.logoutUri });
    window.location.assign(`${this.config.authority}/logout?${query}`);
  }
}
