use std::sync::Mutex;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use serde_json::json;

use super::*;
use crate::domain::{DomainItems, Organisation};
use crate::sources::client::HttpSettings;

const TOLVAN: &str = "191212121212";
const TOKEN: &str = "urn%3Aoid%3A1.2.752.129.2.1.3.1%7C191212121212";

fn tolvan() -> PersonId {
    PersonId::parse(TOLVAN).unwrap()
}

fn info() -> Arc<SourceInfo> {
    Arc::new(SourceInfo {
        id: "fhir-test".into(),
        name: "FHIR-testkällan".into(),
        system: None,
        care_provider: Organisation::default(),
        default_care_unit: None,
    })
}

fn client(max_body_bytes: usize) -> HttpClient {
    HttpClient::new(&HttpSettings {
        max_body_bytes,
        ..HttpSettings::default()
    })
    .unwrap()
}

/// One request the test server saw: path with query, and the Accept header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct TestServer {
    /// `http://127.0.0.1:<port>/fhir`
    base: String,
    seen: Seen,
}

impl TestServer {
    fn source(&self, max_body_bytes: usize) -> FhirSource {
        FhirSource::new(
            info(),
            &format!("{}/", self.base),
            Domain::ALL.to_vec(),
            client(max_body_bytes),
        )
    }

    fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// Serves `respond(path_and_query, base) -> (status, body)` on a free loopback port.
async fn serve<F>(respond: F) -> TestServer
where
    F: Fn(&str, &str) -> (u16, Vec<u8>) + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/fhir", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let respond = Arc::new(respond);
    let (app_base, app_seen) = (base.clone(), seen.clone());
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let (respond, base, seen) = (respond.clone(), app_base.clone(), app_seen.clone());
        async move {
            let path = uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let accept = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            seen.lock().unwrap().push((path.clone(), accept));
            let (status, body) = respond(&path, &base);
            (
                StatusCode::from_u16(status).unwrap(),
                [(header::CONTENT_TYPE, FHIR_JSON)],
                body,
            )
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestServer { base, seen }
}

fn bundle(resources: Vec<Value>, next: Option<String>) -> Vec<u8> {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| json!({"resource": r, "search": {"mode": "match"}}))
        .collect();
    let mut link = vec![json!({"relation": "self", "url": "http://ignored/"})];
    if let Some(next) = next {
        link.push(json!({"relation": "next", "url": next}));
    }
    serde_json::to_vec(
        &json!({"resourceType": "Bundle", "type": "searchset", "link": link, "entry": entry}),
    )
    .unwrap()
}

fn weight(id: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "category": [{"coding": [{"code": "vital-signs"}]}],
           "code": {"text": "Kroppsvikt"}, "valueQuantity": {"value": 70, "unit": "kg"}})
}

fn outcome(severity: &str, code: &str, text: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "details": {"text": text},
                   "diagnostics": format!("patient {TOLVAN}")}]}))
    .unwrap()
}

async fn fetch_err(server: &TestServer, domain: Domain) -> SourceError {
    let source = server.source(1024 * 1024);
    let err = source.fetch(&tolvan(), domain).await.unwrap_err();
    assert!(!err.to_string().contains(TOLVAN), "{err}");
    assert!(!err.to_string().contains("1212121212"), "{err}");
    err
}

#[test]
fn the_search_urls_follow_the_conventions() {
    let source = FhirSource::new(info(), "https://fhir.example.se/r4/", vec![], client(1024));
    let urls = |d| source.search_urls(&tolvan(), d);
    let b = "https://fhir.example.se/r4";
    assert_eq!(
        urls(Domain::Patient),
        [format!("{b}/Patient?identifier={TOKEN}&_count=100")]
    );
    assert_eq!(
        urls(Domain::Contacts),
        [format!(
            "{b}/CareTeam?patient.identifier={TOKEN}&_include=CareTeam:participant\
             &_include:iterate=PractitionerRole:practitioner\
             &_include:iterate=PractitionerRole:organization&_count=100"
        )]
    );
    assert_eq!(
        urls(Domain::CarePlans),
        [format!(
            "{b}/CarePlan?patient.identifier={TOKEN}&_count=100"
        )]
    );
    assert_eq!(
        urls(Domain::Agreements),
        [
            format!("{b}/Goal?patient.identifier={TOKEN}&_count=100"),
            format!("{b}/CarePlan?patient.identifier={TOKEN}&_count=100")
        ]
    );
    assert_eq!(
        urls(Domain::Medications),
        [
            format!(
                "{b}/MedicationRequest?patient.identifier={TOKEN}&_include=MedicationRequest:medication&_count=100"
            ),
            format!(
                "{b}/MedicationStatement?patient.identifier={TOKEN}&_include=MedicationStatement:medication&_count=100"
            )
        ]
    );
    assert_eq!(
        urls(Domain::Measurements),
        [format!(
            "{b}/Observation?patient.identifier={TOKEN}&category=vital-signs&_count=100"
        )]
    );
    assert_eq!(
        urls(Domain::LabResults),
        [
            format!("{b}/Observation?patient.identifier={TOKEN}&category=laboratory&_count=100"),
            format!(
                "{b}/DiagnosticReport?patient.identifier={TOKEN}&_include=DiagnosticReport:result&_count=100"
            )
        ]
    );
    assert_eq!(
        urls(Domain::Bookings),
        [format!(
            "{b}/Appointment?patient.identifier={TOKEN}&_include=Appointment:actor&_include:iterate=Location:organization&_include:iterate=PractitionerRole:organization&_include:iterate=PractitionerRole:practitioner&_count=100"
        )]
    );
}

#[test]
fn a_samordningsnummer_is_searched_in_its_own_system() {
    let source = FhirSource::new(info(), "http://x", vec![], client(1024));
    let id = PersonId::parse("199001612382").unwrap();
    assert!(
        source.search_urls(&id, Domain::Patient)[0]
            .contains("identifier=urn%3Aoid%3A1.2.752.129.2.1.3.3%7C199001612382&")
    );
}

#[tokio::test]
async fn paging_follows_next_links_across_three_pages() {
    let server = serve(|path, base| {
        let (resources, next) = if path.ends_with("page=3") {
            (vec![weight("w3")], None)
        } else if path.ends_with("page=2") {
            (
                vec![weight("w2")],
                Some(format!("{base}/Observation?page=3")),
            )
        } else {
            (
                vec![weight("w1")],
                Some(format!("{base}/Observation?page=2")),
            )
        };
        (200, bundle(resources, next))
    })
    .await;
    let items = server
        .source(1024 * 1024)
        .fetch(&tolvan(), Domain::Measurements)
        .await
        .unwrap()
        .items;
    let DomainItems::Measurements(items) = items else {
        panic!("{items:?}")
    };
    let ids: Vec<_> = items
        .iter()
        .map(|m| m.provenance.record_id.as_str())
        .collect();
    assert_eq!(ids, ["Observation/w1", "Observation/w2", "Observation/w3"]);
    assert_eq!(items[0].provenance.source_id, "fhir-test");
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].0,
        format!("/fhir/Observation?patient.identifier={TOKEN}&category=vital-signs&_count=100")
    );
    assert!(
        seen.iter()
            .all(|(_, accept)| accept.as_deref() == Some(FHIR_JSON))
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused() {
    for other in [
        "http://127.0.0.1:1/fhir/Observation?page=2",
        "https://{host}/fhir/Observation?page=2",
        "http://localhost:{port}/fhir/Observation?page=2",
    ] {
        let server = serve(move |_, base| {
            let authority = base.trim_start_matches("http://").trim_end_matches("/fhir");
            let port = authority.rsplit(':').next().unwrap();
            let next = other.replace("{host}", authority).replace("{port}", port);
            (200, bundle(vec![weight("w1")], Some(next)))
        })
        .await;
        let err = fetch_err(&server, Domain::Measurements).await;
        assert!(
            matches!(&err, SourceError::InvalidResponse(m) if m.contains("another scheme, host or port")),
            "{other}: {err:?}"
        );
        assert_eq!(server.requests().len(), 1, "{other}");
    }
}

#[tokio::test]
async fn a_relative_or_repeated_next_link_is_refused() {
    let server = serve(|_, _| (200, bundle(vec![], Some("Observation?page=2".into())))).await;
    let err = fetch_err(&server, Domain::Measurements).await;
    assert!(
        matches!(&err, SourceError::InvalidResponse(m) if m.contains("not an absolute URL")),
        "{err:?}"
    );

    let server = serve(|path, base| {
        let next = if path.ends_with("page=2") {
            "page=1"
        } else {
            "page=2"
        };
        (
            200,
            bundle(vec![], Some(format!("{base}/Observation?{next}"))),
        )
    })
    .await;
    let err = fetch_err(&server, Domain::Measurements).await;
    assert!(
        matches!(&err, SourceError::InvalidResponse(m) if m.contains("repeats")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_search_of_more_than_100_pages_is_refused() {
    let server = serve(|path, base| {
        let n: u32 = path
            .rsplit("page=")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        (
            200,
            bundle(vec![], Some(format!("{base}/Observation?page={}", n + 1))),
        )
    })
    .await;
    let err = fetch_err(&server, Domain::Measurements).await;
    assert!(
        matches!(&err, SourceError::InvalidResponse(m) if m.contains("100 pages")),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), MAX_PAGES);
}

#[tokio::test]
async fn an_operation_outcome_with_404_is_a_status_error_with_its_summary() {
    let server = serve(|_, _| (404, outcome("error", "not-found", "Okänd patient"))).await;
    let err = fetch_err(&server, Domain::Patient).await;
    match err {
        SourceError::Status { status, outcome } => {
            assert_eq!(status, 404);
            assert_eq!(outcome.as_deref(), Some("error not-found: Okänd patient"));
        }
        other => panic!("{other:?}"),
    }

    let server = serve(|_, _| (503, b"<html>Service Unavailable</html>".to_vec())).await;
    let err = fetch_err(&server, Domain::Patient).await;
    assert!(
        matches!(
            err,
            SourceError::Status {
                status: 503,
                outcome: None
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_200_operation_outcome_with_an_error_is_reported() {
    let server = serve(|_, _| (200, outcome("fatal", "exception", "Databasen svarar inte"))).await;
    let err = fetch_err(&server, Domain::Bookings).await;
    assert!(
        matches!(&err, SourceError::Reported(m) if m == "fatal exception: Databasen svarar inte"),
        "{err:?}"
    );

    let server = serve(|_, _| (200, outcome("information", "informational", "Inga träffar"))).await;
    let err = fetch_err(&server, Domain::Bookings).await;
    assert!(matches!(err, SourceError::InvalidResponse(_)), "{err:?}");
}

#[tokio::test]
async fn a_garbage_body_is_an_invalid_response() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"<html>191212121212</html>",
            "not JSON (syntax error at line 1, column 1)",
        ),
        (
            b"{\"resourceType\": \"Bundle\"",
            "not JSON (unexpected end error",
        ),
        (b"", "empty"),
        (b"[1, 2]", "JSON an array instead of a Bundle"),
        (
            b"{\"resourceType\": \"Patient\", \"id\": \"191212121212\"}",
            "a Patient instead of a Bundle",
        ),
        (
            b"{\"resourceType\": \"<script>191212121212\"}",
            "unknown type",
        ),
    ];
    for (body, expected) in cases {
        let server = serve(move |_, _| (200, body.to_vec())).await;
        let err = fetch_err(&server, Domain::Patient).await;
        assert!(
            matches!(&err, SourceError::InvalidResponse(m) if m.contains(expected)),
            "{expected}: {err:?}"
        );
    }
    let server = serve(|_, _| {
        (
            200,
            serde_json::to_vec(&json!({"resourceType": "Bundle", "link": "next"})).unwrap(),
        )
    })
    .await;
    assert!(matches!(
        fetch_err(&server, Domain::Patient).await,
        SourceError::InvalidResponse(_)
    ));
}

#[tokio::test]
async fn a_body_over_the_cap_is_too_large() {
    let server = serve(|_, _| (200, bundle(vec![weight("w"); 40], None))).await;
    let err = server
        .source(1024)
        .fetch(&tolvan(), Domain::Measurements)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { limit_bytes: 1024 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_searches_of_a_domain_run_together_and_their_answers_combine() {
    let server = serve(|path, _| {
        if path.starts_with("/fhir/MedicationRequest?") {
            let body = json!({"resourceType": "Bundle", "type": "searchset", "entry": [
                {"fullUrl": "urn:uuid:1", "search": {"mode": "match"}, "resource": {
                    "resourceType": "MedicationRequest", "id": "mr", "status": "active",
                    "medicationReference": {"reference": "Medication/m"}}},
                {"search": {"mode": "include"}, "resource": {
                    "resourceType": "Medication", "id": "m", "code": {"text": "Eliquis 5 mg"}}}
            ]});
            (200, serde_json::to_vec(&body).unwrap())
        } else {
            let statement = json!({"resourceType": "MedicationStatement", "id": "ms", "status": "active",
                                   "medicationCodeableConcept": {"text": "Alvedon"}});
            (200, bundle(vec![statement], None))
        }
    })
    .await;
    let items = server
        .source(1024 * 1024)
        .fetch(&tolvan(), Domain::Medications)
        .await
        .unwrap()
        .items;
    let DomainItems::Medications(items) = items else {
        panic!("{items:?}")
    };
    let names: Vec<_> = items.iter().map(|m| m.item.name.as_str()).collect();
    assert_eq!(names, ["Eliquis 5 mg", "Alvedon"]);
    let mut requests = server.requests();
    requests.sort();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].starts_with("/fhir/MedicationRequest?"));
    assert!(requests[1].starts_with("/fhir/MedicationStatement?"));
}

#[tokio::test]
async fn one_failing_search_fails_the_domain() {
    let server = serve(|path, _| {
        if path.starts_with("/fhir/Goal?") {
            (500, Vec::new())
        } else {
            (200, bundle(vec![], None))
        }
    })
    .await;
    let err = fetch_err(&server, Domain::Agreements).await;
    assert!(
        matches!(
            err,
            SourceError::Status {
                status: 500,
                outcome: None
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_domain_the_source_does_not_offer_is_unsupported_without_a_request() {
    let server = serve(|_, _| (200, bundle(vec![], None))).await;
    let source = FhirSource::new(info(), &server.base, vec![Domain::Patient], client(1024));
    let err = source.fetch(&tolvan(), Domain::Bookings).await.unwrap_err();
    assert!(
        matches!(err, SourceError::Unsupported("bookings")),
        "{err:?}"
    );
    assert!(server.requests().is_empty());
    assert_eq!(source.domains(), [Domain::Patient]);
}

#[tokio::test]
async fn an_invalid_base_url_fails_without_a_request() {
    let source = FhirSource::new(info(), "not a url", Domain::ALL.to_vec(), client(1024));
    let err = source.fetch(&tolvan(), Domain::Patient).await.unwrap_err();
    assert!(matches!(err, SourceError::Connect(_)), "{err:?}");
}
