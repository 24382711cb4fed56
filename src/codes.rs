//! The stable error codes clients find in `extensions.code`: the one table of them. The
//! adapters (a source's failure), the access rules, the GraphQL layer and the HTTP edge all
//! take their codes from here, so this module depends on nothing else in the crate.
//!
//! Each code is spelled once, as its constant's name (`stringify!`), so a constant's value can
//! never drift from its name. Clients rely on these strings: rename none. The README documents
//! every one of them (a test reads it: [`ALL`] against its code tables and the edge's prose).

macro_rules! codes {
    ($( $(#[doc = $doc:expr])+ $name:ident, )+) => {
        $(
            $(#[doc = $doc])+
            pub const $name: &str = stringify!($name);
        )+

        /// Every code, in the order they are defined here.
        pub const ALL: &[&str] = &[$($name),+];
    };
}

codes! {
    // Who asks, and what they may see.

    /// No or invalid bearer token (HTTP 401, `WWW-Authenticate: Bearer`).
    UNAUTHENTICATED,
    /// The signed-in user may not see what was asked for (one text for every reason).
    FORBIDDEN,
    /// Care staff in ordinary care without the patient's consent for their care unit: only
    /// their own care provider's data is shown.
    CONSENT_REQUIRED,
    /// Emergency access without a reason (or with one that looks blank).
    REASON_REQUIRED,
    /// The store or register the access rules read is unavailable, so nothing is shown.
    ACCESS_CHECK_UNAVAILABLE,
    /// No such consent, block or delegation of yours.
    NOT_FOUND,
    /// Delegation is switched off in this deployment.
    DELEGATION_DISABLED,
    /// `patient` is not a valid personnummer or samordningsnummer.
    INVALID_PERSON_ID,
    /// Another argument is out of range (e.g. `from` after `to`).
    INVALID_ARGUMENT,
    /// `setBlock` on a care provider none of the service's sources belongs to (see
    /// `careProviders`).
    UNKNOWN_CARE_PROVIDER,
    /// The access log could not be written, so no data is returned.
    AUDIT_UNAVAILABLE,

    // Subscriptions: each ends the stream (its last event).

    /// What the viewer may see of a subscribed overview changed (a consent, block or
    /// delegation) in a way no other code names; subscribing again shows what is allowed now.
    ACCESS_CHANGED,
    /// A subscription reached its lifetime or was idle too long; subscribe again to go on.
    SUBSCRIPTION_ENDED,
    /// A subscriber did not read its events and was dropped rather than buffered for.
    SLOW_CONSUMER,
    /// The subject (or the replica) has as many subscriptions open as allowed.
    TOO_MANY_SUBSCRIPTIONS,

    // One source's call (the engine and the adapters): the rest of the overview is answered.

    /// A source did not answer in time (its data is missing or stale).
    SOURCE_TIMEOUT,
    /// A source failed: an error status, a connection failure, an answer that could not be
    /// read or was too large, a fault it reported (its data is missing or stale).
    SOURCE_ERROR,
    /// A source answered, but some of the records it sent could not be read (a required
    /// element missing, say) and are not shown: the list is incomplete (a warning; the
    /// source's `leftOut` says how many).
    SOURCE_INCOMPLETE,
    /// A source has failed repeatedly and was not asked (its circuit breaker is open); its
    /// data is missing or stale.
    SOURCE_UNAVAILABLE,
    /// A source had as many calls in progress as it may and this one was shed; its data is
    /// missing or stale.
    SOURCE_OVERLOADED,
    /// The engagement index failed or did not answer in time; every platform source of the
    /// domain was asked instead (a warning: the list is complete as far as the sources are).
    ENGAGEMENT_INDEX_UNAVAILABLE,

    // Refusals at the edge: the request is not executed and no source is called. HTTP 400
    // unless said otherwise.

    /// Fields nested deeper than `[graphql] max_depth` (or fragments nested too deep).
    QUERY_TOO_DEEP,
    /// More fields than `[graphql] max_complexity`, fragments counted where they are spread.
    QUERY_TOO_COMPLEX,
    /// More aliased fields than `[graphql] max_aliases`.
    TOO_MANY_ALIASES,
    /// More root fields in the operation than `[graphql] max_root_fields`.
    TOO_MANY_ROOT_FIELDS,
    /// The query text is longer than `[graphql] max_query_bytes`.
    QUERY_TOO_LARGE,
    /// A JSON array of more operations than `[graphql] max_batch` (1: batching is off).
    BATCH_TOO_LARGE,
    /// `__schema` or `__type` where introspection is off (production's default).
    INTROSPECTION_DISABLED,
    /// The request body is larger than `[graphql] max_body_bytes`, declared or as sent
    /// (HTTP 413).
    PAYLOAD_TOO_LARGE,
    /// A GET request's URL is longer than `[graphql] max_body_bytes` (HTTP 414).
    URI_TOO_LONG,
    /// A mutation sent with GET, or a method `/graphql` does not take (HTTP 405, `Allow`).
    METHOD_NOT_ALLOWED,
    /// A POST whose body is not `application/json` (HTTP 415).
    UNSUPPORTED_MEDIA_TYPE,
    /// The body is not JSON, or not a GraphQL request (`query`, `variables`, `operationName`).
    BAD_REQUEST,
    /// The query is not valid GraphQL syntax.
    GRAPHQL_PARSE_FAILED,
    /// The query does not fit the schema (unknown field or argument, wrong type, fragment
    /// cycle, unknown or missing operation name, ...).
    GRAPHQL_VALIDATION_FAILED,
    /// Too many requests from this signed-in user; `Retry-After` says when to try again
    /// (HTTP 429).
    RATE_LIMITED,
    /// A path the service does not serve (HTTP 404).
    NO_SUCH_PATH,
    /// A fault in the service itself (HTTP 500 when nothing could be answered).
    INTERNAL_ERROR,

    // Notifications from sources (`/notify/...`): answered to the source, not to a user.

    /// A notification for a source that does not take notifications here: no such source, not
    /// a FHIR source, or no secret set up for it (HTTP 404).
    UNKNOWN_SOURCE,
    /// A notification body that cannot be read (not JSON, not a FHIR resource or Bundle, not a
    /// ProcessNotification, an invalid personnummer, ...) (HTTP 400; SOAP `Client` fault).
    INVALID_NOTIFICATION,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const README: &str = include_str!("../README.md");

    /// A backticked `SHOUTY_SNAKE` word: what the README writes a code as.
    fn shouty_words(text: &str) -> impl Iterator<Item = &str> {
        text.split('`').skip(1).step_by(2).filter(|word| {
            word.len() > 1
                && word.starts_with(|c: char| c.is_ascii_uppercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
    }

    fn cells(row: &str) -> Vec<&str> {
        let row = row.trim().trim_start_matches('|').trim_end_matches('|');
        row.split('|').map(str::trim).collect()
    }

    /// The codes in the README's code columns: of every table with a column headed `code`
    /// ("code", "`code` (also in ...)", "Code"): the GraphQL API's `extensions.code` table,
    /// the per-source table and the edge's limits.
    fn codes_in_tables(readme: &str) -> BTreeSet<&str> {
        let mut codes = BTreeSet::new();
        let lines: Vec<&str> = readme.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].trim_start().starts_with('|') {
                i += 1;
                continue;
            }
            let header = cells(lines[i]);
            let column = header.iter().position(|h| {
                h.trim_start_matches('`')
                    .to_ascii_lowercase()
                    .starts_with("code")
            });
            i += 1;
            while i < lines.len() && lines[i].trim_start().starts_with('|') {
                if let Some(column) = column
                    && let Some(cell) = cells(lines[i]).get(column)
                {
                    codes.extend(shouty_words(cell));
                }
                i += 1;
            }
        }
        codes
    }

    /// The codes the edge's section names in its prose (outside its tables).
    fn codes_in_edge_prose(readme: &str) -> BTreeSet<&str> {
        let start = readme
            .find("### The HTTP and GraphQL edge")
            .expect("README has the edge's section");
        let section = &readme[start..];
        let end = section[3..].find("\n#").map_or(section.len(), |e| e + 3);
        section[..end]
            .lines()
            .filter(|line| !line.trim_start().starts_with('|'))
            .flat_map(shouty_words)
            .collect()
    }

    fn undocumented(readme: &str) -> Vec<&'static str> {
        let documented: BTreeSet<&str> = codes_in_tables(readme)
            .into_iter()
            .chain(codes_in_edge_prose(readme))
            .collect();
        ALL.iter()
            .copied()
            .filter(|code| !documented.contains(code))
            .collect()
    }

    #[test]
    fn the_readme_documents_every_code_the_service_defines() {
        assert_eq!(
            undocumented(README),
            Vec::<&str>::new(),
            "add these codes to a code table in README.md (\"The GraphQL API\", \"What happens \
             to each source call\" or the edge's limits), or to the edge's prose"
        );
    }

    #[test]
    fn every_code_in_the_readmes_code_tables_is_one_the_service_defines() {
        let unknown: Vec<&str> = codes_in_tables(README)
            .into_iter()
            .filter(|code| !ALL.contains(code))
            .collect();
        assert_eq!(
            unknown,
            Vec::<&str>::new(),
            "README.md names codes that do not exist"
        );
    }

    #[test]
    fn a_code_left_out_of_the_readme_is_noticed() {
        // The check itself: the same README with one code's mentions taken out fails it.
        let without = README.replace("`AUDIT_UNAVAILABLE`", "`AUDIT`");
        assert_eq!(undocumented(&without), ["AUDIT_UNAVAILABLE"]);
        let without = README.replace("`URI_TOO_LONG`", "URI too long");
        assert_eq!(undocumented(&without), ["URI_TOO_LONG"]);
    }

    #[test]
    fn every_code_is_defined_once_and_spelled_as_its_name() {
        let unique: BTreeSet<&str> = ALL.iter().copied().collect();
        assert_eq!(unique.len(), ALL.len(), "a code is listed twice");
        for code in ALL {
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{code} is not SHOUTY_SNAKE_CASE"
            );
        }
        // A few the clients and the tests rely on, spelled out once more on purpose.
        assert_eq!(SOURCE_ERROR, "SOURCE_ERROR");
        assert_eq!(UNAUTHENTICATED, "UNAUTHENTICATED");
        assert_eq!(AUDIT_UNAVAILABLE, "AUDIT_UNAVAILABLE");
    }
}
