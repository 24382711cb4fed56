//! Short summaries of FHIR OperationOutcomes for error reports: severity, code and details text of
//! each issue, at most 200 characters. `diagnostics` is left out: servers put stack traces and
//! request echoes (which may hold the patient's identifier) there.

use serde_json::Value;

use super::elements::{concept_text, list, text, truncate};

/// The longest summary kept.
pub const MAX_SUMMARY_CHARS: usize = 200;

/// Whether the outcome reports an issue of severity `error` or `fatal`.
pub fn has_error(outcome: &Value) -> bool {
    list(outcome, "issue")
        .iter()
        .any(|i| matches!(text(i, "severity"), Some("error" | "fatal")))
}

/// "error not-found: Resource Patient/x is not known; warning ..." cut to 200 characters;
/// `None` when there are no issues.
pub fn summarize(outcome: &Value) -> Option<String> {
    let issues: Vec<String> = list(outcome, "issue")
        .iter()
        .map(|issue| {
            let head = [text(issue, "severity"), text(issue, "code")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            match issue.get("details").and_then(concept_text) {
                Some(details) if head.is_empty() => details,
                Some(details) => format!("{head}: {details}"),
                None => head,
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    if issues.is_empty() {
        return None;
    }
    let joined: String = issues
        .join("; ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Some(truncate(&joined, MAX_SUMMARY_CHARS))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_summary_names_severity_code_and_details_but_not_diagnostics() {
        let outcome = json!({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "not-found", "details": {"text": "Unknown resource"},
             "diagnostics": "GET /Patient?identifier=191212121212 failed"},
            {"severity": "warning", "code": "informational"}
        ]});
        assert_eq!(
            summarize(&outcome).as_deref(),
            Some("error not-found: Unknown resource; warning informational")
        );
        assert!(has_error(&outcome));
    }

    #[test]
    fn a_long_summary_is_cut_to_200_characters() {
        let outcome = json!({"issue": [{"severity": "fatal", "code": "exception",
            "details": {"text": "ä\n".repeat(500)}}]});
        let summary = summarize(&outcome).unwrap();
        assert_eq!(summary.chars().count(), MAX_SUMMARY_CHARS);
        assert!(!summary.contains('\n'));
    }

    #[test]
    fn an_outcome_without_issues_has_no_summary_and_no_error() {
        assert_eq!(summarize(&json!({"issue": "x"})), None);
        assert!(!has_error(
            &json!({"issue": [{"severity": "information", "code": "informational"}]})
        ));
    }
}
