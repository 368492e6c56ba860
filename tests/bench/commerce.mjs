// Commerce benchmarks inside local workerd: cart → order latency, checkout (against the
// loopback Stripe stand-in), and the signed "paid" webhook that fulfils an order (ledger sale,
// licence, events in one D1 batch). Prints `bench <name>: <value> <unit>` lines.
import { startApp, signup } from "../harness.mjs";
import { SECRET_KEY, signatureHeader, startStripe, stripeEvent } from "../support/commerce-stripe.mjs";

const SAMPLES = 30;
const SECRET = "whsec_bench";

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function timed(fn) {
  const start = process.hrtime.bigint();
  const result = await fn();
  return [Number(process.hrtime.bigint() - start) / 1e6, result];
}

const stripe = await startStripe();
const app = await startApp({
  vars: { STRIPE_API_BASE: stripe.url, STRIPE_SECRET_KEY: SECRET_KEY, STRIPE_WEBHOOK_SECRET: SECRET, LICENCE_KEY_SECRET: "bench" },
});
try {
  const seller = await signup(app, "bench-seller");
  const orgId = seller.org.id;
  const product = (await seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "template", title: "Bench", status: "active" })).body.product;
  const price = (await seller.client.post(`/v1/products/${product.id}/prices`, { type: "one_time", currency: "USD", unit_amount: 5000 })).body.price;
  const collaborator = await signup(app, "bench-collab");
  await seller.client.request("PUT", `/v1/products/${product.id}/revenue-share`, { platform_bps: 1000, creator_bps: 6000, collaborators: [{ user_id: collaborator.user.id, bps: 3000 }] });
  await seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "BENCH", percent_off_bps: 1000 });
  const buyer = await signup(app, "bench-buyer");

  const orders = [];
  const checkouts = [];
  const webhooks = [];
  for (let i = 0; i < SAMPLES; i++) {
    const [orderMs, created] = await timed(() => buyer.client.post("/v1/orders", { items: [{ price_id: price.id }], discount_codes: ["BENCH"] }));
    if (created.status !== 201) throw new Error(`order: ${created.status} ${created.text}`);
    const [checkoutMs, opened] = await timed(() => buyer.client.post(`/v1/orders/${created.body.order.id}/checkout`));
    if (opened.status !== 200) throw new Error(`checkout: ${opened.status} ${opened.text}`);
    const session = stripe.sessions.get(opened.body.session_id);
    const payload = JSON.stringify(stripeEvent("checkout.session.completed", { ...session, payment_status: "paid", status: "complete" }));
    const [webhookMs, res] = await timed(() =>
      app.fetch("/v1/webhooks/stripe", { method: "POST", headers: { "content-type": "application/json", "stripe-signature": signatureHeader(payload, SECRET) }, body: payload }).then((r) => r.json()),
    );
    if (res.outcome !== "fulfilled") throw new Error(`webhook: ${JSON.stringify(res)}`);
    orders.push(orderMs);
    checkouts.push(checkoutMs);
    webhooks.push(webhookMs);
    if ((i + 1) % 10 === 0) process.stderr.write(`commerce samples ${i + 1}/${SAMPLES}\n`);
  }
  console.log(`bench commerce_order_create_p50_ms: ${percentile(orders, 0.5).toFixed(1)} ms`);
  console.log(`bench commerce_checkout_p50_ms: ${percentile(checkouts, 0.5).toFixed(1)} ms`);
  console.log(`bench commerce_webhook_fulfil_p50_ms: ${percentile(webhooks, 0.5).toFixed(1)} ms`);
  console.log(`bench commerce_webhook_fulfil_p95_ms: ${percentile(webhooks, 0.95).toFixed(1)} ms`);
} finally {
  await app.dispose();
  await stripe.close();
}
