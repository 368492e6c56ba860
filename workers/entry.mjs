// Entry point of the Worker: the Rust application built by worker-build (./build/index.js),
// wrapped so that a request which crashes the WebAssembly instance (a Rust panic) still gets
// the API's error shape and a request id, with nothing internal in the body. worker-build's
// shim reinitialises the instance after such a crash, so the next request is served normally.
//
// A panic inside the Rust future traps in a microtask, not in the call that returned the
// request's promise: that promise then never settles, and the runtime would eventually cancel
// the request with its own plain-text 500. The trap surfaces as a global `error` event carrying
// a WebAssembly.RuntimeError; on it, every request in flight on the dead instance is answered
// with a clean 500 at once.
import { WorkerEntrypoint } from "cloudflare:workers";
import Application from "./build/index.js";

export * from "./build/index.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** `req_` + a ULID: 48-bit millisecond time, 80 random bits, Crockford base32. */
function requestId() {
  let time = Date.now();
  let timePart = "";
  for (let i = 0; i < 10; i++) {
    timePart = CROCKFORD[time % 32] + timePart;
    time = Math.floor(time / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let randomPart = "";
  for (let i = 0; i < 16; i++) randomPart += CROCKFORD[random[i] % 32];
  return `req_${timePart}${randomPart}`;
}

/** Beyond this many unread bytes, what is left of a request body is cancelled, not read. */
const DRAIN_LIMIT = 1024 * 1024;

/**
 * Reads what the application left unread of a request body. Refusals (401, 403, 404, 413…) are
 * often decided before the body is looked at; answering while a small body is still unread makes
 * wrangler's local proxy drop the answer and reply 503 "Your worker restarted mid-request"
 * instead. Reading it first costs little: only refused or body-less operations leave one.
 */
async function drain(request) {
  if (request.bodyUsed || !request.body) return;
  const reader = request.body.getReader();
  let seen = 0;
  try {
    while (seen <= DRAIN_LIMIT) {
      const { done, value } = await reader.read();
      if (done) return;
      seen += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The client went away: nothing left to read.
  }
}

/**
 * Issue grouping, as in workers/src/analytics/errors.rs: digits → <n>, prefixed ids → x_<id>,
 * long hex or mixed alphanumeric runs → <id>, whitespace collapsed.
 */
function normaliseToken(token) {
  if (/^[0-9]+$/.test(token)) return "<n>";
  const split = token.lastIndexOf("_");
  if (split >= 0) {
    const rest = token.slice(split + 1);
    if (rest.length >= 16 && /^[A-Za-z0-9]+$/.test(rest)) return `${token.slice(0, split)}_<id>`;
  }
  const hasDigit = /[0-9]/.test(token);
  const hex = token.startsWith("0x") ? token.slice(2) : token;
  if (hasDigit && hex.length >= 8 && /^[0-9A-Fa-f]+$/.test(hex)) return "<id>";
  if (hasDigit && token.length >= 16) return "<id>";
  return token;
}

function normaliseMessage(message) {
  return message
    .replace(/[A-Za-z0-9_]+/g, normaliseToken)
    .replace(/\s+/g, " ")
    .trim();
}

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A Crockford-base32 ULID with a type prefix. */
function newId(prefix) {
  return `${prefix}_${requestId().slice(4)}`;
}

/**
 * Records a crash of the instance as an error issue of the platform (the Rust side cannot: its
 * instance is gone). The panic hook (analytics::errors::install_panic_hook) left the message
 * and location in globalThis.__creatorOsPanic.
 */
async function recordCrash(env, id, request, error) {
  const panic = globalThis.__creatorOsPanic;
  globalThis.__creatorOsPanic = undefined;
  const message = String((panic && panic.message) || (error && error.message) || error).slice(0, 2000);
  const location = (panic && panic.location) || null;
  const stack = String((error && error.stack) || "").slice(0, 16000) || null;
  const fingerprint = (await sha256Hex(`worker\n${normaliseMessage(message)}\n${location || ""}`)).slice(0, 32);
  const now = Date.now();
  const release = (env.RELEASE && String(env.RELEASE)) || null;
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO error_issues (id, scope, fingerprint, source, message, location, release, count, first_seen, last_seen)
       VALUES (?1, 'platform', ?2, 'worker', ?3, ?4, ?5, 1, ?6, ?6)
       ON CONFLICT (scope, fingerprint) DO UPDATE SET count = count + 1, last_seen = excluded.last_seen,
         release = COALESCE(excluded.release, release)`,
    ).bind(newId("iss"), fingerprint, message, location, release, now),
    env.DB.prepare(
      `INSERT INTO error_events (id, issue_id, at, request_id, message, stack, release, url, user_agent)
       SELECT ?1, id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM error_issues WHERE scope = 'platform' AND fingerprint = ?9`,
    ).bind(newId("err"), now, id, message, stack, release, request.url.slice(0, 2000),
      (request.headers.get("user-agent") || "").slice(0, 500) || null, fingerprint),
  ]);
}

/** Requests in flight: each entry answers its request with a 500 when the instance crashes. */
const inFlight = new Set();

addEventListener("error", (event) => {
  if (event.error instanceof WebAssembly.RuntimeError) {
    for (const crash of [...inFlight]) crash(event.error);
  }
});

/** The application's answer, or a rejection if the instance crashes before it comes. */
function untilCrash(answer) {
  let crash;
  const crashed = new Promise((_, reject) => {
    crash = reject;
  });
  inFlight.add(crash);
  return Promise.race([answer, crashed]).finally(() => inFlight.delete(crash));
}

export default class CreatorOs extends WorkerEntrypoint {
  constructor(ctx, env) {
    super(ctx, env);
    this.application = new Application(ctx, env);
  }

  async fetch(request) {
    const id = requestId();
    const headers = new Headers(request.headers);
    // The request id is always ours: a client-sent one is replaced.
    headers.set("x-request-id", id);
    const forwarded = new Request(request, { headers });
    try {
      const response = await untilCrash(this.application.fetch(forwarded));
      await drain(forwarded);
      return response;
    } catch (error) {
      await drain(forwarded);
      const url = new URL(request.url);
      console.error(
        JSON.stringify({
          level: "error",
          msg: "request crashed",
          request_id: id,
          method: request.method,
          path: url.pathname,
          status: 500,
          error: String((error && error.stack) || error),
        }),
      );
      try {
        await recordCrash(this.env, id, request, error);
      } catch (failure) {
        console.error(JSON.stringify({ level: "warn", msg: "crash not recorded", error: String(failure) }));
      }
      const body = {
        error: { code: "internal_error", message: "something went wrong on our side", request_id: id },
      };
      return new Response(JSON.stringify(body), {
        status: 500,
        headers: {
          "content-type": "application/json",
          "x-request-id": id,
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        },
      });
    }
  }

  async queue(batch) {
    // A crash must fail the batch (the queue then retries it), not leave it unsettled.
    return untilCrash(this.application.queue(batch));
  }

  async scheduled(controller) {
    return this.application.scheduled(controller);
  }
}
