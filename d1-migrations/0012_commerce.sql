-- Monetization & commerce (module 04): discounts, bundles, revenue-share rules, affiliates, the
-- double-entry ledger, payouts and the Stripe webhook log. Builds on 0009 (products, prices,
-- orders, order_items, licences). Money is an integer count of minor units, never a float.

-- A discount code of a seller: a percentage (basis points) or a fixed amount in one currency,
-- optionally limited to some products, to a time window and to a number of redemptions.
CREATE TABLE discounts (
  id              TEXT PRIMARY KEY,             -- dsc_<ULID>
  org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  code            TEXT NOT NULL,                -- upper case, unique per seller
  kind            TEXT NOT NULL CHECK (kind IN ('percent', 'fixed')),
  percent_bps     INTEGER CHECK (percent_bps BETWEEN 1 AND 10000),
  amount          INTEGER CHECK (amount > 0),
  currency        TEXT,
  product_ids     TEXT,                         -- JSON array; NULL: every product of the seller
  starts_at       INTEGER,
  ends_at         INTEGER,
  max_redemptions INTEGER,
  max_per_buyer   INTEGER,
  active          INTEGER NOT NULL DEFAULT 1,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX discounts_by_code ON discounts(org_id, code);

-- One use of a discount by an order. Released (released_at set) when the order expires or is
-- cancelled unpaid, so abandoned checkouts do not use up a code.
CREATE TABLE discount_redemptions (
  order_id      TEXT PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
  discount_id   TEXT NOT NULL REFERENCES discounts(id) ON DELETE CASCADE,
  buyer_user_id TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  released_at   INTEGER
);
CREATE INDEX discount_redemptions_by_discount ON discount_redemptions(discount_id, buyer_user_id);

-- A bundle: several products' prices sold together at one price.
CREATE TABLE bundles (
  id         TEXT PRIMARY KEY,                  -- bnd_<ULID>
  org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  title      TEXT NOT NULL,
  currency   TEXT NOT NULL,
  amount     INTEGER NOT NULL CHECK (amount >= 0),
  status     TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX bundles_by_org ON bundles(org_id, id);

CREATE TABLE bundle_items (
  bundle_id  TEXT NOT NULL REFERENCES bundles(id) ON DELETE CASCADE,
  position   INTEGER NOT NULL,
  product_id TEXT NOT NULL REFERENCES products(id),
  price_id   TEXT NOT NULL REFERENCES prices(id),
  PRIMARY KEY (bundle_id, position)
);

-- How a product's proceeds are shared (after the processor's fee and any affiliate commission):
-- platform fee, the seller org, collaborators by user id. Shares add up to 10000 bps. Products
-- without a row use the platform's default fee (PLATFORM_FEE_BPS) and give the rest to the seller.
CREATE TABLE revenue_shares (
  product_id    TEXT PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
  org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  platform_bps  INTEGER NOT NULL CHECK (platform_bps BETWEEN 0 AND 10000),
  creator_bps   INTEGER NOT NULL CHECK (creator_bps BETWEEN 0 AND 10000),
  collaborators TEXT NOT NULL DEFAULT '[]',     -- JSON [{"user_id","bps"}]
  updated_at    INTEGER NOT NULL
);

-- An affiliate of a seller (optionally for one product): joins on request, earns only once the
-- seller approves, can leave. The code goes in links; clicks set attribution (last click wins
-- within the attribution window).
CREATE TABLE affiliates (
  id             TEXT PRIMARY KEY,              -- aff_<ULID>
  seller_org_id  TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id        TEXT NOT NULL REFERENCES users(id),
  product_id     TEXT REFERENCES products(id),
  code           TEXT NOT NULL UNIQUE,
  commission_bps INTEGER NOT NULL DEFAULT 0 CHECK (commission_bps BETWEEN 0 AND 10000),
  status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'left')),
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
);
CREATE INDEX affiliates_by_seller ON affiliates(seller_org_id, id);
CREATE INDEX affiliates_by_user ON affiliates(user_id, id);
CREATE UNIQUE INDEX affiliates_once ON affiliates(seller_org_id, user_id, IFNULL(product_id, ''))
  WHERE status IN ('pending', 'approved');

CREATE TABLE affiliate_clicks (
  id           TEXT PRIMARY KEY,                -- clk_<ULID>
  affiliate_id TEXT NOT NULL REFERENCES affiliates(id) ON DELETE CASCADE,
  user_id      TEXT,                            -- the visitor, when signed in
  created_at   INTEGER NOT NULL
);
CREATE INDEX affiliate_clicks_by_user ON affiliate_clicks(user_id, created_at);

-- What commerce keeps about an order beyond 0009's columns: the attributed affiliate's user and
-- commission (a snapshot), the checkout URL and the Stripe subscription of recurring orders.
CREATE TABLE order_commerce (
  order_id          TEXT PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
  affiliate_user_id TEXT,
  affiliate_bps     INTEGER NOT NULL DEFAULT 0,
  affiliate_product TEXT,                       -- the affiliate's product scope, if any
  click_id          TEXT,
  checkout_url      TEXT,
  subscription_id   TEXT,
  disputed_amount   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX order_commerce_by_subscription ON order_commerce(subscription_id) WHERE subscription_id IS NOT NULL;

-- The double-entry ledger. A transaction's entries sum to zero; a party's balance is the sum of
-- its entries (never stored). `ref` makes each movement happen once: sale:<order>,
-- refund:<order>:<cumulative refunded>, payout:<payout>, payout_reversal:<payout>.
CREATE TABLE ledger_transactions (
  id         TEXT PRIMARY KEY,                  -- txn_<ULID>
  ref        TEXT NOT NULL UNIQUE,
  kind       TEXT NOT NULL CHECK (kind IN ('sale', 'refund', 'dispute', 'payout', 'payout_reversal')),
  order_id   TEXT,
  payout_id  TEXT,
  currency   TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX ledger_transactions_by_order ON ledger_transactions(order_id, created_at);

CREATE TABLE ledger_entries (
  id         INTEGER PRIMARY KEY,
  txn_id     TEXT NOT NULL REFERENCES ledger_transactions(id),
  party_type TEXT NOT NULL CHECK (party_type IN ('user', 'org', 'platform', 'processor')),
  party_id   TEXT NOT NULL,
  kind       TEXT NOT NULL,
  currency   TEXT NOT NULL,
  amount     INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX ledger_entries_by_party ON ledger_entries(party_type, party_id, currency, created_at);
CREATE INDEX ledger_entries_by_txn ON ledger_entries(txn_id);

-- Where a party is paid: its Stripe Connect account.
CREATE TABLE payout_accounts (
  party_type       TEXT NOT NULL CHECK (party_type IN ('user', 'org')),
  party_id         TEXT NOT NULL,
  provider_account TEXT NOT NULL,               -- acct_…
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  PRIMARY KEY (party_type, party_id)
);

-- A payout run's transfer to one party in one currency.
CREATE TABLE payouts (
  id                TEXT PRIMARY KEY,           -- pay_<ULID>
  party_type        TEXT NOT NULL,
  party_id          TEXT NOT NULL,
  currency          TEXT NOT NULL,
  amount            INTEGER NOT NULL CHECK (amount > 0),
  status            TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
  provider_account  TEXT NOT NULL,
  provider_transfer TEXT,                       -- tr_…
  failure           TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX payouts_by_party ON payouts(party_type, party_id, id);

-- Stripe events already handled, by event id: a redelivered or replayed event does nothing.
CREATE TABLE stripe_events (
  id          TEXT PRIMARY KEY,                 -- evt_… (Stripe's)
  type        TEXT NOT NULL,
  outcome     TEXT NOT NULL,
  order_id    TEXT,
  received_at INTEGER NOT NULL
);

-- When a licence's key was shown to its holder (it is shown once).
CREATE TABLE licence_key_reveals (
  licence_id  TEXT PRIMARY KEY REFERENCES licences(id) ON DELETE CASCADE,
  revealed_at INTEGER NOT NULL
);

-- Never holds a row: a guard statement inserts 0 here when a batch's precondition does not
-- hold, and the CHECK fails the whole D1 batch (and so the change and its audit record).
CREATE TABLE commerce_guard (
  ok INTEGER NOT NULL CHECK (ok = 1)
);
