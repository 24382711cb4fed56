//! Micro-benchmarks of the pure hot paths of one overview: reading a FHIR answer into items,
//! merging many sources' lists, and resolving the GraphQL answer. `cargo bench --bench hot_paths`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::future::BoxFuture;
use overblick::config::{CacheSettings, EngineSettings, SourcePolicy};
use overblick::domain::{Domain, DomainItems, Medication, Organisation, PersonId, Sourced};
use overblick::engine::{Engine, Source};
use overblick::sources::fhir::{ResourceSet, map_domain};
use overblick::sources::{Fetched, SourceAdapter, SourceError, SourceInfo};
use overblick_simulators::fixed::{FixedSpec, medication_bundle};

// The same allocator as the service binary, so the numbers are the service's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn info(i: usize) -> SourceInfo {
    SourceInfo {
        id: format!("s{i:03}"),
        name: format!("Source {i}"),
        system: None,
        care_provider: Organisation {
            name: Some(format!("Provider {i}")),
            hsa_id: None,
        },
        default_care_unit: None,
    }
}

/// One source's answer as it comes over the wire: a 20-item MedicationRequest searchset.
fn answer(i: usize) -> Vec<u8> {
    let spec = FixedSpec {
        index: i,
        medications: 20,
        latency: Duration::ZERO,
    };
    medication_bundle(&spec, "http://127.0.0.1:1/fhir")
        .to_string()
        .into_bytes()
}

fn read(bytes: &[u8], info: &SourceInfo) -> DomainItems {
    let json: serde_json::Value = serde_json::from_slice(bytes).expect("valid JSON");
    let set = ResourceSet::from_json(json).expect("a bundle");
    map_domain(Domain::Medications, &set, info, chrono::Utc::now())
}

fn medications(items: &DomainItems) -> &[Sourced<Medication>] {
    match items {
        DomainItems::Medications(v) => v,
        _ => &[],
    }
}

fn fhir(c: &mut Criterion) {
    let bytes = answer(0);
    let info = info(0);
    c.bench_function("fhir: parse a 20-item answer (JSON only)", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).unwrap())
        })
    });
    c.bench_function("fhir: parse and map a 20-item answer", |b| {
        b.iter(|| black_box(read(black_box(&bytes), &info)))
    });
}

fn merge(c: &mut Criterion) {
    for sources in [10usize, 50] {
        let answers: Vec<DomainItems> = (0..sources).map(|i| read(&answer(i), &info(i))).collect();
        c.bench_function(
            &format!("merge: {sources} sources × 20 medications"),
            |b| {
                b.iter(|| {
                    black_box(overblick::merge::merge(
                        answers.iter().flat_map(|a| medications(a).iter()),
                    ))
                })
            },
        );
    }
}

/// A source that answers at once with items read in advance: the engine, cache, merge and
/// GraphQL layers without the network.
struct Ready {
    info: Arc<SourceInfo>,
    items: DomainItems,
}

impl SourceAdapter for Ready {
    fn info(&self) -> &Arc<SourceInfo> {
        &self.info
    }
    fn domains(&self) -> &[Domain] {
        &[Domain::Medications]
    }
    fn fetch<'a>(
        &'a self,
        _: &'a PersonId,
        _: Domain,
    ) -> BoxFuture<'a, Result<Fetched, SourceError>> {
        Box::pin(async move { Ok(self.items.clone().into()) })
    }
}

fn graphql(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sources: Vec<Source> = (0..10)
        .map(|i| {
            Source::new(
                Arc::new(Ready {
                    info: Arc::new(info(i)),
                    items: read(&answer(i), &info(i)),
                }),
                &SourcePolicy {
                    timeout: Duration::from_secs(1),
                    ..SourcePolicy::default()
                },
            )
        })
        .collect();
    let engine = Arc::new(Engine::new(
        sources,
        EngineSettings::default(),
        &CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        },
    ));
    // The access log is the real store, on tmpfs where there is one: this measures the CPU cost
    // of the path, not the disk's fsync latency (which group commit spreads over many requests).
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("b.sqlite").display()
    );
    let store = runtime
        .block_on(overblick::store::Store::open(&url))
        .unwrap();
    let gate = Arc::new(overblick::access::gate::Gate::new(
        store.clone(),
        Arc::new(overblick::access::directory::FileDirectory::empty()),
        overblick::access::AccessSettings { delegation: false },
    ));
    let audit: Arc<dyn overblick::audit::AuditLog> = Arc::new(store);
    let schema = overblick::graphql::schema(engine, gate, audit);
    let person = PersonId::parse("191212121212").unwrap();
    let principal = overblick::auth::Principal {
        issuer: "bench".into(),
        subject: "bench".into(),
        kind: overblick::auth::PrincipalKind::Person { person, name: None },
    };
    let query = "{ overview { medications(status: ALL) { id name status dosage start provenance { sourceId recordId } } } }";
    c.bench_function(
        "graphql: overview of 10 ready sources × 20 medications, to JSON",
        |b| {
            b.iter(|| {
                let request =
                    async_graphql::Request::new(query).data(overblick::graphql::RequestContext {
                        principal: principal.clone(),
                        request_id: "bench".into(),
                    });
                let response = runtime.block_on(schema.execute(request));
                black_box(serde_json::to_vec(&response).unwrap())
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = fhir, merge, graphql
}
criterion_main!(benches);
