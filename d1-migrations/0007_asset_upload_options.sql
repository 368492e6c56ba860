-- Multipart uploads remember the kind and tags asked for at creation, applied when the
-- upload completes and the asset is recorded.
ALTER TABLE asset_uploads ADD COLUMN kind TEXT;
ALTER TABLE asset_uploads ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
