//! Building decisions: collect findings, then turn them into one [`Decision`].

use crate::{Decision, Reason};

impl Decision {
    pub fn allow() -> Self {
        Decision {
            allowed: true,
            message: String::new(),
            reasons: Vec::new(),
            warnings: Vec::new(),
            patch: None,
            audit_annotations: Vec::new(),
        }
    }

    /// A denial with one reason per offending field.
    pub fn deny(reasons: Vec<Reason>) -> Self {
        Decision {
            allowed: false,
            reasons,
            ..Decision::allow()
        }
    }

    /// Adds a JSON Patch (text) to an allowing decision.
    pub fn with_patch(mut self, patch: Option<String>) -> Self {
        self.patch = patch;
        self
    }

    pub fn with_warning(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }
}

/// Accumulates what a policy found; any denial makes the decision a denial.
#[derive(Debug, Default)]
pub struct Findings {
    denials: Vec<Reason>,
    warnings: Vec<String>,
}

impl Findings {
    /// Records a violation of `field`.
    pub fn deny(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.denials.push(Reason {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.denials.is_empty()
    }

    pub fn into_decision(self) -> Decision {
        let mut decision = if self.denials.is_empty() {
            Decision::allow()
        } else {
            Decision::deny(self.denials)
        };
        decision.warnings = self.warnings;
        decision
    }
}

/// Computes a JSON Patch by letting `edit` change a copy of the raw object: the patch is the
/// difference, so a policy writes the object it wants rather than patch operations. Returns
/// `None` when `edit` changed nothing.
pub fn mutate(
    object: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<Option<String>, String> {
    let original: serde_json::Value =
        serde_json::from_str(object).map_err(|e| format!("object is not JSON: {e}"))?;
    let mut changed = original.clone();
    edit(&mut changed);
    let patch = json_patch::diff(&original, &changed);
    if patch.0.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(&patch)
        .map(Some)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutate_returns_the_difference() {
        let patch = mutate(r#"{"spec":{"containers":[{"name":"a"}]}}"#, |o| {
            o["spec"]["containers"][0]["securityContext"] =
                serde_json::json!({"capabilities": {"drop": ["ALL"]}});
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            patch,
            r#"[{"op":"add","path":"/spec/containers/0/securityContext","value":{"capabilities":{"drop":["ALL"]}}}]"#
        );
        assert_eq!(mutate("{}", |_| {}).unwrap(), None);
    }

    #[test]
    fn findings_deny_when_any_denial() {
        let mut f = Findings::default();
        assert!(f.is_empty());
        f.deny("spec.hostPID", "host PID namespace is not allowed");
        let d = f.into_decision();
        assert!(!d.allowed);
        assert_eq!(d.reasons[0].field, "spec.hostPID");
    }
}
