//! `privileged`: no privileged containers. Covers regular, init, ephemeral and exec
//! containers on Kubernetes, and `docker run --privileged` / `docker exec --privileged`.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Let `docker exec --privileged` / privileged `kubectl exec` through while still denying
    /// privileged containers.
    pub allow_privileged_exec: bool,
}

pub struct Privileged;

impl Policy for Privileged {
    type Settings = Settings;
    const NAME: &'static str = "privileged";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let mut findings = Findings::default();
        for c in request.containers() {
            if c.privileged != Some(true) {
                continue;
            }
            if c.kind == ContainerKind::Exec {
                if !settings.allow_privileged_exec {
                    let field = request.field(c, "privileged", "Privileged");
                    findings.deny(field, "exec must not be privileged");
                }
                continue;
            }
            let field = request.field(c, "securityContext.privileged", "HostConfig.Privileged");
            let message = match request.source {
                Source::Kubernetes => {
                    format!(
                        "container {:?} must not set securityContext.privileged=true",
                        c.name
                    )
                }
                Source::Docker => "container must not be privileged".to_string(),
            };
            findings.deny(field, message);
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(Privileged);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    fn privileged(
        mut c: portcullis_sdk::Container,
        kind: ContainerKind,
    ) -> portcullis_sdk::Container {
        c.privileged = Some(true);
        c.kind = kind;
        c
    }

    #[test]
    fn denies_privileged_init_container_with_its_field() {
        let mut init = privileged(container("setup", "busybox"), ContainerKind::Init);
        init.pointer = "/spec/initContainers/0".into();
        let req = pod(vec![container("app", "nginx"), init]);
        let d = run::<Privileged>(&req, "{}").unwrap();
        assert!(!d.allowed);
        assert_eq!(d.reasons.len(), 1);
        assert_eq!(
            d.reasons[0].field,
            "spec.initContainers[0].securityContext.privileged"
        );
        assert_eq!(
            d.reasons[0].message,
            r#"container "setup" must not set securityContext.privileged=true"#
        );
    }

    #[test]
    fn privileged_false_is_allowed() {
        let mut c = container("app", "nginx");
        c.privileged = Some(false);
        assert!(run::<Privileged>(&pod(vec![c]), "").unwrap().allowed);
    }

    #[test]
    fn docker_exec_can_be_allowed_by_setting() {
        let req = docker_create(privileged(container("", "x"), ContainerKind::Exec));
        assert!(!run::<Privileged>(&req, "{}").unwrap().allowed);
        assert!(
            run::<Privileged>(&req, r#"{"allowPrivilegedExec":true}"#)
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn unknown_setting_is_rejected() {
        let err = check_settings::<Privileged>(r#"{"allowExec":true}"#).unwrap_err();
        assert!(err.message.contains("unknown field `allowExec`"));
    }
}
