//! The gate every access passes: reads what the decision needs (the store's care relationships,
//! consents, blocks and delegations; the population register) and applies the rules. Only the
//! facts the asker's kind needs are read, so a patient reading their own overview costs no
//! database round trip here.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::directory::{DirectoryError, PopulationDirectory};
use super::{AccessSettings, Actor, Ask, Denial, Facts, GUARDIAN_UNTIL_AGE, Grant, Role, decide};
use crate::domain::{Domain, PersonId};
use crate::store::{Store, StoreError};

/// Why the gate did not grant access.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The rules refuse.
    #[error("access refused ({0:?})")]
    Denied(Denial),
    /// The store or the register could not be read: nothing can be decided, so nothing is
    /// shown. Its text is for the application log (it names no person).
    #[error(transparent)]
    Unavailable(#[from] FactsUnavailable),
}

/// Which of the facts the rules read could not be read, and why (for the application log).
#[derive(Debug, thiserror::Error)]
pub enum FactsUnavailable {
    /// The store (care relationships, consents, blocks, delegations).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The population register (guardianship, protected identity, names).
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Someone a person may act for, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ActsFor {
    pub patient: PersonId,
    pub name: Option<String>,
    pub guardian: bool,
    /// The delegated domains; `None` for a guardian (everything the child would see).
    pub domains: Option<Vec<Domain>>,
    /// A delegation's last day, or the day before the child turns 13.
    pub until: Option<NaiveDate>,
}

pub struct Gate {
    store: Store,
    directory: Arc<dyn PopulationDirectory>,
    settings: AccessSettings,
}

impl Gate {
    pub fn new(
        store: Store,
        directory: Arc<dyn PopulationDirectory>,
        settings: AccessSettings,
    ) -> Self {
        Gate {
            store,
            directory,
            settings,
        }
    }

    pub fn settings(&self) -> &AccessSettings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn directory(&self) -> &dyn PopulationDirectory {
        self.directory.as_ref()
    }

    /// Decides `ask` on the facts as stored now (a revoked delegation or withdrawn consent
    /// counts from the next request on).
    pub async fn decide(&self, ask: &Ask<'_>) -> Result<Grant, GateError> {
        let facts = match ask.actor {
            Actor::Person(me) if me == ask.patient => Facts::default(),
            Actor::Person(me) => {
                let entry = self
                    .directory
                    .person(ask.patient)
                    .await
                    .map_err(FactsUnavailable::from)?;
                let delegations = if self.settings.delegation {
                    self.store
                        .delegations_to(me)
                        .await
                        .map_err(FactsUnavailable::from)?
                } else {
                    Vec::new()
                };
                Facts {
                    patient_entry: entry,
                    delegations,
                    ..Facts::default()
                }
            }
            Actor::Staff { .. } => {
                let (care_relationships, consents, blocks) = tokio::try_join!(
                    self.store.care_relationships(ask.patient),
                    self.store.consents(ask.patient),
                    self.store.blocks(ask.patient),
                )
                .map_err(FactsUnavailable::from)?;
                Facts {
                    care_relationships,
                    consents,
                    blocks,
                    ..Facts::default()
                }
            }
        };
        decide(ask, &facts, &self.settings).map_err(GateError::Denied)
    }

    /// What `me`, refused `patient`'s overview, could have been asking as: their guardian by
    /// the register (the child is 13 or older, or protected), or their delegate by a delegation
    /// now ended or revoked; `None` for neither (or when the facts cannot be read: the refusal
    /// is logged all the same, as a bare person). For the access log only: it decides nothing.
    pub async fn claimed_role(&self, me: &PersonId, patient: &PersonId) -> Option<Role> {
        let entry = self.directory.person(patient).await.ok().flatten();
        if entry.is_some_and(|e| e.guardians.contains(me)) {
            return Some(Role::Guardian);
        }
        let delegations = self.store.delegations_to(me).await.ok()?;
        delegations
            .iter()
            .any(|d| d.patient == *patient)
            .then_some(Role::Delegate)
    }

    /// `person`'s name in the population register, where it has one and can be read.
    pub async fn name_of(&self, person: &PersonId) -> Option<String> {
        self.directory.person(person).await.ok().flatten()?.name
    }

    /// Everyone `me` may act for now: children under 13 without protected identity, and
    /// active delegations (when delegation is on).
    pub async fn acts_for(
        &self,
        me: &PersonId,
        now: DateTime<Utc>,
    ) -> Result<Vec<ActsFor>, GateError> {
        let today = now.date_naive();
        let mut all = Vec::new();
        let children = self
            .directory
            .children_of(me)
            .await
            .map_err(FactsUnavailable::from)?;
        for child in children {
            if child.protected_identity || child.person.age_on(today) >= GUARDIAN_UNTIL_AGE {
                continue;
            }
            let birth = child.person.birth_date();
            let until = birth
                .with_year(birth.year_ce().1 as i32 + GUARDIAN_UNTIL_AGE as i32)
                .or_else(|| {
                    // Born on 29 February: the birthday is 1 March in common years.
                    NaiveDate::from_ymd_opt(
                        birth.year_ce().1 as i32 + GUARDIAN_UNTIL_AGE as i32,
                        3,
                        1,
                    )
                })
                .and_then(|d| d.pred_opt());
            all.push(ActsFor {
                patient: child.person,
                name: child.name,
                guardian: true,
                domains: None,
                until,
            });
        }
        if self.settings.delegation {
            let delegations = self
                .store
                .delegations_to(me)
                .await
                .map_err(FactsUnavailable::from)?;
            for d in delegations.into_iter().filter(|d| d.is_active(today)) {
                if let Some(existing) = all
                    .iter_mut()
                    .find(|a| !a.guardian && a.patient == d.patient)
                {
                    let domains = existing.domains.get_or_insert_with(Vec::new);
                    domains.extend(d.domains.iter().copied());
                    domains.sort();
                    domains.dedup();
                    existing.until = existing.until.max(Some(d.valid_until));
                    continue;
                }
                let name = self
                    .directory
                    .person(&d.patient)
                    .await
                    .map_err(FactsUnavailable::from)?
                    .and_then(|e| e.name);
                all.push(ActsFor {
                    patient: d.patient,
                    name,
                    guardian: false,
                    domains: Some(d.domains),
                    until: Some(d.valid_until),
                });
            }
        }
        Ok(all)
    }
}
