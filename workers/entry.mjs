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
