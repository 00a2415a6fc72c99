//! The lock on every test endpoint (the relay's `/control/*` and the supervisor's API).
//!
//! A request passes only with the per-run secret in the `x-syncline-secret` header, compared in
//! constant time. A web page of another origin cannot send it blind: a custom header makes the
//! browser ask first (a CORS preflight), and the preflight is answered only for the one origin
//! given with `--control-origin` (the wasm test runner's page), never with a wildcard. A request
//! that names any other `Origin` is refused even with the secret.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The header that carries the secret.
pub const SECRET_HEADER: &str = "x-syncline-secret";
/// The environment variable the secret is read from (kept out of the process list).
pub const SECRET_ENV: &str = "SYNCLINE_CONTROL_SECRET";
/// Fewer characters than this cannot be a per-run random secret.
const MIN_SECRET_CHARS: usize = 16;

/// Who may call the test endpoints.
#[derive(Clone)]
pub struct Guard {
    secret: Arc<[u8]>,
    origin: Option<HeaderValue>,
}

impl Guard {
    /// A guard for `secret` (at least 16 characters), letting pages of `origin` (exactly, e.g.
    /// `http://127.0.0.1:41234`) call with it; `None` lets no page call at all.
    pub fn new(secret: Option<&str>, origin: Option<&str>) -> Result<Self, String> {
        let secret = secret.unwrap_or("");
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(format!(
                "the test endpoints need a per-run secret of at least {MIN_SECRET_CHARS} characters in {SECRET_ENV}"
            ));
        }
        let origin = match origin {
            None => None,
            Some("*") | Some("null") => {
                return Err("--control-origin must name one origin, not * or null".to_owned());
            }
            Some(o) => Some(
                HeaderValue::from_str(o.trim_end_matches('/'))
                    .map_err(|_| format!("bad --control-origin {o:?}"))?,
            ),
        };
        Ok(Self {
            secret: Arc::from(secret.as_bytes()),
            origin,
        })
    }

    fn has_secret(&self, headers: &HeaderMap) -> bool {
        headers
            .get(SECRET_HEADER)
            .is_some_and(|v| same_bytes(v.as_bytes(), &self.secret))
    }
}

/// Equal in time that does not depend on where the first difference is.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn refuse(why: &'static str) -> Response {
    (StatusCode::FORBIDDEN, why).into_response()
}

/// The middleware: `axum::middleware::from_fn_with_state(guard, guard::check)`.
pub async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    // Some(origin) when the request comes from the allowed page (CORS answers go to it only).
    let allowed = match request.headers().get(header::ORIGIN) {
        None => None,
        Some(o) if guard.origin.as_ref() == Some(o) => Some(o.clone()),
        Some(_) => return refuse("test endpoint: origin not allowed"),
    };
    if request.method() == Method::OPTIONS {
        let Some(origin) = allowed else {
            return refuse("test endpoint: no preflight without an allowed origin");
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("x-syncline-secret, content-type"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }
    let mut response = if guard.has_secret(request.headers()) {
        next.run(request).await
    } else {
        refuse("test endpoint: missing or wrong x-syncline-secret")
    };
    if let Some(origin) = allowed {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_secrets() {
        assert!(same_bytes(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_bytes(b"0123456789abcdef", b"0123456789abcdeg"));
        assert!(!same_bytes(b"0123456789abcdef", b"0123456789abcde"));
        assert!(!same_bytes(b"", b"x"));
    }

    #[test]
    fn refuses_short_secrets_and_wildcard_origins() {
        assert!(Guard::new(None, None).is_err());
        assert!(Guard::new(Some("short"), None).is_err());
        assert!(Guard::new(Some("0123456789abcdef"), Some("*")).is_err());
        assert!(Guard::new(Some("0123456789abcdef"), Some("null")).is_err());
        assert!(Guard::new(Some("0123456789abcdef"), Some("http://127.0.0.1:1")).is_ok());
    }
}
