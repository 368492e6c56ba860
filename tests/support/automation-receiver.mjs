// A loopback webhook receiver for the automation tests. It stands in for an n8n or Zapier
// "webhook" node: it speaks plain HTTP on 127.0.0.1, records every delivery and verifies the
// Creator OS signature (`x-creator-os-signature: t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<body>">`)
// with the shared secret, exactly as a receiver in production would. Not a test file itself.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

/** Whether `header` is a valid signature of `body` under `secret`. */
export function verifySignature(secret, header, body) {
  const parts = Object.fromEntries(String(header ?? "").split(",").map((p) => p.trim().split("=")));
  if (!parts.t || !parts.v1) return false;
  const expected = createHmac("sha256", secret).update(`${parts.t}.${body}`).digest("hex");
  const given = Buffer.from(parts.v1, "utf8");
  return given.length === expected.length && timingSafeEqual(given, Buffer.from(expected, "utf8"));
}

/** The signature header a sender computes for `body` at `timestamp` (unix seconds). */
export function sign(secret, body, timestamp = Math.floor(Date.now() / 1000)) {
  const mac = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

/**
 * Starts the receiver. Paths: `/ok` answers 200; `/fail` answers 500 (a receiver that is down);
 * `/reject` answers 400. Returns `{url, deliveries, close}`; each delivery is
 * `{path, event, delivery, verified, body, at}`.
 */
export async function startReceiver(secret) {
  const deliveries = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      deliveries.push({
        path: req.url,
        event: req.headers["x-creator-os-event"],
        delivery: req.headers["x-creator-os-delivery"],
        verified: verifySignature(secret, req.headers["x-creator-os-signature"], text),
        body,
        at: Date.now(),
      });
      const status = req.url === "/fail" ? 500 : req.url === "/reject" ? 400 : 200;
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ received: status === 200 }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    deliveries,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
