//! Time to first data and time to complete: what a patient waits for before they see anything,
//! and before they see everything, asked as a query (one answer after the slowest source) and
//! as the live overview's subscription over GraphQL over SSE (the fast sources at once, then
//! the rest as they answer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::harness::{LoadSpec, Target, cpu_time};

/// The subscription Överblick is asked in the streaming rows: the same fields as the query,
/// plus `complete`, which marks the event after which no source is still working.
pub const OVERBLICK_SUBSCRIPTION: &str = "subscription($p: PersonId) { overview(patient: $p) { complete medications(status: ALL) { id name status dosage start provenance { sourceId recordId } } } }";

/// How the overview is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// `POST /graphql`, one JSON answer: first data and complete are the same moment.
    Query,
    /// `POST /graphql` with `Accept: text/event-stream`: first data is the first event that
    /// holds any medication; complete is the event marked `complete: true`.
    Stream,
}

/// What one timed run measured.
pub struct TimedResult {
    pub overviews: u64,
    /// No answer, not HTTP 200, or a stream that ended before its complete event.
    pub failed: u64,
    /// Complete, but with fewer items than every source holds, or with errors.
    pub partial: u64,
    pub elapsed: Duration,
    /// Microseconds from sending the request.
    pub first_data: Histogram<u64>,
    pub complete: Histogram<u64>,
    pub gateway_cpu: Duration,
    /// CPU this process (the sources and the clients) used: near the whole window means its
    /// core was saturated and the times include waiting for it.
    pub harness_cpu: Duration,
}

impl TimedResult {
    pub fn rate(&self) -> f64 {
        self.overviews as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn cpu_ms_per_overview(&self) -> f64 {
        if self.overviews == 0 {
            return 0.0;
        }
        self.gateway_cpu.as_secs_f64() * 1000.0 / self.overviews as f64
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// One overview's outcome: (first data, complete) after sending, and whether it held everything.
enum Outcome {
    Done {
        first: Duration,
        complete: Duration,
        whole: bool,
    },
    Failed,
}

/// Drives `spec.clients` clients in a closed loop, as [`crate::harness::drive`] does, and
/// records for every overview when its first data and its last arrived.
pub async fn drive_timed(
    target: Arc<Target>,
    ask: Ask,
    spec: &LoadSpec,
    gateway_pid: u32,
) -> TimedResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(spec.clients.max(1) * 2)
        .tcp_nodelay(true)
        .build()
        .expect("an HTTP client");
    let measure_from = Instant::now() + spec.warmup;
    let stop_at = measure_from + spec.duration;
    let cpu_at_start = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        (cpu_time(gateway_pid), cpu_time(std::process::id()))
    });
    let mut tasks = Vec::new();
    for c in 0..spec.clients {
        let client = client.clone();
        let target = target.clone();
        let expected = spec.expected_items;
        let clients = spec.clients.max(1);
        tasks.push(tokio::spawn(async move {
            let (mut first_data, mut complete) = (histogram(), histogram());
            let (mut overviews, mut failed, mut partial) = (0u64, 0u64, 0u64);
            let requests = target.requests();
            // Clients start at different patients so that they do not move in lockstep.
            let mut next = c * requests.len() / clients;
            loop {
                let now = Instant::now();
                if now >= stop_at {
                    break;
                }
                let (body, auth) = &requests[next % requests.len()];
                next += 1;
                let mut request = client
                    .post(&target.url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if ask == Ask::Stream {
                    request = request.header("accept", "text/event-stream");
                }
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                let outcome = match ask {
                    Ask::Query => query(request, &target, expected, now).await,
                    Ask::Stream => stream(request, expected, now).await,
                };
                if now < measure_from {
                    continue;
                }
                overviews += 1;
                match outcome {
                    Outcome::Done {
                        first,
                        complete: done,
                        whole,
                    } => {
                        first_data.saturating_record(first.as_micros() as u64);
                        complete.saturating_record(done.as_micros() as u64);
                        if !whole {
                            partial += 1;
                        }
                    }
                    Outcome::Failed => failed += 1,
                }
            }
            (first_data, complete, overviews, failed, partial)
        }));
    }
    let (mut first_data, mut complete) = (histogram(), histogram());
    let (mut overviews, mut failed, mut partial) = (0, 0, 0);
    for task in tasks {
        let (f, c, o, x, p) = task.await.expect("a client task finishes");
        first_data.add(&f).expect("same bounds");
        complete.add(&c).expect("same bounds");
        overviews += o;
        failed += x;
        partial += p;
    }
    let (cpu0, harness0) = cpu_at_start
        .await
        .unwrap_or((Duration::ZERO, Duration::ZERO));
    TimedResult {
        overviews,
        failed,
        partial,
        elapsed: Instant::now().saturating_duration_since(measure_from),
        first_data,
        complete,
        gateway_cpu: cpu_time(gateway_pid).saturating_sub(cpu0),
        harness_cpu: cpu_time(std::process::id()).saturating_sub(harness0),
    }
}

async fn query(
    request: reqwest::RequestBuilder,
    target: &Target,
    expected: usize,
    sent: Instant,
) -> Outcome {
    let Ok(response) = request.send().await else {
        return Outcome::Failed;
    };
    // The peer answers 504 when a source timed out, with the others' data.
    let status = response.status().as_u16();
    let Ok(body) = response.bytes().await else {
        return Outcome::Failed;
    };
    let at = sent.elapsed();
    if status != 200 && status != 504 {
        return Outcome::Failed;
    }
    match (target.counter())(&body) {
        Ok((items, errors)) if items > 0 => Outcome::Done {
            first: at,
            complete: at,
            whole: items == expected && errors == 0,
        },
        _ => Outcome::Failed,
    }
}

async fn stream(request: reqwest::RequestBuilder, expected: usize, sent: Instant) -> Outcome {
    let Ok(mut response) = request.send().await else {
        return Outcome::Failed;
    };
    if response.status() != 200 {
        return Outcome::Failed;
    }
    let mut buffer = String::new();
    // How far the buffer has been searched for an event's end: a large event comes in many
    // chunks, and searching it from the start each time would cost the generator's core.
    let mut searched: usize = 0;
    let mut first = None;
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            // The stream ended (or broke) before the event marked complete.
            Ok(None) | Err(_) => return Outcome::Failed,
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        // From one byte before the searched part: an event's end may straddle two chunks. On
        // bytes, since that byte may be inside a character.
        while let Some(found) = buffer.as_bytes()[searched.saturating_sub(1)..]
            .windows(2)
            .position(|w| w == b"\n\n")
        {
            let end = searched.saturating_sub(1) + found;
            let frame: String = buffer.drain(..end + 2).collect();
            searched = 0;
            let mut event = "message";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = if name.trim() == "next" {
                        "next"
                    } else {
                        "other"
                    };
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if event != "next" {
                continue;
            }
            // Only the last event is parsed: reading every event's whole JSON would load the
            // generator's core (shared with the sources) and delay what it measures.
            if first.is_none() && data.contains("\"medications\":[{") {
                first = Some(sent.elapsed());
            }
            if data.contains("\"complete\":true") {
                let complete = sent.elapsed();
                let Ok(json) = serde_json::from_str::<serde_json::Value>(&data) else {
                    return Outcome::Failed;
                };
                let items = json["data"]["overview"]["medications"]
                    .as_array()
                    .map_or(0, Vec::len);
                let errors = json["errors"].as_array().map_or(0, Vec::len);
                return Outcome::Done {
                    first: first.unwrap_or(complete),
                    complete,
                    whole: items == expected && errors == 0,
                };
            }
        }
        searched = buffer.len();
    }
}
