//! `/graphql`: POST with a JSON body (one operation, or a batch where allowed), GET with the
//! query in the URL (queries only), GraphiQL on a GET without a query where it is switched on.
//!
//! The order of checks: the client address's budget for requests without a valid token (429,
//! before the token is looked at), the bearer token (401, spending from that budget when
//! missing or invalid), the subject's rate (429), then the request itself: content type (415),
//! declared and actual body size (413), JSON shape (400), batch size (400); then the GraphQL
//! limits, parsing and validation in the schema's extension (400, 405 for a mutation over GET).
//! Only then does anything run, so no source is called for a refused request. Executed
//! requests answer 200, with data and errors as GraphQL has them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{BatchResponse, Variables};
use async_graphql_axum::GraphQLResponse;
use axum::Extension;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prometheus_client::metrics::gauge::Gauge;
use serde::Deserialize;
use serde_json::Value;

use super::rate_limit::retry_after_seconds;
use super::{HttpState, RequestId, error_response, graphiql};
use crate::auth::{AuthError, Principal};
use crate::codes;
use crate::graphql::RequestContext;
use crate::graphql::labels::Language;
use crate::graphql::limits::{INVALID_OPERATION, RequestReport};
use crate::metrics::{OperationLabels, RequestLabels};

/// What a GraphQL request came to: the answer, and each operation's metric label and outcome.
struct Answer {
    response: Response,
    operations: Vec<(String, &'static str)>,
}

impl Answer {
    /// Refused before any operation was looked at.
    fn refused(response: Response) -> Self {
        Answer {
            response,
            operations: vec![(INVALID_OPERATION.to_owned(), "rejected")],
        }
    }
}

/// The operations of one request, and whether they came as a batch (a JSON array).
struct Operations {
    requests: Vec<async_graphql::Request>,
    batch: bool,
}

/// A request refused before anything runs: status, code and message.
struct Refusal(StatusCode, &'static str, String);

impl Refusal {
    fn bad_request(message: &str) -> Self {
        Refusal(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            message.to_owned(),
        )
    }

    fn response(self) -> Response {
        error_response(self.0, self.1, self.2)
    }
}

pub(super) async fn post(
    State(state): State<HttpState>,
    Extension(id): Extension<RequestId>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::start(&state.metrics.in_flight);
    let client = client_address(&request);
    let answer = answer_post(&state, &id, client, request).await;
    finish(&state, started, answer)
}

pub(super) async fn get(
    State(state): State<HttpState>,
    Extension(id): Extension<RequestId>,
    request: Request,
) -> Response {
    if super::ws::is_upgrade(request.headers()) {
        let language = language(request.headers());
        return super::ws::upgrade(state, id, language, request).await;
    }
    let params = Query::<GetParams>::try_from_uri(request.uri()).map(|q| q.0);
    if let (Some(mode), Ok(GetParams { query: None, .. })) = (&state.graphiql, &params) {
        return graphiql::page(mode);
    }
    let started = Instant::now();
    let _in_flight = InFlight::start(&state.metrics.in_flight);
    let client = client_address(&request);
    let answer = answer_get(
        &state,
        &id,
        client,
        request.headers(),
        request.uri(),
        params,
    )
    .await;
    finish(&state, started, answer)
}

async fn answer_post(
    state: &HttpState,
    id: &RequestId,
    client: IpAddr,
    request: Request,
) -> Answer {
    let headers = request.headers().clone();
    let principal = match admit(state, client, request.headers()).await {
        Ok(p) => p,
        Err(response) => return Answer::refused(response),
    };
    let language = language(request.headers());
    if !is_json(request.headers()) {
        return Answer::refused(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send the GraphQL request as JSON, with Content-Type: application/json",
        ));
    }
    let max = state.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Answer::refused(too_large(max));
    }
    // Read with a cap, whether a length was declared or the body is chunked.
    let bytes = match Limited::new(request.into_body(), max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Answer::refused(too_large(max));
        }
        Err(_) => {
            return Answer::refused(error_response(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                "the request body could not be read to its end",
            ));
        }
    };
    let operations = match operations(&bytes, state.max_batch) {
        Ok(o) => o,
        Err(refusal) => return Answer::refused(refusal.response()),
    };
    if wants_event_stream(&headers) {
        return event_stream(state, id, principal, language, operations);
    }
    execute(state, id, principal, language, operations, false).await
}

/// Whether the client asks for GraphQL over Server-Sent Events (`Accept: text/event-stream`).
fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// GraphQL over Server-Sent Events, "distinct connections" mode: one operation per request,
/// each result an event `next` (its data a GraphQL response), then an event `complete`. A
/// subscription streams its events; a query or mutation gives one. For clients behind proxies
/// that block WebSockets. Keep-alive comments keep idle proxies from closing the stream.
fn event_stream(
    state: &HttpState,
    id: &RequestId,
    principal: Principal,
    language: Language,
    operations: Operations,
) -> Answer {
    let Operations {
        mut requests,
        batch,
    } = operations;
    if batch {
        return Answer::refused(bad_request(
            "an event stream carries one operation: send a JSON object, not a batch",
        ));
    }
    let Some(request) = requests.pop() else {
        return Answer::refused(bad_request(REQUEST_SHAPE));
    };
    let report = RequestReport::new(false, request.operation_name.clone());
    let context = RequestContext {
        principal,
        request_id: id.to_string(),
    };
    let responses = state
        .schema
        .execute_stream(request.data(context).data(report.clone()).data(language));
    let events = responses
        .map(|response| {
            Event::default()
                .event("next")
                .json_data(&response)
                .or_else(|_| Ok::<_, std::convert::Infallible>(Event::default().event("next")))
        })
        .chain(futures::stream::once(async {
            Ok(Event::default().event("complete").data(""))
        }));
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(state.keep_alive))
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(language.tag()),
    );
    // Proxies (nginx) otherwise hold the events back to fill their buffers.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Answer {
        response,
        operations: vec![(report.operation(), "stream")],
    }
}

/// The parameters of a GraphQL GET request (`variables` is JSON text).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    operation_name: Option<String>,
}

async fn answer_get(
    state: &HttpState,
    id: &RequestId,
    client: IpAddr,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    params: Result<GetParams, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let principal = match admit(state, client, headers).await {
        Ok(p) => p,
        Err(response) => return Answer::refused(response),
    };
    if uri.query().map_or(0, str::len) > state.max_body_bytes {
        return Answer::refused(error_response(
            StatusCode::URI_TOO_LONG,
            codes::URI_TOO_LONG,
            format!(
                "the URL's query is longer than {} bytes; send the request with POST",
                state.max_body_bytes
            ),
        ));
    }
    let bad = |message: &str| Answer::refused(bad_request(message));
    let Ok(params) = params else {
        return bad("the URL's query is not valid form encoding");
    };
    let Some(query) = params.query.filter(|q| !q.trim().is_empty()) else {
        return bad("a GET request needs the GraphQL query in `query`");
    };
    let variables = match params
        .variables
        .as_deref()
        .map(serde_json::from_str::<Value>)
    {
        None | Some(Ok(Value::Null)) => Variables::default(),
        Some(Ok(v @ Value::Object(_))) => Variables::from_json(v),
        Some(_) => return bad("`variables` must be a JSON object"),
    };
    let mut request = async_graphql::Request::new(query).variables(variables);
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    let operations = Operations {
        requests: vec![request],
        batch: false,
    };
    execute(state, id, principal, language(headers), operations, true).await
}

/// The address the request came from: the TCP peer the listener recorded. A router driven
/// in-process (the fuzz target) has none; its requests all count as one address.
fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// The address's budget for failed requests, authentication, then the subject's rate: all
/// before the body is read.
async fn admit(
    state: &HttpState,
    client: IpAddr,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    // Before the token is decoded, let alone its signature checked or its issuer's keys
    // fetched: an address that keeps sending bad tokens gets no more work done for it.
    if let Some(limiter) = &state.address_rate_limit
        && let Err(wait) = limiter.check(client)
    {
        return Err(rate_limited(
            wait,
            "too many requests without a valid token from your address just now",
        ));
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match state.auth.authenticate(authorization).await {
        Ok(principal) => principal,
        Err(e) => {
            if let Some(limiter) = &state.address_rate_limit {
                limiter.charge(client);
            }
            return Err(unauthenticated(&e));
        }
    };
    if let Some(limiter) = &state.rate_limit
        && let Err(wait) = limiter.check(&principal)
    {
        return Err(rate_limited(wait, "too many requests from you just now"));
    }
    Ok(principal)
}

/// 429 with `Retry-After` in whole seconds.
fn rate_limited(wait: Duration, what: &str) -> Response {
    let seconds = retry_after_seconds(wait);
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        format!("{what}; try again in {seconds} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// 401 with a GraphQL-shaped body, so clients handle it like any other error.
fn unauthenticated(error: &AuthError) -> Response {
    let challenge = match error {
        AuthError::Missing => r#"Bearer realm="overblick""#,
        _ => r#"Bearer realm="overblick", error="invalid_token""#,
    };
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHENTICATED,
        error.to_string(),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// The language labels are given in, from `Accept-Language` (Swedish unless English is
/// preferred; several headers count as one list).
fn language(headers: &HeaderMap) -> Language {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT_LANGUAGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Language::from_accept_language(Some(&values.join(",")))
}

/// One `Content-Type`, `application/json`, with or without parameters such as `charset`.
fn is_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json")),
        _ => false,
    }
}

fn too_large(max: usize) -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {max} bytes"),
    )
}

fn bad_request(message: &str) -> Response {
    Refusal::bad_request(message).response()
}

const REQUEST_SHAPE: &str = "a GraphQL request is a JSON object with `query` (a string) and, optionally, `variables` (an object) and `operationName` (a string)";

/// The operations in a POST body: a JSON object, or an array of them within `max_batch`.
fn operations(body: &[u8], max_batch: usize) -> Result<Operations, Refusal> {
    // The parser's message names a line and column, never the body's text.
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::bad_request(&format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(_) => Ok(Operations {
            requests: vec![request(value)?],
            batch: false,
        }),
        Value::Array(items) => {
            if items.len() > max_batch {
                let message = if max_batch == 1 {
                    "batching is off here: send one operation per request".to_owned()
                } else {
                    format!(
                        "the batch has {} operations; at most {max_batch} here",
                        items.len()
                    )
                };
                return Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    codes::BATCH_TOO_LARGE,
                    message,
                ));
            }
            if items.is_empty() {
                return Err(Refusal::bad_request("the batch is empty"));
            }
            Ok(Operations {
                requests: items.into_iter().map(request).collect::<Result<_, _>>()?,
                batch: true,
            })
        }
        _ => Err(Refusal::bad_request(REQUEST_SHAPE)),
    }
}

/// One operation from its JSON object. serde's own messages are not used: they may quote the
/// value (a personnummer in `variables`).
fn request(value: Value) -> Result<async_graphql::Request, Refusal> {
    let Value::Object(mut object) = value else {
        return Err(Refusal::bad_request(REQUEST_SHAPE));
    };
    // `null` is "not given" for each of these.
    object.retain(|_, v| !v.is_null());
    match object.get("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => {}
        _ => return Err(Refusal::bad_request(REQUEST_SHAPE)),
    }
    serde_json::from_value(Value::Object(object)).map_err(|_| Refusal::bad_request(REQUEST_SHAPE))
}

/// Runs the operations (a batch's concurrently), each with the request's context and a report
/// for the edge; answers 200 when any was executed, else 400 (405 for a mutation over GET).
async fn execute(
    state: &HttpState,
    id: &RequestId,
    principal: Principal,
    language: Language,
    operations: Operations,
    via_get: bool,
) -> Answer {
    let context = RequestContext {
        principal,
        request_id: id.to_string(),
    };
    let Operations { requests, batch } = operations;
    let reports: Vec<Arc<RequestReport>> = requests
        .iter()
        .map(|r| RequestReport::new(via_get, r.operation_name.clone()))
        .collect();
    let mut responses =
        futures::future::join_all(requests.into_iter().zip(&reports).map(|(request, report)| {
            state.schema.execute(
                request
                    .data(context.clone())
                    .data(report.clone())
                    .data(language),
            )
        }))
        .await;
    let operations = reports
        .iter()
        .zip(&responses)
        .map(|(report, response)| {
            let outcome = if !report.executed() {
                "rejected"
            } else if response.errors.is_empty() {
                "ok"
            } else if response.data == async_graphql::Value::Null {
                "error"
            } else {
                "partial"
            };
            (report.operation(), outcome)
        })
        .collect();
    let status = if reports.iter().any(|r| r.executed()) {
        StatusCode::OK
    } else if responses
        .iter()
        .flat_map(|r| &r.errors)
        .any(|e| has_code(e, codes::METHOD_NOT_ALLOWED))
    {
        StatusCode::METHOD_NOT_ALLOWED
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = match (batch, responses.pop()) {
        (false, Some(single)) => BatchResponse::Single(single),
        (_, last) => {
            responses.extend(last);
            BatchResponse::Batch(responses)
        }
    };
    let mut response = GraphQLResponse::from(body).into_response();
    *response.status_mut() = status;
    // Labels (`labels`, `Coding.systemLabel`) are in this language; a cache must key on it.
    response.headers_mut().insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(language.tag()),
    );
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept-Language"));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    Answer {
        response,
        operations,
    }
}

fn has_code(error: &async_graphql::ServerError, code: &str) -> bool {
    error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .is_some_and(|v| matches!(v, async_graphql::Value::String(s) if s == code))
}

/// Counts the request in the metrics and names its operations in the request's span.
fn finish(state: &HttpState, started: Instant, answer: Answer) -> Response {
    let seconds = started.elapsed().as_secs_f64();
    let mut labels = Vec::with_capacity(answer.operations.len());
    let mut outcomes = Vec::with_capacity(answer.operations.len());
    for (operation, outcome) in answer.operations {
        state
            .metrics
            .requests
            .get_or_create(&RequestLabels {
                operation: operation.clone(),
                outcome,
            })
            .inc();
        state
            .metrics
            .request_duration
            .get_or_create(&OperationLabels {
                operation: operation.clone(),
            })
            .observe(seconds);
        labels.push(operation);
        outcomes.push(outcome);
    }
    let span = tracing::Span::current();
    span.record("operation", labels.join(",").as_str());
    span.record("outcome", outcomes.join(",").as_str());
    answer.response
}

/// `graphql_requests_in_flight` up while the request is answered (also if it is dropped).
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn start(gauge: &'a Gauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
