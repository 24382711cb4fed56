//! Field errors as the GraphQL spec has them ("Handling Execution Errors"): a field that fails
//! is in the answer, `null`, with its error at its path; a failed non-null field makes its
//! nearest nullable parent `null` (the whole `data` when there is none).
//!
//! async-graphql 7 does otherwise: an object whose field fails leaves the field's key out, and
//! an object whose fields all failed becomes `null` itself. Typed clients (Apollo, Relay,
//! generated code) take a missing key for a broken answer, so a delegate's undelegated list, or
//! one list's bad argument, would break the whole overview for them. This extension wraps every
//! field's resolution (argument parsing included, so a `DateTime` that cannot be read fails only
//! its own field) and puts the spec's rule back.

use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{PathSegment, Response, ServerError, ServerResult, Value};

/// Registers [`NullsInPlaceExtension`] for every request.
pub struct NullsInPlace;

impl ExtensionFactory for NullsInPlace {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullsInPlaceExtension::default())
    }
}

/// One request's bookkeeping.
#[derive(Default)]
pub struct NullsInPlaceExtension {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Errors of nullable fields turned into `null` here: the executor never saw them, so they
    /// are added to the response when execution ends.
    errors: Vec<ServerError>,
    /// Paths of failed non-null fields whose nullable parent has not been reached yet. The
    /// executor reported their errors itself (and left their keys out).
    failed_non_null: Vec<Vec<PathSegment>>,
}

impl NullsInPlaceExtension {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn path_of(node: &async_graphql::QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|node| match node.segment {
            async_graphql::QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
            async_graphql::QueryPathSegment::Index(i) => PathSegment::Index(i),
        })
        .collect();
    path.reverse();
    path
}

#[async_graphql::async_trait::async_trait]
impl Extension for NullsInPlaceExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let mut state = self.state();
        response.errors.append(&mut state.errors);
        // A failed non-null field with no nullable field above it: the root's fields are all
        // non-null, so the whole answer is `null`.
        if !state.failed_non_null.is_empty() {
            response.data = Value::Null;
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let nullable = !info.return_type.ends_with('!');
        // Every field of every item passes here: the path is built only when a field failed,
        // or when a failure below may be this field's to absorb, never for a field that simply
        // answered.
        let node = info.path_node;
        let result = next.run(ctx, info).await;
        let mut state = self.state();
        match result {
            Ok(value) => {
                if nullable && !state.failed_non_null.is_empty() {
                    // Failed non-null fields below this one are this field's to absorb.
                    let path = path_of(node);
                    let below = |failed: &Vec<PathSegment>| failed.starts_with(&path);
                    if state.failed_non_null.iter().any(below) {
                        state.failed_non_null.retain(|f| !below(f));
                        return Ok(Some(Value::Null));
                    }
                }
                Ok(value)
            }
            Err(mut error) if nullable => {
                let path = path_of(node);
                state.failed_non_null.retain(|f| !f.starts_with(&path));
                if error.path.is_empty() {
                    error.path = path;
                }
                state.errors.push(error);
                Ok(Some(Value::Null))
            }
            Err(error) => {
                state.failed_non_null.push(path_of(node));
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Result, Schema};
    use serde_json::json;

    use super::NullsInPlace;

    struct Query;
    struct Inner;

    #[Object]
    impl Inner {
        async fn fine(&self) -> i32 {
            1
        }
        async fn broken(&self) -> Result<i32> {
            Err("broken".into())
        }
    }

    #[Object]
    impl Query {
        async fn nullable(&self) -> Result<Option<i32>> {
            Err("nullable".into())
        }
        async fn fine(&self) -> i32 {
            1
        }
        async fn inner(&self) -> Option<Inner> {
            Some(Inner)
        }
        async fn non_null(&self) -> Result<i32> {
            Err("non-null".into())
        }
        async fn with_arg(&self, at: crate::graphql::scalars::DateTime) -> Option<String> {
            Some(at.0.to_rfc3339())
        }
    }

    async fn run(query: &str) -> serde_json::Value {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(NullsInPlace)
            .finish();
        serde_json::to_value(schema.execute(query).await).unwrap()
    }

    #[tokio::test]
    async fn a_failed_nullable_field_is_null_in_the_answer_with_its_error_at_its_path() {
        let body = run("{ nullable fine }").await;
        assert_eq!(
            body["data"],
            json!({ "nullable": null, "fine": 1 }),
            "{body}"
        );
        assert_eq!(body["errors"][0]["path"], json!(["nullable"]), "{body}");
        assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    }

    #[tokio::test]
    async fn an_argument_that_cannot_be_read_fails_only_its_field() {
        // Custom scalars are read when their field runs, not when the document is validated.
        let body = run(r#"{ withArg(at: "2026-11-01") fine }"#).await;
        assert_eq!(
            body["data"],
            json!({ "withArg": null, "fine": 1 }),
            "{body}"
        );
        assert_eq!(body["errors"][0]["path"], json!(["withArg"]), "{body}");
    }

    #[tokio::test]
    async fn a_failed_non_null_field_makes_its_nearest_nullable_parent_null() {
        let body = run("{ inner { fine broken } fine }").await;
        assert_eq!(body["data"], json!({ "inner": null, "fine": 1 }), "{body}");
        assert_eq!(
            body["errors"][0]["path"],
            json!(["inner", "broken"]),
            "{body}"
        );
        assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    }

    #[tokio::test]
    async fn a_failed_non_null_root_field_makes_the_data_null() {
        let body = run("{ nonNull fine }").await;
        assert!(body["data"].is_null(), "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["nonNull"]), "{body}");
    }
}
