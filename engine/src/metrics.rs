//! Prometheus metrics, served as text at `/metrics`. Every handle is cheap to clone and
//! shares its value with the registry.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::decision::Verdict;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    /// `allowed`, `denied`, `mutated` or `invalid` (a 4xx answer).
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyErrorLabels {
    pub policy: String,
    /// `timeout`, `out-of-memory`, `trap`, `bad-output`, `undecided`, `instantiate`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub policy: String,
    /// The namespace on Kubernetes, the object on Docker.
    pub namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub policy_duration: Family<PolicyLabels, Histogram>,
    pub policy_errors: Family<PolicyErrorLabels, Counter>,
    pub in_flight: Gauge,
    pub audit_records: Counter,
    pub audit_waits: Counter,
    pub audit_errors: Counter,
    pub reloads: Family<ResultLabels, Counter>,
    /// Docker door lookups of the objects a call names: `result` is `asked` (a question to
    /// the daemon) or `kept` (answered from what the daemon's events say is unchanged).
    pub docker_lookups: Family<ResultLabels, Counter>,
    /// The last background audit: its findings (fail, warn, error) by policy and place,
    /// when it ended (Unix seconds) and how long it took.
    pub audit_findings: Family<FindingLabels, Gauge>,
    pub audit_last_run: Gauge,
    pub audit_last_duration: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by endpoint and decision",
            requests.clone(),
        );
        let policy_duration = Family::<PolicyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                0.025, 0.05, 0.1, 0.25, 1.0,
            ])
        });
        registry.register(
            "policy_evaluation_duration_seconds",
            "Time one policy took to decide one request (instantiate and call)",
            policy_duration.clone(),
        );
        let policy_errors = Family::<PolicyErrorLabels, Counter>::default();
        registry.register(
            "policy_errors",
            "Evaluations that produced no decision, by policy and kind (timeout, trap, ...)",
            policy_errors.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests being decided now",
            in_flight.clone(),
        );
        let audit_records = Counter::default();
        registry.register(
            "audit_records",
            "Audit records written",
            audit_records.clone(),
        );
        let audit_waits = Counter::default();
        registry.register(
            "audit_waits",
            "Requests that waited because the audit queue was full",
            audit_waits.clone(),
        );
        let audit_errors = Counter::default();
        registry.register(
            "audit_write_errors",
            "Failed writes to the audit log",
            audit_errors.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads, by result",
            reloads.clone(),
        );
        let docker_lookups = Family::<ResultLabels, Counter>::default();
        registry.register(
            "docker_lookups",
            "Lookups of the objects Docker calls name: asked of the daemon, or kept from an earlier call while the daemon's events report no change",
            docker_lookups.clone(),
        );
        let audit_findings = Family::<FindingLabels, Gauge>::default();
        registry.register(
            "audit_findings",
            "Findings (fail, warn, error) of the last background audit, by policy and namespace (the object on Docker)",
            audit_findings.clone(),
        );
        let audit_last_run = Gauge::default();
        registry.register(
            "audit_last_run_timestamp_seconds",
            "When the last background audit ended (Unix time)",
            audit_last_run.clone(),
        );
        let audit_last_duration = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "audit_last_run_duration_seconds",
            "How long the last background audit took",
            audit_last_duration.clone(),
        );
        let registry_stats = crate::registry::stats();
        registry.register(
            "registry_calls",
            "Registry calls made for policies, by call (resolve, manifest, signatures) and result (ok, unreachable, unauthorized, not-found, invalid)",
            registry_stats.calls.clone(),
        );
        registry.register(
            "registry_cache_hits",
            "Registry questions answered from the cache, by cache (digest, manifest, signatures, verification)",
            registry_stats.cache_hits.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            requests,
            policy_duration,
            policy_errors,
            in_flight,
            audit_records,
            audit_waits,
            audit_errors,
            reloads,
            docker_lookups,
            audit_findings,
            audit_last_run,
            audit_last_duration,
        }
    }

    /// Records the per-policy figures of a verdict and the request's outcome.
    pub fn observe(&self, endpoint: &str, verdict: &Verdict) {
        for r in &verdict.results {
            let labels = PolicyLabels {
                policy: r.policy.clone(),
            };
            self.policy_duration
                .get_or_create(&labels)
                .observe(r.duration.as_secs_f64());
            if let Err(e) = &r.outcome {
                self.policy_errors
                    .get_or_create(&PolicyErrorLabels {
                        policy: r.policy.clone(),
                        kind: e.kind(),
                    })
                    .inc();
            }
        }
        let decision = match (verdict.allowed, verdict.patch.is_some()) {
            (false, _) => "denied",
            (true, true) => "mutated",
            (true, false) => "allowed",
        };
        self.count(endpoint, decision);
    }

    pub fn count(&self, endpoint: &str, decision: &'static str) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                decision,
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}
