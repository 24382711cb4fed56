//! `cargo bench --bench overview`: how fast an overview is, how its cost grows with the number
//! of sources, and how it compares with GraphQL Mesh + Hive Gateway, in one run.
//!
//! Both gateways run as their own processes pinned to CPU 0; this process (the simulated
//! sources and the load generator) is pinned to CPU 1. Options (after `--`):
//! `--quick` (short runs, fewer scenarios), `--no-peer`, `--seconds N` (per scenario, default
//! 10), `--memory-seconds N` (the memory run, default 60), `--no-readme` (do not update README).

mod harness;
mod peer;
mod report;
mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{
    LoadSpec, OverblickOptions, OverblickProcess, Sources, Target, drive, memory, patients,
};
use report::{Report, Row, TimedRow};
use stream::{Ask, OVERBLICK_SUBSCRIPTION, drive_timed};

const SOURCE_LATENCY: Duration = Duration::from_millis(20);

struct Args {
    quick: bool,
    peer: bool,
    seconds: u64,
    memory_seconds: u64,
    readme: bool,
    /// Run only the scenario groups whose name contains this ("cache off", "200 sources", ...).
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        quick: false,
        peer: true,
        seconds: 10,
        memory_seconds: 60,
        readme: true,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--no-peer" => a.peer = false,
            "--no-readme" => a.readme = false,
            "--only" => a.only = it.next(),
            "--seconds" => a.seconds = it.next().and_then(|s| s.parse().ok()).unwrap_or(a.seconds),
            "--memory-seconds" => {
                a.memory_seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(a.memory_seconds)
            }
            // cargo bench passes --bench; ignore what is not ours.
            _ => {}
        }
    }
    if a.quick {
        a.seconds = a.seconds.min(2);
        a.memory_seconds = a.memory_seconds.min(6);
    }
    a
}

fn main() {
    let args = args();
    let file_limit = harness::raise_file_limit(262_144);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gateway_cpu = if cores >= 2 {
        // Pinned before the runtime starts, so every thread it makes inherits CPU 1.
        harness::pin_self(1);
        Some(0)
    } else {
        eprintln!("note: one CPU only: nothing is pinned");
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(run(args, gateway_cpu, file_limit));
}

struct Bench {
    args: Args,
    gateway_cpu: Option<usize>,
    patients: Vec<String>,
    rows: Vec<Row>,
    timed: Vec<TimedRow>,
    findings: Vec<String>,
    peer: Option<peer::PeerInstall>,
}

async fn run(args: Args, gateway_cpu: Option<usize>, file_limit: Option<u64>) {
    let started = Instant::now();
    let peer = if args.peer {
        let scratch = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-peer");
        println!(
            "Installing the peer (GraphQL Mesh + Hive Gateway) into {} ...",
            scratch.display()
        );
        // npm and mesh-compose run as child processes and block: keep them off the runtime's
        // single worker, which also serves the simulated sources.
        match tokio::task::block_in_place(|| peer::install(&scratch)) {
            Ok(p) => Some(p),
            Err(peer::PeerError::NpmMissing) => {
                println!(
                    "npm is not installed: the peer is skipped (install Node.js and npm to compare)"
                );
                None
            }
            Err(e) => {
                println!("the peer could not be installed, so it is skipped: {e}");
                None
            }
        }
    } else {
        None
    };
    let mut bench = Bench {
        patients: patients(1000),
        rows: Vec::new(),
        timed: Vec::new(),
        findings: Vec::new(),
        peer,
        args,
        gateway_cpu,
    };
    let counts: &[usize] = if bench.args.quick {
        &[1, 10]
    } else {
        &[1, 10, 50, 200]
    };
    let only = bench.args.only.clone();
    let wanted = |group: &str| only.as_deref().is_none_or(|o| group.contains(o));
    for &n in counts {
        if wanted(&format!("{n} sources, cache off")) {
            bench.cache_off(n).await;
        }
    }
    if wanted("cache on") {
        bench.cache_on().await;
    }
    if wanted("slow source") {
        bench.slow_source().await;
    }
    if wanted("first data") {
        bench.first_data().await;
    }
    if wanted("isolation") {
        bench.isolation().await;
    }
    if wanted("memory") {
        bench.memory().await;
    }
    bench.targets();
    if let Some(limit) = file_limit.filter(|l| *l < 2 * 200 * 50 * 2)
        && bench
            .rows
            .iter()
            .any(|r| r.sources == 200 && r.clients == 50)
    {
        bench.findings.push(format!(
            "200 sources at 50 clients need about 20,000 concurrent upstream connections in each process (200 × 50 × 2 searches), but open files are limited to {limit} here and raising the limit is not permitted: both gateways run out of sockets, so that row measures the limit, not the gateways. Överblick has no per-source connection budget yet (issue 6's bulkhead)."
        ));
    }

    let report = Report {
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        machine: harness::machine(),
        setup: format!(
            "Each gateway runs as its own process pinned to one core (`taskset -c 0`); the simulated sources and the closed-loop load generator share the other core. Every source answers after {} ms with {} medications per patient. Each scenario runs {} s after a {} s warm-up{}. Query: one merged medication list for one patient (Överblick: `overview.medications`, with provenance; the peer: one field concatenating every source's MedicationRequest and MedicationStatement searches). Överblick checks a bearer token and writes an access record for every request; the peer does neither.",
            SOURCE_LATENCY.as_millis(),
            harness::ITEMS_PER_SOURCE,
            bench.args.seconds,
            warmup(&bench.args).as_secs_f64(),
            if bench.peer.is_none() {
                ". The peer was not run"
            } else {
                ""
            }
        ),
        rows: bench.rows.clone(),
        timed: bench.timed.clone(),
        findings: bench.findings.clone(),
    };
    let dir = harness::results_dir();
    match report.write(&dir) {
        Ok(()) => println!("\nResults written to {}", dir.display()),
        Err(e) => eprintln!("could not write results: {e}"),
    }
    if bench.args.readme && !bench.args.quick && bench.args.only.is_none() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let content = format!(
            "{}\n![p50 latency against the number of sources](benches/results/overview-latency.png)\n\n",
            report.markdown()
        );
        match report::update_readme(&readme, &content) {
            Ok(true) => println!("README.md updated"),
            Ok(false) => println!("README.md has no bench markers; not updated"),
            Err(e) => eprintln!("could not update README.md: {e}"),
        }
    }
    println!("\n{}", report.markdown());
    println!("Total time: {:.0} s", started.elapsed().as_secs_f64());
}

fn warmup(args: &Args) -> Duration {
    if args.quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(2)
    }
}

impl Bench {
    fn spec(&self, clients: usize, sources: usize) -> LoadSpec {
        LoadSpec {
            clients,
            warmup: warmup(&self.args),
            duration: Duration::from_secs(self.args.seconds),
            check_every: 10,
            expected_items: sources * harness::ITEMS_PER_SOURCE,
            pace: None,
        }
    }

    fn overblick_options(&self, cache: bool, source_timeout: Duration) -> OverblickOptions {
        OverblickOptions {
            cache,
            source_timeout,
            // Long enough never to cut a healthy but queued request short: the scenarios measure
            // latency, they do not test the deadline.
            deadline: Duration::from_secs(60).max(source_timeout),
            cpu: self.gateway_cpu,
            isolate_first: None,
        }
    }

    /// Drives `target` and returns the measured row.
    async fn measure(
        gateway: &'static str,
        scenario: &str,
        target: Target,
        pid: u32,
        sources: &Arc<Sources>,
        spec: &LoadSpec,
    ) -> Row {
        let hits = sources.clone();
        let result = drive(Arc::new(target), spec, Arc::new(move || hits.hits()), pid).await;
        let row = Row::new(
            scenario,
            gateway,
            sources.list.len(),
            spec.clients,
            &result,
            memory(pid).map(|(peak, _)| peak),
        );
        row.print();
        row
    }

    async fn run_overblick(
        &mut self,
        scenario: &str,
        sources: &Arc<Sources>,
        options: &OverblickOptions,
        runs: &[(usize, &str)],
        patients: &[String],
    ) {
        let process =
            match OverblickProcess::start(&harness::overblick_binary(), &sources.urls(), options)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    self.findings
                        .push(format!("Överblick did not start for {scenario}: {e}"));
                    return;
                }
            };
        for &(clients, label) in runs {
            let spec = self.spec(clients, sources.list.len());
            let target = Target::overblick(process.graphql_url(), patients);
            if label.ends_with("warm") {
                harness::prime(&target).await;
            }
            let row =
                Self::measure("Överblick", label, target, process.pid(), sources, &spec).await;
            self.rows.push(row);
        }
    }

    async fn run_peer(
        &mut self,
        scenario: &str,
        sources: &Arc<Sources>,
        config: peer::PeerConfig,
        runs: &[(usize, &str)],
        patients: &[String],
    ) {
        let Some(install) = &self.peer else {
            return;
        };
        let process = match tokio::task::block_in_place(|| install.start(&config)) {
            Ok(p) => p,
            Err(e) => {
                self.findings
                    .push(format!("The peer did not start for {scenario}: {e}"));
                return;
            }
        };
        println!(
            "  (peer composed {} sources in {:.1} s)",
            sources.list.len(),
            process.compose_time().as_secs_f64()
        );
        for &(clients, label) in runs {
            let spec = self.spec(clients, sources.list.len());
            let target = Target::other(process.graphql_url(), patients, peer::request_body, |b| {
                peer::count_items(std::str::from_utf8(b).map_err(|e| e.to_string())?)
            });
            if label.ends_with("warm") {
                harness::prime(&target).await;
            }
            let row =
                Self::measure("Mesh + Hive", label, target, process.pid(), sources, &spec).await;
            self.rows.push(row);
        }
    }

    fn peer_config(
        &self,
        sources: &Sources,
        timeout: Option<Duration>,
        cache: bool,
    ) -> peer::PeerConfig {
        peer::PeerConfig {
            sources: sources.urls(),
            upstream_timeout: timeout,
            cache: cache.then_some(peer::PeerCache {
                ttl: Duration::from_secs(600),
                max_entries: 100_000,
            }),
            cpu: self.gateway_cpu,
        }
    }

    /// 1 and 50 clients, every request to the sources.
    async fn cache_off(&mut self, n: usize) {
        println!("\n{n} source(s), cache off");
        let sources = Arc::new(Sources::start(n, SOURCE_LATENCY).await);
        let noun = if n == 1 { "source" } else { "sources" };
        let one = format!("{n} {noun}, 1 client, cache off");
        let fifty = format!("{n} {noun}, 50 clients, cache off");
        let runs = [(1, one.as_str()), (50, fifty.as_str())];
        let patients = self.patients.clone();
        let options = self.overblick_options(false, Duration::from_secs(30));
        self.run_overblick(&one, &sources, &options, &runs, &patients)
            .await;
        let config = self.peer_config(&sources, None, false);
        self.run_peer(&one, &sources, config, &runs, &patients)
            .await;
    }

    /// 10 sources, cache on, 1,000 patients: from cold at 50 clients, then warm at 1 client.
    async fn cache_on(&mut self) {
        println!("\n10 sources, cache on, 1,000 patients");
        let sources = Arc::new(Sources::start(10, SOURCE_LATENCY).await);
        let cold = "10 sources, 50 clients, cache on, 1,000 patients from cold";
        let warm = "10 sources, 1 client, cache on, warm";
        let runs = [(50, cold), (1, warm)];
        let patients = self.patients.clone();
        let options = self.overblick_options(true, Duration::from_secs(30));
        self.run_overblick(cold, &sources, &options, &runs, &patients)
            .await;
        let config = self.peer_config(&sources, None, true);
        self.run_peer(cold, &sources, config, &runs, &patients)
            .await;
    }

    /// 10 sources, one of them answering after 2 s, with a 500 ms per-source timeout.
    async fn slow_source(&mut self) {
        println!("\n10 sources, one slowed to 2 s, 500 ms per-source timeout");
        let sources = Arc::new(Sources::start(10, SOURCE_LATENCY).await);
        sources.list[0].set_latency(Duration::from_secs(2));
        let one = "10 sources, one at 2 s, 500 ms timeout, 1 client";
        let fifty = "10 sources, one at 2 s, 500 ms timeout, 50 clients";
        let runs = [(1, one), (50, fifty)];
        let patients = self.patients.clone();
        let options = self.overblick_options(false, Duration::from_millis(500));
        self.run_overblick(one, &sources, &options, &runs, &patients)
            .await;
        let config = self.peer_config(&sources, Some(Duration::from_millis(500)), false);
        self.run_peer(one, &sources, config, &runs, &patients).await;
    }

    /// Time to first data and to complete, 10 sources with one answering after 2 s (within its
    /// time limit, so overviews complete), at 1 and 50 clients: Överblick's live overview
    /// (subscription over SSE) and its query, and the peer's query.
    async fn first_data(&mut self) {
        println!("\nTime to first data: 10 sources, one answering after 2 s, 3 s time limit");
        let sources = Arc::new(Sources::start(10, SOURCE_LATENCY).await);
        sources.list[0].set_latency(Duration::from_secs(2));
        let scenario = "10 sources, one at 2 s, cache off";
        let patients = self.patients.clone();
        // Each overview takes 2 s: twice the usual window, so that 1 client gives a few samples.
        let specs: Vec<(usize, LoadSpec)> = [1, 50]
            .into_iter()
            .map(|clients| {
                let spec = LoadSpec {
                    duration: Duration::from_secs(self.args.seconds * 2),
                    ..self.spec(clients, 10)
                };
                (clients, spec)
            })
            .collect();
        let options = self.overblick_options(false, Duration::from_secs(3));
        match OverblickProcess::start(&harness::overblick_binary(), &sources.urls(), &options).await
        {
            Ok(process) => {
                for (clients, spec) in &specs {
                    let clients = *clients;
                    for (ask, asked) in [
                        (Ask::Stream, "Överblick, subscription (SSE)"),
                        (Ask::Query, "Överblick, query"),
                    ] {
                        let url = process.graphql_url();
                        let target = match ask {
                            // Events are read and counted by the timed driver itself.
                            Ask::Stream => Target::overblick_query(
                                url,
                                &patients,
                                OVERBLICK_SUBSCRIPTION,
                                |_| Err("events are counted by the timed driver".into()),
                            ),
                            Ask::Query => Target::overblick(url, &patients),
                        };
                        let result = drive_timed(Arc::new(target), ask, spec, process.pid()).await;
                        self.push_timed(scenario, asked, clients, &result);
                    }
                }
            }
            Err(e) => self.findings.push(format!(
                "Överblick did not start for the first-data run: {e}"
            )),
        }
        let Some(install) = &self.peer else {
            return;
        };
        let config = self.peer_config(&sources, Some(Duration::from_secs(3)), false);
        let process = match tokio::task::block_in_place(|| install.start(&config)) {
            Ok(p) => p,
            Err(e) => {
                self.findings.push(format!(
                    "The peer did not start for the first-data run: {e}"
                ));
                return;
            }
        };
        for (clients, spec) in &specs {
            let target = Target::other(process.graphql_url(), &patients, peer::request_body, |b| {
                peer::count_items(std::str::from_utf8(b).map_err(|e| e.to_string())?)
            });
            let result = drive_timed(Arc::new(target), Ask::Query, spec, process.pid()).await;
            self.push_timed(scenario, "Mesh + Hive, query", *clients, &result);
        }
    }

    fn push_timed(&mut self, scenario: &str, asked: &str, clients: usize, r: &stream::TimedResult) {
        let ms = |h: &hdrhistogram::Histogram<u64>, q| h.value_at_quantile(q) as f64 / 1000.0;
        let row = TimedRow {
            scenario: scenario.to_owned(),
            asked: asked.to_owned(),
            clients,
            rate: r.rate(),
            first_p50: ms(&r.first_data, 0.5),
            first_p99: ms(&r.first_data, 0.99),
            complete_p50: ms(&r.complete, 0.5),
            complete_p99: ms(&r.complete, 0.99),
            cpu_per_overview: r.cpu_ms_per_overview(),
            harness_load: r.harness_cpu.as_secs_f64() / r.elapsed.as_secs_f64().max(1e-9),
            overviews: r.overviews,
            failed: r.failed,
            partial: r.partial,
        };
        row.print();
        self.timed.push(row);
    }

    /// Isolation (issue 6's bulkhead): overviews of medications (which the first source does not
    /// hold) measured while other users' overviews of medications and bookings need the first
    /// source, first at its normal latency, then slowed to 10 s. The slow source's calls are
    /// limited to a few at a time and the rest shed, so the overviews that do not need it
    /// should not notice.
    async fn isolation(&mut self) {
        const BULKHEAD: usize = 8;
        println!(
            "\nIsolation: 10 sources, the bookings source slowed to 10 s (bulkhead {BULKHEAD}); medications-only overviews measured"
        );
        let sources = Arc::new(Sources::start(10, SOURCE_LATENCY).await);
        let options = OverblickOptions {
            isolate_first: Some(BULKHEAD),
            // Calls to the slow source really wait the 10 s, holding their bulkhead slots.
            ..self.overblick_options(false, Duration::from_secs(12))
        };
        let process =
            match OverblickProcess::start(&harness::overblick_binary(), &sources.urls(), &options)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    self.findings.push(format!(
                        "Överblick did not start for the isolation run: {e}"
                    ));
                    return;
                }
            };
        // Medications from the nine other sources: what the measured users ask.
        let measured = Arc::new(Target::overblick(process.graphql_url(), &self.patients));
        let both = "query($p: PersonId) { overview(patient: $p) { medications(status: ALL) { id provenance { sourceId } } bookings { id } } }";
        let others = Arc::new(Target::overblick_query(
            process.graphql_url(),
            &self.patients[500..],
            both,
            |body| {
                let v: serde_json::Value =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                let items = v["data"]["overview"]["medications"]
                    .as_array()
                    .map_or(0, Vec::len);
                Ok((items, v["errors"].as_array().map_or(0, Vec::len)))
            },
        ));
        // Users, not tight loops: each asks at most so often, so that the gateway is not
        // saturated in either phase (a saturated gateway measures its queue, not isolation) and
        // shed answers, which come back at once, do not turn into a flood the baseline never had.
        // Together about half of the gateway's core at baseline.
        let spec = LoadSpec {
            pace: Some(Duration::from_millis(100)),
            ..self.spec(5, 9)
        };
        // Twice as many users as the slow source's bulkhead admits.
        let other_spec = LoadSpec {
            pace: Some(Duration::from_millis(500)),
            ..self.spec(2 * BULKHEAD, 9)
        };
        let mut ratios = Vec::new();
        let mut p = Vec::new();
        for (label, latency) in [
            (
                "isolation: baseline (bookings source at 20 ms)",
                SOURCE_LATENCY,
            ),
            (
                "isolation: bookings source at 10 s",
                Duration::from_secs(10),
            ),
        ] {
            sources.list[0].set_latency(latency);
            let hits = sources.clone();
            let hits2 = sources.clone();
            let (result, other) = tokio::join!(
                drive(
                    measured.clone(),
                    &spec,
                    Arc::new(move || hits.hits()),
                    process.pid()
                ),
                drive(
                    others.clone(),
                    &other_spec,
                    Arc::new(move || hits2.hits()),
                    process.pid()
                ),
            );
            let row = Row::new(
                label,
                "Överblick",
                10,
                spec.clients,
                &result,
                memory(process.pid()).map(|(peak, _)| peak),
            );
            row.print();
            println!(
                "    (meanwhile {} overviews needing the bookings source: p50 {:.1} ms, {} partial of {} checked)",
                other.requests,
                other.percentile_ms(0.5),
                other.partial,
                other.checked
            );
            p.push((result.percentile_ms(0.5), result.percentile_ms(0.99)));
            self.rows.push(row);
        }
        sources.list[0].set_latency(SOURCE_LATENCY);
        if let [(b50, b99), (s50, s99)] = p[..] {
            ratios.push((s50 / b50, s99 / b99));
            self.findings.push(format!(
                "Isolation: with the bookings source slowed from 20 ms to 10 s (its calls limited to {BULKHEAD} at a time, the rest shed), overviews that do not need it had p50 {s50:.1} ms against {b50:.1} ms before ({:.2}×) and p99 {s99:.1} ms against {b99:.1} ms ({:.2}×).",
                s50 / b50,
                s99 / b99
            ));
        }
        println!("  isolation ratios (p50, p99): {ratios:?}");
    }

    /// Resident memory of Överblick over a long run with the cache filling.
    async fn memory(&mut self) {
        let seconds = self.args.memory_seconds;
        println!("\nMemory: 10 sources, 50 clients, cache on, 1,000 patients, {seconds} s");
        let sources = Arc::new(Sources::start(10, SOURCE_LATENCY).await);
        let options = self.overblick_options(true, Duration::from_secs(30));
        let process =
            match OverblickProcess::start(&harness::overblick_binary(), &sources.urls(), &options)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    self.findings
                        .push(format!("Överblick did not start for the memory run: {e}"));
                    return;
                }
            };
        let spec = LoadSpec {
            clients: 50,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(seconds),
            check_every: 10,
            expected_items: 10 * harness::ITEMS_PER_SOURCE,
            pace: None,
        };
        let target = Arc::new(Target::overblick(process.graphql_url(), &self.patients));
        let hits = sources.clone();
        let (result, samples) = harness::sample_memory(
            process.pid(),
            Duration::from_secs(1),
            drive(target, &spec, Arc::new(move || hits.hits()), process.pid()),
        )
        .await;
        // Warm-up: the first fifth of the run (the cache fills with all 1,000 patients).
        let warm_from = Duration::from_secs(seconds / 5);
        let after: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| *t >= warm_from)
            .map(|(_, rss)| *rss)
            .collect();
        let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
        if let (Some(first), Some(last), Some(max)) =
            (after.first(), after.last(), after.iter().max())
        {
            let growth = mib(*last) - mib(*first);
            self.findings.push(format!(
                "Memory over a {seconds} s run at 50 clients (cache on, 1,000 patients, {:.0} requests): resident {:.1} MiB after warm-up, {:.1} MiB at the end (change {:+.1} MiB), highest {:.1} MiB; peak RSS {}.",
                result.rate() * result.elapsed.as_secs_f64(),
                mib(*first),
                mib(*last),
                growth,
                mib(*max),
                memory(process.pid()).map_or("-".into(), |(peak, _)| format!("{:.1} MiB", mib(peak)))
            ));
        }
        let row = Row::new(
            &format!("memory run: 10 sources, 50 clients, cache on, {seconds} s"),
            "Överblick",
            10,
            50,
            &result,
            memory(process.pid()).map(|(peak, _)| peak),
        );
        row.print();
        self.rows.push(row);
    }

    /// The targets, each with what this run measured.
    fn targets(&mut self) {
        let ov = |s: &str, rows: &[Row]| {
            rows.iter()
                .find(|r| r.scenario == s && r.gateway == "Överblick")
                .cloned()
        };
        let pe = |s: &str, rows: &[Row]| {
            rows.iter()
                .find(|r| r.scenario == s && r.gateway != "Överblick")
                .cloned()
        };
        let rows = self.rows.clone();
        let slowest = SOURCE_LATENCY.as_secs_f64() * 1000.0;

        if let Some(o) = ov("10 sources, 1 client, cache off", &rows) {
            let added = o.p50 - slowest;
            let peer = pe("10 sources, 1 client, cache off", &rows)
                .map(|p| format!(" (the peer: {:.1} ms)", p.p50 - slowest))
                .unwrap_or_default();
            self.findings.push(format!(
                "Target, 1 client, 10 sources: p50 at most 2 ms above the slowest source: **{}**, {:.1} ms above{peer}.",
                if added <= 2.0 { "met" } else { "missed" },
                added
            ));
        }
        if let (Some(o), Some(p)) = (
            ov("10 sources, 50 clients, cache off", &rows),
            pe("10 sources, 50 clients, cache off", &rows),
        ) {
            let rate = o.rate / p.rate;
            let p99 = p.p99 / o.p99;
            self.findings.push(format!(
                "Target, 50 clients, 10 sources, cache off: at least 10× the peer's req/s: **{}**, {:.1}×; p99 at most a tenth of the peer's: **{}**, {:.1}× lower.",
                if rate >= 10.0 { "met" } else { "missed" },
                rate,
                if p99 >= 10.0 { "met" } else { "missed" },
                p99
            ));
        }
        for gateway in ["Överblick", "Mesh + Hive"] {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| {
                    r.gateway == gateway && r.clients == 1 && r.scenario.ends_with("cache off")
                })
                .map(|r| (r.sources as f64, r.p50))
                .collect();
            if points.len() >= 3 {
                let (slope, intercept) = fit(&points);
                let worst = points
                    .iter()
                    .map(|(x, y)| (y - (intercept + slope * x)).abs())
                    .fold(0.0, f64::max);
                self.findings.push(format!(
                    "Added latency per extra source (1 client, least squares over {} source counts): {gateway} {:.3} ms per source (intercept {:.1} ms, largest deviation from the line {:.1} ms).",
                    points.len(),
                    slope,
                    intercept,
                    worst
                ));
            }
        }
        if let Some(o) = ov(
            "10 sources, 50 clients, cache on, 1,000 patients from cold",
            &rows,
        ) {
            let full = 2.0 * 10.0;
            self.findings.push(format!(
                "Cache on, 1,000 patients from cold: {:.2} upstream calls per request where a miss costs {:.0}: a hit ratio of {:.1}%.",
                o.upstream_per_request,
                full,
                100.0 * (1.0 - o.upstream_per_request / full)
            ));
        }
        if let Some(o) = ov("10 sources, 1 client, cache on, warm", &rows) {
            self.findings.push(format!(
                "Target, a cached overview under 1 ms p50: **{}**, {:.2} ms (p99 {:.2} ms).",
                if o.p50 < 1.0 { "met" } else { "missed" },
                o.p50,
                o.p99
            ));
        }
    }
}

/// Least-squares line through `points`: (slope, intercept).
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    let slope = if den == 0.0 { 0.0 } else { num / den };
    (slope, my - slope * mx)
}
