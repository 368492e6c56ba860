//! Short-lived signed URLs for sharing an asset without an account.
//!
//! A URL `/v1/shared/{org_id}/{asset_id}?exp=<unix seconds>&type=<mime>&sig=<hex>` carries an
//! HMAC-SHA256 (key: the Worker secret `ASSET_SIGNING_KEY`) over the path, the expiry and the
//! content type to serve. It is checked without any database lookup: the signature proves the
//! path was issued by us, and the storage key follows from the path.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::util;

/// Longest lifetime of a signed URL: 7 days.
pub const MAX_EXPIRES_IN: i64 = 7 * 24 * 3600;

/// Why a signed URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The signature does not match (tampered path, expiry or type, or another key).
    Invalid,
    /// The signature is ours but the expiry has passed.
    Expired,
}

/// The path a signed URL serves.
pub fn shared_path(org_id: &str, asset_id: &str) -> String {
    format!("/v1/shared/{org_id}/{asset_id}")
}

fn mac(key: &[u8], path: &str, expires: i64, mime: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    // Fields are separated by a newline, which none of them can contain.
    mac.update(format!("GET\n{path}\n{expires}\n{mime}").as_bytes());
    mac
}

/// The signature (lower-case hex) of `path` valid until `expires` (Unix seconds).
pub fn sign(key: &[u8], path: &str, expires: i64, mime: &str) -> String {
    let tag = mac(key, path, expires, mime).finalize().into_bytes();
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a signature in constant time, then the expiry against `now` (Unix seconds).
pub fn verify(
    key: &[u8],
    path: &str,
    expires: i64,
    mime: &str,
    signature: &str,
    now: i64,
) -> Result<(), Refusal> {
    let expected = sign(key, path, expires, mime);
    if !util::constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(Refusal::Invalid);
    }
    if now >= expires {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// Whether a MIME type is safe to echo into a `Content-Type` header.
pub fn plausible_mime(mime: &str) -> bool {
    let mut parts = mime.splitn(2, '/');
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!((parts.next(), parts.next()), (Some(a), Some(b)) if token(a) && token(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test signing key";

    #[test]
    fn a_signed_path_verifies_until_it_expires() {
        let path = shared_path("org_1", "ast_1");
        let sig = sign(KEY, &path, 1_000, "image/png");
        assert_eq!(sig.len(), 64);
        assert_eq!(verify(KEY, &path, 1_000, "image/png", &sig, 999), Ok(()));
        assert_eq!(
            verify(KEY, &path, 1_000, "image/png", &sig, 1_000),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let path = shared_path("org_1", "ast_1");
        let sig = sign(KEY, &path, 1_000, "image/png");
        let other_path = shared_path("org_1", "ast_2");
        for (path, expires, mime, sig, key) in [
            (other_path.as_str(), 1_000, "image/png", sig.as_str(), KEY),
            (path.as_str(), 2_000, "image/png", sig.as_str(), KEY),
            (path.as_str(), 1_000, "text/html", sig.as_str(), KEY),
            (path.as_str(), 1_000, "image/png", &sig[..63], KEY),
            (
                path.as_str(),
                1_000,
                "image/png",
                sig.as_str(),
                b"another key",
            ),
        ] {
            assert_eq!(
                verify(key, path, expires, mime, sig, 0),
                Err(Refusal::Invalid)
            );
        }
    }

    #[test]
    fn mime_types_are_checked_before_echoing() {
        assert!(plausible_mime("image/png"));
        assert!(plausible_mime("application/vnd.ms-excel"));
        assert!(!plausible_mime("text/html\r\nx: y"));
        assert!(!plausible_mime("nope"));
    }
}
