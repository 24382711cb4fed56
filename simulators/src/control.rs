//! The demo's control panel: a tiny HTTP API on loopback that switches a running simulated
//! source's [`Behaviour`] (slow, hanging, failing, ... and back), so that a frontend developer
//! sees the error states an overview can show without editing files or restarting. Served on
//! its own port, beside the service, never by the service itself.
//!
//! - `GET /sources`: every simulated source with its protocol and behaviour (JSON).
//! - `PUT /sources/<id>` with a body of one of [`NAMES`]: switches it; answers as `GET` does
//!   for that one source. An unknown source is 404, an unknown behaviour 400 naming the choices.
//! - `POST /sources/<id>/change?person=<12 digits>` with a body of `measurement` (a new home
//!   blood-pressure reading, now) or `booking` (the person's next booking moved a day later):
//!   the FHIR source changes that person's records and, when the demo pointed it at the
//!   service, sends the service a rest-hook notification (a Backport IG `full-resource`
//!   Bundle), so live overviews update. Answers `{"source", "change", "record", "notified"}`;
//!   A RIV-TA source moves bookings only (its first timeslot) and, when pointed at the
//!   service, sends the platform's `ProcessNotification` as the engagement index would.
//!   404 for an unknown source, 400 for an unknown change, a missing person, a person (or
//!   booking) the source has no record of, or a change the source cannot make.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{Behaviour, Change, Simulator};

/// The behaviours the panel offers, by name.
pub const NAMES: [&str; 7] = [
    "normal", "slow", "hang", "fail", "error", "garbage", "reset",
];

/// How long a `slow` source waits before answering, on top of its latency: past most sources'
/// time limit (2.5 s by default), so the overview shows it as timed out.
pub const SLOW: Duration = Duration::from_secs(3);

/// The behaviour a name stands for.
pub fn behaviour(name: &str) -> Option<Behaviour> {
    Some(match name {
        "normal" => Behaviour::Normal,
        "slow" => Behaviour::Delay(SLOW),
        "hang" => Behaviour::Hang,
        "fail" => Behaviour::Status(503),
        "error" => Behaviour::ProtocolError,
        "garbage" => Behaviour::Garbage,
        "reset" => Behaviour::Reset,
        _ => return None,
    })
}

/// A behaviour's name on the panel; behaviours it does not offer by name are described.
pub fn name(behaviour: Behaviour) -> String {
    match behaviour {
        Behaviour::Normal => "normal".into(),
        Behaviour::Delay(d) if d == SLOW => "slow".into(),
        Behaviour::Hang => "hang".into(),
        Behaviour::Status(503) => "fail".into(),
        Behaviour::ProtocolError => "error".into(),
        Behaviour::Garbage => "garbage".into(),
        Behaviour::Reset => "reset".into(),
        other => format!("{other:?}"),
    }
}

/// The simulated sources the panel controls, by source id.
type Sources = Arc<Vec<(String, Simulator)>>;

/// The panel's routes over `sources`.
pub fn router(sources: Vec<(String, Simulator)>) -> Router {
    Router::new()
        .route("/sources", get(list))
        .route("/sources/{id}", get(one).put(switch))
        .route("/sources/{id}/change", post(change))
        .with_state(Arc::new(sources))
}

/// Serves the panel on `addr` (loopback) until the returned task is aborted.
pub async fn serve(
    addr: SocketAddr,
    sources: Vec<(String, Simulator)>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(sources);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the demo control panel stopped");
        }
    });
    Ok((bound, task))
}

fn describe(id: &str, simulator: &Simulator) -> Value {
    let protocol = match simulator {
        Simulator::Fhir(_) => "fhir-r4",
        Simulator::RivTa(_) => "riv-ta",
    };
    json!({
        "source": id,
        "protocol": protocol,
        "behaviour": name(simulator.server().behaviour()),
    })
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn unknown(id: &str) -> Response {
    json_answer(
        StatusCode::NOT_FOUND,
        &json!({ "error": format!("no simulated source {id:?}; GET /sources lists them") }),
    )
}

async fn list(State(sources): State<Sources>) -> Response {
    let all: Vec<Value> = sources.iter().map(|(id, s)| describe(id, s)).collect();
    json_answer(
        StatusCode::OK,
        &json!({ "sources": all, "behaviours": NAMES }),
    )
}

async fn one(State(sources): State<Sources>, Path(id): Path<String>) -> Response {
    match sources.iter().find(|(s, _)| *s == id) {
        Some((id, simulator)) => json_answer(StatusCode::OK, &describe(id, simulator)),
        None => unknown(&id),
    }
}

async fn switch(State(sources): State<Sources>, Path(id): Path<String>, body: String) -> Response {
    let Some((id, simulator)) = sources.iter().find(|(s, _)| *s == id) else {
        return unknown(&id);
    };
    let wanted = body.trim().trim_matches('"');
    let Some(behaviour) = behaviour(wanted) else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            &json!({
                "error": format!("no behaviour {wanted:?}; one of {}", NAMES.join(", ")),
            }),
        );
    };
    simulator.server().set_behaviour(behaviour);
    tracing::info!(source = %id, behaviour = wanted, "demo source switched");
    json_answer(StatusCode::OK, &describe(id, simulator))
}

#[derive(serde::Deserialize)]
struct ChangeQuery {
    person: Option<String>,
}

async fn change(
    State(sources): State<Sources>,
    Path(id): Path<String>,
    Query(query): Query<ChangeQuery>,
    body: String,
) -> Response {
    let Some((id, simulator)) = sources.iter().find(|(s, _)| *s == id) else {
        return unknown(&id);
    };
    let wanted = body.trim().trim_matches('"');
    let Some(kind) = Change::parse(wanted) else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            &json!({ "error": format!("no change {wanted:?}; one of {}", Change::NAMES.join(", ")) }),
        );
    };
    let Some(person) = query.person else {
        return json_answer(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "say whose records change: ?person=<12 digits>" }),
        );
    };
    let changed = match simulator {
        Simulator::Fhir(handle) => handle.change(&person, kind).await,
        Simulator::RivTa(handle) => handle.change(&person, kind).await,
    };
    match changed {
        Ok(changed) => json_answer(
            StatusCode::OK,
            &json!({
                "source": id,
                "change": kind.name(),
                "record": changed.record,
                "notified": changed.notified,
            }),
        ),
        Err(error) => json_answer(StatusCode::BAD_REQUEST, &json!({ "error": error })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_name_stands_for_a_behaviour_that_has_that_name() {
        for n in NAMES {
            assert_eq!(name(behaviour(n).unwrap()), n);
        }
        assert!(behaviour("broken").is_none());
    }
}
