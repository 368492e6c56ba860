//! Connector credentials at rest: AES-256-GCM with a random 96-bit nonce per encryption, the
//! key from the Worker secret `CONNECTOR_ENCRYPTION_KEY` (base64 of 32 bytes), and the
//! connector id as associated data, so a ciphertext copied onto another connector's row does
//! not decrypt. Stored as base64(nonce || ciphertext || tag).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;

use crate::http::{AppError, AppResult};

/// Name of the Worker secret holding the key.
pub const KEY_VAR: &str = "CONNECTOR_ENCRYPTION_KEY";

/// The cipher, from the secret's base64 text.
pub fn cipher(key_base64: Option<&str>) -> AppResult<Aes256Gcm> {
    let unconfigured = || {
        AppError::new(
            503,
            "connector_credentials_unavailable",
            format!("connector credentials are not configured on this deployment ({KEY_VAR})"),
        )
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_base64.ok_or_else(unconfigured)?.trim())
        .ok()
        .filter(|key| key.len() == 32)
        .ok_or_else(|| {
            let mut error = unconfigured();
            error.internal = Some(format!("{KEY_VAR} must be base64 of 32 bytes"));
            error
        })?;
    Aes256Gcm::new_from_slice(&key).map_err(AppError::internal)
}

/// Encrypts `plaintext` for the connector `aad`.
pub fn seal(cipher: &Aes256Gcm, aad: &str, plaintext: &str, nonce: [u8; 12]) -> AppResult<String> {
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| AppError::internal("credential encryption failed"))?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Decrypts what [`seal`] produced for the same connector.
pub fn open(cipher: &Aes256Gcm, aad: &str, stored: &str) -> AppResult<String> {
    let failed = || AppError::internal("stored connector credential does not decrypt");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .map_err(|_| failed())?;
    if bytes.len() < 12 + 16 {
        return Err(failed());
    }
    let (nonce, sealed) = bytes.split_at(12);
    let plain = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| failed())?;
    String::from_utf8(plain).map_err(|_| failed())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn round_trip_bound_to_the_connector() {
        let cipher = cipher(Some(KEY)).unwrap();
        let sealed = seal(&cipher, "con_a", "s3cret-token", [7; 12]).unwrap();
        assert!(!sealed.contains("s3cret"));
        assert_eq!(open(&cipher, "con_a", &sealed).unwrap(), "s3cret-token");
        assert!(open(&cipher, "con_b", &sealed).is_err());
        let other = seal(&cipher, "con_a", "s3cret-token", [8; 12]).unwrap();
        assert_ne!(sealed, other, "a fresh nonce gives a fresh ciphertext");
    }

    #[test]
    fn missing_or_short_keys_are_refused() {
        assert_eq!(cipher(None).err().unwrap().status, 503);
        assert_eq!(cipher(Some("c2hvcnQ=")).err().unwrap().status, 503);
    }
}
