//! The GraphQL schema: `Query.overview` and the types it returns. It decides who may see which
//! patient, asks the engine only for the domains the query selects, writes the access record, and
//! resolves merged, filtered lists. No HTTP, no source protocols, no caching here.

pub mod overview;
pub mod scalars;
pub mod types;

use std::sync::Arc;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions, Object, Result, Schema,
};
use chrono::Utc;

use crate::audit::{AccessRecord, AuditLog};
use crate::auth::Principal;
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
    /// A source did not answer in time (its data is missing or stale).
    pub const SOURCE_TIMEOUT: &str = "SOURCE_TIMEOUT";
    /// A source failed (its data is missing or stale).
    pub const SOURCE_ERROR: &str = "SOURCE_ERROR";
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

pub type OverblickSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Builds the schema over the engine and the access log.
pub fn schema(engine: Arc<Engine>, audit: Arc<dyn AuditLog>) -> OverblickSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(engine)
        .data(audit)
        .finish()
}

/// The schema's SDL, as committed in `schema/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .finish()
        .sdl()
}

pub struct Query;

#[Object]
impl Query {
    /// The care overview of `patient`, gathered from every source that holds a part of it;
    /// of the signed-in person when `patient` is left out. Only the lists the query selects are
    /// fetched. A source that fails or times out never fails the overview: its status is in
    /// `sources` and an error with `extensions.code` `SOURCE_TIMEOUT` or `SOURCE_ERROR` names it.
    async fn overview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose overview; the signed-in person's when left out.")] patient: Option<
            PersonIdScalar,
        >,
    ) -> Result<Overview> {
        let request = ctx
            .data::<RequestContext>()
            .map_err(|_| coded_error(codes::UNAUTHENTICATED, "sign in first"))?;
        let me = request.principal.person();
        let patient: PersonId = match patient {
            None => me.clone(),
            Some(PersonIdScalar(Ok(id))) => id,
            Some(PersonIdScalar(Err(e))) => {
                return Err(coded_error(
                    codes::INVALID_PERSON_ID,
                    format!("`patient` is not a valid personnummer or samordningsnummer: {e}"),
                ));
            }
        };
        let domains = selected_domains(ctx);
        let audit = ctx.data_unchecked::<Arc<dyn AuditLog>>();

        if &patient != me {
            // Patients see only themselves; the denial does not reveal whether data exists.
            let record = access_record(
                request,
                &patient,
                &domains,
                &Gathered::default(),
                codes::FORBIDDEN,
            );
            if let Err(e) = audit.record(&record).await {
                tracing::error!(request_id = %request.request_id, error = %e, "access log unavailable");
            }
            return Err(coded_error(
                codes::FORBIDDEN,
                "you may only see your own overview",
            ));
        }

        let engine = ctx.data_unchecked::<Arc<Engine>>();
        let gathered = engine.gather(&patient, &domains).await;

        // Written before any data leaves: no record, no data.
        let record = access_record(request, &patient, &domains, &gathered, "granted");
        if let Err(e) = audit.record(&record).await {
            tracing::error!(request_id = %request.request_id, error = %e, "access log unavailable");
            return Err(coded_error(
                codes::AUDIT_UNAVAILABLE,
                "the access log cannot be written just now, so no data can be shown; try again shortly",
            ));
        }
        Ok(Overview::new(patient, gathered, engine.clone()))
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
    patient: &PersonId,
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
    AccessRecord {
        time: Utc::now(),
        request_id: request.request_id.clone(),
        actor_issuer: request.principal.issuer.clone(),
        actor_subject: request.principal.subject.clone(),
        // Only patients reading their own data exist so far.
        actor_role: request.principal.role().to_owned(),
        actor_person: Some(request.principal.person().digits()),
        actor_hsa_id: None,
        on_behalf_of: None,
        patient: patient.digits(),
        care_unit: None,
        care_unit_name: None,
        care_provider: None,
        care_provider_name: None,
        purpose: None,
        reason: None,
        emergency: false,
        domains: domains.iter().map(|d| d.as_str().to_owned()).collect(),
        sources,
        outcome: outcome.to_owned(),
    }
}
