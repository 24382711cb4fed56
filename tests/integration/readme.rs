//! The README's example answers are what the running demo answers: each example query in the
//! README runs against the demo's sources (its story moved to today, as `cargo run` moves it),
//! and the README's answer must match what comes back, read back on the story's own day.
//!
//! In the README an example is marked `<!-- example: NAME [hang=SOURCE] -->` before its
//! ```` ```graphql ```` block, and its answer `<!-- answer: NAME -->` before a ```` ```json ````
//! block. An answer may leave things out: a string `"..."` (or one that starts and ends with
//! `...`) in an array stands for any number of items there, and in place of a value for any
//! value; everything else must be as the demo says, in its order, except timings
//! (`latencyMs`, `ageSeconds`), which change from run to run and only have to be numbers.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use overblick_simulators::{Behaviour, DateShift};
use serde_json::Value;

use overblick::app::Application;
use overblick::config::{DEMO_ENGAGEMENT_INDEX_FILE, EngagementIndexSettings, Settings};

use crate::harness::{repo_path, token};

/// Fields whose values differ from run to run; the README's only have to be numbers.
const TIMINGS: &[&str] = &["latencyMs", "ageSeconds"];

/// Fields the demo does not move when it moves the story (see `overblick_simulators::shift`).
const KEPT: &[&str] = &["birthDate"];

struct Example {
    name: String,
    query: String,
    /// A source made to hang for this example, to show what a timeout looks like.
    hang: Option<String>,
}

/// The code block that follows `marker` in `text` (the marker's line, then the block).
fn block_after(text: &str, at: usize) -> String {
    let rest = &text[at..];
    let start = rest.find("```").expect("a code block follows the marker");
    let body = &rest[start..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    let end = body.find("\n```").expect("the code block ends");
    body[..end].to_owned()
}

/// The README's examples and answers, by name.
fn examples(readme: &str) -> (Vec<Example>, BTreeMap<String, String>) {
    let mut examples = Vec::new();
    let mut answers = BTreeMap::new();
    for (at, _) in readme.match_indices("<!-- ") {
        let line = &readme[at + 5..];
        let line = &line[..line.find(" -->").expect("a marker ends with -->")];
        let mut words = line.split_whitespace();
        match words.next() {
            Some("example:") => {
                let name = words.next().expect("an example has a name").to_owned();
                let hang = words
                    .find_map(|w| w.strip_prefix("hang="))
                    .map(str::to_owned);
                examples.push(Example {
                    name,
                    query: block_after(readme, at),
                    hang,
                });
            }
            Some("answer:") => {
                let name = words.next().expect("an answer has a name").to_owned();
                answers.insert(name, block_after(readme, at));
            }
            _ => {}
        }
    }
    (examples, answers)
}

/// `value` with every date and time moved back by `shift` (as the demo moved them forward),
/// so an answer reads as on the story's own day.
fn moved_back(value: &mut Value, shift: DateShift) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if !KEPT.contains(&key.as_str()) {
                    moved_back(v, shift);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| moved_back(v, shift)),
        Value::String(s) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                *s = shift
                    .instant(t.with_timezone(&Utc))
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true);
            } else if s.len() == 10
                && let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
            {
                *s = shift.date(d).format("%Y-%m-%d").to_string();
            }
        }
        _ => {}
    }
}

fn is_elision(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() >= 3 && s.starts_with("...") && s.ends_with("..."))
}

/// Whether the README's `shown` answer is the demo's `actual` one, with the README's leave-outs.
fn check(shown: &Value, actual: &Value, key: Option<&str>, path: &str) -> Result<(), String> {
    if is_elision(shown) {
        return Ok(());
    }
    if key.is_some_and(|k| TIMINGS.contains(&k)) {
        return match (shown.is_number(), actual.is_number() || actual.is_null()) {
            (true, true) => Ok(()),
            _ => Err(format!(
                "{path}: a timing, {shown} in the README, {actual} here"
            )),
        };
    }
    match (shown, actual) {
        (Value::Object(s), Value::Object(a)) => {
            let (sk, ak): (Vec<_>, Vec<_>) = (s.keys().collect(), a.keys().collect());
            if sk != ak {
                return Err(format!(
                    "{path}: the README has fields {sk:?}, the demo {ak:?}"
                ));
            }
            for (k, v) in s {
                check(v, &a[k], Some(k), &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(s), Value::Array(a)) => {
            // Each shown item in order, each after the previous; an elision lets items pass.
            let mut next = 0;
            let mut may_skip = false;
            for (i, item) in s.iter().enumerate() {
                if is_elision(item) {
                    may_skip = true;
                    continue;
                }
                let found = (next..a.len())
                    .take_while(|j| may_skip || *j == next)
                    .find(|j| check(item, &a[*j], None, "").is_ok());
                match found {
                    Some(j) => next = j + 1,
                    None => {
                        // The candidate that came closest: the one whose difference lies
                        // deepest (the same item with one field changed, most likely).
                        let why = a[next..]
                            .iter()
                            .filter_map(|c| check(item, c, None, &format!("{path}[{i}]")).err())
                            .max_by_key(|why| why.split(':').next().map_or(0, str::len))
                            .unwrap_or_else(|| format!("{path}[{i}]: no such item"));
                        return Err(format!(
                            "{path}[{i}]: not in the demo's answer where the README shows it ({why})"
                        ));
                    }
                }
                may_skip = false;
            }
            if !may_skip && next != a.len() {
                return Err(format!(
                    "{path}: the demo has {} items after the README's last one (end the list with \"...\" to leave them out)",
                    a.len() - next
                ));
            }
            Ok(())
        }
        _ if shown == actual => Ok(()),
        _ => Err(format!(
            "{path}: {shown} in the README, {actual} from the demo"
        )),
    }
}

/// The demo as `cargo run` starts it (its settings, sources, engagement index and seeded
/// access facts), on port 0 with a fresh database, its story moved to `today`.
struct Demo {
    url: String,
    simulators: overblick::demo::CatalogSimulators,
    _index: overblick_simulators::EngagementIndexHandle,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn start(today: NaiveDate) -> Demo {
        let sources = repo_path("sources");
        let mut settings = Settings::demo(&sources).expect("the demo settings load");
        let dir = tempfile::tempdir().expect("a temp dir");
        settings.database.url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("overblick-demo.sqlite").display()
        );
        settings.listen = "127.0.0.1:0".parse().unwrap();
        overblick::demo::move_story_to(&mut settings.catalog, today);
        let simulators = overblick::demo::start_simulators(&mut settings.catalog)
            .await
            .expect("the simulators start");
        let index =
            overblick::demo::start_engagement_index(&sources.join(DEMO_ENGAGEMENT_INDEX_FILE))
                .await
                .expect("the engagement index starts");
        settings.platform.engagement_index = Some(EngagementIndexSettings::new(
            Some(index.base_url().to_owned()),
            index.logical_address().to_owned(),
        ));
        let app = Application::build(&settings)
            .await
            .expect("the demo starts");
        overblick::app::seed_demo(app.store())
            .await
            .expect("the demo's facts are seeded");
        Demo {
            url: format!("http://{}/graphql", app.spawn()),
            simulators,
            _index: index,
            _dir: dir,
        }
    }

    /// The demo patient's answer to `query`.
    async fn query(&self, query: &str) -> Value {
        let text = reqwest::Client::new()
            .post(&self.url)
            .bearer_auth(token(crate::harness::TOLVAN))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "query": query }).to_string())
            .send()
            .await
            .expect("the demo answers")
            .text()
            .await
            .expect("a body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("a JSON answer ({e}): {text}"))
    }
}

#[tokio::test]
async fn the_readmes_example_answers_are_what_the_demo_answers() {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README.md");
    let (examples, answers) = examples(&readme);
    assert!(
        examples.len() >= 2,
        "the README marks its example queries with <!-- example: NAME -->"
    );
    let story_today = {
        let (y, m, d) = overblick::demo::DEMO_STORY_TODAY;
        NaiveDate::from_ymd_opt(y, m, d).expect("the story's today is a date")
    };
    let today = Utc::now().date_naive();
    let back = DateShift::to_today(today, story_today);
    let mut failures = Vec::new();
    for example in &examples {
        let shown = answers
            .get(&example.name)
            .unwrap_or_else(|| panic!("the README shows an answer for {}", example.name));
        let shown: Value = serde_json::from_str(shown)
            .unwrap_or_else(|e| panic!("the README's answer for {} is JSON: {e}", example.name));
        // A demo of its own for each example, as `cargo run` starts it, today.
        let demo = Demo::start(today).await;
        if let Some(source) = &example.hang {
            demo.simulators
                .for_source(source)
                .unwrap_or_else(|| panic!("the demo has a source {source}"))
                .server()
                .set_behaviour(Behaviour::Hang);
        }
        let mut actual = demo.query(&example.query).await;
        moved_back(&mut actual, back);
        if let Err(why) = check(&shown, &actual, None, "answer") {
            failures.push(format!(
                "README example `{}`: {why}\nThe demo's answer, read on the story's day:\n{}",
                example.name,
                serde_json::to_string_pretty(&actual).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn an_answer_that_leaves_items_out_must_say_so() {
    let actual: Value = serde_json::json!({"a": [1, 2, 3], "latencyMs": 12});
    let ok = |shown: Value| check(&shown, &actual, None, "answer");
    assert!(ok(serde_json::json!({"a": [1, "...", 3], "latencyMs": 40})).is_ok());
    assert!(ok(serde_json::json!({"a": ["...", 2, "..."], "latencyMs": 1})).is_ok());
    assert!(ok(serde_json::json!({"a": "...", "latencyMs": 1})).is_ok());
    // Items left out without an elision, an item out of order, a wrong value, a missing field.
    assert!(ok(serde_json::json!({"a": [1, 2], "latencyMs": 1})).is_err());
    assert!(ok(serde_json::json!({"a": [2, "...", 1], "latencyMs": 1})).is_err());
    assert!(ok(serde_json::json!({"a": [1, 2, 4], "latencyMs": 1})).is_err());
    assert!(ok(serde_json::json!({"a": [1, 2, 3]})).is_err());
    assert!(ok(serde_json::json!({"a": [1, 2, 3], "latencyMs": "soon"})).is_err());
}
