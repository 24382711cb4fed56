//! The notification endpoints sources call (not users): `POST /notify/fhir/<source-id>` (an R4
//! Subscription's rest-hook; also `PUT`/`POST /notify/fhir/<source-id>/<Type>/<id>`, where R4
//! sends a changed resource when the endpoint is a base URL) and `POST /notify/rivta` (the
//! engagement index's ProcessNotification). Reads the body under a cap, hands it to
//! [`Notifier`](crate::notify::Notifier), and answers in the caller's protocol: a FHIR
//! OperationOutcome, or a SOAP 1.1 answer or fault. No bearer token of a user is involved: each
//! caller proves itself with its own shared secret.

use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::HttpState;
use crate::codes;
use crate::notify::{Handled, Refusal};
use crate::sources::rivta::notification as soap;

/// The largest notification body read: a full-resource Bundle of a few resources fits many
/// times over.
pub const MAX_NOTIFICATION_BYTES: usize = 1024 * 1024;

const FHIR_JSON: &str = "application/fhir+json";

/// Where our codes appear in an OperationOutcome's `issue.details.coding`.
pub const CODE_SYSTEM: &str = "https://overblick.se/fhir/CodeSystem/error-code";

fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
}

/// `POST /notify/fhir/{source_id}`.
pub(super) async fn fhir(
    State(state): State<HttpState>,
    Path(source_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    fhir_notification(&state, &source_id, &headers, body).await
}

/// `PUT` or `POST /notify/fhir/{source_id}/{resource_type}/{id}`: R4 rest-hook with a payload
/// sends the changed resource to `<endpoint>/<Type>/<id>`; the body says all we need.
pub(super) async fn fhir_resource(
    State(state): State<HttpState>,
    Path((source_id, _, _)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    fhir_notification(&state, &source_id, &headers, body).await
}

async fn fhir_notification(
    state: &HttpState,
    source_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let Ok(body) = to_bytes(body, MAX_NOTIFICATION_BYTES).await else {
        return outcome(
            StatusCode::PAYLOAD_TOO_LARGE,
            "error",
            "too-long",
            codes::PAYLOAD_TOO_LARGE,
            &format!("a notification may be at most {MAX_NOTIFICATION_BYTES} bytes"),
        );
    };
    match state
        .notify
        .fhir(source_id, authorization(headers), &body)
        .await
    {
        Ok(handled) => outcome(
            StatusCode::OK,
            "information",
            "informational",
            "OK",
            &done(&handled),
        ),
        Err(Refusal::UnknownSource) => outcome(
            StatusCode::NOT_FOUND,
            "error",
            "not-found",
            codes::UNKNOWN_SOURCE,
            "no FHIR source with this id takes notifications here",
        ),
        Err(Refusal::Unauthenticated) => {
            let mut response = outcome(
                StatusCode::UNAUTHORIZED,
                "error",
                "security",
                codes::UNAUTHENTICATED,
                "send the source's secret as `Authorization: Bearer <secret>` (the Subscription's channel.header)",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Err(Refusal::Unreadable(why)) => outcome(
            StatusCode::BAD_REQUEST,
            "error",
            "invalid",
            codes::INVALID_NOTIFICATION,
            &format!("the notification cannot be read: {why}"),
        ),
        Err(Refusal::SourceFailed(error)) => outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            "transient",
            error.code(),
            "the notification names a resource whose patient the source could not tell us just now; send it again",
        ),
    }
}

fn done(handled: &Handled) -> String {
    match handled.outcome {
        "ping" => {
            "received; an empty notification names no patient, so nothing was refreshed".into()
        }
        "status" => "received".into(),
        _ => format!(
            "received; {} patient(s) concerned, their answers from this source will be fetched again",
            handled.patients
        ),
    }
}

/// A one-issue OperationOutcome carrying our `code` in `details`.
fn outcome(
    status: StatusCode,
    severity: &str,
    issue_type: &str,
    code: &str,
    text: &str,
) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": severity,
            "code": issue_type,
            "details": {
                "coding": [{ "system": CODE_SYSTEM, "code": code }],
                "text": text
            }
        }]
    });
    (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        body.to_string(),
    )
        .into_response()
}

/// `POST /notify/rivta`.
pub(super) async fn rivta(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(body) = to_bytes(body, MAX_NOTIFICATION_BYTES).await else {
        return xml(
            StatusCode::PAYLOAD_TOO_LARGE,
            soap::fault(
                codes::PAYLOAD_TOO_LARGE,
                &format!("a notification may be at most {MAX_NOTIFICATION_BYTES} bytes"),
            ),
        );
    };
    match state.notify.rivta(authorization(&headers), &body).await {
        Ok(_) => xml(StatusCode::OK, soap::response(None)),
        Err(Refusal::UnknownSource) => xml(
            StatusCode::NOT_FOUND,
            soap::fault(
                codes::UNKNOWN_SOURCE,
                "this service takes no engagement index notifications ([platform] notify_secret_env)",
            ),
        ),
        Err(Refusal::Unauthenticated) => {
            let mut response = xml(
                StatusCode::UNAUTHORIZED,
                soap::fault(
                    codes::UNAUTHENTICATED,
                    "send the platform's secret as `Authorization: Bearer <secret>`",
                ),
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        // SOAP 1.1 (section 6.2) answers a fault with HTTP 500; `Client` says the request is
        // at fault and must not be sent again as it is.
        Err(Refusal::Unreadable(why)) => xml(
            StatusCode::INTERNAL_SERVER_ERROR,
            soap::fault(
                codes::INVALID_NOTIFICATION,
                &format!("the notification cannot be read: {why}"),
            ),
        ),
        Err(Refusal::SourceFailed(error)) => xml(
            StatusCode::SERVICE_UNAVAILABLE,
            soap::fault(error.code(), "try again"),
        ),
    }
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}
