//! The demo's overview page on `GET /`: plain HTML, CSS and JavaScript (`page/`), embedded in
//! the binary and served under `/page/<file>` with a strict policy of its own
//! ([`super::headers::PAGE_POLICY`]: its own files only, no inline code); and
//! `GET /demo/identities`, fresh short-lived demo tokens for the demo's people, for the page's
//! sign-in chooser. Both are routed in demo mode only: a production service answers them 404.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::headers::PAGE_POLICY;
use super::{HttpState, get_only, not_found};
use crate::auth::demo::{
    self, DEMO_CHILD, DEMO_DELEGATE, DEMO_GUARDIAN, DEMO_PATIENT, DEMO_STAFF,
    DEMO_STAFF_WITH_CONSENT, DemoPerson, DemoStaff,
};

/// Where the page's files are served; `index.html` names them under it.
pub(super) const ASSETS_ROUTE: &str = "/page/{file}";

const INDEX: &str = include_str!("page/index.html");

/// The page's files: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "page.css",
        "text/css; charset=utf-8",
        include_str!("page/page.css"),
    ),
    (
        "page.js",
        "text/javascript; charset=utf-8",
        include_str!("page/page.js"),
    ),
];

/// How long a token handed to the page is valid: as long as a live subscription may last (an
/// hour, by default), and no longer, since the demo hands them to anyone who asks.
const TOKEN_VALID_FOR: Duration = Duration::from_secs(3600);

/// The page's routes, added to `routes` in demo mode only.
pub(super) fn routes(routes: Router<HttpState>) -> Router<HttpState> {
    routes
        .route("/", get_only(index))
        .route(ASSETS_ROUTE, get_only(asset))
        .route("/demo/identities", get_only(identities))
}

/// `GET /`: the page.
async fn index() -> Response {
    with_policy(Html(INDEX).into_response())
}

/// `GET /page/<file>`: one of [`ASSETS`].
async fn asset(Path(file): Path<String>) -> Response {
    let Some((_, content_type, text)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return not_found();
    };
    with_policy(([(header::CONTENT_TYPE, *content_type)], *text).into_response())
}

fn with_policy(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    response
}

/// One of the demo's people as the page's chooser offers them.
#[derive(Serialize)]
struct Identity {
    /// Stable, for the page's `?som=` and for tests.
    id: &'static str,
    /// Who, and in which role, in Swedish.
    label: String,
    token: String,
    /// Whose overview they open, `YYYYMMDDNNNN`.
    patient: &'static str,
    /// `CARE` for staff (the API asks staff why they open an overview); absent for persons.
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<&'static str>,
}

/// `GET /demo/identities`: each of the demo's people with a fresh token. The
/// tokens are the demo issuer's, which only a demo service accepts.
async fn identities() -> Response {
    let person = |id, person: DemoPerson, role: &str, patient: DemoPerson| Identity {
        id,
        label: format!("{}, {role}", person.name),
        token: demo::mint(&person.id(), Some(person.name), TOKEN_VALID_FOR),
        patient: patient.personnummer,
        purpose: None,
    };
    let staff = |id, staff: DemoStaff, role: &str| Identity {
        id,
        label: format!(
            "{}, {} på {}, {role}",
            staff.name, staff.profession, staff.care_unit_name
        ),
        token: demo::mint_staff(&staff.identity(), TOKEN_VALID_FOR),
        patient: DEMO_PATIENT.personnummer,
        purpose: Some("CARE"),
    };
    let all = vec![
        person("patient", DEMO_PATIENT, "patient", DEMO_PATIENT),
        person(
            "guardian",
            DEMO_GUARDIAN,
            &format!("vårdnadshavare till {}", DEMO_CHILD.name),
            DEMO_CHILD,
        ),
        person(
            "delegate",
            DEMO_DELEGATE,
            &format!("ombud för {}", DEMO_PATIENT.name),
            DEMO_PATIENT,
        ),
        staff(
            "staff-consent",
            DEMO_STAFF_WITH_CONSENT,
            "med patientens samtycke",
        ),
        staff("staff", DEMO_STAFF, "utan patientens samtycke"),
    ];
    axum::Json(all).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_exactly_its_own_files_and_runs_no_inline_code() {
        let named: Vec<&str> = INDEX
            .split("=\"/page/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        let mut served: Vec<&str> = ASSETS.iter().map(|(name, _, _)| *name).collect();
        let mut sorted = named.clone();
        sorted.sort_unstable();
        served.sort_unstable();
        assert_eq!(sorted, served);
        assert!(!INDEX.contains("https://") && !INDEX.contains("http://"));
        assert!(!INDEX.contains("<style"), "no inline style");
        assert!(
            INDEX.matches("<script").count() == INDEX.matches("<script src=").count(),
            "no inline script"
        );
        assert!(INDEX.contains("<html lang=\"sv\">"));
    }
}
