//! ID token verification: JOSE parsing, the signature (WebCrypto, against the provider's JWKS)
//! and the claims (OpenID Connect Core 1.0, §3.1.3.7).
//!
//! Parsing and the claim checks are pure and unit-tested; only the signature check needs the
//! runtime. Nothing here logs or returns the token itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::util;

/// Largest ID token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Tolerated clock difference with the provider for `exp` and `nbf`, in seconds.
pub const EXPIRY_LEEWAY_S: i64 = 60;
/// Tolerated clock difference for `iat`: a token may not claim to come from the future, nor
/// from well before the login it answers was started.
pub const ISSUED_AT_LEEWAY_S: i64 = 300;

/// Why an ID token was refused. The message is safe to show; it names the failed check only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    Malformed,
    /// An algorithm we do not accept (`none`, HMAC, …) or a critical extension.
    UnsupportedAlgorithm,
    /// No key of the provider's JWKS fits the token's header.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the provider's issuer.
    WrongIssuer,
    /// `aud` does not contain our client id, or `azp` names another client.
    WrongAudience,
    /// `exp` has passed (or is missing).
    Expired,
    /// `iat` is missing or outside the tolerated window; `nbf` is in the future.
    BadTimestamps,
    /// `nonce` is missing or is not the one sent with this login.
    WrongNonce,
    /// `sub` is missing or unusable.
    BadSubject,
}

impl TokenError {
    /// A sentence for the error message.
    pub fn message(&self) -> &'static str {
        match self {
            TokenError::Malformed => "the ID token is malformed",
            TokenError::UnsupportedAlgorithm => {
                "the ID token uses a signing algorithm that is not accepted"
            }
            TokenError::UnknownKey => {
                "the ID token is signed with a key the provider does not publish"
            }
            TokenError::BadSignature => "the ID token signature is not valid",
            TokenError::WrongIssuer => "the ID token was issued by another issuer",
            TokenError::WrongAudience => "the ID token was issued for another client",
            TokenError::Expired => "the ID token has expired",
            TokenError::BadTimestamps => "the ID token's issue time is not plausible",
            TokenError::WrongNonce => "the ID token does not answer this sign-in (nonce mismatch)",
            TokenError::BadSubject => "the ID token has no usable subject",
        }
    }

    /// A short machine reason for the audit trail.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnsupportedAlgorithm => "unsupported_alg",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::Expired => "expired",
            TokenError::BadTimestamps => "bad_timestamps",
            TokenError::WrongNonce => "wrong_nonce",
            TokenError::BadSubject => "bad_subject",
        }
    }
}

/// Signing algorithms accepted for ID tokens (asymmetric only: never `none`, never HMAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
}

impl Alg {
    fn parse(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "RS384" => Some(Alg::Rs384),
            "RS512" => Some(Alg::Rs512),
            "ES256" => Some(Alg::Es256),
            "ES384" => Some(Alg::Es384),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
        }
    }

    fn hash(self) -> &'static str {
        match self {
            Alg::Rs256 | Alg::Es256 => "SHA-256",
            Alg::Rs384 | Alg::Es384 => "SHA-384",
            Alg::Rs512 => "SHA-512",
        }
    }

    fn key_type(self) -> &'static str {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 => "RSA",
            Alg::Es256 | Alg::Es384 => "EC",
        }
    }

    fn curve(self) -> Option<&'static str> {
        match self {
            Alg::Es256 => Some("P-256"),
            Alg::Es384 => Some("P-384"),
            _ => None,
        }
    }
}

/// One public key of a provider's JWKS (only the members we use).
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    /// `RSA` or `EC`.
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// `sig` or `enc`.
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// Algorithm the key is meant for.
    #[serde(default)]
    pub alg: Option<String>,
    /// RSA modulus.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default)]
    pub e: Option<String>,
    /// EC curve.
    #[serde(default)]
    pub crv: Option<String>,
    /// EC x coordinate.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default)]
    pub y: Option<String>,
}

/// A JWKS document.
#[derive(Debug, Clone, Deserialize)]
pub struct JwkSet {
    /// The keys; entries we cannot read are skipped, not fatal.
    #[serde(deserialize_with = "lenient_keys")]
    pub keys: Vec<Jwk>,
}

fn lenient_keys<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Jwk>, D::Error> {
    let values = Vec::<Value>::deserialize(deserializer)?;
    Ok(values
        .into_iter()
        .filter_map(|value| serde_json::from_value(value).ok())
        .collect())
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug)]
pub struct Jws {
    /// The accepted algorithm named in the header.
    pub alg: Alg,
    /// `kid` from the header.
    pub kid: Option<String>,
    /// `base64url(header) . base64url(payload)`: the bytes that are signed.
    pub signing_input: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// The payload's claims.
    pub claims: Map<String, Value>,
}

fn decode_part(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

/// Splits and decodes a compact JWS; refuses what we will not verify.
pub fn parse(token: &str) -> Result<Jws, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&decode_part(header)?).map_err(|_| TokenError::Malformed)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Alg::parse)
        .ok_or(TokenError::UnsupportedAlgorithm)?;
    // We understand no critical header extension, so a token that lists one must be refused
    // (RFC 7515 §4.1.11). Keys embedded or referenced by the header (jwk, jku, x5u, x5c) are
    // ignored: only the provider's published JWKS is trusted.
    if header.contains_key("crit") {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(TokenError::Malformed),
    };
    let claims: Map<String, Value> =
        serde_json::from_slice(&decode_part(payload)?).map_err(|_| TokenError::Malformed)?;
    let signature = decode_part(signature)?;
    if signature.is_empty() {
        return Err(TokenError::BadSignature);
    }
    let last_dot = token.rfind('.').ok_or(TokenError::Malformed)?;
    let signing_input = token
        .get(..last_dot)
        .ok_or(TokenError::Malformed)?
        .to_string();
    Ok(Jws {
        alg,
        kid,
        signing_input,
        signature,
        claims,
    })
}

/// Keys of `keys` that may have signed `jws`, best first.
pub fn candidate_keys<'a>(jws: &Jws, keys: &'a [Jwk]) -> Vec<&'a Jwk> {
    keys.iter()
        .filter(|key| key.kty == jws.alg.key_type())
        .filter(|key| key.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter(|key| key.alg.as_deref().is_none_or(|a| a == jws.alg.name()))
        .filter(|key| {
            jws.alg
                .curve()
                .is_none_or(|crv| key.crv.as_deref() == Some(crv))
        })
        .filter(|key| match (&jws.kid, &key.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect()
}

/// The WebCrypto parameters to import `key` for `alg` and to verify with it, or `None` when
/// the key is unusable (weak RSA modulus, missing members, wrong curve).
fn webcrypto_parameters(alg: Alg, key: &Jwk) -> Option<(Value, Value, Value)> {
    match alg.key_type() {
        "RSA" => {
            let n = key.n.as_deref()?;
            let e = key.e.as_deref()?;
            // At least 2048-bit moduli (NIST SP 800-131A), at most 8192 (bounded work).
            let modulus = URL_SAFE_NO_PAD.decode(n).ok()?;
            let significant = modulus.iter().skip_while(|b| **b == 0).count();
            if !(256..=1024).contains(&significant) {
                return None;
            }
            let jwk = serde_json::json!({ "kty": "RSA", "n": n, "e": e, "ext": true });
            let import =
                serde_json::json!({ "name": "RSASSA-PKCS1-v1_5", "hash": { "name": alg.hash() } });
            let verify = serde_json::json!({ "name": "RSASSA-PKCS1-v1_5" });
            Some((jwk, import, verify))
        }
        _ => {
            let crv = alg.curve()?;
            let jwk = serde_json::json!({
                "kty": "EC", "crv": crv, "x": key.x.as_deref()?, "y": key.y.as_deref()?, "ext": true,
            });
            let import = serde_json::json!({ "name": "ECDSA", "namedCurve": crv });
            let verify = serde_json::json!({ "name": "ECDSA", "hash": { "name": alg.hash() } });
            Some((jwk, import, verify))
        }
    }
}

/// Verifies the signature of `jws` with `key` through the runtime's WebCrypto.
pub async fn verify_signature(jws: &Jws, key: &Jwk) -> bool {
    let Some((jwk, import, verify)) = webcrypto_parameters(jws.alg, key) else {
        return false;
    };
    // ECDSA signatures in JWS are the raw r‖s pair WebCrypto expects; refuse other lengths.
    let expected_len = match jws.alg {
        Alg::Es256 => Some(64),
        Alg::Es384 => Some(96),
        _ => None,
    };
    if expected_len.is_some_and(|len| jws.signature.len() != len) {
        return false;
    }
    webcrypto::verify(
        &jwk,
        &import,
        &verify,
        &jws.signature,
        jws.signing_input.as_bytes(),
    )
    .await
    .unwrap_or(false)
}

mod webcrypto {
    //! `crypto.subtle.importKey` + `crypto.subtle.verify`, reached through js-sys so the
    //! bundle carries no big-number code of its own.

    use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
    use serde_json::Value;
    use wasm_bindgen::{JsCast, JsValue};
    use worker::wasm_bindgen_futures::JsFuture;

    fn member(target: &JsValue, name: &str) -> Result<JsValue, JsValue> {
        Reflect::get(target, &JsValue::from_str(name))
    }

    async fn call(target: &JsValue, method: &str, args: &Array) -> Result<JsValue, JsValue> {
        let function: Function = member(target, method)?.dyn_into()?;
        let promise: Promise = function.apply(target, args)?.dyn_into()?;
        JsFuture::from(promise).await
    }

    pub(super) async fn verify(
        jwk: &Value,
        import_algorithm: &Value,
        verify_algorithm: &Value,
        signature: &[u8],
        data: &[u8],
    ) -> Result<bool, JsValue> {
        let parse = |value: &Value| js_sys::JSON::parse(&value.to_string());
        let subtle = member(&member(&js_sys::global(), "crypto")?, "subtle")?;
        let key = call(
            &subtle,
            "importKey",
            &Array::of5(
                &JsValue::from_str("jwk"),
                &parse(jwk)?,
                &parse(import_algorithm)?,
                &JsValue::FALSE,
                &Array::of1(&JsValue::from_str("verify")),
            ),
        )
        .await?;
        let verified = call(
            &subtle,
            "verify",
            &Array::of4(
                &parse(verify_algorithm)?,
                &key,
                &Uint8Array::from(signature),
                &Uint8Array::from(data),
            ),
        )
        .await?;
        Ok(verified.as_bool() == Some(true))
    }
}

/// What the claims must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The provider's issuer, exactly.
    pub issuer: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// The nonce sent with this login.
    pub nonce: &'a str,
    /// Now, in seconds since the epoch.
    pub now_s: i64,
    /// When this login was started, in seconds since the epoch.
    pub started_s: i64,
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `sub`: the provider's stable id for the person.
    pub subject: String,
    /// `email`, if shared.
    pub email: Option<String>,
    /// `email_verified`, when `email` is shared.
    pub email_verified: bool,
    /// A display name, if any.
    pub name: Option<String>,
}

fn seconds(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let value = claims.get(name)?.as_f64()?;
    value.is_finite().then_some(value as i64)
}

/// `email_verified` as providers send it: a boolean, or (some) the string "true".
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The person's display name from standard claims.
pub fn display_name(claims: &Map<String, Value>) -> Option<String> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    text("name")
        .or_else(|| match (text("given_name"), text("family_name")) {
            (Some(given), Some(family)) => Some(format!("{given} {family}")),
            (given, family) => given.or(family),
        })
        .or_else(|| text("preferred_username"))
}

/// Checks the claims of a token whose signature has been verified (OIDC Core §3.1.3.7).
pub fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<Subject, TokenError> {
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(TokenError::WrongIssuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => return Err(TokenError::WrongAudience),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(TokenError::WrongAudience);
    }
    match claims.get("azp") {
        None | Some(Value::Null) if audiences.len() == 1 => {}
        // With several audiences the authorised party must be named, and be us.
        Some(Value::String(azp)) if azp == expected.client_id => {}
        _ => return Err(TokenError::WrongAudience),
    }
    let exp = seconds(claims, "exp").ok_or(TokenError::Expired)?;
    if expected.now_s >= exp.saturating_add(EXPIRY_LEEWAY_S) {
        return Err(TokenError::Expired);
    }
    let iat = seconds(claims, "iat").ok_or(TokenError::BadTimestamps)?;
    if iat > expected.now_s + ISSUED_AT_LEEWAY_S || iat < expected.started_s - ISSUED_AT_LEEWAY_S {
        return Err(TokenError::BadTimestamps);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf
            .as_f64()
            .filter(|n| n.is_finite())
            .ok_or(TokenError::BadTimestamps)? as i64;
        if nbf > expected.now_s + EXPIRY_LEEWAY_S {
            return Err(TokenError::BadTimestamps);
        }
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if nonce.is_empty() || !util::constant_time_eq(nonce.as_bytes(), expected.nonce.as_bytes()) {
        return Err(TokenError::WrongNonce);
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|sub| !sub.is_empty() && sub.len() <= 255 && !sub.chars().any(char::is_control))
        .ok_or(TokenError::BadSubject)?
        .to_string();
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_string);
    let email_verified = email.is_some() && truthy(claims.get("email_verified"));
    Ok(Subject {
        subject,
        email,
        email_verified,
        name: display_name(claims),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn token(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode([7u8; 256])
        )
    }

    fn good_claims() -> Value {
        serde_json::json!({
            "iss": "https://idp.example", "aud": "client-1", "sub": "user-1", "nonce": "n-1",
            "exp": 2_000, "iat": 1_000, "email": "Ada@Example.com", "email_verified": true, "name": "Ada",
        })
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "client-1",
            nonce: "n-1",
            now_s: 1_010,
            started_s: 990,
        }
    }

    fn check(claims: Value) -> Result<Subject, TokenError> {
        let Value::Object(map) = claims else {
            unreachable!()
        };
        check_claims(&map, &expected())
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    #[test]
    fn parses_a_compact_jws() {
        let jwt = token(
            serde_json::json!({"alg": "RS256", "kid": "k1"}),
            good_claims(),
        );
        let jws = parse(&jwt).unwrap();
        assert_eq!(jws.alg, Alg::Rs256);
        assert_eq!(jws.kid.as_deref(), Some("k1"));
        assert_eq!(jws.signature.len(), 256);
        assert_eq!(
            format!("{}.", jws.signing_input),
            jwt[..jwt.rfind('.').unwrap() + 1]
        );
    }

    #[test]
    fn refuses_unsafe_algorithms_and_garbage() {
        for alg in ["none", "HS256", "PS256", "", "rs256"] {
            let jwt = token(serde_json::json!({"alg": alg}), good_claims());
            assert_eq!(
                parse(&jwt).unwrap_err(),
                TokenError::UnsupportedAlgorithm,
                "{alg}"
            );
        }
        let crit = token(
            serde_json::json!({"alg": "RS256", "crit": ["exp"]}),
            good_claims(),
        );
        assert_eq!(parse(&crit).unwrap_err(), TokenError::UnsupportedAlgorithm);
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.??.**",
            "e30.e30.",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selects_keys_by_kid_type_use_and_alg() {
        let keys: Vec<Jwk> = serde_json::from_value(serde_json::json!([
            {"kty": "RSA", "kid": "a", "n": "x", "e": "AQAB"},
            {"kty": "RSA", "kid": "b", "use": "enc", "n": "x", "e": "AQAB"},
            {"kty": "RSA", "kid": "c", "alg": "RS512", "n": "x", "e": "AQAB"},
            {"kty": "EC", "kid": "d", "crv": "P-256", "x": "x", "y": "y"},
        ]))
        .unwrap();
        let jws = |kid: Option<&str>, alg| Jws {
            alg,
            kid: kid.map(str::to_string),
            signing_input: String::new(),
            signature: vec![1],
            claims: Map::new(),
        };
        let kids = |jws: &Jws| -> Vec<String> {
            candidate_keys(jws, &keys)
                .iter()
                .filter_map(|k| k.kid.clone())
                .collect()
        };
        assert_eq!(kids(&jws(Some("a"), Alg::Rs256)), ["a"]);
        assert!(kids(&jws(Some("b"), Alg::Rs256)).is_empty());
        assert!(kids(&jws(Some("c"), Alg::Rs256)).is_empty());
        assert_eq!(kids(&jws(None, Alg::Rs256)), ["a"]);
        assert_eq!(kids(&jws(Some("d"), Alg::Es256)), ["d"]);
        assert!(kids(&jws(Some("d"), Alg::Es384)).is_empty());
        assert!(kids(&jws(Some("zzz"), Alg::Rs256)).is_empty());
    }

    #[test]
    fn rejects_weak_rsa_keys() {
        let key = |bytes: usize| Jwk {
            kty: "RSA".into(),
            kid: None,
            use_: None,
            alg: None,
            n: Some(URL_SAFE_NO_PAD.encode(vec![0xffu8; bytes])),
            e: Some("AQAB".into()),
            crv: None,
            x: None,
            y: None,
        };
        assert!(webcrypto_parameters(Alg::Rs256, &key(128)).is_none());
        assert!(webcrypto_parameters(Alg::Rs256, &key(256)).is_some());
    }

    #[test]
    fn accepts_good_claims() {
        let subject = check(good_claims()).unwrap();
        assert_eq!(subject.subject, "user-1");
        assert_eq!(subject.email.as_deref(), Some("Ada@Example.com"));
        assert!(subject.email_verified);
        assert_eq!(subject.name.as_deref(), Some("Ada"));
        let listed = with(good_claims(), "aud", serde_json::json!(["client-1"]));
        assert!(check(listed).is_ok());
        let several = with(good_claims(), "aud", serde_json::json!(["client-1", "api"]));
        assert!(check(with(several, "azp", serde_json::json!("client-1"))).is_ok());
        let string_flag = with(good_claims(), "email_verified", serde_json::json!("true"));
        assert!(check(string_flag).unwrap().email_verified);
    }

    #[test]
    fn rejects_each_bad_claim() {
        use serde_json::json;
        let cases = [
            (
                "iss",
                json!("https://evil.example"),
                TokenError::WrongIssuer,
            ),
            ("iss", json!(null), TokenError::WrongIssuer),
            ("aud", json!("client-2"), TokenError::WrongAudience),
            (
                "aud",
                json!(["client-2", "client-3"]),
                TokenError::WrongAudience,
            ),
            (
                "aud",
                json!(["client-1", "client-2"]),
                TokenError::WrongAudience,
            ),
            ("azp", json!("client-2"), TokenError::WrongAudience),
            ("exp", json!(900), TokenError::Expired),
            ("exp", json!("2000"), TokenError::Expired),
            ("iat", json!(1_400), TokenError::BadTimestamps),
            ("iat", json!(600), TokenError::BadTimestamps),
            ("nbf", json!(1_500), TokenError::BadTimestamps),
            ("nonce", json!("n-2"), TokenError::WrongNonce),
            ("nonce", json!(""), TokenError::WrongNonce),
            ("sub", json!(""), TokenError::BadSubject),
            ("sub", json!(42), TokenError::BadSubject),
        ];
        for (name, value, error) in cases {
            assert_eq!(
                check(with(good_claims(), name, value.clone())),
                Err(error),
                "{name}={value}"
            );
        }
        let mut missing_nonce = good_claims();
        missing_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(missing_nonce), Err(TokenError::WrongNonce));
        // Within the leeway, a just-expired token still passes; beyond it, it does not.
        assert!(check(with(good_claims(), "exp", json!(1_000))).is_ok());
        assert_eq!(
            check(with(good_claims(), "exp", json!(950))),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn unverified_or_missing_email_is_not_verified() {
        let unverified = with(good_claims(), "email_verified", serde_json::json!(false));
        assert!(!check(unverified).unwrap().email_verified);
        let mut absent = good_claims();
        absent.as_object_mut().unwrap().remove("email_verified");
        assert!(!check(absent).unwrap().email_verified);
    }
}
