//! Merge: de-duplicates the items several sources reported into one list per domain, keeping
//! every provenance. Pure functions, no I/O.
//!
//! [`merge`] takes every item every source reported for one domain of one patient and returns
//! one [`Merged`] item per real-world record, sorted in the domain's output order.
//!
//! # Matching
//!
//! Items are first put in a canonical order (source id, record id, then their full content), so
//! that nothing below depends on the order the sources answered in. Then, in that order:
//!
//! 0. The same `(source_id, record_id)` reported more than once is one record, unconditionally.
//! 1. Items from different sources that share an [`Identifier`] (same system and value; an
//!    identifier without a system only matches one without a system) are the same record.
//! 2. Items from different sources whose clinical facts agree ([`Mergeable::same_facts`]) are the
//!    same record:
//!
//! | domain | same record by facts when (text: trimmed, whitespace collapsed, lower-cased) |
//! |---|---|
//! | contacts | same role and same person HSA-id; or same role, same name and same care-unit HSA-id |
//! | care plans | same kind, same title, same start (present on both) |
//! | agreements | same kind, same description, same start and same due (absent on both counts as the same), at least one of the two dates present |
//! | medications | same drug (code system + code; name when both are uncoded), same dose (value numerically + unit when both are structured; else the dosage text, present on both), same start (present on both) |
//! | measurements | same code (name when both are uncoded), same time to the second, same value: quantity (numerically, same unit), text and every component (in any order) equal, and at least one of them present |
//! | lab results | same analysis code (name when both are uncoded), same time to the second, same value (quantity numerically + unit when both have one; else the result text, present on both) |
//! | bookings | same start to the second, same care-unit HSA-id (or, when neither has one, the same care-unit name); no unit on a side: no match |
//!
//! A fact a rule needs that is missing on either side means "no match by facts": a duplicate shown
//! twice is a nuisance, two prescriptions shown as one is a danger. Units compare by their UCUM
//! code when both carry one, else as written; there is no unit conversion (5 mg ≠ 5000 µg).
//!
//! # What never merges
//!
//! Links are tried in the order above (identifiers first, then facts, each in canonical order)
//! and joined greedily; a link is refused when it would put into one record:
//!
//! - two different records of the same source (directly or through other items): a source knows
//!   its own records apart, so every merged item holds at most one record per source;
//! - two items with identifiers in the same system but no value in common (e.g. two different
//!   prescription ids), even when another identifier or all the facts match;
//! - two items whose facts contradict ([`Mergeable::contradicts`]). Identifiers win over facts
//!   (a shared prescription id merges a changed start date or dose) except for what the record
//!   *is*: a different code in the same code system (medications, measurements, lab results), a
//!   different kind (care plans, agreements), a different role or person HSA-id (contacts).
//!   Bookings have no such fact: a shared booking id wins even over a moved time.
//!
//! Every pair across the two groups being joined is checked, not only the linked pair.
//!
//! # Merged fields
//!
//! Provenance is ordered by source id, then record id (a record reported twice appears once).
//! Identifiers are the union, sorted and de-duplicated. The item is the one of the first
//! provenance, with every absent (`None`, or empty list) field filled from the others in
//! provenance order ([`Mergeable::fill_missing`]); nothing is overwritten or invented, so where
//! sources disagree on a present field (a status, say) the first source in id order wins.
//!
//! # Ids
//!
//! [`Merged::id`] is `<prefix>_<first 20 hex digits of SHA-256>`, prefix `con`, `cpl`, `agr`,
//! `med`, `mea`, `lab` or `bok`. The hash is over the domain and a key:
//!
//! - the cluster's smallest identifier (by system, then value) with a system, else its smallest
//!   identifier without one (those are the least likely to be shared across sources): the same
//!   record gets the same id from whichever sources report it, as long as one of them reports that
//!   identifier;
//! - else its smallest `source_id/record_id`: stable across requests and restarts as long as that
//!   source answers and keeps its record ids; when it is missing (a timeout) the id changes.
//!
//! Two clusters can share a key: a source that keeps two records apart although they carry the
//! same identifier (e.g. two agreements carrying their plan's id). Every cluster involved then
//! falls back to a hash over the domain and all its `source_id/record_id` pairs. A pair belongs
//! to exactly one cluster, so these are unique; the price is that such an id changes whenever one
//! of its sources is missing.
//!
//! The hash input is a list of parts, each written as its length in bytes, `:` and the part:
//! `[domain, "identifier", system, value]` (`[domain, "identifier", value]` without a system),
//! `[domain, "record", source_id, record_id]`, or `[domain, "records", source_id, record_id, ...]`,
//! with `domain` from [`Domain::as_str`](crate::domain::Domain::as_str). So different keys never
//! give the same input, and a clash of 80-bit hash prefixes among one patient's items is not a
//! practical concern (a debug assertion checks uniqueness).
//!
//! # Output order
//!
//! The GraphQL layer promises these orders; every one ends with the id, so it is total. Text
//! compares normalised (lower-cased, by code point: not Swedish collation).
//!
//! | domain | order |
//! |---|---|
//! | contacts | role (named doctor, named care contact, municipal care contact, care-team member), name (absent last), id |
//! | care plans | status (active, on hold, draft before the rest), start newest first (absent last), title, id |
//! | agreements | status (active, planned, on hold, then the rest), due oldest first (absent last), description, id |
//! | medications | status (active, on hold, unknown before ended), start newest first (absent last), name, id |
//! | measurements | time newest first (absent last), name, id |
//! | lab results | time newest first (absent last), analysis, id |
//! | bookings | start oldest first, id |
//!
//! # Properties
//!
//! The output is the same for any order of the input. Merging again the items of a merge
//! (re-wrapped as one [`Sourced`] per provenance, with the merged item and identifiers) gives the
//! same result, with one exception: when filling gave a merged item a fact it lacked (a code, a
//! start date), it can now match another record by facts, and the second merge joins them.

mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use aws_lc_rs::digest;

use crate::domain::{Identifier, Merged, Provenance, Sourced};

pub use rules::Mergeable;

/// Merges every item every source reported for one domain of one patient into one item per
/// real-world record, sorted in the domain's output order (see the module documentation).
pub fn merge<'a, T: Mergeable + 'a>(
    items: impl IntoIterator<Item = &'a Sourced<T>>,
) -> Vec<Merged<T>> {
    let mut items: Vec<&Sourced<T>> = items.into_iter().collect();
    items.sort_by(|a, b| canonical_order(a, b));

    let mut merged: Vec<Merged<T>> = Clusters::build(&items)
        .into_groups()
        .iter()
        .map(|members| combine(&items, members))
        .collect();
    assign_ids(&mut merged);
    merged.sort_by_cached_key(|m| (m.item.order_key(), m.id.clone()));
    merged
}

/// Source id, record id, then the whole item as JSON, so that even the same record reported
/// twice with different content sorts the same way whatever the input order.
fn canonical_order<T: Mergeable>(a: &Sourced<T>, b: &Sourced<T>) -> std::cmp::Ordering {
    record_key(&a.provenance)
        .cmp(&record_key(&b.provenance))
        .then_with(|| as_json(a).cmp(&as_json(b)))
}

fn record_key(provenance: &Provenance) -> (&str, &str) {
    (&provenance.source_id, &provenance.record_id)
}

fn as_json<T: Mergeable>(item: &Sourced<T>) -> String {
    // Serialising these plain data types cannot fail; an empty string would still sort stably.
    serde_json::to_string(item).unwrap_or_default()
}

/// Groups of item indices (into the canonically sorted items) that are one record each.
struct Clusters<'s, 'a, T> {
    items: &'s [&'a Sourced<T>],
    /// The group each item is in, by the group's smallest member.
    group_of: Vec<usize>,
    /// Members of each group, ascending, kept at the group's smallest member.
    members: Vec<Vec<usize>>,
}

impl<'s, 'a, T: Mergeable> Clusters<'s, 'a, T> {
    fn build(items: &'s [&'a Sourced<T>]) -> Self {
        let mut clusters = Clusters {
            items,
            group_of: (0..items.len()).collect(),
            members: (0..items.len()).map(|i| vec![i]).collect(),
        };

        // The same record of the same source, reported more than once: adjacent after sorting.
        for i in 1..items.len() {
            if record_key(&items[i - 1].provenance) == record_key(&items[i].provenance) {
                clusters.join(i - 1, i);
            }
        }

        // Shared identifiers.
        let mut by_identifier: BTreeMap<&Identifier, Vec<usize>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            for identifier in &item.identifiers {
                by_identifier.entry(identifier).or_default().push(i);
            }
        }
        let links = clusters.links(by_identifier.into_values(), |_, _| true);
        clusters.try_join_all(links);

        // The same clinical facts.
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            for key in item.item.match_keys() {
                by_key.entry(key).or_default().push(i);
            }
        }
        let links = clusters.links(by_key.into_values(), |a, b| a.item.same_facts(&b.item));
        clusters.try_join_all(links);

        clusters
    }

    /// The pairs within each candidate group that come from different sources and satisfy
    /// `linked`, in canonical order.
    fn links(
        &self,
        candidates: impl Iterator<Item = Vec<usize>>,
        linked: impl Fn(&Sourced<T>, &Sourced<T>) -> bool,
    ) -> BTreeSet<(usize, usize)> {
        let mut links = BTreeSet::new();
        for mut group in candidates {
            group.dedup();
            for (n, &i) in group.iter().enumerate() {
                for &j in &group[n + 1..] {
                    let (a, b) = (self.items[i], self.items[j]);
                    if a.provenance.source_id != b.provenance.source_id && linked(a, b) {
                        links.insert((i, j));
                    }
                }
            }
        }
        links
    }

    fn try_join_all(&mut self, links: BTreeSet<(usize, usize)>) {
        for (i, j) in links {
            let (a, b) = (self.group_of[i], self.group_of[j]);
            if a != b && self.may_join(a, b) {
                self.join(i, j);
            }
        }
    }

    /// Whether two groups may become one: no source twice, nothing contradicting.
    fn may_join(&self, a: usize, b: usize) -> bool {
        self.members[a].iter().all(|&i| {
            self.members[b].iter().all(|&j| {
                let (x, y) = (self.items[i], self.items[j]);
                x.provenance.source_id != y.provenance.source_id
                    && !identifiers_contradict(&x.identifiers, &y.identifiers)
                    && !x.item.contradicts(&y.item)
            })
        })
    }

    /// Puts the groups of items `i` and `j` together, under the smaller group.
    fn join(&mut self, i: usize, j: usize) {
        let (a, b) = (self.group_of[i], self.group_of[j]);
        let (a, b) = (a.min(b), a.max(b));
        if a == b {
            return;
        }
        let moved = std::mem::take(&mut self.members[b]);
        for &i in &moved {
            self.group_of[i] = a;
        }
        self.members[a].extend(moved);
        self.members[a].sort_unstable();
    }

    fn into_groups(self) -> Vec<Vec<usize>> {
        self.members.into_iter().filter(|m| !m.is_empty()).collect()
    }
}

/// Both use a system (a named one) and share none of their values in it.
fn identifiers_contradict(a: &[Identifier], b: &[Identifier]) -> bool {
    a.iter().filter_map(|x| x.system.as_ref()).any(|system| {
        let in_system = |y: &&Identifier| y.system.as_ref() == Some(system);
        let mut in_b = b.iter().filter(in_system).peekable();
        in_b.peek().is_some()
            && !in_b.any(|y| a.iter().filter(in_system).any(|x| x.value == y.value))
    })
}

/// One merged item from a group of item indices (ascending, so in canonical order).
fn combine<T: Mergeable>(items: &[&Sourced<T>], members: &[usize]) -> Merged<T> {
    let mut item = items[members[0]].item.clone();
    for &i in &members[1..] {
        item.fill_missing(&items[i].item);
    }

    let mut identifiers: Vec<&Identifier> = members
        .iter()
        .flat_map(|&i| &items[i].identifiers)
        .collect();
    identifiers.sort();
    identifiers.dedup();

    let mut provenance: Vec<Provenance> = Vec::with_capacity(members.len());
    for &i in members {
        let p = &items[i].provenance;
        if provenance
            .last()
            .is_none_or(|last| record_key(last) != record_key(p))
        {
            provenance.push(p.clone());
        }
    }

    Merged {
        id: String::new(),
        item,
        identifiers: identifiers.into_iter().cloned().collect(),
        provenance,
    }
}

/// Gives every merged item its id; see the module documentation for the scheme.
fn assign_ids<T: Mergeable>(merged: &mut [Merged<T>]) {
    let domain = T::DOMAIN.as_str();
    for m in merged.iter_mut() {
        // Identifiers are sorted with the system-less ones first; those are the least reliable
        // across sources, so a named system's identifier is preferred.
        let key = m.identifiers.iter().find(|i| i.system.is_some());
        m.id = match key.or(m.identifiers.first()) {
            Some(Identifier { system, value }) => match system {
                Some(system) => hashed_id::<T>(&[domain, "identifier", system, value]),
                None => hashed_id::<T>(&[domain, "identifier", value]),
            },
            None => {
                let first = &m.provenance[0];
                hashed_id::<T>(&[domain, "record", &first.source_id, &first.record_id])
            }
        };
    }

    let mut count: HashMap<String, usize> = HashMap::new();
    for m in merged.iter() {
        *count.entry(m.id.clone()).or_default() += 1;
    }
    for m in merged.iter_mut().filter(|m| count[&m.id] > 1) {
        let mut parts = vec![domain, "records"];
        for p in &m.provenance {
            parts.extend([p.source_id.as_str(), p.record_id.as_str()]);
        }
        m.id = hashed_id::<T>(&parts);
    }
    debug_assert!(
        merged.iter().map(|m| &m.id).collect::<BTreeSet<_>>().len() == merged.len(),
        "merged ids are unique"
    );
}

/// `<prefix>_<first 20 hex digits of SHA-256>` over the parts, each written as its byte length,
/// a colon and the part, so that no two different lists of parts give the same input.
fn hashed_id<T: Mergeable>(parts: &[&str]) -> String {
    let mut input = String::new();
    for part in parts {
        let _ = write!(input, "{}:{part}", part.len());
    }
    let hash = digest::digest(&digest::SHA256, input.as_bytes());
    let mut id = String::with_capacity(T::ID_PREFIX.len() + 21);
    id.push_str(T::ID_PREFIX);
    id.push('_');
    for byte in &hash.as_ref()[..10] {
        let _ = write!(id, "{byte:02x}");
    }
    id
}
