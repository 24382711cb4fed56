//! The `Overview` object: the merged lists, their filters and order, and each source's status.
//! Everything was gathered before this object exists; resolving a list only merges (once per
//! domain) and filters.

use std::sync::{Arc, OnceLock};

use async_graphql::{
    Context, Enum, ErrorExtensions, InputType, Object, Result, SelectionField, Value,
};
use chrono::{NaiveDate, TimeDelta, Utc};

use super::paging::{self, NewestFirst};
use super::scalars::{Date, DateOrDateTime, DateTime, PersonIdScalar};
use super::types::{ContactRole, Domain as DomainEnum, LabReportNode, SourceState};
use super::{coded_error, codes};
use crate::access::{Grant, Seen, SourceAccess};
use crate::config::GraphqlSettings;
use crate::domain::concepts::{self, CodeQuery};
use crate::domain::{
    Agreement, AgreementStatus, Booking, CarePlan, Contact, Domain, DomainItem, DomainItems,
    LabReport, LabResult, Measurement, Medication, MedicationStatus, Merged, Organisation,
    PersonId, PlanStatus, Provenance, ResultStatus,
};
use crate::engine::{Engine, FetchState, Gathered, IndexLookup, IndexState, SourceOutcome};
use crate::merge::{self, Mergeable};
use crate::sources::{PartState, PartStatus, SourceError};

/// How much clients are told of what a source said about its failure
/// (`[graphql] redact_source_errors`). Sources' own words (an OperationOutcome's or SOAP
/// fault's text, an aggregator's account, what could not be read in an answer) may name the
/// patient or describe the source's insides; redacted, clients get a fixed text per code. The
/// application log never holds those words either way: it has the failure's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceErrorText {
    redact: bool,
}

impl From<&GraphqlSettings> for SourceErrorText {
    fn from(settings: &GraphqlSettings) -> Self {
        SourceErrorText {
            redact: settings.redact_source_errors(),
        }
    }
}

impl SourceErrorText {
    /// The schema's setting; redacted where a schema was built without one.
    fn of(ctx: &Context<'_>) -> Self {
        ctx.data_opt::<SourceErrorText>()
            .copied()
            .unwrap_or(SourceErrorText { redact: true })
    }

    /// A source's failure as clients are told it (after the source's name).
    fn source(self, error: &SourceError) -> String {
        if self.redact {
            error.stable_text()
        } else {
            error.to_string()
        }
    }

    /// The engagement index's failure as clients are told it (after "the engagement index").
    fn index(self, error: &SourceError) -> String {
        if self.redact {
            format!("failed ({})", codes::ENGAGEMENT_INDEX_UNAVAILABLE)
        } else {
            error.to_string()
        }
    }

    /// What an aggregator said went wrong with a system behind it, where clients may see it.
    fn part_error(self, part: &PartStatus) -> Option<&str> {
        part.error.as_deref().filter(|_| !self.redact)
    }
}

/// Which items to include by whether they are still in effect.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ActivityFilter {
    /// In effect now (or not known to have ended).
    Active,
    /// Ended, completed, cancelled or revoked.
    Ended,
    All,
}

impl ActivityFilter {
    /// Whether an item that has (or has not) `ended` is included.
    fn admits(self, ended: bool) -> bool {
        match self {
            ActivityFilter::Active => !ended,
            ActivityFilter::Ended => ended,
            ActivityFilter::All => true,
        }
    }
}

/// Whether an item's code matches a `code` argument (no argument matches everything): the
/// same code, or another code of the same concept (`domain::concepts`).
fn code_matches(wanted: Option<&CodeQuery>, code: Option<&crate::domain::Code>) -> bool {
    wanted.is_none_or(|w| w.matches(code))
}

/// A `code` argument read as a FHIR token; `INVALID_ARGUMENT` when it cannot be.
fn code_query(written: Option<&str>) -> Result<Option<CodeQuery>> {
    written
        .map(CodeQuery::parse)
        .transpose()
        .map_err(|e| coded_error(codes::INVALID_ARGUMENT, e.to_string()))
}

/// One kind of measurement or analysis for the latest-value views.
#[derive(PartialEq, Eq, Hash)]
enum Kind<'a> {
    /// A concept of the concept map, by id.
    Concept(&'a str),
    /// A code the map does not know, in its system.
    Code(Option<&'a str>, &'a str),
    /// An uncoded item, by its name as the source wrote it.
    Name(&'a str),
}

fn kind_of<'a>(code: Option<&'a crate::domain::Code>, name: &'a str) -> Kind<'a> {
    match code {
        Some(c) => match (concepts::of(c), c.code.as_deref()) {
            (Some(concept), _) => Kind::Concept(&concept.id),
            (None, Some(code)) => Kind::Code(c.system.as_deref(), code),
            (None, None) => Kind::Name(name),
        },
        None => Kind::Name(name),
    }
}

/// The first item of each kind among `items` with a time. The merged lists come newest first
/// (ties by id), so the first of a kind is its newest, and the answer keeps that
/// order: one pass, one set of kinds.
fn latest_per_kind<'a, T: 'a>(
    items: impl Iterator<Item = &'a Merged<T>>,
    time_and_kind: impl Fn(&'a Merged<T>) -> (Option<Instant>, Kind<'a>),
) -> Vec<&'a Merged<T>> {
    let mut seen = std::collections::HashSet::new();
    items
        .filter(|item| {
            let (time, kind) = time_and_kind(item);
            time.is_some() && seen.insert(kind)
        })
        .collect()
}

/// Which bookings to include by time.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum BookingFilter {
    /// Starting now or later.
    Upcoming,
    /// Started before now.
    Past,
    All,
}

/// The list fields of `Overview` and the domain each shows.
pub(crate) const LIST_FIELDS: [(&str, Domain); 8] = [
    ("contacts", Domain::Contacts),
    ("carePlans", Domain::CarePlans),
    ("agreements", Domain::Agreements),
    ("medications", Domain::Medications),
    ("measurements", Domain::Measurements),
    ("labResults", Domain::LabResults),
    // Reports come with the lab results: `itemCount` counts results, under the filter of
    // `labResults` when the query selects it, else of `labReports`.
    ("labReports", Domain::LabResults),
    ("bookings", Domain::Bookings),
];

/// The latest-value views of `Overview` and the domain each shows (fetched as their lists are).
pub(crate) const LATEST_FIELDS: [(&str, Domain); 2] = [
    ("latestMeasurements", Domain::Measurements),
    ("latestLabResults", Domain::LabResults),
];

/// One list's arguments as its resolver reads them: what the list shows of its domain. The
/// lists and `SourceStatus.itemCount` filter with the same predicates below, so a count is
/// what the list shows.
#[derive(Clone)]
pub(crate) enum ListFilter {
    Contacts {
        role: Option<ContactRole>,
        status: ActivityFilter,
    },
    CarePlans {
        status: ActivityFilter,
        range: Range,
    },
    Agreements {
        status: ActivityFilter,
        range: Range,
    },
    Medications {
        status: ActivityFilter,
        range: Range,
    },
    Measurements {
        range: Range,
        code: Option<CodeQuery>,
    },
    LabResults {
        range: Range,
        code: Option<CodeQuery>,
    },
    Bookings {
        status: BookingFilter,
        range: Range,
    },
}

impl ListFilter {
    /// The arguments of one selection of a list field, checked as its resolver checks them
    /// (defaults included); an error where the resolver would fail.
    fn of_selection(domain: Domain, field: &SelectionField<'_>) -> Result<ListFilter> {
        let arguments = field.arguments()?;
        let arg = |name: &str| {
            arguments
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.clone())
        };
        fn parse<T: InputType>(value: Option<Value>) -> Result<T> {
            T::parse(value).map_err(|e| e.into_server_error(Default::default()).into())
        }
        let activity = |default| match arg("status") {
            None => Ok(default),
            value => parse::<ActivityFilter>(value),
        };
        let range = || Range::new(parse(arg("from"))?, parse(arg("to"))?);
        // A page that cannot be read makes the list null, so nothing of it is counted either.
        if matches!(domain, Domain::Measurements | Domain::LabResults) {
            let after: Option<String> = parse(arg("after"))?;
            paging::arguments::<NewestFirst>(field.name(), parse(arg("first"))?, after.as_deref())?;
        }
        Ok(match domain {
            Domain::Contacts => ListFilter::Contacts {
                role: parse(arg("role"))?,
                status: activity(ActivityFilter::Active)?,
            },
            Domain::CarePlans => ListFilter::CarePlans {
                status: activity(ActivityFilter::All)?,
                range: range()?,
            },
            Domain::Agreements => ListFilter::Agreements {
                status: activity(ActivityFilter::All)?,
                range: range()?,
            },
            Domain::Medications => ListFilter::Medications {
                status: activity(ActivityFilter::Active)?,
                range: range()?,
            },
            Domain::Measurements => ListFilter::Measurements {
                range: range()?,
                code: code_query(parse::<Option<String>>(arg("code"))?.as_deref())?,
            },
            Domain::LabResults => ListFilter::LabResults {
                range: range()?,
                code: code_query(parse::<Option<String>>(arg("code"))?.as_deref())?,
            },
            Domain::Bookings => ListFilter::Bookings {
                status: match arg("status") {
                    None => BookingFilter::All,
                    value => parse(value)?,
                },
                range: range()?,
            },
            Domain::Patient => {
                return Err(async_graphql::Error::new("the patient header has no list"));
            }
        })
    }
}

/// The filter of the first selection of each list field the query selects (in document order,
/// through fragments): `SourceStatus.itemCount` counts under it. `None` for a list whose
/// arguments are invalid (it resolves to null, so a source shows nothing in it).
pub(crate) fn list_filters(ctx: &Context<'_>) -> Vec<(Domain, Option<ListFilter>)> {
    let look = ctx.look_ahead();
    LIST_FIELDS
        .iter()
        .filter_map(|(field, domain)| {
            let first = look.field(field).selection_fields().into_iter().next()?;
            Some((*domain, ListFilter::of_selection(*domain, &first).ok()))
        })
        .collect()
}

fn contact_admitted(
    role: Option<ContactRole>,
    status: ActivityFilter,
    today: NaiveDate,
    c: &Contact,
) -> bool {
    role.is_none_or(|r| crate::domain::ContactRole::from(r) == c.role)
        && status.admits(c.end.is_some_and(|e| e < today))
}

fn care_plan_admitted(status: ActivityFilter, range: &Range, p: &CarePlan) -> bool {
    let ended = matches!(p.status, PlanStatus::Completed | PlanStatus::Revoked);
    status.admits(ended) && range.overlaps(p.start, p.end)
}

fn agreement_admitted(status: ActivityFilter, range: &Range, a: &Agreement) -> bool {
    let ended = matches!(
        a.status,
        AgreementStatus::Completed | AgreementStatus::Cancelled
    );
    status.admits(ended) && range.overlaps(a.start, a.due)
}

fn medication_admitted(
    status: ActivityFilter,
    range: &Range,
    today: NaiveDate,
    m: &Medication,
) -> bool {
    let ended = m.status == MedicationStatus::Ended || m.end.is_some_and(|e| e < today);
    status.admits(ended) && range.overlaps(m.start, m.end)
}

fn measurement_admitted(range: &Range, code: Option<&CodeQuery>, m: &Measurement) -> bool {
    range.contains(m.time) && code_matches(code, m.code.as_ref())
}

fn lab_result_admitted(range: &Range, code: Option<&CodeQuery>, l: &LabResult) -> bool {
    range.contains(l.time) && code_matches(code, l.code.as_ref())
}

fn booking_admitted(status: BookingFilter, range: &Range, now: Instant, b: &Booking) -> bool {
    let by_status = match status {
        BookingFilter::Upcoming => b.start >= now,
        BookingFilter::Past => b.start < now,
        BookingFilter::All => true,
    };
    by_status && range.contains(Some(b.start))
}

/// The care overview of one person, as one viewer may see it.
pub struct Overview {
    patient: PersonId,
    gathered: Gathered,
    engine: Arc<Engine>,
    /// What the access rules allow this viewer; applied to every list on every request.
    grant: Grant,
    /// `grant.view`'s fingerprint, for the merged-list memo (made once per request).
    view_key: String,
    now: Instant,
    contacts: OnceLock<Arc<Vec<Merged<Contact>>>>,
    care_plans: OnceLock<Arc<Vec<Merged<CarePlan>>>>,
    agreements: OnceLock<Arc<Vec<Merged<Agreement>>>>,
    medications: OnceLock<Arc<Vec<Merged<Medication>>>>,
    measurements: OnceLock<Arc<Vec<Merged<Measurement>>>>,
    /// Lab results and reports, merged and linked together.
    lab: OnceLock<Arc<LabLists>>,
    bookings: OnceLock<Arc<Vec<Merged<Booking>>>>,
    /// Each selected list's filter, for `SourceStatus.itemCount`.
    filters: Vec<(Domain, Option<ListFilter>)>,
    /// False in a subscription's event while sources are still pending.
    complete: bool,
    /// In a subscription's event: the (source id, domain) pairs whose data changed since the
    /// previous event.
    changed: Vec<(String, Domain)>,
    /// Staff without the patient's consent: the lists carry `CONSENT_REQUIRED` (a
    /// subscription's events; the query puts it on `overview` itself).
    consent_error: std::sync::atomic::AtomicBool,
}

impl Overview {
    pub(crate) fn new(
        patient: PersonId,
        gathered: Gathered,
        engine: Arc<Engine>,
        grant: Grant,
        filters: Vec<(Domain, Option<ListFilter>)>,
    ) -> Self {
        Overview {
            patient,
            gathered,
            engine,
            filters,
            view_key: grant.view.fingerprint(),
            grant,
            now: Utc::now(),
            contacts: OnceLock::new(),
            care_plans: OnceLock::new(),
            agreements: OnceLock::new(),
            medications: OnceLock::new(),
            measurements: OnceLock::new(),
            lab: OnceLock::new(),
            bookings: OnceLock::new(),
            complete: true,
            changed: Vec::new(),
            consent_error: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// As an event of a subscription: whether every source has ended, which sources' data
    /// changed since the previous event, and whether the first list resolved should carry
    /// `CONSENT_REQUIRED` (an event has no field of its own to put it on).
    pub(crate) fn into_event(
        mut self,
        complete: bool,
        changed: Vec<(String, Domain)>,
        consent_error: bool,
    ) -> Self {
        self.complete = complete;
        self.changed = changed;
        self.consent_error = std::sync::atomic::AtomicBool::new(consent_error);
        self
    }

    fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }

    /// One domain's items the viewer may see, from every source, merged once per request
    /// (and not at all when every answer is the same cached one as when they were last merged
    /// for a viewer who sees the same). Hidden items are left out before merging, so they
    /// leave no trace in another item's provenance either.
    fn merged<'a, T: DomainItem + Mergeable + Send + Sync + 'static>(
        &'a self,
        cell: &'a OnceLock<Arc<Vec<Merged<T>>>>,
    ) -> &'a [Merged<T>] {
        cell.get_or_init(|| {
            let domain = <T as DomainItem>::DOMAIN;
            let view = &self.grant.view;
            let outcomes: Vec<&SourceOutcome> = self.visible_outcomes(domain).collect();
            let answers = outcomes.iter().map(|o| o.answer.clone()).collect();
            self.engine
                .merged_lists()
                .get_or_merge(domain, &self.view_key, answers, || {
                    merge::merge(
                        outcomes
                            .iter()
                            .filter_map(|o| o.items())
                            .flat_map(T::slice)
                            .filter(|s| {
                                view.item(&s.provenance, s.approved_for_patient) == Seen::Shown
                            }),
                    )
                })
        })
    }

    /// The lab results and reports the viewer may see, merged and linked as `merged` merges a
    /// domain (once per request, and remembered for the same answers and view).
    fn lab(&self) -> &LabLists {
        self.lab.get_or_init(|| {
            let domain = Domain::LabResults;
            let view = &self.grant.view;
            let outcomes: Vec<&SourceOutcome> = self.visible_outcomes(domain).collect();
            let answers = outcomes.iter().map(|o| o.answer.clone()).collect();
            self.engine
                .merged_lists()
                .get_or_merge(domain, &self.view_key, answers, || {
                    let shown =
                        |p: &Provenance, approved: bool| view.item(p, approved) == Seen::Shown;
                    let lists = merge::reports::merge_lab(
                        outcomes
                            .iter()
                            .filter_map(|o| o.items())
                            .flat_map(LabResult::slice)
                            .filter(|s| shown(&s.provenance, s.approved_for_patient)),
                        outcomes
                            .iter()
                            .filter_map(|o| o.items())
                            .flat_map(LabReport::slice)
                            .filter(|s| shown(&s.provenance, s.approved_for_patient)),
                    );
                    LabLists::of(lists)
                })
        })
    }

    /// The outcomes for `domain` of the sources whose data the viewer may see (sources asked
    /// only to learn whether blocked data exists are left out).
    fn visible_outcomes(&self, domain: Domain) -> impl Iterator<Item = &SourceOutcome> {
        self.gathered
            .for_domain(domain)
            .filter(|o| self.grant.view.source(&o.source) == SourceAccess::Ask)
    }

    /// The items of one answer this viewer sees (only those from the system at `address`,
    /// when given), before the list's arguments.
    fn visible_count(&self, items: &DomainItems, address: Option<&str>) -> usize {
        let mut count = 0;
        each_item(items, |provenance, approved| {
            if self.shown(provenance, approved, address) {
                count += 1;
            }
        });
        count
    }

    fn shown(&self, provenance: &Provenance, approved: bool, address: Option<&str>) -> bool {
        self.grant.view.item(provenance, approved) == Seen::Shown
            && address.is_none_or(|a| from_address(provenance, a))
    }

    /// The items of one answer this viewer sees (only those from the system at `address`,
    /// when given) under the filter of the first selection of the domain's list.
    fn filtered_count(&self, domain: Domain, items: &DomainItems, address: Option<&str>) -> usize {
        let filter = match self.filters.iter().find(|(d, _)| *d == domain) {
            // The patient header: no arguments.
            None => return self.visible_count(items, address),
            // Invalid arguments: the list is null, nothing of it is shown.
            Some((_, None)) => return 0,
            Some((_, Some(filter))) => filter,
        };
        let (today, now) = (self.today(), self.now);
        macro_rules! count {
            ($v:expr, $admitted:expr) => {
                $v.iter()
                    .filter(|s| self.shown(&s.provenance, s.approved_for_patient, address))
                    .filter(|s| $admitted(&s.item))
                    .count()
            };
        }
        match (items, filter) {
            (DomainItems::Contacts(v), ListFilter::Contacts { role, status }) => {
                count!(v, |c| contact_admitted(*role, *status, today, c))
            }
            (DomainItems::CarePlans(v), ListFilter::CarePlans { status, range }) => {
                count!(v, |p| care_plan_admitted(*status, range, p))
            }
            (DomainItems::Agreements(v), ListFilter::Agreements { status, range }) => {
                count!(v, |a| agreement_admitted(*status, range, a))
            }
            (DomainItems::Medications(v), ListFilter::Medications { status, range }) => {
                count!(v, |m| medication_admitted(*status, range, today, m))
            }
            (DomainItems::Measurements(v), ListFilter::Measurements { range, code }) => {
                count!(v, |m| measurement_admitted(range, code.as_ref(), m))
            }
            (DomainItems::LabResults(v), ListFilter::LabResults { range, code }) => {
                count!(v.results, |l| lab_result_admitted(range, code.as_ref(), l))
            }
            (DomainItems::Bookings(v), ListFilter::Bookings { status, range }) => {
                count!(v, |b| booking_admitted(*status, range, now, b))
            }
            // An answer of another domain than its outcome's: nothing of it is in the list.
            _ => 0,
        }
    }

    /// `FORBIDDEN` for a list the viewer may not see (a delegate's undelegated domains).
    fn check_allowed(&self, domain: Domain) -> Result<()> {
        if self.grant.allows(domain) {
            Ok(())
        } else {
            Err(coded_error(
                codes::FORBIDDEN,
                format!(
                    "the patient has not delegated their {} to you",
                    domain.words()
                ),
            ))
        }
    }

    /// Adds one GraphQL error per source that could not give fresh data for `domain`, at the
    /// path of the list being resolved, so clients see exactly what is missing or stale.
    fn report_failures(&self, ctx: &Context<'_>, domain: Domain) {
        if self
            .consent_error
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            let err = super::consent_required();
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
        }
        let text = SourceErrorText::of(ctx);
        for outcome in self.visible_outcomes(domain) {
            let Some(error) = &outcome.error else {
                continue;
            };
            let stale = outcome.state == FetchState::StaleSourceFailed;
            let message = match (stale, outcome.fetched_at()) {
                (true, Some(at)) => format!(
                    "{} {}; showing its data as fetched at {}",
                    outcome.source.name,
                    text.source(error),
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                _ => format!(
                    "{} {}; its {} are missing",
                    outcome.source.name,
                    text.source(error),
                    domain.words()
                ),
            };
            let err = async_graphql::Error::new(message).extend_with(|_, e| {
                e.set("code", error.code());
                e.set("source", outcome.source.id.as_str());
                e.set("domain", domain.graphql_name());
                e.set("stale", stale);
            });
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
        }
        // Answers with records that could not be read: what is shown is not all there is.
        for outcome in self.visible_outcomes(domain) {
            let left_out = outcome.answer.as_ref().map_or(0, |a| a.left_out);
            if left_out == 0 {
                continue;
            }
            let records = if left_out == 1 { "record" } else { "records" };
            let message = format!(
                "{} sent {left_out} {records} among its {} that could not be read (incomplete or malformed); they are not shown",
                outcome.source.name,
                domain.words()
            );
            let err = async_graphql::Error::new(message).extend_with(|_, e| {
                e.set("code", codes::SOURCE_INCOMPLETE);
                e.set("source", outcome.source.id.as_str());
                e.set("domain", domain.graphql_name());
                e.set("leftOut", left_out);
            });
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
        }
        // Systems behind an aggregating source that it could not reach.
        for outcome in self.visible_outcomes(domain) {
            for part in outcome.parts() {
                let stale = part.state == PartState::DataFromCacheSyncFailed;
                if !stale && part.state != PartState::NoDataSyncFailed {
                    continue;
                }
                let Some(message) = part_message(outcome, part, text) else {
                    continue;
                };
                let message = if stale {
                    format!("{message}; showing what it had cached")
                } else {
                    format!("{message}; its {} are missing", domain.words())
                };
                let err = async_graphql::Error::new(message).extend_with(|_, e| {
                    e.set("code", codes::SOURCE_ERROR);
                    e.set("source", outcome.source.id.as_str());
                    e.set("logicalAddress", part.logical_address.as_str());
                    e.set("domain", domain.graphql_name());
                    e.set("stale", stale);
                });
                ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
            }
        }
        // The engagement index could not say which sources hold data: all were asked.
        for lookup in self.gathered.index.iter().filter(|l| l.domain == domain) {
            let Some(error) = &lookup.error else {
                continue;
            };
            let err = async_graphql::Error::new(format!(
                "the engagement index {}; every platform source of the {} was asked",
                text.index(error),
                domain.words()
            ))
            .extend_with(|_, e| {
                e.set("code", codes::ENGAGEMENT_INDEX_UNAVAILABLE);
                e.set("domain", domain.graphql_name());
            });
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
        }
    }
}

type Instant = chrono::DateTime<Utc>;

/// The lab results domain as the overview shows it: the flat list of results, and the reports
/// each with its results.
pub(crate) struct LabLists {
    results: Vec<Merged<LabResult>>,
    reports: Vec<LabReportNode>,
}

impl LabLists {
    fn of(lists: merge::reports::LabLists) -> Self {
        let by_id: std::collections::HashMap<&str, &Merged<LabResult>> =
            lists.results.iter().map(|r| (r.id.as_str(), r)).collect();
        let reports = lists
            .reports
            .into_iter()
            .map(|report| LabReportNode {
                results: report
                    .item
                    .result_ids
                    .iter()
                    .filter_map(|id| by_id.get(id.as_str()).map(|r| (*r).clone()))
                    .collect(),
                report,
            })
            .collect();
        LabLists {
            reports,
            results: lists.results,
        }
    }
}

/// The key of a merged item in a list shown newest first (see [`NewestFirst`]).
fn newest_first<T>(time: impl Fn(&T) -> Option<Instant>) -> impl Fn(&Merged<T>) -> NewestFirst {
    move |m| NewestFirst {
        time: time(&m.item),
        id: m.id.clone(),
    }
}

/// A checked `from`/`to` pair: `from` inclusive, `to` exclusive, both instants. A date bound is
/// a Swedish calendar day: `from` starts at its midnight, `to` ends at the next midnight (so
/// the day is included).
#[derive(Clone, Copy)]
pub(crate) struct Range {
    pub(crate) from: Option<Instant>,
    pub(crate) to: Option<Instant>,
}

/// The midnight that starts `day` in Sweden, as an instant. Swedish clocks change at 02:00 and
/// 03:00, so midnight always exists once; `earliest` is only a guard.
fn swedish_midnight(day: NaiveDate) -> Instant {
    use chrono::TimeZone;
    let local = day.and_time(chrono::NaiveTime::MIN);
    chrono_tz::Europe::Stockholm
        .from_local_datetime(&local)
        .earliest()
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

impl Range {
    pub(crate) fn new(from: Option<DateOrDateTime>, to: Option<DateOrDateTime>) -> Result<Range> {
        let from = from.map(|b| match b {
            DateOrDateTime::Date(d) => swedish_midnight(d),
            DateOrDateTime::Instant(t) => t,
        });
        let to = to.map(|b| match b {
            DateOrDateTime::Date(d) => swedish_midnight(d + TimeDelta::days(1)),
            DateOrDateTime::Instant(t) => t,
        });
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(coded_error(
                codes::INVALID_ARGUMENT,
                "`from` must be earlier than `to` (a date in `to` includes that day)",
            ));
        }
        Ok(Range { from, to })
    }

    fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whether an instant lies in the range. Items without a time are only shown when no range
    /// is given: we cannot tell whether they belong in it.
    fn contains(&self, time: Option<Instant>) -> bool {
        match time {
            None => self.is_open(),
            Some(t) => self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|to| t < to),
        }
    }

    /// Whether a period of whole Swedish calendar days (open ends unbounded) overlaps the
    /// range: the records' dates are days in Sweden, so they start at Swedish midnight.
    fn overlaps(&self, start: Option<NaiveDate>, end: Option<NaiveDate>) -> bool {
        let start = start.map(swedish_midnight);
        let end_exclusive = end.map(|d| swedish_midnight(d + TimeDelta::days(1)));
        self.to.is_none_or(|to| start.is_none_or(|s| s < to))
            && self
                .from
                .is_none_or(|from| end_exclusive.is_none_or(|e| e > from))
    }
}

/// The signed-in patient as the overview shows them.
pub struct PatientHeader<'a> {
    overview: &'a Overview,
}

/// Who the overview is about.
#[Object(name = "Patient")]
impl PatientHeader<'_> {
    async fn person_id(&self) -> PersonIdScalar {
        PersonIdScalar(Ok(self.overview.patient.clone()))
    }

    /// The date of birth, from the personnummer.
    async fn birth_date(&self) -> Date {
        Date(self.overview.patient.birth_date())
    }

    /// The name as the sources have it; null when no source answered with one.
    async fn name(&self, ctx: &Context<'_>) -> Option<String> {
        self.overview.report_failures(ctx, Domain::Patient);
        let view = &self.overview.grant.view;
        self.overview
            .visible_outcomes(Domain::Patient)
            .filter_map(SourceOutcome::items)
            .flat_map(crate::domain::PatientRecord::slice)
            .filter(|r| view.item(&r.provenance, r.approved_for_patient) == Seen::Shown)
            .find_map(|r| r.item.name.clone())
    }
}

/// What happened when one source was asked for one domain; or, for a source system behind an
/// aggregating source, what the aggregator reported for it (`aggregated`).
pub struct SourceStatus<'a> {
    outcome: &'a SourceOutcome,
    item_count: usize,
    reported_count: usize,
    part: Option<&'a PartStatus>,
    changed: bool,
}

/// What happened when one source was asked for one domain; or, for a source system behind an
/// aggregating source (`aggregated`), what the aggregator reported for it.
#[Object]
impl SourceStatus<'_> {
    /// Överblick's id of the source (for an aggregated system: of the aggregating source).
    async fn source(&self) -> &str {
        &self.outcome.source.id
    }

    /// The source's name.
    async fn source_name(&self) -> &str {
        &self.outcome.source.name
    }

    async fn domain(&self) -> DomainEnum {
        self.outcome.domain.into()
    }

    /// The logical address (HSA-id) on the national service platform: the source's own, or
    /// for an aggregated system the one the aggregator called. Null for FHIR sources.
    async fn logical_address(&self) -> Option<&str> {
        match self.part {
            Some(part) => Some(&part.logical_address),
            None => self.outcome.logical_address.as_deref(),
        }
    }

    /// True for a source system reached through an aggregating source, as the aggregator
    /// reported it (its `ProcessingStatus`).
    async fn aggregated(&self) -> bool {
        self.part.is_some()
    }

    /// In a subscription's events: whether this source's data for the domain changed since
    /// the previous event (a pending source that answered, new data after a notification).
    /// Always false in a query's answer.
    async fn changed(&self) -> bool {
        self.changed
    }

    async fn state(&self) -> SourceState {
        match self.part {
            None => self.outcome.state.into(),
            Some(part) => match part.state {
                PartState::DataFromSource => SourceState::FromSource,
                PartState::DataFromCache => SourceState::FromCache,
                PartState::DataFromCacheSyncFailed => SourceState::StaleSourceFailed,
                PartState::NoDataSyncFailed => SourceState::Failed,
                PartState::Unknown => SourceState::Unknown,
            },
        }
    }

    /// The items of this source that the domain's list shows you: those you may see that its
    /// arguments admit (`status`, `from`, `to`, `code`, `role`, each applied to this source's
    /// own record), counted before merging (an item several sources reported counts for each)
    /// and including stale ones served. A paged list's page (`first`, `after`) does not change
    /// it: it counts what the list has in all its pages. When the query selects the domain's
    /// list more than once (under aliases), the count is for its first selection in the
    /// query's text; 0 when that selection's arguments are invalid (the list is null). For an aggregated system:
    /// the items whose source system, care provider or care unit is its logical address.
    async fn item_count(&self) -> usize {
        self.item_count
    }

    /// The items this source reported that you may see, before the list's arguments: the
    /// whole of what it holds for you in this domain, whatever the list filters out (items
    /// hidden from you by the access rules are never counted). Counted as `itemCount` is
    /// otherwise.
    async fn reported_count(&self) -> usize {
        self.reported_count
    }

    /// Time this request spent on the source, in milliseconds (for an aggregated system: on
    /// the aggregating source).
    async fn latency_ms(&self) -> u64 {
        self.outcome.latency.as_millis() as u64
    }

    /// When the data shown was fetched from the source; null when there is none.
    async fn fetched_at(&self) -> Option<DateTime> {
        self.outcome.fetched_at().map(DateTime)
    }

    /// How old the data shown is, in whole seconds since it was fetched from the source: near
    /// zero when fresh, larger when served from the cache or stale. Null when there is none.
    async fn age_seconds(&self) -> Option<u64> {
        self.outcome
            .answer
            .as_ref()
            .map(|a| a.arrived.elapsed().as_secs())
    }

    /// Records the source sent that could not be read (a required element missing, say) and
    /// are not shown; 0 when all could. For an aggregated system: those of the whole answer.
    async fn left_out(&self) -> usize {
        self.outcome.answer.as_ref().map_or(0, |a| a.left_out)
    }

    /// Clinical notes (discharge summaries, consult and progress notes) the source sent with
    /// its lab results: they are documents, not lab results, and the overview does not show
    /// them; 0 when none. Not an error: the source's own e-service has them.
    async fn clinical_notes(&self) -> usize {
        self.outcome.answer.as_ref().map_or(0, |a| a.notes)
    }

    /// Why the source gave no fresh data, as the stable code its error carries
    /// (`SOURCE_TIMEOUT`, `SOURCE_ERROR`, `SOURCE_UNAVAILABLE`, `SOURCE_OVERLOADED`); null when
    /// it did. For an aggregated system: `SOURCE_ERROR` when the aggregator reports a failure.
    async fn code(&self) -> Option<&'static str> {
        match self.part {
            Some(part) => matches!(
                part.state,
                PartState::DataFromCacheSyncFailed | PartState::NoDataSyncFailed
            )
            .then_some(codes::SOURCE_ERROR),
            None => self.outcome.error.as_ref().map(|e| e.code()),
        }
    }

    /// Aggregated systems only: when the aggregator last fetched from the system successfully.
    async fn last_successful_sync(&self) -> Option<DateTime> {
        self.part.and_then(|p| p.last_successful_sync).map(DateTime)
    }

    /// What went wrong, when something did. Where the deployment keeps sources' own words
    /// from clients (production's default), a fixed text per code, e.g. "Akademiska sjukhuset
    /// failed (SOURCE_ERROR)".
    async fn message(&self, ctx: &Context<'_>) -> Option<String> {
        let text = SourceErrorText::of(ctx);
        match self.part {
            Some(part) => part_message(self.outcome, part, text),
            None => self
                .outcome
                .error
                .as_ref()
                .map(|e| format!("{} {}", self.outcome.source.name, text.source(e))),
        }
    }
}

/// What an aggregating source said went wrong with a system behind it, if anything (its own
/// words only where clients may see them).
fn part_message(
    outcome: &SourceOutcome,
    part: &PartStatus,
    text: SourceErrorText,
) -> Option<String> {
    let failed = matches!(
        part.state,
        PartState::NoDataSyncFailed | PartState::DataFromCacheSyncFailed
    );
    match (text.part_error(part), failed) {
        (Some(error), _) => Some(format!(
            "{} reports for {}: {error}",
            outcome.source.name, part.logical_address
        )),
        (None, true) => Some(format!(
            "{} reports that {} could not be reached",
            outcome.source.name, part.logical_address
        )),
        (None, false) => None,
    }
}

/// Whether an item of an aggregated answer came from the system at `address`.
fn from_address(provenance: &Provenance, address: &str) -> bool {
    let hsa = |o: &Option<Organisation>| {
        o.as_ref()
            .and_then(|o| o.hsa_id.as_ref())
            .is_some_and(|h| h.as_str() == address)
    };
    provenance
        .record_id
        .strip_prefix(address)
        .is_some_and(|rest| rest.starts_with('/'))
        || hsa(&provenance.care_provider)
        || hsa(&provenance.care_unit)
}

/// How the engagement index was consulted for one domain of this overview.
pub struct IndexLookupStatus<'a>(&'a IndexLookup);

/// What the engagement index did for one domain.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum IndexLookupState {
    /// The index answered; only the sources it named were asked.
    Answered,
    /// A recent answer of the index was reused; only the sources it named were asked.
    FromCache,
    /// The index failed or did not answer in time; every source of the domain was asked.
    FailedAskedAll,
}

/// How the engagement index was consulted for one domain of this overview: which of the
/// domain's platform sources were asked.
#[Object]
impl IndexLookupStatus<'_> {
    async fn domain(&self) -> DomainEnum {
        self.0.domain.into()
    }

    /// The service domain asked about, e.g. `riv:clinicalprocess:activityprescription:actoutcome`.
    async fn service_domain(&self) -> &str {
        &self.0.key.scope
    }

    /// The categorisation asked about, e.g. `caa-gmh`.
    async fn categorization(&self) -> &str {
        self.0.key.category
    }

    async fn state(&self) -> IndexLookupState {
        match self.0.state {
            IndexState::Answered => IndexLookupState::Answered,
            IndexState::FromCache => IndexLookupState::FromCache,
            IndexState::FailedAskedAll => IndexLookupState::FailedAskedAll,
        }
    }

    /// The platform sources of this domain the index decided about.
    async fn sources_considered(&self) -> usize {
        self.0.considered.len()
    }

    /// How many of them were asked.
    async fn sources_asked(&self) -> usize {
        self.0.asked
    }

    /// Calls the index saved: sources it did not name were not asked.
    async fn calls_avoided(&self) -> usize {
        self.0.avoided()
    }

    async fn latency_ms(&self) -> u64 {
        self.0.latency.as_millis() as u64
    }

    /// What went wrong, when the index failed (a fixed text where the deployment keeps
    /// sources' own words from clients).
    async fn message(&self, ctx: &Context<'_>) -> Option<String> {
        let text = SourceErrorText::of(ctx);
        self.0.error.as_ref().map(|e| {
            format!(
                "the engagement index {}; every source was asked",
                text.index(e)
            )
        })
    }
}

/// The overview. Lists are merged across sources (one item per real-world record, with every
/// source in `provenance`) and come in the documented order. Every selected field is in the
/// answer: a list you may not see (`FORBIDDEN`) or whose arguments are invalid
/// (`INVALID_ARGUMENT`) is null, with one error at its path; the other lists are answered.
#[Object]
impl Overview {
    async fn patient(&self) -> PatientHeader<'_> {
        PatientHeader { overview: self }
    }

    /// Whether every source has answered, failed or timed out. Always true in a query's
    /// answer; in a subscription's events false while some source is `PENDING`.
    async fn complete(&self) -> bool {
        self.complete
    }

    /// Named contacts and the care network, ordered by role (named doctor, named care contact,
    /// municipal care contact, others), then name.
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only contacts with this role.")] role: Option<ContactRole>,
        #[graphql(
            default_with = "ActivityFilter::Active",
            desc = "ACTIVE (default): contacts not known to have ended."
        )]
        status: ActivityFilter,
    ) -> Result<Option<Vec<&Merged<Contact>>>> {
        self.check_allowed(Domain::Contacts)?;
        self.report_failures(ctx, Domain::Contacts);
        let today = self.today();
        Ok(Some(
            self.merged(&self.contacts)
                .iter()
                .filter(|c| contact_admitted(role, status, today, &c.item))
                .collect(),
        ))
    }

    /// Care plans (vårdplaner, SIP...): active ones first, then newest start first.
    async fn care_plans(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "ActivityFilter::All")] status: ActivityFilter,
        #[graphql(desc = "Plans in effect at or after this time.")] from: Option<DateOrDateTime>,
        #[graphql(desc = "Plans in effect before this time.")] to: Option<DateOrDateTime>,
    ) -> Result<Option<Vec<&Merged<CarePlan>>>> {
        self.check_allowed(Domain::CarePlans)?;
        let range = Range::new(from, to)?;
        self.report_failures(ctx, Domain::CarePlans);
        Ok(Some(
            self.merged(&self.care_plans)
                .iter()
                .filter(|p| care_plan_admitted(status, &range, &p.item))
                .collect(),
        ))
    }

    /// Agreements (överenskommelser): active first, then by due date.
    async fn agreements(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "ActivityFilter::All")] status: ActivityFilter,
        from: Option<DateOrDateTime>,
        to: Option<DateOrDateTime>,
    ) -> Result<Option<Vec<&Merged<Agreement>>>> {
        self.check_allowed(Domain::Agreements)?;
        let range = Range::new(from, to)?;
        self.report_failures(ctx, Domain::Agreements);
        Ok(Some(
            self.merged(&self.agreements)
                .iter()
                .filter(|a| agreement_admitted(status, &range, &a.item))
                .collect(),
        ))
    }

    /// Medications: what the patient takes now by default (`status: ALL` or `ENDED` for the
    /// rest); current ones first, then newest start first.
    async fn medications(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "ActivityFilter::Active",
            desc = "ACTIVE (default): not ended and no end date passed. ENDED: ended or past its end date."
        )]
        status: ActivityFilter,
        #[graphql(desc = "Medications in effect at or after this time.")] from: Option<
            DateOrDateTime,
        >,
        #[graphql(desc = "Medications in effect before this time.")] to: Option<DateOrDateTime>,
    ) -> Result<Option<Vec<&Merged<Medication>>>> {
        self.check_allowed(Domain::Medications)?;
        let range = Range::new(from, to)?;
        self.report_failures(ctx, Domain::Medications);
        let today = self.today();
        Ok(Some(
            self.merged(&self.medications)
                .iter()
                .filter(|m| medication_admitted(status, &range, today, &m.item))
                .collect(),
        ))
    }

    /// Measurements (mätvärden), a page at a time: newest first, ties by id (stable across
    /// requests), measurements without a time last.
    async fn measurements(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Taken at or after this instant, or from the start of this Swedish calendar day."
        )]
        from: Option<DateOrDateTime>,
        #[graphql(
            desc = "Taken before this instant, or up to the end of this Swedish calendar day (that day included)."
        )]
        to: Option<DateOrDateTime>,
        #[graphql(
            desc = "Only items with this code, a FHIR token: `system|code` (system by URI, or LOINC, SNOMED CT, SCT, NPU), `|code` (no system) or `code` (any system). The same concept in another system matches too (the concept map). Malformed: INVALID_ARGUMENT."
        )]
        code: Option<String>,
        #[graphql(desc = "Items in this page: 0 to 500, 100 when not given.")] first: Option<i32>,
        #[graphql(
            desc = "The page starts after the item of this cursor (an `endCursor` or an edge's `cursor` of this list)."
        )]
        after: Option<String>,
    ) -> Result<Option<paging::Page<NewestFirst, &Merged<Measurement>>>> {
        self.check_allowed(Domain::Measurements)?;
        let range = Range::new(from, to)?;
        let code = code_query(code.as_deref())?;
        let items = self
            .merged(&self.measurements)
            .iter()
            .filter(|m| measurement_admitted(&range, code.as_ref(), &m.item))
            .collect();
        let page = paging::page_of(
            "measurements",
            items,
            newest_first(|m: &Measurement| m.time),
            first,
            after,
        )?;
        self.report_failures(ctx, Domain::Measurements);
        Ok(Some(page))
    }

    /// Lab results (provsvar), a page at a time: newest first, ties by id (stable across
    /// requests), results without a time last.
    async fn lab_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Taken at or after this instant, or from the start of this Swedish calendar day."
        )]
        from: Option<DateOrDateTime>,
        #[graphql(
            desc = "Taken before this instant, or up to the end of this Swedish calendar day (that day included)."
        )]
        to: Option<DateOrDateTime>,
        #[graphql(
            desc = "Only items with this code, a FHIR token: `system|code` (system by URI, or LOINC, SNOMED CT, SCT, NPU), `|code` (no system) or `code` (any system). The same concept in another system matches too (the concept map). Malformed: INVALID_ARGUMENT."
        )]
        code: Option<String>,
        #[graphql(desc = "Items in this page: 0 to 500, 100 when not given.")] first: Option<i32>,
        #[graphql(
            desc = "The page starts after the item of this cursor (an `endCursor` or an edge's `cursor` of this list)."
        )]
        after: Option<String>,
    ) -> Result<Option<paging::Page<NewestFirst, &Merged<LabResult>>>> {
        self.check_allowed(Domain::LabResults)?;
        let range = Range::new(from, to)?;
        let code = code_query(code.as_deref())?;
        let items = self
            .lab()
            .results
            .iter()
            .filter(|l| lab_result_admitted(&range, code.as_ref(), &l.item))
            .collect();
        let page = paging::page_of(
            "labResults",
            items,
            newest_first(|l: &LabResult| l.time),
            first,
            after,
        )?;
        self.report_failures(ctx, Domain::LabResults);
        Ok(Some(page))
    }

    /// Lab reports (laboratoriesvar), each with its results, a page at a time: newest first,
    /// ties by id (stable across requests), reports without a time last. The same report from
    /// several sources is one report. Access rules and errors as for `labResults`.
    async fn lab_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Samples taken at or after this instant, or from the start of this Swedish calendar day."
        )]
        from: Option<DateOrDateTime>,
        #[graphql(
            desc = "Samples taken before this instant, or up to the end of this Swedish calendar day (that day included)."
        )]
        to: Option<DateOrDateTime>,
        #[graphql(desc = "Items in this page: 0 to 500, 100 when not given.")] first: Option<i32>,
        #[graphql(
            desc = "The page starts after the item of this cursor (an `endCursor` or an edge's `cursor` of this list)."
        )]
        after: Option<String>,
    ) -> Result<Option<paging::Page<NewestFirst, &LabReportNode>>> {
        self.check_allowed(Domain::LabResults)?;
        let range = Range::new(from, to)?;
        let items = self
            .lab()
            .reports
            .iter()
            .filter(|r| range.contains(r.report.item.time))
            .collect();
        let page = paging::page_of(
            "labReports",
            items,
            |r: &LabReportNode| NewestFirst {
                time: r.report.item.time,
                id: r.report.id.clone(),
            },
            first,
            after,
        )?;
        self.report_failures(ctx, Domain::LabResults);
        Ok(Some(page))
    }

    /// The newest measurement of each kind, newest first: one per concept of the concept map
    /// (a weight coded in LOINC and one coded in SNOMED CT are one kind), else per system and
    /// code, else per name. Only measurements with a time and a value (a quantity or text) that
    /// are not cancelled are considered. Access rules and errors as for `measurements`.
    async fn latest_measurements(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only items with this code, a FHIR token: `system|code` (system by URI, or LOINC, SNOMED CT, SCT, NPU), `|code` (no system) or `code` (any system). The same concept in another system matches too (the concept map). Malformed: INVALID_ARGUMENT."
        )]
        code: Option<String>,
    ) -> Result<Option<Vec<&Merged<Measurement>>>> {
        self.check_allowed(Domain::Measurements)?;
        let code = code_query(code.as_deref())?;
        self.report_failures(ctx, Domain::Measurements);
        Ok(Some(latest_per_kind(
            self.merged(&self.measurements)
                .iter()
                .filter(|m| code_matches(code.as_ref(), m.item.code.as_ref()))
                .filter(|m| {
                    m.item.status != ResultStatus::Cancelled
                        && (m.item.value.is_some() || m.item.value_text.is_some())
                }),
            |m| (m.item.time, kind_of(m.item.code.as_ref(), &m.item.name)),
        )))
    }

    /// The newest lab result of each analysis, newest first: one per concept of the concept map
    /// (P-Kreatinin coded in NPU and in LOINC is one analysis), else per system and code, else
    /// per analysis name. Only results with a time and a value (a quantity or text) that are not
    /// cancelled are considered, so an ordered analysis without an answer yet does not hide the
    /// last answered one. Access rules and errors as for `labResults`.
    async fn latest_lab_results(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only items with this code, a FHIR token: `system|code` (system by URI, or LOINC, SNOMED CT, SCT, NPU), `|code` (no system) or `code` (any system). The same concept in another system matches too (the concept map). Malformed: INVALID_ARGUMENT."
        )]
        code: Option<String>,
    ) -> Result<Option<Vec<&Merged<LabResult>>>> {
        self.check_allowed(Domain::LabResults)?;
        let code = code_query(code.as_deref())?;
        self.report_failures(ctx, Domain::LabResults);
        Ok(Some(latest_per_kind(
            self.lab()
                .results
                .iter()
                .filter(|l| code_matches(code.as_ref(), l.item.code.as_ref()))
                .filter(|l| {
                    l.item.status != ResultStatus::Cancelled
                        && (l.item.value.is_some() || l.item.value_text.is_some())
                }),
            |l| (l.item.time, kind_of(l.item.code.as_ref(), &l.item.analysis)),
        )))
    }

    /// Bookings (bokade tider), earliest start first.
    async fn bookings(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "BookingFilter::All")] status: BookingFilter,
        from: Option<DateOrDateTime>,
        to: Option<DateOrDateTime>,
    ) -> Result<Option<Vec<&Merged<Booking>>>> {
        self.check_allowed(Domain::Bookings)?;
        let range = Range::new(from, to)?;
        self.report_failures(ctx, Domain::Bookings);
        let now = self.now;
        Ok(Some(
            self.merged(&self.bookings)
                .iter()
                .filter(|b| booking_admitted(status, &range, now, &b.item))
                .collect(),
        ))
    }

    /// Every source asked for every domain this query selected, whatever happened, ordered by
    /// domain and then source.
    async fn sources(&self) -> Vec<SourceStatus<'_>> {
        let view = &self.grant.view;
        let mut all: Vec<&SourceOutcome> = self
            .gathered
            .outcomes
            .iter()
            .filter(|o| view.source(&o.source) == SourceAccess::Ask)
            .collect();
        all.sort_by(|a, b| (a.domain, &a.source.id).cmp(&(b.domain, &b.source.id)));
        let mut statuses = Vec::with_capacity(all.len());
        for outcome in all {
            let counts = |address: Option<&str>| {
                outcome.items().map_or((0, 0), |items| {
                    (
                        self.filtered_count(outcome.domain, items, address),
                        self.visible_count(items, address),
                    )
                })
            };
            let (item_count, reported_count) = counts(None);
            let changed = self
                .changed
                .iter()
                .any(|(id, domain)| *id == outcome.source.id && *domain == outcome.domain);
            statuses.push(SourceStatus {
                outcome,
                item_count,
                reported_count,
                part: None,
                changed,
            });
            for part in outcome.parts() {
                let (item_count, reported_count) = counts(Some(&part.logical_address));
                statuses.push(SourceStatus {
                    outcome,
                    item_count,
                    reported_count,
                    part: Some(part),
                    changed,
                });
            }
        }
        statuses
    }

    /// How the engagement index was consulted, per domain, for this overview; empty when no
    /// index is configured (or no platform source was involved).
    async fn engagement_index(&self) -> Vec<IndexLookupStatus<'_>> {
        self.gathered.index.iter().map(IndexLookupStatus).collect()
    }

    /// Emergency access only: the care providers holding data the patient has blocked, which
    /// is not shown. Empty otherwise.
    async fn blocked_data(&self) -> Vec<BlockedData> {
        if !self.grant.view.reports_blocked() {
            return Vec::new();
        }
        let mut providers: Vec<Organisation> = Vec::new();
        for outcome in &self.gathered.outcomes {
            let Some(items) = outcome.items() else {
                continue;
            };
            each_item(items, |provenance, approved| {
                if self.grant.view.item(provenance, approved) == Seen::Blocked {
                    let provider = provenance
                        .care_provider
                        .clone()
                        .unwrap_or_else(|| outcome.source.care_provider.clone());
                    if !providers.contains(&provider) {
                        providers.push(provider);
                    }
                }
            });
        }
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        providers
            .into_iter()
            .map(|care_provider| BlockedData { care_provider })
            .collect()
    }
}

/// A care provider holding data the patient has blocked (spärr). Its content is not shown.
#[derive(async_graphql::SimpleObject)]
pub struct BlockedData {
    pub care_provider: Organisation,
}

/// Calls `f` with the provenance and patient approval of every item in `items`.
fn each_item(items: &DomainItems, mut f: impl FnMut(&Provenance, bool)) {
    macro_rules! visit {
        ($v:expr) => {
            for s in $v {
                f(&s.provenance, s.approved_for_patient)
            }
        };
    }
    match items {
        DomainItems::Patient(v) => visit!(v),
        DomainItems::Contacts(v) => visit!(v),
        DomainItems::CarePlans(v) => visit!(v),
        DomainItems::Agreements(v) => visit!(v),
        DomainItems::Medications(v) => visit!(v),
        DomainItems::Measurements(v) => visit!(v),
        // Reports share their results' records and approval: the results are what is counted.
        DomainItems::LabResults(v) => visit!(&v.results),
        DomainItems::Bookings(v) => visit!(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> DateOrDateTime {
        DateOrDateTime::Date(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    fn instant(s: &str) -> Instant {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_date_in_to_includes_that_whole_swedish_day() {
        let november = Range::new(Some(date("2026-11-01")), Some(date("2026-11-30"))).unwrap();
        // Swedish winter time is UTC+1: November starts at 23:00 UTC on 31 October and ends
        // at 23:00 UTC on the 30th.
        assert_eq!(november.from, Some(instant("2026-10-31T23:00:00Z")));
        assert_eq!(november.to, Some(instant("2026-11-30T23:00:00Z")));
        assert!(november.contains(Some(instant("2026-11-30T23:59:00+01:00"))));
        assert!(november.contains(Some(instant("2026-11-01T00:00:00+01:00"))));
        assert!(!november.contains(Some(instant("2026-12-01T00:00:00+01:00"))));
        assert!(!november.contains(Some(instant("2026-10-31T23:59:59+01:00"))));
    }

    #[test]
    fn a_summer_date_starts_at_swedish_midnight_in_summer_time() {
        let day = Range::new(Some(date("2026-09-28")), Some(date("2026-09-28"))).unwrap();
        assert_eq!(day.from, Some(instant("2026-09-27T22:00:00Z")));
        assert_eq!(day.to, Some(instant("2026-09-28T22:00:00Z")));
        // Akademiska's night-time lab at 01:30 Swedish time is on the 28th, though in UTC it
        // is still the 27th.
        assert!(day.contains(Some(instant("2026-09-28T01:30:00+02:00"))));
    }

    #[test]
    fn the_day_clocks_change_is_a_whole_swedish_day() {
        // 2026-10-25 has 25 hours in Sweden.
        let day = Range::new(Some(date("2026-10-25")), Some(date("2026-10-25"))).unwrap();
        assert_eq!(day.from, Some(instant("2026-10-24T22:00:00Z")));
        assert_eq!(day.to, Some(instant("2026-10-25T23:00:00Z")));
    }

    #[test]
    fn dates_and_instants_mix_and_an_empty_range_is_refused() {
        let mixed = Range::new(
            Some(date("2026-11-01")),
            Some(DateOrDateTime::Instant(instant(
                "2026-11-01T12:00:00+01:00",
            ))),
        )
        .unwrap();
        assert_eq!(mixed.to, Some(instant("2026-11-01T11:00:00Z")));
        // One day from and to is a range of that day; the day before it is empty.
        assert!(Range::new(Some(date("2026-11-02")), Some(date("2026-11-01"))).is_err());
        assert!(
            Range::new(
                Some(DateOrDateTime::Instant(instant(
                    "2026-11-01T00:00:00+01:00"
                ))),
                Some(DateOrDateTime::Instant(instant(
                    "2026-11-01T00:00:00+01:00"
                ))),
            )
            .is_err()
        );
    }

    #[test]
    fn a_plan_that_ended_on_the_last_day_of_october_does_not_overlap_november() {
        let november = Range::new(Some(date("2026-11-01")), Some(date("2026-11-30"))).unwrap();
        let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert!(!november.overlaps(day("2026-10-01"), day("2026-10-31")));
        assert!(november.overlaps(day("2026-10-01"), day("2026-11-01")));
        assert!(november.overlaps(day("2026-11-30"), None));
        assert!(!november.overlaps(day("2026-12-01"), None));
    }
}
