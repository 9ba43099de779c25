//! `host-namespaces`: no sharing of the host's PID, IPC, network, UTS, user or cgroup
//! namespace. Each can be allowed by a setting. Sharing with another container (Docker
//! `--pid container:db`) is not the host's namespace and is allowed.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    #[serde(rename = "allowHostPID")]
    pub allow_host_pid: bool,
    #[serde(rename = "allowHostIPC")]
    pub allow_host_ipc: bool,
    #[serde(rename = "allowHostNetwork")]
    pub allow_host_network: bool,
    #[serde(rename = "allowHostUTS")]
    pub allow_host_uts: bool,
    #[serde(rename = "allowHostUsers")]
    pub allow_host_users: bool,
    #[serde(rename = "allowHostCgroup")]
    pub allow_host_cgroup: bool,
}

pub struct HostNamespaces;

/// One namespace: how it is read, whether it is allowed, and how each door spells it.
struct Check<'a> {
    mode: &'a NamespaceMode,
    allowed: bool,
    kubernetes: &'static str,
    docker: &'static str,
    what: &'static str,
}

impl Policy for HostNamespaces {
    type Settings = Settings;
    const NAME: &'static str = "host-namespaces";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let ns = &workload.namespaces;
        let checks = [
            Check {
                mode: &ns.pid,
                allowed: settings.allow_host_pid,
                kubernetes: "hostPID",
                docker: "PidMode",
                what: "process",
            },
            Check {
                mode: &ns.ipc,
                allowed: settings.allow_host_ipc,
                kubernetes: "hostIPC",
                docker: "IpcMode",
                what: "IPC",
            },
            Check {
                mode: &ns.network,
                allowed: settings.allow_host_network,
                kubernetes: "hostNetwork",
                docker: "NetworkMode",
                what: "network",
            },
            Check {
                mode: &ns.uts,
                allowed: settings.allow_host_uts,
                kubernetes: "hostUTS",
                docker: "UTSMode",
                what: "UTS",
            },
            Check {
                mode: &ns.user,
                allowed: settings.allow_host_users,
                kubernetes: "hostUsers",
                docker: "UsernsMode",
                what: "user",
            },
            Check {
                mode: &ns.cgroup,
                allowed: settings.allow_host_cgroup,
                kubernetes: "hostCgroup",
                docker: "CgroupnsMode",
                what: "cgroup",
            },
        ];
        let mut findings = Findings::default();
        for check in checks {
            if *check.mode != NamespaceMode::Host || check.allowed {
                continue;
            }
            let field =
                request.workload_field(check.kubernetes, &format!("HostConfig.{}", check.docker));
            let message = match request.source {
                Source::Kubernetes => format!(
                    "{}=true shares the host's {} namespace, which is not allowed",
                    check.kubernetes, check.what
                ),
                Source::Docker => format!(
                    "{}=host shares the host's {} namespace, which is not allowed",
                    check.docker, check.what
                ),
            };
            findings.deny(field, message);
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(HostNamespaces);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn each_host_namespace_is_denied_with_its_field() {
        let mut req = pod(vec![container("a", "x")]);
        let w = req.workload.as_mut().unwrap();
        w.namespaces.network = NamespaceMode::Host;
        w.namespaces.pid = NamespaceMode::Host;
        let d = run::<HostNamespaces>(&req, "{}").unwrap();
        let fields: Vec<_> = d.reasons.iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["spec.hostPID", "spec.hostNetwork"]);
        assert_eq!(
            d.reasons[1].message,
            "hostNetwork=true shares the host's network namespace, which is not allowed"
        );
    }

    #[test]
    fn settings_allow_one_namespace() {
        let mut req = docker_create(container("", "x"));
        req.workload.as_mut().unwrap().namespaces.network = NamespaceMode::Host;
        assert!(!run::<HostNamespaces>(&req, "{}").unwrap().allowed);
        assert!(
            run::<HostNamespaces>(&req, r#"{"allowHostNetwork":true}"#)
                .unwrap()
                .allowed
        );
        let d = run::<HostNamespaces>(&req, "{}").unwrap();
        assert_eq!(d.reasons[0].field, "HostConfig.NetworkMode");
    }

    #[test]
    fn sharing_with_a_container_is_not_the_host() {
        let mut req = docker_create(container("", "x"));
        req.workload.as_mut().unwrap().namespaces.pid = NamespaceMode::Container("db".into());
        assert!(run::<HostNamespaces>(&req, "{}").unwrap().allowed);
    }
}
