//! The edge's limits on a GraphQL document, an async-graphql [`Extension`]: the query's size,
//! depth, complexity (fields selected), aliases and root fields, introspection when it is off,
//! and mutations sent with GET. All are checked right after parsing, before validation and long
//! before any resolver (so before any source is called); each refusal has a stable
//! `extensions.code` (see [`codes`](crate::codes)). The extension also gives every parse and
//! validation error a code, and tells the HTTP edge what it learned: whether the operation was
//! executed and its metric label (its root fields, as validated against the schema).
//!
//! The document is walked once per operation with every fragment's cost memoised, so a
//! "fragment bomb" (each fragment spreading the previous one twice) costs time linear in its
//! text while its count grows exponentially; fragment cycles are refused. The document is parsed
//! here rather than by the next step of the chain: async-graphql's own recursion check after
//! parsing follows every fragment spread without memoising, which is exponential on such a bomb.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{
    Name, Positioned, Response, ServerError, ServerResult, ValidationResult, Variables,
};

use crate::codes;
use crate::config::GraphqlSettings;

/// The operation label of a request refused before validation passed, or not understood.
pub const INVALID_OPERATION: &str = "invalid";

/// Root fields named in an operation label; more make it `multiple`.
const MAX_LABELLED_FIELDS: usize = 3;

/// Nesting of fragment spreads and inline fragments (on top of field depth) the walk follows.
/// The parser already stops selection sets nested deeper than 64; this bounds chains of
/// fragments spreading fragments, which the parser cannot see.
const MAX_FRAGMENT_NESTING: usize = 64;

/// The limits the extension enforces (from [`GraphqlSettings`]).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_query_bytes: usize,
    /// `__schema` and `__type` allowed.
    pub introspection: bool,
}

impl From<&GraphqlSettings> for Limits {
    fn from(s: &GraphqlSettings) -> Self {
        Limits {
            max_depth: s.max_depth,
            max_complexity: s.max_complexity,
            max_aliases: s.max_aliases,
            max_root_fields: s.max_root_fields,
            max_query_bytes: s.max_query_bytes,
            introspection: s.introspection(),
        }
    }
}

/// What the HTTP edge tells the extension about one operation request, and learns back. Put
/// into the request's data as `Arc<RequestReport>`.
#[derive(Debug, Default)]
pub struct RequestReport {
    /// Sent with GET: a mutation is refused (`METHOD_NOT_ALLOWED`).
    via_get: bool,
    /// The request's `operationName`, to find the operation the limits apply to first.
    operation_name: Option<String>,
    learned: Mutex<Learned>,
}

#[derive(Debug, Default)]
struct Learned {
    executed: bool,
    operation: Option<String>,
}

impl RequestReport {
    pub fn new(via_get: bool, operation_name: Option<String>) -> Arc<Self> {
        Arc::new(RequestReport {
            via_get,
            operation_name,
            learned: Mutex::default(),
        })
    }

    /// Whether the operation passed every check and was executed.
    pub fn executed(&self) -> bool {
        self.learned().executed
    }

    /// The operation's metric label: its root field names from the schema (`overview`,
    /// `consents+viewer`, `multiple`), or `invalid` when it did not pass validation. Never text
    /// the client chose.
    pub fn operation(&self) -> String {
        self.learned()
            .operation
            .clone()
            .unwrap_or_else(|| INVALID_OPERATION.to_owned())
    }

    fn learned(&self) -> std::sync::MutexGuard<'_, Learned> {
        // A panic while holding this lock cannot leave it inconsistent (two plain fields).
        self.learned.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The extension factory to add to the schema.
pub struct EdgeLimits {
    limits: Arc<Limits>,
}

impl EdgeLimits {
    pub fn new(limits: Limits) -> Self {
        EdgeLimits {
            limits: Arc::new(limits),
        }
    }
}

impl ExtensionFactory for EdgeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(EdgeLimitsExtension {
            limits: self.limits.clone(),
            state: Mutex::default(),
        })
    }
}

/// One request's extension instance.
struct EdgeLimitsExtension {
    limits: Arc<Limits>,
    state: Mutex<ExtensionState>,
}

#[derive(Default)]
struct ExtensionState {
    report: Option<Arc<RequestReport>>,
    /// The label of the selected operation, used once validation has passed.
    label: Option<String>,
    executed: bool,
}

impl EdgeLimitsExtension {
    fn state(&self) -> std::sync::MutexGuard<'_, ExtensionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for EdgeLimitsExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let executed = self.state().executed;
        for error in &mut response.errors {
            if code_of(error).is_none() {
                let code = if !executed {
                    // e.g. "Unknown operation named …", "Operation name required in request."
                    codes::GRAPHQL_VALIDATION_FAILED
                } else if error.message.starts_with("Failed to parse ")
                    || error.message.starts_with("Invalid value for argument")
                {
                    // A variable's value that does not fit its argument's type.
                    codes::INVALID_ARGUMENT
                } else {
                    codes::INTERNAL_ERROR
                };
                set_code(error, code);
            }
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        _variables: &Variables,
        _next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let report = ctx.data_opt::<Arc<RequestReport>>().cloned();
        let (via_get, operation_name) = report
            .as_deref()
            .map_or((false, None), |r| (r.via_get, r.operation_name.clone()));
        self.state().report = report;
        let limits = &self.limits;
        // Not `next.run`: see the module documentation.
        let document = parse(query, limits)?;
        check(&document, limits)?;
        let selected = selected_operation(&document, operation_name.as_deref());
        if let Some(operation) = selected {
            if via_get && operation.node.ty == OperationType::Mutation {
                return Err(coded(
                    codes::METHOD_NOT_ALLOWED,
                    "mutations are sent with POST; GET runs queries only",
                ));
            }
            self.state().label = Some(label(&document, &operation.node));
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        match next.run(ctx).await {
            Ok(result) => {
                let mut state = self.state();
                let label = state.label.take();
                if let (Some(report), Some(label)) = (&state.report, label) {
                    report.learned().operation = Some(label);
                }
                Ok(result)
            }
            Err(mut errors) => {
                for error in &mut errors {
                    if code_of(error).is_none() {
                        set_code(error, codes::GRAPHQL_VALIDATION_FAILED);
                    }
                }
                Err(errors)
            }
        }
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        {
            let mut state = self.state();
            state.executed = true;
            if let Some(report) = &state.report {
                report.learned().executed = true;
            }
        }
        next.run(ctx, operation_name).await
    }
}

/// The query's size and bracket nesting checked, then parsed.
fn parse(query: &str, limits: &Limits) -> ServerResult<ExecutableDocument> {
    if query.len() > limits.max_query_bytes {
        return Err(coded(
            codes::QUERY_TOO_LARGE,
            format!(
                "the query is {} bytes long; at most {} are accepted here",
                query.len(),
                limits.max_query_bytes
            ),
        ));
    }
    if nests_deeper_than(query, MAX_BRACKET_NESTING) {
        return Err(coded(
            codes::QUERY_TOO_DEEP,
            format!("the query nests brackets more than {MAX_BRACKET_NESTING} deep"),
        ));
    }
    async_graphql::parser::parse_query(query).map_err(parse_error)
}

/// Brackets (`{`, `[`, `(`) nested deeper than this anywhere in a query are refused before it
/// is parsed. The parser is recursive and does not limit the nesting of list and object values:
/// about 1,500 nested `[` (3 KB of text) overflow a 2 MiB stack and abort the process. Selection
/// sets stop at 64 in the parser anyway; values nested this deep are never meant.
const MAX_BRACKET_NESTING: usize = 128;

/// Whether brackets nest deeper than `max` in `query`, outside strings and comments (a cheap
/// scan of the bytes, as GraphQL's lexer reads them).
fn nests_deeper_than(query: &str, max: usize) -> bool {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                // A block string ends at the next `"""` not escaped as `\"""`.
                i += 3;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 2;
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                // A string ends at the next unescaped `"`, or (invalid) at the line's end.
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// An error with `code`, not tied to a place in the query.
fn coded(code: &'static str, message: impl Into<String>) -> ServerError {
    let mut error = ServerError::new(message, None);
    set_code(&mut error, code);
    error
}

fn set_code(error: &mut ServerError, code: &'static str) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

fn code_of(error: &ServerError) -> Option<&async_graphql::Value> {
    error.extensions.as_ref().and_then(|e| e.get("code"))
}

/// A parse error with a code, and a message that does not repeat the query's text (the
/// parser's own quotes the offending line, which may hold a personnummer).
fn parse_error(error: async_graphql::parser::Error) -> ServerError {
    use async_graphql::parser::Error;
    let (code, message) = match &error {
        Error::Syntax { message, .. } => {
            // pest renders "--> line:col", the line itself, and "= expected …".
            let expected = message
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("= "))
                .unwrap_or("unexpected input");
            (
                codes::GRAPHQL_PARSE_FAILED,
                format!("the query is not valid GraphQL: {expected}"),
            )
        }
        Error::RecursionLimitExceeded => (
            codes::QUERY_TOO_DEEP,
            "the query nests selections deeper than the parser follows".to_owned(),
        ),
        other => (
            codes::GRAPHQL_PARSE_FAILED,
            format!("the query is not valid GraphQL: {other}"),
        ),
    };
    let mut server_error = ServerError::new(message, None);
    server_error.locations = error.positions().collect();
    set_code(&mut server_error, code);
    server_error
}

/// What a selection set costs, fragments counted where they are spread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cost {
    /// The deepest nesting of fields (`{ a { b } }` is 2).
    depth: usize,
    /// Fields selected.
    fields: usize,
    /// Fields with an alias.
    aliases: usize,
    /// Fields at this selection set's own level, through fragments.
    top_fields: usize,
    /// Selects `__schema` or `__type`.
    introspection: bool,
}

impl Cost {
    /// Adds what a fragment (spread or inline) at this level costs.
    fn add_fragment(&mut self, other: Cost) {
        self.depth = self.depth.max(other.depth);
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.top_fields = self.top_fields.saturating_add(other.top_fields);
        self.introspection |= other.introspection;
    }
}

enum Memo {
    InProgress,
    Done(Cost),
}

struct Walk<'d> {
    fragments: &'d HashMap<Name, Positioned<FragmentDefinition>>,
    memo: HashMap<&'d str, Memo>,
}

impl<'d> Walk<'d> {
    fn selection_set(&mut self, set: &'d SelectionSet, nesting: usize) -> ServerResult<Cost> {
        if nesting > MAX_FRAGMENT_NESTING {
            return Err(coded(
                codes::QUERY_TOO_DEEP,
                format!(
                    "the query nests fragments more than {MAX_FRAGMENT_NESTING} deep; flatten them"
                ),
            ));
        }
        let mut cost = Cost::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = if field.selection_set.node.items.is_empty() {
                        Cost::default()
                    } else {
                        self.selection_set(&field.selection_set.node, nesting + 1)?
                    };
                    // Introspection is answered from the schema, never from sources, and its
                    // nesting is the type system's (graphql-js's introspection query, which
                    // GraphiQL sends on start, nests 15 deep through `ofType`): it counts one
                    // level. Its fields still count, brackets are still capped, and where
                    // introspection is off it is refused below.
                    let schema_only = matches!(field.name.node.as_str(), "__schema" | "__type");
                    let inner_depth = if schema_only { 0 } else { inner.depth };
                    cost.depth = cost.depth.max(inner_depth.saturating_add(1));
                    cost.fields = cost.fields.saturating_add(inner.fields.saturating_add(1));
                    cost.aliases = cost
                        .aliases
                        .saturating_add(inner.aliases)
                        .saturating_add(usize::from(field.alias.is_some()));
                    cost.top_fields = cost.top_fields.saturating_add(1);
                    cost.introspection |= inner.introspection
                        || matches!(field.name.node.as_str(), "__schema" | "__type");
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.selection_set(&inline.node.selection_set.node, nesting + 1)?;
                    cost.add_fragment(inner);
                }
                Selection::FragmentSpread(spread) => {
                    let inner = self.fragment(&spread.node.fragment_name.node, nesting + 1)?;
                    cost.add_fragment(inner);
                }
            }
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &'d Name, nesting: usize) -> ServerResult<Cost> {
        match self.memo.get(name.as_str()) {
            Some(Memo::Done(cost)) => return Ok(*cost),
            Some(Memo::InProgress) => {
                return Err(coded(
                    codes::GRAPHQL_VALIDATION_FAILED,
                    format!("fragment `{name}` spreads itself, directly or through others"),
                ));
            }
            None => {}
        }
        // An unknown fragment costs nothing here; validation reports it.
        let Some(fragment) = self.fragments.get(name) else {
            return Ok(Cost::default());
        };
        self.memo.insert(name.as_str(), Memo::InProgress);
        let cost = self.selection_set(&fragment.node.selection_set.node, nesting)?;
        self.memo.insert(name.as_str(), Memo::Done(cost));
        Ok(cost)
    }
}

/// Checks every operation of the document (validation looks at all of them, not only the one
/// that would run) against `limits`.
fn check(document: &ExecutableDocument, limits: &Limits) -> ServerResult<()> {
    let mut walk = Walk {
        fragments: &document.fragments,
        memo: HashMap::new(),
    };
    for (_, operation) in document.operations.iter() {
        let cost = walk.selection_set(&operation.node.selection_set.node, 0)?;
        if cost.depth > limits.max_depth {
            return Err(coded(
                codes::QUERY_TOO_DEEP,
                format!(
                    "the query nests fields {} deep; at most {} here",
                    cost.depth, limits.max_depth
                ),
            ));
        }
        if cost.top_fields > limits.max_root_fields {
            return Err(coded(
                codes::TOO_MANY_ROOT_FIELDS,
                format!(
                    "the operation has {} root fields; at most {} here (send several requests)",
                    cost.top_fields, limits.max_root_fields
                ),
            ));
        }
        if cost.aliases > limits.max_aliases {
            return Err(coded(
                codes::TOO_MANY_ALIASES,
                format!(
                    "the query has {} aliased fields; at most {} here",
                    cost.aliases, limits.max_aliases
                ),
            ));
        }
        if cost.fields > limits.max_complexity {
            return Err(coded(
                codes::QUERY_TOO_COMPLEX,
                format!(
                    "the query selects {} fields (fragments counted where they are spread); at most {} here",
                    cost.fields, limits.max_complexity
                ),
            ));
        }
        if cost.introspection && !limits.introspection {
            return Err(coded(
                codes::INTROSPECTION_DISABLED,
                "introspection is switched off here; the schema is published as schema/schema.graphql",
            ));
        }
    }
    Ok(())
}

/// The operation async-graphql will run, when the request names one that exists or the
/// document has only one.
fn selected_operation<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Some(operation),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The operation's root field names (not aliases), through fragments: sorted and joined with
/// `+`, or `multiple` beyond a few. Used only once validation has confirmed every name is in
/// the schema, so the label's values are bounded by the schema.
fn label(document: &ExecutableDocument, operation: &OperationDefinition) -> String {
    fn collect<'d>(
        document: &'d ExecutableDocument,
        set: &'d SelectionSet,
        names: &mut BTreeSet<&'d str>,
        seen: &mut HashSet<&'d str>,
    ) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    names.insert(field.node.name.node.as_str());
                }
                Selection::InlineFragment(inline) => {
                    collect(document, &inline.node.selection_set.node, names, seen);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if seen.insert(name)
                        && let Some(fragment) = document.fragments.get(name)
                    {
                        collect(document, &fragment.node.selection_set.node, names, seen);
                    }
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    collect(
        document,
        &operation.selection_set.node,
        &mut names,
        &mut HashSet::new(),
    );
    if names.len() > MAX_LABELLED_FIELDS {
        "multiple".to_owned()
    } else {
        names.into_iter().collect::<Vec<_>>().join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_depth: 5,
            max_complexity: 50,
            max_aliases: 3,
            max_root_fields: 2,
            max_query_bytes: 16 * 1024,
            introspection: false,
        }
    }

    fn code(query: &str) -> Option<String> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        check(&document, &limits()).err().map(|e| {
            code_of(&e)
                .and_then(|v| match v {
                    async_graphql::Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default()
        })
    }

    fn cost(query: &str) -> Cost {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let mut walk = Walk {
            fragments: &document.fragments,
            memo: HashMap::new(),
        };
        let operation = document.operations.iter().next().unwrap().1;
        walk.selection_set(&operation.node.selection_set.node, 0)
            .unwrap()
    }

    #[test]
    fn introspection_nests_as_deep_as_the_type_system_without_counting_against_the_depth() {
        let of_type = "ofType { ".repeat(8) + "name" + &" }".repeat(8);
        let deep = format!("{{ __schema {{ types {{ fields {{ type {{ {of_type} }} }} }} }} }}");
        assert_eq!(cost(&deep).depth, 1);
        assert!(cost(&deep).introspection);
        let ordinary = "{ a { b { c { d { e { f { g } } } } } } }";
        assert_eq!(code(ordinary).as_deref(), Some("QUERY_TOO_DEEP"));
    }

    #[test]
    fn fragments_count_where_they_are_spread() {
        let c =
            cost("{ a { ...F ...F } b: c { ... on T { d e: f } } } fragment F on T { x { y } z }");
        assert_eq!(c.fields, 1 + 2 * 3 + 3);
        assert_eq!(c.depth, 3);
        assert_eq!(c.aliases, 2);
        assert_eq!(c.top_fields, 2);
    }

    #[test]
    fn a_fragment_bomb_is_counted_quickly_and_refused_as_too_complex() {
        // F0 has 2 fields; each next fragment spreads the previous one twice: 2^41 fields.
        let mut query = String::from("{ a { ...F40 } } fragment F0 on T { a b }");
        for i in 1..=40 {
            query.push_str(&format!(
                " fragment F{i} on T {{ ...F{p} ...F{p} }}",
                p = i - 1
            ));
        }
        let started = std::time::Instant::now();
        assert_eq!(code(&query).as_deref(), Some(codes::QUERY_TOO_COMPLEX));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let c = cost(&query);
        assert_eq!(c.fields, 1 + (1 << 41));
    }

    #[test]
    fn a_fragment_cycle_is_refused_without_looping() {
        let query = "{ ...A } fragment A on Query { a ...B } fragment B on Query { b ...A }";
        assert_eq!(
            code(query).as_deref(),
            Some(codes::GRAPHQL_VALIDATION_FAILED)
        );
        let query = "{ ...A } fragment A on Query { ...A }";
        assert_eq!(
            code(query).as_deref(),
            Some(codes::GRAPHQL_VALIDATION_FAILED)
        );
    }

    #[test]
    fn a_long_chain_of_fragments_is_refused_as_too_deep() {
        let mut query = String::from("{ ...F0 }");
        for i in 0..200 {
            query.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
        }
        query.push_str(" fragment F200 on Query { a }");
        assert_eq!(code(&query).as_deref(), Some(codes::QUERY_TOO_DEEP));
    }

    #[test]
    fn introspection_is_found_through_fragments() {
        let query = "{ ...F } fragment F on Query { __schema { types { name } } }";
        assert_eq!(code(query).as_deref(), Some(codes::INTROSPECTION_DISABLED));
        assert_eq!(code("{ __typename }"), None);
    }

    #[test]
    fn the_label_is_the_sorted_root_field_names_through_fragments() {
        let document = async_graphql::parser::parse_query(
            "query Q { b: viewer { name } ...F overview { patient { name } } } fragment F on Query { consents { id } viewer { name } }",
        )
        .unwrap();
        let operation = selected_operation(&document, Some("Q")).unwrap();
        assert_eq!(
            label(&document, &operation.node),
            "consents+overview+viewer"
        );
        let document = async_graphql::parser::parse_query("{ a b c d }").unwrap();
        let operation = selected_operation(&document, None).unwrap();
        assert_eq!(label(&document, &operation.node), "multiple");
    }

    #[test]
    fn a_syntax_error_does_not_repeat_the_query() {
        let error =
            async_graphql::parser::parse_query(r#"{ overview(patient: "19121212-1212") { "#)
                .unwrap_err();
        let error = parse_error(error);
        assert!(!error.message.contains("1212"), "{}", error.message);
        assert!(error.message.starts_with("the query is not valid GraphQL"));
        assert!(!error.locations.is_empty());
    }

    /// The parser is recursive; nesting as deep as the largest accepted query allows must be
    /// refused, not overflow the stack (tokio's worker threads have 2 MiB, as test threads do).
    #[test]
    fn deeply_nested_input_within_the_size_limit_is_refused_not_a_stack_overflow() {
        let limits = limits();
        for query in [
            format!("{}{}", "{a".repeat(5400), "}".repeat(5400)),
            format!("{{ a(x: {}1{}) }}", "[".repeat(8000), "]".repeat(8000)),
            format!("{{ a(x: {}1{}) }}", "{b:".repeat(4000), "}".repeat(4000)),
            format!("{}{}", "{... on Q ".repeat(1400), "}".repeat(1400)),
        ] {
            assert!(query.len() <= limits.max_query_bytes);
            let error = parse(&query, &limits).unwrap_err();
            assert_eq!(
                code_of(&error),
                Some(&async_graphql::Value::from(codes::QUERY_TOO_DEEP)),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count_as_nesting() {
        let deep = "[".repeat(200);
        for query in [
            format!("{{ a(x: \"{deep}\") }}"),
            format!("{{ a(x: \"\\\"{deep}\") }}"),
            format!("{{ a(x: \"\"\"{deep}\\\"\"\"{deep}\"\"\") }}"),
            format!("# {deep}\n{{ a }}"),
        ] {
            assert!(!nests_deeper_than(&query, 128), "{query}");
        }
        assert!(nests_deeper_than(&format!("{{ a(x: \"\") {deep} }}"), 128));
        assert!(nests_deeper_than(&format!("# x\n{{ a(x: {deep}) }}"), 128));
    }
}
