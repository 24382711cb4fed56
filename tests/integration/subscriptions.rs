//! `Subscription.overview` over both transports, as a patient app and a staff app would use it:
//! GraphQL over Server-Sent Events (`POST /graphql`, `Accept: text/event-stream`) and GraphQL
//! over WebSocket (`graphql-transport-ws`). The fast sources first while one hangs, events until
//! complete, live updates after a change, the stream ended with a code when access is
//! withdrawn, the limits, and an access record for every event that carried data.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use overblick::config::{GraphqlSettings, PolicyOverrides, SubscriptionSettings};
use overblick::domain::PersonId;
use overblick::live::{Cause, Change};
use overblick_simulators::Behaviour;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{EventStream, MARGARETA, Socket, TOLVAN, TestApp, token};

const MEDICATIONS: &str = "subscription($live: Boolean) { overview(live: $live) { complete medications { name provenance { sourceId } } sources { source domain state changed } } }";

fn state_of(event: &Value, source: &str, domain: &str) -> String {
    event["data"]["overview"]["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("sources in {event}"))
        .iter()
        .find(|s| s["source"] == source && s["domain"] == domain)
        .unwrap_or_else(|| panic!("{source} {domain} in {event}"))["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn medication_sources(event: &Value) -> Vec<String> {
    let mut ids: Vec<String> = event["data"]["overview"]["medications"]
        .as_array()
        .unwrap_or_else(|| panic!("medications in {event}"))
        .iter()
        .flat_map(|m| m["provenance"].as_array().unwrap().clone())
        .map(|p| p["sourceId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn codes(event: &Value) -> Vec<String> {
    crate::harness::error_codes(event)
}

/// Tolvan delegates his medications to Margareta for a year; the delegation's id.
async fn delegate_medications_to_margareta(app: &TestApp) -> String {
    let grant = app
        .post_as(
            &token(TOLVAN),
            "mutation($d: PersonId!, $u: Date!) { grantDelegation(delegate: $d, domains: [MEDICATIONS], validUntil: $u) { id } }",
            json!({
                "d": MARGARETA,
                "u": (chrono::Utc::now().date_naive() + chrono::Days::new(365)).to_string(),
            }),
        )
        .await;
    grant["data"]["grantDelegation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{grant}"))
        .to_owned()
}

/// Tolvan revokes the delegation `id`.
async fn revoke(app: &TestApp, id: &str) {
    let revoked = app
        .post_as(
            &token(TOLVAN),
            "mutation($id: ID!) { revokeDelegation(id: $id) { active } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        revoked["data"]["revokeDelegation"]["active"], false,
        "{revoked}"
    );
}

fn with_subscriptions(settings: SubscriptionSettings) -> GraphqlSettings {
    GraphqlSettings {
        introspection: Some(true),
        redact_source_errors: Some(false),
        subscriptions: settings,
        ..GraphqlSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fast_sources_come_first_while_one_hangs_and_the_stream_completes_when_it_times_out() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .deadline(Duration::from_secs(2))
        .start()
        .await;
    app.simulator("akademiska-sjukhuset")
        .set_behaviour(Behaviour::Hang);

    let mut stream =
        EventStream::open(&app, &token(TOLVAN), MEDICATIONS, json!({ "live": false })).await;
    let events = stream.until_complete().await;

    let first = &events[0];
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(first["data"]["overview"]["complete"], false, "{first}");
    assert_eq!(
        state_of(first, "akademiska-sjukhuset", "MEDICATIONS"),
        "PENDING"
    );
    assert_eq!(
        state_of(first, "vc-gottsunda", "MEDICATIONS"),
        "FROM_SOURCE"
    );
    assert_eq!(medication_sources(first), ["vc-gottsunda"]);

    let last = events.last().unwrap();
    assert_eq!(last["data"]["overview"]["complete"], true, "{last}");
    assert_eq!(
        state_of(last, "akademiska-sjukhuset", "MEDICATIONS"),
        "TIMED_OUT"
    );
    assert_eq!(medication_sources(last), ["vc-gottsunda"]);
    assert!(codes(last).contains(&"SOURCE_TIMEOUT".to_owned()), "{last}");
    // Every event but the last is incomplete.
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e["data"]["overview"]["complete"] == false)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_source_arrives_in_a_later_event_marked_changed_and_each_event_with_new_data_is_logged()
 {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .start()
        .await;
    app.simulator("akademiska-sjukhuset")
        .set_behaviour(Behaviour::Delay(Duration::from_millis(700)));

    let mut stream =
        EventStream::open(&app, &token(TOLVAN), MEDICATIONS, json!({ "live": false })).await;
    let events = stream.until_complete().await;
    assert_eq!(events.len(), 2, "{events:?}");
    let (first, last) = (&events[0], &events[1]);
    assert_eq!(medication_sources(first), ["vc-gottsunda"]);
    assert_eq!(
        medication_sources(last),
        ["akademiska-sjukhuset", "vc-gottsunda"]
    );
    let changed: Vec<&Value> = last["data"]["overview"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["changed"] == true)
        .collect();
    assert_eq!(changed.len(), 1, "{last}");
    assert_eq!(changed[0]["source"], "akademiska-sjukhuset");

    // One record per event that carried data, each naming the sources it brought anew.
    let records = app.access_records(TOLVAN).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let mut sources: Vec<Vec<String>> = records.iter().map(|r| r.sources.clone()).collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            vec!["akademiska-sjukhuset".to_owned()],
            vec!["vc-gottsunda".to_owned()]
        ]
    );
    assert!(records.iter().all(|r| r.outcome == "granted"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_subscription_sends_the_overview_again_when_a_source_changes_and_only_then() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .start()
        .await;
    let mut stream =
        EventStream::open(&app, &token(TOLVAN), MEDICATIONS, json!({ "live": true })).await;
    let mut event = stream.next_event().await;
    while event["data"]["overview"]["complete"] != true {
        event = stream.next_event().await;
    }
    let records_before = app.access_records(TOLVAN).await.len();

    // Another patient's change wakes nobody here; this one's does. The source's data is the
    // same, so after the notification the event shows no change and none is sent: the next
    // event is the one after the source's data really changed.
    app.engine.changes().publish(Change {
        patient: PersonId::parse("19880412-2383").unwrap(),
        source: None,
        cause: Cause::Notified,
    });
    let tolvan = PersonId::parse(TOLVAN).unwrap();
    assert!(app.engine.source_changed(&tolvan, "vc-gottsunda").await);
    let quiet = tokio::time::timeout(Duration::from_millis(800), stream.next()).await;
    assert!(
        quiet.is_err(),
        "no event without a change in the data: {quiet:?}"
    );

    app.simulator("vc-gottsunda")
        .set_behaviour(Behaviour::Status(500));
    assert!(app.engine.source_changed(&tolvan, "vc-gottsunda").await);
    let failed = stream.next_event().await;
    assert_eq!(
        state_of(&failed, "vc-gottsunda", "MEDICATIONS"),
        "STALE_SOURCE_FAILED",
        "{failed}"
    );
    assert_eq!(failed["data"]["overview"]["complete"], true);
    // Nothing new to read in it: the stale copy is what was sent before.
    assert_eq!(app.access_records(TOLVAN).await.len(), records_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_delegation_ends_the_delegates_live_stream_with_forbidden() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let id = delegate_medications_to_margareta(&app).await;
    let query = "subscription($p: PersonId) { overview(patient: $p, live: true) { complete medications { name } } }";
    let mut stream =
        EventStream::open(&app, &token(MARGARETA), query, json!({ "p": TOLVAN })).await;
    let first = stream.next_event().await;
    assert!(
        first["data"]["overview"]["medications"].is_array(),
        "{first}"
    );

    revoke(&app, &id).await;

    let last = stream.next_event().await;
    assert_eq!(codes(&last), ["FORBIDDEN"], "{last}");
    assert!(last["data"].is_null(), "no data after access ended: {last}");
    assert_eq!(
        stream.next().await.map(|(n, _)| n).as_deref(),
        Some("complete")
    );
    // The refusal is in the access log beside the granted start.
    let outcomes: Vec<String> = app
        .access_records(TOLVAN)
        .await
        .iter()
        .map(|r| r.outcome.clone())
        .collect();
    assert!(outcomes.contains(&"FORBIDDEN".to_owned()), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_subscription_too_many_for_a_user_is_refused_and_a_closed_one_frees_its_place() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .graphql(with_subscriptions(SubscriptionSettings {
            max_per_subject: 1,
            ..SubscriptionSettings::default()
        }))
        .start()
        .await;
    let live = json!({ "live": true });
    let mut open = EventStream::open(&app, &token(TOLVAN), MEDICATIONS, live.clone()).await;
    open.next_event().await;

    let mut refused = EventStream::open(&app, &token(TOLVAN), MEDICATIONS, live.clone()).await;
    let refusal = refused.next_event().await;
    assert_eq!(codes(&refusal), ["TOO_MANY_SUBSCRIPTIONS"], "{refusal}");
    // Another user is not counted against this one.
    let mut other = EventStream::open(&app, &token(MARGARETA), MEDICATIONS, json!({})).await;
    let theirs = other.next_event().await;
    assert_ne!(codes(&theirs), ["TOO_MANY_SUBSCRIPTIONS"], "{theirs}");

    drop(open);
    // The place is given back once the service notices the stream is gone.
    let mut admitted = false;
    for _ in 0..50 {
        let mut again = EventStream::open(&app, &token(TOLVAN), MEDICATIONS, live.clone()).await;
        if codes(&again.next_event().await).is_empty() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted, "a closed subscription gives its place back");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_subscription_ends_with_subscription_ended_when_its_lifetime_is_over() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .graphql(with_subscriptions(SubscriptionSettings {
            max_lifetime: Duration::from_millis(500),
            ..SubscriptionSettings::default()
        }))
        .start()
        .await;
    let mut stream =
        EventStream::open(&app, &token(TOLVAN), MEDICATIONS, json!({ "live": true })).await;
    let events = stream.until_complete().await;
    let last = events.last().unwrap();
    assert_eq!(codes(last), ["SUBSCRIPTION_ENDED"], "{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn graphql_transport_ws_authenticates_in_connection_init_and_streams_until_complete() {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda", "akademiska-sjukhuset"])
        .start()
        .await;
    let url = format!("{}/graphql", app.url.replacen("http", "ws", 1));
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the upgrade is accepted");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(json!({
            "type": "connection_init",
            "payload": { "Authorization": format!("Bearer {}", token(TOLVAN)) }
        })))
        .await
        .unwrap();
    socket
        .send(send(json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": MEDICATIONS, "variables": { "live": false } }
        })))
        .await
        .unwrap();
    let mut messages = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")
            .expect("the socket is open")
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        let kind = value["type"].as_str().unwrap().to_owned();
        messages.push(value);
        if kind == "complete" || kind == "error" {
            break;
        }
    }
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"connection_ack"), "{messages:?}");
    assert_eq!(kinds.last(), Some(&"complete"), "{messages:?}");
    let last_next = messages
        .iter()
        .rev()
        .find(|m| m["type"] == "next")
        .expect("at least one event");
    assert_eq!(last_next["payload"]["data"]["overview"]["complete"], true);
    assert_eq!(
        medication_sources(&last_next["payload"]),
        ["akademiska-sjukhuset", "vc-gottsunda"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_without_a_valid_token_is_closed_before_anything_runs() {
    let app = TestApp::builder().sources(&["vc-gottsunda"]).start().await;
    let url = format!("{}/graphql", app.url.replacen("http", "ws", 1));
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Text(
            json!({ "type": "connection_init", "payload": { "token": "not-a-token" } })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an answer within 10 s")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(Message::Text(text))) => panic!("no message before closing: {text}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    let frame = closed.expect("a close frame with a reason");
    assert!(frame.reason.contains("UNAUTHENTICATED"), "{frame:?}");
    assert!(app.access_records(TOLVAN).await.is_empty());
}

/// A subscriber that stops reading is dropped with `SLOW_CONSUMER` instead of the service
/// holding ever more events for it. The request goes to the service's routes in-process, so
/// that the answer's body is read exactly as fast as this test reads it: over a network the
/// socket buffers (up to `net.ipv4.tcp_wmem`'s maximum, 4 MiB here) hold some events first.
#[tokio::test(flavor = "multi_thread")]
async fn a_subscriber_that_stops_reading_is_dropped_with_slow_consumer_and_its_events_do_not_pile_up()
 {
    use axum::extract::ConnectInfo;
    use http_body_util::BodyExt;
    use tower::Service;

    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        // Every failure is one quick call, and the breaker never opens: each round below is
        // a real change of state, so a real event.
        .source_policy(
            "vc-gottsunda",
            PolicyOverrides {
                max_attempts: Some(1),
                breaker_failures: Some(1_000_000),
                ..PolicyOverrides::default()
            },
        )
        .graphql(with_subscriptions(SubscriptionSettings {
            buffer: 2,
            coalesce: Duration::from_millis(1),
            ..SubscriptionSettings::default()
        }))
        .start()
        .await;
    let request = axum::http::Request::post("/graphql")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token(TOLVAN)),
        )
        .extension(ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            50000,
        ))))
        .body(axum::body::Body::from(
            json!({ "query": MEDICATIONS, "variables": { "live": true } }).to_string(),
        ))
        .unwrap();
    let mut router = app.router.clone();
    let response = router.call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut read = String::new();
    // Read until the overview is complete, then stop reading.
    while !read.contains("\"complete\":true") {
        let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
            .await
            .expect("the first events within 20 s")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            read.push_str(&String::from_utf8_lossy(&data));
        }
    }

    // The source fails and recovers, again and again: every round is a new event (its state
    // goes from answered to stale and back), none of which is read.
    let tolvan = PersonId::parse(TOLVAN).unwrap();
    let simulator = app.simulator("vc-gottsunda");
    let dropped = "overblick_subscriptions_ended_total{reason=\"slow_consumer\"}";
    let calls = |outcome: &str| {
        format!(
            "overblick_source_calls_total{{source=\"vc-gottsunda\",domain=\"medications\",outcome=\"{outcome}\"}}"
        )
    };
    let mut rounds = 0;
    while app.metric(dropped).await.unwrap_or(0.0) < 1.0 {
        assert!(
            rounds < 20,
            "the service still keeps events for a subscriber who has not read for {rounds} rounds"
        );
        rounds += 1;
        let (behaviour, outcome) = if rounds % 2 == 1 {
            (Behaviour::Status(500), calls("stale"))
        } else {
            (Behaviour::Normal, calls("fresh"))
        };
        let before = app.metric(&outcome).await.unwrap_or(0.0);
        simulator.set_behaviour(behaviour);
        app.engine.source_changed(&tolvan, "vc-gottsunda").await;
        // The round is over when the subscription's refetch has seen the new behaviour.
        for _ in 0..200 {
            if app.metric(&outcome).await.unwrap_or(0.0) > before
                || app.metric(dropped).await.unwrap_or(0.0) >= 1.0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    assert_eq!(
        app.metric("overblick_subscriptions_open").await,
        Some(0.0),
        "the dropped subscription's place is given back"
    );

    // Reading again, the subscriber finds the events kept for it (no more than the buffer),
    // then the reason, then the end.
    let mut rest = String::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(20), body.frame())
        .await
        .expect("the stream ends")
    {
        if let Ok(data) = frame.unwrap().into_data() {
            rest.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let rest = rest.replace("event: ", "event:");
    assert!(rest.contains("SLOW_CONSUMER"), "{rest}");
    assert!(rest.contains("event:complete"), "{rest}");
    // The kept events, and the one with the reason.
    let events = rest.matches("event:next").count();
    assert!(
        events <= 2 + 1,
        "{events} events delivered after {rounds} rounds: they piled up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn over_websocket_a_revoked_delegation_ends_the_stream_with_forbidden_and_the_users_limit_holds()
 {
    let app = TestApp::builder()
        .sources(&["vc-gottsunda"])
        .graphql(with_subscriptions(SubscriptionSettings {
            max_per_subject: 1,
            ..SubscriptionSettings::default()
        }))
        .start()
        .await;
    let id = delegate_medications_to_margareta(&app).await;
    let query = "subscription($p: PersonId) { overview(patient: $p, live: true) { complete medications { name } } }";
    let mut socket = Socket::open(&app, &token(MARGARETA)).await;
    socket.subscribe("1", query, json!({ "p": TOLVAN })).await;
    let first = socket.receive().await;
    assert_eq!(first["type"], "next", "{first}");
    assert!(first["payload"]["data"]["overview"]["medications"].is_array());

    // A second subscription of the same user on the same socket is over the limit of one.
    socket.subscribe("2", query, json!({ "p": TOLVAN })).await;
    // As an event with the error, or as the protocol's `error` message: either is the
    // protocol's way for an operation refused at its start.
    let refused = loop {
        let message = socket.receive().await;
        if message["id"] == "2" && message["type"] == "next" {
            break message["payload"].clone();
        }
        if message["id"] == "2" && message["type"] == "error" {
            break json!({ "errors": message["payload"] });
        }
    };
    assert_eq!(codes(&refused), ["TOO_MANY_SUBSCRIPTIONS"], "{refused}");

    revoke(&app, &id).await;
    let mut ending = Vec::new();
    loop {
        let message = socket.receive().await;
        if message["id"] != "1" {
            continue;
        }
        let done = message["type"] == "complete";
        ending.push(message);
        if done {
            break;
        }
    }
    let last_next = ending
        .iter()
        .rev()
        .find(|m| m["type"] == "next")
        .unwrap_or_else(|| panic!("an event before the end: {ending:?}"));
    assert_eq!(codes(&last_next["payload"]), ["FORBIDDEN"], "{ending:?}");
    assert!(last_next["payload"]["data"].is_null());
}
