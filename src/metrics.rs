//! The service's metrics: one Prometheus registry per running service, served as text on
//! `GET /metrics`. Labels are stable names (domains, outcomes), never patient data.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels naming an overview domain.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DomainLabels {
    pub domain: &'static str,
}

/// Labels of an engagement index lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IndexLabels {
    pub domain: &'static str,
    /// `answered`, `cached` or `failed`.
    pub outcome: &'static str,
}

/// Every metric the service keeps.
pub struct Metrics {
    registry: Registry,
    /// Calls to RIV-TA sources not made because the engagement index said they hold nothing.
    pub source_calls_avoided: Family<DomainLabels, Counter>,
    /// Engagement index lookups, by domain and outcome.
    pub index_lookups: Family<IndexLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("overblick");
        let source_calls_avoided = Family::<DomainLabels, Counter>::default();
        registry.register(
            "source_calls_avoided",
            "Source calls not made because the engagement index named other sources",
            source_calls_avoided.clone(),
        );
        let index_lookups = Family::<IndexLabels, Counter>::default();
        registry.register(
            "engagement_index_lookups",
            "Engagement index lookups, by domain and outcome (answered, cached, failed)",
            index_lookups.clone(),
        );
        Metrics {
            registry,
            source_calls_avoided,
            index_lookups,
        }
    }

    /// The metrics in the Prometheus / OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avoided_calls_are_counted_per_domain() {
        let m = Metrics::new();
        m.source_calls_avoided
            .get_or_create(&DomainLabels {
                domain: "medications",
            })
            .inc_by(5);
        let text = m.encode();
        assert!(
            text.contains(r#"overblick_source_calls_avoided_total{domain="medications"} 5"#),
            "{text}"
        );
    }
}
