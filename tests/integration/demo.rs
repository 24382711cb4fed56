//! The demo's story moved to today: what a person trying the demo on any day sees stays true.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeDelta, Utc};
use serde_json::Value;

use crate::harness::TestApp;

const BOOKINGS: &str = "{ overview { patient { birthDate } bookings(status: ALL) { start title provenance { sourceId } } } }";

/// Each booking's title with its start and how many sources reported it.
fn bookings(body: &Value) -> BTreeMap<String, (String, usize)> {
    body["data"]["overview"]["bookings"]
        .as_array()
        .unwrap_or_else(|| panic!("bookings: {body}"))
        .iter()
        .map(|b| {
            (
                b["title"].as_str().unwrap().to_owned(),
                (
                    b["start"].as_str().unwrap().to_owned(),
                    b["provenance"].as_array().unwrap().len(),
                ),
            )
        })
        .collect()
}

fn day_of(start: &str) -> NaiveDate {
    start[..10].parse().unwrap()
}

#[tokio::test]
async fn the_demos_bookings_are_upcoming_on_whatever_day_it_runs_and_still_merge_across_protocols()
{
    let today = Utc::now().date_naive();
    let as_written = TestApp::builder().start().await;
    let moved = TestApp::builder().story_today(today).start().await;

    let before = bookings(&as_written.query(BOOKINGS).await);
    let body = moved.query(BOOKINGS).await;
    let after = bookings(&body);

    // The same bookings, each moved by the days from the story's today to today, and each
    // reported by as many sources as before (a FHIR and a RIV-TA copy still meet).
    let story_today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
    let days = today - story_today;
    assert_eq!(before.len(), after.len());
    for (title, (start, sources)) in &before {
        let (moved_start, moved_sources) = &after[title];
        assert_eq!(day_of(moved_start), day_of(start) + days, "{title}");
        assert_eq!(moved_sources, sources, "{title}: merged as before");
    }
    assert!(
        before.values().any(|(_, sources)| *sources > 1),
        "the demo has bookings held by more than one source"
    );
    // The trip home from the short-term care home, three days after the story's today, is
    // upcoming today.
    let (home, _) = after
        .iter()
        .find(|(title, _)| title.starts_with("Hemgång"))
        .map(|(_, v)| v)
        .expect("the trip home is booked");
    assert_eq!(day_of(home), today + TimeDelta::days(3));
    assert!(after.values().any(|(start, _)| day_of(start) > today));
    // Birth dates do not move.
    assert_eq!(
        body["data"]["overview"]["patient"]["birthDate"],
        "1912-12-12"
    );
}
