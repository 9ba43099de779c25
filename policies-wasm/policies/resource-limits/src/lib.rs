//! `resource-limits`: containers have memory, CPU and (on Docker) pids limits, so one workload
//! cannot starve the host. Kubernetes: `resources.limits.memory` and `.cpu` on every container.
//! Docker: `--memory` (CIS 5.11), `--cpus`, `--cpu-quota` or `--cpu-shares` (CIS 5.12) and `--pids-limit`
//! (CIS 5.29); `docker update` must not lift the pids limit (`--pids-limit -1`).

use portcullis_sdk::prelude::*;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    pub require_memory: bool,
    pub require_cpu: bool,
    /// Docker only: Kubernetes sets pids limits per node.
    pub require_pids: bool,
    /// Docker only: cgroups a container may be placed under with `--cgroup-parent` (CIS
    /// 5.25), escaping the limits of the daemon's own. Unset: not checked; `[]`: none.
    pub allowed_cgroup_parents: Option<Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_memory: true,
            require_cpu: true,
            require_pids: true,
            allowed_cgroup_parents: None,
        }
    }
}

pub struct ResourceLimits;

impl Policy for ResourceLimits {
    type Settings = Settings;
    const NAME: &'static str = "resource-limits";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let mut findings = Findings::default();
        if let (Some(allowed), Some(parent)) = (
            &settings.allowed_cgroup_parents,
            request
                .workload
                .as_ref()
                .and_then(|w| w.cgroup_parent.as_deref()),
        ) && !allowed.iter().any(|a| a == parent)
        {
            findings.deny(
                "HostConfig.CgroupParent",
                format!("containers must not choose their cgroup parent ({parent:?})"),
            );
        }
        let update = request.operation == "container-update";
        for c in request
            .containers()
            .filter(|c| c.kind != ContainerKind::Exec)
        {
            let r = &c.resources;
            if update {
                // An update changes only what it names; lifting the pids limit is what matters.
                if settings.require_pids && r.pids_limit.is_some_and(|p| p < 0) {
                    findings.deny(
                        "PidsLimit",
                        "the pids limit must not be removed (PidsLimit=-1)",
                    );
                }
                continue;
            }
            match request.source {
                Source::Kubernetes => {
                    if settings.require_memory && r.memory_limit_bytes.is_none() {
                        findings.deny(
                            request.field(c, "resources.limits.memory", ""),
                            format!("container {:?} must set resources.limits.memory", c.name),
                        );
                    }
                    if settings.require_cpu && r.cpu_limit_millis.is_none() {
                        findings.deny(
                            request.field(c, "resources.limits.cpu", ""),
                            format!("container {:?} must set resources.limits.cpu", c.name),
                        );
                    }
                }
                Source::Docker => {
                    if settings.require_memory && r.memory_limit_bytes.is_none() {
                        findings.deny(
                            "HostConfig.Memory",
                            "containers must have a memory limit (--memory)",
                        );
                    }
                    // CIS 5.12 accepts a CPU weight as well as a limit.
                    if settings.require_cpu
                        && r.cpu_limit_millis.is_none()
                        && r.cpu_shares.is_none()
                    {
                        findings.deny(
                            "HostConfig.NanoCpus",
                            "containers must have a CPU limit or weight (--cpus or --cpu-shares)",
                        );
                    }
                    if settings.require_pids && r.pids_limit.is_none_or(|p| p <= 0) {
                        findings.deny(
                            "HostConfig.PidsLimit",
                            "containers must have a pids limit (--pids-limit)",
                        );
                    }
                }
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(ResourceLimits);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn limits_required() {
        let mut c = container("app", "nginx");
        let d = run::<ResourceLimits>(&pod(vec![c.clone()]), "{}").unwrap();
        assert_eq!(d.reasons.len(), 2);
        c.resources.memory_limit_bytes = Some(1 << 28);
        c.resources.cpu_limit_millis = Some(500);
        assert!(
            run::<ResourceLimits>(&pod(vec![c.clone()]), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            !run::<ResourceLimits>(&docker_create(c.clone()), "{}")
                .unwrap()
                .allowed,
            "no pids limit"
        );
        c.resources.pids_limit = Some(100);
        assert!(
            run::<ResourceLimits>(&docker_create(c), "{}")
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn cgroup_parent_only_from_the_list() {
        let mut request = docker_create(container("", "nginx"));
        request.workload.as_mut().unwrap().cgroup_parent = Some("/system.slice".into());
        let only = |settings: &str| {
            run::<ResourceLimits>(&request, settings)
                .unwrap()
                .reasons
                .iter()
                .any(|r| r.field == "HostConfig.CgroupParent")
        };
        assert!(!only("{}"), "not checked unless configured");
        assert!(only(r#"{"allowedCgroupParents":[]}"#));
        assert!(!only(r#"{"allowedCgroupParents":["/system.slice"]}"#));
    }
}
