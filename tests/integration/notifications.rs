//! Change notifications from sources, end to end: the real service on port 0, the real
//! simulators on loopback. A FHIR source's rest-hook notification (with its secret) refreshes
//! exactly that patient's answers of that source and reaches their live subscribers; wrong
//! secrets, unknown sources and unreadable bodies are refused with their codes and change
//! nothing; the engagement index's ProcessNotification sends the next overview back to the
//! index; and a simulated source's own change and notification reaches a WebSocket subscriber.

use overblick::domain::{Domain, PersonId};
use overblick::engine::FetchState;
use overblick::sources::rivta::notification::{EngagementChange, request};
use overblick_simulators::{Change, Contract};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{ELIAS, EventStream, Socket, TOLVAN, TestApp, states, token};

const MEASUREMENTS: &str = "subscription { overview(live: true) { complete measurements { nodes { name time components { name value { value } } provenance { sourceId } } } sources { source domain state changed } } }";

const BOOKINGS: &str = "subscription { overview(live: true) { complete bookings { start title provenance { sourceId } } sources { source domain state changed } } }";

/// POSTs `body` to `path` with `secret` as the bearer credential (none when `None`).
async fn notify(
    app: &TestApp,
    path: &str,
    secret: Option<&str>,
    content_type: &str,
    body: String,
) -> (StatusCode, String) {
    let mut request = app
        .client
        .post(format!("{}{path}", app.url))
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.expect("the service answers");
    let status = response.status();
    (status, response.text().await.expect("a body"))
}

/// The code in an OperationOutcome's first issue.
fn outcome_code(body: &str) -> String {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(json["resourceType"], "OperationOutcome", "{body}");
    json["issue"][0]["details"]["coding"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A Backport IG `id-only` notification naming `focus` (`<Type>/<id>`) at `base_url`.
fn id_only(base_url: &str, focus: &str) -> String {
    json!({
        "resourceType": "Bundle",
        "type": "history",
        "entry": [
            { "fullUrl": "urn:uuid:6d3b8b1e-0000-4000-8000-000000000001",
              "resource": {
                "resourceType": "Parameters",
                "parameter": [
                    { "name": "subscription", "valueReference": { "reference": format!("{base_url}/Subscription/s1") } },
                    { "name": "status", "valueCode": "active" },
                    { "name": "type", "valueCode": "event-notification" },
                    { "name": "notification-event", "part": [
                        { "name": "event-number", "valueString": "1" },
                        { "name": "focus", "valueReference": { "reference": format!("{base_url}/{focus}") } }
                    ] }
                ] } },
            { "fullUrl": format!("{base_url}/{focus}"), "request": { "method": "POST", "url": focus.split('/').next().unwrap() } }
        ]
    })
    .to_string()
}

/// Reads a live stream until the overview is complete; that event.
async fn until_complete(stream: &mut EventStream) -> Value {
    loop {
        let event = stream.next_event().await;
        if event["data"]["overview"]["complete"] == true {
            return event;
        }
    }
}

fn changed(event: &Value, source: &str, domain: &str) -> bool {
    event["data"]["overview"]["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("sources in {event}"))
        .iter()
        .find(|s| s["source"] == source && s["domain"] == domain)
        .unwrap_or_else(|| panic!("{source} {domain} in {event}"))["changed"]
        == true
}

/// The measurement events' blood-pressure readings (systolic, diastolic) from `source`.
fn readings(event: &Value) -> Vec<(String, Vec<f64>)> {
    event["data"]["overview"]["measurements"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("measurements in {event}"))
        .iter()
        .filter(|m| m["components"].as_array().is_some_and(|c| c.len() == 2))
        .map(|m| {
            (
                m["time"].as_str().unwrap_or_default().to_owned(),
                m["components"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["value"]["value"].as_f64().unwrap_or_default())
                    .collect(),
            )
        })
        .collect()
}

async fn state_for(app: &TestApp, patient: &str, source: &str, domain: Domain) -> FetchState {
    let patient = PersonId::parse(patient).unwrap();
    app.engine
        .gather(&patient, &[domain])
        .await
        .outcomes
        .into_iter()
        .find(|o| o.source.id == source)
        .unwrap_or_else(|| panic!("{source} answered"))
        .state
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rest_hook_notification_with_the_right_secret_refreshes_only_that_patients_answers_of_that_source_and_a_live_subscriber_sees_the_new_reading()
 {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .start()
        .await;
    let gottsunda = app.fhir_source("vc-gottsunda");
    // This test sends the notification itself (id-only), so the source tells nobody.
    gottsunda.notify_to(None);

    // Elias's answers from Gottsunda are cached too; they must stay so.
    assert_eq!(
        state_for(&app, ELIAS, "vc-gottsunda", Domain::Measurements).await,
        FetchState::FromSource
    );
    let mut stream = EventStream::open(&app, &token(TOLVAN), MEASUREMENTS, json!({})).await;
    let before = until_complete(&mut stream).await;
    let readings_before = readings(&before);
    let akademiska_hits = app.simulator("akademiska-sjukhuset").hits();
    let gottsunda_observations = app.simulator("vc-gottsunda").hits_for("Observation");

    let made = gottsunda
        .change("191212121212", Change::Measurement)
        .await
        .expect("Tolvan has a record at Gottsunda");
    assert_eq!(made.notified, None, "nobody to tell");
    let base = app.simulator("vc-gottsunda").base_url().to_owned();
    let (status, body) = notify(
        &app,
        "/notify/fhir/vc-gottsunda",
        Some(&app.notify_secret("vc-gottsunda")),
        "application/fhir+json",
        id_only(&base, &made.record),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.contains("1912"),
        "no personnummer in the answer: {body}"
    );

    let event = stream.next_event().await;
    assert!(changed(&event, "vc-gottsunda", "MEASUREMENTS"), "{event}");
    assert!(
        !changed(&event, "akademiska-sjukhuset", "MEASUREMENTS"),
        "{event}"
    );
    let readings_after = readings(&event);
    assert_eq!(readings_after.len(), readings_before.len() + 1, "{event}");
    let today = chrono::Utc::now().date_naive().to_string();
    assert!(
        readings_after
            .iter()
            .any(|(time, _)| time.starts_with(&today)),
        "the new reading is today's: {readings_after:?}"
    );

    // Only Gottsunda's answers for Tolvan were fetched again.
    assert!(app.simulator("vc-gottsunda").hits_for("Observation") > gottsunda_observations);
    assert_eq!(
        app.simulator("akademiska-sjukhuset").hits(),
        akademiska_hits
    );
    assert_eq!(
        state_for(&app, ELIAS, "vc-gottsunda", Domain::Measurements).await,
        FetchState::FromCache
    );
    let again = app
        .query("{ overview { measurements { nodes { id } } sources { source domain state } } }")
        .await;
    assert!(
        states(&again).iter().all(|(_, _, s)| s == "FROM_CACHE"),
        "{again}"
    );
    let counted = app
        .metric(r#"overblick_notifications_total{source="vc-gottsunda",outcome="changed"}"#)
        .await;
    assert_eq!(counted, Some(1.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_with_the_wrong_secret_or_none_is_refused_with_401_and_changes_nothing() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let query = "{ overview { measurements { nodes { id } } sources { source domain state } } }";
    app.query(query).await;
    let hits = app.upstream_hits();
    let base = app.simulator("vc-gottsunda").base_url().to_owned();
    let body = id_only(&base, "Patient/got-pat-tolvan");
    for secret in [Some("not-the-secret"), None] {
        let (status, answer) = notify(
            &app,
            "/notify/fhir/vc-gottsunda",
            secret,
            "application/fhir+json",
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(outcome_code(&answer), "UNAUTHENTICATED");
    }
    // Another source's secret is no better.
    let app_secret = app.notify_secret("vc-gottsunda");
    let (status, _) = notify(
        &app,
        "/notify/fhir/vc-gottsunda",
        Some(&format!("{app_secret}x")),
        "application/fhir+json",
        body,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let again = app.query(query).await;
    assert_eq!(app.upstream_hits(), hits, "no source was asked");
    assert!(states(&again).iter().all(|(_, _, s)| s == "FROM_CACHE"));
    let refused = app
        .metric(r#"overblick_notifications_total{source="vc-gottsunda",outcome="unauthenticated"}"#)
        .await;
    assert_eq!(refused, Some(3.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_for_an_unknown_source_is_404_and_an_unreadable_body_is_400() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "region-uppsala-npo"])
        .start()
        .await;
    let secret = app.notify_secret("vc-gottsunda");
    for path in [
        "/notify/fhir/no-such-source",
        "/notify/fhir/region-uppsala-npo",
    ] {
        let (status, body) = notify(
            &app,
            path,
            Some(&secret),
            "application/fhir+json",
            "{}".into(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(outcome_code(&body), "UNKNOWN_SOURCE");
    }
    for unreadable in ["{ not json", "[1, 2]", r#"{"no":"resourceType"}"#] {
        let (status, body) = notify(
            &app,
            "/notify/fhir/vc-gottsunda",
            Some(&secret),
            "application/fhir+json",
            unreadable.into(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{unreadable}: {body}");
        assert_eq!(outcome_code(&body), "INVALID_NOTIFICATION");
    }
    // An empty body (R4 payload left out) is a ping: taken, naming nobody.
    let (status, body) = notify(
        &app,
        "/notify/fhir/vc-gottsunda",
        Some(&secret),
        "application/fhir+json",
        String::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_notification_makes_the_next_overview_ask_the_index_again_and_a_live_subscriber_gets_the_new_data()
 {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "region-uppsala-npo"])
        .engagement_index()
        .start()
        .await;
    let index = app.index.as_ref().expect("the engagement index runs");
    let mut stream = EventStream::open(&app, &token(TOLVAN), BOOKINGS, json!({})).await;
    let before = until_complete(&mut stream).await;
    let asked = index.find_content_hits();
    assert!(asked > 0);
    // Remembered: a second overview does not ask the index again.
    app.query("{ overview { bookings { start } } }").await;
    assert_eq!(index.find_content_hits(), asked);

    // The producer moves the foot examination a day; the index tells the platform's
    // subscribers (us) that Tolvan's bookings there changed.
    let producer = app.rivta_source("region-uppsala-npo");
    let original = std::fs::read_to_string(crate::harness::repo_path(
        "sources/demo-data/region-uppsala-npo/GetSubjectOfCareSchedule/191212121212.xml",
    ))
    .unwrap();
    assert!(original.contains("20261217103000"));
    let moved = original
        .replace("20261217103000", "20261218103000")
        .replace("20261217110000", "20261218110000");
    producer
        .set_response(Contract::SubjectOfCareSchedule1, "191212121212", &moved)
        .unwrap();
    let notification = request(
        "SE2321000024-OVERBLICK",
        &[EngagementChange {
            patient: PersonId::parse(TOLVAN).unwrap(),
            deleted: false,
            service_domain: "riv:crm:scheduling".into(),
            categorization: Some("Booking".into()),
            addresses: vec!["SE2321000024-0001".into()],
        }],
    );
    let (status, body) = notify(
        &app,
        "/notify/rivta",
        Some("wrong"),
        "text/xml; charset=utf-8",
        notification.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("UNAUTHENTICATED"), "{body}");
    let (status, body) = notify(
        &app,
        "/notify/rivta",
        Some(&app.platform_secret),
        "text/xml; charset=utf-8",
        notification,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<r:ResultCode>OK</r:ResultCode>"), "{body}");

    let event = stream.next_event().await;
    assert!(changed(&event, "region-uppsala-npo", "BOOKINGS"), "{event}");
    assert!(!changed(&event, "vc-gottsunda", "BOOKINGS"), "{event}");
    let starts = |e: &Value| -> Vec<String> {
        e["data"]["overview"]["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["start"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        starts(&before).iter().any(|s| s.starts_with("2026-12-17")),
        "{before}"
    );
    assert!(
        starts(&event).iter().any(|s| s.starts_with("2026-12-18")),
        "{event}"
    );
    assert!(
        !starts(&event).iter().any(|s| s.starts_with("2026-12-17")),
        "{event}"
    );
    assert!(
        index.find_content_hits() > asked,
        "the index was asked again for Tolvan"
    );

    // A notification that cannot be read is a SOAP Client fault naming the code.
    let (status, body) = notify(
        &app,
        "/notify/rivta",
        Some(&app.platform_secret),
        "text/xml",
        "<nope/>".into(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body.contains("soapenv:Client") && body.contains("INVALID_NOTIFICATION"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_source_moving_a_booking_notifies_the_service_and_a_websocket_subscriber_sees_it_moved()
 {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let mut socket = Socket::open(&app, &token(TOLVAN)).await;
    socket.subscribe("1", BOOKINGS, json!({})).await;
    let mut before = socket.next_payload().await;
    while before["data"]["overview"]["complete"] != true {
        before = socket.next_payload().await;
    }

    let made = app
        .fhir_source("vc-gottsunda")
        .change("191212121212", Change::Booking)
        .await
        .expect("Tolvan has a booking at Gottsunda");
    assert_eq!(
        made.notified,
        Some(true),
        "the service took the notification"
    );

    let event = socket.next_payload().await;
    assert!(changed(&event, "vc-gottsunda", "BOOKINGS"), "{event}");
    let starts = |e: &Value| -> Vec<chrono::DateTime<chrono::Utc>> {
        e["data"]["overview"]["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["start"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let (old, new) = (starts(&before), starts(&event));
    let gone: Vec<_> = old.iter().filter(|s| !new.contains(s)).collect();
    let came: Vec<_> = new.iter().filter(|s| !old.contains(s)).collect();
    assert_eq!(
        (gone.len(), came.len()),
        (1, 1),
        "one booking moved: {old:?} → {new:?}"
    );
    assert_eq!(*came[0] - *gone[0], chrono::TimeDelta::days(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_sent_to_the_r4_resource_path_refreshes_its_patients_answers() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let query = "{ overview { measurements { nodes { id } } sources { source domain state } } }";
    app.query(query).await;
    assert!(
        states(&app.query(query).await)
            .iter()
            .all(|(_, _, s)| s == "FROM_CACHE")
    );
    // R4 with a payload PUTs the changed resource to <endpoint>/<Type>/<id>; it names its
    // patient by the source's logical id, which the adapter learnt while answering.
    let resource = json!({
        "resourceType": "Observation", "id": "got-obs-bp-20260610", "status": "final",
        "code": { "text": "Blodtryck" }, "subject": { "reference": "Patient/got-pat-tolvan" }
    });
    let response = app
        .client
        .put(format!(
            "{}/notify/fhir/vc-gottsunda/Observation/got-obs-bp-20260610",
            app.url
        ))
        .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
        .bearer_auth(app.notify_secret("vc-gottsunda"))
        .body(resource.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let patient_reads = app.simulator("vc-gottsunda").hits_for("Patient");
    let after = app.query(query).await;
    assert!(
        states(&after)
            .iter()
            .all(|(_, domain, s)| s == "FROM_SOURCE" || domain != "MEASUREMENTS"),
        "{after}"
    );
    assert_eq!(
        app.simulator("vc-gottsunda").hits_for("Patient"),
        patient_reads,
        "the Patient id was known: no read"
    );
}
