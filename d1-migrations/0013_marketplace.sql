-- Marketplace (module 11): listings of the commerce catalog's products, their review by platform
-- admins, public discovery, ratings and reviews by verified buyers, and the uses of licences.
-- Products, prices, orders and licences themselves are defined in 0009_commerce_catalog.sql.
-- Times are integer milliseconds since the Unix epoch (UTC).

-- Platform administrators: the people who review listings and moderate reviews. Rows are granted
-- by operators (SQL, or the `npm start` seed); the `PLATFORM_ADMIN_EMAILS` variable names more
-- (comma-separated emails) without a row.
CREATE TABLE platform_admins (
  user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  granted_at INTEGER NOT NULL
);

-- A product's shop window: one listing per product, owned by the product's seller org.
-- Lifecycle: draft → in_review (submitted) → published | rejected (with reason);
-- published ⇄ unlisted. Editing a published or unlisted listing sends it back to in_review.
CREATE TABLE listings (
  id               TEXT PRIMARY KEY,              -- lst_<ULID>
  org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,   -- the seller
  product_id       TEXT NOT NULL UNIQUE REFERENCES products(id) ON DELETE CASCADE,
  title            TEXT NOT NULL,
  summary          TEXT NOT NULL DEFAULT '',
  category         TEXT NOT NULL,
  tags             TEXT NOT NULL DEFAULT '[]',    -- JSON array of lower-case strings
  tags_text        TEXT NOT NULL DEFAULT '',      -- the tags joined by spaces, for full-text search
  cover_asset_id   TEXT,
  status           TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'in_review', 'published',
                     'rejected', 'unlisted')),
  rejection_reason TEXT,
  -- Rating aggregate over visible reviews, kept in the same batch as every review change.
  rating_count     INTEGER NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
  rating_sum       INTEGER NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
  submitted_at     INTEGER,
  reviewed_by      TEXT,
  published_at     INTEGER,                       -- first publication; "newest" sorts by it
  created_by       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX listings_by_org ON listings(org_id, id);
CREATE INDEX listings_by_status ON listings(status, published_at, id);
CREATE INDEX listings_by_category ON listings(status, category, id);

CREATE VIRTUAL TABLE listings_fts USING fts5(
  title, summary, tags_text, category, content='listings', content_rowid='rowid', tokenize='unicode61'
);
CREATE TRIGGER listings_fts_insert AFTER INSERT ON listings BEGIN
  INSERT INTO listings_fts(rowid, title, summary, tags_text, category)
    VALUES (new.rowid, new.title, new.summary, new.tags_text, new.category);
END;
CREATE TRIGGER listings_fts_delete AFTER DELETE ON listings BEGIN
  INSERT INTO listings_fts(listings_fts, rowid, title, summary, tags_text, category)
    VALUES ('delete', old.rowid, old.title, old.summary, old.tags_text, old.category);
END;
CREATE TRIGGER listings_fts_update AFTER UPDATE OF title, summary, tags_text, category ON listings BEGIN
  INSERT INTO listings_fts(listings_fts, rowid, title, summary, tags_text, category)
    VALUES ('delete', old.rowid, old.title, old.summary, old.tags_text, old.category);
  INSERT INTO listings_fts(rowid, title, summary, tags_text, category)
    VALUES (new.rowid, new.title, new.summary, new.tags_text, new.category);
END;

-- A rating and review of a product by a verified buyer: one per buyer per product.
CREATE TABLE reviews (
  id             TEXT PRIMARY KEY,                -- rev_<ULID>
  listing_id     TEXT NOT NULL REFERENCES listings(id) ON DELETE CASCADE,
  product_id     TEXT NOT NULL,
  seller_org_id  TEXT NOT NULL,
  author_user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  rating         INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
  body           TEXT NOT NULL DEFAULT '',
  status         TEXT NOT NULL DEFAULT 'visible' CHECK (status IN ('visible', 'hidden')),
  seller_reply   TEXT,
  seller_reply_at INTEGER,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX reviews_once_per_buyer ON reviews(product_id, author_user_id);
CREATE INDEX reviews_by_listing ON reviews(listing_id, status, id);

-- Reports of reviews for moderation: one per reporter per review.
CREATE TABLE review_reports (
  id               TEXT PRIMARY KEY,              -- rpt_<ULID>
  review_id        TEXT NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
  reporter_user_id TEXT NOT NULL,
  reason           TEXT NOT NULL,
  status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  created_at       INTEGER NOT NULL,
  resolved_at      INTEGER
);
CREATE UNIQUE INDEX review_reports_once ON review_reports(review_id, reporter_user_id);
CREATE INDEX review_reports_open ON review_reports(status, id);

-- Every unit consumed from a usage licence (and every use of a licence, whatever its type):
-- what it was used for. A consumed unit's row is written in the same batch as the counter; the
-- CHECK makes the batch fail when the guarded counter update changed nothing (no unit left).
CREATE TABLE licence_uses (
  id         TEXT PRIMARY KEY,                    -- use_<ULID>
  licence_id TEXT NOT NULL REFERENCES licences(id),
  purpose    TEXT NOT NULL,                       -- 'template', 'effect_preset', 'agent', 'workflow'
  target_id  TEXT,                                -- the project (or run) it was used for
  units      INTEGER NOT NULL CHECK (units >= 0),
  counted    INTEGER NOT NULL CHECK (counted = 1),
  actor_id   TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX licence_uses_by_licence ON licence_uses(licence_id, id);

-- Sales counts of listings and the sellers' list of licences sold, per product.
CREATE INDEX licences_by_product_status ON licences(product_id, status);
