//! Small shared helpers: identifiers, clocks, tokens and hashing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Milliseconds since the Unix epoch, from the runtime's clock.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Cryptographically secure random bytes (WebCrypto in the Worker).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The runtime's CSPRNG does not fail in practice; a zeroed buffer would be unsafe, so a
    // failure aborts the request (turned into a 500 by the entry point) rather than continuing.
    getrandom::fill(&mut bytes).expect("the runtime's CSPRNG is available");
    bytes
}

/// A new time-ordered identifier with a type prefix, e.g. `usr_01JD…`.
pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let random = random_bytes::<10>();
    let mut value: u128 = 0;
    for byte in random {
        value = (value << 8) | byte as u128;
    }
    let ulid = ulid::Ulid::from_parts(now_ms.max(0) as u64, value);
    format!("{prefix}_{ulid}")
}

/// A bearer secret: 256 bits from the CSPRNG, base64url.
pub fn new_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// SHA-256 as lower-case hex. Used for high-entropy tokens, which need no slow hash.
pub fn sha256_hex(input: &[u8]) -> String {
    let digest = Sha256::digest(input);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 3339 UTC rendering of a millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    let nanos = ms as i128 * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
