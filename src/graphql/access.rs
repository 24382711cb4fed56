//! The access API: who the viewer is and whom they may act for, the patient's consents, blocks,
//! delegations and access log, and the mutations that change them. Every rule about who may
//! call what, and with which values, is in `access` (`access::writes` for changes); this module
//! asks them and turns their refusals into coded errors, and the store only keeps what it is
//! given.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::Utc;

use super::overview::Range;
use super::paging::{self, PageArgs};
use super::scalars::{Date, DateOrDateTime, DateTime, HsaIdScalar, PersonIdScalar};
use super::types::Domain as DomainEnum;
use super::{RequestContext, coded_error, codes, person_arg, request, unavailable_error};
use crate::access::gate::{Gate, GateError};
use crate::access::records::{
    Block, CareRelationship, Consent, Delegation, NewBlock, NewCareRelationship, NewConsent,
    NewDelegation,
};
use crate::access::writes::{self, DelegationChange, KnownProviders, WriteRefusal};
use crate::audit::AccessRecord;
use crate::auth::{PrincipalKind, StaffIdentity};
use crate::domain::{Domain, HsaId, Organisation, PersonId};
use crate::engine::Engine;
use crate::store::LogPosition;

fn gate<'a>(ctx: &Context<'a>) -> &'a Gate {
    ctx.data_unchecked::<Arc<Gate>>()
}

fn store_error(request: &RequestContext, e: impl std::fmt::Display) -> async_graphql::Error {
    unavailable_error(request, &e.to_string())
}

/// A write rule's refusal as a coded error: `FORBIDDEN` for the person, `UNKNOWN_CARE_PROVIDER`
/// for a provider the service does not read, `INVALID_ARGUMENT` for another value.
fn refused(refusal: WriteRefusal) -> async_graphql::Error {
    let code = if refusal.is_forbidden() {
        codes::FORBIDDEN
    } else if refusal.is_unknown_provider() {
        codes::UNKNOWN_CARE_PROVIDER
    } else {
        codes::INVALID_ARGUMENT
    };
    coded_error(code, refusal.to_string())
}

/// The signed-in person acting on their own data (consents, blocks, delegations, access log),
/// or `FORBIDDEN`.
fn patient_self(request: &RequestContext) -> Result<&PersonId> {
    match &request.principal.kind {
        PrincipalKind::Person { person, .. } => {
            writes::manages_own(person, Utc::now().date_naive()).map_err(refused)?;
            Ok(person)
        }
        PrincipalKind::Staff(_) => Err(refused(WriteRefusal::PatientOnly)),
    }
}

/// The signed-in care staff member, or `FORBIDDEN`.
fn staff(request: &RequestContext) -> Result<&StaffIdentity> {
    match &request.principal.kind {
        PrincipalKind::Staff(staff) => Ok(staff),
        PrincipalKind::Person { .. } => Err(refused(WriteRefusal::StaffOnly)),
    }
}

fn hsa_arg(text: &str, name: &str) -> Result<HsaId> {
    HsaId::parse(text).map_err(|e| {
        coded_error(
            codes::INVALID_ARGUMENT,
            format!("`{name}` is not valid: {e}"),
        )
    })
}

fn not_found(what: &str) -> async_graphql::Error {
    coded_error(codes::NOT_FOUND, format!("you have no {what} with that id"))
}

/// The care providers and units the catalog's sources belong to: all the service knows of
/// them without asking a source.
fn known_providers(ctx: &Context<'_>) -> KnownProviders {
    let engine = ctx.data_unchecked::<Arc<Engine>>();
    KnownProviders::from_sources(engine.sources().iter().map(|s| &**s.adapter.info()))
}

/// A care unit or provider's display name from the catalog, where a source names it.
fn organisation_named(ctx: &Context<'_>, hsa_id: &HsaId) -> Organisation {
    let engine = ctx.data_unchecked::<Arc<Engine>>();
    let name = engine.sources().iter().find_map(|s| {
        let info = s.adapter.info();
        if info.care_provider.hsa_id.as_ref() == Some(hsa_id) {
            info.care_provider.name.clone()
        } else {
            info.default_care_unit
                .as_ref()
                .filter(|u| u.hsa_id.as_ref() == Some(hsa_id))
                .and_then(|u| u.name.clone())
        }
    });
    Organisation {
        name,
        hsa_id: Some(hsa_id.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// Types

/// The capacity in which someone sees an overview.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AccessRole {
    Patient,
    Staff,
    Guardian,
    Delegate,
    /// A person refused while asking for someone else's overview who is neither the patient's
    /// guardian by the population register nor held a delegation from them.
    Person,
}

impl AccessRole {
    fn from_log(role: &str) -> AccessRole {
        match role {
            "patient" => AccessRole::Patient,
            "staff" => AccessRole::Staff,
            "guardian" => AccessRole::Guardian,
            "delegate" => AccessRole::Delegate,
            _ => AccessRole::Person,
        }
    }
}

/// The signed-in user.
#[derive(SimpleObject)]
pub struct Viewer {
    /// A person (patient or relative); null for care staff.
    person_id: Option<PersonIdScalar>,
    name: Option<String>,
    /// Care staff: who and where; null for persons.
    staff: Option<StaffView>,
    /// Whom this person may act for now: children under 13 (as guardian) and people who
    /// delegated to them. Empty for staff.
    acts_for: Vec<ActsForView>,
}

/// A care staff member as their token says.
#[derive(SimpleObject)]
pub struct StaffView {
    hsa_id: String,
    name: Option<String>,
    profession: Option<String>,
    care_unit: Organisation,
    care_provider: Organisation,
}

/// Someone the viewer may act for.
#[derive(SimpleObject)]
pub struct ActsForView {
    patient: PersonIdScalar,
    name: Option<String>,
    role: AccessRole,
    /// The lists the viewer may see; null: all of them.
    domains: Option<Vec<DomainEnum>>,
    /// The last day this holds, where known.
    until: Option<Date>,
}

/// A care relationship registered by care staff.
#[derive(SimpleObject)]
pub struct CareRelationshipView {
    id: ID,
    patient: PersonIdScalar,
    care_unit: Organisation,
    care_provider: Organisation,
    valid_from: DateTime,
    valid_until: DateTime,
}

/// The patient's consent for a care unit to read other care providers' data.
#[derive(SimpleObject)]
#[graphql(name = "Consent")]
pub struct ConsentView {
    id: ID,
    care_unit: Organisation,
    care_provider: Organisation,
    /// HSA-id of the staff member who registered it.
    registered_by: String,
    /// The staff member who registered it, by name, profession and care unit as they were
    /// when they did (name and profession are null for consents registered before names were
    /// kept).
    registered_by_staff: StaffMemberView,
    valid_from: DateTime,
    valid_until: DateTime,
    registered_at: DateTime,
    withdrawn_at: Option<DateTime>,
    /// In effect now.
    active: bool,
}

/// A care staff member as their token named them when they acted.
#[derive(SimpleObject)]
#[graphql(name = "StaffMember")]
pub struct StaffMemberView {
    hsa_id: HsaIdScalar,
    name: Option<String>,
    /// Profession or title, e.g. "Läkare".
    profession: Option<String>,
    care_unit: Organisation,
}

/// A block (spärr): the provider's (or unit's) data is hidden from other providers' staff.
#[derive(SimpleObject)]
#[graphql(name = "Block")]
pub struct BlockView {
    id: ID,
    care_provider: Organisation,
    /// Only this unit's data; null: everything the provider holds.
    care_unit: Option<Organisation>,
    set_at: DateTime,
    lifted_at: Option<DateTime>,
    active: bool,
}

/// A delegation (ombud): a person may see chosen lists of the patient's overview.
#[derive(SimpleObject)]
#[graphql(name = "Delegation")]
pub struct DelegationView {
    id: ID,
    delegate: PersonIdScalar,
    /// The delegate's name in the population register; null where it has none (or cannot be
    /// read just now).
    delegate_name: Option<String>,
    domains: Vec<DomainEnum>,
    /// The last day it is valid.
    valid_until: Date,
    granted_at: DateTime,
    revoked_at: Option<DateTime>,
    active: bool,
}

/// A care provider whose sources this service reads, with the care units those sources name.
#[derive(SimpleObject)]
#[graphql(name = "CareProvider")]
pub struct CareProviderView {
    name: Option<String>,
    hsa_id: HsaIdScalar,
    /// The care units its sources are configured with. Records may name other units of the
    /// provider too (see an item's `provenance`); those can be blocked as well.
    care_units: Vec<CareUnitView>,
}

/// A care unit named in the service's source catalog.
#[derive(SimpleObject)]
#[graphql(name = "CareUnit")]
pub struct CareUnitView {
    name: Option<String>,
    hsa_id: HsaIdScalar,
}

/// One access to the patient's overview, granted or refused.
#[derive(SimpleObject)]
pub struct AccessLogEntry {
    time: DateTime,
    /// Who read, in what capacity. A person refused someone else's overview is `GUARDIAN` when
    /// the population register names them the patient's guardian, `DELEGATE` when they held a
    /// delegation from the patient (ended or revoked), else `PERSON`.
    role: AccessRole,
    /// Who read, by name as it was when they read: the staff member's, or the person's (a
    /// relative's). Null for accesses logged before names were kept, or when neither token nor
    /// register named them.
    reader_name: Option<String>,
    /// The staff member's profession or title when they read, e.g. "Läkare"; null for persons.
    reader_profession: Option<String>,
    /// Care staff's unit and provider; null for persons.
    care_unit: Option<Organisation>,
    care_provider: Option<Organisation>,
    /// CARE or EMERGENCY for care staff.
    purpose: Option<String>,
    /// Emergency access: followed up.
    emergency: bool,
    /// The stated reason of an emergency access.
    reason: Option<String>,
    /// The lists read; when the whole access was refused, the lists asked for.
    domains: Vec<DomainEnum>,
    /// The lists asked for and refused while the rest was shown (a delegate asking for lists
    /// you did not delegate), each with the code of the refusal. Empty when nothing was
    /// refused, and when the whole access was (then `outcome` has the code).
    refusals: Vec<RefusedList>,
    /// `granted`, or the code of the refusal.
    outcome: String,
    request_id: String,
}

/// A list refused within an access that was otherwise granted.
#[derive(SimpleObject)]
pub struct RefusedList {
    domain: DomainEnum,
    /// Why, as the error code the reader got: `FORBIDDEN`.
    code: String,
}

fn relationship_view(r: CareRelationship, ctx: &Context<'_>) -> CareRelationshipView {
    CareRelationshipView {
        id: ID(r.id),
        patient: PersonIdScalar(Ok(r.patient)),
        care_unit: organisation_named(ctx, &r.care_unit),
        care_provider: organisation_named(ctx, &r.care_provider),
        valid_from: DateTime(r.valid_from),
        valid_until: DateTime(r.valid_until),
    }
}

fn consent_view(c: Consent, ctx: &Context<'_>) -> ConsentView {
    let active = c.is_active(Utc::now());
    let mut care_unit = organisation_named(ctx, &c.care_unit);
    if care_unit.name.is_none() {
        care_unit.name = c.care_unit_name.clone();
    }
    ConsentView {
        id: ID(c.id),
        registered_by_staff: StaffMemberView {
            hsa_id: HsaIdScalar(c.registered_by.clone()),
            name: c.registered_by_name,
            profession: c.registered_by_profession,
            // A consent is registered by staff at the unit it is for.
            care_unit: care_unit.clone(),
        },
        care_unit,
        care_provider: organisation_named(ctx, &c.care_provider),
        registered_by: c.registered_by.to_string(),
        valid_from: DateTime(c.valid_from),
        valid_until: DateTime(c.valid_until),
        registered_at: DateTime(c.registered_at),
        withdrawn_at: c.withdrawn_at.map(DateTime),
        active,
    }
}

fn block_view(b: Block, ctx: &Context<'_>) -> BlockView {
    BlockView {
        id: ID(b.id.clone()),
        care_provider: organisation_named(ctx, &b.care_provider),
        care_unit: b.care_unit.as_ref().map(|u| organisation_named(ctx, u)),
        set_at: DateTime(b.set_at),
        lifted_at: b.lifted_at.map(DateTime),
        active: b.is_active(),
    }
}

/// A delegation as the patient sees it, with the delegate's name from the population register
/// (read now: the register is where names change).
async fn delegation_view(d: Delegation, ctx: &Context<'_>) -> DelegationView {
    let active = d.is_active(Utc::now().date_naive());
    DelegationView {
        id: ID(d.id),
        delegate_name: gate(ctx).name_of(&d.delegate).await,
        delegate: PersonIdScalar(Ok(d.delegate)),
        domains: d.domains.into_iter().map(DomainEnum::from).collect(),
        valid_until: Date(d.valid_until),
        granted_at: DateTime(d.granted_at),
        revoked_at: d.revoked_at.map(DateTime),
        active,
    }
}

// ---------------------------------------------------------------------------------------------
// Queries

#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// Who is signed in, and whom they may act for.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let request = request(ctx)?;
        match &request.principal.kind {
            PrincipalKind::Staff(s) => Ok(Viewer {
                person_id: None,
                name: s.name.clone(),
                staff: Some(StaffView {
                    hsa_id: s.hsa_id.to_string(),
                    name: s.name.clone(),
                    profession: s.profession.clone(),
                    care_unit: Organisation {
                        name: s.care_unit_name.clone(),
                        hsa_id: Some(s.care_unit.clone()),
                    },
                    care_provider: Organisation {
                        name: s.care_provider_name.clone(),
                        hsa_id: Some(s.care_provider.clone()),
                    },
                }),
                acts_for: Vec::new(),
            }),
            PrincipalKind::Person { person, name } => {
                let acts_for = match gate(ctx).acts_for(person, Utc::now()).await {
                    Ok(all) => all,
                    Err(GateError::Unavailable(cause)) => {
                        return Err(unavailable_error(request, &cause));
                    }
                    Err(GateError::Denied(d)) => return Err(super::denial_error(&d)),
                };
                Ok(Viewer {
                    person_id: Some(PersonIdScalar(Ok(person.clone()))),
                    name: name.clone(),
                    staff: None,
                    acts_for: acts_for
                        .into_iter()
                        .map(|a| ActsForView {
                            patient: PersonIdScalar(Ok(a.patient)),
                            name: a.name,
                            role: if a.guardian {
                                AccessRole::Guardian
                            } else {
                                AccessRole::Delegate
                            },
                            domains: a
                                .domains
                                .map(|d| d.into_iter().map(DomainEnum::from).collect()),
                            until: a.until.map(Date),
                        })
                        .collect(),
                })
            }
        }
    }

    /// Your consents (the patient's), withdrawn ones included, newest first.
    async fn consents(&self, ctx: &Context<'_>) -> Result<Vec<ConsentView>> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let all = gate(ctx)
            .store()
            .consents(me)
            .await
            .map_err(|e| store_error(request, e))?;
        Ok(all.into_iter().map(|c| consent_view(c, ctx)).collect())
    }

    /// Your blocks (spärrar), lifted ones included.
    async fn blocks(&self, ctx: &Context<'_>) -> Result<Vec<BlockView>> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let all = gate(ctx)
            .store()
            .blocks(me)
            .await
            .map_err(|e| store_error(request, e))?;
        Ok(all.into_iter().map(|b| block_view(b, ctx)).collect())
    }

    /// Every care provider whose sources this service reads, with its care units, by name: what
    /// a block (`setBlock`) may name, for the patient's block and consent screens. It is the
    /// service's source catalog, the same for every patient: it does not say which of them
    /// hold records about you (only asking them tells, as `overview` does; an item's
    /// `provenance` names its provider and unit). So it reveals nothing about you and is not
    /// an access to your data (not in the access log). The patient only (from 16), as blocks.
    async fn care_providers(&self, ctx: &Context<'_>) -> Result<Vec<CareProviderView>> {
        let request = request(ctx)?;
        patient_self(request)?;
        Ok(known_providers(ctx)
            .providers
            .into_iter()
            .map(|p| CareProviderView {
                name: p.name,
                hsa_id: HsaIdScalar(p.hsa_id),
                care_units: p
                    .units
                    .into_iter()
                    .map(|u| CareUnitView {
                        name: u.name,
                        hsa_id: HsaIdScalar(u.hsa_id),
                    })
                    .collect(),
            })
            .collect())
    }

    /// The delegations you granted, revoked ones included.
    async fn delegations(&self, ctx: &Context<'_>) -> Result<Vec<DelegationView>> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let all = gate(ctx)
            .store()
            .delegations_granted_by(me)
            .await
            .map_err(|e| store_error(request, e))?;
        Ok(futures::future::join_all(all.into_iter().map(|d| delegation_view(d, ctx))).await)
    }

    /// Who read your overview (by name; staff with profession and care unit; relatives with
    /// their role) and when, a page at a time: newest first, accesses in the same millisecond
    /// the later first. Emergency accesses are marked, and refused attempts are there too, with
    /// the lists refused within an access that was otherwise granted (`refusals`). Only your own.
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "From this time, or the start of this Swedish calendar day (inclusive).")]
        from: Option<DateOrDateTime>,
        #[graphql(
            desc = "Until this time (exclusive), or to the end of this Swedish calendar day (inclusive)."
        )]
        to: Option<DateOrDateTime>,
        #[graphql(desc = "Entries in this page: 0 to 500, 100 when not given.")] first: Option<i32>,
        #[graphql(
            desc = "The page starts after the entry of this cursor (an `endCursor` or an edge's `cursor` of this list)."
        )]
        after: Option<String>,
    ) -> Result<paging::Page<LogPosition, AccessLogEntry>> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let range = Range::new(from, to)?;
        let PageArgs { size, after } = paging::arguments(ACCESS_LOG, first, after.as_deref())?;
        let store = gate(ctx).store();
        let page = store
            .access_log_page(me, range.from, range.to, after, size)
            .await
            .map_err(|e| store_error(request, e))?;
        let has_previous = match after {
            Some(after) => store
                .access_log_reaches(me, range.from, range.to, after)
                .await
                .map_err(|e| store_error(request, e))?,
            None => false,
        };
        // Counting reads every entry in the range: only when asked for.
        let total_count = if ctx.look_ahead().field("totalCount").exists() {
            let count = store
                .access_log_count(me, range.from, range.to)
                .await
                .map_err(|e| store_error(request, e))?;
            usize::try_from(count).unwrap_or(usize::MAX)
        } else {
            0
        };
        let mut connection = Connection::with_additional_fields(
            has_previous,
            page.has_more,
            paging::Totals { total_count },
        );
        connection.edges.extend(
            page.records
                .into_iter()
                .map(|(position, r)| Edge::new(paging::cursor(ACCESS_LOG, position), log_entry(r))),
        );
        Ok(connection)
    }
}

/// The access log's name in its cursors.
const ACCESS_LOG: &str = "accessLog";

fn log_entry(r: AccessRecord) -> AccessLogEntry {
    let org = |hsa: &Option<String>, name: &Option<String>| {
        hsa.as_ref().map(|h| Organisation {
            name: name.clone(),
            hsa_id: HsaId::parse(h).ok(),
        })
    };
    AccessLogEntry {
        time: DateTime(r.time),
        role: AccessRole::from_log(&r.actor_role),
        reader_name: r.actor_name,
        reader_profession: r.actor_profession,
        care_unit: org(&r.care_unit, &r.care_unit_name),
        care_provider: org(&r.care_provider, &r.care_provider_name),
        purpose: r.purpose,
        emergency: r.emergency,
        reason: r.reason,
        domains: r
            .domains
            .iter()
            .filter_map(|d| Domain::from_str_name(d))
            .map(DomainEnum::from)
            .collect(),
        refusals: r
            .refusals
            .into_iter()
            .filter_map(|refusal| {
                Some(RefusedList {
                    domain: Domain::from_str_name(&refusal.domain)?.into(),
                    code: refusal.code,
                })
            })
            .collect(),
        outcome: r.outcome,
        request_id: r.request_id,
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations

pub struct AccessMutation;

/// Tells `patient`'s live subscriptions that who may see what changed: they decide access
/// again at once instead of at their next data change.
fn access_changed(ctx: &Context<'_>, patient: &PersonId) {
    if let Ok(engine) = ctx.data::<Arc<crate::engine::Engine>>() {
        engine.changes().publish(crate::live::Change {
            patient: patient.clone(),
            source: None,
            cause: crate::live::Cause::Access,
        });
    }
}

#[Object]
impl AccessMutation {
    /// Care staff: registers a care relationship (patientrelation) between the patient and your
    /// care unit, from now until `validUntil` (at most three years).
    async fn register_care_relationship(
        &self,
        ctx: &Context<'_>,
        patient: PersonIdScalar,
        valid_until: DateTime,
    ) -> Result<CareRelationshipView> {
        let request = request(ctx)?;
        let staff = staff(request)?;
        let patient = person_arg(patient, "patient")?;
        let now = Utc::now();
        writes::registration_period(now, valid_until.0).map_err(refused)?;
        let r = gate(ctx)
            .store()
            .register_care_relationship(&NewCareRelationship {
                patient,
                care_unit: staff.care_unit.clone(),
                care_provider: staff.care_provider.clone(),
                registered_by: staff.hsa_id.clone(),
                valid_from: now,
                valid_until: valid_until.0,
            })
            .await
            .map_err(|e| store_error(request, e))?;
        access_changed(ctx, &r.patient);
        Ok(relationship_view(r, ctx))
    }

    /// Care staff: registers the patient's consent for your care unit to read other care
    /// providers' data, from `validFrom` (default now) until `validUntil` (at most three years).
    /// Needs an active care relationship at your unit.
    async fn register_consent(
        &self,
        ctx: &Context<'_>,
        patient: PersonIdScalar,
        valid_from: Option<DateTime>,
        valid_until: DateTime,
    ) -> Result<ConsentView> {
        let request = request(ctx)?;
        let staff = staff(request)?;
        let patient = person_arg(patient, "patient")?;
        let now = Utc::now();
        let from =
            writes::consent_period(valid_from.map(|t| t.0), valid_until.0, now).map_err(refused)?;
        let store = gate(ctx).store();
        let related = store
            .care_relationships(&patient)
            .await
            .map_err(|e| store_error(request, e))?
            .iter()
            .any(|r| r.care_unit == staff.care_unit && r.is_active(now));
        if !related {
            return Err(refused(WriteRefusal::NoCareRelationship));
        }
        let c = store
            .register_consent(&NewConsent {
                patient,
                care_unit: staff.care_unit.clone(),
                care_unit_name: staff.care_unit_name.clone(),
                care_provider: staff.care_provider.clone(),
                registered_by: staff.hsa_id.clone(),
                registered_by_name: staff.name.clone(),
                registered_by_profession: staff.profession.clone(),
                valid_from: from,
                valid_until: valid_until.0,
            })
            .await
            .map_err(|e| store_error(request, e))?;
        access_changed(ctx, &c.patient);
        Ok(consent_view(c, ctx))
    }

    /// Withdraws one of your consents; in effect from the next request.
    async fn withdraw_consent(&self, ctx: &Context<'_>, id: ID) -> Result<ConsentView> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let c = gate(ctx)
            .store()
            .withdraw_consent(me, &id, Utc::now())
            .await
            .map_err(|e| store_error(request, e))?
            .ok_or_else(|| not_found("consent"))?;
        access_changed(ctx, me);
        Ok(consent_view(c, ctx))
    }

    /// Blocks a care provider's data, or only one of its care units', from other care
    /// providers' staff (spärr). In an emergency they learn only that blocked data exists.
    /// The provider must be one whose sources this service reads (`careProviders`; else
    /// `UNKNOWN_CARE_PROVIDER`), and a unit the service knows under another provider is
    /// refused (`INVALID_ARGUMENT`). Idempotent: when you already have an active block on the
    /// same provider (or the same unit), that block is returned and no second one is set.
    async fn set_block(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "HSA-id of the care provider.")] care_provider: String,
        #[graphql(desc = "HSA-id of one of its care units; leave out to block all its data.")]
        care_unit: Option<String>,
    ) -> Result<BlockView> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let care_provider = hsa_arg(&care_provider, "careProvider")?;
        let care_unit = care_unit
            .as_deref()
            .map(|u| hsa_arg(u, "careUnit"))
            .transpose()?;
        writes::block_target(&known_providers(ctx), &care_provider, care_unit.as_ref())
            .map_err(refused)?;
        let store = gate(ctx).store();
        let blocks = store
            .blocks(me)
            .await
            .map_err(|e| store_error(request, e))?;
        if let Some(existing) = writes::existing_block(&blocks, &care_provider, care_unit.as_ref())
        {
            return Ok(block_view(existing.clone(), ctx));
        }
        // The store checks once more inside its write: a request made twice at once.
        let b = store
            .set_block(&NewBlock {
                patient: me.clone(),
                care_provider,
                care_unit,
            })
            .await
            .map_err(|e| store_error(request, e))?;
        access_changed(ctx, me);
        Ok(block_view(b, ctx))
    }

    /// Lifts one of your blocks; in effect from the next request.
    async fn lift_block(&self, ctx: &Context<'_>, id: ID) -> Result<BlockView> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let b = gate(ctx)
            .store()
            .lift_block(me, &id, Utc::now())
            .await
            .map_err(|e| store_error(request, e))?
            .ok_or_else(|| not_found("block"))?;
        access_changed(ctx, me);
        Ok(block_view(b, ctx))
    }

    /// Lets `delegate` see the chosen lists of your overview until `validUntil` (inclusive).
    /// Only where this deployment has delegation switched on, and only from 18. A delegate has
    /// at most one active delegation from you: granting the same lists and date again returns
    /// the one they have; granting other lists or another date replaces it (it is revoked,
    /// and the new one returned), so changing what someone sees is one call.
    async fn grant_delegation(
        &self,
        ctx: &Context<'_>,
        delegate: PersonIdScalar,
        domains: Vec<DomainEnum>,
        valid_until: Date,
    ) -> Result<DelegationView> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let gate = gate(ctx);
        if !gate.settings().delegation {
            return Err(coded_error(
                codes::DELEGATION_DISABLED,
                "delegation is switched off in this service",
            ));
        }
        let today = Utc::now().date_naive();
        let delegate = person_arg(delegate, "delegate")?;
        let domains = writes::delegation(
            me,
            &delegate,
            domains.into_iter().map(Domain::from),
            valid_until.0,
            today,
        )
        .map_err(refused)?;
        let new = NewDelegation {
            patient: me.clone(),
            delegate,
            domains,
            valid_until: valid_until.0,
        };
        let store = gate.store();
        let granted = store
            .delegations_granted_by(me)
            .await
            .map_err(|e| store_error(request, e))?;
        let replaces: Vec<&str> = match writes::delegation_change(&granted, &new, today) {
            DelegationChange::Unchanged(existing) => {
                return Ok(delegation_view(existing.clone(), ctx).await);
            }
            DelegationChange::Grant { replaces } => {
                replaces.iter().map(|d| d.id.as_str()).collect()
            }
        };
        let d = store
            .grant_delegation_replacing(&new, &replaces, Utc::now())
            .await
            .map_err(|e| store_error(request, e))?;
        access_changed(ctx, me);
        Ok(delegation_view(d, ctx).await)
    }

    /// Revokes one of your delegations; in effect from the delegate's next request.
    async fn revoke_delegation(&self, ctx: &Context<'_>, id: ID) -> Result<DelegationView> {
        let request = request(ctx)?;
        let me = patient_self(request)?;
        let d = gate(ctx)
            .store()
            .revoke_delegation(me, &id, Utc::now())
            .await
            .map_err(|e| store_error(request, e))?
            .ok_or_else(|| not_found("delegation"))?;
        access_changed(ctx, me);
        Ok(delegation_view(d, ctx).await)
    }
}
