//! The background audit (`portcullis audit`): what already runs, decided by the same policies
//! through the same path as a request. A door lists its objects and turns each into an
//! [`Admission`](crate::admission::Admission) as if it were created now; the audit scope
//! ([`Purpose::Audit`](crate::admission::Purpose)) decides it, with no UPDATE skipped and
//! nothing changed: a mutating policy's patch is reported, not applied.
//!
//! Each object decided becomes an [`ObjectReport`]: one [`PolicyOutcome`] per policy that
//! matched it. The outputs (`table`, `json`) read the reports one at a time, as they come, so
//! the audit's memory does not grow with the number of objects.

pub mod daemon_settings;
pub mod docker;
pub mod html;
pub mod json;
pub mod kubernetes;
pub mod lease;
pub mod periodic;
pub mod policy_report;
pub mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{FailurePolicy, Mode};
use crate::decision::Verdict;

/// What was decided: an object as the door names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// A policy's result for one object, in the words of a `PolicyReport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Allowed as it stands.
    Pass,
    /// The policy denies it: in enforce mode a new one like it would be refused.
    Fail,
    /// Allowed, with something to say: a patch the policy would apply, or its warnings.
    Warn,
    /// The policy could not decide.
    Error,
    /// Not decided: what would tell could not be read.
    Skip,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Error => "error",
            Outcome::Skip => "skip",
        }
    }
}

pub use crate::abi::Reason;

/// One policy's part in one object's audit.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOutcome {
    pub policy: String,
    /// The numbered item within the policy, when it has them (`2.5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub mode: Mode,
    pub result: Outcome,
    /// Whether this policy would refuse the object if it were created now: it fails (or
    /// cannot decide and fails closed) in enforce mode.
    pub would_deny: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// RFC 6902 JSON Patch a mutating policy would apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<serde_json::Value>,
}

impl PolicyOutcome {
    /// Why, in one line: the reasons with their fields, or the message.
    pub fn why(&self) -> String {
        if self.reasons.is_empty() {
            self.message.clone()
        } else {
            crate::decision::reasons_text(&self.reasons)
        }
    }
}

/// Every matching policy's result for one object.
#[derive(Debug, Clone)]
pub struct ObjectReport {
    pub door: &'static str,
    pub resource: Resource,
    pub outcomes: Vec<PolicyOutcome>,
}

impl ObjectReport {
    /// Whether enforce mode would refuse this object.
    pub fn would_deny(&self) -> bool {
        self.outcomes.iter().any(|o| o.would_deny)
    }
}

/// Each policy's outcome in `verdict`, in the order the policies ran.
pub fn outcomes(verdict: &Verdict) -> Vec<PolicyOutcome> {
    verdict
        .results
        .iter()
        .map(|r| {
            let enforcing = r.mode == Mode::Enforce;
            match &r.outcome {
                Ok(d) if !d.allowed => PolicyOutcome {
                    policy: r.policy.clone(),
                    rule: None,
                    mode: r.mode,
                    result: Outcome::Fail,
                    would_deny: enforcing,
                    message: if d.reasons.is_empty() {
                        d.message.clone()
                    } else {
                        String::new()
                    },
                    reasons: d.reasons.clone(),
                    patch: None,
                },
                Ok(d) => {
                    let patch = d
                        .patch
                        .as_deref()
                        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                        .filter(|p| p.as_array().is_some_and(|ops| !ops.is_empty()));
                    let mut message = Vec::new();
                    if let Some(ops) = patch.as_ref().and_then(|p| p.as_array()) {
                        let plural = if ops.len() == 1 { "" } else { "s" };
                        message.push(format!("would patch: {} operation{plural}", ops.len()));
                    }
                    message.extend(d.warnings.iter().cloned());
                    PolicyOutcome {
                        policy: r.policy.clone(),
                        rule: None,
                        mode: r.mode,
                        result: if message.is_empty() {
                            Outcome::Pass
                        } else {
                            Outcome::Warn
                        },
                        would_deny: false,
                        message: message.join("; "),
                        reasons: Vec::new(),
                        patch,
                    }
                }
                Err(e) => PolicyOutcome {
                    policy: r.policy.clone(),
                    rule: None,
                    mode: r.mode,
                    result: Outcome::Error,
                    would_deny: enforcing && r.failure_policy == FailurePolicy::Fail,
                    message: format!("policy failed: {e}"),
                    reasons: Vec::new(),
                    patch: None,
                },
            }
        })
        .collect()
}

/// Counts of one policy's outcomes in one place (a namespace, a container).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub pass: u64,
    pub fail: u64,
    pub warn: u64,
    pub error: u64,
    pub skip: u64,
    /// Of those, how many enforce mode would refuse.
    pub would_deny: u64,
}

impl Counts {
    fn add(&mut self, outcome: &PolicyOutcome) {
        match outcome.result {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Warn => self.warn += 1,
            Outcome::Error => self.error += 1,
            Outcome::Skip => self.skip += 1,
        }
        self.would_deny += u64::from(outcome.would_deny);
    }

    pub fn total(&self) -> u64 {
        self.pass + self.fail + self.warn + self.error + self.skip
    }
}

/// What a whole audit found, in counts: small whatever the number of objects.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Objects decided, by kind.
    pub objects: BTreeMap<String, u64>,
    /// Objects some policy would refuse in enforce mode.
    pub objects_denied: u64,
    /// By policy, then by where: the namespace on Kubernetes (`-` for what has none), the
    /// object on Docker.
    pub by_policy: BTreeMap<String, BTreeMap<String, Counts>>,
}

impl Summary {
    pub fn add(&mut self, report: &ObjectReport) {
        *self
            .objects
            .entry(report.resource.kind.clone())
            .or_default() += 1;
        self.objects_denied += u64::from(report.would_deny());
        let r = &report.resource;
        let place = match (&r.namespace, report.door) {
            (Some(namespace), _) => namespace.clone(),
            (None, "docker") => format!("{} {}", r.kind, r.name),
            (None, _) => "-".into(),
        };
        for outcome in &report.outcomes {
            self.by_policy
                .entry(outcome.policy.clone())
                .or_default()
                .entry(place.clone())
                .or_default()
                .add(outcome);
        }
    }

    /// Adds another audit's counts (another door's).
    pub fn merge(&mut self, other: Summary) {
        for (kind, n) in other.objects {
            *self.objects.entry(kind).or_default() += n;
        }
        self.objects_denied += other.objects_denied;
        for (policy, places) in other.by_policy {
            let mine = self.by_policy.entry(policy).or_default();
            for (place, c) in places {
                let m = mine.entry(place).or_default();
                m.pass += c.pass;
                m.fail += c.fail;
                m.warn += c.warn;
                m.error += c.error;
                m.skip += c.skip;
                m.would_deny += c.would_deny;
            }
        }
    }

    pub fn objects_total(&self) -> u64 {
        self.objects.values().sum()
    }
}

/// Where decided objects go, one at a time.
pub trait Output {
    fn object(&mut self, report: &ObjectReport) -> std::io::Result<()>;
    /// Called once, after the last object.
    fn finish(&mut self, summary: &Summary) -> std::io::Result<()>;
}

/// Why an audit stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the API server: {0}")]
    Kubernetes(#[from] kube::Error),
    #[error("writing the report: {0}")]
    Output(std::io::Error),
    #[error("{0}")]
    Docker(String),
}

/// Several outputs, each given every object in turn.
pub struct Outputs<'a>(pub Vec<&'a mut dyn Output>);

impl Output for Outputs<'_> {
    fn object(&mut self, report: &ObjectReport) -> std::io::Result<()> {
        self.0.iter_mut().try_for_each(|o| o.object(report))
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        self.0.iter_mut().try_for_each(|o| o.finish(summary))
    }
}
