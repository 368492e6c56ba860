// A stand-in for Stripe on loopback, for the end-to-end tests: it speaks the two Stripe REST
// endpoints the Worker calls (form-encoded POST /v1/checkout/sessions and POST /v1/transfers,
// bearer secret key, Idempotency-Key replays) with Stripe's object and error shapes. Stripe
// itself is an external service; this server takes its place. Webhook events are signed with
// the official `stripe` library (stripe.webhooks.generateTestHeaderString), exactly as Stripe
// signs them.
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import Stripe from "stripe";

export const SECRET_KEY = "sk_test_commerce_loopback";
const stripe = new Stripe(SECRET_KEY);

const token = (prefix) => `${prefix}_test_${randomBytes(12).toString("hex")}`;

function error(res, status, message, type = "invalid_request_error") {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { type, message } }));
}

/** Starts the stand-in; returns its URL, what it saw and made, and `close()`. */
export async function startStripe() {
  const requests = [];
  const byKey = new Map();
  const sessions = new Map();
  const transfers = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const form = new URLSearchParams(body);
      const seen = { method: req.method, path: req.url, headers: req.headers, form };
      requests.push(seen);
      if (req.headers.authorization !== `Bearer ${SECRET_KEY}`) return error(res, 401, "Invalid API Key provided");
      if (req.method !== "POST") return error(res, 405, "Unrecognized request method");
      if (!/^application\/x-www-form-urlencoded/.test(req.headers["content-type"] ?? "")) return error(res, 400, "Invalid request body");
      const key = req.headers["idempotency-key"];
      if (key && byKey.has(key)) {
        // Stripe replays the first answer to a repeated idempotency key.
        const { status, json } = byKey.get(key);
        res.writeHead(status, { "content-type": "application/json", "idempotent-replayed": "true" });
        return res.end(JSON.stringify(json));
      }
      let status = 200;
      let json;
      if (req.url === "/v1/checkout/sessions" && (form.get("success_url") ?? "").includes("refuse")) {
        // Lets a test see Stripe refuse a session (as it does, e.g., for a disabled currency).
        status = 400;
        json = { error: { type: "invalid_request_error", message: "Not a valid URL" } };
      } else if (req.url === "/v1/checkout/sessions") {
        const mode = form.get("mode");
        let amount = 0;
        for (let i = 0; form.has(`line_items[${i}][quantity]`); i++) {
          amount += Number(form.get(`line_items[${i}][price_data][unit_amount]`)) * Number(form.get(`line_items[${i}][quantity]`));
        }
        const id = token("cs");
        json = {
          id,
          object: "checkout.session",
          mode,
          url: `https://checkout.stripe.com/c/pay/${id}`,
          amount_total: amount,
          currency: form.get(`line_items[0][price_data][currency]`),
          client_reference_id: form.get("client_reference_id"),
          metadata: { order_id: form.get("metadata[order_id]") },
          payment_status: "unpaid",
          status: "open",
          payment_intent: mode === "payment" ? token("pi") : null,
          subscription: mode === "subscription" ? token("sub") : null,
          success_url: form.get("success_url"),
          cancel_url: form.get("cancel_url"),
        };
        sessions.set(id, json);
      } else if (req.url === "/v1/transfers") {
        if (form.get("destination") === "acct_fail") {
          status = 400;
          json = { error: { type: "invalid_request_error", message: "No such destination: 'acct_fail'" } };
        } else {
          json = { id: token("tr"), object: "transfer", amount: Number(form.get("amount")), currency: form.get("currency"), destination: form.get("destination"), transfer_group: form.get("transfer_group") };
          transfers.push(json);
        }
      } else {
        return error(res, 404, `Unrecognized request URL (POST: ${req.url})`);
      }
      if (key) byKey.set(key, { status, json });
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(json));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sessions,
    transfers,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** A Stripe event object (`evt_…`) around `object`. */
export function stripeEvent(type, object, id = token("evt")) {
  return {
    id,
    object: "event",
    api_version: "2024-06-20",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type,
    data: { object },
  };
}

/** The Stripe-Signature header the official library makes for `payload`. */
export function signatureHeader(payload, secret, timestamp = Math.floor(Date.now() / 1000)) {
  return stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}
