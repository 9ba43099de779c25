//! `proc-mount`: the kernel interfaces under `/proc` and `/sys` that runtimes hide from
//! containers stay hidden. Kubernetes `procMount` must be `Default`, unless the pod runs in
//! its own user namespace (`hostUsers: false`), as Pod Security Standards baseline allows
//! since v1.35; Docker requests must not empty or shorten `MaskedPaths` and `ReadonlyPaths`,
//! which `--security-opt systempaths=unconfined` does.

use portcullis_sdk::path::normalize;
use portcullis_sdk::prelude::*;

/// Masked by every Docker release since 20.10; newer releases mask more, which is kept.
pub const DOCKER_MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

pub const DOCKER_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Kubernetes: allow `procMount: Unmasked` in any pod.
    pub allow_unmasked: bool,
    /// Kubernetes: allow `procMount: Unmasked` in pods with their own user namespace
    /// (baseline). Set false for the restricted level's stricter rule.
    pub allow_unmasked_in_user_namespace: bool,
    /// Docker: paths a request that sets `MaskedPaths` must keep masked.
    pub required_masked_paths: Vec<String>,
    /// Docker: paths a request that sets `ReadonlyPaths` must keep read-only.
    pub required_readonly_paths: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow_unmasked: false,
            allow_unmasked_in_user_namespace: true,
            required_masked_paths: DOCKER_MASKED.iter().map(|p| p.to_string()).collect(),
            required_readonly_paths: DOCKER_READONLY.iter().map(|p| p.to_string()).collect(),
        }
    }
}

pub struct ProcMount;

impl Policy for ProcMount {
    type Settings = Settings;
    const NAME: &'static str = "proc-mount";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let mut findings = Findings::default();
        let user_namespaced = request
            .workload
            .as_ref()
            .is_some_and(|w| w.namespaces.user == NamespaceMode::Private);
        let unmasked_ok = settings.allow_unmasked
            || (settings.allow_unmasked_in_user_namespace && user_namespaced);
        for c in request.defined_containers() {
            if let Some(mode) = c.proc_mount.as_deref()
                && mode != "Default"
                && !(unmasked_ok && mode == "Unmasked")
            {
                findings.deny(
                    request.field(c, "securityContext.procMount", ""),
                    format!(
                        "container {:?} must not set securityContext.procMount to {mode:?}",
                        c.name
                    ),
                );
            }
            for (paths, required, what, field) in [
                (
                    &c.masked_paths,
                    &settings.required_masked_paths,
                    "masked",
                    "HostConfig.MaskedPaths",
                ),
                (
                    &c.readonly_paths,
                    &settings.required_readonly_paths,
                    "read-only",
                    "HostConfig.ReadonlyPaths",
                ),
            ] {
                let Some(paths) = paths else { continue };
                let kept: Vec<String> = paths.iter().map(|p| normalize(p)).collect();
                let dropped: Vec<&str> = required
                    .iter()
                    .map(String::as_str)
                    .filter(|r| !kept.contains(&normalize(r)))
                    .collect();
                if dropped.is_empty() {
                    continue;
                }
                let message = if paths.is_empty() {
                    format!(
                        "/proc and /sys paths must stay {what} \
                         (--security-opt systempaths=unconfined turns that off)"
                    )
                } else {
                    format!("{} must stay {what}", dropped.join(", "))
                };
                findings.deny(field, message);
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(ProcMount);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn kubernetes_proc_mount_must_be_default() {
        let mut c = container("app", "nginx");
        c.pointer = "/spec/containers/0".into();
        c.proc_mount = Some("Unmasked".into());
        let d = run::<ProcMount>(&pod(vec![c.clone()]), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            "container \"app\" must not set securityContext.procMount to \"Unmasked\""
        );
        assert_eq!(
            d.reasons[0].field,
            "spec.containers[0].securityContext.procMount"
        );
        assert!(
            run::<ProcMount>(&pod(vec![c.clone()]), r#"{"allowUnmasked":true}"#)
                .unwrap()
                .allowed
        );
        let mut user_namespaced = pod(vec![c.clone()]);
        user_namespaced.workload.as_mut().unwrap().namespaces.user = NamespaceMode::Private;
        assert!(run::<ProcMount>(&user_namespaced, "{}").unwrap().allowed);
        let restricted = r#"{"allowUnmaskedInUserNamespace":false}"#;
        assert!(
            !run::<ProcMount>(&user_namespaced, restricted)
                .unwrap()
                .allowed
        );
        c.proc_mount = Some("Default".into());
        assert!(run::<ProcMount>(&pod(vec![c]), "{}").unwrap().allowed);
    }

    #[test]
    fn docker_systempaths_unconfined_is_denied() {
        let mut c = container("", "alpine");
        c.masked_paths = Some(vec![]);
        c.readonly_paths = Some(vec![]);
        let d = run::<ProcMount>(&docker_create(c), "{}").unwrap();
        assert_eq!(d.reasons.len(), 2);
        assert_eq!(
            d.reasons[0].message,
            "/proc and /sys paths must stay masked (--security-opt systempaths=unconfined turns that off)"
        );
    }

    #[test]
    fn docker_shortened_lists_name_what_they_unmask() {
        let mut c = container("", "alpine");
        let mut masked: Vec<String> = DOCKER_MASKED.iter().map(|p| p.to_string()).collect();
        masked.retain(|p| p != "/proc/kcore");
        masked.push("/proc/interrupts".into());
        c.masked_paths = Some(masked.clone());
        let d = run::<ProcMount>(&docker_create(c.clone()), "{}").unwrap();
        assert_eq!(d.reasons[0].message, "/proc/kcore must stay masked");
        masked.push("/proc/./kcore".into());
        c.masked_paths = Some(masked);
        assert!(run::<ProcMount>(&docker_create(c), "{}").unwrap().allowed);
        // Unset lists leave the daemon's defaults in place.
        let plain = container("", "alpine");
        assert!(
            run::<ProcMount>(&docker_create(plain), "{}")
                .unwrap()
                .allowed
        );
    }
}
