// Shared plumbing for interop scenarios: one line per check, a closing "N passed, M failed" line, an
// overall deadline, and a trace of every HTTP request the SDK makes that does not answer 2xx, so a
// failure names the request the server got wrong.

import { logger as sdkRootLogger } from "matrix-js-sdk/lib/logger.js";

export class Abort extends Error {}

const verbose = process.env.INTEROP_LOG === "debug";

// The SDK's root logger (used by parts without a client, e.g. MatrixRTC sessions) prints everything
// down to debug; keep warnings and errors unless INTEROP_LOG=debug. Children copy the method factory
// when they are created, so this must run before any client exists.
if (!verbose) {
  const original = sdkRootLogger.methodFactory;
  sdkRootLogger.methodFactory = (method, level, name) =>
    method === "warn" || method === "error" ? original(method, level, name) : () => {};
  sdkRootLogger.rebuild();
}

export class Checks {
  passed = 0;
  failed = 0;

  /** Records one assertion; a failed assertion does not stop the scenario. */
  check(name, ok, detail = "") {
    if (ok) {
      this.passed++;
      console.log(`PASS ${name}`);
    } else {
      this.failed++;
      console.log(`FAIL ${name}${detail ? `: ${detail}` : ""}`);
    }
    return ok;
  }

  /**
   * Runs one action the rest of the scenario depends on. It counts as a check; if it throws, the
   * failure is recorded with the error and the scenario stops (later steps would only repeat it).
   */
  async step(name, action) {
    try {
      const result = await action();
      this.check(name, true);
      return result;
    } catch (error) {
      this.check(name, false, describeError(error));
      throw new Abort(name);
    }
  }

  /** Like step, but the scenario goes on after a failure (later steps show its consequences). */
  async attempt(name, action) {
    try {
      const result = await action();
      this.check(name, true);
      return result;
    } catch (error) {
      this.check(name, false, describeError(error));
      return undefined;
    }
  }

  summary() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 && this.passed > 0 ? 0 : 1;
  }
}

export function describeError(error) {
  if (error === null || error === undefined) return String(error);
  const parts = [];
  if (error.httpStatus !== undefined) parts.push(`HTTP ${error.httpStatus}`);
  if (error.errcode) parts.push(error.errcode);
  parts.push(error.message ?? String(error));
  if (error.data && Object.keys(error.data).length > 0) parts.push(truncate(JSON.stringify(error.data)));
  return parts.join(" ");
}

export function truncate(text, max = 600) {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/** Rejects with a message naming `what` when `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `probe` (sync or async) until it returns a value other than undefined/null/false, or fails
 * after `ms` with `what` and, if given, `explain()` describing the last observed state. Polling
 * rather than listening avoids missing an SDK event emitted before the listener was attached.
 */
export async function until(probe, ms, what, explain) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) {
      const state = explain ? `; ${await explain()}` : "";
      throw new Error(`timed out after ${ms / 1000} s waiting for ${what}${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A fetch for the SDK that prints every request answered with a non-2xx status, or not answered at
 * all, as "http <who>: METHOD path -> status body". These lines are information, not failures: some
 * non-2xx answers are normal (a 401 UIA challenge, a 404 for a key backup that does not exist).
 */
export function tracingFetch(who) {
  return async (input, init = {}) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    const method = init.method ?? (typeof input === "object" && "method" in input ? input.method : "GET");
    const path = url.pathname + (url.search ? redactQuery(url.searchParams) : "");
    let response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      if (!init.signal?.aborted) console.log(`http ${who}: ${method} ${path} -> no response (${error.message})`);
      throw error;
    }
    if (!response.ok) {
      const body = await response.clone().text().catch(() => "");
      console.log(`http ${who}: ${method} ${path} -> ${response.status} ${truncate(body)}`);
      if (init.body && !path.includes("/login") && !path.includes("/register")) {
        console.log(`http ${who}:   request body ${truncate(String(init.body))}`);
      }
    }
    return response;
  };
}

function redactQuery(params) {
  const copy = new URLSearchParams(params);
  if (copy.has("access_token")) copy.set("access_token", "<redacted>");
  return `?${copy}`;
}

/** An SDK logger that prints warnings and errors (everything with INTEROP_LOG=debug) with a prefix. */
export function sdkLogger(prefix) {
  const debug = verbose;
  const quiet = () => {};
  const print = (level) => (...msg) =>
    console.log(`  [${prefix}] ${level}: ${msg.map((m) => (typeof m === "string" ? m : describeLogged(m))).join(" ")}`);
  const logger = {
    trace: debug ? print("trace") : quiet,
    debug: debug ? print("debug") : quiet,
    info: debug ? print("info") : quiet,
    warn: print("warn"),
    error: print("error"),
    getChild: (namespace) => sdkLogger(`${prefix}${namespace}`),
  };
  return logger;
}

function describeLogged(value) {
  if (value instanceof Error) return describeError(value);
  try {
    return truncate(JSON.stringify(value) ?? String(value), 300);
  } catch {
    return String(value);
  }
}

/** Raw client-server request with an access token, independent of the SDK (for wire-level checks). */
export async function rawRequest(baseUrl, accessToken, method, path, body) {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      Authorization: `Bearer ${accessToken}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}
