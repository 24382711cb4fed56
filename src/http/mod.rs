//! The HTTP edge, the only module that knows axum: routes, bearer authentication before any
//! GraphQL runs, request ids, GraphiQL, and the headers every answer carries.

use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

use crate::auth::{AuthError, Authenticator, demo};
use crate::domain::PersonId;
use crate::graphql::{OverblickSchema, RequestContext, codes};

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub schema: OverblickSchema,
    pub auth: Arc<Authenticator>,
    pub graphiql: Option<GraphiqlMode>,
    /// Served on `GET /metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// How GraphiQL is served, when it is.
#[derive(Clone, Debug)]
pub enum GraphiqlMode {
    /// Pre-filled with a fresh demo token for this person, so the demo works with no set-up.
    DemoToken(PersonId),
    /// Plain: the user pastes their own token into the headers tab.
    Plain,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(state)
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

async fn graphiql(State(state): State<HttpState>) -> Response {
    let token;
    let mut page = GraphiQLSource::build()
        .endpoint("/graphql")
        .title("Överblick GraphiQL");
    match &state.graphiql {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(GraphiqlMode::Plain) => {}
        Some(GraphiqlMode::DemoToken(person)) => {
            token = format!(
                "Bearer {}",
                demo::mint(person, None, std::time::Duration::from_secs(12 * 3600))
            );
            page = page.header("Authorization", &token);
        }
    }
    Html(page.finish()).into_response()
}

async fn graphql(State(state): State<HttpState>, request: Request) -> Response {
    let request_id = new_request_id();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // Authentication comes before the body is even read: no token, no work.
    let principal = match state.auth.authenticate(authorization).await {
        Ok(p) => p,
        Err(e) => return unauthenticated(&e, &request_id),
    };
    let gql = match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(
        request,
        &(),
    )
    .await
    {
        Ok(r) => r.into_inner(),
        Err(rejection) => return with_headers(rejection.into_response(), &request_id),
    };
    let response = state
        .schema
        .execute(gql.data(RequestContext {
            principal,
            request_id: request_id.clone(),
        }))
        .instrument(tracing::info_span!("graphql", request_id = %request_id))
        .await;
    tracing::info!(
        request_id = %request_id,
        errors = response.errors.len(),
        "graphql request answered"
    );
    with_headers(GraphQLResponse::from(response).into_response(), &request_id)
}

/// 401 with a GraphQL-shaped body, so clients handle it like any other error.
fn unauthenticated(error: &AuthError, request_id: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{
            "message": error.to_string(),
            "extensions": { "code": codes::UNAUTHENTICATED }
        }]
    });
    let challenge = match error {
        AuthError::Missing => r#"Bearer realm="overblick""#.to_owned(),
        _ => r#"Bearer realm="overblick", error="invalid_token""#.to_owned(),
    };
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    with_headers(response, request_id)
}

/// Every answer may carry patient data: never cached by browsers or proxies; and every answer
/// carries its request id, to find it in the logs and the access log.
fn with_headers(mut response: Response, request_id: &str) -> Response {
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", v);
    }
    response
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    // The system random source does not fail on supported platforms; a zero id is still unique
    // enough for correlation if it ever did.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
