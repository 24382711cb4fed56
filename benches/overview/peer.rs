//! The off-the-shelf peer Överblick is measured against: GraphQL Mesh v1 (compose) + Hive
//! Gateway, installed from the npm registry and run as a child process (see `shared/docs/PEER.md`).
//!
//! What it does, per patient, is what Överblick does: for every source (a FHIR R4 base URL) it
//! sends, with `Accept: application/fhir+json`, the two searches Överblick's FHIR adapter sends
//! (`src/sources/fhir/source.rs`), byte for byte:
//! `GET {base}/MedicationRequest?patient.identifier=urn%3Aoid%3A1.2.752.129.2.1.3.1%7C{digits}&_include=MedicationRequest:medication&_count=100`
//! and the same for `MedicationStatement`, and answers one merged list. (It does not follow
//! `next` page links: with `_count=100` a search of up to 100 matches is one page.)
//!
//! Each source is one JSON-schema REST subgraph (`loadJSONSchemaSubgraph("source{i}", ...)`, a
//! `responseSchema` typing the searchset Bundle) with two generated root fields;
//! `additionalTypeDefs` declares `medications(patient: String!): [Medication]!` and an
//! `additionalResolvers` resolver in the gateway config calls every source's two fields
//! concurrently through Mesh's in-context SDK and concatenates the matches (MedicationRequest and
//! MedicationStatement entries of search mode `match`; the medication's name from its concept or
//! from the `_include`d Medication). A search that fails (timeout, HTTP error) becomes one `null`
//! item at its place in the list plus an entry in `errors`, so the other sources' items still
//! arrive; with `upstreamTimeout` the whole answer is then HTTP 504 with `data` present.
//!
//! Gateway options: one process (`--fork 1`), log level `error`, schema polling off (the
//! supergraph file never changes during a run), `NODE_ENV=production` (without it the gateway
//! spends about half as much CPU again per request), `upstreamTimeout` when
//! [`PeerConfig::upstream_timeout`] is set, and response caching when [`PeerConfig::cache`] is
//! set (responses with errors are not cached). `inboundInflightRequestDeduplication` stays OFF:
//! Överblick's cache-off scenario has no coalescing of identical requests either. `--jit` is not
//! used (not a default).
//!
//! Measured here (2 cores, Node 20, gateway pinned to one core, sources answering 20 items per
//! search after 20 ms): compose 2.6 s for 1 source, 3.3-4.3 s for 10, 4.5-7.5 s for 50,
//! 8.8-13.6 s for 200; start to ready another 4-7 s; the first request after start takes
//! 0.7-3 s (warm-up: send a few before measuring). One connection, 10 sources: p50 about 50 ms,
//! about 30 ms of gateway CPU per request (1 source: p50 29 ms, 8 ms CPU). Peak RSS 280 MB
//! (1 source) to 800 MB (200 sources).
//!
//! Blocking API (std::process, std::net): call `install` and `PeerInstall::start` from a plain
//! thread or `tokio::task::spawn_blocking`, not from inside an async task. Files: the install
//! folder holds package.json, node_modules (about 530 MB, 790 packages), npm-install.log and a
//! `run-*` folder per running gateway (removed when its [`PeerProcess`] is dropped; left behind
//! if the benchmark is killed, while the gateway itself then exits within a second).

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The npm packages and exact versions that worked together (PEER.md).
pub const PACKAGES: &[(&str, &str)] = &[
    ("@graphql-hive/gateway", "2.15.1"),
    ("@graphql-mesh/compose-cli", "1.8.2"),
    ("@omnigraph/json-schema", "0.112.4"),
    ("@graphql-mesh/cache-inmemory-lru", "0.11.1"),
    ("graphql", "16.15.0"),
];

/// Transitive dependencies are resolved as the registry stood at this moment (`npm install
/// --before`), so two installs on different days get the same tree (`npm ci`-like without
/// shipping a 370 kB lockfile).
pub const NPM_BEFORE: &str = "2026-11-22T00:00:00Z";

/// Items per search assumed when sizing the response cache's LRU (see [`PeerCache`]).
pub const CACHE_ITEMS_PER_SEARCH: usize = 20;

/// How long `start` waits for the gateway to answer `/healthcheck` and `/readiness`.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `mesh-compose` may take (200 sources take seconds, not minutes).
pub const COMPOSE_TIMEOUT: Duration = Duration::from_secs(600);

/// The peer's npm packages, installed once into a scratch folder.
#[derive(Debug, Clone)]
pub struct PeerInstall {
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// npm (or node) is not on PATH: the caller skips the peer and says so.
    #[error(
        "npm or node is not on PATH: the peer (GraphQL Mesh + Hive Gateway) cannot be installed"
    )]
    NpmMissing,
    #[error("npm install of the peer failed: {0}")]
    Install(String),
    #[error("mesh-compose failed: {0}")]
    Compose(String),
    #[error("hive-gateway did not start: {0}")]
    Start(String),
}

/// The package.json written into the install folder (exact versions only).
fn package_json() -> String {
    let deps: serde_json::Map<String, serde_json::Value> = PACKAGES
        .iter()
        .map(|(name, version)| ((*name).to_owned(), serde_json::Value::from(*version)))
        .collect();
    let doc = serde_json::json!({
        "name": "overblick-bench-peer",
        "version": "0.0.0",
        "private": true,
        "description": "GraphQL Mesh + Hive Gateway, installed by overblick's benchmark",
        "dependencies": deps,
    });
    let mut text = serde_json::to_string_pretty(&doc).expect("static JSON");
    text.push('\n');
    text
}

/// Whether `program --version` runs; `Ok(false)` when it is not on PATH.
fn runs(program: &str) -> Result<bool, PeerError> {
    match Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => Ok(out.status.success()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(PeerError::Install(format!("cannot run {program}: {e}"))),
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn tail_of_file(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => tail(&String::from_utf8_lossy(&bytes), lines),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The entry point of `package`'s bin `bin`, from its package.json (the real JS file node runs,
/// not the `.bin` shim).
fn bin_path(dir: &Path, package: &str, bin: &str) -> Result<PathBuf, String> {
    let pkg_dir = dir.join("node_modules").join(package);
    let manifest = pkg_dir.join("package.json");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let rel = match &json["bin"] {
        serde_json::Value::String(s) => Some(s.as_str()),
        serde_json::Value::Object(map) => map.get(bin).and_then(|v| v.as_str()),
        _ => None,
    }
    .ok_or_else(|| format!("{} has no bin {bin}", manifest.display()))?;
    let path = pkg_dir.join(rel);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} is missing", path.display()))
    }
}

/// Whether `dir` holds exactly the wanted versions and both entry points.
fn install_is_complete(dir: &Path) -> bool {
    let versions_match = PACKAGES.iter().all(|(name, version)| {
        let manifest = dir.join("node_modules").join(name).join("package.json");
        fs::read_to_string(manifest)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|j| j["version"].as_str() == Some(*version))
    });
    versions_match
        && bin_path(dir, "@graphql-hive/gateway", "hive-gateway").is_ok()
        && bin_path(dir, "@graphql-mesh/compose-cli", "mesh-compose").is_ok()
}

/// Installs the exact package versions from PEER.md into `scratch` (reusing an existing install
/// there when package.json and node_modules match), with `npm ci`-like determinism where possible
/// (write a package.json with exact versions; `npm install --no-audit --no-fund`).
pub fn install(scratch: &Path) -> Result<PeerInstall, PeerError> {
    if !runs("node")? || !runs("npm")? {
        return Err(PeerError::NpmMissing);
    }
    fs::create_dir_all(scratch)
        .map_err(|e| PeerError::Install(format!("cannot create {}: {e}", scratch.display())))?;
    let dir = scratch
        .canonicalize()
        .map_err(|e| PeerError::Install(format!("{}: {e}", scratch.display())))?;
    let wanted = package_json();
    let manifest = dir.join("package.json");
    if fs::read_to_string(&manifest).is_ok_and(|t| t == wanted) && install_is_complete(&dir) {
        return Ok(PeerInstall { dir });
    }
    fs::write(&manifest, &wanted)
        .map_err(|e| PeerError::Install(format!("cannot write {}: {e}", manifest.display())))?;
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--save-exact",
        ])
        .arg(format!("--before={NPM_BEFORE}"))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| PeerError::Install(format!("cannot run npm: {e}")))?;
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    // Kept for whoever wonders what npm said (EBADENGINE warnings are expected on Node 20).
    let _ = fs::write(dir.join("npm-install.log"), &log);
    if !out.status.success() {
        return Err(PeerError::Install(format!(
            "npm install in {} exited with {}:\n{}",
            dir.display(),
            out.status,
            tail(&log, 30)
        )));
    }
    if !install_is_complete(&dir) {
        return Err(PeerError::Install(format!(
            "npm install in {} succeeded but the packages are not all there:\n{}",
            dir.display(),
            tail(&log, 30)
        )));
    }
    Ok(PeerInstall { dir })
}

/// Response caching, shared by all clients (keyed by the query text and its variables).
///
/// `max_entries` counts cached responses (patients). Hive's response cache stores, besides the
/// response, two keys per distinct `Medication` id it holds (for invalidation), all in one LRU
/// counted in keys; the LRU is therefore sized to
/// `max_entries * (1 + 2 * (2 * CACHE_ITEMS_PER_SEARCH * sources + 8))` keys, which holds
/// `max_entries` responses when every search answers at most [`CACHE_ITEMS_PER_SEARCH`] items
/// with distinct ids (and more responses when they answer fewer).
#[derive(Debug, Clone)]
pub struct PeerCache {
    pub ttl: Duration,
    pub max_entries: usize,
}

#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// FHIR base URLs of the sources, e.g. "http://127.0.0.1:PORT/fhir" (no trailing slash).
    pub sources: Vec<String>,
    /// Hive Gateway `upstreamTimeout`; None = its default.
    pub upstream_timeout: Option<Duration>,
    /// Response caching (keyed by the query and its variables); None = off.
    pub cache: Option<PeerCache>,
    /// Pin the gateway process (and its children) to this CPU with `taskset -c N`; None = no pinning.
    pub cpu: Option<usize>,
}

/// Compose config: reads `peer.json` beside it.
const MESH_CONFIG: &str = r#"// Written by overblick's benches/overview/peer.rs: one JSON-schema REST subgraph per FHIR
// source with its two searches, and the merged `medications` field (resolver: gateway.config.mjs).
import { readFileSync } from 'node:fs';
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadJSONSchemaSubgraph } from '@omnigraph/json-schema';

const { sources } = JSON.parse(readFileSync(new URL('./peer.json', import.meta.url), 'utf8'));
// The patient token as Överblick sends it: urn:oid:1.2.752.129.2.1.3.1|<digits>, percent-encoded.
const TOKEN = 'urn%3Aoid%3A1.2.752.129.2.1.3.1%7C{args.patient}';
const Text = { type: 'object', title: 'FhirText', properties: { text: { type: 'string' } } };
const Coding = { type: 'object', title: 'FhirCoding',
  properties: { system: { type: 'string' }, code: { type: 'string' }, display: { type: 'string' } } };
const Concept = { type: 'object', title: 'FhirCodeableConcept',
  properties: { text: { type: 'string' }, coding: { type: 'array', items: Coding } } };
// What is needed of a searchset Bundle of MedicationRequests or MedicationStatements (matches)
// and the Medications they reference (`_include`d, search mode `include`).
const Bundle = { type: 'object', title: 'FhirBundle', properties: {
  resourceType: { type: 'string' }, type: { type: 'string' }, total: { type: 'integer' },
  entry: { type: 'array', items: { type: 'object', title: 'FhirBundleEntry', properties: {
    fullUrl: { type: 'string' },
    search: { type: 'object', title: 'FhirBundleEntrySearch', properties: { mode: { type: 'string' } } },
    resource: { type: 'object', title: 'FhirMedicationResource', properties: {
      resourceType: { type: 'string' }, id: { type: 'string' }, status: { type: 'string' },
      medicationCodeableConcept: Concept,
      medicationReference: { type: 'object', title: 'FhirReference',
        properties: { reference: { type: 'string' }, display: { type: 'string' } } },
      code: Concept,
      dosageInstruction: { type: 'array', items: Text }, dosage: { type: 'array', items: Text },
      authoredOn: { type: 'string' }, effectiveDateTime: { type: 'string' },
    } },
  } } },
} };

export const composeConfig = defineConfig({
  subgraphs: sources.map((endpoint, i) => ({
    sourceHandler: loadJSONSchemaSubgraph(`source${i}`, {
      endpoint,
      operationHeaders: { Accept: 'application/fhir+json' },
      operations: ['MedicationRequest', 'MedicationStatement'].map(type => ({
        type: 'Query', field: `source${i}_${type}`, method: 'GET',
        path: `/${type}?patient.identifier=${TOKEN}&_include=${type}:medication&_count=100`,
        argTypeMap: { patient: { type: 'string' } },
        responseSchema: Bundle,
      })),
    }),
  })),
  additionalTypeDefs: /* GraphQL */ `
    type Medication {
      source: String!
      resourceType: String!
      id: String
      status: String
      medication: String
      dosage: String
      authoredOn: String
    }
    extend type Query {
      "Every source's MedicationRequests and MedicationStatements; a failed search is a null item plus an error."
      medications(patient: String!): [Medication]!
    }
  `,
});
"#;

/// Gateway config: reads `peer.json` beside it.
const GATEWAY_CONFIG: &str = r#"// Written by overblick's benches/overview/peer.rs: serves the composed supergraph.
import { readFileSync } from 'node:fs';
import { defineConfig } from '@graphql-hive/gateway';
import InMemoryLRUCache from '@graphql-mesh/cache-inmemory-lru';

const peer = JSON.parse(readFileSync(new URL('./peer.json', import.meta.url), 'utf8'));
const TYPES = ['MedicationRequest', 'MedicationStatement'];
const SELECTION = `{ entry { search { mode } resource { resourceType id status
  medicationCodeableConcept { text } medicationReference { reference display } code { text }
  dosageInstruction { text } dosage { text } authoredOn effectiveDateTime } } }`;
// One source's answer to one search: its matches, the medication named from the concept or the
// included Medication the reference points at.
const items = (source, bundle) => {
  const entries = (bundle?.entry ?? []).filter(e => e?.resource);
  const included = new Map(entries.filter(e => e.resource.resourceType === 'Medication')
    .map(e => [`Medication/${e.resource.id}`, e.resource]));
  return entries
    .filter(e => (e.search?.mode ?? 'match') === 'match' && TYPES.includes(e.resource.resourceType))
    .map(({ resource: r }) => ({
      source, resourceType: r.resourceType, id: r.id, status: r.status,
      medication: r.medicationCodeableConcept?.text
        ?? included.get(r.medicationReference?.reference)?.code?.text
        ?? r.medicationReference?.display ?? null,
      dosage: (r.dosageInstruction ?? r.dosage ?? []).map(d => d?.text).filter(Boolean).join('; ') || null,
      authoredOn: r.authoredOn ?? r.effectiveDateTime ?? null,
    }));
};

export const gatewayConfig = defineConfig({
  supergraph: './supergraph.graphql',
  logging: 'error',
  // The supergraph file does not change during a run: do not re-read it every 10 s.
  pollingInterval: 24 * 3600 * 1000,
  // inboundInflightRequestDeduplication stays off, like Överblick's cache-off scenario.
  ...(peer.upstreamTimeoutMs != null ? { upstreamTimeout: peer.upstreamTimeoutMs } : {}),
  ...(peer.cache != null ? {
    // The default store (an LRU of 1000 keys) holds about two responses.
    cache: new InMemoryLRUCache({ max: peer.cache.lruMax }),
    // One shared cache for all clients: no session.
    responseCaching: { session: () => null, ttl: peer.cache.ttlMs },
  } : {}),
  additionalResolvers: {
    Query: {
      // Every source's two generated fields, concurrently, concatenated.
      async medications(root, args, context, info) {
        const calls = [];
        peer.sources.forEach((_, i) => {
          const sdk = context[`source${i}`].Query;
          for (const type of TYPES) {
            calls.push(Promise.resolve(sdk[`source${i}_${type}`]({
              root, args: { patient: args.patient }, context, info, selectionSet: SELECTION,
            })).then(
              bundle => bundle instanceof Error ? [bundle] : items(`source${i}`, bundle),
              error => [error]));
          }
        });
        return (await Promise.all(calls)).flat();
      },
    },
  },
});
"#;

/// Preloaded into the gateway (`node --require`): ends it when the benchmark that started it is
/// gone (node is re-parented), so a crashed or killed benchmark leaves no gateway behind. One
/// getppid() a second. (A stdin-pipe watchdog hangs hive-gateway's start-up: its module loader
/// hooks and a flowing stdin do not mix.)
const WATCHDOG: &str = r#"// Written by overblick's benches/overview/peer.rs.
const parent = process.ppid;
setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
"#;

/// The environment the node children get: nothing from the caller but what running needs, so
/// variables such as FORK, PORT, HOST, CONFIG_PATH, DEBUG or NODE_OPTIONS cannot change them.
fn node_command(program: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).env_clear();
    for key in ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"] {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.env("NODE_ENV", "production").env("NO_COLOR", "1");
    cmd
}

/// Waits for `child` up to `limit`; `None` when it is still running then.
fn wait_timeout(child: &mut Child, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the gateway binds it a moment later).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The status code of `GET path` on 127.0.0.1:`port`, if it answered.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match stream.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let line = std::str::from_utf8(&head[..got]).ok()?;
    line.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

/// Pids of all descendants of `pid` (from /proc), deepest last.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((child, ppid));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

fn send_signal(signal: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl PeerInstall {
    /// The install folder (holds package.json, node_modules, npm-install.log and one `run-*`
    /// folder per running gateway).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Composes a supergraph for `config.sources` (mesh-compose) into a fresh folder under the
    /// install folder, starts hive-gateway on 127.0.0.1 on a free port, and waits (up to ~60 s)
    /// until /healthcheck answers.
    pub fn start(&self, config: &PeerConfig) -> Result<PeerProcess, PeerError> {
        if config.sources.is_empty() {
            return Err(PeerError::Compose("no sources given".into()));
        }
        let compose_bin = bin_path(&self.dir, "@graphql-mesh/compose-cli", "mesh-compose")
            .map_err(PeerError::Compose)?;
        let gateway_bin = bin_path(&self.dir, "@graphql-hive/gateway", "hive-gateway")
            .map_err(PeerError::Start)?;
        let run = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&self.dir)
            .map_err(|e| PeerError::Compose(format!("cannot create a run folder: {e}")))?;
        let dir = run.path().to_path_buf();

        let sources: Vec<&str> = config
            .sources
            .iter()
            .map(|s| s.trim_end_matches('/'))
            .collect();
        let cache = config.cache.as_ref().map(|c| {
            let per_response = 1 + 2 * (2 * CACHE_ITEMS_PER_SEARCH * sources.len() + 8);
            serde_json::json!({
                "ttlMs": u64::try_from(c.ttl.as_millis()).unwrap_or(u64::MAX).max(1),
                "lruMax": c.max_entries.max(1).saturating_mul(per_response),
            })
        });
        let peer_json = serde_json::json!({
            "sources": sources,
            "upstreamTimeoutMs": config
                .upstream_timeout
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)),
            "cache": cache,
        });
        let files = [
            ("peer.json", peer_json.to_string()),
            ("mesh.config.mjs", MESH_CONFIG.to_owned()),
            ("gateway.config.mjs", GATEWAY_CONFIG.to_owned()),
            ("watchdog.cjs", WATCHDOG.to_owned()),
        ];
        for (name, text) in &files {
            fs::write(dir.join(name), text)
                .map_err(|e| PeerError::Compose(format!("cannot write {name}: {e}")))?;
        }

        // Compose.
        let compose_log = dir.join("compose.log");
        let out = fs::File::create(&compose_log).map_err(|e| {
            PeerError::Compose(format!("cannot create {}: {e}", compose_log.display()))
        })?;
        let err = out
            .try_clone()
            .map_err(|e| PeerError::Compose(e.to_string()))?;
        let started = Instant::now();
        let mut compose = node_command("node", &dir)
            .arg(&compose_bin)
            .args(["-c", "mesh.config.mjs", "-o", "supergraph.graphql"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| PeerError::Compose(format!("cannot run node: {e}")))?;
        let status = wait_timeout(&mut compose, COMPOSE_TIMEOUT)
            .map_err(|e| PeerError::Compose(e.to_string()))?;
        let compose_time = started.elapsed();
        match status {
            None => {
                let _ = compose.kill();
                let _ = compose.wait();
                return Err(PeerError::Compose(format!(
                    "still running after {COMPOSE_TIMEOUT:?}:\n{}",
                    tail_of_file(&compose_log, 20)
                )));
            }
            Some(s) if !s.success() || !dir.join("supergraph.graphql").is_file() => {
                return Err(PeerError::Compose(format!(
                    "{s}:\n{}",
                    tail_of_file(&compose_log, 20)
                )));
            }
            Some(_) => {}
        }

        // Serve. The port is free when picked; if another process takes it first, the gateway
        // exits with EADDRINUSE and a new port is tried. The run folder is handed to the process
        // once it is ready (a failed start removes it, its log tail being in the error).
        let gateway_log = dir.join("gateway.log");
        let mut run = Some(run);
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port().map_err(|e| PeerError::Start(format!("no free port: {e}")))?;
            let mut process = spawn_gateway(
                &dir,
                &gateway_bin,
                config.cpu,
                port,
                &gateway_log,
                compose_time,
            )?;
            match process.wait_ready(port) {
                Ok(()) => {
                    process.run = run.take();
                    return Ok(process);
                }
                Err((exited, message)) => {
                    drop(process);
                    last_error = message;
                    if !(exited && last_error.contains("EADDRINUSE")) {
                        break;
                    }
                }
            }
        }
        Err(PeerError::Start(last_error))
    }
}

/// Starts hive-gateway in `dir` on `port`, optionally pinned to `cpu`.
fn spawn_gateway(
    dir: &Path,
    gateway_bin: &Path,
    cpu: Option<usize>,
    port: u16,
    log: &Path,
    compose_time: Duration,
) -> Result<PeerProcess, PeerError> {
    let out = fs::File::create(log)
        .map_err(|e| PeerError::Start(format!("cannot create {}: {e}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| PeerError::Start(e.to_string()))?;
    // `taskset -c N node ...` execs node: the child's pid is the node process itself.
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut cmd = node_command("taskset", dir);
            cmd.args(["-c", &cpu.to_string(), "node"]);
            cmd
        }
        None => node_command("node", dir),
    };
    cmd.arg("--require")
        .arg(dir.join("watchdog.cjs"))
        .arg(gateway_bin)
        .args(["supergraph", "supergraph.graphql"])
        .args([
            "-c",
            "gateway.config.mjs",
            "--host",
            "127.0.0.1",
            "--fork",
            "1",
        ])
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let child = cmd.spawn().map_err(|e| {
        let program = if cpu.is_some() { "taskset" } else { "node" };
        PeerError::Start(format!("cannot run {program}: {e}"))
    })?;
    Ok(PeerProcess {
        child,
        graphql_url: format!("http://127.0.0.1:{port}/graphql"),
        compose_time,
        log: log.to_path_buf(),
        run: None,
    })
}

/// A running gateway. Dropping it stops the gateway (and any children) and removes its run folder.
#[derive(Debug)]
pub struct PeerProcess {
    child: Child,
    graphql_url: String,
    compose_time: Duration,
    log: PathBuf,
    run: Option<tempfile::TempDir>,
}

impl PeerProcess {
    /// e.g. "http://127.0.0.1:PORT/graphql"
    pub fn graphql_url(&self) -> &str {
        &self.graphql_url
    }

    /// PID of the gateway process doing the work (for peak RSS from /proc/PID/status VmHWM and
    /// for CPU time): the node process, not a shell or npx wrapper in between.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time mesh-compose took for this config.
    pub fn compose_time(&self) -> Duration {
        self.compose_time
    }

    /// The gateway's stdout and stderr (errors only, plus three start-up lines).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The run folder (peer.json, mesh.config.mjs, gateway.config.mjs, supergraph.graphql, logs).
    pub fn run_dir(&self) -> Option<&Path> {
        self.run.as_ref().map(|r| r.path())
    }

    /// Waits until /healthcheck and /readiness answer 200 (readiness: the supergraph is loaded).
    /// Err((whether the gateway exited, message)).
    fn wait_ready(&mut self, port: u16) -> Result<(), (bool, String)> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    return Err((
                        true,
                        format!(
                            "the gateway exited during start-up ({status}):\n{}",
                            tail_of_file(&self.log, 30)
                        ),
                    ));
                }
                Err(e) => return Err((false, format!("cannot watch the gateway: {e}"))),
            }
            if http_status(port, "/healthcheck") == Some(200)
                && http_status(port, "/readiness") == Some(200)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err((
                    false,
                    format!(
                        "no healthy answer on port {port} within {START_TIMEOUT:?}:\n{}",
                        tail_of_file(&self.log, 30)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let pid = self.child.id();
        let mut family = descendants(pid);
        family.insert(0, pid);
        if matches!(self.child.try_wait(), Ok(None)) {
            send_signal("TERM", &family);
            if !matches!(
                wait_timeout(&mut self.child, Duration::from_secs(5)),
                Ok(Some(_))
            ) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        // Whatever it had started and is still there.
        let left: Vec<u32> = family[1..]
            .iter()
            .copied()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
            .collect();
        send_signal("KILL", &left);
    }
}

/// The GraphQL query the benchmark sends the peer.
pub const QUERY: &str = "query Medications($patient: String!) { medications(patient: $patient) { source resourceType id status medication dosage authoredOn } }";

/// The GraphQL request body (JSON text) asking the peer for one patient's merged medications.
pub fn request_body(patient_12_digits: &str) -> String {
    serde_json::json!({
        "query": QUERY,
        "operationName": "Medications",
        "variables": { "patient": patient_12_digits },
    })
    .to_string()
}

/// How many items a peer answer holds (parse the JSON; count the merged list) and whether it has
/// errors: `(items, errors)`. Read the body whatever the HTTP status: a source past
/// `upstreamTimeout` makes the gateway answer 504 while `data` still holds the other sources'
/// items. Failed searches show as `null` items (not counted) and entries in `errors` (counted).
pub fn count_items(response_body: &str) -> Result<(usize, usize), String> {
    let json: serde_json::Value = serde_json::from_str(response_body).map_err(|e| {
        let start: String = response_body.chars().take(200).collect();
        format!("not JSON ({e}): {start}")
    })?;
    let errors = match json.get("errors") {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::Array(list)) => list.len(),
        Some(_) => 1,
    };
    let items = match json.get("data").and_then(|d| d.get("medications")) {
        Some(serde_json::Value::Array(list)) => list.iter().filter(|i| i.is_object()).count(),
        Some(serde_json::Value::Null) | None if errors > 0 => 0,
        Some(serde_json::Value::Null) | None => {
            let start: String = response_body.chars().take(200).collect();
            return Err(format!("neither data.medications nor errors: {start}"));
        }
        Some(other) => return Err(format!("data.medications is not a list: {other}")),
    };
    Ok((items, errors))
}
