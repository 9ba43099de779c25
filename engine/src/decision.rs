//! Combines the policies' answers into one verdict. Enforce-mode denials deny; warn-mode
//! denials become warnings; audit-mode denials are only recorded. A policy that could not
//! decide denies the request unless its failure policy is `Ignore` (fail open).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::abi::Decision;
use crate::config::{FailurePolicy, Mode};
use crate::runtime::PolicyError;

/// One policy's part in a verdict.
#[derive(Debug, Clone)]
pub struct PolicyResult {
    pub policy: String,
    pub mode: Mode,
    pub failure_policy: FailurePolicy,
    pub outcome: Result<Decision, PolicyError>,
    pub duration: Duration,
}

impl PolicyResult {
    /// Whether this policy, on its own, would let the request through.
    pub fn allowed(&self) -> bool {
        matches!(&self.outcome, Ok(d) if d.allowed)
    }
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub allowed: bool,
    /// Why it was denied: every denying policy with its reasons and field paths.
    pub message: String,
    pub warnings: Vec<String>,
    /// The combined mutation against the original object.
    pub patch: Option<json_patch::Patch>,
    pub audit_annotations: BTreeMap<String, String>,
    pub results: Vec<PolicyResult>,
}

impl Verdict {
    /// An allowing verdict reached without running any policy (a call already made, say).
    pub fn allow() -> Self {
        Verdict {
            allowed: true,
            ..Verdict::deny("")
        }
    }

    /// A verdict reached without running any policy (an unreadable request, say).
    pub fn deny(message: impl Into<String>) -> Self {
        Verdict {
            allowed: false,
            message: message.into(),
            warnings: Vec::new(),
            patch: None,
            audit_annotations: BTreeMap::new(),
            results: Vec::new(),
        }
    }
}

pub fn combine(results: Vec<PolicyResult>, patch: Option<json_patch::Patch>) -> Verdict {
    let mut denials = Vec::new();
    let mut warnings = Vec::new();
    let mut annotations = BTreeMap::new();
    for r in &results {
        let name = &r.policy;
        let problem = match &r.outcome {
            Ok(d) => {
                warnings.extend(d.warnings.iter().map(|w| format!("{name}: {w}")));
                for (k, v) in &d.audit_annotations {
                    annotations.insert(format!("{name}.{k}"), v.clone());
                }
                if d.allowed {
                    continue;
                }
                describe(d)
            }
            Err(e) => {
                let text = format!("policy failed: {e}");
                if r.failure_policy == FailurePolicy::Ignore {
                    warnings.push(format!(
                        "{name}: {text} (failurePolicy Ignore: not enforced)"
                    ));
                    annotations.insert(format!("{name}.error"), e.to_string());
                    continue;
                }
                text
            }
        };
        match r.mode {
            Mode::Enforce => denials.push(format!("{name}: {problem}")),
            Mode::Warn => warnings.push(format!("{name}: {problem}")),
            Mode::Audit => {
                annotations.insert(format!("{name}.denied"), problem);
            }
        }
    }
    let allowed = denials.is_empty();
    Verdict {
        allowed,
        message: if allowed {
            String::new()
        } else {
            format!("denied by portcullis: {}", denials.join("; "))
        },
        warnings,
        patch: if allowed {
            patch.filter(|p| !p.0.is_empty())
        } else {
            None
        },
        audit_annotations: annotations,
        results,
    }
}

/// `reason (field); reason (field)`, or the policy's message when it gave no reasons.
fn describe(d: &Decision) -> String {
    if d.reasons.is_empty() {
        return if d.message.is_empty() {
            "denied".into()
        } else {
            d.message.clone()
        };
    }
    reasons_text(&d.reasons)
}

/// `reason (field); reason (field)`: how a denial's reasons read wherever they are shown.
pub fn reasons_text(reasons: &[crate::abi::Reason]) -> String {
    reasons
        .iter()
        .map(|r| {
            if r.field.is_empty() {
                r.message.clone()
            } else {
                format!("{} ({})", r.message, r.field)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::Reason;

    fn result(
        policy: &str,
        mode: Mode,
        failure: FailurePolicy,
        outcome: Result<Decision, PolicyError>,
    ) -> PolicyResult {
        PolicyResult {
            policy: policy.into(),
            mode,
            failure_policy: failure,
            outcome,
            duration: Duration::ZERO,
        }
    }

    fn denial(msg: &str, field: &str) -> Decision {
        Decision {
            allowed: false,
            message: String::new(),
            reasons: vec![Reason {
                message: msg.into(),
                field: field.into(),
            }],
            warnings: vec![],
            patch: None,
            audit_annotations: vec![],
        }
    }

    #[test]
    fn modes_decide_what_a_denial_does() {
        let v = combine(
            vec![
                result(
                    "a",
                    Mode::Enforce,
                    FailurePolicy::Fail,
                    Ok(denial("no", "spec.x")),
                ),
                result(
                    "b",
                    Mode::Warn,
                    FailurePolicy::Fail,
                    Ok(denial("careful", "spec.y")),
                ),
                result(
                    "c",
                    Mode::Audit,
                    FailurePolicy::Fail,
                    Ok(denial("noted", "")),
                ),
            ],
            None,
        );
        assert!(!v.allowed);
        assert_eq!(v.message, "denied by portcullis: a: no (spec.x)");
        assert_eq!(v.warnings, ["b: careful (spec.y)"]);
        assert_eq!(v.audit_annotations["c.denied"], "noted");
    }

    #[test]
    fn failures_fail_closed_unless_ignored() {
        let timeout = || Err(PolicyError::Timeout(Duration::from_millis(100)));
        let v = combine(
            vec![result(
                "slow",
                Mode::Enforce,
                FailurePolicy::Fail,
                timeout(),
            )],
            None,
        );
        assert!(!v.allowed);
        assert_eq!(
            v.message,
            "denied by portcullis: slow: policy failed: timed out after 100 ms"
        );
        let v = combine(
            vec![result(
                "slow",
                Mode::Enforce,
                FailurePolicy::Ignore,
                timeout(),
            )],
            None,
        );
        assert!(v.allowed);
        assert!(v.warnings[0].contains("failurePolicy Ignore"));
    }
}
