//! The GraphiQL page on `GET /graphql`: our own small template (`graphiql.html`), filled with
//! plain string replacement, and served with its own Content-Security-Policy
//! ([`super::headers::graphiql_policy`]); and its scripts and stylesheet on
//! `GET /graphiql/assets/<file>`, vendored in `graphiql/` (see its README: packages, versions,
//! licences) and embedded in the binary, so GraphiQL needs no network beyond the service and
//! the page loads nothing from anywhere else. The template's fetcher sends subscriptions over
//! Server-Sent Events (the service's own transport, so GraphiQL needs no WebSocket library).
//!
//! Not async-graphql's `GraphiQLSource`: that renders through handlebars, which logs what it
//! renders at debug level (`Rendering helper: each, params: [...]` lists the page's headers),
//! so every demo page load wrote `Authorization: Bearer eyJ…`, a token carrying a
//! personnummer, to the log at `RUST_LOG=debug`. Here the token never reaches a template engine.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::headers::graphiql_policy;
use super::{GraphiqlMode, HttpState, error_response, not_found};
use crate::auth::demo;
use crate::codes;

const TEMPLATE: &str = include_str!("graphiql.html");

/// Where the assets are served; the page names them under it.
pub(super) const ASSETS_ROUTE: &str = "/graphiql/assets/{file}";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// GraphiQL's assets: file name (with its package's version, which is what makes caching them
/// for a year safe), content type, content. Minified production builds only.
pub(super) const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "react-18.3.1.production.min.js",
        JAVASCRIPT,
        include_bytes!("graphiql/react-18.3.1.production.min.js"),
    ),
    (
        "react-dom-18.3.1.production.min.js",
        JAVASCRIPT,
        include_bytes!("graphiql/react-dom-18.3.1.production.min.js"),
    ),
    (
        "graphiql-4.1.2.min.js",
        JAVASCRIPT,
        include_bytes!("graphiql/graphiql-4.1.2.min.js"),
    ),
    (
        "graphiql-4.1.2.min.css",
        CSS,
        include_bytes!("graphiql/graphiql-4.1.2.min.css"),
    ),
];

/// On an answer the edge lets browsers keep (instead of `no-store`): an asset, versioned by
/// its name and holding no patient data.
#[derive(Clone, Copy, Debug)]
pub(super) struct Immutable;

/// `GET /graphiql/assets/<file>`: one of [`ASSETS`], where GraphiQL is served at all.
pub(super) async fn asset(State(state): State<HttpState>, Path(file): Path<String>) -> Response {
    let found = ASSETS.iter().find(|(name, _, _)| *name == file);
    let (Some(_), Some((_, content_type, bytes))) = (&state.graphiql, found) else {
        return not_found();
    };
    let mut response = ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response();
    response.extensions_mut().insert(Immutable);
    response
}

/// How long the demo token in a page is valid.
const DEMO_TOKEN_VALID_FOR: Duration = Duration::from_secs(12 * 3600);

/// The page, with a fresh nonce for its inline script and style, and in the demo a fresh token.
pub(super) fn page(mode: &GraphiqlMode) -> Response {
    let Some(nonce) = nonce() else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL_ERROR,
            "no random source for the page's script nonce",
        );
    };
    let mut headers = serde_json::Map::new();
    if let GraphiqlMode::DemoToken(person) = mode {
        let token = demo::mint(person, None, DEMO_TOKEN_VALID_FOR);
        headers.insert("Authorization".into(), format!("Bearer {token}").into());
    }
    let settings = serde_json::json!({ "endpoint": "/graphql", "headers": headers });
    let html = TEMPLATE
        .replace("{{nonce}}", &nonce)
        .replace("{{settings}}", &script_json(&settings));
    let mut response = Html(html).into_response();
    let policy = HeaderValue::from_str(&graphiql_policy(&nonce))
        .expect("a policy of ASCII text and a hex nonce is a valid header value");
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, policy);
    response
}

/// 128 random bits in hex (hex digits are valid in a CSP nonce), or `None` if the system's
/// random source failed: a guessable nonce would be no nonce.
fn nonce() -> Option<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `value` as JSON that is safe inside a `<script>` element: `<`, `>` and `&` escaped, so no
/// value can close the element or open a comment.
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cannot_close_the_script_element() {
        let json = script_json(&serde_json::json!({ "a": "</script><script>x()</script>&" }));
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["a"], "</script><script>x()</script>&");
    }

    #[test]
    fn the_page_names_exactly_the_assets_served() {
        let named: Vec<&str> = TEMPLATE
            .split("=\"/graphiql/assets/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        let mut served: Vec<&str> = ASSETS.iter().map(|(name, _, _)| *name).collect();
        let mut sorted = named.clone();
        sorted.sort_unstable();
        served.sort_unstable();
        assert_eq!(sorted, served);
        assert!(!TEMPLATE.contains("https://"), "nothing from elsewhere");
        for (name, content_type, bytes) in ASSETS {
            assert!(bytes.len() > 1000, "{name}");
            let ext = if name.ends_with(".js") {
                JAVASCRIPT
            } else {
                CSS
            };
            assert_eq!(*content_type, ext, "{name}");
        }
    }

    #[test]
    fn each_page_has_its_own_nonce_in_its_policy_and_on_its_inline_code() {
        let a = page(&GraphiqlMode::Plain);
        let b = page(&GraphiqlMode::Plain);
        let policy = |r: &Response| {
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(policy(&a), policy(&b));
        assert!(policy(&a).contains("'nonce-"), "{}", policy(&a));
    }
}
