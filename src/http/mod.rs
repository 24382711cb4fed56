//! The HTTP edge, the only module that knows axum (and hyper): the listener's defences, routes,
//! bearer authentication before any GraphQL runs, rate limiting per signed-in subject and per
//! address for requests without a valid token, the request body's limits, request ids,
//! GraphiQL, the demo's overview page, health and readiness, and the headers every answer
//! carries.
//!
//! Every answer of the service (4xx, 5xx, `/metrics` and GraphiQL included) passes one
//! middleware, [`edge`]: it gives the request its id, runs everything under a tracing span that
//! carries the id, and sets `Cache-Control: no-store` (GraphiQL's versioned assets excepted),
//! the security headers ([`headers::secure`]) and `x-request-id` on the way out.
//!
//! Inside the edge: CORS on `/graphql` for the configured origins ([`cors`]), and gzip or
//! brotli for answers of at least [`COMPRESS_FROM_BYTES`] to clients that ask for it.

pub mod cors;
mod graphiql;
mod graphql;
pub mod headers;
pub mod notify;
mod page;
pub mod rate_limit;
pub mod server;
mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;
use tracing::Instrument;

use crate::auth::Authenticator;
use crate::codes;
use crate::domain::PersonId;
use crate::graphql::OverblickSchema;
use crate::store::Store;
use rate_limit::{AddressRateLimiter, SubjectRateLimiter};

/// How long `/readyz` waits for the database.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers smaller than this go out as they are: compressing them saves less than the
/// `Content-Encoding` costs.
pub const COMPRESS_FROM_BYTES: u16 = 1024;

/// How long a browser keeps a GraphiQL asset: a year (its name holds its version).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Sources' change notifications (see [`notify`]).
const NOTIFY_FHIR_ROUTE: &str = "/notify/fhir/{source_id}";
const NOTIFY_FHIR_RESOURCE_ROUTE: &str = "/notify/fhir/{source_id}/{resource_type}/{id}";
const NOTIFY_RIVTA_ROUTE: &str = "/notify/rivta";

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub schema: OverblickSchema,
    pub auth: Arc<Authenticator>,
    pub graphiql: Option<GraphiqlMode>,
    /// Served on `GET /metrics`; the edge counts GraphQL requests in it.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Pinged by `GET /readyz`.
    pub store: Store,
    /// Operations per request (1: batching off).
    pub max_batch: usize,
    /// The largest request body (and GET query string), in bytes.
    pub max_body_bytes: usize,
    /// `None`: no rate limit.
    pub rate_limit: Option<Arc<SubjectRateLimiter>>,
    /// Requests without a valid token per client address; `None`: no limit.
    pub address_rate_limit: Option<Arc<AddressRateLimiter>>,
    /// Browser apps' origins that may call `/graphql` (CORS).
    pub cors: cors::AllowedOrigins,
    /// How often an event stream (SSE) or a WebSocket sends a keep-alive.
    pub keep_alive: std::time::Duration,
    /// The demo's overview page on `/` and its `/demo/identities` (demo mode only; else 404).
    pub demo_page: bool,
    /// Takes sources' change notifications (`/notify/...`).
    pub notify: Arc<crate::notify::Notifier>,
}

/// How GraphiQL is served, when it is.
#[derive(Clone, Debug)]
pub enum GraphiqlMode {
    /// Pre-filled with a fresh demo token for this person, so the demo works with no set-up.
    DemoToken(PersonId),
    /// Plain: the user pastes their own token into the headers tab.
    Plain,
}

/// A request's id: random, made here (a client's `x-request-id` is not taken: it would let a
/// client write what it likes into the logs and the access log).
#[derive(Clone, Debug)]
pub struct RequestId(Arc<str>);

impl RequestId {
    fn new() -> Self {
        let mut bytes = [0u8; 12];
        // The system random source does not fail on supported platforms; a zero id is still
        // unique enough for correlation if it ever did.
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        RequestId(
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn router(state: HttpState) -> Router {
    let mut graphql = get(graphql::get)
        .post(graphql::post)
        .fallback(|| async { method_not_allowed("GET, POST") });
    if state.cors.any() {
        // A preflight is answered here, before the handler: no token, no rate limit.
        // Outermost, so it sees the CORS layer's own preflight answers too.
        graphql = graphql
            .layer(cors::layer(state.cors.clone()))
            .layer::<_, std::convert::Infallible>(middleware::map_response(|r: Response| async {
                cors::only_for_allowed(r)
            }));
    }
    let mut routes = Router::new()
        .route("/graphql", graphql)
        .route(graphiql::ASSETS_ROUTE, get_only(graphiql::asset));
    if state.demo_page {
        // Not routed at all otherwise: a production service answers these paths as any other
        // unknown path.
        routes = page::routes(routes);
    }
    let routes = routes
        .route("/healthz", get_only(|| async { "ok" }))
        .route("/readyz", get_only(readyz))
        .route("/metrics", get_only(metrics))
        .route(
            NOTIFY_FHIR_ROUTE,
            axum::routing::post(notify::fhir).fallback(|| async { method_not_allowed("POST") }),
        )
        .route(
            NOTIFY_FHIR_RESOURCE_ROUTE,
            axum::routing::put(notify::fhir_resource)
                .post(notify::fhir_resource)
                .fallback(|| async { method_not_allowed("PUT, POST") }),
        )
        .route(
            NOTIFY_RIVTA_ROUTE,
            axum::routing::post(notify::rivta).fallback(|| async { method_not_allowed("POST") }),
        )
        .fallback(|| async { not_found() })
        .with_state(state);
    with_edge(routes)
}

/// Around all routes: a panic answers a coded JSON 500; answers are compressed for clients that
/// ask; and every answer, those included, passes [`edge`].
fn with_edge(routes: Router) -> Router {
    routes
        .layer(CatchPanicLayer::custom(|_| {
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL_ERROR,
                "the service failed to answer this request; it is logged under the request id",
            )
        }))
        // gzip and brotli only (no deflate or zstd: every browser and HTTP client has one of
        // these). Compressing answers that carry patient data is safe from BREACH-style attacks:
        // those need a victim's browser to send its secret by itself (a cookie), and tokens here
        // are bearer tokens a page attaches on purpose.
        .layer(
            CompressionLayer::new()
                .no_deflate()
                .no_zstd()
                .compress_when(SizeAbove::new(COMPRESS_FROM_BYTES)),
        )
        .layer(middleware::from_fn(edge))
}

/// The answer to a path that is not there.
pub(crate) fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        codes::NO_SUCH_PATH,
        "no such path: the API is POST /graphql",
    )
}

/// A GET (and HEAD) route that answers other methods with a JSON 405.
fn get_only<H, T>(handler: H) -> MethodRouter<HttpState>
where
    H: axum::handler::Handler<T, HttpState>,
    T: 'static,
{
    get(handler).fallback(|| async { method_not_allowed("GET") })
}

/// Around every request: its id and tracing span (authentication and everything after run in
/// it), one log line when answered, and the headers every answer carries.
async fn edge(mut request: Request, next: Next) -> Response {
    let id = RequestId::new();
    request.extensions_mut().insert(id.clone());
    // The route, not the path: a path is the client's text and could hold a personnummer.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| match p.as_str() {
            "/graphql" => "/graphql",
            "/healthz" => "/healthz",
            "/readyz" => "/readyz",
            "/metrics" => "/metrics",
            graphiql::ASSETS_ROUTE => "/graphiql/assets",
            "/" => "/",
            page::ASSETS_ROUTE => "/page",
            "/demo/identities" => "/demo/identities",
            NOTIFY_FHIR_ROUTE | NOTIFY_FHIR_RESOURCE_ROUTE => "/notify/fhir",
            NOTIFY_RIVTA_ROUTE => "/notify/rivta",
            _ => "other",
        });
    let method = known_method(request.method());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method,
        route,
        operation = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if route == "/graphql" || response.status().is_server_error() {
            tracing::info!(status, elapsed_ms, "request answered");
        } else {
            tracing::debug!(status, elapsed_ms, "request answered");
        }
    });
    headers::secure(response.headers_mut());
    if response.extensions().get::<graphiql::Immutable>().is_some() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// The method for the log, or `other`: a method is a token the client chooses.
fn known_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A GraphQL-shaped error body with a code, so clients handle it like any other error.
pub(crate) fn error_response(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> Response {
    let body = serde_json::json!({
        "errors": [{
            "message": message.into(),
            "extensions": { "code": code }
        }]
    });
    (status, axum::Json(body)).into_response()
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("this path takes {allow} only"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Ready when the service is built (it is, if this answers) and the database answers.
async fn readyz(State(state): State<HttpState>) -> Response {
    match state.store.ping(READINESS_TIMEOUT).await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({
                    "status": "unavailable",
                    "reason": "the database does not answer",
                })),
            )
                .into_response()
        }
    }
}

/// The Prometheus text format (labels hold no patient data, so no token is asked for).
async fn metrics(State(state): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::Service;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_coded_500_with_the_security_headers() {
        let mut routes = with_edge(Router::new().route(
            "/panic",
            get(|| async {
                panic!("a handler fails");
                #[allow(unreachable_code)]
                ""
            }),
        ));
        let request = Request::get("/panic").body(Body::empty()).unwrap();
        let response = routes.call(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let h = response.headers();
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], headers::API_POLICY);
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
}
