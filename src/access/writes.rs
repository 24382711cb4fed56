//! The rules for changing who may see what (the write side of access): who manages a patient's
//! consents, blocks and delegations, who registers care relationships and consents, and for how
//! long. Pure functions of their facts, like the read-side rules beside them; the GraphQL layer
//! asks them before the store keeps anything.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::OWN_ACCESS_FROM_AGE;
use super::records::{Block, Delegation, NewDelegation};
use crate::domain::{Domain, HsaId, PersonId};
use crate::sources::SourceInfo;

/// The youngest age at which a patient grants a delegation (ombud): an adult's decision.
pub const DELEGATION_FROM_AGE: u32 = 18;
/// The longest care relationship, consent or delegation registered in one go.
pub const MAX_REGISTRATION: TimeDelta = TimeDelta::days(3 * 365);

/// Why a change is refused. [`is_forbidden`](Self::is_forbidden) tells a refusal of the person
/// (`FORBIDDEN`) from one of the request's values (`INVALID_ARGUMENT`); the text is for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefusal {
    #[error("you manage your own consents, blocks and delegations from 16")]
    TooYoungToManage,
    #[error(
        "only the patient manages their consents, blocks and delegations and reads their access log"
    )]
    PatientOnly,
    #[error("only care staff register care relationships and consents")]
    StaffOnly,
    #[error("delegations can be granted from 18")]
    TooYoungToDelegate,
    #[error("consent can only be registered with an active care relationship at your care unit")]
    NoCareRelationship,
    #[error("`delegate` must be someone else")]
    SelfDelegation,
    #[error("`domains` must name at least one list (e.g. MEDICATIONS)")]
    NoDomains,
    #[error("`validUntil` must be today or later")]
    EndsBeforeToday,
    #[error("`validUntil` must be later than now (and than `validFrom`)")]
    EndsBeforeStart,
    #[error("`validUntil` may be at most three years ahead")]
    TooLong,
    #[error(
        "`careProvider` is not a care provider whose data this service reads (see `careProviders`)"
    )]
    UnknownCareProvider,
    #[error("`careUnit` is a care unit of another care provider than `careProvider`")]
    CareUnitOfAnotherProvider,
}

impl WriteRefusal {
    /// The person may not make this change at all (as opposed to a value being wrong).
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            WriteRefusal::TooYoungToManage
                | WriteRefusal::PatientOnly
                | WriteRefusal::StaffOnly
                | WriteRefusal::TooYoungToDelegate
                | WriteRefusal::NoCareRelationship
        )
    }

    /// A provider the service does not know: a refusal of its own (`UNKNOWN_CARE_PROVIDER`),
    /// so a patient app can say "we read no data from that provider" rather than "wrong input".
    pub fn is_unknown_provider(self) -> bool {
        self == WriteRefusal::UnknownCareProvider
    }
}

/// A person manages their own consents, blocks and delegations (and reads their access log)
/// from the age they read their own record.
pub fn manages_own(person: &PersonId, today: NaiveDate) -> Result<(), WriteRefusal> {
    if person.age_on(today) >= OWN_ACCESS_FROM_AGE {
        Ok(())
    } else {
        Err(WriteRefusal::TooYoungToManage)
    }
}

/// A registration (care relationship, consent) from `from` must end after it, and at most
/// [`MAX_REGISTRATION`] after it.
pub fn registration_period(from: DateTime<Utc>, until: DateTime<Utc>) -> Result<(), WriteRefusal> {
    if until <= from {
        Err(WriteRefusal::EndsBeforeStart)
    } else if until > from + MAX_REGISTRATION {
        Err(WriteRefusal::TooLong)
    } else {
        Ok(())
    }
}

/// A consent from `from` (now when not given) until `until`, registered `now`: it must end in
/// the future, after it starts, and at most [`MAX_REGISTRATION`] from when it takes effect. The
/// start it takes.
pub fn consent_period(
    from: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, WriteRefusal> {
    let from = from.unwrap_or(now);
    registration_period(from.max(now), until)?;
    if from > until {
        return Err(WriteRefusal::EndsBeforeStart);
    }
    Ok(from)
}

/// `patient` lets `delegate` see `domains` until `until` (inclusive), asked on `today`: from
/// [`DELEGATION_FROM_AGE`], to someone else, at least one list (the patient's name is always
/// shown, so it is not a list), until today at the earliest and [`MAX_REGISTRATION`] at the
/// latest. The lists it covers, sorted and without repeats.
pub fn delegation(
    patient: &PersonId,
    delegate: &PersonId,
    domains: impl IntoIterator<Item = Domain>,
    until: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<Domain>, WriteRefusal> {
    if patient.age_on(today) < DELEGATION_FROM_AGE {
        return Err(WriteRefusal::TooYoungToDelegate);
    }
    if delegate == patient {
        return Err(WriteRefusal::SelfDelegation);
    }
    let mut domains: Vec<Domain> = domains
        .into_iter()
        .filter(|d| *d != Domain::Patient)
        .collect();
    domains.sort();
    domains.dedup();
    if domains.is_empty() {
        return Err(WriteRefusal::NoDomains);
    }
    if until < today {
        return Err(WriteRefusal::EndsBeforeToday);
    }
    if until > today + MAX_REGISTRATION {
        return Err(WriteRefusal::TooLong);
    }
    Ok(domains)
}

/// A care provider the service reads data from, with the care units its sources name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownProvider {
    pub hsa_id: HsaId,
    pub name: Option<String>,
    /// Its sources' default care units (a source may report records of other units too: the
    /// catalog does not list those).
    pub units: Vec<KnownUnit>,
}

/// A care unit named in the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownUnit {
    pub hsa_id: HsaId,
    pub name: Option<String>,
}

/// The care providers (and their units) the service knows: those its sources' catalog entries
/// belong to. The catalog is all the service knows without asking the sources, so it is what a
/// block is checked against and what the patient picks from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownProviders {
    /// Ordered by name (then HSA-id), each provider and unit once.
    pub providers: Vec<KnownProvider>,
}

impl KnownProviders {
    /// From the sources' descriptions. A source without a provider HSA-id adds nothing: it
    /// cannot be blocked by id. The first name given for a provider or unit wins.
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = &'a SourceInfo>) -> KnownProviders {
        let mut providers: Vec<KnownProvider> = Vec::new();
        for info in sources {
            let Some(hsa_id) = &info.care_provider.hsa_id else {
                continue;
            };
            let index = match providers.iter().position(|p| &p.hsa_id == hsa_id) {
                Some(i) => i,
                None => {
                    providers.push(KnownProvider {
                        hsa_id: hsa_id.clone(),
                        name: None,
                        units: Vec::new(),
                    });
                    providers.len() - 1
                }
            };
            let provider = &mut providers[index];
            if provider.name.is_none() {
                provider.name = info.care_provider.name.clone();
            }
            let Some(unit) = &info.default_care_unit else {
                continue;
            };
            let Some(unit_id) = &unit.hsa_id else {
                continue;
            };
            match provider.units.iter_mut().find(|u| &u.hsa_id == unit_id) {
                Some(known) => {
                    if known.name.is_none() {
                        known.name = unit.name.clone();
                    }
                }
                None => provider.units.push(KnownUnit {
                    hsa_id: unit_id.clone(),
                    name: unit.name.clone(),
                }),
            }
        }
        let by_name = |name: &Option<String>, id: &HsaId| (name.clone(), id.as_str().to_owned());
        for provider in &mut providers {
            provider.units.sort_by_key(|u| by_name(&u.name, &u.hsa_id));
        }
        providers.sort_by_key(|p| by_name(&p.name, &p.hsa_id));
        KnownProviders { providers }
    }

    fn provider(&self, hsa_id: &HsaId) -> Option<&KnownProvider> {
        self.providers.iter().find(|p| &p.hsa_id == hsa_id)
    }
}

/// A block on `care_provider` (or only its `care_unit`) must name a provider the service knows
/// (a block on one it never reads would protect nothing and tell the patient it did), and a
/// unit the catalog places under another provider is refused (the block would never match:
/// blocks are checked against the provider a record belongs to). A unit the catalog does not
/// name at all is accepted under a known provider: providers report records from more units
/// than their sources' default ones, and the patient sees those in an item's provenance.
pub fn block_target(
    known: &KnownProviders,
    care_provider: &HsaId,
    care_unit: Option<&HsaId>,
) -> Result<(), WriteRefusal> {
    let provider = known
        .provider(care_provider)
        .ok_or(WriteRefusal::UnknownCareProvider)?;
    let Some(unit) = care_unit else {
        return Ok(());
    };
    if provider.units.iter().any(|u| &u.hsa_id == unit) {
        return Ok(());
    }
    let elsewhere = known
        .providers
        .iter()
        .filter(|p| &p.hsa_id != care_provider)
        .any(|p| &p.hsa_id == unit || p.units.iter().any(|u| &u.hsa_id == unit));
    if elsewhere {
        Err(WriteRefusal::CareUnitOfAnotherProvider)
    } else {
        Ok(())
    }
}

/// The patient's active block on exactly this target (the whole provider, or this one unit),
/// if there is one: setting it again returns it rather than a second block, so a repeated
/// request (a double tap, a retry after a lost answer) changes nothing and one `liftBlock`
/// always lifts it. A block on the whole provider and one on a unit of it are different
/// targets: lifting one leaves the other.
pub fn existing_block<'a>(
    blocks: &'a [Block],
    care_provider: &HsaId,
    care_unit: Option<&HsaId>,
) -> Option<&'a Block> {
    blocks.iter().find(|b| {
        b.is_active() && &b.care_provider == care_provider && b.care_unit.as_ref() == care_unit
    })
}

/// What granting `new` does, given the delegations the patient has granted.
#[derive(Debug, PartialEq)]
pub enum DelegationChange<'a> {
    /// The delegate already has an active delegation with the same lists and end date: it is
    /// returned, nothing is written.
    Unchanged(&'a Delegation),
    /// A new delegation is granted; these active ones to the same delegate are revoked.
    Grant { replaces: Vec<&'a Delegation> },
}

/// Granting a delegation to someone who holds one from this patient replaces it: the patient
/// app's "change what Margareta sees" is one `grantDelegation` with the lists and date the
/// patient now wants, and afterwards exactly that holds (one delegation to revoke, the
/// delegation list shows what is in effect). Refusing instead would make every app revoke
/// and re-grant, with a moment between where the delegate sees nothing, or two delegations
/// whose union nobody chose. The same lists and date again change nothing. `new` is as
/// [`delegation`] returns it (lists sorted, without repeats).
pub fn delegation_change<'a>(
    granted: &'a [Delegation],
    new: &NewDelegation,
    today: NaiveDate,
) -> DelegationChange<'a> {
    let active: Vec<&Delegation> = granted
        .iter()
        .filter(|d| d.patient == new.patient && d.delegate == new.delegate && d.is_active(today))
        .collect();
    let same_lists = |d: &Delegation| {
        let mut lists = d.domains.clone();
        lists.sort();
        lists.dedup();
        lists == new.domains
    };
    match active
        .iter()
        .find(|d| d.valid_until == new.valid_until && same_lists(d))
    {
        Some(same) => DelegationChange::Unchanged(same),
        None => DelegationChange::Grant { replaces: active },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(text: &str) -> PersonId {
        PersonId::parse(text).unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_patient_manages_their_own_access_from_sixteen() {
        // Born 2010-06-15.
        let teenager = person("20100615-2399");
        assert_eq!(
            manages_own(&teenager, day("2026-06-14")),
            Err(WriteRefusal::TooYoungToManage)
        );
        assert_eq!(manages_own(&teenager, day("2026-06-15")), Ok(()));
    }

    #[test]
    fn a_delegation_is_granted_from_eighteen_to_someone_else_for_at_most_three_years() {
        let tolvan = person("19121212-1212");
        let margareta = person("19600301-2389");
        let today = day("2026-12-05");
        let lists = [Domain::Bookings, Domain::Medications, Domain::Bookings];
        assert_eq!(
            delegation(&tolvan, &margareta, lists, day("2027-06-01"), today),
            Ok(vec![Domain::Medications, Domain::Bookings])
        );
        assert_eq!(
            delegation(&tolvan, &tolvan, lists, day("2027-06-01"), today),
            Err(WriteRefusal::SelfDelegation)
        );
        assert_eq!(
            delegation(
                &tolvan,
                &margareta,
                [Domain::Patient],
                day("2027-06-01"),
                today
            ),
            Err(WriteRefusal::NoDomains)
        );
        assert_eq!(
            delegation(
                &tolvan,
                &margareta,
                lists,
                today - TimeDelta::days(1),
                today
            ),
            Err(WriteRefusal::EndsBeforeToday)
        );
        assert_eq!(
            delegation(&tolvan, &margareta, lists, today + MAX_REGISTRATION, today).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            delegation(
                &tolvan,
                &margareta,
                lists,
                today + MAX_REGISTRATION + TimeDelta::days(1),
                today
            ),
            Err(WriteRefusal::TooLong)
        );
        // Born 2010-06-15: 16, not 18.
        let teenager = person("20100615-2399");
        assert_eq!(
            delegation(&teenager, &margareta, lists, day("2027-06-01"), today),
            Err(WriteRefusal::TooYoungToDelegate)
        );
        assert!(WriteRefusal::TooYoungToDelegate.is_forbidden());
        assert!(!WriteRefusal::TooLong.is_forbidden());
    }

    #[test]
    fn a_consent_ends_after_it_starts_in_the_future_and_within_three_years() {
        let now = at("2026-12-05T10:00:00Z");
        assert_eq!(
            consent_period(None, at("2027-01-01T00:00:00Z"), now),
            Ok(now)
        );
        let later = at("2027-02-01T00:00:00Z");
        assert_eq!(
            consent_period(Some(later), at("2027-01-01T00:00:00Z"), now),
            Err(WriteRefusal::EndsBeforeStart)
        );
        assert_eq!(
            consent_period(None, at("2026-12-01T00:00:00Z"), now),
            Err(WriteRefusal::EndsBeforeStart)
        );
        assert_eq!(
            consent_period(None, now + MAX_REGISTRATION + TimeDelta::seconds(1), now),
            Err(WriteRefusal::TooLong)
        );
        // A consent that started in the past is measured from now.
        let past = at("2026-01-01T00:00:00Z");
        assert_eq!(
            consent_period(Some(past), now + MAX_REGISTRATION, now),
            Ok(past)
        );
    }

    fn hsa(text: &str) -> HsaId {
        HsaId::parse(text).unwrap()
    }

    fn source(provider: (&str, &str), unit: Option<(&str, &str)>) -> SourceInfo {
        let org = |(name, id): (&str, &str)| crate::domain::Organisation {
            name: Some(name.into()),
            hsa_id: Some(hsa(id)),
        };
        SourceInfo {
            id: "s".into(),
            name: "s".into(),
            system: None,
            care_provider: org(provider),
            default_care_unit: unit.map(org),
        }
    }

    const REGION: (&str, &str) = ("Region Uppsala", "SE2321000024-0001");
    const FYRIS: (&str, &str) = ("Hjärtkliniken Fyris AB", "SE5566778899-0001");

    fn catalog() -> KnownProviders {
        KnownProviders::from_sources(&[
            source(
                REGION,
                Some(("Akademiska sjukhuset", "SE2321000024-AKS000")),
            ),
            source(FYRIS, Some(("Hjärtmottagningen", "SE5566778899-HJ01"))),
            source(
                REGION,
                Some(("Gottsunda vårdcentral", "SE2321000024-GOT001")),
            ),
            // The same unit through a second source (FHIR and RIV-TA) is listed once.
            source(
                REGION,
                Some(("Gottsunda vårdcentral", "SE2321000024-GOT001")),
            ),
        ])
    }

    #[test]
    fn the_known_providers_are_the_catalogs_each_once_with_their_units_by_name() {
        let known = catalog();
        let names: Vec<_> = known
            .providers
            .iter()
            .map(|p| {
                (
                    p.name.clone().unwrap(),
                    p.units
                        .iter()
                        .map(|u| u.hsa_id.as_str().to_owned())
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "Hjärtkliniken Fyris AB".to_owned(),
                    vec!["SE5566778899-HJ01".to_owned()]
                ),
                (
                    "Region Uppsala".to_owned(),
                    vec![
                        "SE2321000024-AKS000".to_owned(),
                        "SE2321000024-GOT001".to_owned()
                    ]
                ),
            ]
        );
    }

    #[test]
    fn a_block_on_a_care_provider_the_catalog_does_not_know_is_refused() {
        let known = catalog();
        assert_eq!(
            block_target(&known, &hsa("SE9999999999-0001"), None),
            Err(WriteRefusal::UnknownCareProvider)
        );
        assert_eq!(block_target(&known, &hsa(FYRIS.1), None), Ok(()));
        assert!(WriteRefusal::UnknownCareProvider.is_unknown_provider());
        assert!(!WriteRefusal::UnknownCareProvider.is_forbidden());
        assert_eq!(
            block_target(&KnownProviders::default(), &hsa(FYRIS.1), None),
            Err(WriteRefusal::UnknownCareProvider)
        );
    }

    #[test]
    fn a_block_on_one_providers_care_unit_filed_under_another_provider_is_refused() {
        let known = catalog();
        let gottsunda = hsa("SE2321000024-GOT001");
        assert_eq!(
            block_target(&known, &hsa(FYRIS.1), Some(&gottsunda)),
            Err(WriteRefusal::CareUnitOfAnotherProvider)
        );
        // Another provider's own HSA-id is no unit of this one either.
        assert_eq!(
            block_target(&known, &hsa(FYRIS.1), Some(&hsa(REGION.1))),
            Err(WriteRefusal::CareUnitOfAnotherProvider)
        );
        assert_eq!(
            block_target(&known, &hsa(REGION.1), Some(&gottsunda)),
            Ok(())
        );
        // A unit the catalog does not name (records name more units than the sources'
        // defaults) is taken under a known provider.
        assert_eq!(
            block_target(&known, &hsa(REGION.1), Some(&hsa("SE2321000024-AKS999"))),
            Ok(())
        );
    }

    fn block(id: &str, unit: Option<&str>, lifted: bool) -> Block {
        Block {
            id: id.into(),
            patient: person("19121212-1212"),
            care_provider: hsa(REGION.1),
            care_unit: unit.map(hsa),
            set_at: at("2026-12-01T10:00:00Z"),
            lifted_at: lifted.then(|| at("2026-12-02T10:00:00Z")),
        }
    }

    #[test]
    fn setting_a_block_the_patient_already_has_returns_the_existing_one() {
        let gottsunda = hsa("SE2321000024-GOT001");
        let blocks = [
            block("lifted", None, true),
            block("unit", Some("SE2321000024-GOT001"), false),
            block("provider", None, false),
        ];
        let region = hsa(REGION.1);
        assert_eq!(
            existing_block(&blocks, &region, None).map(|b| b.id.as_str()),
            Some("provider")
        );
        assert_eq!(
            existing_block(&blocks, &region, Some(&gottsunda)).map(|b| b.id.as_str()),
            Some("unit")
        );
        assert_eq!(existing_block(&blocks[..1], &region, None), None);
        assert_eq!(existing_block(&blocks, &hsa(FYRIS.1), None), None);
    }

    fn granted(id: &str, domains: &[Domain], until: &str, revoked: bool) -> Delegation {
        Delegation {
            id: id.into(),
            patient: person("19121212-1212"),
            delegate: person("19600301-2389"),
            domains: domains.to_vec(),
            valid_until: day(until),
            granted_at: at("2026-12-01T10:00:00Z"),
            revoked_at: revoked.then(|| at("2026-12-02T10:00:00Z")),
        }
    }

    #[test]
    fn granting_the_same_delegation_again_returns_it_and_a_different_one_replaces_it() {
        let today = day("2026-12-05");
        let new = NewDelegation {
            patient: person("19121212-1212"),
            delegate: person("19600301-2389"),
            domains: vec![Domain::Medications, Domain::Bookings],
            valid_until: day("2027-06-01"),
        };
        let same = granted(
            "same",
            &[Domain::Bookings, Domain::Medications],
            "2027-06-01",
            false,
        );
        let revoked = granted("revoked", &new.domains, "2027-06-01", true);
        let expired = granted("expired", &new.domains, "2026-12-04", false);
        assert_eq!(
            delegation_change(&[revoked.clone(), same.clone()], &new, today),
            DelegationChange::Unchanged(&same)
        );

        let fewer = granted("fewer", &[Domain::Medications], "2027-06-01", false);
        let later = granted("later", &new.domains, "2027-09-01", false);
        let to_lena = Delegation {
            delegate: person("19880412-2383"),
            ..later.clone()
        };
        assert_eq!(
            delegation_change(
                &[fewer.clone(), later.clone(), revoked, expired, to_lena],
                &new,
                today
            ),
            DelegationChange::Grant {
                replaces: vec![&fewer, &later]
            }
        );
        assert_eq!(
            delegation_change(&[], &new, today),
            DelegationChange::Grant { replaces: vec![] }
        );
    }
}
