// Monetization & commerce through the real Worker in local workerd (D1, cron): catalog, cart →
// order → Stripe checkout → signed webhook → licence, the double-entry ledger with revenue
// shares and affiliate commissions, refunds, disputes, payouts, and refused input.
// Stripe is an external service: a loopback server speaking its REST endpoints stands in for it
// (tests/support/commerce-stripe.mjs), and webhook payloads are signed with the official
// `stripe` library.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import { Client, GOOD_PASSWORD, expectError, signup, startApp } from "./harness.mjs";
import { NoChange, snapshot, withoutTouches } from "./identity-support.mjs";
import { SECRET_KEY, signatureHeader, startStripe, stripeEvent } from "./support/commerce-stripe.mjs";

const OLD_SECRET = "whsec_rotated_out_but_still_accepted";
const SECRET = "whsec_current_endpoint_secret";
const HOLD_SECONDS = 6;
const OPS_TOKEN = "ops-token-for-tests";
const ADMIN_EMAIL = `commerce.admin.${Date.now().toString(36)}@example.com`;

let app;
let stripe;
before(async () => {
  stripe = await startStripe();
  app = await startApp({
    vars: {
      STRIPE_API_BASE: stripe.url,
      STRIPE_SECRET_KEY: SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: `${OLD_SECRET},${SECRET}`,
      LICENCE_KEY_SECRET: "licence-key-secret-for-tests",
      STRIPE_FEE_BPS: "290",
      STRIPE_FEE_FIXED: "30",
      PLATFORM_FEE_BPS: "1000",
      PAYOUT_HOLD_SECONDS: String(HOLD_SECONDS),
      PAYOUT_MINIMUM: "500",
      OPS_TOKEN,
      PENDING_ORDER_TTL_SECONDS: "5",
      PLATFORM_ADMIN_EMAILS: ADMIN_EMAIL,
    },
  });
});
after(async () => {
  await app?.dispose();
  await stripe?.close();
});

/** Posts a Stripe event, signed as Stripe would (or as told). */
async function deliver(event, { secret = SECRET, timestamp, payload, header } = {}) {
  const body = payload ?? JSON.stringify(event);
  const signature = header ?? signatureHeader(body, secret, timestamp);
  const res = await app.fetch("/v1/webhooks/stripe", {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": signature },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function ok(res, status = 200) {
  assert.equal(res.status, status, res.text);
  return res.body;
}

/** Signs up `email` (e.g. a platform admin named in PLATFORM_ADMIN_EMAILS); returns its client. */
async function signupAs(email) {
  const res = await new Client(app).post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: "Reviewer" });
  assert.equal(res.status, 201, res.text);
  return new Client(app, { token: res.body.session.token });
}

/** A seller with an active template product priced at `amount` USD cents. */
async function sellerWithTemplate(label, amount = 5000) {
  const seller = await signup(app, label);
  const orgId = seller.org.id;
  const project = await ok(await seller.client.post(`/v1/orgs/${orgId}/projects`, { name: "Intro template", width: 320, height: 180, fps: 30 }), 201);
  const created = await ok(
    await seller.client.post(`/v1/orgs/${orgId}/products`, {
      kind: "template",
      title: "Intro template",
      description: "A punchy intro",
      subject_type: "project",
      subject_id: project.project.id,
      status: "active",
    }),
    201,
  );
  const price = await ok(
    await seller.client.post(`/v1/products/${created.product.id}/prices`, { type: "one_time", currency: "USD", unit_amount: amount }),
    201,
  );
  return { seller, orgId, product: created.product, price: price.price, project: project.project };
}

async function balance(client, path, currency = "USD") {
  const body = await ok(await client.get(path));
  return body.balances.find((b) => b.currency === currency) ?? { balance: 0, available: 0, pending: 0 };
}

async function partyBalance(type, id) {
  const [row] = await app.query("SELECT COALESCE(SUM(amount), 0) AS total FROM ledger_entries WHERE party_type = ? AND party_id = ?", type, id);
  return row.total;
}

async function unbalancedTransactions() {
  return app.query("SELECT txn_id, SUM(amount) AS total FROM ledger_entries GROUP BY txn_id HAVING SUM(amount) != 0");
}

/** Opens a checkout for an order and returns the stand-in's session. */
async function checkout(client, orderId) {
  const body = await ok(await client.post(`/v1/orders/${orderId}/checkout`, { success_url: "https://example.com/thanks" }));
  assert.match(body.session_id, /^cs_test_/);
  return stripe.sessions.get(body.session_id);
}

/** A snapshot without the webhook log and the authentication touch columns. */
function withoutEvents(state) {
  const { stripe_events: _, ...rest } = withoutTouches(state);
  return rest;
}

function paidSession(session) {
  return { ...session, status: "complete", payment_status: "paid" };
}

test("purchase with a discount code and an affiliate: signed webhook → licence → fork of the template; exact ledger; refunds reverse it", async () => {
  const { seller, orgId, product, price, project } = await sellerWithTemplate("creator");
  const collaborator = await signup(app, "collaborator");
  const affiliate = await signup(app, "affiliate");
  const buyer = await signup(app, "buyer");

  // Revenue share: platform 10 %, creator 60 %, collaborator 30 %.
  await ok(
    await seller.client.request("PUT", `/v1/products/${product.id}/revenue-share`, {
      platform_bps: 1000,
      creator_bps: 6000,
      collaborators: [{ user_id: collaborator.user.id, bps: 3000 }],
    }),
  );
  await ok(
    await seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "launch20", percent_off_bps: 2000, max_per_buyer: 1, max_redemptions: 100 }),
    201,
  );

  // The affiliate asks to join, the seller approves at 10 %; the buyer follows the link.
  const joined = await ok(await affiliate.client.post(`/v1/orgs/${orgId}/affiliates`, {}), 201);
  assert.equal(joined.affiliate.status, "pending");
  const code = joined.affiliate.code;
  expectError(assert, await buyer.client.post(`/v1/affiliate-links/${code}/click`), 404, "not_found");
  await ok(await seller.client.post(`/v1/affiliates/${joined.affiliate.id}/approve`, { commission_bps: 1000 }));
  const click = await ok(await buyer.client.post(`/v1/affiliate-links/${code}/click`), 201);
  assert.match(click.click_id, /^clk_/);

  // Cart → order: 5000 − 20 % = 4000, attributed to the affiliate.
  const created = await ok(
    await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }], discount_codes: ["LAUNCH20"] }),
    201,
  );
  const order = created.order;
  assert.equal(order.status, "pending");
  assert.deepEqual([order.subtotal, order.discount_total, order.total], [5000, 1000, 4000]);
  assert.equal(order.affiliate_id, joined.affiliate.id);
  assert.equal(order.lines[0].unit_amount, 5000);

  // Checkout goes to Stripe once, with the secret key and an idempotency key.
  const session = await checkout(buyer.client, order.id);
  const again = await ok(await buyer.client.post(`/v1/orders/${order.id}/checkout`));
  assert.equal(again.session_id, session.id, "a second checkout reuses the session");
  const calls = stripe.requests.filter((r) => r.path === "/v1/checkout/sessions" && r.form.get("client_reference_id") === order.id);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].headers["idempotency-key"], `checkout_${order.id}`);
  assert.equal(calls[0].form.get("line_items[0][price_data][unit_amount]"), "4000");
  assert.equal(session.amount_total, 4000);

  // Events that carry no obligation, before the payment, change nothing that matters.
  const early = await deliver(stripeEvent("payment_intent.created", { id: session.payment_intent, object: "payment_intent", amount: 4000 }), { secret: OLD_SECRET });
  assert.equal(early.status, 200, early.text);
  assert.equal(early.body.outcome, "ignored");

  // The signed "paid" webhook fulfils: licence, ledger, events.
  const paid = stripeEvent("checkout.session.completed", paidSession(session));
  const first = await deliver(paid);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.outcome, "fulfilled");

  const view = await ok(await buyer.client.get(`/v1/orders/${order.id}`));
  assert.equal(view.order.status, "fulfilled");
  assert.equal(view.order.licences.length, 1);
  const [licence] = await app.query("SELECT * FROM licences WHERE order_id = ?", order.id);
  assert.equal(licence.type, "one_time");
  assert.equal(licence.status, "active");
  assert.equal(licence.holder_user_id, buyer.user.id);
  assert.equal(licence.product_id, product.id);
  assert.equal(licence.seller_org_id, orgId);
  assert.match(licence.key_hash, /^[0-9a-f]{64}$/);

  // The key is shown once, and only its hash is stored.
  const revealed = await ok(await buyer.client.post(`/v1/licences/${licence.id}/reveal-key`));
  assert.match(revealed.key, /^cos_lic_/);
  assert.equal(createHash("sha256").update(revealed.key).digest("hex"), licence.key_hash);
  assert.equal(revealed.key.slice(0, 12), licence.key_prefix);
  expectError(assert, await buyer.client.post(`/v1/licences/${licence.id}/reveal-key`), 409, "key_already_revealed");
  expectError(assert, await affiliate.client.post(`/v1/licences/${licence.id}/reveal-key`), 404, "not_found");
  const dump = JSON.stringify(await snapshot(app));
  assert.ok(!dump.includes(revealed.key), "the licence key is stored nowhere in D1");

  // The template on the marketplace: listed, reviewed, published; the buyer's licence forks it
  // into a project of the buyer's own org, carrying the seller's timeline.
  const trackId = "trk_01JD0000000000000000000901";
  const clipId = "clp_01JD0000000000000000000902";
  await ok(
    await seller.client.post(`/v1/projects/${project.id}/commands`, {
      commands: [
        { type: "add_track", track: { id: trackId, kind: "video" } },
        { type: "add_clip", track_id: trackId, clip: { id: clipId, start: 0, duration: 30, source: { type: "solid", color: { r: 200, g: 30, b: 30, a: 255 } } } },
      ],
    }),
  );
  const reviewer = await signupAs(ADMIN_EMAIL);
  const listing = (await ok(await seller.client.post(`/v1/orgs/${orgId}/listings`, { product_id: product.id, title: "Intro template", category: "intros" }), 201)).listing;
  await ok(await seller.client.post(`/v1/listings/${listing.id}/submit`));
  assert.equal((await ok(await reviewer.post(`/v1/admin/market/listings/${listing.id}/approve`))).listing.status, "published");
  const useTemplate = (who) => who.client.post(`/v1/market/listings/${listing.id}/use`, { org_id: who.org.id, name: "My intro" });
  expectError(assert, await useTemplate(affiliate), 402, "licence_required");
  const used = await ok(await useTemplate(buyer), 201);
  assert.equal(used.project.org_id, buyer.org.id);
  const forked = await ok(await buyer.client.get(`/v1/projects/${used.project.id}`));
  const template = await ok(await seller.client.get(`/v1/projects/${project.id}`));
  assert.deepEqual(forked.timeline.tracks, template.timeline.tracks, "the fork carries the template's timeline");
  assert.equal(forked.timeline.tracks[0].clips[0].id, clipId);

  // Ledger: 4000 paid; fee 2.9 % + 30 = 146; affiliate 10 % of 3854 = 385; the 3469 left
  // splits 10/60/30 → 346.9/2081.4/1040.7 → 347/2081/1041 (largest remainder).
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 2081);
  assert.equal((await balance(collaborator.client, "/v1/me/balances")).balance, 1041);
  assert.equal((await balance(affiliate.client, "/v1/me/balances")).balance, 385);
  assert.equal(await partyBalance("platform", "platform"), 347);
  assert.equal(await partyBalance("processor", "stripe"), -3854);
  assert.deepEqual(await unbalancedTransactions(), []);
  const ledger = await ok(await seller.client.get(`/v1/orgs/${orgId}/ledger`));
  assert.deepEqual(ledger.items.map((e) => [e.kind, e.amount]), [["revenue_share", 2081]]);

  // The events the automation engine triggers on.
  const names = (await app.query("SELECT name FROM events WHERE org_id = ? ORDER BY at, id", orgId)).map((e) => e.name);
  for (const name of ["product.create", "price.create", "discount.create", "affiliate.approved", "order.create", "order.checkout", "order.paid", "licence.granted"]) {
    assert.ok(names.includes(name), `${name} in the event stream: ${names}`);
  }
  const audit = await app.query("SELECT actor_type, actor_id FROM audit_log WHERE action = 'order.paid' AND target_id = ?", order.id);
  assert.deepEqual(audit, [{ actor_type: "system", actor_id: "stripe" }]);

  // Replayed, duplicated and reordered deliveries: no double effect.
  const noChange = new NoChange(app);
  await noChange.around("replay", false, async () => {
    const replay = await deliver(paid);
    assert.equal(replay.status, 200, replay.text);
    assert.match(replay.body.outcome, /^duplicate/);
  });
  const resent = stripeEvent("checkout.session.async_payment_succeeded", paidSession(session));
  const duplicate = await deliver(resent);
  assert.equal(duplicate.body.outcome, "already_fulfilled");
  const late = await deliver(stripeEvent("checkout.session.expired", { ...session, status: "expired" }));
  assert.equal(late.body.outcome, "no_change");
  assert.equal((await app.query("SELECT COUNT(*) AS n FROM licences WHERE order_id = ?", order.id))[0].n, 1);
  assert.equal((await app.query("SELECT COUNT(*) AS n FROM ledger_transactions WHERE order_id = ?", order.id))[0].n, 1);
  assert.equal((await buyer.client.get(`/v1/orders/${order.id}`)).body.order.status, "fulfilled");

  // Tampered (one byte), wrong secret, stale (301 s) and unsigned: 400 and nothing changes.
  const refund = stripeEvent("charge.refunded", { id: "ch_test_1", object: "charge", payment_intent: session.payment_intent, amount: 4000, amount_refunded: 1000, currency: "usd" });
  const payload = JSON.stringify(refund);
  noChange.reset();
  await noChange.around("tampered", false, async () => {
    const header = signatureHeader(payload, SECRET);
    const tampered = payload.replace('"amount_refunded":1000', '"amount_refunded":4000');
    expectError(assert, await deliver(null, { payload: tampered, header }), 400, "invalid_signature");
    const oneByte = payload.slice(0, -1) + " ";
    expectError(assert, await deliver(null, { payload: oneByte, header }), 400, "invalid_signature");
  });
  await noChange.around("wrong secret", false, async () => {
    expectError(assert, await deliver(refund, { secret: "whsec_not_ours" }), 400, "invalid_signature");
  });
  await noChange.around("stale", false, async () => {
    const stale = Math.floor(Date.now() / 1000) - 301;
    expectError(assert, await deliver(refund, { timestamp: stale }), 400, "invalid_signature");
  });
  await noChange.around("unsigned", false, async () => {
    const res = await app.fetch("/v1/webhooks/stripe", { method: "POST", headers: { "content-type": "application/json" }, body: payload });
    assert.equal(res.status, 400);
  });

  // A partial refund reverses every share in proportion: 1000 of 4000 claws back
  // 36.5/96.25/86.75/520.25/260.25 of fee/affiliate/platform/creator/collaborator → 37/96/87/520/260.
  const partial = await deliver(refund, { timestamp: Math.floor(Date.now() / 1000) - 299 });
  assert.equal(partial.status, 200, partial.text);
  assert.equal(partial.body.outcome, "partially_refunded");
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 2081 - 520);
  assert.equal((await balance(collaborator.client, "/v1/me/balances")).balance, 1041 - 260);
  assert.equal((await balance(affiliate.client, "/v1/me/balances")).balance, 385 - 96);
  assert.equal(await partyBalance("platform", "platform"), 347 - 87);
  const halfway = await ok(await buyer.client.get(`/v1/orders/${order.id}`));
  assert.equal(halfway.order.status, "partially_refunded");
  assert.equal(halfway.order.refunded_total, 1000);
  assert.equal(halfway.order.licences[0].status, "active", "a partial refund keeps the licence");

  // The full refund: everyone is back at zero, the affiliate earns nothing, the licence is revoked.
  const full = stripeEvent("charge.refunded", { id: "ch_test_1", object: "charge", payment_intent: session.payment_intent, amount: 4000, amount_refunded: 4000, currency: "usd" });
  assert.equal((await deliver(full)).body.outcome, "refunded");
  for (const [type, id] of [["org", orgId], ["user", collaborator.user.id], ["user", affiliate.user.id], ["platform", "platform"], ["processor", "stripe"]]) {
    assert.equal(await partyBalance(type, id), 0, `${type} ${id} after the full refund`);
  }
  assert.deepEqual(await unbalancedTransactions(), []);
  const [revoked] = await app.query("SELECT status, revoked_reason FROM licences WHERE id = ?", licence.id);
  assert.deepEqual(revoked, { status: "revoked", revoked_reason: "refunded" });
  expectError(assert, await useTemplate(buyer), 403, "licence_revoked");
  const refundEvents = await app.query("SELECT name FROM events WHERE org_id = ? AND name IN ('refund.created', 'licence.revoked')", orgId);
  assert.equal(refundEvents.length, 3);

  // An older refund figure delivered late (a new event id) does nothing but record the event.
  const beforeLate = await snapshot(app);
  const older = stripeEvent("charge.refunded", { ...refund.data.object });
  const res = await deliver(older);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.outcome, "no_change");
  const afterLate = await snapshot(app);
  assert.equal(afterLate.stripe_events.length, beforeLate.stripe_events.length + 1);
  assert.deepEqual(withoutEvents(afterLate), withoutEvents(beforeLate));
});

/** Buys `priceId` as `buyer` through checkout and the signed webhook; returns the order and session. */
async function buy(buyer, items, extra = {}) {
  const created = await ok(await buyer.client.post("/v1/orders", { items, ...extra }), 201);
  const session = await checkout(buyer.client, created.order.id);
  const res = await deliver(stripeEvent("checkout.session.completed", paidSession(session)));
  assert.equal(res.body?.outcome, "fulfilled", res.text);
  return { order: (await ok(await buyer.client.get(`/v1/orders/${created.order.id}`))).order, session };
}

test("bad input, discount abuse and other tenants are refused and change nothing", async () => {
  const { seller, orgId, product, price } = await sellerWithTemplate("seller-bad");
  const other = await sellerWithTemplate("seller-other");
  const buyer = await signup(app, "buyer-bad");
  const rival = await signup(app, "buyer-rival");
  const outsider = await signup(app, "outsider");
  const noChange = new NoChange(app);
  const refused = async (label, res, status, code) => noChange.around(label, false, async () => expectError(assert, await res(), status, code));

  // Catalog input.
  await refused("negative price", () => seller.client.post(`/v1/products/${product.id}/prices`, { type: "one_time", currency: "USD", unit_amount: -1 }), 422, "invalid_amount");
  await refused("unknown currency", () => seller.client.post(`/v1/products/${product.id}/prices`, { type: "one_time", currency: "XYZ", unit_amount: 100 }), 422, "unknown_currency");
  await refused("recurring without interval", () => seller.client.post(`/v1/products/${product.id}/prices`, { type: "recurring", currency: "EUR", unit_amount: 100 }), 422, "invalid_interval");
  await refused("fractional amount", () => seller.client.post(`/v1/products/${product.id}/prices`, { type: "one_time", currency: "USD", unit_amount: 1.5 }), 422, "invalid_request");
  await refused("unknown kind", () => seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "nft", title: "x" }), 422, "invalid_kind");
  await refused("malformed JSON", () => seller.client.post(`/v1/orgs/${orgId}/products`, "{\"kind\":"), 400, "malformed_json");
  await refused("unknown field", () => seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "template", title: "x", price: 5 }), 422, "invalid_request");
  await refused("someone else's project as subject", () => seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "template", title: "x", subject_type: "project", subject_id: other.project.id }), 422, "invalid_subject");
  await refused("over 100 %", () => seller.client.request("PUT", `/v1/products/${product.id}/revenue-share`, { platform_bps: 1000, creator_bps: 8000, collaborators: [{ user_id: buyer.user.id, bps: 2000 }] }), 422, "shares_not_whole");
  await refused("under 100 %", () => seller.client.request("PUT", `/v1/products/${product.id}/revenue-share`, { platform_bps: 1000, creator_bps: 8000 }), 422, "shares_not_whole");
  await refused("unknown collaborator", () => seller.client.request("PUT", `/v1/products/${product.id}/revenue-share`, { platform_bps: 1000, creator_bps: 6000, collaborators: [{ user_id: "usr_01JD0000000000000000000000", bps: 3000 }] }), 422, "unknown_collaborator");
  await refused("percent and amount", () => seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "BOTH", percent_off_bps: 100, amount_off: 100, currency: "USD" }), 422, "invalid_discount");
  await refused("percent over 100", () => seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "MORE", percent_off_bps: 10001 }), 422, "invalid_discount");
  await refused("fixed in unknown currency", () => seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "FIXED", amount_off: 100, currency: "ABC" }), 422, "unknown_currency");
  await refused("ends before it starts", () => seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "BACK", percent_off_bps: 100, starts_at: "2030-01-02T00:00:00Z", ends_at: "2030-01-01T00:00:00Z" }), 422, "invalid_time");

  // Discount abuse.
  const past = (ms) => new Date(Date.now() - ms).toISOString();
  const future = (ms) => new Date(Date.now() + ms).toISOString();
  for (const body of [
    { code: "EXPIRED", percent_off_bps: 5000, starts_at: past(86_400_000), ends_at: past(1000) },
    { code: "LATER", percent_off_bps: 5000, starts_at: future(86_400_000) },
    { code: "OTHERPRODUCT", percent_off_bps: 5000, product_ids: [(await ok(await seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "effect_preset", title: "Glow" }), 201)).product.id] },
    { code: "ONCE", percent_off_bps: 1000, max_per_buyer: 1 },
    { code: "SINGLE", amount_off: 500, currency: "USD", max_redemptions: 1 },
    { code: "EUROS", amount_off: 500, currency: "EUR" },
  ]) {
    await ok(await seller.client.post(`/v1/orgs/${orgId}/discounts`, body), 201);
  }
  expectError(assert, await seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "once", percent_off_bps: 100 }), 409, "discount_code_taken");
  noChange.reset();
  const order = (codes, client = buyer.client, items = [{ price_id: price.id }]) => () => client.post("/v1/orders", { items, discount_codes: codes });
  await refused("expired code", order(["EXPIRED"]), 422, "discount_expired");
  await refused("code not started", order(["LATER"]), 422, "discount_not_started");
  await refused("code for another product", order(["OTHERPRODUCT"]), 422, "discount_not_applicable");
  await refused("code in another currency", order(["EUROS"]), 422, "discount_currency_mismatch");
  await refused("stacked codes", order(["ONCE", "SINGLE"]), 422, "discount_not_stackable");
  await refused("unknown code", order(["NOPE"]), 422, "invalid_discount_code");
  await refused("another seller's code", order(["ONCE"], buyer.client, [{ price_id: other.price.id }]), 422, "invalid_discount_code");

  const first = await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }], discount_codes: ["ONCE"] }), 201);
  assert.equal(first.order.total, 4500);
  await ok(await rival.client.post("/v1/orders", { items: [{ price_id: price.id }], discount_codes: ["SINGLE"] }), 201);
  noChange.reset();
  await refused("per-buyer limit", order(["ONCE"]), 422, "discount_limit_reached");
  await refused("total limit", order(["SINGLE"]), 422, "discount_exhausted");
  // Cancelling the unpaid order gives the redemption back.
  await ok(await buyer.client.post(`/v1/orders/${first.order.id}/cancel`));
  await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }], discount_codes: ["ONCE"] }), 201);
  noChange.reset();

  // Carts.
  await refused("empty cart", () => buyer.client.post("/v1/orders", { items: [] }), 422, "invalid_cart");
  await refused("two sellers", () => buyer.client.post("/v1/orders", { items: [{ price_id: price.id }, { price_id: other.price.id }] }), 422, "mixed_sellers");
  await refused("zero quantity", () => buyer.client.post("/v1/orders", { items: [{ price_id: price.id, quantity: 0 }] }), 422, "invalid_quantity");
  await refused("unknown price", () => buyer.client.post("/v1/orders", { items: [{ price_id: "pri_01JD0000000000000000000000" }] }), 422, "price_unavailable");
  const draft = (await ok(await seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "template", title: "Draft" }), 201)).product;
  const draftPrice = (await ok(await seller.client.post(`/v1/products/${draft.id}/prices`, { type: "one_time", currency: "USD", unit_amount: 100 }), 201)).price;
  noChange.reset();
  await refused("price of a draft product", () => buyer.client.post("/v1/orders", { items: [{ price_id: draftPrice.id }] }), 422, "price_unavailable");

  // Other tenants: 404, never 403.
  const pending = (await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }] }), 201)).order;
  noChange.reset();
  await refused("list another org's products", () => outsider.client.get(`/v1/orgs/${orgId}/products`), 404, "not_found");
  await refused("read a draft product", () => outsider.client.get(`/v1/products/${draft.id}`), 404, "not_found");
  await refused("edit another org's product", () => outsider.client.patch(`/v1/products/${product.id}`, { title: "Mine now" }), 404, "not_found");
  await refused("price another org's product", () => outsider.client.post(`/v1/products/${product.id}/prices`, { type: "one_time", currency: "USD", unit_amount: 1 }), 404, "not_found");
  await refused("split another org's product", () => outsider.client.request("PUT", `/v1/products/${product.id}/revenue-share`, { platform_bps: 0, creator_bps: 10000 }), 404, "not_found");
  await refused("another org's balances", () => outsider.client.get(`/v1/orgs/${orgId}/balances`), 404, "not_found");
  await refused("another org's ledger", () => outsider.client.get(`/v1/orgs/${orgId}/ledger`), 404, "not_found");
  await refused("another org's discounts", () => outsider.client.get(`/v1/orgs/${orgId}/discounts`), 404, "not_found");
  await refused("another org's sales", () => outsider.client.get(`/v1/orgs/${orgId}/orders`), 404, "not_found");
  await refused("someone else's order", () => outsider.client.get(`/v1/orders/${pending.id}`), 404, "not_found");
  await refused("check out someone else's order", () => outsider.client.post(`/v1/orders/${pending.id}/checkout`), 404, "not_found");
  await refused("another seller's view of an order", () => other.seller.client.get(`/v1/orders/${pending.id}`), 404, "not_found");
  // The active product itself is on sale: any signed-in user can read it and its prices.
  const visible = await ok(await outsider.client.get(`/v1/products/${product.id}`));
  assert.equal(visible.prices[0].id, price.id);
  // The seller sees its own sale.
  assert.equal((await ok(await seller.client.get(`/v1/orders/${pending.id}`))).order.id, pending.id);
});

test("affiliates: approval required, self-referral and departed affiliates earn nothing, last click wins", async () => {
  const { seller, orgId, price } = await sellerWithTemplate("seller-aff", 2000);
  const alice = await signup(app, "aff-alice");
  const bob = await signup(app, "aff-bob");
  const buyer = await signup(app, "buyer-aff");
  const join = async (who) => (await ok(await who.client.post(`/v1/orgs/${orgId}/affiliates`, {}), 201)).affiliate;
  const a = await join(alice);
  const b = await join(bob);
  expectError(assert, await alice.client.post(`/v1/orgs/${orgId}/affiliates`, {}), 409, "already_affiliate");
  expectError(assert, await alice.client.post(`/v1/affiliates/${a.id}/approve`, { commission_bps: 5000 }), 404, "not_found");
  expectError(assert, await seller.client.post(`/v1/affiliates/${a.id}/approve`, { commission_bps: 9000 }), 422, "invalid_commission");
  await ok(await seller.client.post(`/v1/affiliates/${a.id}/approve`, { commission_bps: 1000 }));
  await ok(await seller.client.post(`/v1/affiliates/${b.id}/approve`, { commission_bps: 2000 }));

  // Signed out click, claimed at order time; then a later signed-in click on Bob's link wins.
  const anonymous = new Client(app);
  const anonymousClick = await ok(await anonymous.post(`/v1/affiliate-links/${a.code}/click`), 201);
  await ok(await buyer.client.post(`/v1/affiliate-links/${b.code}/click`), 201);
  const lastClick = await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }], affiliate_click_id: anonymousClick.click_id }), 201);
  assert.equal(lastClick.order.affiliate_id, b.id, "the last click wins");
  await ok(await buyer.client.post(`/v1/orders/${lastClick.order.id}/cancel`));

  // Alice buying through her own link earns her nothing.
  await ok(await alice.client.post(`/v1/affiliate-links/${a.code}/click`), 201);
  const self = await buy(alice, [{ price_id: price.id }]);
  assert.equal(self.order.affiliate_id, null);
  assert.equal((await balance(alice.client, "/v1/me/balances")).balance, 0);

  // Bob leaves: his links stop working and his earlier clicks no longer attribute.
  await ok(await bob.client.post(`/v1/affiliates/${b.id}/leave`));
  expectError(assert, await buyer.client.post(`/v1/affiliate-links/${b.code}/click`), 404, "not_found");
  const afterLeave = await buy(buyer, [{ price_id: price.id }]);
  assert.equal(afterLeave.order.affiliate_id, null);
  assert.equal((await balance(bob.client, "/v1/me/balances")).balance, 0);

  // A rejected request cannot be approved later without asking again.
  const carol = await signup(app, "aff-carol");
  const c = await join(carol);
  await ok(await seller.client.post(`/v1/affiliates/${c.id}/reject`));
  expectError(assert, await seller.client.post(`/v1/affiliates/${c.id}/approve`, { commission_bps: 1000 }), 409, "invalid_affiliate_state");
  const list = await ok(await seller.client.get(`/v1/orgs/${orgId}/affiliates`));
  assert.deepEqual(list.items.map((x) => x.status).sort(), ["approved", "left", "rejected"]);

  // An affiliate for one product earns only on that product's line: an order of 2000 + 1000
  // pays a fee of 87 + 30 = 117, 78 / 39 per line; 10 % of the second line's 961 is 96.
  const dave = await signup(app, "aff-dave");
  const other = (await ok(await seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "effect_preset", title: "Grain", status: "active" }), 201)).product;
  const otherPrice = (await ok(await seller.client.post(`/v1/products/${other.id}/prices`, { type: "one_time", currency: "USD", unit_amount: 1000 }), 201)).price;
  const d = (await ok(await dave.client.post(`/v1/orgs/${orgId}/affiliates`, { product_id: other.id }), 201)).affiliate;
  assert.equal(d.product_id, other.id);
  await ok(await seller.client.post(`/v1/affiliates/${d.id}/approve`, { commission_bps: 1000 }));
  const shopper = await signup(app, "buyer-scoped");
  await ok(await shopper.client.post(`/v1/affiliate-links/${d.code}/click`), 201);
  const onlyFirst = await ok(await shopper.client.post("/v1/orders", { items: [{ price_id: price.id }] }), 201);
  assert.equal(onlyFirst.order.affiliate_id, null, "the scoped product is not in this order");
  await ok(await shopper.client.post(`/v1/orders/${onlyFirst.order.id}/cancel`));
  const both = await buy(shopper, [{ price_id: price.id }, { price_id: otherPrice.id }]);
  assert.equal(both.order.affiliate_id, d.id);
  assert.equal((await balance(dave.client, "/v1/me/balances")).balance, 96);
});

test("reordered and concurrent deliveries: a refund that overtakes its payment waits; duplicates fulfil once", async () => {
  const { seller, orgId, price } = await sellerWithTemplate("seller-order", 2000);
  const buyer = await signup(app, "buyer-order");
  const created = (await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }] }), 201)).order;
  const session = await checkout(buyer.client, created.id);
  const refund = stripeEvent("charge.refunded", { id: "ch_test_early", object: "charge", payment_intent: session.payment_intent, amount: 2000, amount_refunded: 2000, currency: "usd" });
  await new NoChange(app).around("refund before its payment", false, async () => {
    expectError(assert, await deliver(refund), 409, "payment_not_known_yet");
  });

  // Two events completing the same session at once: one fulfilment.
  const [a, b] = await Promise.all([
    deliver(stripeEvent("checkout.session.completed", paidSession(session))),
    deliver(stripeEvent("checkout.session.async_payment_succeeded", paidSession(session))),
  ]);
  assert.deepEqual([a.body.outcome, b.body.outcome].sort(), ["already_fulfilled", "fulfilled"]);
  assert.equal((await app.query("SELECT COUNT(*) AS n FROM licences WHERE order_id = ?", created.id))[0].n, 1);
  assert.equal((await app.query("SELECT COUNT(*) AS n FROM ledger_transactions WHERE order_id = ?", created.id))[0].n, 1);
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 1721);

  // Stripe delivers the refund again: now it applies.
  assert.equal((await deliver(refund)).body.outcome, "refunded");
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 0);
  const [licence] = await app.query("SELECT status FROM licences WHERE order_id = ?", created.id);
  assert.equal(licence.status, "revoked");

  // Two buyers racing for a one-use code: exactly one gets it.
  await ok(await seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "ONEUSE", amount_off: 500, currency: "USD", max_redemptions: 1 }), 201);
  const racer = await signup(app, "buyer-race");
  const results = await Promise.all([buyer, racer].map((who) => who.client.post("/v1/orders", { items: [{ price_id: price.id }], discount_codes: ["ONEUSE"] })));
  assert.deepEqual(results.map((r) => r.status).sort(), [201, 422]);
  assert.equal(results.find((r) => r.status === 422).body.error.code, "discount_exhausted");
  assert.equal((await app.query("SELECT COUNT(*) AS n FROM discount_redemptions r JOIN discounts d ON d.id = r.discount_id WHERE d.code = 'ONEUSE' AND d.org_id = ?", orgId))[0].n, 1);
});

test("bundles, subscriptions and usage prices grant the right licences", async () => {
  const { seller, orgId, price } = await sellerWithTemplate("seller-kinds", 3000);
  const buyer = await signup(app, "buyer-kinds");
  const preset = (await ok(await seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "effect_preset", title: "Glow", status: "active" }), 201)).product;
  const presetPrice = (await ok(await seller.client.post(`/v1/products/${preset.id}/prices`, { type: "one_time", currency: "USD", unit_amount: 1000 }), 201)).price;
  const bundle = (await ok(await seller.client.post(`/v1/orgs/${orgId}/bundles`, { title: "Starter pack", price_ids: [price.id, presetPrice.id], amount: 3000 }), 201)).bundle;
  await ok(await seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "ALL10", percent_off_bps: 1000 }), 201);
  expectError(assert, await buyer.client.post("/v1/orders", { items: [{ bundle_id: bundle.id }], discount_codes: ["ALL10"] }), 422, "discount_not_applicable");
  const bought = await buy(buyer, [{ bundle_id: bundle.id }]);
  // 3000 shared in proportion 3000:1000 → 2250 / 750.
  assert.deepEqual(bought.order.lines.map((l) => [l.product_id, l.amount, l.bundle_id]), [[price.product_id, 2250, bundle.id], [preset.id, 750, bundle.id]]);
  assert.deepEqual(bought.order.licences.map((l) => [l.type, l.status]), [["one_time", "active"], ["one_time", "active"]]);

  const membership = (await ok(await seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "membership", title: "Monthly", status: "active" }), 201)).product;
  const monthly = (await ok(await seller.client.post(`/v1/products/${membership.id}/prices`, { type: "recurring", currency: "USD", unit_amount: 900, interval: "month" }), 201)).price;
  const sub = await buy(buyer, [{ price_id: monthly.id }]);
  assert.equal(sub.session.mode, "subscription");
  const [subscription] = sub.order.licences;
  assert.equal(subscription.type, "subscription");
  const expires = Date.parse(subscription.expires_at);
  assert.ok(expires > Date.now() + 27 * 86_400_000 && expires < Date.now() + 32 * 86_400_000, subscription.expires_at);
  // A renewal invoice extends it to the new period's end.
  const periodEnd = Math.floor(Date.now() / 1000) + 61 * 86_400;
  const renewal = await deliver(stripeEvent("invoice.paid", { id: "in_test_1", object: "invoice", subscription: sub.session.subscription, billing_reason: "subscription_cycle", lines: { data: [{ period: { start: 0, end: periodEnd } }] } }));
  assert.equal(renewal.body.outcome, "renewed");
  const [renewed] = await app.query("SELECT expires_at, status FROM licences WHERE id = ?", subscription.id);
  assert.deepEqual(renewed, { expires_at: periodEnd * 1000, status: "active" });

  const agent = (await ok(await seller.client.post(`/v1/orgs/${orgId}/products`, { kind: "agent", title: "Captioner", status: "active" }), 201)).product;
  const perMinute = (await ok(await seller.client.post(`/v1/products/${agent.id}/prices`, { type: "usage", currency: "USD", unit_amount: 2, usage_unit: "render_minute" }), 201)).price;
  const metered = await buy(buyer, [{ price_id: perMinute.id, quantity: 500 }]);
  assert.equal(metered.order.total, 1000);
  assert.deepEqual([metered.order.licences[0].type, metered.order.licences[0].units_granted], ["usage", 500]);
  const mine = await ok(await buyer.client.get("/v1/me/licences"));
  assert.equal(mine.items.length, 4);

  // A renewal is a sale too: 900 − fee (26 + 30) = 844 → platform 84, seller 760.
  const sellerBefore = (await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance;
  const cycle = stripeEvent("invoice.paid", { id: "in_test_2", object: "invoice", subscription: sub.session.subscription, billing_reason: "subscription_cycle", amount_paid: 900, lines: { data: [{ period: { start: 0, end: periodEnd + 30 * 86_400 } }] } });
  assert.equal((await deliver(cycle)).body.outcome, "renewed");
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, sellerBefore + 760);
  assert.equal((await deliver(cycle)).body.outcome, "duplicate (renewed)");
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, sellerBefore + 760);

  // Nothing to pay (a 100 % code): fulfilled at checkout, without Stripe.
  await ok(await seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "FREE", percent_off_bps: 10000, product_ids: [preset.id] }), 201);
  const free = await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: presetPrice.id }], discount_codes: ["FREE"] }), 201);
  assert.equal(free.order.total, 0);
  const sessionsBefore = stripe.sessions.size;
  const freeCheckout = await ok(await buyer.client.post(`/v1/orders/${free.order.id}/checkout`));
  assert.equal(freeCheckout.checkout_url, null);
  assert.equal(freeCheckout.order.status, "fulfilled");
  assert.equal(freeCheckout.order.licences.length, 1);
  assert.equal(stripe.sessions.size, sessionsBefore);

  // Stripe refusing the session: 502, and the order is as it was.
  const refusedOrder = await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }] }), 201);
  await new NoChange(app).around("refused checkout", false, async () => {
    const res = await buyer.client.post(`/v1/orders/${refusedOrder.order.id}/checkout`, { success_url: "https://example.com/refuse" });
    expectError(assert, res, 502, "payment_provider_error");
  });
  expectError(assert, await buyer.client.post(`/v1/orders/${refusedOrder.order.id}/checkout`, { success_url: "javascript:alert(1)" }), 422, "invalid_url");
});

test("disputes hold the shares back; won restores them, lost revokes the licence", async () => {
  const { seller, orgId, price } = await sellerWithTemplate("seller-dispute", 2000);
  const buyer = await signup(app, "buyer-dispute");
  // 2000: fee 58 + 30 = 88; 1912 left; platform 10 % → 191.2 → 191, seller 1720.8 → 1721.
  const won = await buy(buyer, [{ price_id: price.id }]);
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 1721);
  const dispute = (status) => ({ id: "dp_test_won", object: "dispute", payment_intent: won.session.payment_intent, amount: 2000, status });
  assert.equal((await deliver(stripeEvent("charge.dispute.created", dispute("needs_response")))).body.outcome, "disputed");
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 0);
  assert.equal((await deliver(stripeEvent("charge.dispute.created", dispute("needs_response")))).body.outcome, "no_change");
  assert.equal((await deliver(stripeEvent("charge.dispute.closed", dispute("won")))).body.outcome, "dispute_won");
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 1721);
  assert.equal((await ok(await buyer.client.get(`/v1/orders/${won.order.id}`))).order.status, "fulfilled");

  const lost = await buy(buyer, [{ price_id: price.id }]);
  const lostDispute = (status) => ({ id: "dp_test_lost", object: "dispute", payment_intent: lost.session.payment_intent, amount: 2000, status });
  await deliver(stripeEvent("charge.dispute.created", lostDispute("needs_response")));
  assert.equal((await deliver(stripeEvent("charge.dispute.closed", lostDispute("lost")))).body.outcome, "dispute_lost");
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 1721, "only the won order's share is left");
  const [licence] = await app.query("SELECT status, revoked_reason FROM licences WHERE order_id = ?", lost.order.id);
  assert.deepEqual(licence, { status: "revoked", revoked_reason: "dispute_lost" });
  assert.deepEqual(await unbalancedTransactions(), []);
  const names = (await app.query("SELECT name FROM events WHERE org_id = ? AND name LIKE 'dispute.%'", orgId)).map((e) => e.name).sort();
  assert.deepEqual(names, ["dispute.closed", "dispute.closed", "dispute.created", "dispute.created"]);
});

test("payouts: the cron pays balances past the holding period; a refused transfer is reversed", async () => {
  const { seller, orgId, product, price } = await sellerWithTemplate("seller-payout", 10000);
  const collaborator = await signup(app, "collab-payout");
  const buyer = await signup(app, "buyer-payout");
  await ok(await seller.client.request("PUT", `/v1/products/${product.id}/revenue-share`, { platform_bps: 1000, creator_bps: 6000, collaborators: [{ user_id: collaborator.user.id, bps: 3000 }] }));
  await ok(await seller.client.request("PUT", `/v1/orgs/${orgId}/payout-account`, { provider_account: "acct_seller_ok" }));
  await ok(await collaborator.client.request("PUT", "/v1/me/payout-account", { provider_account: "acct_fail" }));
  expectError(assert, await seller.client.request("PUT", `/v1/orgs/${orgId}/payout-account`, { provider_account: "bank-123" }), 422, "invalid_account");
  // An order left unpaid past PENDING_ORDER_TTL_SECONDS expires, giving its code back.
  await ok(await seller.client.post(`/v1/orgs/${orgId}/discounts`, { code: "ABANDON", percent_off_bps: 500, max_per_buyer: 1 }), 201);
  const abandoned = (await ok(await buyer.client.post("/v1/orders", { items: [{ price_id: price.id }], discount_codes: ["ABANDON"] }), 201)).order;
  // 10000: fee 290 + 30 = 320; 9680 left → platform 968, seller 5808, collaborator 2904.
  await buy(buyer, [{ price_id: price.id }]);
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 5808);

  // The cron's payout run, through the operators' route (the harness cannot fire the cron).
  const cron = async () => ok(await new Client(app, { token: OPS_TOKEN }).post("/v1/ops/payouts/run"));
  expectError(assert, await buyer.client.post("/v1/ops/payouts/run"), 401, "unauthenticated");
  const held = await balance(seller.client, `/v1/orgs/${orgId}/balances`);
  assert.deepEqual([held.available, held.pending], [0, 5808], "inside the holding period");
  await cron();
  assert.deepEqual((await ok(await seller.client.get(`/v1/orgs/${orgId}/payouts`))).items, [], "held for the holding period");

  await new Promise((resolve) => setTimeout(resolve, (HOLD_SECONDS + 1) * 1000));
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).available, 5808);
  await cron();
  const [paid] = (await ok(await seller.client.get(`/v1/orgs/${orgId}/payouts`))).items;
  assert.equal(paid.status, "paid");
  assert.equal(paid.amount, 5808);
  assert.match(paid.provider_transfer, /^tr_test_/);
  const transfer = stripe.transfers.find((t) => t.id === paid.provider_transfer);
  assert.deepEqual([transfer.amount, transfer.currency, transfer.destination], [5808, "usd", "acct_seller_ok"]);
  const call = stripe.requests.find((r) => r.path === "/v1/transfers" && r.form.get("destination") === "acct_seller_ok");
  assert.equal(call.headers["idempotency-key"], `transfer_${paid.id}`);
  assert.equal((await balance(seller.client, `/v1/orgs/${orgId}/balances`)).balance, 0);

  assert.equal((await ok(await buyer.client.get(`/v1/orders/${abandoned.id}`))).order.status, "expired");
  const [code] = (await ok(await seller.client.get(`/v1/orgs/${orgId}/discounts`))).items;
  assert.deepEqual([code.code, code.redemptions], ["ABANDON", 0]);

  const [failed] = (await ok(await collaborator.client.get("/v1/me/payouts"))).items;
  assert.equal(failed.status, "failed");
  assert.match(failed.failure, /No such destination/);
  assert.equal((await balance(collaborator.client, "/v1/me/balances")).balance, 2904, "the failed payout is put back");
  const entries = (await ok(await collaborator.client.get("/v1/me/ledger"))).items.map((e) => [e.kind, e.amount]);
  assert.deepEqual(entries, [["payout_reversal", 2904], ["payout", -2904], ["revenue_share", 2904]]);
  assert.deepEqual(await unbalancedTransactions(), []);

  // Another run pays nothing twice, and does not retry the refused account at once.
  await cron();
  assert.equal((await ok(await seller.client.get(`/v1/orgs/${orgId}/payouts`))).items.length, 1);
  assert.equal((await ok(await collaborator.client.get("/v1/me/payouts"))).items.length, 1);
  const names = (await app.query("SELECT name FROM events WHERE name LIKE 'payout.%' ORDER BY at")).map((e) => e.name);
  for (const name of ["payout.created", "payout.paid", "payout.failed"]) assert.ok(names.includes(name), `${name}: ${names}`);
});
