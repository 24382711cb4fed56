//! Cursor paging of the long lists (measurements, lab results) and of the access log, over the
//! demo's data: every item once, in the documented order, pages that stay right when new items
//! arrive at the top, and bad paging arguments failing only their own list.

use overblick_simulators::Behaviour;
use serde_json::{Value, json};

use crate::harness::{TOLVAN, TestApp, databases, error_codes, token};

/// One page of a paged overview list, with every part of the connection.
fn page_query(list: &str, arguments: &str) -> String {
    format!(
        "{{ overview {{ {list}({arguments}) {{ totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} edges {{ cursor node {{ id time provenance {{ sourceId }} }} }} }} }} }}"
    )
}

fn connection<'a>(body: &'a Value, list: &str) -> &'a Value {
    let connection = &body["data"]["overview"][list];
    assert!(connection.is_object(), "{list} in {body}");
    connection
}

fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `list` (`first` items each, under `filters`), following `endCursor`.
async fn every_page(app: &TestApp, list: &str, filters: &str, first: usize) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let arguments = match &after {
            None => format!("{filters} first: {first}"),
            Some(cursor) => format!(r#"{filters} first: {first}, after: "{cursor}""#),
        };
        let body = app.query(&page_query(list, &arguments)).await;
        assert!(body["errors"].is_null(), "{body}");
        let page = connection(&body, list).clone();
        let more = page["pageInfo"]["hasNextPage"] == true;
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        pages.push(page);
        if !more {
            return pages;
        }
        assert!(pages.len() < 100, "paging ends");
    }
}

/// The documented order of measurements and lab results: newest first, ties by id, items
/// without a time last.
fn assert_newest_first(connection: &Value) {
    let keys: Vec<(Option<chrono::DateTime<chrono::Utc>>, String)> = connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let time = e["node"]["time"].as_str().map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .unwrap()
                    .with_timezone(&chrono::Utc)
            });
            (time, e["node"]["id"].as_str().unwrap().to_owned())
        })
        .collect();
    for pair in keys.windows(2) {
        let ((t0, id0), (t1, id1)) = (&pair[0], &pair[1]);
        let in_order = match (t0, t1) {
            (Some(a), Some(b)) => a > b || (a == b && id0 < id1),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => id0 < id1,
        };
        assert!(in_order, "{pair:?} out of order in {connection}");
    }
}

#[tokio::test]
async fn the_demo_patients_measurements_back_to_1919_page_through_newest_first_each_exactly_once() {
    let app = TestApp::builder().start().await;
    let body = app.query(&page_query("measurements", "first: 500")).await;
    assert!(body["errors"].is_null(), "{body}");
    let all = connection(&body, "measurements");
    let all_ids = ids(all);
    assert_eq!(
        all_ids.len(),
        65,
        "the demo patient has 65 measurements: {all}"
    );
    assert_eq!(all["totalCount"], 65, "{all}");
    assert_eq!(all["pageInfo"]["hasNextPage"], false, "{all}");
    assert_eq!(all["pageInfo"]["hasPreviousPage"], false, "{all}");
    assert_newest_first(all);
    let oldest = all["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["node"]["time"].as_str())
        .next_back()
        .unwrap();
    assert!(
        oldest.starts_with("1919-"),
        "the oldest is from 1919: {oldest}"
    );

    let pages = every_page(&app, "measurements", "", 20).await;
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, [20, 20, 20, 5]);
    let paged: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(
        paged, all_ids,
        "the pages together are the list, each item once"
    );
    for (n, page) in pages.iter().enumerate() {
        assert_eq!(page["totalCount"], 65, "the count is of all pages: {page}");
        assert_eq!(page["pageInfo"]["hasPreviousPage"], n > 0, "{page}");
        let edges = page["edges"].as_array().unwrap();
        assert_eq!(page["pageInfo"]["startCursor"], edges[0]["cursor"]);
        assert_eq!(
            page["pageInfo"]["endCursor"],
            edges[edges.len() - 1]["cursor"]
        );
    }
}

#[tokio::test]
async fn lab_results_page_under_their_code_filter_and_total_count_counts_the_filtered_list() {
    let app = TestApp::builder().start().await;
    let body = app.query(&page_query("labResults", "first: 500")).await;
    assert!(body["errors"].is_null(), "{body}");
    let all = connection(&body, "labResults");
    assert_newest_first(all);
    assert_eq!(all["totalCount"], ids(all).len(), "{all}");

    // NPU04998 is P-Kreatinin, which the demo patient has had taken more than once.
    let filter = r#"code: "NPU04998","#;
    let body = app
        .query(&page_query("labResults", &format!("{filter} first: 500")))
        .await;
    let creatinine = connection(&body, "labResults");
    let creatinine_ids = ids(creatinine);
    assert!(creatinine_ids.len() > 1, "{creatinine}");
    assert!(creatinine_ids.len() < ids(all).len(), "{creatinine}");
    assert_eq!(
        creatinine["totalCount"],
        creatinine_ids.len(),
        "{creatinine}"
    );

    let pages = every_page(&app, "labResults", filter, 1).await;
    assert_eq!(pages.len(), creatinine_ids.len());
    let paged: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(paged, creatinine_ids);
    assert!(
        pages
            .iter()
            .all(|p| p["totalCount"] == creatinine_ids.len()),
        "{pages:?}"
    );
}

/// The source holding the demo patient's newest measurement.
async fn source_of_the_newest_measurement() -> String {
    let app = TestApp::builder().start().await;
    let body = app.query(&page_query("measurements", "first: 1")).await;
    let edges = connection(&body, "measurements")["edges"].clone();
    edges[0]["node"]["provenance"][0]["sourceId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_page_after_a_cursor_starts_after_its_item_when_newer_measurements_arrive_at_the_top() {
    let newest_source = source_of_the_newest_measurement().await;
    let app = TestApp::builder().start().await;
    // The source is down at first: its measurements are missing from the first page.
    app.simulator(&newest_source)
        .set_behaviour(Behaviour::Status(503));
    let body = app.query(&page_query("measurements", "first: 10")).await;
    let first = connection(&body, "measurements");
    let first_ids = ids(first);
    assert_eq!(first_ids.len(), 10, "{body}");
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_owned();

    // It is back: its measurements arrive, the newest of them at the top of the list.
    app.simulator(&newest_source)
        .set_behaviour(Behaviour::Normal);
    let body = app.query(&page_query("measurements", "first: 500")).await;
    assert!(body["errors"].is_null(), "{body}");
    let now_ids = ids(connection(&body, "measurements"));
    let last_seen = now_ids
        .iter()
        .position(|id| id == first_ids.last().unwrap())
        .expect("the last item of the first page is still in the list");
    assert!(
        last_seen > 9,
        "newer items arrived before it (else this test shows nothing): {now_ids:?}"
    );

    let body = app
        .query(&page_query(
            "measurements",
            &format!(r#"first: 10, after: "{cursor}""#),
        ))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let next = connection(&body, "measurements");
    assert_eq!(
        ids(next),
        now_ids[last_seen + 1..last_seen + 11],
        "the next page starts right after the first page's last item, not at an offset"
    );
    assert_eq!(next["pageInfo"]["hasPreviousPage"], true, "{next}");
}

#[tokio::test]
async fn a_page_size_out_of_range_or_a_cursor_that_cannot_be_read_fails_only_its_own_list() {
    let app = TestApp::builder().start().await;
    let body = app.query(&page_query("labResults", "first: 1")).await;
    let lab_cursor = connection(&body, "labResults")["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for arguments in [
        "first: 501".to_owned(),
        "first: -1".to_owned(),
        r#"after: "not a cursor""#.to_owned(),
        // A cursor of another list is no place in this one.
        format!(r#"after: "{lab_cursor}""#),
    ] {
        let body = app
            .query(&format!(
                "{{ overview {{ medications(status: ALL) {{ id }} measurements({arguments}) {{ totalCount nodes {{ id }} }} sources {{ domain itemCount reportedCount }} }} }}"
            ))
            .await;
        assert_eq!(
            error_codes(&body),
            ["INVALID_ARGUMENT"],
            "{arguments}: {body}"
        );
        assert_eq!(
            body["errors"][0]["path"],
            json!(["overview", "measurements"]),
            "{arguments}: {body}"
        );
        let overview = &body["data"]["overview"];
        assert!(overview["measurements"].is_null(), "{body}");
        assert!(!overview["medications"].as_array().unwrap().is_empty());
        // The list is null, so its sources show nothing in it.
        let measurement_sources: Vec<&Value> = overview["sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["domain"] == "MEASUREMENTS")
            .collect();
        assert!(!measurement_sources.is_empty(), "{body}");
        assert!(
            measurement_sources.iter().all(|s| s["itemCount"] == 0),
            "{arguments}: {body}"
        );
    }
    // Zero items is a page too: the count and whether there are more.
    let body = app.query(&page_query("measurements", "first: 0")).await;
    let empty = connection(&body, "measurements");
    assert_eq!(empty["edges"], json!([]), "{body}");
    assert_eq!(empty["totalCount"], 65, "{body}");
    assert_eq!(empty["pageInfo"]["hasNextPage"], true, "{body}");
    assert!(empty["pageInfo"]["endCursor"].is_null(), "{body}");
}

const LOG_PAGE: &str = "query($first: Int, $after: String) { accessLog(first: $first, after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { time requestId } } } }";

fn log_ids(body: &Value) -> Vec<String> {
    body["data"]["accessLog"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("an access log page: {body}"))
        .iter()
        .map(|e| e["node"]["requestId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_pages_newest_first_and_a_new_access_does_not_shift_the_next_page() {
    for db in databases().await {
        let app = TestApp::builder().database(&db).start().await;
        let patient = token(TOLVAN);
        let read = || async {
            let body = app
                .post_as(&patient, "{ overview { medications { id } } }", json!({}))
                .await;
            assert!(body["errors"].is_null(), "{body}");
        };
        for _ in 0..5 {
            read().await;
        }
        let all = app
            .post_as(&patient, LOG_PAGE, json!({ "first": 500 }))
            .await;
        let all_ids = log_ids(&all);
        assert_eq!(all_ids.len(), 5, "{}: {all}", db.backend);
        assert_eq!(all["data"]["accessLog"]["totalCount"], 5);
        let records = app.access_records(TOLVAN).await;
        let written: Vec<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(all_ids, written, "{}: newest first, as stored", db.backend);

        let first = app.post_as(&patient, LOG_PAGE, json!({ "first": 2 })).await;
        assert_eq!(log_ids(&first), all_ids[..2], "{}: {first}", db.backend);
        let page_info = &first["data"]["accessLog"]["pageInfo"];
        assert_eq!(page_info["hasNextPage"], true);
        assert_eq!(page_info["hasPreviousPage"], false);
        let cursor = page_info["endCursor"].as_str().unwrap().to_owned();

        // Someone reads the overview meanwhile: a new entry at the top.
        read().await;
        let second = app
            .post_as(&patient, LOG_PAGE, json!({ "first": 2, "after": cursor }))
            .await;
        assert_eq!(log_ids(&second), all_ids[2..4], "{}: {second}", db.backend);
        let log = &second["data"]["accessLog"];
        assert_eq!(log["totalCount"], 6, "{}: {second}", db.backend);
        assert_eq!(log["pageInfo"]["hasPreviousPage"], true);
        assert_eq!(log["pageInfo"]["hasNextPage"], true);
        let third = app
            .post_as(
                &patient,
                LOG_PAGE,
                json!({ "first": 2, "after": log["pageInfo"]["endCursor"] }),
            )
            .await;
        assert_eq!(log_ids(&third), all_ids[4..], "{}: {third}", db.backend);
        assert_eq!(third["data"]["accessLog"]["pageInfo"]["hasNextPage"], false);

        let bad = app
            .post_as(&patient, LOG_PAGE, json!({ "after": "bm90IGEgY3Vyc29y" }))
            .await;
        assert_eq!(
            error_codes(&bad),
            ["INVALID_ARGUMENT"],
            "{}: {bad}",
            db.backend
        );
        assert_eq!(bad["errors"][0]["path"], json!(["accessLog"]), "{bad}");
        let too_many = app
            .post_as(&patient, LOG_PAGE, json!({ "first": 1000 }))
            .await;
        assert_eq!(error_codes(&too_many), ["INVALID_ARGUMENT"], "{too_many}");
    }
}
