//! Path matching for the route table.
//!
//! Routes are `(method, template)` pairs such as `POST /v1/orgs/{org_id}/api-keys`; a template
//! segment in braces captures one path segment. The same table feeds the OpenAPI document, so
//! the served routes and the documented ones cannot drift apart.

use worker::Method;

/// Outcome of matching a request against the table.
pub enum Match<'a, R> {
    /// A route matched; the captured parameters in template order.
    Found(&'a R, Vec<(&'static str, String)>),
    /// The path exists, but not for this method; the methods that exist.
    MethodNotAllowed(Vec<Method>),
    /// No route has this path.
    NotFound,
}

/// Anything with a method and a path template.
pub trait RouteShape {
    /// HTTP method.
    fn method(&self) -> &Method;
    /// Path template, e.g. `/v1/orgs/{org_id}`.
    fn template(&self) -> &'static str;
}

/// Matches `path` against one template; returns the captures. The match is exact: a trailing
/// or doubled slash is another path, which the API does not document and so does not serve.
pub fn match_template(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut captures = Vec::new();
    let mut template_parts = template.strip_prefix('/')?.split('/');
    let mut path_parts = path.strip_prefix('/')?.split('/');
    loop {
        match (template_parts.next(), path_parts.next()) {
            (None, None) => return Some(captures),
            (Some(t), Some(p)) => {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    if p.is_empty() {
                        return None;
                    }
                    let value = percent_decode(p)?;
                    captures.push((name, value));
                } else if t != p {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Finds the route for a request.
pub fn find<'a, R: RouteShape>(routes: &'a [R], method: &Method, path: &str) -> Match<'a, R> {
    let mut allowed = Vec::new();
    for route in routes {
        if let Some(captures) = match_template(route.template(), path) {
            if route.method() == method {
                return Match::Found(route, captures);
            }
            allowed.push(route.method().clone());
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_capture_segments() {
        let captures = match_template(
            "/v1/orgs/{org_id}/api-keys/{id}",
            "/v1/orgs/org_1/api-keys/key_2",
        );
        assert_eq!(
            captures,
            Some(vec![
                ("org_id", "org_1".to_string()),
                ("id", "key_2".to_string())
            ])
        );
        assert_eq!(match_template("/v1/orgs/{org_id}", "/v1/orgs/"), None);
        assert_eq!(match_template("/v1/orgs/{org_id}", "/v1/orgs/a/b"), None);
        assert_eq!(match_template("/v1/orgs/{org_id}", "/v1/orgs/a/"), None);
        assert_eq!(match_template("/v1/health", "/v1/health/"), None);
        assert_eq!(match_template("/v1/health", "//v1/health"), None);
        assert_eq!(match_template("/v1/health", "/v1//health"), None);
        assert_eq!(match_template("/v1/health", "/v1/health"), Some(vec![]));
        assert_eq!(
            match_template(
                "/v1/invitations/{token}/accept",
                "/v1/invitations/a%20b/accept"
            ),
            Some(vec![("token", "a b".to_string())])
        );
    }
}
