//! The rules for changing who may see what (the write side of access): who manages a patient's
//! consents, blocks and delegations, who registers care relationships and consents, and for how
//! long. Pure functions of their facts, like the read-side rules beside them; the GraphQL layer
//! asks them before the store keeps anything.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::OWN_ACCESS_FROM_AGE;
use crate::domain::{Domain, PersonId};

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
}
