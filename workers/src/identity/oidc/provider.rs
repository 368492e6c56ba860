//! Talking to an OpenID provider over `worker::Fetch`: discovery, its JWKS, the token endpoint
//! and userinfo. Discovery documents and key sets are cached in memory per isolate for a few
//! minutes, so most logins cost one round trip to the provider (the code exchange).
//!
//! Errors name the endpoint and status for the log, never a token, code or secret.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

use super::id_token::{Jwk, JwkSet};
use crate::http::{AppError, AppResult};
use crate::util;

/// How long discovery documents and key sets are reused.
pub const CACHE_TTL_MS: i64 = 5 * 60_000;
/// A key set is fetched again for an unknown `kid` (key rotation) at most this often.
const KEY_REFRESH_MIN_MS: i64 = 30_000;
/// Each call to the provider gives up after this long.
const FETCH_TIMEOUT_MS: u32 = 10_000;
/// Largest answer read from the provider.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// The parts of the provider's metadata (OpenID Connect Discovery 1.0) the login uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// Must equal the configured issuer.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// Claims about the person, when the ID token does not carry them.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// Client authentication methods; absent means `client_secret_basic`.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// How we authenticate to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (the default of RFC 6749 and OIDC).
    Basic,
    /// Both in the form body, for providers that only offer that.
    Post,
}

impl Metadata {
    /// `client_secret_basic` when offered (or nothing is said), else `client_secret_post`.
    pub fn client_auth(&self) -> Option<ClientAuth> {
        match &self.token_endpoint_auth_methods_supported {
            None => Some(ClientAuth::Basic),
            Some(methods) if methods.iter().any(|m| m == "client_secret_basic") => {
                Some(ClientAuth::Basic)
            }
            Some(methods) if methods.iter().any(|m| m == "client_secret_post") => {
                Some(ClientAuth::Post)
            }
            Some(_) => None,
        }
    }

    fn endpoints(&self) -> impl Iterator<Item = &str> {
        [
            Some(self.authorization_endpoint.as_str()),
            Some(self.token_endpoint.as_str()),
            Some(self.jwks_uri.as_str()),
            self.userinfo_endpoint.as_deref(),
        ]
        .into_iter()
        .flatten()
    }
}

/// Whether a provider URL may be used: HTTPS, or plain HTTP to this machine only (local
/// development and tests against a provider on loopback).
pub fn allowed_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

struct Cached<T> {
    fetched_at: i64,
    value: T,
}

thread_local! {
    static METADATA: RefCell<HashMap<String, Cached<Metadata>>> = RefCell::new(HashMap::new());
    static KEYS: RefCell<HashMap<String, Cached<Vec<Jwk>>>> = RefCell::new(HashMap::new());
}

/// 502: the provider could not be reached or answered nonsense.
pub fn unavailable(detail: impl Into<String>) -> AppError {
    let mut error = AppError::new(
        502,
        "oidc_provider_unavailable",
        "the sign-in provider could not be reached or answered unexpectedly; try again later",
    );
    error.internal = Some(detail.into());
    error
}

/// Where a URL points, without its query (which may carry secrets), for log lines.
fn endpoint_of(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            url.set_query(None);
            url.to_string()
        }
        Err(_) => "an unparsable URL".to_string(),
    }
}

/// One HTTP exchange with the provider: never follows redirects, bounded in time and size.
async fn send(
    method: Method,
    url: &str,
    headers: Headers,
    body: Option<String>,
) -> Result<(u16, String), String> {
    let where_ = endpoint_of(url);
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(body.map(Into::into));
    let request = Request::new_with_init(url, &init).map_err(|e| format!("{where_}: {e}"))?;
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(
        FETCH_TIMEOUT_MS,
    ));
    let mut response = Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(|e| format!("{where_}: {e}"))?;
    let status = response.status_code();
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(format!("{where_}: answer too large"));
    }
    let text = response
        .text()
        .await
        .map_err(|e| format!("{where_}: {e}"))?;
    if text.len() > MAX_BODY_BYTES {
        return Err(format!("{where_}: answer too large"));
    }
    Ok((status, text))
}

fn accept_json() -> Headers {
    let headers = Headers::new();
    let _ = headers.set("accept", "application/json");
    headers
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> AppResult<T> {
    let (status, text) = send(Method::Get, url, accept_json(), None)
        .await
        .map_err(unavailable)?;
    if status != 200 {
        return Err(unavailable(format!(
            "{} answered {status}",
            endpoint_of(url)
        )));
    }
    serde_json::from_str(&text).map_err(|e| unavailable(format!("{}: {e}", endpoint_of(url))))
}

/// The provider's metadata, from the cache or `{issuer}/.well-known/openid-configuration`.
pub async fn metadata(now: i64, issuer: &str) -> AppResult<Metadata> {
    let cached = METADATA.with(|cache| {
        cache
            .borrow()
            .get(issuer)
            .filter(|entry| (0..CACHE_TTL_MS).contains(&(now - entry.fetched_at)))
            .map(|entry| entry.value.clone())
    });
    if let Some(metadata) = cached {
        return Ok(metadata);
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let metadata: Metadata = get_json(&url).await?;
    // OIDC Discovery §4.3: the issuer in the document must be exactly the one we asked.
    if metadata.issuer != issuer {
        return Err(unavailable(format!(
            "{url}: issuer {} does not match",
            metadata.issuer
        )));
    }
    if let Some(bad) = metadata.endpoints().find(|endpoint| !allowed_url(endpoint)) {
        return Err(unavailable(format!(
            "{url}: endpoint {} is not HTTPS",
            endpoint_of(bad)
        )));
    }
    METADATA.with(|cache| {
        cache.borrow_mut().insert(
            issuer.to_string(),
            Cached {
                fetched_at: now,
                value: metadata.clone(),
            },
        )
    });
    Ok(metadata)
}

/// The provider's signing keys. With `refresh` (a token named a key we do not have), a set
/// older than [`KEY_REFRESH_MIN_MS`] is fetched again, so rotated keys are picked up quickly
/// while a flood of bogus `kid`s cannot make us hammer the provider.
pub async fn keys(now: i64, jwks_uri: &str, refresh: bool) -> AppResult<Vec<Jwk>> {
    let max_age = if refresh {
        KEY_REFRESH_MIN_MS
    } else {
        CACHE_TTL_MS
    };
    let cached = KEYS.with(|cache| {
        cache
            .borrow()
            .get(jwks_uri)
            .filter(|entry| (0..max_age).contains(&(now - entry.fetched_at)))
            .map(|entry| entry.value.clone())
    });
    if let Some(keys) = cached {
        return Ok(keys);
    }
    let set: JwkSet = get_json(jwks_uri).await?;
    KEYS.with(|cache| {
        cache.borrow_mut().insert(
            jwks_uri.to_string(),
            Cached {
                fetched_at: now,
                value: set.keys.clone(),
            },
        )
    });
    Ok(set.keys)
}

/// What the token endpoint gave back.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    /// The ID token (required for OpenID Connect).
    pub id_token: Option<String>,
    /// An access token, used for userinfo only.
    #[serde(default)]
    pub access_token: Option<String>,
}

/// What our request to the token endpoint carries.
pub struct CodeExchange<'a> {
    /// Our client id at the provider.
    pub client_id: &'a str,
    /// Our client secret.
    pub client_secret: &'a str,
    /// The authorization code.
    pub code: &'a str,
    /// The PKCE verifier whose challenge went with the authorization request.
    pub code_verifier: &'a str,
    /// The redirect URI used in the authorization request.
    pub redirect_uri: &'a str,
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The provider's OAuth error code, if it is a plain one safe to echo.
fn oauth_error(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    let code = value.get("error")?.as_str()?;
    (!code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    .then(|| code.to_string())
}

/// 400: the provider refused the exchange (bad code, bad client credentials, PKCE mismatch…).
fn exchange_refused(detail: Option<String>) -> AppError {
    let message = match &detail {
        Some(code) => {
            format!("the sign-in provider refused the authorization code ({code}); start again")
        }
        None => "the sign-in provider refused the authorization code; start again".to_string(),
    };
    AppError::bad_request("oidc_token_exchange_failed", message)
}

/// Exchanges the code at the token endpoint (authorization code grant with PKCE).
pub async fn exchange_code(metadata: &Metadata, exchange: &CodeExchange<'_>) -> AppResult<Tokens> {
    let auth = metadata.client_auth().ok_or_else(|| {
        unavailable("the provider offers neither client_secret_basic nor client_secret_post")
    })?;
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", exchange.code)
        .append_pair("redirect_uri", exchange.redirect_uri)
        .append_pair("code_verifier", exchange.code_verifier);
    let headers = accept_json();
    let _ = headers.set("content-type", "application/x-www-form-urlencoded");
    match auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: both parts are form-encoded before Base64.
            let pair = format!(
                "{}:{}",
                form_encode(exchange.client_id),
                form_encode(exchange.client_secret)
            );
            use base64::Engine;
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            let _ = headers.set("authorization", &format!("Basic {encoded}"));
        }
        ClientAuth::Post => {
            form.append_pair("client_id", exchange.client_id)
                .append_pair("client_secret", exchange.client_secret);
        }
    }
    let (status, text) = send(
        Method::Post,
        &metadata.token_endpoint,
        headers,
        Some(form.finish()),
    )
    .await
    .map_err(unavailable)?;
    match status {
        200 => {
            let tokens: Tokens = serde_json::from_str(&text).map_err(|e| {
                unavailable(format!("{}: {e}", endpoint_of(&metadata.token_endpoint)))
            })?;
            if tokens.id_token.as_deref().is_none_or(str::is_empty) {
                return Err(AppError::bad_request(
                    "oidc_token_exchange_failed",
                    "the sign-in provider returned no ID token",
                ));
            }
            Ok(tokens)
        }
        400..=499 => {
            let code = oauth_error(&text);
            let mut error = exchange_refused(code.clone());
            error.internal = Some(format!(
                "{} answered {status} {}",
                endpoint_of(&metadata.token_endpoint),
                code.unwrap_or_default()
            ));
            Err(error)
        }
        _ => Err(unavailable(format!(
            "{} answered {status}",
            endpoint_of(&metadata.token_endpoint)
        ))),
    }
}

/// Claims from the userinfo endpoint (a JSON object; signed userinfo is not supported).
pub async fn userinfo(metadata: &Metadata, access_token: &str) -> AppResult<Map<String, Value>> {
    let Some(endpoint) = metadata.userinfo_endpoint.as_deref() else {
        return Ok(Map::new());
    };
    let headers = accept_json();
    let _ = headers.set("authorization", &format!("Bearer {access_token}"));
    let (status, text) = send(Method::Get, endpoint, headers, None)
        .await
        .map_err(unavailable)?;
    if status != 200 {
        return Err(unavailable(format!(
            "{} answered {status}",
            endpoint_of(endpoint)
        )));
    }
    serde_json::from_str(&text).map_err(|e| unavailable(format!("{}: {e}", endpoint_of(endpoint))))
}

/// A PKCE S256 challenge for `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::{Digest, Sha256};
    util::b64url(&Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn provider_urls_are_https_or_loopback() {
        assert!(allowed_url("https://accounts.example.com"));
        assert!(allowed_url("http://127.0.0.1:9000/oidc"));
        assert!(allowed_url("http://localhost:9000"));
        assert!(allowed_url("http://[::1]:9000"));
        assert!(!allowed_url("http://accounts.example.com"));
        assert!(!allowed_url("http://10.0.0.1"));
        assert!(!allowed_url("ftp://127.0.0.1"));
        assert!(!allowed_url("https://user:pw@example.com"));
        assert!(!allowed_url("not a url"));
    }

    #[test]
    fn client_auth_prefers_basic_then_post() {
        let metadata = |methods: Option<Vec<&str>>| Metadata {
            issuer: String::new(),
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            jwks_uri: String::new(),
            userinfo_endpoint: None,
            token_endpoint_auth_methods_supported: methods
                .map(|m| m.into_iter().map(String::from).collect()),
        };
        assert_eq!(metadata(None).client_auth(), Some(ClientAuth::Basic));
        assert_eq!(
            metadata(Some(vec!["client_secret_post", "client_secret_basic"])).client_auth(),
            Some(ClientAuth::Basic)
        );
        assert_eq!(
            metadata(Some(vec!["client_secret_post"])).client_auth(),
            Some(ClientAuth::Post)
        );
        assert_eq!(metadata(Some(vec!["private_key_jwt"])).client_auth(), None);
    }

    #[test]
    fn only_plain_oauth_error_codes_are_echoed() {
        assert_eq!(
            oauth_error(r#"{"error":"invalid_grant"}"#).as_deref(),
            Some("invalid_grant")
        );
        assert_eq!(oauth_error(r#"{"error":"<script>"}"#), None);
        assert_eq!(oauth_error("not json"), None);
    }
}
