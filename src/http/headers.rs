//! The security headers every answer carries, and the one place its Content-Security-Policies
//! are written: the API's (JSON, text, metrics: nothing to load, run or frame), the GraphiQL
//! page's (its own assets from this service, and its nonced inline code, nothing else) and the
//! demo's overview page's (its own files, no inline code at all).

use axum::http::{HeaderMap, HeaderValue, header};

/// Every answer that does not set its own: nothing may be loaded, run, submitted or framed. A
/// JSON error or a metrics page opened in a browser (or sniffed as HTML) is inert.
pub const API_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Where the GraphiQL page's scripts come from: React and GraphiQL's bundle, served by this
/// service (`/graphiql/assets/`).
pub const GRAPHIQL_SCRIPTS: &[&str] = &["'self'"];
/// Its stylesheets: GraphiQL's, also served here.
pub const GRAPHIQL_STYLES: &[&str] = &["'self'"];
/// Its fonts: GraphiQL's stylesheet carries them as `data:` URLs (no font service is asked).
pub const GRAPHIQL_FONTS: &[&str] = &["data:"];

/// The GraphiQL page's policy. Its one inline script (which holds the page's settings and, in
/// the demo, its token) and its inline style run by `nonce`, fresh for each page, so nothing
/// injected runs; it talks to this service only (`connect-src 'self'`: the GraphQL endpoint);
/// images only as `data:` URLs (the editor's icons); no frames, objects, workers, forms or
/// `<base>`, and it is framed by nobody.
pub fn graphiql_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}' {scripts}; \
         style-src 'nonce-{nonce}' {styles}; font-src {fonts}; img-src data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        scripts = GRAPHIQL_SCRIPTS.join(" "),
        styles = GRAPHIQL_STYLES.join(" "),
        fonts = GRAPHIQL_FONTS.join(" "),
    )
}

/// The demo's overview page (`GET /` and its files under `/page/`): its script and stylesheet
/// from this service only, no inline script or style at all (so it needs no nonce), requests
/// to this service only (`/graphql`, `/demo/identities`), images only as `data:` (its icon);
/// its charts are SVG built in the document, which no policy governs. No frames, objects,
/// workers, forms (sign-in is handled by its script) or `<base>`, and framed by nobody.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// Sets the headers every answer carries; an answer's own Content-Security-Policy (GraphiQL's)
/// is kept, any other gets [`API_POLICY`].
pub fn secure(headers: &mut HeaderMap) {
    // Every answer may carry patient data: never cached by browsers or proxies.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A JSON answer holding text a client sent must not be sniffed into HTML or script.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // URLs may carry a query (GET /graphql?query=…&variables=…): they go nowhere.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_POLICY),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_policies_forbid_framing_and_inline_code_without_a_nonce() {
        let graphiql = graphiql_policy("abc123");
        for policy in [API_POLICY, graphiql.as_str(), PAGE_POLICY] {
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
            assert!(policy.starts_with("default-src 'none';"), "{policy}");
            assert!(!policy.contains("unsafe"), "{policy}");
            assert!(!policy.contains('*'), "{policy}");
        }
        assert!(graphiql.contains("script-src 'nonce-abc123' 'self';"));
        assert!(graphiql.contains("style-src 'nonce-abc123' 'self';"));
        assert!(
            !graphiql.contains("https:"),
            "nothing from elsewhere: {graphiql}"
        );
        assert!(graphiql.contains("connect-src 'self';"));
        assert!(PAGE_POLICY.contains("script-src 'self';"), "{PAGE_POLICY}");
        assert!(PAGE_POLICY.contains("connect-src 'self';"), "{PAGE_POLICY}");
        assert!(!PAGE_POLICY.contains("nonce") && !PAGE_POLICY.contains("http"));
    }

    #[test]
    fn an_answer_keeps_its_own_policy_and_any_other_gets_the_api_policy() {
        let mut own = HeaderMap::new();
        own.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&graphiql_policy("n")).unwrap(),
        );
        secure(&mut own);
        assert_eq!(own[header::CONTENT_SECURITY_POLICY], graphiql_policy("n"));
        let mut other = HeaderMap::new();
        secure(&mut other);
        assert_eq!(other[header::CONTENT_SECURITY_POLICY], API_POLICY);
        assert_eq!(other[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(other[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(other[header::CACHE_CONTROL], "no-store");
    }
}
