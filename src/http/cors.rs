//! CORS for `/graphql`: which browser apps on other origins may call the API from their pages
//! ([`ServerSettings::cors_origins`](crate::config::ServerSettings), and any loopback origin
//! where `cors_loopback` is on, as in the demo).
//!
//! tower-http's layer answers a preflight (`OPTIONS`) itself, before the handler: no token is
//! asked for and no rate limit spent, and it still passes the edge (request id, security
//! headers). Tokens are bearer tokens a page sends itself, so no credentials mode. An origin
//! that is not allowed gets no `Access-Control-*` header at all (tower-http would still list
//! the methods and headers on its preflight: harmless, but it tells a stranger what to try).

use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, request};
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may reuse a preflight's answer (Chromium caps it at two hours).
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// The origins allowed, from the settings.
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins {
    /// Exact origins, as browsers send them (checked by the config).
    pub origins: Vec<String>,
    /// Any `http://` origin on loopback, whatever its port.
    pub loopback: bool,
}

impl AllowedOrigins {
    pub fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        self.origins.iter().any(|o| o == origin) || (self.loopback && is_loopback(origin))
    }

    /// Whether any origin at all is allowed (no layer is needed otherwise).
    pub fn any(&self) -> bool {
        self.loopback || !self.origins.is_empty()
    }
}

/// `http://127.0.0.1[:port]`, `http://localhost[:port]` or `http://[::1][:port]`, nothing more.
fn is_loopback(origin: &str) -> bool {
    let Some(rest) = origin.strip_prefix("http://") else {
        return false;
    };
    let host = match rest.rsplit_once(':') {
        // Not the colons inside `[::1]`.
        Some((host, port)) if !port.ends_with(']') => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            host
        }
        _ => rest,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The layer for `/graphql`.
pub fn layer(allowed: AllowedOrigins) -> CorsLayer {
    let allowed = Arc::new(allowed);
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, _: &request::Parts| allowed.allows(origin),
        ))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        // An app shows the request id with an error, and honours a 429's wait.
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(MAX_AGE)
}

/// Strips the `Access-Control-*` headers from an answer that does not allow its origin.
pub fn only_for_allowed(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            headers.remove(name);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_means_http_on_a_loopback_host_with_any_port_and_nothing_else() {
        for yes in [
            "http://127.0.0.1:5173",
            "http://127.0.0.1",
            "http://localhost:3000",
            "http://[::1]:8080",
            "http://[::1]",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "https://127.0.0.1:5173",
            "http://127.0.0.1.example.se",
            "http://localhost.example.se:80",
            "http://127.0.0.2:80",
            "http://127.0.0.1:",
            "http://127.0.0.1:80/x",
            "http://evil.example/127.0.0.1",
            "null",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn configured_origins_match_exactly() {
        let allowed = AllowedOrigins {
            origins: vec!["https://app.example.se".into()],
            loopback: false,
        };
        assert!(allowed.allows(&HeaderValue::from_static("https://app.example.se")));
        assert!(!allowed.allows(&HeaderValue::from_static("https://app.example.se:8443")));
        assert!(!allowed.allows(&HeaderValue::from_static("http://app.example.se")));
        assert!(!allowed.allows(&HeaderValue::from_static("http://127.0.0.1:3000")));
    }
}
