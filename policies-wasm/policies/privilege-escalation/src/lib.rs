//! `privilege-escalation`: processes must not gain more privileges than their parent
//! (setuid binaries, file capabilities). Kubernetes: `allowPrivilegeEscalation: false` on every
//! container (the restricted standard). Docker: `--security-opt no-new-privileges` (CIS 5.26).

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {}

pub struct PrivilegeEscalation;

impl Policy for PrivilegeEscalation {
    type Settings = Settings;
    const NAME: &'static str = "privilege-escalation";

    fn validate(request: &Request, _settings: &Settings) -> Decision {
        let mut findings = Findings::default();
        for c in request.defined_containers() {
            if c.allow_privilege_escalation == Some(false) {
                continue;
            }
            match request.source {
                Source::Kubernetes => findings.deny(
                    request.field(c, "securityContext.allowPrivilegeEscalation", ""),
                    format!(
                        "container {:?} must set securityContext.allowPrivilegeEscalation=false",
                        c.name
                    ),
                ),
                Source::Docker => findings.deny(
                    "HostConfig.SecurityOpt",
                    "containers must run with no-new-privileges (--security-opt no-new-privileges)",
                ),
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(PrivilegeEscalation);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn must_be_explicitly_false() {
        let mut c = container("app", "nginx");
        assert!(
            !run::<PrivilegeEscalation>(&pod(vec![c.clone()]), "{}")
                .unwrap()
                .allowed
        );
        c.allow_privilege_escalation = Some(true);
        let d = run::<PrivilegeEscalation>(&pod(vec![c.clone()]), "{}").unwrap();
        assert_eq!(
            d.reasons[0].field,
            "spec.containers[0].securityContext.allowPrivilegeEscalation"
        );
        c.allow_privilege_escalation = Some(false);
        assert!(
            run::<PrivilegeEscalation>(&pod(vec![c.clone()]), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            run::<PrivilegeEscalation>(&docker_create(c), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            !run::<PrivilegeEscalation>(&docker_create(container("", "alpine")), "{}")
                .unwrap()
                .allowed
        );
    }
}
