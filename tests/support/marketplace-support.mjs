// Test support for the marketplace: catalog rows, paid orders and licences written straight into
// the app's D1 database (the contract tables of d1-migrations/0009_commerce_catalog.sql).
//
// UNTIL CHECKOUT LANDS: Commerce (products & prices CRUD, cart → order → Stripe checkout →
// signed webhook → fulfilment) is being built in parallel. Until it is merged, these helpers
// stand in for "the seller created a product and a price" and "the buyer paid and fulfilment
// granted a licence", writing exactly the rows that flow writes. At merge, switch `seedProduct`
// to the products/prices API and `seedPurchase` to the real purchase flow; the marketplace code
// does not care how a licence came to exist.
import { createHash, randomBytes } from "node:crypto";

let counter = 0;
/** A ULID-shaped id with a type prefix, unique in this process. */
export function mintId(prefix) {
  counter += 1;
  const time = Date.now().toString(32).toUpperCase().padStart(10, "0").slice(-10);
  return `${prefix}_${time}${String(counter).padStart(16, "0")}`;
}

/** Writes a product (active) and one price; returns their ids. */
export async function seedProduct(app, {
  orgId, userId, kind = "template", title = "A product", subjectType = null, subjectId = null,
  priceType = "one_time", currency = "EUR", amount = 1500, interval = null,
}) {
  const now = Date.now();
  const productId = mintId("prd");
  const priceId = mintId("pri");
  await app.query(
    `INSERT INTO products (id, org_id, kind, title, description, media, subject_type, subject_id, status, created_by, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, '', '[]', ?5, ?6, 'active', ?7, ?8, ?8)`,
    productId, orgId, kind, title, subjectType, subjectId, userId, now,
  );
  await app.query(
    `INSERT INTO prices (id, org_id, product_id, type, currency, unit_amount, tax_inclusive, interval, interval_count, active, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, 1, ?9)`,
    priceId, orgId, productId, priceType, currency, amount, interval, interval ? 1 : null, now,
  );
  return { productId, priceId };
}

/**
 * Writes a fulfilled order of one product for a buyer and the licence fulfilment grants, with a
 * `cos_lic_…` key stored as its SHA-256 hex. Returns the ids and the key (shown once to the buyer).
 */
export async function seedPurchase(app, {
  productId, priceId, sellerOrgId, buyerUserId, buyerOrgId, title = "A product",
  amount = 1500, currency = "EUR", licenceType = "one_time", status = "active",
  expiresAt = null, unitsGranted = null, unitsUsed = 0, orderStatus = "fulfilled",
}) {
  const now = Date.now();
  const orderId = mintId("ord");
  const licenceId = mintId("lic");
  const key = `cos_lic_${randomBytes(24).toString("base64url")}`;
  const keyHash = createHash("sha256").update(key).digest("hex");
  await app.query(
    `INSERT INTO orders (id, seller_org_id, buyer_user_id, buyer_org_id, currency, subtotal, discount_total, total, status, created_at, paid_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?6, ?7, ?8, ?8, ?8)`,
    orderId, sellerOrgId, buyerUserId, buyerOrgId, currency, amount, orderStatus, now,
  );
  await app.query(
    `INSERT INTO order_items (order_id, line, product_id, price_id, title, quantity, unit_amount, discount, amount)
     VALUES (?1, 1, ?2, ?3, ?4, 1, ?5, 0, ?5)`,
    orderId, productId, priceId, title, amount,
  );
  await app.query(
    `INSERT INTO licences (id, product_id, seller_org_id, holder_user_id, holder_org_id, order_id, order_line, type, status,
                           key_hash, key_prefix, expires_at, units_granted, units_used, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)`,
    licenceId, productId, sellerOrgId, buyerUserId, buyerOrgId, orderId, licenceType, status,
    keyHash, key.slice(0, 12), expiresAt, unitsGranted, unitsUsed, now,
  );
  return { orderId, licenceId, key };
}

/** Rows of the marketplace's own tables and the licences, for "nothing changed" checks. */
export async function marketplaceState(app) {
  const out = {};
  for (const table of ["listings", "reviews", "review_reports", "licence_uses", "licences", "projects"]) {
    out[table] = await app.query(`SELECT * FROM ${table} ORDER BY rowid`);
  }
  return out;
}
