//! Fixed-answer FHIR sources for load tests: every patient gets the same pre-built answer after
//! a fixed latency, so the sources cost next to nothing and the gateway under test is what gets
//! measured.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;

/// What one fixed source serves.
#[derive(Clone, Debug)]
pub struct FixedSpec {
    /// Distinguishes the sources' records (ids, identifiers, start dates), so that no two
    /// sources report the same record and a merge keeps every item.
    pub index: usize,
    /// MedicationRequests in every answer (MedicationStatement searches answer empty).
    pub medications: usize,
    /// Delay before every answer.
    pub latency: Duration,
}

struct Shared {
    medication_requests: Bytes,
    empty: Bytes,
    /// Latency in microseconds; changeable while running (to slow one source down).
    latency_us: AtomicU64,
    hits: AtomicU64,
}

/// A running fixed source; stops when dropped.
pub struct FixedSource {
    shared: Arc<Shared>,
    base_url: String,
    _stop: watch::Sender<bool>,
}

impl FixedSource {
    /// Starts a source on 127.0.0.1 at a free port (within a Tokio runtime).
    pub async fn start(spec: &FixedSpec) -> std::io::Result<FixedSource> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr: SocketAddr = listener.local_addr()?;
        let base_url = format!("http://{addr}/fhir");
        let shared = Arc::new(Shared {
            medication_requests: Bytes::from(medication_bundle(spec, &base_url).to_string()),
            empty: Bytes::from(
                json!({"resourceType": "Bundle", "type": "searchset", "total": 0}).to_string(),
            ),
            latency_us: AtomicU64::new(spec.latency.as_micros() as u64),
            hits: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/fhir/{resource_type}", get(search))
            .with_state(shared.clone());
        let (stop, mut stopping) = watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(FixedSource {
            shared,
            base_url,
            _stop: stop,
        })
    }

    /// The FHIR base URL, e.g. `http://127.0.0.1:PORT/fhir`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Requests answered or in progress so far.
    pub fn hits(&self) -> u64 {
        self.shared.hits.load(Ordering::Relaxed)
    }

    /// Changes the latency of every answer from now on.
    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_us
            .store(latency.as_micros() as u64, Ordering::Relaxed);
    }
}

async fn search(State(shared): State<Arc<Shared>>, Path(resource_type): Path<String>) -> Response {
    shared.hits.fetch_add(1, Ordering::Relaxed);
    let latency = Duration::from_micros(shared.latency_us.load(Ordering::Relaxed));
    tokio::time::sleep(latency).await;
    let body = if resource_type == "MedicationRequest" {
        shared.medication_requests.clone()
    } else {
        shared.empty.clone()
    };
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json"),
        )],
        body,
    )
        .into_response()
}

/// A searchset of `spec.medications` MedicationRequests shaped like a Swedish prescription list.
pub fn medication_bundle(spec: &FixedSpec, base_url: &str) -> serde_json::Value {
    const DRUGS: [(&str, &str, f64, &str); 5] = [
        (
            "B01AF02",
            "Eliquis 5 mg tablett",
            5.0,
            "1 tablett 2 gånger dagligen",
        ),
        (
            "A10BA02",
            "Metformin 500 mg tablett",
            500.0,
            "1 tablett 2 gånger dagligen",
        ),
        (
            "C07AB02",
            "Seloken ZOC 50 mg depottablett",
            50.0,
            "1 tablett på morgonen",
        ),
        (
            "C10AA05",
            "Atorvastatin 20 mg tablett",
            20.0,
            "1 tablett till kvällen",
        ),
        (
            "N02BE01",
            "Alvedon 665 mg tablett",
            1330.0,
            "2 tabletter 3 gånger dagligen",
        ),
    ];
    let entries: Vec<serde_json::Value> = (0..spec.medications)
        .map(|j| {
            let (atc, name, dose, text) = DRUGS[j % DRUGS.len()];
            let id = format!("s{}-m{}", spec.index, j);
            // Start dates differ per source and item: no two sources hold the same record.
            let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("a valid date")
                + chrono::Days::new((spec.index * 97 + j * 13) as u64 % 2000);
            json!({
                "fullUrl": format!("{base_url}/MedicationRequest/{id}"),
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": id,
                    "identifier": [{
                        "system": "https://demo.overblick.se/identifier/forskrivning",
                        "value": format!("RX-{}-{}", spec.index, j)
                    }],
                    "status": "active",
                    "intent": "order",
                    "medicationCodeableConcept": {
                        "coding": [{"system": "http://www.whocc.no/atc", "code": atc}],
                        "text": name
                    },
                    "subject": {"reference": "Patient/p"},
                    "authoredOn": start.to_string(),
                    "requester": {"display": "Karin Lindqvist"},
                    "dosageInstruction": [{
                        "text": text,
                        "timing": {"repeat": {"boundsPeriod": {"start": start.to_string()}}},
                        "doseAndRate": [{"doseQuantity": {
                            "value": dose, "unit": "mg",
                            "system": "http://unitsofmeasure.org", "code": "mg"
                        }}]
                    }]
                },
                "search": {"mode": "match"}
            })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": spec.medications,
        "link": [{"relation": "self", "url": format!("{base_url}/MedicationRequest")}],
        "entry": entries
    })
}
