//! `selinux`: SELinux labels stay within what the container runtime's policy expects.
//! Kubernetes: `seLinuxOptions.type` from an allowed list, no custom `user` or `role` (Pod
//! Security Standards baseline), at pod and container level. Docker: `--security-opt
//! label=disable` (or `label:disable`) is denied (CIS 5.3), and label types are checked the same.

use portcullis_sdk::SelinuxOptions;
use portcullis_sdk::prelude::*;

const DEFAULT_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// SELinux types that may be set (the Pod Security Standards list by default).
    pub allowed_types: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_types: DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
        }
    }
}

pub struct Selinux;

fn check(
    who: &str,
    field: String,
    o: &SelinuxOptions,
    settings: &Settings,
    findings: &mut Findings,
) {
    if o.disabled {
        findings.deny(
            field.clone(),
            format!("{who} must not disable SELinux labeling (label=disable)"),
        );
    }
    if let Some(t) = o
        .type_
        .as_deref()
        .filter(|t| !t.is_empty() && !settings.allowed_types.iter().any(|a| a == t))
    {
        findings.deny(
            field.clone(),
            format!("{who} must not set SELinux type {t:?}"),
        );
    }
    if let Some(u) = o.user.as_deref().filter(|u| !u.is_empty()) {
        findings.deny(
            field.clone(),
            format!("{who} must not set SELinux user {u:?}"),
        );
    }
    if let Some(r) = o.role.as_deref().filter(|r| !r.is_empty()) {
        findings.deny(field, format!("{who} must not set SELinux role {r:?}"));
    }
}

impl Policy for Selinux {
    type Settings = Settings;
    const NAME: &'static str = "selinux";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let mut findings = Findings::default();
        if let Some(o) = &workload.pod_security.selinux {
            check(
                "pod",
                request.workload_field("securityContext.seLinuxOptions", ""),
                o,
                settings,
                &mut findings,
            );
        }
        for c in request.defined_containers() {
            if let Some(o) = &c.selinux {
                let who = match request.source {
                    Source::Kubernetes => format!("container {:?}", c.name),
                    Source::Docker => "container".to_string(),
                };
                let field = request.field(
                    c,
                    "securityContext.seLinuxOptions",
                    "HostConfig.SecurityOpt",
                );
                check(&who, field, o, settings, &mut findings);
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(Selinux);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    fn labelled(o: SelinuxOptions) -> portcullis_sdk::Container {
        let mut c = container("app", "nginx");
        c.selinux = Some(o);
        c
    }

    fn options(t: Option<&str>, user: Option<&str>, disabled: bool) -> SelinuxOptions {
        SelinuxOptions {
            user: user.map(str::to_string),
            role: None,
            type_: t.map(str::to_string),
            level: None,
            disabled,
        }
    }

    #[test]
    fn types_users_and_disable() {
        assert!(
            run::<Selinux>(
                &pod(vec![labelled(options(Some("container_t"), None, false))]),
                "{}"
            )
            .unwrap()
            .allowed
        );
        let d = run::<Selinux>(
            &pod(vec![labelled(options(Some("spc_t"), None, false))]),
            "{}",
        )
        .unwrap();
        assert_eq!(
            d.reasons[0].message,
            r#"container "app" must not set SELinux type "spc_t""#
        );
        assert!(
            !run::<Selinux>(
                &pod(vec![labelled(options(None, Some("root"), false))]),
                "{}"
            )
            .unwrap()
            .allowed
        );
        let d = run::<Selinux>(&docker_create(labelled(options(None, None, true))), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            "container must not disable SELinux labeling (label=disable)"
        );
    }
}
