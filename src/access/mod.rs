//! Who may see what: the rules of patientdatalagen and 1177 practice, as a pure decision over
//! what is known about the request (who asks, for whom, why) and the stored facts (care
//! relationships, consents, blocks, delegations, guardianship). The decision says which role
//! the viewer has, which domains may be shown, and which sources and items are visible; the
//! GraphQL layer applies it on every request, after the cache, so nothing fetched for one viewer
//! reaches another. The rules for changing those facts (who grants a delegation, from what age,
//! for how long) are in [`writes`].

pub mod directory;
pub mod gate;
pub mod records;
pub mod text;
pub mod writes;

use chrono::{DateTime, Utc};

use crate::domain::{Domain, HsaId, PersonId, Provenance};
use crate::sources::SourceInfo;
use directory::PersonEntry;
use records::{Block, CareRelationship, Consent, Delegation};

/// Who is asking, as far as the rules care.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// A person: the patient, or someone acting for them.
    Person(&'a PersonId),
    /// Care staff at a care unit of a care provider.
    Staff {
        care_unit: &'a HsaId,
        care_provider: &'a HsaId,
    },
}

/// Why care staff read a patient's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Ordinary care: needs a care relationship, and consent for other providers' data.
    Care,
    /// Nödåtkomst: no consent needed, a stated reason is, and it is followed up.
    Emergency,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Care => "CARE",
            Purpose::Emergency => "EMERGENCY",
        }
    }
}

/// The capacity in which the viewer sees this overview.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Patient,
    Staff,
    Guardian,
    Delegate,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Staff => "staff",
            Role::Guardian => "guardian",
            Role::Delegate => "delegate",
        }
    }
}

/// The deployment's choices within the law.
#[derive(Clone, Debug)]
pub struct AccessSettings {
    /// Whether patients may grant delegations (ombud), and delegates use them.
    pub delegation: bool,
}

/// One request for a patient's overview.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    pub actor: Actor<'a>,
    pub patient: &'a PersonId,
    pub purpose: Option<Purpose>,
    pub reason: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// What is stored about the patient that the decision needs. Only what the actor's kind needs
/// is read: the register entry and delegations for persons acting for someone, the rest for
/// staff.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The patient's entry in the population register.
    pub patient_entry: Option<PersonEntry>,
    /// Delegations the actor holds (from any patient; the rules pick the patient's).
    pub delegations: Vec<Delegation>,
    pub care_relationships: Vec<CareRelationship>,
    pub consents: Vec<Consent>,
    pub blocks: Vec<Block>,
}

/// Why access was refused. None of them tells whether the patient has any data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// Not this viewer's to see (the message is the same whatever the reason).
    Forbidden,
    /// Emergency access without a stated reason (one with visible characters).
    ReasonRequired,
    /// The request itself is malformed for this viewer.
    InvalidArgument(&'static str),
}

/// The youngest age at which a person reads their own record (1177: from 16; 13-15 nobody).
pub const OWN_ACCESS_FROM_AGE: u32 = 16;
/// Guardians act for a child until the child turns this old.
pub const GUARDIAN_UNTIL_AGE: u32 = 13;
/// The longest emergency reason kept (the access log stores it; it is not a journal note).
pub const MAX_REASON_CHARS: usize = 1000;

/// Access granted, and what it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub role: Role,
    /// The domains that may be shown; `None`: all of them.
    pub domains: Option<Vec<Domain>>,
    pub view: View,
    /// Emergency access: logged for follow-up.
    pub emergency: bool,
    /// Staff in ordinary care without the patient's consent for their unit: they see their own
    /// care provider's data only, and are told consent is needed for the rest.
    pub consent_missing: bool,
    pub purpose: Option<Purpose>,
}

impl Grant {
    pub fn allows(&self, domain: Domain) -> bool {
        self.domains.as_ref().is_none_or(|d| d.contains(&domain))
    }

    /// The domains of `asked` this grant does not cover, each with why: they are refused
    /// while the rest is shown (a delegate's undelegated lists), and the access log says so.
    pub fn refusals(&self, asked: &[Domain]) -> Vec<(Domain, Denial)> {
        asked
            .iter()
            .copied()
            .filter(|d| !self.allows(*d))
            .map(|d| (d, Denial::Forbidden))
            .collect()
    }
}

/// Which sources and items a viewer sees.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// The patient's own view (also for guardians and delegates): records not approved for the
    /// patient are hidden.
    patient_view: bool,
    /// Staff: their care provider, whose data they always see.
    own_provider: Option<HsaId>,
    /// Staff: whether other care providers' data is visible (consent, or emergency).
    others_visible: bool,
    /// Staff: the patient's active blocks, as (provider, unit or the whole provider).
    blocks: Vec<(HsaId, Option<HsaId>)>,
    /// Emergency: tell that blocked data exists, and where.
    report_blocked: bool,
}

/// Whether a source is asked at all for this viewer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceAccess {
    Ask,
    /// Its data is blocked for this viewer; ask only to learn whether blocked data exists.
    AskForBlockNotice,
    Skip,
}

/// What the viewer sees of one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    Shown,
    Hidden,
    /// Hidden by the patient's block.
    Blocked,
}

impl View {
    /// The patient's own view.
    pub fn patient() -> View {
        View {
            patient_view: true,
            own_provider: None,
            others_visible: true,
            blocks: Vec::new(),
            report_blocked: false,
        }
    }

    pub fn reports_blocked(&self) -> bool {
        self.report_blocked
    }

    fn is_own(&self, provider: Option<&HsaId>) -> bool {
        self.own_provider.is_some() && self.own_provider.as_ref() == provider
    }

    fn is_blocked(&self, provider: Option<&HsaId>, unit: Option<&HsaId>) -> bool {
        self.blocks.iter().any(|(p, u)| match u {
            None => Some(p) == provider,
            Some(u) => Some(u) == unit,
        })
    }

    /// Whether to ask `source` for this viewer.
    pub fn source(&self, source: &SourceInfo) -> SourceAccess {
        if self.patient_view {
            return SourceAccess::Ask;
        }
        let provider = source.care_provider.hsa_id.as_ref();
        if self.is_own(provider) {
            return SourceAccess::Ask;
        }
        let whole_provider_blocked = self
            .blocks
            .iter()
            .any(|(p, u)| u.is_none() && Some(p) == provider);
        if whole_provider_blocked {
            return if self.report_blocked {
                SourceAccess::AskForBlockNotice
            } else {
                SourceAccess::Skip
            };
        }
        if self.others_visible {
            SourceAccess::Ask
        } else {
            SourceAccess::Skip
        }
    }

    /// What the viewer sees of an item with this provenance.
    pub fn item(&self, provenance: &Provenance, approved_for_patient: bool) -> Seen {
        if self.patient_view {
            return if approved_for_patient {
                Seen::Shown
            } else {
                Seen::Hidden
            };
        }
        let provider = provenance
            .care_provider
            .as_ref()
            .and_then(|o| o.hsa_id.as_ref());
        let unit = provenance
            .care_unit
            .as_ref()
            .and_then(|o| o.hsa_id.as_ref());
        if self.is_own(provider) {
            Seen::Shown
        } else if self.is_blocked(provider, unit) {
            Seen::Blocked
        } else if self.others_visible {
            Seen::Shown
        } else {
            Seen::Hidden
        }
    }

    /// Identifies the item filter, so merged lists are shared only between viewers who see the
    /// same items of the same answers (which sources were asked is part of the answers).
    pub fn fingerprint(&self) -> String {
        if self.patient_view {
            return "patient".to_owned();
        }
        let mut blocks: Vec<String> = self
            .blocks
            .iter()
            .map(|(p, u)| format!("{p}/{}", u.as_ref().map_or("*", |u| u.as_str())))
            .collect();
        blocks.sort();
        format!(
            "staff|{}|{}|{}",
            self.own_provider.as_ref().map_or("", |p| p.as_str()),
            self.others_visible,
            blocks.join(",")
        )
    }
}

/// Decides whether `ask` is allowed, and what it may see.
pub fn decide(ask: &Ask<'_>, facts: &Facts, settings: &AccessSettings) -> Result<Grant, Denial> {
    let today = ask.now.date_naive();
    match ask.actor {
        Actor::Person(me) => {
            if ask.purpose.is_some() || ask.reason.is_some() {
                return Err(Denial::InvalidArgument(
                    "`purpose` and `reason` are for care staff; leave them out",
                ));
            }
            let patient_grant = |role, domains| Grant {
                role,
                domains,
                view: View::patient(),
                emergency: false,
                consent_missing: false,
                purpose: None,
            };
            if me == ask.patient {
                return if ask.patient.age_on(today) >= OWN_ACCESS_FROM_AGE {
                    Ok(patient_grant(Role::Patient, None))
                } else {
                    Err(Denial::Forbidden)
                };
            }
            if let Some(entry) = &facts.patient_entry
                && entry.person == *ask.patient
                && entry.guardians.contains(me)
                && !entry.protected_identity
                && ask.patient.age_on(today) < GUARDIAN_UNTIL_AGE
            {
                return Ok(patient_grant(Role::Guardian, None));
            }
            if settings.delegation {
                let mut domains: Vec<Domain> = facts
                    .delegations
                    .iter()
                    .filter(|d| {
                        d.patient == *ask.patient && d.delegate == *me && d.is_active(today)
                    })
                    .flat_map(|d| d.domains.iter().copied())
                    .collect();
                if !domains.is_empty() {
                    // Who the overview is about is never secret from someone allowed to act
                    // for them.
                    domains.push(Domain::Patient);
                    domains.sort();
                    domains.dedup();
                    return Ok(patient_grant(Role::Delegate, Some(domains)));
                }
            }
            Err(Denial::Forbidden)
        }
        Actor::Staff {
            care_unit,
            care_provider,
        } => {
            let Some(purpose) = ask.purpose else {
                return Err(Denial::InvalidArgument(
                    "care staff must give `purpose`: CARE or EMERGENCY",
                ));
            };
            // A reason that looks blank (only spaces, zero-width or format characters) is no
            // reason: the access log would show the patient an empty one.
            let reason = text::stated(ask.reason);
            if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
                return Err(Denial::InvalidArgument(
                    "`reason` is at most 1000 characters",
                ));
            }
            if purpose == Purpose::Emergency && reason.is_none() {
                return Err(Denial::ReasonRequired);
            }
            let related = facts.care_relationships.iter().any(|r| {
                r.patient == *ask.patient && r.care_unit == *care_unit && r.is_active(ask.now)
            });
            if !related {
                return Err(Denial::Forbidden);
            }
            let consented = facts.consents.iter().any(|c| {
                c.patient == *ask.patient && c.care_unit == *care_unit && c.is_active(ask.now)
            });
            let emergency = purpose == Purpose::Emergency;
            let blocks = facts
                .blocks
                .iter()
                .filter(|b| b.patient == *ask.patient && b.is_active())
                // A block hides data from *other* providers' staff.
                .filter(|b| b.care_provider != *care_provider)
                .map(|b| (b.care_provider.clone(), b.care_unit.clone()))
                .collect();
            Ok(Grant {
                role: Role::Staff,
                domains: None,
                view: View {
                    patient_view: false,
                    own_provider: Some(care_provider.clone()),
                    others_visible: consented || emergency,
                    blocks,
                    report_blocked: emergency,
                },
                emergency,
                consent_missing: !consented && !emergency,
                purpose: Some(purpose),
            })
        }
    }
}

#[cfg(test)]
mod tests;
