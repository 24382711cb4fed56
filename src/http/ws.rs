//! `GET /graphql` with `Upgrade: websocket`: GraphQL over WebSocket, the `graphql-transport-ws`
//! protocol (and the older `graphql-ws` one), for subscriptions. The bearer token comes in
//! `connection_init`'s payload (`{"Authorization": "Bearer …"}`, or `{"token": "…"}`), since a
//! browser cannot set headers on a WebSocket; an unauthenticated connection is closed before
//! any operation runs. Keep-alive pings go out at the configured interval, and a client that
//! does not answer them is disconnected.
//!
//! Origins are not checked: a page on another site can open the socket, but without a token
//! of its own it can do nothing (no cookie is ever looked at).

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{HttpState, RequestId, error_response};
use crate::codes;
use crate::graphql::RequestContext;
use crate::graphql::labels::Language;

/// Whether `headers` ask to upgrade the connection to a WebSocket.
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers the upgrade and serves GraphQL on the socket.
pub(super) async fn upgrade(
    state: HttpState,
    id: RequestId,
    language: Language,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(p) => p,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                "a GraphQL WebSocket needs the subprotocol graphql-transport-ws (Sec-WebSocket-Protocol)",
            );
        }
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(u) => u,
        Err(rejection) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                format!("not a valid WebSocket upgrade: {}", rejection.body_text()),
            );
        }
    };
    let keep_alive = state.keep_alive;
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let schema = state.schema.clone();
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| connection_init(state, id, language, payload))
                .keepalive_timeout(keep_alive)
                .serve()
                .await;
        })
        .into_response()
}

/// Authenticates the connection from `connection_init`'s payload; the subject's rate limit
/// counts the connection as one request.
async fn connection_init(
    state: HttpState,
    id: RequestId,
    language: Language,
    payload: Value,
) -> async_graphql::Result<Data> {
    let token = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
        .or_else(|| {
            payload
                .get("token")
                .and_then(Value::as_str)
                .map(|t| format!("Bearer {t}"))
        });
    let principal = state
        .auth
        .authenticate(token.as_deref())
        .await
        .map_err(|e| async_graphql::Error::new(format!("{}: {e}", codes::UNAUTHENTICATED)))?;
    if let Some(limiter) = &state.rate_limit
        && limiter.check(&principal).is_err()
    {
        return Err(async_graphql::Error::new(format!(
            "{}: too many requests from you just now",
            codes::RATE_LIMITED
        )));
    }
    let mut data = Data::default();
    data.insert(RequestContext {
        principal,
        request_id: id.to_string(),
    });
    data.insert(language);
    Ok(data)
}
