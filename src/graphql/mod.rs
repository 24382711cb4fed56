//! The GraphQL schema: `Query.overview` and the types it returns, and the access API (viewer,
//! consents, blocks, delegations, access log). For each overview it asks the access gate, asks
//! the engine only for what the viewer may see, writes the access record before any data
//! leaves, and resolves merged lists filtered for the viewer. No HTTP, no source protocols, no
//! caching here.

pub mod access;
pub mod labels;
pub mod limits;
pub mod live;
pub mod nulls;
pub mod overview;
pub mod paging;
pub mod scalars;
pub mod types;

use std::sync::Arc;

use async_graphql::{Context, Enum, ErrorExtensions, MergedObject, Object, Result, Schema};
use chrono::Utc;

use crate::access::gate::{Gate, GateError};
use crate::access::{Actor, Ask, Denial, Grant, Purpose, Role, SourceAccess, text};
use crate::audit::{AccessRecord, AuditLog, DomainRefusal};
use crate::auth::{Principal, PrincipalKind};
use crate::config::GraphqlSettings;
use crate::domain::{Domain, PersonId};
use crate::engine::{Engine, Gathered};
use overview::Overview;
use scalars::PersonIdScalar;

/// The error codes, from the crate's one table ([`crate::codes`]); named here too because
/// the GraphQL layer is where clients meet them.
pub use crate::codes;

/// An error with a stable `extensions.code`.
pub fn coded_error(code: &'static str, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// Per-request data the HTTP edge puts in: who is asking, and the request's id.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Principal,
    pub request_id: String,
}

pub type OverblickSchema = Schema<Query, Mutation, live::Subscription>;

/// Builds the schema over the engine, the access gate and the access log, with the default
/// `[graphql]` settings (introspection off).
pub fn schema(engine: Arc<Engine>, gate: Arc<Gate>, audit: Arc<dyn AuditLog>) -> OverblickSchema {
    schema_with(engine, gate, audit, &GraphqlSettings::default())
}

/// Builds the schema with the edge's limits, and with introspection and "did you mean" field
/// suggestions only where `settings` switch them on.
pub fn schema_with(
    engine: Arc<Engine>,
    gate: Arc<Gate>,
    audit: Arc<dyn AuditLog>,
    settings: &GraphqlSettings,
) -> OverblickSchema {
    let mut builder = Schema::build(Query::default(), access::AccessMutation, live::Subscription)
        .data(live::Subscribers::new(
            settings.subscriptions.clone(),
            engine.metrics().clone(),
        ))
        .data(engine)
        .data(gate)
        .data(audit)
        .data(overview::SourceErrorText::from(settings))
        .extension(limits::EdgeLimits::new(limits::Limits::from(settings)))
        .extension(nulls::NullsInPlace);
    if !settings.introspection() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The schema's SDL, as committed in `schema/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), access::AccessMutation, live::Subscription)
        .finish()
        .sdl()
}

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(OverviewQuery, access::AccessQuery, labels::LabelsQuery);

/// Every mutation: the patient's consents, blocks and delegations, and staff registering care
/// relationships and consents.
pub type Mutation = access::AccessMutation;

#[derive(Default)]
pub struct OverviewQuery;

/// Why care staff open an overview.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "Purpose")]
pub enum PurposeArg {
    /// Ordinary care: needs an active care relationship; other care providers' data needs the
    /// patient's consent for your care unit.
    Care,
    /// Emergency access (nödåtkomst): no consent needed, a reason is, and it is followed up.
    Emergency,
}

impl From<PurposeArg> for Purpose {
    fn from(p: PurposeArg) -> Self {
        match p {
            PurposeArg::Care => Purpose::Care,
            PurposeArg::Emergency => Purpose::Emergency,
        }
    }
}

/// The request's context, or `UNAUTHENTICATED`.
pub(crate) fn request<'a>(ctx: &Context<'a>) -> Result<&'a RequestContext> {
    ctx.data::<RequestContext>()
        .map_err(|_| coded_error(codes::UNAUTHENTICATED, "sign in first"))
}

/// Parses a `PersonId` argument, or `INVALID_PERSON_ID`.
pub(crate) fn person_arg(arg: PersonIdScalar, name: &str) -> Result<PersonId> {
    arg.0.map_err(|e| {
        coded_error(
            codes::INVALID_PERSON_ID,
            format!("`{name}` is not a valid personnummer or samordningsnummer: {e}"),
        )
    })
}

/// The error a denial gives. The texts never say whether the patient has data.
pub(crate) fn denial_error(denial: &Denial) -> async_graphql::Error {
    match denial {
        Denial::Forbidden => coded_error(
            codes::FORBIDDEN,
            "you may not see this overview: patients see their own (from 16), guardians a child's until 13, delegates what was delegated to them, care staff need an active care relationship",
        ),
        Denial::ReasonRequired => coded_error(
            codes::REASON_REQUIRED,
            "emergency access needs a `reason`: say why the patient's life or health is at serious risk",
        ),
        Denial::InvalidArgument(message) => coded_error(codes::INVALID_ARGUMENT, *message),
    }
}

pub(crate) fn unavailable_error(
    request: &RequestContext,
    cause: &dyn std::fmt::Display,
) -> async_graphql::Error {
    tracing::error!(request_id = %request.request_id, error = %cause, "access rules cannot be checked");
    coded_error(
        codes::ACCESS_CHECK_UNAVAILABLE,
        "who may see what cannot be checked just now, so nothing can be shown; try again shortly",
    )
}

#[Object]
impl OverviewQuery {
    /// The care overview of `patient`, gathered from every source that holds a part of it;
    /// of the signed-in person when `patient` is left out. Only the lists the query selects are
    /// fetched. A source that fails or times out never fails the overview: its status is in
    /// `sources` and an error with `extensions.code` `SOURCE_TIMEOUT` or `SOURCE_ERROR` names it.
    ///
    /// Who may see what (README, "Who may see what"): a patient their own overview, from 16;
    /// a guardian their child's until the child turns 13; a delegate the delegated lists (the
    /// others resolve to null with `FORBIDDEN`); care staff with `purpose` and an active care
    /// relationship at their care unit, other care providers' data only with the patient's
    /// consent for that unit (else `CONSENT_REQUIRED` is reported and only their own care
    /// provider's data is shown) or in an emergency with a `reason`. Every access, granted or
    /// not, is in the access log before any data is returned.
    async fn overview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose overview; the signed-in person's when left out.")] patient: Option<
            PersonIdScalar,
        >,
        #[graphql(desc = "Care staff: why you open the overview. Not for patients and relatives.")]
        purpose: Option<PurposeArg>,
        #[graphql(
            desc = "Care staff: why, in words. Required for EMERGENCY, and must be visible: spaces, zero-width and other invisible characters alone are no reason."
        )]
        reason: Option<String>,
    ) -> Result<Overview> {
        let opened = open(ctx, patient, purpose, reason).await?;
        let now = Utc::now();
        let ask = opened.ask(now);
        let grant = &opened.grant;
        let engine = ctx.data_unchecked::<Arc<Engine>>();
        let gate = ctx.data_unchecked::<Arc<Gate>>();
        let (gathered, reader) = futures::join!(
            engine.gather_where(&opened.patient, &opened.domains, |info| {
                grant.view.source(info) != SourceAccess::Skip
            }),
            reader(gate, &opened.request, &ask, false),
        );

        // Written before any data leaves: no record, no data.
        let record = access_record(
            &opened.request,
            &ask,
            Some(grant),
            &opened.domains,
            &opened.refusals,
            &gathered,
            "granted",
            reader,
        );
        let audit = ctx.data_unchecked::<Arc<dyn AuditLog>>();
        write_record(audit.as_ref(), &opened.request, &record).await?;
        if grant.consent_missing {
            ctx.add_error(ctx.set_error_path(consent_required().into_server_error(ctx.item.pos)));
        }
        let filters = overview::list_filters(ctx);
        let Opened { asking, grant, .. } = opened;
        Ok(Overview::new(
            asking.patient,
            gathered,
            engine.clone(),
            grant,
            filters,
        ))
    }
}

/// Who asks for whose overview, and why.
pub(crate) struct Asking {
    pub request: RequestContext,
    pub patient: PersonId,
    pub purpose: Option<Purpose>,
    pub reason: Option<String>,
}

/// An overview the viewer may open: who asks, about whom, why, and what the rules grant.
pub(crate) struct Opened {
    pub asking: Asking,
    pub grant: Grant,
    /// The domains the selection asks for that the grant allows (fetched and shown).
    pub domains: Vec<Domain>,
    /// The domains the selection asks for that the grant refuses, each with why.
    pub refusals: Vec<(Domain, Denial)>,
}

impl std::ops::Deref for Opened {
    type Target = Asking;

    fn deref(&self) -> &Asking {
        &self.asking
    }
}

impl Asking {
    /// The access question, as asked at `now`.
    pub fn ask(&self, now: chrono::DateTime<Utc>) -> Ask<'_> {
        let actor = match &self.request.principal.kind {
            PrincipalKind::Person { person, .. } => Actor::Person(person),
            PrincipalKind::Staff(staff) => Actor::Staff {
                care_unit: &staff.care_unit,
                care_provider: &staff.care_provider,
            },
        };
        Ask {
            actor,
            patient: &self.patient,
            purpose: self.purpose,
            reason: self.reason.as_deref(),
            now,
        }
    }
}

/// The error every overview with `consent_missing` carries.
pub(crate) fn consent_required() -> async_graphql::Error {
    coded_error(
        codes::CONSENT_REQUIRED,
        "other care providers' data needs the patient's consent for your care unit: only your own care provider's data is shown; register the consent (registerConsent) or, in an emergency, use purpose EMERGENCY with a reason",
    )
}

/// Writes `record` to the access log, or `AUDIT_UNAVAILABLE`: no record, no data.
pub(crate) async fn write_record(
    audit: &dyn AuditLog,
    request: &RequestContext,
    record: &AccessRecord,
) -> Result<()> {
    audit.record(record).await.map_err(|e| {
        tracing::error!(request_id = %request.request_id, error = %e, "access log unavailable");
        coded_error(
            codes::AUDIT_UNAVAILABLE,
            "the access log cannot be written just now, so no data can be shown; try again shortly",
        )
    })
}

/// Decides whether the signed-in viewer may open `patient`'s overview (the signed-in person's
/// when left out) for the selection under the current field; a refusal is written to the
/// access log and returned as its coded error.
pub(crate) async fn open(
    ctx: &Context<'_>,
    patient: Option<PersonIdScalar>,
    purpose: Option<PurposeArg>,
    reason: Option<String>,
) -> Result<Opened> {
    let request = request(ctx)?;
    let principal = &request.principal;
    let patient: PersonId = match (patient, &principal.kind) {
        (Some(arg), _) => person_arg(arg, "patient")?,
        (None, PrincipalKind::Person { person, .. }) => person.clone(),
        (None, PrincipalKind::Staff(_)) => {
            return Err(coded_error(
                codes::INVALID_ARGUMENT,
                "care staff must name the `patient`",
            ));
        }
    };
    let selected = selected_domains(ctx);
    let gate = ctx.data_unchecked::<Arc<Gate>>();
    let asking = Asking {
        request: request.clone(),
        patient,
        purpose: purpose.map(Purpose::from),
        reason,
    };
    let decided = gate.decide(&asking.ask(Utc::now())).await;
    match decided {
        // Only what the viewer may see is fetched: delegated domains, and the sources the
        // view admits. The cache below stays keyed by source data alone. The lists refused
        // (they resolve to null with their error) are in the access record beside the rest.
        Ok(grant) => Ok(Opened {
            asking,
            domains: selected
                .iter()
                .copied()
                .filter(|d| grant.allows(*d))
                .collect(),
            refusals: grant.refusals(&selected),
            grant,
        }),
        Err(refusal) => {
            let audit = ctx.data_unchecked::<Arc<dyn AuditLog>>();
            Err(refused(gate, audit.as_ref(), &asking, &selected, refusal).await)
        }
    }
}

/// Logs a refusal and returns its error. The refusal stands whether or not the log takes it.
pub(crate) async fn refused(
    gate: &Gate,
    audit: &dyn AuditLog,
    asking: &Asking,
    selected: &[Domain],
    refusal: GateError,
) -> async_graphql::Error {
    let request = &asking.request;
    let (code, error) = match refusal {
        GateError::Denied(denial) => (denial_code(&denial), denial_error(&denial)),
        GateError::Unavailable(cause) => (
            codes::ACCESS_CHECK_UNAVAILABLE,
            unavailable_error(request, &cause),
        ),
    };
    let ask = asking.ask(Utc::now());
    let reader = reader(gate, request, &ask, true).await;
    let record = access_record(
        request,
        &ask,
        None,
        selected,
        &[],
        &Gathered::default(),
        code,
        reader,
    );
    if let Err(e) = audit.record(&record).await {
        tracing::error!(request_id = %request.request_id, error = %e, "access log unavailable");
    }
    error
}

fn denial_code(denial: &Denial) -> &'static str {
    match denial {
        Denial::Forbidden => codes::FORBIDDEN,
        Denial::ReasonRequired => codes::REASON_REQUIRED,
        Denial::InvalidArgument(_) => codes::INVALID_ARGUMENT,
    }
}

/// The domains the query selects under `overview`, looking through fragments; the patient's
/// name needs the sources' patient records, the rest of the header does not.
pub(crate) fn selected_domains(ctx: &Context<'_>) -> Vec<Domain> {
    let look = ctx.look_ahead();
    let mut domains = Vec::new();
    if look.field("patient").field("name").exists() {
        domains.push(Domain::Patient);
    }
    for (field, domain) in overview::LIST_FIELDS {
        if look.field(field).exists() {
            domains.push(domain);
        }
    }
    // The latest-value views read their list's domain.
    for (field, domain) in overview::LATEST_FIELDS {
        if look.field(field).exists() {
            domains.push(domain);
        }
    }
    // In the order of the enum, each once, as when only lists were selected.
    domains.sort();
    domains.dedup();
    domains
}

/// Who read, as the access log shows the patient: a name as it is now, and for a person
/// refused someone else's overview, what they could have been asking as.
#[derive(Clone)]
pub(crate) struct Reader {
    name: Option<String>,
    claimed_role: Option<Role>,
}

/// The reader of `ask`: staff by their token's name; a person by their token's name, else (when
/// acting for someone else) the population register's. Costs nothing for a patient reading
/// their own overview or for staff; one register read for a relative, and for a refused one
/// also one store read (`Gate::claimed_role`).
pub(crate) async fn reader(
    gate: &Gate,
    request: &RequestContext,
    ask: &Ask<'_>,
    refused: bool,
) -> Reader {
    let token_name = request.principal.name().map(str::to_owned);
    match &request.principal.kind {
        PrincipalKind::Person { person, .. } if person != ask.patient => {
            let name = match token_name {
                Some(name) => Some(name),
                None => gate.name_of(person).await,
            };
            let claimed_role = if refused {
                gate.claimed_role(person, ask.patient).await
            } else {
                None
            };
            Reader { name, claimed_role }
        }
        _ => Reader {
            name: token_name,
            claimed_role: None,
        },
    }
}

/// The access record of one overview: `domains` read (or asked for, when refused as a whole),
/// `refusals` the domains refused within a granted access.
#[allow(clippy::too_many_arguments)]
pub(crate) fn access_record(
    request: &RequestContext,
    ask: &Ask<'_>,
    grant: Option<&Grant>,
    domains: &[Domain],
    refusals: &[(Domain, Denial)],
    gathered: &Gathered,
    outcome: &str,
    reader: Reader,
) -> AccessRecord {
    let mut sources: Vec<String> = gathered
        .outcomes
        .iter()
        .filter(|o| o.answer.is_some())
        .map(|o| o.source.id.clone())
        .collect();
    sources.sort();
    sources.dedup();
    let principal = &request.principal;
    let (actor_person, staff) = match &principal.kind {
        PrincipalKind::Person { person, .. } => (Some(person), None),
        PrincipalKind::Staff(staff) => (None, Some(staff)),
    };
    let role = match (grant, staff) {
        (Some(g), _) => g.role.as_str(),
        (None, Some(_)) => "staff",
        (None, None) if actor_person == Some(ask.patient) => "patient",
        // Refused while asking for someone else: as what they could have been asking (the
        // register's guardian, a former delegate), else a bare person.
        (None, None) => reader.claimed_role.map_or("person", Role::as_str),
    };
    AccessRecord {
        time: Utc::now(),
        request_id: request.request_id.clone(),
        actor_issuer: principal.issuer.clone(),
        actor_subject: principal.subject.clone(),
        actor_role: role.to_owned(),
        actor_person: actor_person.map(PersonId::digits),
        actor_hsa_id: staff.map(|s| s.hsa_id.to_string()),
        actor_name: reader.name,
        actor_profession: staff.and_then(|s| s.profession.clone()),
        on_behalf_of: actor_person
            .filter(|p| *p != ask.patient)
            .map(|_| ask.patient.digits()),
        patient: ask.patient.digits(),
        care_unit: staff.map(|s| s.care_unit.to_string()),
        care_unit_name: staff.and_then(|s| s.care_unit_name.clone()),
        care_provider: staff.map(|s| s.care_provider.to_string()),
        care_provider_name: staff.and_then(|s| s.care_provider_name.clone()),
        purpose: ask.purpose.map(|p| p.as_str().to_owned()),
        // As the rules read it: a reason that looks blank is recorded as none.
        reason: text::stated(ask.reason).map(str::to_owned),
        emergency: grant.is_some_and(|g| g.emergency),
        domains: domains.iter().map(|d| d.as_str().to_owned()).collect(),
        refusals: refusals
            .iter()
            .map(|(domain, denial)| DomainRefusal {
                domain: domain.as_str().to_owned(),
                code: denial_code(denial).to_owned(),
            })
            .collect(),
        sources,
        outcome: outcome.to_owned(),
    }
}
