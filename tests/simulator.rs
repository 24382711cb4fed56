//! The FHIR simulator as a client sees it: a real server on loopback, queried over HTTP with the
//! searches the FHIR adapter makes, in every fault behaviour; and the demo data as the FHIR
//! adapter maps it from the demo's own simulators.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use overblick::config::catalog::load_catalog;
use overblick::domain::{
    ContactRole, Domain, DomainItems, MedicationStatus, PERSONNUMMER_SYSTEM, PersonId,
    SAMORDNINGSNUMMER_SYSTEM,
};
use overblick::sources::SourceAdapter;
use overblick::sources::client::{HttpClient, HttpSettings};
use overblick::sources::fhir::FhirSource;
use overblick_simulators::{
    self, Behaviour, DRIP_CHUNK_BYTES, FhirStore, GARBAGE_BODY, SimulatorHandle,
};
use serde_json::{Value, json};

const TOLVAN: &str = "191212121212";
const SYNTHEA_FILE: &str =
    "tests/data/fhir/synthea/inferno-elderly-multimorbid-uscore__uscore_bundle_patient_355.json";

fn tolvan() -> PersonId {
    PersonId::parse(TOLVAN).unwrap()
}

/// The same person as the simulators key them.
fn held(person: &PersonId) -> overblick_simulators::person::Person {
    overblick_simulators::person::Person::parse(&person.digits()).unwrap()
}

fn pnr_token(digits: &str) -> String {
    format!("{PERSONNUMMER_SYSTEM}|{digits}")
}

/// A search URL as the adapter builds it (parameters URL-encoded).
fn search_url(sim: &SimulatorHandle, resource_type: &str, params: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params(&format!("{}/{resource_type}", sim.base_url()), params)
        .unwrap()
        .into()
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the answer is JSON")
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Result<Answer, reqwest::Error> {
    let response = client
        .get(url)
        .header("Accept", "application/fhir+json")
        .send()
        .await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.bytes().await?.to_vec();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

async fn get_json(url: &str) -> (u16, Value) {
    let answer = get(&reqwest::Client::new(), url).await.unwrap();
    assert_eq!(answer.content_type, "application/fhir+json");
    (answer.status, answer.json())
}

/// Every page of a search, following `next` links; returns the pages' Bundles.
async fn all_pages(first_url: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut url = Some(first_url.to_owned());
    while let Some(current) = url {
        let (status, bundle) = get_json(&current).await;
        assert_eq!(status, 200, "{bundle}");
        url = link(&bundle, "next");
        pages.push(bundle);
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == relation)
        .and_then(|l| l["url"].as_str())
        .map(str::to_owned)
}

fn entries<'a>(bundle: &'a Value, mode: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    bundle["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(move |e| e["search"]["mode"] == mode)
}

fn keys(bundle: &Value, mode: &str) -> Vec<String> {
    entries(bundle, mode)
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap(),
                e["resource"]["id"].as_str().unwrap()
            )
        })
        .collect()
}

fn observation(id: &str, category: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category
        }] }],
        "subject": { "reference": "Patient/tolvan" }
    })
}

/// Tolvan's record: a Patient, two care teams sharing a doctor, vital signs and lab results.
fn demo_bundle(vital_signs: usize, lab_results: usize) -> Value {
    let mut resources = vec![
        json!({
            "resourceType": "Patient",
            "id": "tolvan",
            "identifier": [{ "system": PERSONNUMMER_SYSTEM, "value": TOLVAN }]
        }),
        json!({ "resourceType": "Practitioner", "id": "doc", "name": [{ "family": "Läkare" }] }),
        json!({ "resourceType": "Practitioner", "id": "nurse" }),
    ];
    for (team, members) in [("ct1", ["doc", "nurse"]), ("ct2", ["doc", "doc"])] {
        resources.push(json!({
            "resourceType": "CareTeam",
            "id": team,
            "subject": { "reference": "Patient/tolvan" },
            "participant": members
                .iter()
                .map(|m| json!({ "member": { "reference": format!("Practitioner/{m}") } }))
                .collect::<Vec<_>>()
        }));
    }
    for i in 0..vital_signs {
        resources.push(observation(&format!("vs{i}"), "vital-signs"));
    }
    for i in 0..lab_results {
        resources.push(observation(&format!("lab{i}"), "laboratory"));
    }
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": resources
            .into_iter()
            .map(|r| json!({
                "fullUrl": format!("{}/{}", r["resourceType"].as_str().unwrap(), r["id"].as_str().unwrap()),
                "resource": r
            }))
            .collect::<Vec<_>>()
    })
}

fn start_demo(vital_signs: usize, lab_results: usize, latency: Duration) -> SimulatorHandle {
    let mut store = FhirStore::new();
    store
        .insert_bundle(&held(&tolvan()), demo_bundle(vital_signs, lab_results))
        .unwrap();
    overblick_simulators::fhir::start(store, latency).unwrap()
}

#[tokio::test]
async fn paging_over_three_pages_returns_every_resource_exactly_once() {
    let sim = start_demo(25, 0, Duration::ZERO);
    let token = pnr_token(TOLVAN);
    let first = search_url(
        &sim,
        "Observation",
        &[("patient.identifier", &token), ("_count", "10")],
    );

    let pages = all_pages(&first).await;

    assert_eq!(pages.len(), 3);
    let mut seen = HashSet::new();
    for page in &pages {
        assert_eq!(page["type"], "searchset");
        assert_eq!(page["total"], 25);
        assert!(link(page, "self").is_some());
        for key in keys(page, "match") {
            assert!(seen.insert(key.clone()), "{key} served twice");
        }
        if let Some(next) = link(page, "next") {
            assert!(
                next.starts_with(&format!("{}/Observation?", sim.base_url())),
                "{next}"
            );
            assert!(next.contains("patient.identifier="), "{next}");
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(keys(&pages[2], "match").len(), 5);
}

#[tokio::test]
async fn the_default_page_holds_fifty_and_count_is_capped_at_five_hundred() {
    let sim = start_demo(520, 0, Duration::ZERO);
    let token = pnr_token(TOLVAN);
    let (_, default) = get_json(&search_url(
        &sim,
        "Observation",
        &[("patient.identifier", &token)],
    ))
    .await;
    assert_eq!(keys(&default, "match").len(), 50);
    let (_, capped) = get_json(&search_url(
        &sim,
        "Observation",
        &[("patient.identifier", &token), ("_count", "1000")],
    ))
    .await;
    assert_eq!(keys(&capped, "match").len(), 500);
    assert!(link(&capped, "next").is_some());
}

#[tokio::test]
async fn an_include_adds_the_referenced_practitioner_once_with_mode_include() {
    let sim = start_demo(0, 0, Duration::ZERO);
    let token = pnr_token(TOLVAN);
    let (status, bundle) = get_json(&search_url(
        &sim,
        "CareTeam",
        &[
            ("patient.identifier", token.as_str()),
            ("_include", "CareTeam:participant"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
            ("_count", "100"),
        ],
    ))
    .await;

    assert_eq!(status, 200);
    assert_eq!(keys(&bundle, "match"), ["CareTeam/ct1", "CareTeam/ct2"]);
    assert_eq!(
        keys(&bundle, "include"),
        ["Practitioner/doc", "Practitioner/nurse"]
    );
    assert_eq!(bundle["total"], 2, "includes do not count in total");
    let doc = entries(&bundle, "include").next().unwrap();
    assert_eq!(
        doc["fullUrl"],
        format!("{}/Practitioner/doc", sim.base_url())
    );
}

#[tokio::test]
async fn the_category_filter_separates_vital_signs_from_laboratory() {
    let sim = start_demo(3, 2, Duration::ZERO);
    let token = pnr_token(TOLVAN);
    let search = |category: &'static str| {
        search_url(
            &sim,
            "Observation",
            &[
                ("patient.identifier", token.as_str()),
                ("category", category),
                ("_count", "100"),
            ],
        )
    };
    let (_, vitals) = get_json(&search("vital-signs")).await;
    let (_, labs) = get_json(&search("laboratory")).await;
    assert_eq!(
        keys(&vitals, "match"),
        ["Observation/vs0", "Observation/vs1", "Observation/vs2"]
    );
    assert_eq!(
        keys(&labs, "match"),
        ["Observation/lab0", "Observation/lab1"]
    );
}

#[tokio::test]
async fn an_unknown_person_gets_an_empty_bundle() {
    let sim = start_demo(3, 2, Duration::ZERO);
    // 19900101-2380 is a valid personnummer the simulator holds nothing for.
    for (resource_type, param) in [
        ("Patient", "identifier"),
        ("Observation", "patient.identifier"),
    ] {
        let (status, bundle) = get_json(&search_url(
            &sim,
            resource_type,
            &[(param, &pnr_token("199001012380"))],
        ))
        .await;
        assert_eq!(status, 200);
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(bundle["type"], "searchset");
        assert_eq!(bundle["total"], 0);
        assert!(bundle.get("entry").is_none(), "{bundle}");
    }
}

#[tokio::test]
async fn tolvan_under_the_samordningsnummer_system_is_somebody_else() {
    let sim = start_demo(3, 2, Duration::ZERO);
    let token = format!("{SAMORDNINGSNUMMER_SYSTEM}|{TOLVAN}");
    let (status, bundle) = get_json(&search_url(&sim, "Patient", &[("identifier", &token)])).await;
    assert_eq!(status, 200);
    assert_eq!(bundle["total"], 0);
}

#[tokio::test]
async fn a_samordningsnummer_finds_its_person() {
    let samordningsnummer = PersonId::parse("199001612382").unwrap();
    let mut store = FhirStore::new();
    store
        .insert_bundle(
            &held(&samordningsnummer),
            json!({ "resourceType": "Bundle", "type": "collection", "entry": [
                { "resource": { "resourceType": "Patient", "id": "s1" } }
            ] }),
        )
        .unwrap();
    let sim = overblick_simulators::fhir::start(store, Duration::ZERO).unwrap();
    let token = format!("{SAMORDNINGSNUMMER_SYSTEM}|199001612382");
    let (_, bundle) = get_json(&search_url(&sim, "Patient", &[("identifier", &token)])).await;
    assert_eq!(keys(&bundle, "match"), ["Patient/s1"]);
    let patient = &bundle["entry"][0]["resource"];
    assert_eq!(patient["identifier"][0]["system"], SAMORDNINGSNUMMER_SYSTEM);
}

#[tokio::test]
async fn a_search_without_a_patient_parameter_is_refused_with_an_operation_outcome() {
    let sim = start_demo(3, 2, Duration::ZERO);
    let (status, outcome) = get_json(&search_url(
        &sim,
        "Observation",
        &[("category", "laboratory")],
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "error");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .contains("a patient parameter is required")
    );
}

#[tokio::test]
async fn an_unknown_resource_type_is_not_found() {
    let sim = start_demo(0, 0, Duration::ZERO);
    let (status, outcome) = get_json(&search_url(&sim, "Hovercraft", &[])).await;
    assert_eq!(status, 404);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn metadata_lists_the_types_served() {
    let sim = start_demo(1, 0, Duration::ZERO);
    let (status, capability) = get_json(&format!("{}/metadata", sim.base_url())).await;
    assert_eq!(status, 200);
    assert_eq!(capability["resourceType"], "CapabilityStatement");
    assert_eq!(capability["fhirVersion"], "4.0.1");
    let types: Vec<&str> = capability["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for t in [
        "Patient",
        "CareTeam",
        "Observation",
        "MedicationStatement",
        "Appointment",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
}

#[tokio::test]
async fn a_hanging_source_holds_the_request_until_the_client_gives_up() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Hang);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let url = search_url(&sim, "Patient", &[("identifier", &pnr_token(TOLVAN))]);

    let error = get(&client, &url)
        .await
        .err()
        .expect("no answer while hanging");

    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(sim.hits(), 1, "the hanging request was received");
    sim.set_behaviour(Behaviour::Normal);
    assert_eq!(get(&client, &url).await.unwrap().status, 200);
}

#[tokio::test]
async fn shutdown_releases_a_hanging_request() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Hang);
    let url = format!("{}/metadata", sim.base_url());
    let pending = tokio::spawn(async move { get(&reqwest::Client::new(), &url).await });
    while sim.hits() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    tokio::time::timeout(Duration::from_secs(2), sim.shutdown())
        .await
        .expect("shutdown does not wait for hanging requests");

    let answer = pending.await.unwrap().unwrap();
    assert_eq!(answer.status, 503);
}

#[tokio::test]
async fn a_dropped_handle_stops_the_server() {
    let sim = start_demo(1, 0, Duration::ZERO);
    let url = format!("{}/metadata", sim.base_url());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    assert_eq!(get(&client, &url).await.unwrap().status, 200);
    let clone = sim.clone();
    drop(sim);
    assert_eq!(
        get(&client, &url).await.unwrap().status,
        200,
        "a clone keeps it running"
    );

    drop(clone);

    let deadline = Instant::now() + Duration::from_secs(2);
    while get(&client, &url).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "still serving after the last handle went"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_failing_source_answers_its_status_with_an_operation_outcome() {
    let sim = start_demo(1, 0, Duration::ZERO);
    for code in [500, 503, 429] {
        sim.set_behaviour(Behaviour::Status(code));
        let (status, outcome) = get_json(&format!("{}/metadata", sim.base_url())).await;
        assert_eq!(status, code);
        assert_eq!(outcome["resourceType"], "OperationOutcome");
    }
}

#[tokio::test]
async fn a_garbage_answer_claims_fhir_json_but_is_not_json() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Garbage);
    let url = search_url(&sim, "Patient", &[("identifier", &pnr_token(TOLVAN))]);
    let answer = get(&reqwest::Client::new(), &url).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/fhir+json");
    assert_eq!(answer.body, GARBAGE_BODY.as_bytes());
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
}

#[tokio::test]
async fn a_truncated_answer_is_the_start_of_a_bundle_cut_off() {
    let sim = start_demo(20, 0, Duration::ZERO);
    let url = search_url(
        &sim,
        "Observation",
        &[("patient.identifier", &pnr_token(TOLVAN))],
    );
    let whole = get(&reqwest::Client::new(), &url).await.unwrap().body;
    sim.set_behaviour(Behaviour::Truncated);

    let answer = get(&reqwest::Client::new(), &url).await.unwrap();

    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/fhir+json");
    assert!(answer.body.starts_with(br#"{"resourceType":"Bundle""#));
    assert!(answer.body.len() < whole.len());
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
}

#[tokio::test]
async fn an_operation_outcome_answer_comes_with_status_200() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::ProtocolError);
    let (status, body) = get_json(&search_url(
        &sim,
        "Patient",
        &[("identifier", &pnr_token(TOLVAN))],
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["severity"], "error");
}

/// The kind of the first I/O error in `error`'s chain of sources.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

#[tokio::test]
async fn a_reset_behaviour_closes_the_connection_without_an_answer() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Reset);
    let client = reqwest::Client::new();
    let url = search_url(&sim, "Patient", &[("identifier", &pnr_token(TOLVAN))]);

    let error = get(&client, &url)
        .await
        .err()
        .expect("no answer when reset");

    assert!(!error.is_status() && error.status().is_none(), "{error:?}");
    assert!(!error.is_timeout(), "{error:?}");
    assert_eq!(
        io_error_kind(&error),
        Some(std::io::ErrorKind::ConnectionReset),
        "{error:?}"
    );
    assert_eq!(sim.hits(), 1, "received once, not retried");
    assert_eq!(sim.hits_for("Patient"), 1);
    sim.set_behaviour(Behaviour::Normal);
    assert_eq!(get(&client, &url).await.unwrap().status, 200);
}

#[tokio::test]
async fn a_reset_connection_carries_no_status_line_only_a_tcp_reset() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Reset);
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    stream
        .write_all(b"GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();

    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
        .await
        .expect("the connection is closed at once");

    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    assert_eq!(
        read.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset,
        "closed with a reset, not a FIN"
    );
    assert_eq!(sim.hits_for("metadata"), 1);
}

/// A body read chunk by chunk as it arrives, counted, keeping only its first and last bytes.
struct Counted {
    bytes: usize,
    chunks: usize,
    start: Vec<u8>,
    end: Vec<u8>,
}

async fn count_body(response: &mut reqwest::Response) -> Result<Counted, reqwest::Error> {
    let mut counted = Counted {
        bytes: 0,
        chunks: 0,
        start: Vec::new(),
        end: Vec::new(),
    };
    while let Some(chunk) = response.chunk().await? {
        counted.bytes += chunk.len();
        counted.chunks += 1;
        if counted.start.len() < 64 {
            counted
                .start
                .extend_from_slice(&chunk[..chunk.len().min(64)]);
        }
        counted.end.extend_from_slice(&chunk);
        let keep = counted.end.len().saturating_sub(64);
        counted.end.drain(..keep);
    }
    Ok(counted)
}

const SEARCHSET_START: &[u8] = br#"{"resourceType":"Bundle","type":"searchset","entry":["#;

#[tokio::test]
async fn a_huge_answer_declares_its_length_and_streams_that_many_bytes() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Huge {
        bytes: 50_000_000,
        declared: true,
    });
    let url = search_url(
        &sim,
        "Observation",
        &[("patient.identifier", &pnr_token(TOLVAN))],
    );

    let mut response = reqwest::Client::new().get(&url).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(50_000_000));
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let body = count_body(&mut response).await.unwrap();
    assert_eq!(body.bytes, 50_000_000);
    assert!(body.chunks > 1, "streamed, not sent in one piece");
    assert!(body.start.starts_with(SEARCHSET_START));
    assert!(body.end.ends_with(b"]}"));
    assert_eq!(sim.hits_for("Observation"), 1);
}

#[tokio::test]
async fn a_huge_answer_without_a_declared_length_comes_chunked_and_only_counting_tells() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Huge {
        bytes: 50_000_000,
        declared: false,
    });
    let url = search_url(
        &sim,
        "Observation",
        &[("patient.identifier", &pnr_token(TOLVAN))],
    );

    let mut response = reqwest::Client::new().get(&url).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), None);
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let body = count_body(&mut response).await.unwrap();
    assert_eq!(body.bytes, 50_000_000);
    assert!(body.start.starts_with(SEARCHSET_START));
    assert!(body.end.ends_with(b"]}"));
}

#[tokio::test]
async fn a_small_huge_answer_is_a_valid_searchset_bundle_of_padding() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Huge {
        bytes: 10_000,
        declared: true,
    });
    let (status, bundle) = get_json(&search_url(
        &sim,
        "MedicationRequest",
        &[("patient.identifier", &pnr_token(TOLVAN))],
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(bundle["type"], "searchset");
    let entries = bundle["entry"].as_array().unwrap();
    assert!(entries.len() > 100, "{}", entries.len());
    assert!(
        entries
            .iter()
            .all(|e| e["resource"]["resourceType"] == "Basic")
    );
}

#[tokio::test]
async fn a_dripping_answer_sends_its_head_at_once_and_the_normal_body_a_few_bytes_at_a_time() {
    let sim = start_demo(1, 0, Duration::ZERO);
    let url = format!("{}/Patient/tolvan", sim.base_url());
    let client = reqwest::Client::new();
    let normal = get(&client, &url).await.unwrap();
    assert_eq!(normal.status, 200);
    let every = Duration::from_millis(10);
    let chunks = normal.body.len().div_ceil(DRIP_CHUNK_BYTES);
    let dripping = every * u32::try_from(chunks).unwrap();
    sim.set_behaviour(Behaviour::Drip { every });

    let started = Instant::now();
    let mut response = client.get(&url).send().await.unwrap();
    let head_after = started.elapsed();
    let length = response.content_length();
    let mut body = Vec::new();
    let mut received = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        received += 1;
    }
    let body_after = started.elapsed();

    assert!(head_after < dripping / 2, "head after {head_after:?}");
    assert_eq!(response.status(), 200);
    assert_eq!(
        length,
        Some(normal.body.len() as u64),
        "the normal headers, length included"
    );
    assert!(
        body_after >= dripping,
        "{chunks} chunks every {every:?} took {body_after:?}"
    );
    assert!(received > 1, "the body came in pieces");
    assert_eq!(body, normal.body, "the normal answer, slowly");
    assert_eq!(sim.hits_for("Patient"), 2);
}

#[tokio::test]
async fn shutdown_ends_a_dripping_answer() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Drip {
        every: Duration::from_millis(200),
    });
    let url = format!("{}/metadata", sim.base_url());
    let mut response = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);

    tokio::time::timeout(Duration::from_secs(2), sim.shutdown())
        .await
        .expect("shutdown does not wait for the drip to end");

    let read = tokio::time::timeout(Duration::from_secs(2), count_body(&mut response))
        .await
        .expect("the body ends");
    assert!(read.is_err(), "the body breaks off");
}

#[tokio::test]
async fn shutdown_ends_a_huge_answer_the_client_stopped_reading() {
    let sim = start_demo(1, 0, Duration::ZERO);
    sim.set_behaviour(Behaviour::Huge {
        bytes: 50_000_000,
        declared: true,
    });
    let url = format!("{}/metadata", sim.base_url());
    let mut response = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // The client reads nothing more: the socket buffers fill and the server's write waits.
    tokio::time::sleep(Duration::from_millis(200)).await;

    tokio::time::timeout(Duration::from_secs(2), sim.shutdown())
        .await
        .expect("shutdown does not wait for a client that stopped reading");

    let read = tokio::time::timeout(Duration::from_secs(5), count_body(&mut response))
        .await
        .expect("the body ends");
    assert!(read.is_err(), "the body breaks off");
}

#[tokio::test]
async fn a_missing_required_answer_is_the_normal_bundle_without_the_required_elements() {
    let sim = start_demo(3, 2, Duration::ZERO);
    let url = search_url(
        &sim,
        "Observation",
        &[("patient.identifier", &pnr_token(TOLVAN))],
    );
    let (_, normal) = get_json(&url).await;
    sim.set_behaviour(Behaviour::MissingRequired);

    let (status, bundle) = get_json(&url).await;

    assert_eq!(status, 200);
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 5);
    assert_eq!(keys(&bundle, "match"), keys(&normal, "match"));
    for (entry, before) in entries(&bundle, "match").zip(entries(&normal, "match")) {
        let resource = &entry["resource"];
        assert_eq!(before["resource"]["status"], "final");
        assert!(resource.get("status").is_none(), "{resource}");
        assert!(resource.get("code").is_none(), "{resource}");
        assert_eq!(resource["category"], before["resource"]["category"]);
        assert_eq!(resource["subject"], before["resource"]["subject"]);
    }
    assert_eq!(sim.hits_for("Observation"), 2);
}

#[tokio::test]
async fn missing_required_prescriptions_lack_status_intent_subject_and_medication() {
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(Path::new(SYNTHEA_FILE)).unwrap()).unwrap();
    let mut store = FhirStore::new();
    store.insert_bundle(&held(&tolvan()), bundle).unwrap();
    let sim = overblick_simulators::fhir::start(store, Duration::ZERO).unwrap();
    sim.set_behaviour(Behaviour::MissingRequired);

    let pages = adapter_search(
        &sim,
        "MedicationRequest",
        &[("_include", "MedicationRequest:medication")],
    )
    .await;

    let mut prescriptions = 0;
    for page in &pages {
        for entry in entries(page, "match") {
            let resource = entry["resource"].as_object().unwrap();
            prescriptions += 1;
            assert_eq!(resource["resourceType"], "MedicationRequest");
            for key in resource.keys() {
                assert!(
                    !matches!(key.as_str(), "status" | "intent" | "subject")
                        && !key.starts_with("medication"),
                    "{key} is still there"
                );
            }
            assert!(resource.contains_key("id"));
            assert!(resource.contains_key("authoredOn"));
        }
    }
    assert_eq!(prescriptions, 20);
}

#[tokio::test]
async fn a_delayed_answer_is_normal_but_late_and_latency_comes_first_in_every_behaviour() {
    let sim = start_demo(1, 0, Duration::from_millis(50));
    let url = search_url(&sim, "Patient", &[("identifier", &pnr_token(TOLVAN))]);
    let client = reqwest::Client::new();

    sim.set_behaviour(Behaviour::Delay(Duration::from_millis(200)));
    let started = Instant::now();
    let answer = get(&client, &url).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["total"], 1);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    for behaviour in [
        Behaviour::Normal,
        Behaviour::Status(500),
        Behaviour::Garbage,
        Behaviour::Truncated,
        Behaviour::ProtocolError,
        Behaviour::Reset,
        Behaviour::Huge {
            bytes: 1000,
            declared: false,
        },
        Behaviour::Drip {
            every: Duration::ZERO,
        },
        Behaviour::MissingRequired,
    ] {
        sim.set_behaviour(behaviour);
        let started = Instant::now();
        let answer = get(&client, &url).await;
        assert_eq!(
            answer.is_err(),
            behaviour == Behaviour::Reset,
            "{behaviour:?}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "{behaviour:?} answered in {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn hits_count_every_request_and_per_type() {
    let sim = start_demo(1, 0, Duration::ZERO);
    let client = reqwest::Client::new();
    let token = pnr_token(TOLVAN);
    get(
        &client,
        &search_url(&sim, "Patient", &[("identifier", &token)]),
    )
    .await
    .unwrap();
    get(
        &client,
        &search_url(&sim, "Observation", &[("patient.identifier", &token)]),
    )
    .await
    .unwrap();
    get(&client, &search_url(&sim, "Observation", &[]))
        .await
        .unwrap();
    get(&client, &format!("{}/metadata", sim.base_url()))
        .await
        .unwrap();
    get(&client, &format!("http://{}/elsewhere", sim.addr()))
        .await
        .unwrap();
    sim.set_behaviour(Behaviour::Status(500));
    get(
        &client,
        &search_url(&sim, "CareTeam", &[("patient.identifier", &token)]),
    )
    .await
    .unwrap();

    assert_eq!(sim.hits(), 6);
    assert_eq!(sim.hits_for("Patient"), 1);
    assert_eq!(sim.hits_for("Observation"), 2);
    assert_eq!(sim.hits_for("CareTeam"), 1);
    assert_eq!(sim.hits_for("metadata"), 1);
    assert_eq!(sim.hits_for("Goal"), 0);

    sim.reset_hits();
    assert_eq!(sim.hits(), 0);
    assert_eq!(sim.hits_for("Observation"), 0);
}

/// Every search the FHIR adapter makes (see notes/fhir-conventions.md), all pages.
async fn adapter_search(
    sim: &SimulatorHandle,
    resource_type: &str,
    extra: &[(&str, &str)],
) -> Vec<Value> {
    let token = pnr_token(TOLVAN);
    let mut params = vec![(
        if resource_type == "Patient" {
            "identifier"
        } else {
            "patient.identifier"
        },
        token.as_str(),
    )];
    params.extend_from_slice(extra);
    params.push(("_count", "100"));
    all_pages(&search_url(sim, resource_type, &params)).await
}

#[tokio::test]
async fn a_synthea_bundle_assigned_to_tolvan_is_served() {
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(Path::new(SYNTHEA_FILE)).unwrap()).unwrap();
    let mut store = FhirStore::new();
    store.insert_bundle(&held(&tolvan()), bundle).unwrap();
    let sim = overblick_simulators::fhir::start(store, Duration::ZERO).unwrap();

    let patients = adapter_search(&sim, "Patient", &[]).await;
    assert_eq!(keys(&patients[0], "match"), ["Patient/355"]);
    let patient = &patients[0]["entry"][0]["resource"];
    assert!(
        patient["identifier"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["system"] == PERSONNUMMER_SYSTEM && i["value"] == TOLVAN),
        "the Patient carries the personnummer it is assigned to"
    );

    let contacts = adapter_search(
        &sim,
        "CareTeam",
        &[
            ("_include", "CareTeam:participant"),
            ("_include:iterate", "PractitionerRole:practitioner"),
            ("_include:iterate", "PractitionerRole:organization"),
        ],
    )
    .await;
    assert_eq!(contacts.len(), 1);
    assert_eq!(keys(&contacts[0], "match").len(), 20);
    // urn:uuid references are served as Type/id and resolve to an entry's fullUrl.
    let full_urls: HashSet<&str> = contacts[0]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    for team in entries(&contacts[0], "match") {
        for participant in team["resource"]["participant"].as_array().unwrap() {
            let reference = participant["member"]["reference"].as_str().unwrap();
            assert!(!reference.starts_with("urn:uuid:"), "{reference}");
            assert!(
                full_urls.contains(format!("{}/{reference}", sim.base_url()).as_str()),
                "{reference} was not included"
            );
        }
    }
    let included = keys(&contacts[0], "include");
    assert!(
        included.iter().any(|k| k.starts_with("Practitioner/")),
        "{included:?}"
    );
    assert!(
        included.iter().any(|k| k.starts_with("Organization/")),
        "{included:?}"
    );
    assert_eq!(
        included.len(),
        included.iter().collect::<HashSet<_>>().len()
    );

    let count =
        |pages: &[Value], mode: &str| pages.iter().map(|p| keys(p, mode).len()).sum::<usize>();
    let vitals = adapter_search(&sim, "Observation", &[("category", "vital-signs")]).await;
    let labs = adapter_search(&sim, "Observation", &[("category", "laboratory")]).await;
    assert_eq!((count(&vitals, "match"), count(&labs, "match")), (27, 10));

    let reports = adapter_search(
        &sim,
        "DiagnosticReport",
        &[("_include", "DiagnosticReport:result")],
    )
    .await;
    assert_eq!(count(&reports, "match"), 23);
    // The two reports with results name the same 8 Observations: each is included once.
    assert_eq!(count(&reports, "include"), 8);

    let prescriptions = adapter_search(
        &sim,
        "MedicationRequest",
        &[("_include", "MedicationRequest:medication")],
    )
    .await;
    assert_eq!(count(&prescriptions, "match"), 20);

    for (resource_type, expected) in [
        ("CarePlan", 20),
        ("Goal", 1),
        ("MedicationStatement", 0),
        ("Appointment", 0),
    ] {
        let pages = adapter_search(&sim, resource_type, &[]).await;
        assert_eq!(count(&pages, "match"), expected, "{resource_type}");
    }

    let all_observations = adapter_search(&sim, "Observation", &[]).await;
    assert_eq!(
        all_observations.len(),
        2,
        "140 observations take two pages of 100"
    );
    assert_eq!(count(&all_observations, "match"), 140);
}

const CATALOG_FILE: &str = r#"
id = "simulerad"
name = "Simulerad vårdcentral"

[protocol.fhir-r4]

[care_provider]
name = "Region Test"

[simulator]
data = "demo-data/simulerad"
latency = "15ms"
"#;

const REAL_SOURCE_FILE: &str = r#"
id = "riktig"
name = "Riktig källa"

[protocol.fhir-r4]
base_url = "https://fhir.example.org/r4"

[care_provider]
name = "Region Test"

[simulator]
data = "demo-data/riktig"
"#;

#[tokio::test]
async fn start_catalog_on_a_temporary_catalog_fills_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data/simulerad");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join(format!("{TOLVAN}.json")),
        demo_bundle(2, 1).to_string(),
    )
    .unwrap();
    std::fs::write(dir.path().join("a-simulerad.toml"), CATALOG_FILE).unwrap();
    std::fs::write(dir.path().join("b-riktig.toml"), REAL_SOURCE_FILE).unwrap();
    let mut entries = load_catalog(dir.path()).unwrap();

    let handles = overblick::demo::start_catalog(&mut entries).await.unwrap();

    assert_eq!(handles.len(), 1);
    let base_url = entries[0].base_url().unwrap().to_owned();
    assert_eq!(base_url, handles[0].base_url());
    assert_eq!(entries[1].base_url(), Some("https://fhir.example.org/r4"));
    let started = Instant::now();
    let (status, bundle) = get_json(&format!(
        "{base_url}/Observation?patient.identifier={}",
        pnr_token(TOLVAN).replace('|', "%7C")
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(bundle["total"], 3);
    assert!(
        started.elapsed() >= Duration::from_millis(15),
        "the catalog's latency applies"
    );
}

#[tokio::test]
async fn start_catalog_names_the_catalog_file_and_data_folder_of_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data/simulerad");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("tolvan.json"), "{}").unwrap();
    std::fs::write(dir.path().join("a-simulerad.toml"), CATALOG_FILE).unwrap();
    let mut entries = load_catalog(dir.path()).unwrap();

    let message = overblick::demo::start_catalog(&mut entries)
        .await
        .unwrap_err()
        .to_string();

    assert!(message.contains("a-simulerad.toml"), "{message}");
    assert!(message.contains("demo-data/simulerad"), "{message}");
    assert!(message.contains("tolvan.json"), "{message}");
    assert!(entries[0].base_url().is_none());
}

// ---------------------------------------------------------------------------------------------
// The demo data as the FHIR adapter reads it from the demo's own simulators

const ELIAS: &str = "202006152397";

/// The demo catalog's entries for `ids`, each with its simulator started.
async fn demo_sources(ids: &[&str]) -> (Vec<FhirSource>, Vec<SimulatorHandle>) {
    let mut entries = load_catalog(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sources")).unwrap();
    entries.retain(|e| ids.contains(&e.info.id.as_str()));
    assert_eq!(
        entries.len(),
        ids.len(),
        "every source is in the demo catalog"
    );
    let handles = overblick::demo::start_catalog(&mut entries).await.unwrap();
    let http = HttpClient::new(&HttpSettings::default()).unwrap();
    let sources = entries
        .iter()
        .map(|e| {
            FhirSource::new(
                Arc::new(e.info.clone()),
                e.base_url().unwrap(),
                e.domains.clone(),
                http.clone(),
            )
        })
        .collect();
    (sources, handles)
}

/// How many items `source` holds for `person` in each of its domains.
async fn counts(source: &FhirSource, person: &str) -> BTreeMap<&'static str, usize> {
    let person = PersonId::parse(person).unwrap();
    let mut counts = BTreeMap::new();
    for &domain in source.domains() {
        let items = source.fetch(&person, domain).await.unwrap().items;
        counts.insert(domain.as_str(), items.len());
    }
    counts
}

/// The record ids of the items `source` holds for `person` in `domain` that the patient may
/// not see yet.
async fn not_approved(source: &FhirSource, person: &str, domain: Domain) -> Vec<String> {
    let person = PersonId::parse(person).unwrap();
    let items = source.fetch(&person, domain).await.unwrap().items;
    let json = serde_json::to_value(&items).unwrap();
    // Lab results come with their reports: the results, then the reports.
    let all: Vec<&Value> = match &json["items"] {
        Value::Object(lab) => ["results", "reports"]
            .iter()
            .flat_map(|list| lab[*list].as_array().unwrap())
            .collect(),
        items => items.as_array().unwrap().iter().collect(),
    };
    all.into_iter()
        .filter(|item| item["approved_for_patient"] == false)
        .map(|item| item["provenance"]["record_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_child_elias_has_child_health_at_gottsunda_and_a_broken_arm_at_akademiska() {
    let (sources, _handles) = demo_sources(&["akademiska-sjukhuset", "vc-gottsunda"]).await;
    let by_id = |id: &str| sources.iter().find(|s| s.info().id == id).unwrap();

    assert_eq!(
        counts(by_id("vc-gottsunda"), ELIAS).await,
        BTreeMap::from([
            ("patient", 1),
            ("contacts", 1),
            ("care_plans", 0),
            ("agreements", 0),
            ("medications", 0),
            ("measurements", 8),
            ("lab_results", 0),
            ("bookings", 1),
        ])
    );
    assert_eq!(
        counts(by_id("akademiska-sjukhuset"), ELIAS).await,
        BTreeMap::from([
            ("patient", 1),
            ("contacts", 0),
            ("care_plans", 0),
            ("medications", 1),
            ("measurements", 1),
            ("lab_results", 0),
            ("bookings", 1),
        ])
    );

    let elias = PersonId::parse(ELIAS).unwrap();
    let DomainItems::Patient(patients) = by_id("akademiska-sjukhuset")
        .fetch(&elias, Domain::Patient)
        .await
        .unwrap()
        .items
    else {
        panic!("not a patient answer")
    };
    assert_eq!(patients[0].item.name.as_deref(), Some("Elias Tolvansson"));
    let DomainItems::Contacts(contacts) = by_id("vc-gottsunda")
        .fetch(&elias, Domain::Contacts)
        .await
        .unwrap()
        .items
    else {
        panic!("not a contacts answer")
    };
    assert_eq!(contacts[0].item.name.as_deref(), Some("Emma Sandberg"));
    assert_eq!(contacts[0].item.role, ContactRole::NamedCareContact);
    let DomainItems::Medications(medications) = by_id("akademiska-sjukhuset")
        .fetch(&elias, Domain::Medications)
        .await
        .unwrap()
        .items
    else {
        panic!("not a medications answer")
    };
    assert_eq!(medications[0].item.status, MedicationStatus::Ended);
}

#[tokio::test]
async fn the_childs_records_are_not_in_tolvans_answers_nor_his_in_the_childs() {
    let (sources, _handles) = demo_sources(&["vc-gottsunda"]).await;
    let tolvan_ids: Vec<String> = record_ids(&sources[0], TOLVAN, Domain::Measurements).await;
    let elias_ids: Vec<String> = record_ids(&sources[0], ELIAS, Domain::Measurements).await;
    assert!(!elias_ids.is_empty() && !tolvan_ids.is_empty());
    assert!(
        tolvan_ids.iter().all(|id| !elias_ids.contains(id)),
        "{tolvan_ids:?} / {elias_ids:?}"
    );
}

async fn record_ids(source: &FhirSource, person: &str, domain: Domain) -> Vec<String> {
    let person = PersonId::parse(person).unwrap();
    let json = serde_json::to_value(source.fetch(&person, domain).await.unwrap().items).unwrap();
    json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["provenance"]["record_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tolvans_unreviewed_crp_and_unsigned_weight_are_not_approved_for_him() {
    let (sources, _handles) = demo_sources(&["akademiska-sjukhuset", "klinisk-kemi-uppsala"]).await;
    let by_id = |id: &str| sources.iter().find(|s| s.info().id == id).unwrap();

    // The report carries the NOPAT label; its CRP result carries no marker of its own.
    assert_eq!(
        not_approved(by_id("klinisk-kemi-uppsala"), TOLVAN, Domain::LabResults).await,
        [
            "Observation/kem-lab-crp-20261121",
            "DiagnosticReport/kem-dr-20261121"
        ]
    );
    // The weight carries the approved-for-patient extension set to false.
    assert_eq!(
        not_approved(by_id("akademiska-sjukhuset"), TOLVAN, Domain::Measurements).await,
        ["Observation/aka-obs-weight-20261110"]
    );
    for source in &sources {
        for &domain in source.domains() {
            if !matches!(domain, Domain::LabResults | Domain::Measurements) {
                assert!(
                    not_approved(source, TOLVAN, domain).await.is_empty(),
                    "{} {domain:?}",
                    source.info().id
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The demo's control panel

#[tokio::test]
async fn the_demo_control_panel_switches_a_running_source_and_back_and_names_what_it_cannot_do() {
    let mut entries = load_catalog(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sources")).unwrap();
    entries
        .retain(|e| ["akademiska-sjukhuset", "region-uppsala-npo"].contains(&e.info.id.as_str()));
    let started = overblick::demo::start_simulators(&mut entries)
        .await
        .unwrap();
    let (addr, _panel) = overblick_simulators::control::serve(
        "127.0.0.1:0".parse().unwrap(),
        started.started.clone(),
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let put = |id: &str, body: &str| {
        client
            .put(format!("http://{addr}/sources/{id}"))
            .body(body.to_owned())
            .send()
    };

    let answer = put("region-uppsala-npo", "hang").await.unwrap();
    assert_eq!(answer.status(), 200);
    let riv_ta = started.for_source("region-uppsala-npo").unwrap().server();
    assert_eq!(riv_ta.behaviour(), Behaviour::Hang);
    put("akademiska-sjukhuset", "slow").await.unwrap();
    let listed: Value = serde_json::from_str(
        &client
            .get(format!("http://{addr}/sources"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let behaviours: BTreeMap<&str, &str> = listed["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["source"].as_str().unwrap(),
                s["behaviour"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        behaviours,
        BTreeMap::from([
            ("akademiska-sjukhuset", "slow"),
            ("region-uppsala-npo", "hang")
        ])
    );

    put("region-uppsala-npo", "normal").await.unwrap();
    assert_eq!(riv_ta.behaviour(), Behaviour::Normal);
    let bad = put("region-uppsala-npo", "broken").await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("normal, slow, hang"));
    assert_eq!(put("no-such-source", "hang").await.unwrap().status(), 404);
    assert_eq!(
        riv_ta.behaviour(),
        Behaviour::Normal,
        "a refused switch changes nothing"
    );
}
