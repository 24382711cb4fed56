//! The service's metrics: one Prometheus registry per running service, served as text on
//! `GET /metrics`. Labels are stable names (domains, outcomes), never patient data.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
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

/// Labels naming a source (its catalog id).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub source: String,
}

/// Labels of one (source, domain) call's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceCallLabels {
    pub source: String,
    pub domain: &'static str,
    /// `fresh`, `cached`, `stale`, `failed`, `timed_out`, `shed` or `breaker_open`.
    pub outcome: &'static str,
}

/// Labels of a change notification received from a source (or the platform): the source's
/// catalog id (`platform` for the engagement index) and what came of it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    pub source: String,
    /// `changed`, `ping`, `unauthenticated`, `unknown_source`, `invalid`, `unresolved`.
    pub outcome: &'static str,
}

/// Labels of a source cache lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Labels naming a GraphQL operation by what it asks for (its root fields, from the schema),
/// never by the client's own operation name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
}

/// Labels of a subscription's end.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndLabels {
    /// `complete`, `client_gone`, `slow_consumer`, `access`, `lifetime`, `idle`, `shutdown` or
    /// `error`.
    pub reason: &'static str,
}

/// Labels of a GraphQL request's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: String,
    /// `ok`, `partial` (data and errors), `error` or `rejected` (before execution).
    pub outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 1 ms to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric the service keeps.
pub struct Metrics {
    registry: Registry,
    /// Calls to RIV-TA sources not made because the engagement index said they hold nothing.
    pub source_calls_avoided: Family<DomainLabels, Counter>,
    /// Engagement index lookups, by domain and outcome.
    pub index_lookups: Family<IndexLabels, Counter>,
    /// (source, domain) calls by outcome.
    pub source_calls: Family<SourceCallLabels, Counter>,
    /// Time requests spent on each source's calls, in seconds.
    pub source_latency: HistogramFamily<SourceLabels>,
    /// Requests made to each source, retries included.
    pub source_requests: Family<SourceLabels, Counter>,
    /// Each source's circuit breaker: 0 closed, 1 half-open, 2 open.
    pub breaker_state: Family<SourceLabels, Gauge>,
    /// Source cache lookups, hits and misses.
    pub cache_lookups: Family<CacheLabels, Counter>,
    /// GraphQL requests by operation and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// GraphQL request latency by operation, in seconds.
    pub request_duration: HistogramFamily<OperationLabels>,
    /// GraphQL requests being answered now.
    pub in_flight: Gauge,
    /// Live overviews (subscriptions) open now on this replica.
    pub subscriptions_open: Gauge,
    /// Subscriptions ended, by why.
    pub subscriptions_ended: Family<EndLabels, Counter>,
    /// Change notifications received, by source and outcome.
    pub notifications: Family<NotificationLabels, Counter>,
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
        let source_calls = Family::<SourceCallLabels, Counter>::default();
        registry.register(
            "source_calls",
            "Source calls per (source, domain), by outcome: fresh, cached, stale, failed, timed_out, shed, breaker_open",
            source_calls.clone(),
        );
        let source_latency: HistogramFamily<SourceLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "source_call_duration_seconds",
            "Time an overview spent on one source call",
            source_latency.clone(),
        );
        let source_requests = Family::<SourceLabels, Counter>::default();
        registry.register(
            "source_requests",
            "Requests made to a source, retries included",
            source_requests.clone(),
        );
        let breaker_state = Family::<SourceLabels, Gauge>::default();
        registry.register(
            "source_breaker_state",
            "A source's circuit breaker: 0 closed, 1 half-open (trial call), 2 open",
            breaker_state.clone(),
        );
        let cache_lookups = Family::<CacheLabels, Counter>::default();
        registry.register(
            "source_cache_lookups",
            "Source cache lookups: hit (served from the cache) or miss",
            cache_lookups.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "graphql_requests",
            "GraphQL requests by operation (root fields) and outcome",
            requests.clone(),
        );
        let request_duration: HistogramFamily<OperationLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "graphql_request_duration_seconds",
            "GraphQL request latency by operation (root fields)",
            request_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "graphql_requests_in_flight",
            "GraphQL requests being answered now",
            in_flight.clone(),
        );
        let subscriptions_open = Gauge::default();
        registry.register(
            "subscriptions_open",
            "Live overviews (subscriptions) open now on this replica",
            subscriptions_open.clone(),
        );
        let subscriptions_ended = Family::<EndLabels, Counter>::default();
        registry.register(
            "subscriptions_ended",
            "Subscriptions ended, by reason: complete, client_gone, slow_consumer, access, lifetime, idle, shutdown, error",
            subscriptions_ended.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notifications",
            "Change notifications received from sources and the platform, by source and outcome",
            notifications.clone(),
        );
        Metrics {
            registry,
            source_calls_avoided,
            index_lookups,
            source_calls,
            source_latency,
            source_requests,
            breaker_state,
            cache_lookups,
            requests,
            request_duration,
            in_flight,
            subscriptions_open,
            subscriptions_ended,
            notifications,
        }
    }

    /// Counts one subscription's end.
    pub fn subscription_ended(&self, reason: &'static str) {
        self.subscriptions_ended
            .get_or_create(&EndLabels { reason })
            .inc();
    }

    /// Counts one source cache lookup.
    pub fn cache_lookup(&self, hit: bool) {
        self.cache_lookups
            .get_or_create(&CacheLabels {
                result: if hit { "hit" } else { "miss" },
            })
            .inc();
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
