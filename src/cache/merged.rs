//! Merged lists remembered for the exact answers they were merged from: when every source's
//! answer for a domain is the same cached answer as before, the merge (a pure function of those
//! answers) is not run again.

use std::any::{Any, TypeId};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use moka::sync::Cache;

use super::Answer;
use crate::config::CacheSettings;
use crate::domain::Domain;

/// The answers one merged list came from, compared by identity. Holding the `Arc`s keeps them
/// alive, so an address can never be reused by a different answer while the key exists.
#[derive(Clone)]
struct Key {
    domain: Domain,
    /// What was merged: a domain's answers can hold more than one kind of item (lab results
    /// and lab reports), each merged into a value of its own type.
    kind: TypeId,
    /// Which items the viewer sees of these answers (the access view's fingerprint): viewers
    /// who see different items never share a list.
    view: Box<str>,
    /// One entry per source asked, in the engine's order; `None` where it gave no data.
    answers: Arc<[Option<Arc<Answer>>]>,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.domain == other.domain
            && self.kind == other.kind
            && self.view == other.view
            && self.answers.len() == other.answers.len()
            && self
                .answers
                .iter()
                .zip(other.answers.iter())
                .all(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => true,
                    _ => false,
                })
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.domain.hash(state);
        self.kind.hash(state);
        self.view.hash(state);
        for answer in self.answers.iter() {
            answer.as_ref().map(Arc::as_ptr).hash(state);
        }
    }
}

/// The remembered merged lists, or nothing when the source cache is off (then every answer is
/// new and nothing could ever be found again).
pub struct MergedCache {
    inner: Option<Cache<Key, Arc<dyn Any + Send + Sync>>>,
}

impl MergedCache {
    pub fn new(settings: &CacheSettings) -> Self {
        if !settings.enabled || settings.ttl.is_zero() {
            return MergedCache { inner: None };
        }
        MergedCache {
            inner: Some(
                Cache::builder()
                    .max_capacity(settings.max_entries)
                    // As long as the answers it was made from can be served.
                    .time_to_live(settings.ttl + settings.stale_window)
                    .build(),
            ),
        }
    }

    /// The merged list for `answers` as seen through `view`, merging only when these exact
    /// answers were not merged before for the same view.
    pub fn get_or_merge<V: Send + Sync + 'static>(
        &self,
        domain: Domain,
        view: &str,
        answers: Vec<Option<Arc<Answer>>>,
        merge: impl FnOnce() -> V,
    ) -> Arc<V> {
        let Some(cache) = &self.inner else {
            return Arc::new(merge());
        };
        let key = Key {
            domain,
            kind: TypeId::of::<V>(),
            view: view.into(),
            answers: answers.into(),
        };
        // The key's kind is the value's type, so the downcast holds; were it ever not to,
        // merging afresh is still right.
        if let Some(list) = cache.get(&key).and_then(|found| found.downcast().ok()) {
            return list;
        }
        // Two requests missing at once both merge: cheaper than making one wait for the other.
        let list = Arc::new(merge());
        cache.insert(key, list.clone());
        list
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::Instant;

    use chrono::Utc;

    use super::*;
    use crate::domain::{DomainItems, Merged};

    fn answer() -> Arc<Answer> {
        Arc::new(Answer {
            items: DomainItems::empty(Domain::Medications),
            parts: Vec::new(),
            left_out: 0,
            notes: 0,
            fetched_at: Utc::now(),
            arrived: Instant::now(),
            asked: Instant::now(),
        })
    }

    fn merges(
        cache: &MergedCache,
        answers: Vec<Option<Arc<Answer>>>,
        calls: &Cell<usize>,
    ) -> Arc<Vec<Merged<u8>>> {
        merges_for(cache, "patient", answers, calls)
    }

    fn merges_for(
        cache: &MergedCache,
        view: &str,
        answers: Vec<Option<Arc<Answer>>>,
        calls: &Cell<usize>,
    ) -> Arc<Vec<Merged<u8>>> {
        cache.get_or_merge(Domain::Medications, view, answers, || {
            calls.set(calls.get() + 1);
            Vec::new()
        })
    }

    #[test]
    fn the_same_cached_answers_are_merged_once() {
        let cache = MergedCache::new(&CacheSettings::default());
        let (a, b) = (answer(), answer());
        let calls = Cell::new(0);
        let first = merges(&cache, vec![Some(a.clone()), Some(b.clone())], &calls);
        let again = merges(&cache, vec![Some(a), Some(b)], &calls);
        assert_eq!(calls.get(), 1);
        assert!(Arc::ptr_eq(&first, &again));
    }

    #[test]
    fn a_new_answer_or_a_missing_source_is_merged_afresh() {
        let cache = MergedCache::new(&CacheSettings::default());
        let (a, b) = (answer(), answer());
        let calls = Cell::new(0);
        merges(&cache, vec![Some(a.clone()), Some(b)], &calls);
        // Equal content, but another answer: the source was asked again.
        merges(&cache, vec![Some(a.clone()), Some(answer())], &calls);
        merges(&cache, vec![Some(a), None], &calls);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn the_same_answers_seen_through_another_view_are_merged_afresh() {
        let cache = MergedCache::new(&CacheSettings::default());
        let a = answer();
        let calls = Cell::new(0);
        let for_patient = merges_for(&cache, "patient", vec![Some(a.clone())], &calls);
        let for_staff = merges_for(&cache, "staff|x", vec![Some(a)], &calls);
        assert_eq!(calls.get(), 2);
        assert!(!Arc::ptr_eq(&for_patient, &for_staff));
    }

    #[test]
    fn with_the_cache_off_every_list_is_merged() {
        let cache = MergedCache::new(&CacheSettings {
            enabled: false,
            ..CacheSettings::default()
        });
        let a = answer();
        let calls = Cell::new(0);
        merges(&cache, vec![Some(a.clone())], &calls);
        merges(&cache, vec![Some(a)], &calls);
        assert_eq!(calls.get(), 2);
    }
}
