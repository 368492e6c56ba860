//! The payment provider: what commerce needs from it, and the production implementation over
//! Stripe's REST API (form-encoded requests, `Idempotency-Key` on every creation, the secret
//! key from the Worker secret `STRIPE_SECRET_KEY`, base URL from `STRIPE_API_BASE`).

use serde::Deserialize;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use crate::http::{AppError, AppResult, Ctx};

/// One line of a checkout.
#[derive(Debug, Clone)]
pub struct CheckoutLine {
    /// What the buyer sees.
    pub name: String,
    /// Minor units charged for the line (after its discount).
    pub amount: i64,
    /// Recurring lines: (interval, count).
    pub recurring: Option<(String, i64)>,
}

/// A checkout to open for an order.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// The order (client reference, metadata and idempotency key).
    pub order_id: String,
    /// Lower-case ISO 4217 code, as Stripe spells currencies.
    pub currency: String,
    /// Lines.
    pub lines: Vec<CheckoutLine>,
    /// Where the buyer returns after paying.
    pub success_url: String,
    /// Where the buyer returns after giving up.
    pub cancel_url: String,
}

/// An open checkout.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    /// `cs_…`
    pub id: String,
    /// The page where the buyer pays.
    pub url: Option<String>,
}

/// A transfer of a payout to a connected account.
#[derive(Debug, Clone)]
pub struct TransferRequest {
    /// The payout (idempotency key and metadata).
    pub payout_id: String,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO 4217 code.
    pub currency: String,
    /// `acct_…`
    pub destination: String,
}

/// A completed transfer.
#[derive(Debug, Clone, Deserialize)]
pub struct Transfer {
    /// `tr_…`
    pub id: String,
}

/// Why the provider refused or failed.
#[derive(Debug, Clone)]
pub struct ProviderError {
    /// The provider's HTTP status (0 when it could not be reached).
    pub status: u16,
    /// Its explanation.
    pub message: String,
}

/// What commerce needs from a payment provider.
#[expect(
    async_fn_in_trait,
    reason = "implemented and awaited within this single-threaded Worker only"
)]
pub trait PaymentProvider {
    /// Opens a hosted checkout for an order; the same order always gets the same session.
    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, ProviderError>;
    /// Sends a payout to a connected account; the same payout is never sent twice.
    async fn create_transfer(&self, request: &TransferRequest) -> Result<Transfer, ProviderError>;
}

/// The form fields of a Checkout Session for `request` (Stripe's bracketed form encoding).
pub fn checkout_form(request: &CheckoutRequest) -> Vec<(String, String)> {
    let subscription = request.lines.iter().any(|l| l.recurring.is_some());
    let mut form = vec![
        (
            "mode".to_string(),
            if subscription {
                "subscription"
            } else {
                "payment"
            }
            .to_string(),
        ),
        ("success_url".to_string(), request.success_url.clone()),
        ("cancel_url".to_string(), request.cancel_url.clone()),
        ("client_reference_id".to_string(), request.order_id.clone()),
        ("metadata[order_id]".to_string(), request.order_id.clone()),
    ];
    for (index, line) in request.lines.iter().enumerate() {
        let key = |field: &str| format!("line_items[{index}]{field}");
        form.push((key("[quantity]"), "1".to_string()));
        form.push((key("[price_data][currency]"), request.currency.clone()));
        form.push((key("[price_data][unit_amount]"), line.amount.to_string()));
        form.push((key("[price_data][product_data][name]"), line.name.clone()));
        if let Some((interval, count)) = &line.recurring {
            form.push((key("[price_data][recurring][interval]"), interval.clone()));
            form.push((
                key("[price_data][recurring][interval_count]"),
                count.to_string(),
            ));
        }
    }
    if !subscription {
        form.push((
            "payment_intent_data[metadata][order_id]".to_string(),
            request.order_id.clone(),
        ));
    }
    form
}

/// Stripe over its REST API.
pub struct Stripe {
    base: String,
    secret_key: String,
}

impl Stripe {
    /// The configured Stripe account: 503 `payments_unavailable` without a secret key.
    pub fn from_ctx(ctx: &Ctx) -> AppResult<Self> {
        let secret_key = ctx.var("STRIPE_SECRET_KEY").ok_or_else(|| {
            AppError::new(
                503,
                "payments_unavailable",
                "payments are not configured on this deployment",
            )
        })?;
        let base = ctx
            .var("STRIPE_API_BASE")
            .unwrap_or_else(|| "https://api.stripe.com".to_string())
            .trim_end_matches('/')
            .to_string();
        Ok(Self { base, secret_key })
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &[(String, String)],
    ) -> Result<T, ProviderError> {
        let failed = |message: String| ProviderError { status: 0, message };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let headers = Headers::new();
        let set = |name: &str, value: &str| headers.set(name, value);
        set("authorization", &format!("Bearer {}", self.secret_key))
            .and_then(|_| set("content-type", "application/x-www-form-urlencoded"))
            .and_then(|_| set("idempotency-key", idempotency_key))
            .and_then(|_| set("stripe-version", "2024-06-20"))
            .map_err(|e| failed(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(body.into()));
        let request = Request::new_with_init(&format!("{}{}", self.base, path), &init)
            .map_err(|e| failed(e.to_string()))?;
        let mut response = Fetch::Request(request)
            .send()
            .await
            .map_err(|e| failed(format!("Stripe could not be reached: {e}")))?;
        let status = response.status_code();
        let text = response.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("Stripe answered {status}"));
            return Err(ProviderError { status, message });
        }
        serde_json::from_str(&text).map_err(|e| ProviderError {
            status,
            message: format!("unexpected answer from Stripe: {e}"),
        })
    }
}

impl PaymentProvider for Stripe {
    async fn create_checkout_session(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, ProviderError> {
        self.post(
            "/v1/checkout/sessions",
            &format!("checkout_{}", request.order_id),
            &checkout_form(request),
        )
        .await
    }

    async fn create_transfer(&self, request: &TransferRequest) -> Result<Transfer, ProviderError> {
        let form = vec![
            ("amount".to_string(), request.amount.to_string()),
            ("currency".to_string(), request.currency.clone()),
            ("destination".to_string(), request.destination.clone()),
            ("transfer_group".to_string(), request.payout_id.clone()),
            ("metadata[payout_id]".to_string(), request.payout_id.clone()),
        ];
        self.post(
            "/v1/transfers",
            &format!("transfer_{}", request.payout_id),
            &form,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_form_uses_stripes_bracketed_fields() {
        let form = checkout_form(&CheckoutRequest {
            order_id: "ord_1".into(),
            currency: "usd".into(),
            lines: vec![CheckoutLine {
                name: "Template".into(),
                amount: 4000,
                recurring: None,
            }],
            success_url: "https://example.com/ok".into(),
            cancel_url: "https://example.com/no".into(),
        });
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("mode"), Some("payment"));
        assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("4000"));
        assert_eq!(get("line_items[0][price_data][currency]"), Some("usd"));
        assert_eq!(get("metadata[order_id]"), Some("ord_1"));
        assert_eq!(get("client_reference_id"), Some("ord_1"));
    }
}
