//! The source cache: each source's answer per (patient, source, domain), kept for a TTL, with
//! concurrent identical misses coalesced into one upstream call and a stale copy kept for a while
//! longer to serve when the source fails.

pub mod merged;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use moka::future::Cache;

use crate::config::CacheSettings;
use crate::domain::{Domain, DomainItems, PersonId};
use crate::sources::SourceError;

/// What the cache is keyed by. The source is its index in the engine's source list: cheaper to
/// hash than its id, and stable for the life of the process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub patient: PersonId,
    pub source: usize,
    pub domain: Domain,
}

/// One source's answer, as cached.
#[derive(Debug)]
pub struct Answer {
    pub items: DomainItems,
    /// The statuses an aggregating source reported for the source systems behind it.
    pub parts: Vec<crate::sources::PartStatus>,
    /// Records the source sent that could not be read and are left out.
    pub left_out: usize,
    /// Clinical notes among what the source sent, not shown ([`crate::sources::Fetched::notes`]).
    pub notes: usize,
    /// Wall-clock time the answer arrived (shown to users).
    pub fetched_at: DateTime<Utc>,
    /// Monotonic time the answer arrived (used for ages).
    pub arrived: Instant,
    /// Monotonic time its call to the source began: an answer asked for before the source
    /// said the patient's records changed may hold the records from before the change.
    pub asked: Instant,
}

/// How a lookup was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// This request's own call to the source, or a call another request made concurrently for
    /// the same key that this request waited on: either way, fetched while this request waited.
    Fetched,
    /// Fetched by this request's own call, and its records differ from the answer kept before
    /// it (a change to tell live subscriptions about).
    Replaced,
    /// An answer fetched before this request began, still within its TTL.
    Cached,
    /// An answer whose call began before the source said the patient's records changed
    /// ([`SourceCache::invalidate`]), kept by a call that was already under way: served this
    /// once, no longer cached, and the change is still to be seen.
    Superseded,
    /// The source failed; this is an older answer within the stale window.
    Stale,
}

/// The cache, or a pass-through when caching is off.
pub struct SourceCache {
    inner: Option<Inner>,
}

struct Inner {
    /// Answers younger than the TTL. `try_get_with` on it coalesces concurrent misses.
    fresh: Cache<CacheKey, Arc<Answer>>,
    /// The same answers kept for TTL + stale window, read only when the source fails.
    stale: Cache<CacheKey, Arc<Answer>>,
    stale_limit: std::time::Duration,
    /// When each key was last invalidated: a call under way at that moment cannot be stopped
    /// from caching its answer, so answers asked for before it are recognised by this instead.
    changed: Cache<CacheKey, Instant>,
}

impl SourceCache {
    pub fn new(settings: &CacheSettings) -> Self {
        if !settings.enabled || settings.ttl.is_zero() {
            return SourceCache { inner: None };
        }
        let fresh = Cache::builder()
            .max_capacity(settings.max_entries)
            .time_to_live(settings.ttl)
            .build();
        let stale_limit = settings.ttl + settings.stale_window;
        let stale = Cache::builder()
            .max_capacity(settings.max_entries)
            .time_to_live(stale_limit)
            .build();
        // An answer asked for before the change is at most one TTL old when it is looked up.
        let changed = Cache::builder()
            .max_capacity(settings.max_entries)
            .time_to_live(settings.ttl)
            .build();
        SourceCache {
            inner: Some(Inner {
                fresh,
                stale,
                stale_limit,
                changed,
            }),
        }
    }

    /// Returns the cached answer for `key`, or runs `fetch` (once, however many requests ask at
    /// the same time) and caches its answer. On failure, returns a stale answer if one is within
    /// the stale window, together with the error that made it stale.
    pub async fn get_or_fetch<F>(
        &self,
        key: CacheKey,
        fetch: F,
    ) -> Result<(Arc<Answer>, Served), (Arc<SourceError>, Option<Arc<Answer>>)>
    where
        F: Future<Output = Result<Arc<Answer>, SourceError>> + Send,
    {
        let Some(inner) = &self.inner else {
            return fetch
                .await
                .map(|a| (a, Served::Fetched))
                .map_err(|e| (Arc::new(e), None));
        };
        let asked_at = Instant::now();
        let ran_here = AtomicBool::new(false);
        let replaced = AtomicBool::new(false);
        let stale = &inner.stale;
        let result = inner
            .fresh
            .try_get_with_by_ref(&key, async {
                ran_here.store(true, Ordering::Relaxed);
                let answer = fetch.await?;
                // Only on a real fetch: a hit costs no second lookup.
                if let Some(previous) = stale.get(&key).await
                    && !previous.items.same_records(&answer.items)
                {
                    replaced.store(true, Ordering::Relaxed);
                }
                stale.insert(key.clone(), answer.clone()).await;
                Ok::<_, SourceError>(answer)
            })
            .await;
        match result {
            Ok(answer) => {
                let served = if inner
                    .changed
                    .get(&key)
                    .await
                    .is_some_and(|changed| answer.asked < changed)
                {
                    // Asked for before the change, and cached by a call that was under way:
                    // forgotten, so the next lookup asks the source again.
                    inner.fresh.invalidate(&key).await;
                    Served::Superseded
                } else if replaced.load(Ordering::Relaxed) {
                    Served::Replaced
                } else if ran_here.load(Ordering::Relaxed) || answer.arrived >= asked_at {
                    Served::Fetched
                } else {
                    Served::Cached
                };
                Ok((answer, served))
            }
            Err(error) => {
                let fallback = inner
                    .stale
                    .get(&key)
                    .await
                    .filter(|a| a.arrived.elapsed() <= inner.stale_limit);
                Err((error, fallback))
            }
        }
    }

    /// Forgets `patient`'s fresh answers from the source at `source` (its index), in every
    /// domain, so that the next overview asks the source again. The stale copies stay: when the
    /// source then fails, they are still the newest known.
    pub async fn invalidate(&self, patient: &PersonId, source: usize) {
        let Some(inner) = &self.inner else {
            return;
        };
        for domain in Domain::ALL {
            let key = CacheKey {
                patient: patient.clone(),
                source,
                domain,
            };
            inner.changed.insert(key.clone(), Instant::now()).await;
            inner.fresh.invalidate(&key).await;
        }
    }

    /// Whether answers are kept at all.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// How many answers are cached (approximate; for metrics and tests).
    pub fn len(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| i.fresh.entry_count())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    fn key() -> CacheKey {
        CacheKey {
            patient: PersonId::parse("191212121212").unwrap(),
            source: 0,
            domain: Domain::Medications,
        }
    }

    fn answer() -> Arc<Answer> {
        asked_at(Instant::now())
    }

    /// An answer whose call to the source began at `asked`.
    fn asked_at(asked: Instant) -> Arc<Answer> {
        Arc::new(Answer {
            items: DomainItems::empty(Domain::Medications),
            parts: Vec::new(),
            left_out: 0,
            notes: 0,
            fetched_at: Utc::now(),
            arrived: Instant::now(),
            asked,
        })
    }

    fn settings(ttl_ms: u64, stale_ms: u64) -> CacheSettings {
        CacheSettings {
            enabled: true,
            ttl: Duration::from_millis(ttl_ms),
            stale_window: Duration::from_millis(stale_ms),
            max_entries: 100,
        }
    }

    #[tokio::test]
    async fn a_second_lookup_within_the_ttl_is_served_from_the_cache() {
        let cache = SourceCache::new(&settings(60_000, 0));
        let calls = AtomicUsize::new(0);
        for expected in [Served::Fetched, Served::Cached] {
            let (_, served) = cache
                .get_or_fetch(key(), async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(answer())
                })
                .await
                .unwrap();
            assert_eq!(served, expected);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_misses_make_one_call() {
        let cache = SourceCache::new(&settings(60_000, 0));
        let calls = AtomicUsize::new(0);
        let lookups = (0..20).map(|_| {
            cache.get_or_fetch(key(), async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(answer())
            })
        });
        let results = futures::future::join_all(lookups).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok((_, Served::Fetched))))
        );
    }

    #[tokio::test]
    async fn a_failed_source_is_answered_from_the_stale_copy_within_the_window() {
        let cache = SourceCache::new(&settings(20, 60_000));
        cache
            .get_or_fetch(key(), async { Ok(answer()) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let err = cache
            .get_or_fetch(key(), async { Err(SourceError::Connect("refused".into())) })
            .await
            .unwrap_err();
        assert!(err.1.is_some(), "a stale answer is offered");
    }

    #[tokio::test]
    async fn nothing_stale_is_offered_after_the_window() {
        let cache = SourceCache::new(&settings(10, 10));
        cache
            .get_or_fetch(key(), async { Ok(answer()) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let err = cache
            .get_or_fetch(key(), async { Err(SourceError::Connect("refused".into())) })
            .await
            .unwrap_err();
        assert!(err.1.is_none());
    }

    #[tokio::test]
    async fn an_answer_asked_for_before_a_change_is_superseded_and_the_next_lookup_asks_again() {
        let cache = SourceCache::new(&settings(60_000, 60_000));
        let patient = key().patient;
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let asked = Instant::now();
        // A call under way when the source says the records changed ...
        let under_way = cache.get_or_fetch(key(), async move {
            let _ = released.await;
            Ok(asked_at(asked))
        });
        let change = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cache.invalidate(&patient, 0).await;
            let _ = release.send(());
        };
        let (result, ()) = tokio::join!(under_way, change);
        // ... is served once, marked, and not kept.
        assert_eq!(result.unwrap().1, Served::Superseded);
        let calls = AtomicUsize::new(0);
        let (_, served) = cache
            .get_or_fetch(key(), async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(answer())
            })
            .await
            .unwrap();
        assert_eq!(served, Served::Fetched);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = SourceCache::new(&settings(60_000, 0));
        let _ = cache
            .get_or_fetch(key(), async { Err(SourceError::Connect("refused".into())) })
            .await;
        let (_, served) = cache
            .get_or_fetch(key(), async { Ok(answer()) })
            .await
            .unwrap();
        assert_eq!(served, Served::Fetched);
    }

    #[tokio::test]
    async fn with_the_cache_off_every_lookup_calls_the_source() {
        let cache = SourceCache::new(&CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        });
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            cache
                .get_or_fetch(key(), async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(answer())
                })
                .await
                .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
