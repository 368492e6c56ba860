// The marketplace through the real Worker in local workerd: listing lifecycle and review by
// platform admins, public discovery, ratings and reviews by verified buyers, licences (list,
// key verification, enforcement) and "use template" / effect presets, tenant isolation and bad
// input. Products, prices, paid orders and licences are written by tests/support/marketplace-support.mjs
// until Commerce's checkout is merged (see the note there).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, GOOD_PASSWORD, expectError, signup, startApp } from "./harness.mjs";
import { png } from "./support/png.mjs";
import { marketplaceState, mintId, seedProduct, seedPurchase } from "./support/marketplace-support.mjs";

const ADMIN_EMAIL = `market.admin.${Date.now().toString(36)}@example.com`;

let app;
let admin; // platform admin through PLATFORM_ADMIN_EMAILS
let seller; // seller org owner
let buyer;
let stranger;
before(async () => {
  app = await startApp({
    vars: { PLATFORM_ADMIN_EMAILS: ADMIN_EMAIL, LICENCE_VERIFY_BURST: "8", LICENCE_VERIFY_PER_MINUTE: "1" },
  });
  const anonymous = new Client(app);
  const res = await anonymous.post("/v1/auth/signup", { email: ADMIN_EMAIL, password: GOOD_PASSWORD, name: "Reviewer" });
  assert.equal(res.status, 201, res.text);
  admin = { ...res.body, client: new Client(app, { token: res.body.session.token }) };
  seller = await signup(app, "seller");
  buyer = await signup(app, "buyer");
  stranger = await signup(app, "stranger");
});
after(async () => { await app?.dispose(); });

const anonymous = () => new Client(app);

/** Uploads PNG bytes as an image asset of `owner`'s org. */
async function uploadImage(owner, name, bytes) {
  const res = await app.fetch(`/v1/orgs/${owner.org.id}/assets?name=${name}&kind=image`, {
    method: "POST",
    headers: { authorization: `Bearer ${owner.session.token}`, "content-type": "image/png" },
    body: bytes,
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return { status: res.status, body };
}

let idCounter = 0;
function editorId(prefix) {
  idCounter += 1;
  return `${prefix}_01JD${String(idCounter).padStart(22, "0")}`;
}

/** A seller project with one track and one solid clip: the template's timeline. */
async function templateProject(owner = seller) {
  const res = await owner.client.post(`/v1/orgs/${owner.org.id}/projects`, { name: "Intro template", width: 320, height: 180, fps: 30 });
  assert.equal(res.status, 201, res.text);
  const project = res.body.project;
  const trackId = editorId("trk");
  const clipId = editorId("clp");
  const applied = await owner.client.post(`/v1/projects/${project.id}/commands`, {
    commands: [
      { type: "add_track", track: { id: trackId, kind: "video" } },
      { type: "add_clip", track_id: trackId, clip: { id: clipId, start: 0, duration: 30, source: { type: "solid", color: { r: 200, g: 30, b: 30, a: 255 } } } },
    ],
  });
  assert.equal(applied.status, 200, applied.text);
  return { project, trackId, clipId };
}

/** A listing taken through submit and approval to published. */
async function publishedListing({ kind = "template", title = "Neon intro", category = "intros", tags = ["neon"], amount = 1500, currency = "EUR", subjectType = null, subjectId = null, summary = "" } = {}) {
  const { productId, priceId } = await seedProduct(app, {
    orgId: seller.org.id, userId: seller.user.id, kind, title, subjectType, subjectId, amount, currency,
  });
  const created = await seller.client.post(`/v1/orgs/${seller.org.id}/listings`, { product_id: productId, title, summary, category, tags });
  assert.equal(created.status, 201, created.text);
  const id = created.body.listing.id;
  assert.equal((await seller.client.post(`/v1/listings/${id}/submit`)).status, 200);
  const approved = await admin.client.post(`/v1/admin/market/listings/${id}/approve`);
  assert.equal(approved.status, 200, approved.text);
  return { listing: approved.body.listing, productId, priceId };
}

test("listing lifecycle: draft → review → rejected with reason → resubmitted → published ⇄ unlisted; edits go back to review", async () => {
  const { productId } = await seedProduct(app, { orgId: seller.org.id, userId: seller.user.id, title: "Glitch pack" });
  const created = await seller.client.post(`/v1/orgs/${seller.org.id}/listings`, {
    product_id: productId, title: "Glitch pack", summary: "Twelve glitch transitions", category: "transitions", tags: ["Glitch", "retro"],
  });
  assert.equal(created.status, 201, created.text);
  const listing = created.body.listing;
  assert.match(listing.id, /^lst_/);
  assert.equal(listing.status, "draft");
  assert.deepEqual(listing.tags, ["glitch", "retro"]);
  assert.deepEqual(listing.price, { price_id: listing.price.price_id, type: "one_time", currency: "EUR", unit_amount: 1500, interval: null });

  // One listing per product.
  expectError(assert, await seller.client.post(`/v1/orgs/${seller.org.id}/listings`, { product_id: productId, title: "Again", category: "x" }), 409, "listing_exists");
  // Drafts are invisible to the public and to discovery.
  expectError(assert, await anonymous().get(`/v1/market/listings/${listing.id}`), 404, "not_found");
  // Only drafts/rejected can be submitted; only listings in review can be decided.
  expectError(assert, await admin.client.post(`/v1/admin/market/listings/${listing.id}/approve`), 409, "invalid_transition");
  expectError(assert, await seller.client.post(`/v1/listings/${listing.id}/unlist`), 409, "invalid_transition");

  const submitted = await seller.client.post(`/v1/listings/${listing.id}/submit`);
  assert.equal(submitted.body.listing.status, "in_review");
  expectError(assert, await seller.client.patch(`/v1/listings/${listing.id}`, { title: "Changed" }), 409, "listing_in_review");
  // Reviewers are platform admins only: not the seller, not another user.
  expectError(assert, await seller.client.post(`/v1/admin/market/listings/${listing.id}/approve`), 403, "platform_admin_required");
  expectError(assert, await stranger.client.get(`/v1/admin/market/listings`), 403, "platform_admin_required");
  const queue = await admin.client.get(`/v1/admin/market/listings?status=in_review`);
  assert.ok(queue.body.items.some((item) => item.id === listing.id), "the review queue holds the listing");

  const rejected = await admin.client.post(`/v1/admin/market/listings/${listing.id}/reject`, { reason: "The cover shows a trademarked logo" });
  assert.equal(rejected.status, 200, rejected.text);
  assert.equal(rejected.body.listing.status, "rejected");
  const seen = await seller.client.get(`/v1/listings/${listing.id}`);
  assert.equal(seen.body.listing.rejection_reason, "The cover shows a trademarked logo");
  expectError(assert, await anonymous().get(`/v1/market/listings/${listing.id}`), 404);

  const edited = await seller.client.patch(`/v1/listings/${listing.id}`, { summary: "Twelve glitch transitions, no logos" });
  assert.equal(edited.body.listing.status, "rejected", "editing a rejected listing keeps it rejected until resubmitted");
  assert.equal((await seller.client.post(`/v1/listings/${listing.id}/submit`)).body.listing.status, "in_review");
  const published = await admin.client.post(`/v1/admin/market/listings/${listing.id}/approve`);
  assert.equal(published.body.listing.status, "published");
  assert.equal(published.body.listing.rejection_reason, undefined, "approval clears the reason");
  const publicView = await anonymous().get(`/v1/market/listings/${listing.id}`);
  assert.equal(publicView.status, 200, publicView.text);
  assert.equal(publicView.body.listing.summary, "Twelve glitch transitions, no logos");
  assert.equal(publicView.body.listing.rejection_reason, undefined, "the public never sees review notes");
  const firstPublished = publicView.body.listing.published_at;

  // Editing what the public sees sends it back to review and off the market.
  const live = await seller.client.patch(`/v1/listings/${listing.id}`, { title: "Glitch pack II" });
  assert.equal(live.body.listing.status, "in_review");
  expectError(assert, await anonymous().get(`/v1/market/listings/${listing.id}`), 404);
  await admin.client.post(`/v1/admin/market/listings/${listing.id}/approve`);
  const again = await anonymous().get(`/v1/market/listings/${listing.id}`);
  assert.equal(again.body.listing.title, "Glitch pack II");
  assert.equal(again.body.listing.published_at, firstPublished, "published_at is the first publication");

  assert.equal((await seller.client.post(`/v1/listings/${listing.id}/unlist`)).body.listing.status, "unlisted");
  expectError(assert, await anonymous().get(`/v1/market/listings/${listing.id}`), 404);
  const search = await anonymous().get(`/v1/market/listings?q=glitch`);
  assert.ok(!search.body.items.some((item) => item.id === listing.id), "unlisted listings leave discovery");
  assert.equal((await seller.client.post(`/v1/listings/${listing.id}/relist`)).body.listing.status, "published");
  assert.equal((await anonymous().get(`/v1/market/listings/${listing.id}`)).status, 200);

  const audit = await seller.client.get(`/v1/orgs/${seller.org.id}/audit?limit=200`);
  const actions = audit.body.items.filter((item) => item.target?.id === listing.id).map((item) => item.action);
  for (const action of ["listing.create", "listing.submit", "listing.reject", "listing.update", "listing.publish", "listing.unlist", "listing.relist"]) {
    assert.ok(actions.includes(action), `audit has ${action}: ${actions}`);
  }
  const events = await app.query("SELECT name FROM events WHERE org_id = ?1 AND name LIKE 'listing.%'", seller.org.id);
  assert.ok(events.some((e) => e.name === "listing.publish"), "analytics events are emitted");
});

test("platform admins can also be granted by a platform_admins row", async () => {
  const reviewer = await signup(app, "reviewer2");
  const { productId } = await seedProduct(app, { orgId: seller.org.id, userId: seller.user.id, title: "Row-reviewed" });
  const created = await seller.client.post(`/v1/orgs/${seller.org.id}/listings`, { product_id: productId, title: "Row-reviewed", category: "misc" });
  await seller.client.post(`/v1/listings/${created.body.listing.id}/submit`);
  expectError(assert, await reviewer.client.post(`/v1/admin/market/listings/${created.body.listing.id}/approve`), 403, "platform_admin_required");
  await app.query("INSERT INTO platform_admins (user_id, granted_at) VALUES (?1, ?2)", reviewer.user.id, Date.now());
  const approved = await reviewer.client.post(`/v1/admin/market/listings/${created.body.listing.id}/approve`);
  assert.equal(approved.status, 200, approved.text);
  assert.equal(approved.body.listing.status, "published");
});

test("discovery: anonymous full-text, category, tags, price range, sorts and cursor pagination", async () => {
  const tag = `d${Date.now().toString(36)}`; // confines the test to its own listings
  const a = await publishedListing({ title: "Aurora lower thirds", category: "titles", tags: [tag, "aurora"], amount: 900, summary: "Soft gradient name bars" });
  const b = await publishedListing({ title: "Blocky captions", category: "captions", tags: [tag], amount: 2500 });
  const c = await publishedListing({ title: "Cinematic aurora bars", category: "titles", tags: [tag, "cinema"], amount: 4900 });
  // Ratings and sales: b has two 5-star reviews and two sales, c one 3-star, a none.
  for (const [entry, ratings] of [[b, [5, 5]], [c, [3]]]) {
    for (const rating of ratings) {
      const reviewer = await signup(app, "rater");
      await seedPurchase(app, { productId: entry.productId, priceId: entry.priceId, sellerOrgId: seller.org.id, buyerUserId: reviewer.user.id, buyerOrgId: reviewer.org.id });
      const res = await reviewer.client.post(`/v1/market/listings/${entry.listing.id}/reviews`, { rating });
      assert.equal(res.status, 201, res.text);
    }
  }
  const ids = (res) => res.body.items.map((item) => item.id);
  const guest = anonymous();

  const byText = await guest.get(`/v1/market/listings?q=auro&tags=${tag}`);
  assert.equal(byText.status, 200, byText.text);
  assert.deepEqual(new Set(ids(byText)), new Set([a.listing.id, c.listing.id]), "prefix full-text over title, summary and tags");
  assert.deepEqual(ids(await guest.get(`/v1/market/listings?q=gradient&tags=${tag}`)), [a.listing.id], "summary is searched");
  assert.deepEqual(ids(await guest.get(`/v1/market/listings?category=captions&tags=${tag}`)), [b.listing.id]);
  assert.deepEqual(ids(await guest.get(`/v1/market/listings?tags=${tag},cinema`)), [c.listing.id], "all tags must match");
  assert.deepEqual(new Set(ids(await guest.get(`/v1/market/listings?tags=${tag}&min_price=1000&max_price=4900`))), new Set([b.listing.id, c.listing.id]));
  assert.deepEqual(ids(await guest.get(`/v1/market/listings?tags=${tag}&max_price=899`)), []);
  assert.deepEqual(ids(await guest.get(`/v1/market/listings?tags=${tag}&currency=usd`)), []);

  assert.deepEqual(ids(await guest.get(`/v1/market/listings?tags=${tag}&sort=rating`)), [b.listing.id, c.listing.id, a.listing.id]);
  assert.deepEqual(ids(await guest.get(`/v1/market/listings?tags=${tag}&sort=sales`)), [b.listing.id, c.listing.id, a.listing.id]);
  assert.deepEqual(ids(await guest.get(`/v1/market/listings?tags=${tag}&sort=newest`)), [c.listing.id, b.listing.id, a.listing.id]);
  const rated = (await guest.get(`/v1/market/listings/${b.listing.id}`)).body.listing;
  assert.deepEqual(rated.rating, { count: 2, sum: 10, average: 5 });
  assert.equal(rated.sales, 2);

  for (const sort of ["rating", "sales", "newest"]) {
    const walked = [];
    let cursor = null;
    for (let pageNo = 0; pageNo < 10; pageNo++) {
      const res = await guest.get(`/v1/market/listings?tags=${tag}&sort=${sort}&limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      assert.equal(res.status, 200, res.text);
      walked.push(...ids(res));
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    const full = ids(await guest.get(`/v1/market/listings?tags=${tag}&sort=${sort}`));
    assert.deepEqual(walked, full, `cursor pages of sort=${sort} walk the same order without repeats`);
  }
  const page1 = await guest.get(`/v1/market/listings?tags=${tag}&sort=rating&limit=1`);
  expectError(assert, await guest.get(`/v1/market/listings?tags=${tag}&sort=sales&cursor=${page1.body.next_cursor}`), 400, "invalid_cursor");
});

test("reviews: verified buyers only, once, editable by the author, seller reply, reports and moderation; the aggregate equals a recount", async () => {
  const { listing, productId, priceId } = await publishedListing({ title: "Review me", category: "misc" });
  const path = `/v1/market/listings/${listing.id}/reviews`;
  expectError(assert, await stranger.client.post(path, { rating: 5 }), 403, "not_a_verified_buyer");
  expectError(assert, await seller.client.post(path, { rating: 5 }), 403, "own_product");
  expectError(assert, await anonymous().post(path, { rating: 5 }), 401);

  const buyers = [];
  for (let i = 0; i < 3; i++) {
    const person = await signup(app, `reviewer${i}`);
    await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: person.user.id, buyerOrgId: person.org.id });
    buyers.push(person);
  }
  // A refunded buyer (licence revoked, order refunded) is not a verified buyer.
  const refunded = await signup(app, "refunded");
  await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: refunded.user.id, buyerOrgId: refunded.org.id, status: "revoked", orderStatus: "refunded" });
  expectError(assert, await refunded.client.post(path, { rating: 1 }), 403, "not_a_verified_buyer");

  const recount = async () => {
    const [agg] = await app.query("SELECT rating_count, rating_sum FROM listings WHERE id = ?1", listing.id);
    const [truth] = await app.query("SELECT COUNT(*) AS n, COALESCE(SUM(rating), 0) AS s FROM reviews WHERE listing_id = ?1 AND status = 'visible'", listing.id);
    assert.deepEqual([agg.rating_count, agg.rating_sum], [truth.n, truth.s], "aggregate equals a recount");
    return [agg.rating_count, agg.rating_sum];
  };

  const r0 = await buyers[0].client.post(path, { rating: 4, body: "Solid pack" });
  assert.equal(r0.status, 201, r0.text);
  assert.equal(r0.body.review.author_name, "reviewer0");
  expectError(assert, await buyers[0].client.post(path, { rating: 2 }), 409, "review_exists");
  const r1 = await buyers[1].client.post(path, { rating: 2, body: "Meh" });
  const r2 = await buyers[2].client.post(path, { rating: 5, body: "Spam spam spam" });
  assert.deepEqual(await recount(), [3, 11]);

  // Editable by its author only.
  const edited = await buyers[1].client.patch(`/v1/reviews/${r1.body.review.id}`, { rating: 3, body: "Better after the update" });
  assert.equal(edited.status, 200, edited.text);
  assert.equal(edited.body.review.rating, 3);
  expectError(assert, await buyers[0].client.patch(`/v1/reviews/${r1.body.review.id}`, { rating: 1 }), 404);
  assert.deepEqual(await recount(), [3, 12]);

  // The seller answers; others cannot.
  const reply = await seller.client.post(`/v1/reviews/${r1.body.review.id}/reply`, { body: "Thanks for updating!" });
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.body.review.seller_reply, "Thanks for updating!");
  expectError(assert, await stranger.client.post(`/v1/reviews/${r1.body.review.id}/reply`, { body: "Not mine" }), 404);

  // Reported, then hidden by a moderator: it leaves the public list and the aggregate.
  const report = await buyers[0].client.post(`/v1/reviews/${r2.body.review.id}/report`, { reason: "Spam" });
  assert.equal(report.status, 201, report.text);
  expectError(assert, await buyers[0].client.post(`/v1/reviews/${r2.body.review.id}/report`, { reason: "Spam again" }), 409, "already_reported");
  expectError(assert, await buyers[0].client.post(`/v1/admin/market/reviews/${r2.body.review.id}/moderate`, { hidden: true }), 403, "platform_admin_required");
  const queue = await admin.client.get(`/v1/admin/market/reports`);
  assert.ok(queue.body.items.some((item) => item.review.id === r2.body.review.id));
  const hidden = await admin.client.post(`/v1/admin/market/reviews/${r2.body.review.id}/moderate`, { hidden: true });
  assert.equal(hidden.body.review.status, "hidden");
  assert.deepEqual(await recount(), [2, 7]);
  // Hiding twice changes nothing; the author editing a hidden review does not bring it back.
  await admin.client.post(`/v1/admin/market/reviews/${r2.body.review.id}/moderate`, { hidden: true });
  await buyers[2].client.patch(`/v1/reviews/${r2.body.review.id}`, { rating: 1 });
  assert.deepEqual(await recount(), [2, 7]);
  const visible = await anonymous().get(path);
  assert.deepEqual(visible.body.items.map((r) => r.id).sort(), [r0.body.review.id, r1.body.review.id].sort());
  const open = await admin.client.get(`/v1/admin/market/reports`);
  assert.ok(!open.body.items.some((item) => item.review.id === r2.body.review.id), "its reports are resolved");
  // Restored with its edited rating.
  await admin.client.post(`/v1/admin/market/reviews/${r2.body.review.id}/moderate`, { hidden: false });
  assert.deepEqual(await recount(), [3, 8]);
  assert.deepEqual((await anonymous().get(`/v1/market/listings/${listing.id}`)).body.listing.rating, { count: 3, sum: 8, average: 2.67 });

  const events = await app.query("SELECT name FROM events WHERE name LIKE 'review.%'");
  for (const name of ["review.create", "review.update", "review.reply", "review.report", "review.hide", "review.restore"]) {
    assert.ok(events.some((e) => e.name === name), `event ${name}`);
  }
});

test("rating aggregate: a seeded random sequence of creates, edits, hides and restores always equals a recount", async () => {
  const seed = Number(process.env.MARKET_SEED ?? Date.now() % 100000);
  console.log(`rating aggregate sequence seed: ${seed} (MARKET_SEED=${seed} to replay)`);
  let state = seed || 1;
  const random = (n) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  const { listing, productId, priceId } = await publishedListing({ title: "Random ratings", category: "misc" });
  const people = [];
  for (let i = 0; i < 5; i++) {
    const person = await signup(app, `rand${i}`);
    await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: person.user.id, buyerOrgId: person.org.id });
    people.push({ person, review: null });
  }
  for (let step = 0; step < 30; step++) {
    const slot = people[random(people.length)];
    const rating = 1 + random(5);
    const op = random(3);
    let res;
    if (!slot.review) {
      res = await slot.person.client.post(`/v1/market/listings/${listing.id}/reviews`, { rating, body: `step ${step}` });
      assert.equal(res.status, 201, `seed ${seed} step ${step}: ${res.text}`);
      slot.review = res.body.review.id;
    } else if (op === 0) {
      res = await slot.person.client.patch(`/v1/reviews/${slot.review}`, { rating });
      assert.equal(res.status, 200, `seed ${seed} step ${step}: ${res.text}`);
    } else {
      res = await admin.client.post(`/v1/admin/market/reviews/${slot.review}/moderate`, { hidden: op === 1 });
      assert.equal(res.status, 200, `seed ${seed} step ${step}: ${res.text}`);
    }
    const [agg] = await app.query("SELECT rating_count, rating_sum FROM listings WHERE id = ?1", listing.id);
    const [truth] = await app.query("SELECT COUNT(*) AS n, COALESCE(SUM(rating), 0) AS s FROM reviews WHERE listing_id = ?1 AND status = 'visible'", listing.id);
    assert.deepEqual([agg.rating_count, agg.rating_sum], [truth.n, truth.s], `seed ${seed} step ${step}: aggregate equals a recount`);
  }
});

test("use template: a licence holder gets a project with the template's timeline; refused use says why and changes nothing", async () => {
  const { project: template, trackId, clipId } = await templateProject();
  const { listing, productId, priceId } = await publishedListing({ title: "Red intro", category: "intros", subjectType: "project", subjectId: template.id });
  const use = (who, orgId, body = {}) => who.client.post(`/v1/market/listings/${listing.id}/use`, { org_id: orgId, ...body });

  // No licence: 402 licence_required, nothing created.
  const before = await marketplaceState(app);
  expectError(assert, await use(buyer, buyer.org.id), 402, "licence_required");
  assert.deepEqual(await marketplaceState(app), before, "a refused use changes nothing");

  const { licenceId } = await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: buyer.user.id, buyerOrgId: buyer.org.id, title: "Red intro" });
  const mine = await buyer.client.get(`/v1/licences`);
  const licence = mine.body.items.find((item) => item.id === licenceId);
  assert.ok(licence, mine.text);
  assert.equal(licence.valid, true);
  assert.equal(licence.product.kind, "template");
  assert.equal(licence.key_hash, undefined, "the key (hash) is never listed");

  const used = await use(buyer, buyer.org.id, { name: "My intro" });
  assert.equal(used.status, 201, used.text);
  assert.equal(used.body.project.org_id, buyer.org.id);
  assert.equal(used.body.project.name, "My intro");
  const forked = await buyer.client.get(`/v1/projects/${used.body.project.id}`);
  assert.equal(forked.status, 200, forked.text);
  assert.equal(forked.body.timeline.tracks[0].id, trackId);
  assert.equal(forked.body.timeline.tracks[0].clips[0].id, clipId, "the project carries the template's timeline");
  // The copy is the buyer's: changes there leave the seller's template alone.
  const tpl = await seller.client.get(`/v1/projects/${template.id}`);
  assert.equal(tpl.body.timeline.tracks.length, 1);
  const uses = await app.query("SELECT purpose, target_id, units FROM licence_uses WHERE licence_id = ?1", licenceId);
  assert.deepEqual(uses, [{ purpose: "template", target_id: used.body.project.id, units: 0 }]);
  const events = await app.query("SELECT name FROM events WHERE org_id = ?1 AND name = 'template.use'", buyer.org.id);
  assert.equal(events.length, 1);

  // A licence held by the buyer works in another org the buyer edits; a stranger's org is 404.
  expectError(assert, await use(buyer, stranger.org.id), 404);
  expectError(assert, await use(stranger, stranger.org.id), 402, "licence_required");

  // Expired subscription → licence_expired; revoked → licence_revoked; usage → exhausted after its units.
  const subscriber = await signup(app, "subscriber");
  await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: subscriber.user.id, buyerOrgId: subscriber.org.id, licenceType: "subscription", expiresAt: Date.now() - 60_000 });
  const beforeExpired = await marketplaceState(app);
  expectError(assert, await use(subscriber, subscriber.org.id), 402, "licence_expired");
  assert.deepEqual(await marketplaceState(app), beforeExpired);
  const lapsed = (await subscriber.client.get(`/v1/licences`)).body.items[0];
  assert.deepEqual([lapsed.status, lapsed.valid, lapsed.reason], ["expired", false, "licence_expired"]);

  const renewed = await signup(app, "renewed");
  await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: renewed.user.id, buyerOrgId: renewed.org.id, licenceType: "subscription", expiresAt: Date.now() + 86_400_000 });
  assert.equal((await use(renewed, renewed.org.id)).status, 201, "a paid-up subscription is valid");

  const refunded = await signup(app, "refunded");
  await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: refunded.user.id, buyerOrgId: refunded.org.id, status: "revoked", orderStatus: "refunded" });
  expectError(assert, await use(refunded, refunded.org.id), 403, "licence_revoked");

  const metered = await signup(app, "metered");
  const usage = await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: metered.user.id, buyerOrgId: metered.org.id, licenceType: "usage", unitsGranted: 2 });
  const results = await Promise.all([1, 2, 3].map(() => use(metered, metered.org.id)));
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [201, 201, 402], results.map((r) => r.text).join("\n"));
  expectError(assert, results.find((r) => r.status === 402), 402, "licence_exhausted");
  const [row] = await app.query("SELECT units_used FROM licences WHERE id = ?1", usage.licenceId);
  assert.equal(row.units_used, 2, "exactly the granted units were consumed");
  const live = await app.query("SELECT id FROM projects WHERE org_id = ?1 AND deleted_at IS NULL", metered.org.id);
  assert.equal(live.length, 2, "one project per consumed unit");

  // An API key of the buyer org uses a licence bought for the org (agents and integrations).
  const key = await buyer.client.post(`/v1/orgs/${buyer.org.id}/api-keys`, { name: "agent", role: "editor" });
  const agent = new Client(app, { token: key.body.api_key.key });
  const byKey = await agent.post(`/v1/market/listings/${listing.id}/use`, { org_id: buyer.org.id });
  assert.equal(byKey.status, 201, byKey.text);
});

test("effect presets: applying a purchased preset adds its effects to the clip; without a licence it is refused", async () => {
  const preset = JSON.stringify({ effects: [{ type: "gaussian_blur", radius: 3 }, { type: "tint", color: { r: 0, g: 0, b: 255, a: 255 }, amount: 0.25 }] });
  const upload = await seller.client.request("POST", `/v1/orgs/${seller.org.id}/assets?name=blue-haze.json&kind=document`, preset, { "content-type": "application/json" });
  assert.equal(upload.status, 201, upload.text);
  const { listing, productId, priceId } = await publishedListing({ kind: "effect_preset", title: "Blue haze", category: "looks", subjectType: "asset", subjectId: upload.body.asset.id });

  const { project, clipId } = await templateProject(buyer);
  const apply = (who) => who.client.post(`/v1/projects/${project.id}/effect-presets`, { product_id: productId, clip_id: clipId });
  expectError(assert, await apply(buyer), 402, "licence_required");
  const clipBefore = (await buyer.client.get(`/v1/projects/${project.id}`)).body.timeline.tracks[0].clips[0];
  assert.equal(clipBefore.effects?.length ?? 0, 0);

  await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: buyer.user.id, buyerOrgId: buyer.org.id, title: "Blue haze" });
  const applied = await apply(buyer);
  assert.equal(applied.status, 200, applied.text);
  const clip = (await buyer.client.get(`/v1/projects/${project.id}`)).body.timeline.tracks[0].clips[0];
  assert.deepEqual(clip.effects.map((e) => e.kind.type), ["gaussian_blur", "tint"]);
  // A clip that does not exist: the room refuses, nothing is recorded as used.
  const usesBefore = await app.query("SELECT COUNT(*) AS n FROM licence_uses WHERE purpose = 'effect_preset'");
  const bad = await buyer.client.post(`/v1/projects/${project.id}/effect-presets`, { product_id: productId, clip_id: editorId("clp") });
  assert.ok(bad.status >= 400 && bad.status < 500, bad.text);
  const usesAfter = await app.query("SELECT COUNT(*) AS n FROM licence_uses WHERE purpose = 'effect_preset'");
  assert.equal(usesAfter[0].n, usesBefore[0].n);
  // "use" is for templates only.
  expectError(assert, await buyer.client.post(`/v1/market/listings/${listing.id}/use`, { org_id: buyer.org.id }), 422, "not_a_template");
  // Someone else's project: 404 before any licence talk.
  expectError(assert, await stranger.client.post(`/v1/projects/${project.id}/effect-presets`, { product_id: productId, clip_id: clipId }), 404);
});

test("licence keys: verification by the seller, the holder or the holder org; unknown and others' keys are 404; rate-limited per caller", async () => {
  const { productId, priceId } = await publishedListing({ title: "Key check", category: "misc" });
  const sub = await seedPurchase(app, { productId, priceId, sellerOrgId: seller.org.id, buyerUserId: buyer.user.id, buyerOrgId: buyer.org.id, licenceType: "subscription", expiresAt: Date.now() + 3_600_000 });
  const created = await seller.client.post(`/v1/orgs/${seller.org.id}/api-keys`, { name: "licence server", role: "viewer" });
  assert.equal(created.status, 201, created.text);
  const sellerKey = new Client(app, { token: created.body.api_key.key });

  const verified = await sellerKey.post(`/v1/licences/verify`, { key: sub.key });
  assert.equal(verified.status, 200, verified.text);
  const v = verified.body.licence;
  assert.equal(v.id, sub.licenceId);
  assert.equal(v.product.id, productId);
  assert.equal(v.holder_org_id, buyer.org.id);
  assert.deepEqual([v.type, v.status, v.valid], ["subscription", "active", true]);
  assert.ok(!JSON.stringify(verified.body).includes(buyer.user.id) && !JSON.stringify(verified.body).includes(buyer.email), "no personal data of the holder");
  assert.equal((await buyer.client.post(`/v1/licences/verify`, { key: sub.key })).status, 200, "the holder may check their key");

  expectError(assert, await stranger.client.post(`/v1/licences/verify`, { key: sub.key }), 404, "not_found");
  expectError(assert, await sellerKey.post(`/v1/licences/verify`, { key: "cos_lic_doesnotexist000000000000" }), 404, "not_found");
  expectError(assert, await sellerKey.post(`/v1/licences/verify`, { key: "not-a-key" }), 422, "invalid_licence_key");
  expectError(assert, await anonymous().post(`/v1/licences/verify`, { key: sub.key }), 401);

  // Revocation shows at once.
  await app.query("UPDATE licences SET status = 'revoked', revoked_reason = 'refund' WHERE id = ?1", sub.licenceId);
  const revoked = await buyer.client.post(`/v1/licences/verify`, { key: sub.key });
  assert.deepEqual([revoked.body.licence.status, revoked.body.licence.valid, revoked.body.licence.reason], ["revoked", false, "licence_revoked"]);

  // The bucket (8, refilling 1/min in this run) runs dry for this caller only.
  const prober = await signup(app, "prober");
  const statuses = [];
  for (let i = 0; i < 10; i++) statuses.push((await prober.client.post(`/v1/licences/verify`, { key: `cos_lic_guess${i}` })).status);
  assert.deepEqual(statuses.slice(0, 8), Array(8).fill(404));
  const limited = await prober.client.post(`/v1/licences/verify`, { key: "cos_lic_guess" });
  expectError(assert, limited, 429, "rate_limited");
  assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  assert.equal((await buyer.client.post(`/v1/licences/verify`, { key: sub.key })).status, 200, "other callers are unaffected");
});

test("public pages: the marketplace page and a published listing's cover are served without signing in", async () => {
  const page = await app.fetch("/market/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  assert.match(await page.text(), /market\.js/);
  const script = await app.fetch("/market/market.js");
  assert.equal(script.status, 200);
  assert.match(await script.text(), /\/v1\/market\/listings/);

  const image = png(8, 8, () => [10, 120, 240, 255]);
  const upload = await uploadImage(seller, "cover.png", image);
  const { productId } = await seedProduct(app, { orgId: seller.org.id, userId: seller.user.id, title: "With cover" });
  const created = await seller.client.post(`/v1/orgs/${seller.org.id}/listings`, { product_id: productId, title: "With cover", category: "misc", cover_asset_id: upload.body.asset.id });
  assert.equal(created.status, 201, created.text);
  const id = created.body.listing.id;
  expectError(assert, await anonymous().get(`/v1/market/listings/${id}/cover`), 404, "not_found");
  await seller.client.post(`/v1/listings/${id}/submit`);
  await admin.client.post(`/v1/admin/market/listings/${id}/approve`);
  const cover = await app.fetch(`/v1/market/listings/${id}/cover`);
  assert.equal(cover.status, 200);
  assert.equal(cover.headers.get("content-type"), "image/png");
  assert.deepEqual(Buffer.from(await cover.arrayBuffer()), Buffer.from(image));
  // Another org's image cannot be a cover.
  const foreign = await uploadImage(stranger, "x.png", png(4, 4, () => [1, 2, 3, 255]));
  expectError(assert, await seller.client.patch(`/v1/listings/${id}`, { cover_asset_id: foreign.body.asset.id }), 422, "invalid_cover");
});

test("tenant isolation: another org's listings, drafts, reviews and licences are 404", async () => {
  const { productId } = await seedProduct(app, { orgId: seller.org.id, userId: seller.user.id, title: "Private draft" });
  const draft = (await seller.client.post(`/v1/orgs/${seller.org.id}/listings`, { product_id: productId, title: "Private draft", category: "misc" })).body.listing;
  for (const res of [
    await stranger.client.get(`/v1/listings/${draft.id}`),
    await stranger.client.patch(`/v1/listings/${draft.id}`, { title: "Mine now" }),
    await stranger.client.post(`/v1/listings/${draft.id}/submit`),
    await stranger.client.post(`/v1/listings/${draft.id}/unlist`),
    await stranger.client.get(`/v1/orgs/${seller.org.id}/listings`),
    await stranger.client.post(`/v1/orgs/${seller.org.id}/listings`, { product_id: productId, title: "x", category: "misc" }),
    await anonymous().get(`/v1/market/listings/${draft.id}`),
    await anonymous().get(`/v1/market/listings/${draft.id}/reviews`),
    await stranger.client.post(`/v1/market/listings/${draft.id}/use`, { org_id: stranger.org.id }),
  ]) {
    expectError(assert, res, res.status === 401 ? 401 : 404);
  }
  // Listing another org's product from one's own org: the product is not found.
  expectError(assert, await stranger.client.post(`/v1/orgs/${stranger.org.id}/listings`, { product_id: productId, title: "Stolen", category: "misc" }), 404, "not_found");
  // The seller's own list shows the draft; nobody else's does.
  const own = await seller.client.get(`/v1/orgs/${seller.org.id}/listings?status=draft`);
  assert.ok(own.body.items.some((item) => item.id === draft.id));
  const strangers = await stranger.client.get(`/v1/orgs/${stranger.org.id}/listings`);
  assert.ok(!strangers.body.items.some((item) => item.id === draft.id));
  // A viewer of the seller org sees but cannot change.
  const invite = await seller.client.post(`/v1/orgs/${seller.org.id}/api-keys`, { name: "viewer", role: "viewer" });
  const viewer = new Client(app, { token: invite.body.api_key.key });
  assert.equal((await viewer.get(`/v1/listings/${draft.id}`)).status, 200);
  expectError(assert, await viewer.patch(`/v1/listings/${draft.id}`, { title: "Nope" }), 403, "forbidden");
  // Sellers' sales: licences sold are visible to the seller org only, holders as organisations.
  const { productId: soldId, priceId: soldPrice } = await seedProduct(app, { orgId: seller.org.id, userId: seller.user.id, title: "Sold item" });
  const sale = await seedPurchase(app, { productId: soldId, priceId: soldPrice, sellerOrgId: seller.org.id, buyerUserId: buyer.user.id, buyerOrgId: buyer.org.id });
  const sold = await seller.client.get(`/v1/orgs/${seller.org.id}/sold-licences?product_id=${soldId}`);
  assert.equal(sold.status, 200, sold.text);
  assert.deepEqual(sold.body.items.map((item) => [item.id, item.holder_org_id]), [[sale.licenceId, buyer.org.id]]);
  assert.ok(!sold.text.includes(buyer.user.id) && !sold.text.includes(buyer.email), "no buyer personal data");
  expectError(assert, await stranger.client.get(`/v1/orgs/${seller.org.id}/sold-licences`), 404, "not_found");
  expectError(assert, await buyer.client.get(`/v1/orgs/${seller.org.id}/sold-licences`), 404, "not_found");
  const theirKey = await stranger.client.post(`/v1/orgs/${stranger.org.id}/api-keys`, { name: "peek", role: "admin" });
  expectError(assert, await new Client(app, { token: theirKey.body.api_key.key }).get(`/v1/orgs/${seller.org.id}/sold-licences`), 404, "not_found");
  // An archived product leaves the market even though its listing was published.
  const { listing: gone, productId: goneProduct } = await publishedListing({ title: "Soon archived", category: "misc" });
  assert.equal((await anonymous().get(`/v1/market/listings/${gone.id}`)).status, 200);
  await app.query("UPDATE products SET status = 'archived' WHERE id = ?1", goneProduct);
  expectError(assert, await anonymous().get(`/v1/market/listings/${gone.id}`), 404);
  assert.ok(!(await anonymous().get(`/v1/market/listings?q=archived`)).body.items.some((item) => item.id === gone.id));

  // Licences list only one's own.
  const theirs = await stranger.client.get(`/v1/licences`);
  assert.ok(theirs.body.items.every((item) => item.holder_org_id === stranger.org.id || item.holder_org_id === null));
});

test("bad input: clear errors in the one shape and nothing changes", async () => {
  const { productId } = await seedProduct(app, { orgId: seller.org.id, userId: seller.user.id, title: "Input checks" });
  const { listing } = await publishedListing({ title: "Input target", category: "misc" });
  const path = `/v1/orgs/${seller.org.id}/listings`;
  const before = await marketplaceState(app);
  const cases = [
    [await seller.client.post(path, { product_id: productId, title: "", category: "misc" }), 422, "invalid_text"],
    [await seller.client.post(path, { product_id: productId, title: "x".repeat(121), category: "misc" }), 422, "invalid_text"],
    [await seller.client.post(path, { product_id: productId, title: "Ok", category: "Not A Slug!" }), 422, "invalid_slug"],
    [await seller.client.post(path, { product_id: productId, title: "Ok", category: "misc", tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }), 422, "invalid_tags"],
    [await seller.client.post(path, { product_id: productId, title: "Ok", category: "misc", price: -5 }), 422, "invalid_request"],
    [await seller.client.post(path, { product_id: productId, title: "Ok" }), 422, "invalid_request"],
    [await seller.client.post(path, { product_id: productId, title: 7, category: "misc" }), 422, "invalid_request"],
    [await seller.client.post(path, "{\"product_id\": "), 400, "malformed_json"],
    [await seller.client.post(path, { product_id: productId, title: "Ok", category: "misc", cover_asset_id: "ast_nope" }), 422, "invalid_cover"],
    [await seller.client.post(path, { product_id: mintId("prd"), title: "Ok", category: "misc" }), 404, "not_found"],
    [await seller.client.patch(`/v1/listings/${listing.id}`, {}), 422, "nothing_to_change"],
    [await admin.client.post(`/v1/admin/market/listings/${listing.id}/reject`, { reason: "" }), 422, "invalid_text"],
    [await anonymous().get(`/v1/market/listings?sort=price`), 422, "invalid_sort"],
    [await anonymous().get(`/v1/market/listings?min_price=-1`), 422, "invalid_price_range"],
    [await anonymous().get(`/v1/market/listings?min_price=10&max_price=5`), 422, "invalid_price_range"],
    [await anonymous().get(`/v1/market/listings?max_price=12.5`), 422, "invalid_price_range"],
    [await anonymous().get(`/v1/market/listings?currency=EURO`), 422, "invalid_currency"],
    [await anonymous().get(`/v1/market/listings?cursor=!!!`), 400, "invalid_cursor"],
    [await anonymous().get(`/v1/market/listings?limit=0`), 422, "invalid_limit"],
    [await anonymous().get(`/v1/market/listings?q=${"x".repeat(201)}`), 422, "invalid_query"],
    [await anonymous().get(`/v1/market/listings?tags=Bad%20Tag`), 422, "invalid_slug"],
    [await buyer.client.post(`/v1/market/listings/${listing.id}/reviews`, { rating: 0 }), 422, "invalid_rating"],
    [await buyer.client.post(`/v1/licences/verify`, { key: "cos_lic_" + "a".repeat(300) }), 422, "invalid_licence_key"],
    [await buyer.client.post(`/v1/licences/verify`, { key: "cos_lic_x", extra: 1 }), 422, "invalid_request"],
    [await buyer.client.post(`/v1/market/listings/${listing.id}/use`, { org_id: buyer.org.id, name: "" }), 402, "licence_required"],
  ];
  for (const [res, status, code] of cases) expectError(assert, res, status, code);
  // Ratings out of range, for a verified buyer.
  const rater = await signup(app, "rangecheck");
  const { productId: pid, priceId } = await publishedListing({ title: "Rated", category: "misc" });
  const rated = (await anonymous().get(`/v1/market/listings?q=Rated`)).body.items.find((item) => item.product_id === pid);
  await seedPurchase(app, { productId: pid, priceId, sellerOrgId: seller.org.id, buyerUserId: rater.user.id, buyerOrgId: rater.org.id });
  const afterSeed = await marketplaceState(app);
  for (const rating of [0, 6, 2.5, "5", -1]) {
    expectError(assert, await rater.client.post(`/v1/market/listings/${rated.id}/reviews`, { rating }), 422);
  }
  expectError(assert, await rater.client.post(`/v1/market/listings/${rated.id}/reviews`, { rating: 3, body: "x".repeat(5001) }), 422, "invalid_text");
  assert.deepEqual(await marketplaceState(app), afterSeed, "refused reviews change nothing");
  // Everything refused above left the marketplace as it was (but for the two listings and the licence seeded meanwhile).
  const now = await marketplaceState(app);
  assert.deepEqual(now.reviews, before.reviews);
  assert.deepEqual(now.licence_uses, before.licence_uses);
  assert.deepEqual(now.listings.filter((l) => l.product_id === productId), [], "no listing was created for the product");
});
