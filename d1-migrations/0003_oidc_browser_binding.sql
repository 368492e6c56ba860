-- OpenID Connect logins are bound to the browser that started them: the SHA-256 of a random
-- value kept in a short-lived cookie, checked at the callback (no login CSRF).
ALTER TABLE oidc_logins ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';
