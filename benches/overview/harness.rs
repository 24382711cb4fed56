//! The benchmark harness: fixed-latency sources, the gateway under test as its own process, a
//! closed-loop load generator and what is measured. Shared by `cargo bench --bench overview` and
//! the smoke test in the test suite.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use overblick::auth::demo;
use overblick::domain::PersonId;
use overblick_simulators::fixed::{FixedSource, FixedSpec};

/// Items each source reports per patient.
pub const ITEMS_PER_SOURCE: usize = 20;

/// The simulated sources of one scenario.
pub struct Sources {
    pub list: Vec<FixedSource>,
}

impl Sources {
    pub async fn start(count: usize, latency: Duration) -> Sources {
        let mut list = Vec::with_capacity(count);
        for index in 0..count {
            let spec = FixedSpec {
                index,
                medications: ITEMS_PER_SOURCE,
                latency,
            };
            list.push(
                FixedSource::start(&spec)
                    .await
                    .expect("a fixed source starts on loopback"),
            );
        }
        Sources { list }
    }

    pub fn urls(&self) -> Vec<String> {
        self.list.iter().map(|s| s.base_url().to_owned()).collect()
    }

    pub fn hits(&self) -> u64 {
        self.list.iter().map(FixedSource::hits).sum()
    }
}

/// `count` different valid personnummer (born on consecutive days from 1950).
pub fn patients(count: usize) -> Vec<String> {
    let start = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).expect("a valid date");
    (0..count)
        .map(|k| {
            let born = start + chrono::Days::new(k as u64);
            let stem = format!("{}123", born.format("%Y%m%d"));
            (0..10)
                .map(|c| format!("{stem}{c}"))
                .find(|candidate| PersonId::parse(candidate).is_ok())
                .expect("one check digit fits")
        })
        .collect()
}

/// Raises this process's open-file limit (children inherit it): a gateway with 200 sources and
/// 50 clients holds about 20,000 upstream connections, and the sources as many again. Returns
/// the limit in force afterwards.
pub fn raise_file_limit(to: u64) -> Option<u64> {
    let pid = std::process::id().to_string();
    let limit = format!("--nofile={to}:{to}");
    let raised = Command::new("prlimit")
        .args(["--pid", &pid, &limit])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let now = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        });
    if !raised {
        eprintln!(
            "note: the open-file limit could not be raised to {to} (it stays {}): scenarios with many sources may run out of sockets",
            now.map_or("unknown".into(), |n: u64| n.to_string())
        );
    }
    now
}

/// Pins the calling process (all its threads) to one CPU.
pub fn pin_self(cpu: usize) {
    let pid = std::process::id().to_string();
    let ok = Command::new("taskset")
        .args(["-a", "-cp", &cpu.to_string(), &pid])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: taskset is missing or failed: the load generator is not pinned");
    }
}

/// A free port on 127.0.0.1 (bound and released; the gateway binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// How to run Överblick for a scenario.
#[derive(Clone, Debug)]
pub struct OverblickOptions {
    pub cache: bool,
    pub source_timeout: Duration,
    pub deadline: Duration,
    pub cpu: Option<usize>,
    /// The isolation scenario: the first source offers bookings only (so overviews of
    /// medications alone do not need it) and may have at most this many calls in progress.
    pub isolate_first: Option<usize>,
}

/// Överblick as its own process, configured against the given sources.
pub struct OverblickProcess {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl OverblickProcess {
    pub async fn start(
        binary: &Path,
        sources: &[String],
        options: &OverblickOptions,
    ) -> Result<OverblickProcess, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let catalog = dir.path().join("sources");
        std::fs::create_dir_all(&catalog).map_err(|e| e.to_string())?;
        for (i, url) in sources.iter().enumerate() {
            let (domain, policy) = match options.isolate_first {
                Some(limit) if i == 0 => {
                    ("bookings", format!("[policy]\nmax_concurrent = {limit}\n"))
                }
                _ => ("medications", String::new()),
            };
            std::fs::write(
                catalog.join(format!("s{i:03}.toml")),
                format!(
                    "id = \"s{i:03}\"\nname = \"Source {i}\"\ndomains = [\"{domain}\"]\n{policy}[protocol.fhir-r4]\nbase_url = \"{url}\"\n\n[care_provider]\nname = \"Provider {i}\"\n"
                ),
            )
            .map_err(|e| e.to_string())?;
        }
        let port = free_port();
        let config = dir.path().join("overblick.toml");
        // Demo mode only so that demo tokens are accepted; everything else is as in production.
        std::fs::write(
            &config,
            format!(
                "mode = \"demo\"\nlisten = \"127.0.0.1:{port}\"\nsources = \"sources\"\ngraphiql = false\n\
                 [engine]\ndeadline = \"{}ms\"\n[policy]\ntimeout = \"{}ms\"\nmax_concurrent = 1000000\n\
                 [rate_limit]\nenabled = false\n\
                 [cache]\nenabled = {}\nttl = \"10m\"\nstale_window = \"10m\"\nmax_entries = 1000000\n\
                 [database]\nurl = \"sqlite://overblick.sqlite?mode=rwc\"\n",
                options.deadline.as_millis(),
                options.source_timeout.as_millis(),
                options.cache
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut command = match options.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string()]);
                c
            }
            None => Command::new("env"),
        };
        // OVERBLICK_BENCH_PERF=<file> runs the gateway under `perf record` (call graphs from
        // DWARF), to find where the time goes; memory figures are then perf's, not the gateway's.
        if let Some(out) = std::env::var_os("OVERBLICK_BENCH_PERF") {
            command
                .args([
                    "perf",
                    "record",
                    "-F",
                    "2000",
                    "--call-graph",
                    "dwarf,16384",
                    "-o",
                ])
                .arg(out)
                .arg("--");
        }
        command.arg(binary);
        // Warnings only: per-request info lines would be measured as gateway work.
        command
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let process = OverblickProcess {
            child,
            url: format!("http://127.0.0.1:{port}/graphql"),
            _dir: dir,
        };
        wait_until_up(
            &format!("http://127.0.0.1:{port}/healthz"),
            Duration::from_secs(30),
        )
        .await?;
        Ok(process)
    }

    pub fn graphql_url(&self) -> &str {
        &self.url
    }

    /// With `taskset -c N binary`, taskset execs the binary: the pid is the gateway's.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OverblickProcess {
    fn drop(&mut self) {
        // SIGINT, not SIGKILL, so that a wrapping `perf record` can write its data.
        let interrupted = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if interrupted {
            for _ in 0..100 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_until_up(url: &str, within: Duration) -> Result<(), String> {
    let client = reqwest::Client::new();
    let until = Instant::now() + within;
    while Instant::now() < until {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{url} did not answer within {within:?}"))
}

/// Peak and current resident memory of a process, in bytes (Linux `/proc`).
pub fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Counts the items (and GraphQL errors) in an answer body.
pub type CountItems = fn(&[u8]) -> Result<(usize, usize), String>;

/// The gateway a load is driven against, with the request for each patient built in advance so
/// the load generator spends its time waiting, not encoding.
pub struct Target {
    pub url: String,
    /// Per patient: the request body and the Authorization header, if any.
    requests: Vec<(axum::body::Bytes, Option<String>)>,
    count: CountItems,
}

/// The query Överblick answers: the same fields the peer returns.
pub const OVERBLICK_QUERY: &str = "query($p: PersonId) { overview(patient: $p) { medications(status: ALL) { id name status dosage start provenance { sourceId recordId } } } }";

impl Target {
    pub fn overblick(url: &str, patients: &[String]) -> Target {
        let requests = patients
            .iter()
            .map(|p| {
                let person = PersonId::parse(p).expect("valid test patients");
                let token = demo::mint(&person, None, Duration::from_secs(24 * 3600));
                let body = serde_json::json!({ "query": OVERBLICK_QUERY, "variables": { "p": p } });
                (
                    axum::body::Bytes::from(body.to_string()),
                    Some(format!("Bearer {token}")),
                )
            })
            .collect();
        Target {
            url: url.to_owned(),
            requests,
            count: count_overblick_items,
        }
    }

    /// Överblick asked `query` (with `$p` the patient), answers counted by `count`.
    pub fn overblick_query(
        url: &str,
        patients: &[String],
        query: &str,
        count: CountItems,
    ) -> Target {
        let mut target = Target::overblick(url, patients);
        for ((body, _), p) in target.requests.iter_mut().zip(patients) {
            let json = serde_json::json!({ "query": query, "variables": { "p": p } });
            *body = axum::body::Bytes::from(json.to_string());
        }
        target.count = count;
        target
    }

    pub fn other(
        url: &str,
        patients: &[String],
        body: fn(&str) -> String,
        count: CountItems,
    ) -> Target {
        Target {
            url: url.to_owned(),
            requests: patients
                .iter()
                .map(|p| (axum::body::Bytes::from(body(p)), None))
                .collect(),
            count,
        }
    }
}

impl Target {
    /// Per patient: the request body and the Authorization header, if any.
    pub fn requests(&self) -> &[(axum::body::Bytes, Option<String>)] {
        &self.requests
    }

    /// Counts the items (and errors) in an answer.
    pub fn counter(&self) -> CountItems {
        self.count
    }
}

fn count_overblick_items(body: &[u8]) -> Result<(usize, usize), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let items = v["data"]["overview"]["medications"]
        .as_array()
        .map_or(0, Vec::len);
    let errors = v["errors"].as_array().map_or(0, Vec::len);
    Ok((items, errors))
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Check the item count of every n-th answer (parsing every one would load the
    /// generator's core).
    pub check_every: u64,
    /// Items a complete answer holds.
    pub expected_items: usize,
    /// Each client sends at most one request per this interval (a user, not a tight loop);
    /// `None`: the next request as soon as the last is answered.
    pub pace: Option<Duration>,
}

/// What one load run measured.
#[derive(Clone, Debug)]
pub struct LoadResult {
    pub requests: u64,
    /// Answers that were not HTTP 200 or could not be read.
    pub failed: u64,
    /// Checked answers with fewer items than expected or with GraphQL errors.
    pub partial: u64,
    pub checked: u64,
    pub elapsed: Duration,
    /// Latency in microseconds.
    pub latency: Histogram<u64>,
    /// Calls the sources received during the measured window.
    pub upstream: u64,
    /// Requests sent during the measured window (answered or not by its end): in a steady
    /// state, upstream calls per request is `upstream / started`, whatever the latency.
    pub started: u64,
    /// CPU time the gateway used during the measured window.
    pub gateway_cpu: Duration,
    /// CPU time this process (sources and load generator) used during the measured window.
    pub harness_cpu: Duration,
}

impl LoadResult {
    /// Gateway CPU per request, in milliseconds.
    pub fn cpu_ms_per_request(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.gateway_cpu.as_secs_f64() * 1000.0 / self.requests as f64
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    // Linux reports clock ticks of 1/100 s on every platform this runs on.
    Duration::from_millis(ticks * 10)
}

impl LoadResult {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Drives `spec.clients` clients in a closed loop (each sends its next request when the last
/// one is answered), cycling through the patients, and measures after the warm-up.
pub async fn drive(
    target: Arc<Target>,
    spec: &LoadSpec,
    upstream_calls: Arc<dyn Fn() -> u64 + Send + Sync>,
    gateway_pid: u32,
) -> LoadResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(spec.clients.max(1) * 2)
        .tcp_nodelay(true)
        .build()
        .expect("an HTTP client");
    let started = Instant::now();
    let measure_from = started + spec.warmup;
    let stop_at = measure_from + spec.duration;
    let at_start = {
        let calls = upstream_calls.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            (calls(), cpu_time(gateway_pid), cpu_time(std::process::id()))
        })
    };
    let mut tasks = Vec::new();
    for c in 0..spec.clients {
        let client = client.clone();
        let target = target.clone();
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
            let (mut requests, mut failed, mut partial, mut checked) = (0u64, 0u64, 0u64, 0u64);
            let mut started = 0u64;
            // Clients start at different patients so that they do not move in lockstep.
            let mut next = c * target.requests.len() / spec.clients.max(1);
            let mut sent = 0u64;
            // Paced clients spread over the interval rather than arriving in step.
            if let Some(pace) = spec.pace {
                tokio::time::sleep(pace * c as u32 / spec.clients.max(1) as u32).await;
            }
            loop {
                let now = Instant::now();
                if now >= stop_at {
                    break;
                }
                let (body, auth) = &target.requests[next % target.requests.len()];
                next += 1;
                if now >= measure_from {
                    started += 1;
                }
                let mut request = client
                    .post(&target.url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                let outcome = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.bytes().await.ok().map(|b| (status, b))
                    }
                    Err(_) => None,
                };
                let done = Instant::now();
                if let Some(pace) = spec.pace {
                    tokio::time::sleep_until((now + pace).into()).await;
                }
                if now < measure_from {
                    continue;
                }
                requests += 1;
                sent += 1;
                latency.saturating_record((done - now).as_micros() as u64);
                match outcome {
                    // The peer answers 504 when a source times out, with the others' data.
                    Some((status, body)) if status == 200 || status == 504 => {
                        if status != 200 || sent.is_multiple_of(spec.check_every) {
                            checked += 1;
                            match (target.count)(&body) {
                                Ok((items, errors))
                                    if items == spec.expected_items && errors == 0 => {}
                                Ok(_) => partial += 1,
                                Err(_) => failed += 1,
                            }
                        }
                    }
                    _ => failed += 1,
                }
            }
            (latency, requests, failed, partial, checked, started)
        }));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    let (mut requests, mut failed, mut partial, mut checked, mut started) = (0, 0, 0, 0, 0);
    for task in tasks {
        let (h, r, f, p, c, s) = task.await.expect("a client task finishes");
        started += s;
        latency.add(&h).expect("same bounds");
        requests += r;
        failed += f;
        partial += p;
        checked += c;
    }
    let (upstream0, gateway0, harness0) =
        at_start
            .await
            .unwrap_or((0, Duration::ZERO, Duration::ZERO));
    LoadResult {
        upstream: upstream_calls().saturating_sub(upstream0),
        started,
        gateway_cpu: cpu_time(gateway_pid).saturating_sub(gateway0),
        harness_cpu: cpu_time(std::process::id()).saturating_sub(harness0),
        requests,
        failed,
        partial,
        checked,
        // Requests still in flight at the end finish after the window: count the time they took.
        elapsed: Instant::now().saturating_duration_since(measure_from),
        latency,
    }
}

/// Asks once for every patient (50 at a time), so that a cache holds them all.
pub async fn prime(target: &Target) {
    let client = reqwest::Client::new();
    let chunks: Vec<_> = target.requests.chunks(50).collect();
    for chunk in chunks {
        let calls = chunk.iter().map(|(body, auth)| {
            let mut request = client
                .post(&target.url)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            async move {
                if let Ok(response) = request.send().await {
                    let _ = response.bytes().await;
                }
            }
        });
        futures::future::join_all(calls).await;
    }
}

/// Samples a process's resident memory every `every` while `during` runs; returns the samples.
pub async fn sample_memory<F: std::future::Future>(
    pid: u32,
    every: Duration,
    during: F,
) -> (F::Output, Vec<(Duration, u64)>) {
    let started = Instant::now();
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            loop {
                if let Some((_, rss)) = memory(pid) {
                    samples
                        .lock()
                        .expect("not poisoned")
                        .push((started.elapsed(), rss));
                }
                tokio::time::sleep(every).await;
            }
        })
    };
    let output = during.await;
    sampler.abort();
    let samples = samples.lock().expect("not poisoned").clone();
    (output, samples)
}

/// Where results go: `benches/results/` in the source tree.
pub fn results_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results")
}

/// A short description of this machine for the report.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    // Counted from /proc/cpuinfo: this process may be pinned to one of them.
    let cores = std::fs::read_to_string("/proc/cpuinfo").map_or(0, |s| {
        s.lines().filter(|l| l.starts_with("processor")).count()
    });
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(String::new, |kb| {
            format!(", {} GiB", (kb as f64 / 1024.0 / 1024.0).round())
        });
    format!("{cpu}, {cores} cores{memory}")
}

/// Overblick's release binary, as cargo built it for this bench or test.
pub fn overblick_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_overblick"))
}
