//! Password policy and hashing.
//!
//! Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane), computed in wasm:
//! WebCrypto's PBKDF2 is capped at 100,000 iterations in production, below OWASP's advice.
//! Passwords of 8–128 characters; the most common ones are refused (the list is Royce
//! Williams' 20k most common passwords as shipped by Django, BSD licence; only entries of
//! 8 characters or more are kept, since shorter ones fail the length rule anyway).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

use crate::http::{AppError, AppResult};
use crate::util;

const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// Shortest accepted password, in characters.
pub const MIN_LENGTH: usize = 8;
/// Longest accepted password, in characters (bounds hashing work per request).
pub const MAX_LENGTH: usize = 128;

fn argon2() -> Argon2<'static> {
    // 19 MiB memory, 2 iterations, 1 degree of parallelism: OWASP Password Storage Cheat Sheet.
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks length and commonness; 422 with a reason a person can act on.
pub fn check_policy(password: &str, email: &str) -> AppResult<()> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(AppError::invalid(
            "weak_password",
            format!("the password must have at least {MIN_LENGTH} characters"),
        ));
    }
    if length > MAX_LENGTH {
        return Err(AppError::invalid(
            "weak_password",
            format!("the password must have at most {MAX_LENGTH} characters"),
        ));
    }
    let lowered = password.to_lowercase();
    if is_common(&lowered) {
        return Err(AppError::invalid(
            "weak_password",
            "this password is among the most commonly used ones; choose another",
        ));
    }
    let local_part = email.split('@').next().unwrap_or("").to_lowercase();
    if (!local_part.is_empty() && lowered == local_part) || lowered == email.to_lowercase() {
        return Err(AppError::invalid(
            "weak_password",
            "the password must not be your email address",
        ));
    }
    Ok(())
}

fn is_common(lowered: &str) -> bool {
    // The list is sorted byte-wise, one entry per line.
    static ENTRIES: OnceLock<Vec<&'static str>> = OnceLock::new();
    ENTRIES
        .get_or_init(|| COMMON_PASSWORDS.lines().collect())
        .binary_search(&lowered)
        .is_ok()
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> AppResult<String> {
    let salt_bytes = util::random_bytes::<16>();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(AppError::internal)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(AppError::internal)
}

/// Verifies a password against a stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the account does not exist so that
/// unknown emails take as long as wrong passwords.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1Qj8QeVqVqjvYH5wFJZk0cH1m6uX9oFq7nH0m0wYt1E"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_list_is_sorted_and_found() {
        let entries: Vec<&str> = COMMON_PASSWORDS.lines().collect();
        assert!(entries.windows(2).all(|w| w[0] < w[1]));
        assert!(is_common("password"));
        assert!(is_common("12345678"));
        assert!(!is_common("vermilion-otter-canvas-92"));
    }

    #[test]
    fn the_dummy_hash_costs_a_full_verification() {
        // Logins for unknown emails verify against it; if it did not parse, they would skip the
        // Argon2 work and answer faster than wrong passwords do, telling which emails exist.
        let parsed = PasswordHash::new(dummy_hash()).expect("the dummy hash is a valid PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(parsed.params.get_str("m"), Some("19456"));
        assert!(!verify("vermilion-otter-canvas-92", dummy_hash()));
    }

    #[test]
    fn policy_refuses_short_long_and_common() {
        assert!(check_policy("short", "a@b.co").is_err());
        assert!(check_policy(&"x".repeat(129), "a@b.co").is_err());
        assert!(check_policy("Password", "a@b.co").is_err());
        assert!(check_policy("maria.lopez", "maria.lopez@example.com").is_err());
        assert!(check_policy("vermilion-otter-canvas-92", "a@b.co").is_ok());
    }
}
