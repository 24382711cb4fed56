//! Fuzz target `graphql_request`: the GraphQL request path from raw bytes to the answer, through
//! the service's real router (authentication, body limits, JSON and GraphQL parsing, the query
//! limits, validation, execution). Whatever arrives, the answer is never a server error or a
//! panic, and every refusal is a JSON GraphQL error with an `extensions.code`.
//!
//! The first byte chooses the request's shape: the rest as a raw JSON body, as the `query` of a
//! JSON body, or as the `query` parameter of a GET. The service is built once, in demo mode
//! with no sources (every overview is empty and fast) and a SQLite file for the access log.
//!
//! As the other targets, this file is both the check and the libFuzzer entry point;
//! `tests/fuzz_corpus.rs` runs [`check`] over `fuzz/corpus/graphql_request/seed-*`.
#![cfg_attr(not(test), no_main)]

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use overblick::app::Application;
use overblick::auth::demo;
use overblick::config::{
    AccessFile, CacheSettings, DatabaseSettings, EngineSettings, GraphqlSettings, Mode,
    PlatformSettings, RateLimitSettings, ServerSettings, Settings, SourceHttpSettings,
    SourcePolicy,
};
use overblick::domain::PersonId;
use tower::ServiceExt;

struct Service {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    authorization: String,
    _dir: tempfile::TempDir,
}

fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let settings = Settings {
            mode: Mode::Demo,
            listen: "127.0.0.1:0".parse().expect("an address"),
            catalog: Vec::new(),
            engine: EngineSettings::default(),
            cache: CacheSettings::default(),
            source_http: SourceHttpSettings::default(),
            policy: SourcePolicy::default(),
            graphql: GraphqlSettings {
                introspection: Some(true),
                ..GraphqlSettings::default()
            },
            rate_limit: RateLimitSettings {
                enabled: false,
                ..RateLimitSettings::default()
            },
            server: ServerSettings::default(),
            issuers: Vec::new(),
            database: DatabaseSettings {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("fuzz.sqlite").display()
                ),
            },
            access: AccessFile::default(),
            platform: PlatformSettings::default(),
            graphiql: false,
        };
        let app = runtime
            .block_on(Application::build(&settings))
            .expect("the service builds");
        let patient = PersonId::parse("191212121212").expect("a valid personnummer");
        Service {
            router: app.router(),
            authorization: format!(
                "Bearer {}",
                demo::mint(&patient, None, Duration::from_secs(24 * 3600))
            ),
            runtime,
            _dir: dir,
        }
    })
}

/// Sends `data` as a request of the shape its first byte chooses and checks the answer.
/// Returns the HTTP status.
pub fn check(data: &[u8]) -> u16 {
    let service = service();
    let (shape, rest) = data.split_first().unwrap_or((&0, &[]));
    let text = String::from_utf8_lossy(rest);
    let builder = Request::builder()
        .header(header::AUTHORIZATION, &service.authorization)
        .header(header::CONTENT_TYPE, "application/json");
    let request = match shape % 3 {
        0 => builder
            .method(Method::POST)
            .uri("/graphql")
            .body(Body::from(rest.to_vec())),
        1 => builder
            .method(Method::POST)
            .uri("/graphql")
            .body(Body::from(serde_json::json!({ "query": text }).to_string())),
        _ => {
            // Every byte but letters and digits percent-encoded: always a valid URI.
            let query: String = text
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            builder
                .method(Method::GET)
                .uri(format!("/graphql?query={query}"))
                .body(Body::empty())
        }
    }
    .expect("a well-formed request");
    let (status, body) = service.runtime.block_on(async {
        let response = service
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body reads");
        (status, body)
    });
    assert!(
        !status.is_server_error(),
        "a server error {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{status} without a JSON body ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    // A batch (a JSON array of requests) is answered with an array of responses.
    let responses: Vec<&serde_json::Value> = match json.as_array() {
        Some(batch) => batch.iter().collect(),
        None => vec![&json],
    };
    for response in &responses {
        for error in response["errors"].as_array().into_iter().flatten() {
            assert!(
                error["extensions"]["code"].is_string(),
                "an error without a code: {error}"
            );
        }
    }
    if !status.is_success() {
        assert!(
            responses.iter().any(|r| r.get("errors").is_some()),
            "a refusal without errors: {json}"
        );
    }
    status.as_u16()
}

#[cfg(not(test))]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check(data);
});
