//! `sysctls`: kernel parameters a workload sets must be in the safe set the Pod Security
//! Standards define (for the configured standards version) or on the allow list. The same
//! list applies to Kubernetes `securityContext.sysctls` and Docker `--sysctl`.
//!
//! Names written with slashes (`net/ipv4/tcp_syncookies`) are compared in the dotted form the
//! kernel and kubelet resolve them to.

use portcullis_sdk::prelude::*;
use portcullis_sdk::standards::{PSS_LATEST_MINOR, pss_safe_sysctls, pss_version_setting};

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Pod Security Standards version whose safe set applies: `latest` or `v1.N`.
    pub version: Option<String>,
    /// More sysctls to allow: exact names, or a prefix ending in `*` (`kernel.msg*`).
    pub allowed_sysctls: Vec<String>,
}

pub struct Sysctls;

/// The dotted form of a sysctl name: with slashes as separators, dots and slashes swap.
fn dotted(name: &str) -> String {
    if !name.contains('/') {
        return name.to_string();
    }
    name.chars()
        .map(|ch| match ch {
            '/' => '.',
            '.' => '/',
            other => other,
        })
        .collect()
}

fn allowed(name: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(&dotted(prefix)),
        None => dotted(p) == name,
    })
}

impl Policy for Sysctls {
    type Settings = Settings;
    const NAME: &'static str = "sysctls";

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        pss_version_setting(settings.version.as_deref()).map(|_| ())
    }

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        // Settings were checked at load, so the fallback is never taken.
        let minor = pss_version_setting(settings.version.as_deref()).unwrap_or(PSS_LATEST_MINOR);
        let safe = pss_safe_sysctls(minor);
        let forbidden: Vec<String> = workload
            .sysctls
            .iter()
            .map(|s| dotted(&s.name))
            .filter(|name| {
                !safe.contains(&name.as_str()) && !allowed(name, &settings.allowed_sysctls)
            })
            .collect();
        if forbidden.is_empty() {
            return Decision::allow();
        }
        let mut findings = Findings::default();
        findings.deny(
            request.workload_field("securityContext.sysctls", "HostConfig.Sysctls"),
            format!(
                "forbidden sysctls ({}): only the safe set and allowedSysctls may be set",
                forbidden.join(", ")
            ),
        );
        findings.into_decision()
    }
}

portcullis_sdk::policy!(Sysctls);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::Sysctl;
    use portcullis_sdk::testing::*;

    fn with(mut request: Request, names: &[&str]) -> Request {
        request.workload.as_mut().unwrap().sysctls = names
            .iter()
            .map(|n| Sysctl {
                name: n.to_string(),
                value: "1".into(),
            })
            .collect();
        request
    }

    #[test]
    fn only_the_safe_set_by_version() {
        let k8s = |names: &[&str], settings: &str| {
            run::<Sysctls>(&with(pod(vec![container("a", "nginx")]), names), settings).unwrap()
        };
        assert!(k8s(&["net.ipv4.tcp_syncookies", "kernel/shm_rmid_forced"], "{}").allowed);
        let d = k8s(&["kernel.msgmax", "net.ipv4.tcp_syncookies"], "{}");
        assert_eq!(
            d.reasons[0].message,
            "forbidden sysctls (kernel.msgmax): only the safe set and allowedSysctls may be set"
        );
        assert_eq!(d.reasons[0].field, "spec.securityContext.sysctls");
        // tcp_keepalive_time joined the safe set in v1.29.
        assert!(k8s(&["net.ipv4.tcp_keepalive_time"], r#"{"version":"v1.29"}"#).allowed);
        assert!(!k8s(&["net.ipv4.tcp_keepalive_time"], r#"{"version":"v1.28"}"#).allowed);
    }

    #[test]
    fn allow_list_with_prefixes_on_docker() {
        let docker = |names: &[&str], settings: &str| {
            run::<Sysctls>(
                &with(docker_create(container("", "alpine")), names),
                settings,
            )
            .unwrap()
        };
        let d = docker(&["kernel.msgmax"], "{}");
        assert_eq!(d.reasons[0].field, "HostConfig.Sysctls");
        assert!(docker(&["kernel.msgmax"], r#"{"allowedSysctls":["kernel.msg*"]}"#).allowed);
        assert!(!docker(&["kernel.shmmax"], r#"{"allowedSysctls":["kernel.msg*"]}"#).allowed);
        assert!(check_settings::<Sysctls>(r#"{"version":"1.30"}"#).is_err());
    }
}
