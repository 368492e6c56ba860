// Entry point of the Worker: the Rust application built by worker-build (./build/index.js),
// wrapped so that a request which crashes the WebAssembly instance (a Rust panic) still gets
// the API's error shape and a request id, with nothing internal in the body. worker-build's
// shim reinitialises the instance after such a crash, so the next request is served normally.
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
      return await this.application.fetch(forwarded);
    } catch (error) {
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
        headers: { "content-type": "application/json", "x-request-id": id, "cache-control": "no-store" },
      });
    }
  }

  async queue(batch) {
    return this.application.queue(batch);
  }

  async scheduled(controller) {
    return this.application.scheduled(controller);
  }
}
