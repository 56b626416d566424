// The API client: every request carries the access token and a request id of its own; a 401 is retried
// once after a token refresh; every failure becomes a Problem (docs/API.md: RFC 9457 problem documents).

import { AuthError } from "./auth.js";

/** A failed request, from its problem document (or what the page knows when there is none). */
export class Problem extends Error {
  constructor({ title, detail = "", status = 0, code = "", errors = [], requestId = null }) {
    super(detail || title);
    this.title = title;
    this.detail = detail;
    this.status = status;
    this.code = code;
    this.errors = errors;
    this.requestId = requestId;
  }

  static fromAuth(error) {
    return new Problem({
      title: error.title,
      detail: error.detail,
      status: error.status,
      code: error.code,
      requestId: error.requestId,
    });
  }
}

export function requestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A new idempotency key (docs/API.md: 1-128 of [A-Za-z0-9._:-]). */
export function idempotencyKey() {
  return crypto.randomUUID ? crypto.randomUUID() : requestId();
}

async function problemOf(response, sentId) {
  const id = response.headers.get("X-Request-Id") || sentId;
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (body && typeof body === "object" && body.title) {
    return new Problem({
      title: body.title,
      detail: body.detail || "",
      status: body.status || response.status,
      code: body.code || "",
      errors: Array.isArray(body.errors) ? body.errors : [],
      requestId: body.request_id || id,
    });
  }
  return new Problem({
    title: response.statusText || "Request failed",
    detail: `The server answered ${response.status}.`,
    status: response.status,
    requestId: id,
  });
}

export class Api {
  constructor(config, auth) {
    this.base = config.apiUrl;
    this.streamBase = config.streamUrl || config.apiUrl;
    this.auth = auth;
  }

  /** The raw Response of a successful request (2xx), or throws a Problem. */
  async send(method, path, { body, headers = {}, signal, base = this.base } = {}) {
    const id = requestId();
    const attempt = async () => {
      let token;
      try {
        token = await this.auth.accessToken();
      } catch (error) {
        throw error instanceof AuthError ? Problem.fromAuth(error) : error;
      }
      const sent = { ...headers, Authorization: `Bearer ${token}`, "X-Request-Id": id };
      if (body !== undefined) sent["Content-Type"] = "application/json";
      try {
        return await fetch(base + path, {
          method,
          headers: sent,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal,
        });
      } catch (error) {
        if (error.name === "AbortError") throw error;
        throw new Problem({ title: "Network error", detail: String(error.message || error), requestId: id });
      }
    };
    let response = await attempt();
    if (response.status === 401) {
      // The token expired or was refused: refresh once and send the same request again.
      try {
        await this.auth.refresh();
      } catch (error) {
        throw error instanceof AuthError ? Problem.fromAuth(error) : error;
      }
      response = await attempt();
    }
    if (!response.ok) throw await problemOf(response, id);
    return response;
  }

  /** {data, response}: the JSON body (null for a 204) beside the response for its headers. */
  async json(method, path, options) {
    const response = await this.send(method, path, options);
    const data = response.status === 204 ? null : await response.json();
    return { data, response };
  }

  listItems({ status = "", limit, cursor = null } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (status) query.set("status", status);
    if (cursor) query.set("cursor", cursor);
    return this.json("GET", `/items?${query}`);
  }

  createItem(fields, key) {
    return this.json("POST", "/items", { body: fields, headers: { "Idempotency-Key": key } });
  }

  getItem(id) {
    return this.json("GET", `/items/${encodeURIComponent(id)}`);
  }

  updateItem(id, fields, version) {
    return this.json("PATCH", `/items/${encodeURIComponent(id)}`, {
      body: fields,
      headers: { "If-Match": `"${version}"` },
    });
  }

  deleteItem(id, version) {
    return this.json("DELETE", `/items/${encodeURIComponent(id)}`, { headers: { "If-Match": `"${version}"` } });
  }

  me() {
    return this.json("GET", "/me");
  }

  stats() {
    return this.json("GET", "/stats");
  }

  activity(limit) {
    return this.json("GET", `/activity?limit=${limit}`);
  }

  ask(prompt) {
    return this.json("POST", "/assistant", { body: { prompt } });
  }

  /** The streaming answer's Response (its body not read yet). */
  askStream(prompt, signal) {
    return this.send("POST", "/assistant/stream", { body: { prompt }, signal, base: this.streamBase });
  }
}
