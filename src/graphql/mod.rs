//! The GraphQL schema: `Query.overview` and the types it returns, and the access API (viewer,
//! consents, blocks, delegations, access log). For each overview it asks the access gate, asks
//! the engine only for what the viewer may see, writes the access record before any data
//! leaves, and resolves merged lists filtered for the viewer. No HTTP, no source protocols, no
//! caching here.

pub mod access;
pub mod limits;
pub mod overview;
pub mod scalars;
pub mod types;

use std::sync::Arc;

use async_graphql::{
    Context, EmptySubscription, Enum, ErrorExtensions, MergedObject, Object, Result, Schema,
};
use chrono::Utc;

use crate::access::gate::{Gate, GateError};
use crate::access::{Actor, Ask, Denial, Grant, Purpose, SourceAccess};
use crate::audit::{AccessRecord, AuditLog};
use crate::auth::{Principal, PrincipalKind};
use crate::config::GraphqlSettings;
use crate::domain::{Domain, PersonId};
use crate::engine::{Engine, Gathered};
use overview::Overview;
use scalars::PersonIdScalar;

/// The stable error codes clients find in `extensions.code`.
pub mod codes {
    /// No or invalid bearer token (HTTP 401).
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The signed-in user may not see what was asked for.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// `patient` is not a valid personnummer or samordningsnummer.
    pub const INVALID_PERSON_ID: &str = "INVALID_PERSON_ID";
    /// Another argument is out of range (e.g. `from` after `to`).
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    /// The access log could not be written, so no data is returned.
    pub const AUDIT_UNAVAILABLE: &str = "AUDIT_UNAVAILABLE";
    /// Care staff in ordinary care without the patient's consent for their care unit: only
    /// their own care provider's data is shown.
    pub const CONSENT_REQUIRED: &str = "CONSENT_REQUIRED";
    /// Emergency access without a reason.
    pub const REASON_REQUIRED: &str = "REASON_REQUIRED";
    /// The store or register the access rules read is unavailable, so nothing is shown.
    pub const ACCESS_CHECK_UNAVAILABLE: &str = "ACCESS_CHECK_UNAVAILABLE";
    /// No such consent, block or delegation of yours.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// Delegation is switched off in this deployment.
    pub const DELEGATION_DISABLED: &str = "DELEGATION_DISABLED";
    /// A source did not answer in time (its data is missing or stale).
    pub const SOURCE_TIMEOUT: &str = "SOURCE_TIMEOUT";
    /// A source failed (its data is missing or stale).
    pub const SOURCE_ERROR: &str = "SOURCE_ERROR";
    /// A source answered, but some of the records it sent could not be read (a required
    /// element missing, say) and are not shown: the list is incomplete (a warning; the
    /// source's `leftOut` says how many).
    pub const SOURCE_INCOMPLETE: &str = "SOURCE_INCOMPLETE";
    /// A source has failed repeatedly and was not asked (its circuit breaker is open); its
    /// data is missing or stale.
    pub const SOURCE_UNAVAILABLE: &str = "SOURCE_UNAVAILABLE";
    /// A source had as many calls in progress as it may and this one was shed; its data is
    /// missing or stale.
    pub const SOURCE_OVERLOADED: &str = "SOURCE_OVERLOADED";
    /// The engagement index failed or did not answer in time; every platform source of the
    /// domain was asked instead (a warning: the list is complete as far as the sources are).
    pub const ENGAGEMENT_INDEX_UNAVAILABLE: &str = "ENGAGEMENT_INDEX_UNAVAILABLE";

    // Refusals at the edge: the request is not executed and no source is called. HTTP 400
    // unless said otherwise.

    /// Fields nested deeper than `[graphql] max_depth` (or fragments nested too deep).
    pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    /// More fields than `[graphql] max_complexity`, fragments counted where they are spread.
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// More aliased fields than `[graphql] max_aliases`.
    pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
    /// More root fields in the operation than `[graphql] max_root_fields`.
    pub const TOO_MANY_ROOT_FIELDS: &str = "TOO_MANY_ROOT_FIELDS";
    /// The query text is longer than `[graphql] max_query_bytes`.
    pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
    /// A JSON array of more operations than `[graphql] max_batch` (1: batching is off).
    pub const BATCH_TOO_LARGE: &str = "BATCH_TOO_LARGE";
    /// `__schema` or `__type` where introspection is off (production's default).
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
    /// The request body is larger than `[graphql] max_body_bytes`, declared or as sent
    /// (HTTP 413).
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// A GET request's URL is longer than `[graphql] max_body_bytes` (HTTP 414).
    pub const URI_TOO_LONG: &str = "URI_TOO_LONG";
    /// A mutation sent with GET, or a method `/graphql` does not take (HTTP 405, `Allow`).
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// A POST whose body is not `application/json` (HTTP 415).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// The body is not JSON, or not a GraphQL request (`query`, `variables`, `operationName`).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The query is not valid GraphQL syntax.
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The query does not fit the schema (unknown field or argument, wrong type, fragment
    /// cycle, unknown or missing operation name, ...).
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// Too many requests from this signed-in user; `Retry-After` says when to try again
    /// (HTTP 429).
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// A path the service does not serve (HTTP 404).
    pub const NO_SUCH_PATH: &str = "NO_SUCH_PATH";
    /// A fault in the service itself (HTTP 500 when nothing could be answered).
    pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
}

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

pub type OverblickSchema = Schema<Query, Mutation, EmptySubscription>;

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
    let mut builder = Schema::build(Query::default(), access::AccessMutation, EmptySubscription)
        .data(engine)
        .data(gate)
        .data(audit)
        .extension(limits::EdgeLimits::new(limits::Limits::from(settings)));
    if !settings.introspection() {
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The schema's SDL, as committed in `schema/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), access::AccessMutation, EmptySubscription)
        .finish()
        .sdl()
}

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(OverviewQuery, access::AccessQuery);

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

pub(crate) fn unavailable_error(request: &RequestContext, cause: &str) -> async_graphql::Error {
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
        #[graphql(desc = "Care staff: why, in words. Required for EMERGENCY.")] reason: Option<
            String,
        >,
    ) -> Result<Overview> {
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
        let now = Utc::now();
        let actor = match &principal.kind {
            PrincipalKind::Person { person, .. } => Actor::Person(person),
            PrincipalKind::Staff(staff) => Actor::Staff {
                care_unit: &staff.care_unit,
                care_provider: &staff.care_provider,
            },
        };
        let ask = Ask {
            actor,
            patient: &patient,
            purpose: purpose.map(Purpose::from),
            reason: reason.as_deref(),
            now,
        };
        let selected = selected_domains(ctx);
        let audit = ctx.data_unchecked::<Arc<dyn AuditLog>>();
        let gate = ctx.data_unchecked::<Arc<Gate>>();

        let grant = match gate.decide(&ask).await {
            Ok(grant) => grant,
            Err(refusal) => {
                let (code, error) = match refusal {
                    GateError::Denied(denial) => (denial_code(&denial), denial_error(&denial)),
                    GateError::Unavailable(cause) => (
                        codes::ACCESS_CHECK_UNAVAILABLE,
                        unavailable_error(request, &cause),
                    ),
                };
                // Refusals are logged too; the refusal stands whether or not the log takes it.
                let record =
                    access_record(request, &ask, None, &selected, &Gathered::default(), code);
                if let Err(e) = audit.record(&record).await {
                    tracing::error!(request_id = %request.request_id, error = %e, "access log unavailable");
                }
                return Err(error);
            }
        };

        // Only what the viewer may see is fetched: delegated domains, and the sources the
        // view admits. The cache below stays keyed by source data alone.
        let domains: Vec<Domain> = selected
            .iter()
            .copied()
            .filter(|d| grant.allows(*d))
            .collect();
        let engine = ctx.data_unchecked::<Arc<Engine>>();
        let gathered = engine
            .gather_where(&patient, &domains, |info| {
                grant.view.source(info) != SourceAccess::Skip
            })
            .await;

        // Written before any data leaves: no record, no data.
        let record = access_record(request, &ask, Some(&grant), &domains, &gathered, "granted");
        if let Err(e) = audit.record(&record).await {
            tracing::error!(request_id = %request.request_id, error = %e, "access log unavailable");
            return Err(coded_error(
                codes::AUDIT_UNAVAILABLE,
                "the access log cannot be written just now, so no data can be shown; try again shortly",
            ));
        }
        if grant.consent_missing {
            let err = coded_error(
                codes::CONSENT_REQUIRED,
                "other care providers' data needs the patient's consent for your care unit: only your own care provider's data is shown; register the consent (registerConsent) or, in an emergency, use purpose EMERGENCY with a reason",
            );
            ctx.add_error(ctx.set_error_path(err.into_server_error(ctx.item.pos)));
        }
        Ok(Overview::new(patient, gathered, engine.clone(), grant))
    }
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
fn selected_domains(ctx: &Context<'_>) -> Vec<Domain> {
    let look = ctx.look_ahead();
    let mut domains = Vec::new();
    if look.field("patient").field("name").exists() {
        domains.push(Domain::Patient);
    }
    for (field, domain) in [
        ("contacts", Domain::Contacts),
        ("carePlans", Domain::CarePlans),
        ("agreements", Domain::Agreements),
        ("medications", Domain::Medications),
        ("measurements", Domain::Measurements),
        ("labResults", Domain::LabResults),
        ("bookings", Domain::Bookings),
    ] {
        if look.field(field).exists() {
            domains.push(domain);
        }
    }
    domains
}

fn access_record(
    request: &RequestContext,
    ask: &Ask<'_>,
    grant: Option<&Grant>,
    domains: &[Domain],
    gathered: &Gathered,
    outcome: &str,
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
        // Refused while asking for someone else: we do not say as what.
        (None, None) => "person",
    };
    AccessRecord {
        time: Utc::now(),
        request_id: request.request_id.clone(),
        actor_issuer: principal.issuer.clone(),
        actor_subject: principal.subject.clone(),
        actor_role: role.to_owned(),
        actor_person: actor_person.map(PersonId::digits),
        actor_hsa_id: staff.map(|s| s.hsa_id.to_string()),
        on_behalf_of: actor_person
            .filter(|p| *p != ask.patient)
            .map(|_| ask.patient.digits()),
        patient: ask.patient.digits(),
        care_unit: staff.map(|s| s.care_unit.to_string()),
        care_unit_name: staff.and_then(|s| s.care_unit_name.clone()),
        care_provider: staff.map(|s| s.care_provider.to_string()),
        care_provider_name: staff.and_then(|s| s.care_provider_name.clone()),
        purpose: ask.purpose.map(|p| p.as_str().to_owned()),
        reason: ask
            .reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        emergency: grant.is_some_and(|g| g.emergency),
        domains: domains.iter().map(|d| d.as_str().to_owned()).collect(),
        sources,
        outcome: outcome.to_owned(),
    }
}
