// A loopback Sentry ingestion endpoint speaking the envelope protocol
// (https://develop.sentry.dev/sdk/envelopes/): POST /api/{project}/envelope/ with an
// `X-Sentry-Auth` header naming the DSN's public key, and a body of newline-separated JSON —
// envelope header, item header (with the payload's length), payload. It parses what arrives
// the way Sentry does and keeps the events for the test to inspect.
import { createServer } from "node:http";

/** Starts the receiver; `dsn` is what to give the Worker as SENTRY_DSN. */
export async function startSentryReceiver({ project = "42", publicKey = "loopbackpublickey" } = {}) {
  const events = [];
  const rejected = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const auth = req.headers["x-sentry-auth"] ?? "";
      const reject = (why) => {
        rejected.push(why);
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ detail: why }));
      };
      if (req.method !== "POST" || req.url !== `/api/${project}/envelope/`) return reject(`unexpected ${req.method} ${req.url}`);
      if (!auth.startsWith("Sentry ") || !auth.includes(`sentry_key=${publicKey}`)) return reject("bad auth");
      const [headerLine, itemLine, ...rest] = body.split("\n");
      try {
        const header = JSON.parse(headerLine);
        const item = JSON.parse(itemLine);
        const payload = rest.join("\n").replace(/\n$/, "");
        if (item.type !== "event") return reject(`item type ${item.type}`);
        if (Buffer.byteLength(payload) !== item.length) return reject("length mismatch");
        const event = JSON.parse(payload);
        if (event.event_id !== header.event_id) return reject("event id mismatch");
        events.push(event);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: event.event_id }));
      } catch (error) {
        reject(`unparsable envelope: ${error.message}`);
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    dsn: `http://${publicKey}@127.0.0.1:${port}/${project}`,
    events,
    rejected,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
