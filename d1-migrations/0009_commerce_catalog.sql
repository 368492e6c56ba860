-- Monetization & commerce (module 04) and the marketplace (module 11): the catalog, orders and
-- licences that both modules share. Money is always an integer count of the currency's minor
-- units (cents, yen…) with an ISO 4217 code; nothing here is ever a float.

-- A product a seller org offers: what is sold, whatever the price.
CREATE TABLE products (
  id           TEXT PRIMARY KEY,                -- prd_<ULID>
  org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,   -- the seller
  kind         TEXT NOT NULL CHECK (kind IN ('template', 'effect_preset', 'agent', 'workflow',
                 'asset_pack', 'membership', 'service', 'physical')),
  title        TEXT NOT NULL,
  description  TEXT NOT NULL DEFAULT '',
  media        TEXT NOT NULL DEFAULT '[]',      -- JSON array of asset ids (cover, previews)
  -- What the buyer gets the right to use: a project id (template), an asset id (preset, pack),
  -- an agent profile or workflow id. NULL for services, memberships and physical goods.
  subject_type TEXT,
  subject_id   TEXT,
  status       TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
  created_by   TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
CREATE INDEX products_by_org ON products(org_id, id);

-- A price of a product: one-time, recurring every `interval_count` `interval`s, or metered per unit.
CREATE TABLE prices (
  id             TEXT PRIMARY KEY,              -- pri_<ULID>
  org_id         TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  product_id     TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  type           TEXT NOT NULL CHECK (type IN ('one_time', 'recurring', 'usage')),
  currency       TEXT NOT NULL,                 -- ISO 4217, upper case
  unit_amount    INTEGER NOT NULL CHECK (unit_amount >= 0),   -- minor units
  tax_inclusive  INTEGER NOT NULL DEFAULT 0,
  interval       TEXT CHECK (interval IN ('day', 'week', 'month', 'year')),
  interval_count INTEGER,
  usage_unit     TEXT,                          -- for 'usage': what one unit is (e.g. 'render_minute')
  active         INTEGER NOT NULL DEFAULT 1,
  created_at     INTEGER NOT NULL
);
CREATE INDEX prices_by_product ON prices(product_id, id);

-- An order: a buyer's cart turned into a priced snapshot. Lines hold the prices as they were.
CREATE TABLE orders (
  id               TEXT PRIMARY KEY,            -- ord_<ULID>
  seller_org_id    TEXT NOT NULL REFERENCES orgs(id),
  buyer_user_id    TEXT NOT NULL REFERENCES users(id),
  buyer_org_id     TEXT REFERENCES orgs(id),    -- the org the purchase is for (licences land there)
  currency         TEXT NOT NULL,
  subtotal         INTEGER NOT NULL,            -- before discounts, minor units
  discount_total   INTEGER NOT NULL DEFAULT 0,
  total            INTEGER NOT NULL,            -- what the buyer pays
  discount_code    TEXT,
  affiliate_id     TEXT,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'fulfilled', 'refunded',
                     'partially_refunded', 'disputed', 'canceled', 'expired')),
  refunded_total   INTEGER NOT NULL DEFAULT 0,
  provider         TEXT NOT NULL DEFAULT 'stripe',
  provider_session TEXT,                        -- Stripe Checkout Session id
  provider_payment TEXT,                        -- Stripe PaymentIntent id
  created_at       INTEGER NOT NULL,
  paid_at          INTEGER,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX orders_by_seller ON orders(seller_org_id, id);
CREATE INDEX orders_by_buyer ON orders(buyer_user_id, id);
CREATE UNIQUE INDEX orders_by_session ON orders(provider_session) WHERE provider_session IS NOT NULL;

CREATE TABLE order_items (
  order_id     TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  line         INTEGER NOT NULL,
  product_id   TEXT NOT NULL REFERENCES products(id),
  price_id     TEXT REFERENCES prices(id),
  bundle_id    TEXT,                            -- set when the line came from a bundle
  title        TEXT NOT NULL,                   -- snapshot
  quantity     INTEGER NOT NULL CHECK (quantity > 0),
  unit_amount  INTEGER NOT NULL,                -- snapshot, minor units
  discount     INTEGER NOT NULL DEFAULT 0,      -- share of the order's discount on this line
  amount       INTEGER NOT NULL,                -- quantity * unit_amount - discount
  PRIMARY KEY (order_id, line)
);

-- A licence: the right of a buyer (user, for an org) to use a product's subject. Granted once per
-- paid order line; revoked by refunds and lost disputes; subscriptions are valid until
-- `expires_at`, renewed by each paid period; usage licences count metered units.
CREATE TABLE licences (
  id            TEXT PRIMARY KEY,               -- lic_<ULID>
  product_id    TEXT NOT NULL REFERENCES products(id),
  seller_org_id TEXT NOT NULL,
  holder_user_id TEXT NOT NULL REFERENCES users(id),
  holder_org_id TEXT,
  order_id      TEXT REFERENCES orders(id),
  order_line    INTEGER,
  type          TEXT NOT NULL CHECK (type IN ('one_time', 'subscription', 'usage')),
  status        TEXT NOT NULL CHECK (status IN ('active', 'expired', 'revoked')),
  key_hash      TEXT,                           -- SHA-256 hex of the licence key; the key is shown once
  key_prefix    TEXT,                           -- first characters, to recognise a key in lists
  expires_at    INTEGER,                        -- subscriptions: end of the paid period
  units_granted INTEGER,                        -- usage: units bought
  units_used    INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  revoked_reason TEXT
);
CREATE UNIQUE INDEX licences_once_per_line ON licences(order_id, order_line) WHERE order_id IS NOT NULL;
CREATE INDEX licences_by_holder ON licences(holder_user_id, product_id);
CREATE INDEX licences_by_holder_org ON licences(holder_org_id, product_id);
CREATE INDEX licences_by_product ON licences(seller_org_id, product_id);
CREATE UNIQUE INDEX licences_by_key ON licences(key_hash) WHERE key_hash IS NOT NULL;
