//! Merge: de-duplicates the items several sources reported into one list per domain, keeping
//! every provenance. Pure functions, no I/O.
//!
//! [`merge`] takes every item every source reported for one domain of one patient and returns
//! one [`Merged`] item per real-world record, sorted in the domain's output order.
//!
//! # Matching
//!
//! Items are first put in a canonical order (source id, record id, then their full content), so
//! that nothing below depends on the order the sources answered in. The reports of one
//! `(source_id, record_id)` become one record, unconditionally: the first report's item, absent
//! fields filled from the others, with all their identifiers.
//!
//! Each record starts as a group of its own, and a group is always judged as the merged item it
//! would become (its item filled from all its records, its identifiers united; see "Merged
//! fields"), never by one of its records alone. Two groups are *linked* when:
//!
//! 1. they share an [`Identifier`] (same system and value; an identifier without a system only
//!    matches one without a system), or
//! 2. their items are the same record by their clinical facts ([`Mergeable::same_facts`]):
//!
//! | domain | same record by facts when (text: trimmed, whitespace collapsed, lower-cased) |
//! |---|---|
//! | contacts | agreeing roles (the same, or one only a care-team member: the merged contact takes the more specific role, its wording and period) and the same person HSA-id; or agreeing roles, the same name and the same care-unit HSA-id |
//! | care plans | same kind, same title, same start (present on both) |
//! | agreements | same kind, same description, same start and same due (absent on both counts as the same), at least one of the two dates present |
//! | medications | same drug (code system + code; name when both are uncoded), same dose (value numerically + unit when both are structured; else the dosage text, present on both; or neither dose nor text on either, with the same status and kind of record), same start (present on both) |
//! | measurements | same code (name when both are uncoded), same time to the second, same value: quantity (numerically, same unit), text and every component (in any order) equal, and at least one of them present |
//! | lab results | same analysis code (name when both are uncoded), same time to the second, same value (quantity numerically + unit when both have one; else the result text, present on both) |
//! | lab reports | same time to the second, same laboratory (HSA-id, else name), same code (title when both are uncoded); see [`reports`] |
//! | bookings | same start to the second, same care-unit HSA-id (or, when neither has one, the same care-unit name); no unit on a side: no match |
//!
//! A fact a rule needs that is missing on either side means "no match by facts": a duplicate shown
//! twice is a nuisance, two prescriptions shown as one is a danger. Units compare by their UCUM
//! code when both carry one, else as written; there is no unit conversion (5 mg ≠ 5000 µg).
//!
//! # Joining
//!
//! Of all linked pairs of groups that may be joined (below), the strongest is joined first: more
//! shared identifiers first, then a match by facts, then identical items and identifiers; ties go
//! to the groups whose first records come first in canonical order. The joined group's links are
//! then judged afresh, and this goes on until no two groups may be joined. So a fact that one
//! source supplies (a code, a start date) lets the merged item match a third record.
//!
//! Two groups may not be joined when that would put into one record:
//!
//! - two different records of the same source: a source knows its own records apart, so every
//!   merged item holds at most one record per source;
//! - identifiers in one system with different values (e.g. two different prescription ids), even
//!   when another identifier or all the facts match. A record carrying two values in one system
//!   joins only a group with the same two;
//! - facts that contradict ([`Mergeable::contradicts`]). Identifiers win over facts (a shared
//!   prescription id merges a changed start date or dose) except for what the record *is*: a
//!   different code in the same code system (medications, measurements, lab results), a
//!   different kind (care plans, agreements), two different named roles or person HSA-ids (contacts).
//!   Bookings have no such fact: a shared booking id wins even over a moved time.
//!
//! The code compared is the merged item's: when the records of a group are coded in different
//! systems (an ATC code here, only an NPL id there) the first record's code is the one shown and
//! the one compared.
//!
//! Judging groups by their merged item is what makes a merge final: the result is one the rules
//! would not change. Strongest-first keeps a weak link from taking a record away from its strong
//! partner (an identifier a source put on two of its records no longer pairs a body weight with a
//! blood pressure). Where a source reports the same record twice under two record ids, two merged
//! items can end up equal in everything but their provenance, and which record went with which
//! is a tie; `merge` then clusters its own result again (records carrying their merged item)
//! until the grouping stops changing, so that the tie is settled the way merging again would
//! settle it. Most inputs need no second round; none of the property tests' needed more than three.
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
//! `med`, `mea`, `lab`, `rep` (lab reports, hashed as `lab_reports`) or `bok`. The hash is over
//! the domain and a key:
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
//! | measurements | time newest first (absent last), id |
//! | lab results | time newest first (absent last), id |
//! | lab reports | time newest first (absent last), id |
//! | bookings | start oldest first, id |
//!
//! # Properties
//!
//! Checked by property tests (`tests/merge_properties.rs`) in every domain: every record is in
//! exactly one merged item; the output is the same for any order of the input; and merging again
//! the items of a merge (re-wrapped as one [`Sourced`] per provenance, with the merged item and
//! identifiers) gives exactly the same result, ids included.

pub mod reports;
mod rules;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use aws_lc_rs::digest;

use serde::Serialize;

use crate::domain::{Identifier, Merged, Provenance, Sourced};

pub use rules::Mergeable;

/// Merges every item every source reported for one domain of one patient into one item per
/// real-world record, sorted in the domain's output order (see the module documentation).
pub fn merge<'a, T: Mergeable + 'a>(
    items: impl IntoIterator<Item = &'a Sourced<T>>,
) -> Vec<Merged<T>> {
    let mut items: Vec<&Sourced<T>> = items.into_iter().collect();
    items.sort_by(|a, b| canonical_order(a, b));
    let table = IdentifierTable::of(&items);
    let records = collapse_reports(&items, &table);

    let clusters = Clusters::build(&records, &table);
    let mut merged: Vec<Merged<T>> = if clusters.has_tie() {
        settle(&records, &table, clusters.into_groups())
            .into_iter()
            .map(|members| Cluster::of(&records, members).into_merged(&records, &table))
            .collect()
    } else {
        clusters.into_merged()
    };
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

fn as_json<T: Serialize>(value: &T) -> String {
    // Serialising these plain data types cannot fail; an empty string would still sort stably.
    serde_json::to_string(value).unwrap_or_default()
}

/// How often the clustering is run again on its own result before that is taken as it is. Of
/// 630,000 generated inputs, 99% needed no second round, 26 a third, none more.
const MAX_SETTLING_ROUNDS: usize = 4;

/// Clusters the records again, each carrying its group's merged item and identifiers, until
/// the grouping stops changing (see "Joining" in the module documentation).
fn settle<T: Mergeable>(
    records: &[Record<'_, T>],
    table: &IdentifierTable<'_>,
    mut groups: Vec<Vec<usize>>,
) -> Vec<Vec<usize>> {
    for _ in 0..MAX_SETTLING_ROUNDS {
        let again = Clusters::build(&as_merged(records, &groups), table).into_groups();
        if again == groups {
            return groups;
        }
        groups = again;
    }
    // Still a valid merge (no record lost, none twice, one per source), only one that merging
    // again could change; the property tests have never reached this.
    debug_assert!(
        false,
        "the merge settles within {MAX_SETTLING_ROUNDS} rounds"
    );
    tracing::warn!(domain = T::DOMAIN.as_str(), "merge did not settle");
    groups
}

/// Every record as the merged item of its group shows it: the group's item and identifiers.
fn as_merged<'a, T: Mergeable>(
    records: &[Record<'a, T>],
    groups: &[Vec<usize>],
) -> Vec<Record<'a, T>> {
    let mut shown: Vec<Option<Record<'a, T>>> = (0..records.len()).map(|_| None).collect();
    for members in groups {
        let cluster = Cluster::of(records, members.clone());
        for &i in members {
            shown[i] = Some(Record {
                item: cluster.item.clone(),
                identifiers: cluster.identifiers.clone(),
                provenance: records[i].provenance,
            });
        }
    }
    shown.into_iter().flatten().collect()
}

/// Every distinct identifier of the input, sorted, so that records and clusters can carry them
/// as indices: index order is identifier order (those without a system first).
struct IdentifierTable<'a>(Vec<&'a Identifier>);

impl<'a> IdentifierTable<'a> {
    fn of<T>(items: &[&'a Sourced<T>]) -> Self {
        let mut all: Vec<&'a Identifier> = items.iter().flat_map(|s| &s.identifiers).collect();
        all.sort_unstable();
        all.dedup();
        IdentifierTable(all)
    }

    fn index(&self, identifier: &Identifier) -> u32 {
        let found = self.0.binary_search(&identifier);
        // Every identifier of the input is in the table; u32 is far beyond one patient's.
        found.expect("the table holds every identifier") as u32
    }

    fn get(&self, index: u32) -> &'a Identifier {
        self.0[index as usize]
    }
}

/// One record of one source: every report of the same `(source_id, record_id)` collapsed.
struct Record<'a, T> {
    item: T,
    /// Into the identifier table; sorted and de-duplicated.
    identifiers: Vec<u32>,
    provenance: &'a Provenance,
}

/// Collapses the reports of one `(source_id, record_id)` (adjacent in canonical order) into one
/// record: the first report's item filled from the others, and all their identifiers.
fn collapse_reports<'a, T: Mergeable>(
    items: &[&'a Sourced<T>],
    table: &IdentifierTable<'a>,
) -> Vec<Record<'a, T>> {
    let mut records: Vec<Record<'a, T>> = Vec::with_capacity(items.len());
    for sourced in items {
        let identifiers = sourced.identifiers.iter().map(|i| table.index(i));
        match records.last_mut() {
            Some(last) if record_key(last.provenance) == record_key(&sourced.provenance) => {
                last.item.fill_missing(&sourced.item);
                last.identifiers.extend(identifiers);
            }
            _ => records.push(Record {
                item: sourced.item.clone(),
                identifiers: identifiers.collect(),
                provenance: &sourced.provenance,
            }),
        }
    }
    for record in &mut records {
        record.identifiers.sort();
        record.identifiers.dedup();
    }
    records
}

/// A group of records taken to be one real-world record, seen as the merged item it becomes:
/// every decision about it is made on this, never on one of its members alone.
struct Cluster<'a, T> {
    /// Record indices, ascending (so in canonical order).
    members: Vec<usize>,
    /// Sorted; each at most once, since a group holds at most one record per source.
    sources: Vec<&'a str>,
    /// The members' identifiers united (into the identifier table), sorted and de-duplicated.
    identifiers: Vec<u32>,
    /// The first member's item, every absent field filled from the others in order.
    item: T,
    /// The item's match keys, to find candidates by facts.
    keys: Vec<String>,
    /// Bumped at every join, so that queued links to the cluster's earlier state are skipped.
    version: u32,
}

impl<'a, T: Mergeable> Cluster<'a, T> {
    /// A new cluster of `members`.
    fn of(records: &[Record<'a, T>], members: Vec<usize>) -> Self {
        Self::joined(records, members, 0, None)
    }

    /// The cluster of `members`; when `before` (one of the clusters joined) has the same item,
    /// its match keys are taken rather than computed again, since filling rarely changes one.
    fn joined(
        records: &[Record<'a, T>],
        members: Vec<usize>,
        version: u32,
        before: Option<Cluster<'a, T>>,
    ) -> Self {
        let mut item = records[members[0]].item.clone();
        for &i in &members[1..] {
            item.fill_missing(&records[i].item);
        }
        let mut identifiers: Vec<u32> = members
            .iter()
            .flat_map(|&i| records[i].identifiers.iter().copied())
            .collect();
        identifiers.sort();
        identifiers.dedup();
        let mut sources: Vec<&'a str> = members
            .iter()
            .map(|&i| records[i].provenance.source_id.as_str())
            .collect();
        sources.sort_unstable();
        let keys = match before {
            Some(before) if before.item == item => before.keys,
            _ => item.match_keys(),
        };
        Cluster {
            keys,
            members,
            sources,
            identifiers,
            item,
            version,
        }
    }
}

impl<T: Mergeable> Cluster<'_, T> {
    fn into_merged(self, records: &[Record<'_, T>], table: &IdentifierTable<'_>) -> Merged<T> {
        Merged {
            id: String::new(),
            provenance: self
                .members
                .iter()
                .map(|&i| records[i].provenance.clone())
                .collect(),
            item: self.item,
            identifiers: self
                .identifiers
                .iter()
                .map(|&i| table.get(i).clone())
                .collect(),
        }
    }
}

/// How strongly two clusters are linked; stronger links are joined first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Strength {
    /// Identifiers the two have in common.
    shared_identifiers: usize,
    /// Their items are the same record by their clinical facts.
    same_facts: bool,
    /// Same item and same identifiers: what re-merging a merged item's records looks like.
    identical: bool,
}

/// A queued join of the clusters at slots `first` < `second`, valid while both are at `versions`.
/// Ordered strongest first, then by the slots (smallest first), so the order is total.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Link {
    strength: Strength,
    first: Reverse<usize>,
    second: Reverse<usize>,
    versions: (u32, u32),
}

/// The clustering: starts from one cluster per record and joins the strongest link of two
/// clusters that may be joined, until no two may.
struct Clusters<'r, 'a, T> {
    records: &'r [Record<'a, T>],
    table: &'r IdentifierTable<'a>,
    /// A cluster lives at the slot of its smallest member; the slots of the others are empty.
    slots: Vec<Option<Cluster<'a, T>>>,
    /// The slots of the clusters carrying each identifier of the table.
    by_identifier: Vec<BTreeSet<usize>>,
    by_key: HashMap<String, BTreeSet<usize>>,
    queue: BinaryHeap<Link>,
}

impl<'r, 'a, T: Mergeable> Clusters<'r, 'a, T> {
    fn build(records: &'r [Record<'a, T>], table: &'r IdentifierTable<'a>) -> Self {
        let mut clusters = Clusters {
            records,
            table,
            slots: (0..records.len())
                .map(|i| Some(Cluster::of(records, vec![i])))
                .collect(),
            by_identifier: vec![BTreeSet::new(); table.0.len()],
            by_key: HashMap::new(),
            queue: BinaryHeap::new(),
        };
        for slot in 0..records.len() {
            clusters.index(slot);
        }
        for slot in 0..records.len() {
            clusters.queue_links(slot, |other| other > slot);
        }
        while let Some(link) = clusters.queue.pop() {
            let (a, b) = (link.first.0, link.second.0);
            if clusters.version(a) == Some(link.versions.0)
                && clusters.version(b) == Some(link.versions.1)
            {
                clusters.join(a, b);
            }
        }
        clusters
    }

    fn version(&self, slot: usize) -> Option<u32> {
        self.slots[slot].as_ref().map(|c| c.version)
    }

    fn cluster(&self, slot: usize) -> &Cluster<'a, T> {
        self.slots[slot]
            .as_ref()
            .expect("links are only made between live clusters")
    }

    fn index(&mut self, slot: usize) {
        let Some(cluster) = &self.slots[slot] else {
            return;
        };
        for &identifier in &cluster.identifiers {
            self.by_identifier[identifier as usize].insert(slot);
        }
        for key in &cluster.keys {
            match self.by_key.get_mut(key) {
                Some(slots) => {
                    slots.insert(slot);
                }
                None => {
                    self.by_key.insert(key.clone(), BTreeSet::from([slot]));
                }
            }
        }
    }

    fn unindex(&mut self, cluster: &Cluster<'a, T>, slot: usize) {
        for &identifier in &cluster.identifiers {
            self.by_identifier[identifier as usize].remove(&slot);
        }
        for key in &cluster.keys {
            if let Some(slots) = self.by_key.get_mut(key) {
                slots.remove(&slot);
            }
        }
    }

    /// Queues a link from the cluster at `slot` to every cluster sharing an identifier or a
    /// match key with it (those are all it can be linked to) for which `wanted` holds.
    fn queue_links(&mut self, slot: usize, wanted: impl Fn(usize) -> bool) {
        let cluster = self.cluster(slot);
        let mut candidates: BTreeSet<usize> = BTreeSet::new();
        for &identifier in &cluster.identifiers {
            candidates.extend(&self.by_identifier[identifier as usize]);
        }
        for key in &cluster.keys {
            candidates.extend(&self.by_key[key]);
        }
        for other in candidates {
            if other == slot || !wanted(other) {
                continue;
            }
            let (first, second) = (slot.min(other), slot.max(other));
            let (x, y) = (self.cluster(first), self.cluster(second));
            if let Some(strength) = link(x, y, self.table) {
                self.queue.push(Link {
                    strength,
                    first: Reverse(first),
                    second: Reverse(second),
                    versions: (x.version, y.version),
                });
            }
        }
    }

    /// Joins the clusters at slots `a` < `b` into slot `a` and queues the new cluster's links.
    fn join(&mut self, a: usize, b: usize) {
        let (Some(x), Some(y)) = (self.slots[a].take(), self.slots[b].take()) else {
            unreachable!("only live clusters are joined");
        };
        self.unindex(&x, a);
        self.unindex(&y, b);
        let mut members = x.members.clone();
        members.extend(y.members);
        members.sort_unstable();
        let version = x.version + 1;
        self.slots[a] = Some(Cluster::joined(self.records, members, version, Some(x)));
        self.index(a);
        self.queue_links(a, |_| true);
    }

    /// Whether two clusters are a tie: the same item and identifiers, so that which records
    /// went together is not something a second merge could tell. Clustering that cannot change
    /// otherwise: a cluster's records, each carrying the cluster's item and identifiers, are
    /// more strongly linked to each other (identical) than to any other cluster's, and no two
    /// clusters may be joined. Clusters that can be linked to nothing cannot be part of a tie.
    fn has_tie(&self) -> bool {
        let mut alike: HashMap<(&[u32], &[String]), Vec<&T>> = HashMap::new();
        for cluster in self.slots.iter().flatten() {
            if cluster.identifiers.is_empty() && cluster.keys.is_empty() {
                continue;
            }
            let items = alike
                .entry((&cluster.identifiers, &cluster.keys))
                .or_default();
            if items.contains(&&cluster.item) {
                return true;
            }
            items.push(&cluster.item);
        }
        false
    }

    fn into_merged(self) -> Vec<Merged<T>> {
        let (records, table) = (self.records, self.table);
        self.slots
            .into_iter()
            .flatten()
            .map(|cluster| cluster.into_merged(records, table))
            .collect()
    }

    /// The clusters' members, in the order of their smallest member.
    fn into_groups(self) -> Vec<Vec<usize>> {
        self.slots
            .into_iter()
            .flatten()
            .map(|c| c.members)
            .collect()
    }
}

/// The strength of the link between two clusters, or `None` when they are not linked (no shared
/// identifier, not the same facts) or may not be joined (a source in both, contradicting
/// identifiers or facts).
fn link<T: Mergeable>(
    x: &Cluster<'_, T>,
    y: &Cluster<'_, T>,
    table: &IdentifierTable<'_>,
) -> Option<Strength> {
    let shared_identifiers = count_shared(&x.identifiers, &y.identifiers);
    let same_facts = x.item.same_facts(&y.item);
    if shared_identifiers == 0 && !same_facts {
        return None;
    }
    let may_join = x
        .sources
        .iter()
        .all(|s| y.sources.binary_search(s).is_err())
        && !identifiers_contradict(&x.identifiers, &y.identifiers, table)
        && !x.item.contradicts(&y.item);
    may_join.then(|| Strength {
        shared_identifiers,
        same_facts,
        // Items carry no NaN (sources' numbers are finite), so `==` is an equivalence here.
        identical: x.identifiers == y.identifiers && x.item == y.item,
    })
}

/// How many identifiers two sorted, de-duplicated lists have in common.
fn count_shared(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

/// Both carry values in a (named) system, and not the same values.
fn identifiers_contradict(a: &[u32], b: &[u32], table: &IdentifierTable<'_>) -> bool {
    // Both are sorted by system, then value: walk them a system at a time.
    let system = |i: &u32| table.get(*i).system.as_deref();
    let named = |ids: &[u32]| ids.partition_point(|i| system(i).is_none());
    let (mut a, mut b) = (&a[named(a)..], &b[named(b)..]);
    while let (Some(x), Some(y)) = (a.first(), b.first()) {
        let (system_a, system_b) = (system(x), system(y));
        let (in_a, rest_a) = a.split_at(a.partition_point(|i| system(i) == system_a));
        let (in_b, rest_b) = b.split_at(b.partition_point(|i| system(i) == system_b));
        match system_a.cmp(&system_b) {
            std::cmp::Ordering::Less => a = rest_a,
            std::cmp::Ordering::Greater => b = rest_b,
            std::cmp::Ordering::Equal => {
                if in_a != in_b {
                    return true;
                }
                (a, b) = (rest_a, rest_b);
            }
        }
    }
    false
}

/// Gives every merged item its id; see the module documentation for the scheme.
fn assign_ids<T: Mergeable>(merged: &mut [Merged<T>]) {
    let domain = T::ID_DOMAIN;
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
    let mut hash = digest::Context::new(&digest::SHA256);
    for part in parts {
        hash.update(part.len().to_string().as_bytes());
        hash.update(b":");
        hash.update(part.as_bytes());
    }
    let hash = hash.finish();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(T::ID_PREFIX.len() + 21);
    id.push_str(T::ID_PREFIX);
    id.push('_');
    for byte in &hash.as_ref()[..10] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    id
}
