//! `host-ports`: ports published on the host. Kubernetes: `hostPort` only within allowed
//! ranges (default none, the Pod Security Standards baseline). Docker: published ports must
//! bind to an allowed host IP (CIS 5.14: not every interface) and lie in allowed ranges;
//! privileged host ports (below 1024) only if allowed (CIS 5.8); `--publish-all` publishes on
//! every interface.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Host ports that may be used, as `[from, to]` ranges. Kubernetes default: none.
    pub allowed_ranges: Vec<[u32; 2]>,
    /// Docker: host IPs a port may bind to (e.g. `127.0.0.1`). Empty: any specific address,
    /// but never every interface (`0.0.0.0`, `::` or none given).
    #[serde(rename = "allowedHostIPs")]
    pub allowed_host_ips: Vec<String>,
    /// Docker: allow binding every interface.
    pub allow_all_interfaces: bool,
    /// Allow host ports below 1024.
    pub allow_privileged_ports: bool,
}

pub struct HostPorts;

impl Policy for HostPorts {
    type Settings = Settings;
    const NAME: &'static str = "host-ports";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let in_range = |p: u32| {
            settings
                .allowed_ranges
                .iter()
                .any(|[a, b]| *a <= p && p <= *b)
        };
        let mut findings = Findings::default();
        for c in request.containers() {
            for port in &c.ports {
                let Some(host_port) = port.host_port else {
                    continue;
                };
                match request.source {
                    Source::Kubernetes => {
                        if !in_range(host_port) {
                            findings.deny(
                                request.field(c, "ports", ""),
                                format!("container {:?} must not use hostPort {host_port}", c.name),
                            );
                        }
                    }
                    Source::Docker => {
                        let ip = port.host_ip.as_deref().unwrap_or("");
                        let every = matches!(ip, "" | "0.0.0.0" | "::" | "[::]");
                        if every && !settings.allow_all_interfaces {
                            findings.deny(
                                "HostConfig.PortBindings",
                                format!(
                                    "port {}/{} is published on every host interface; bind it to one address (-p 127.0.0.1:{}:{})",
                                    port.container_port,
                                    port.protocol,
                                    // A random host port stays random: `-p 127.0.0.1::80`.
                                    if host_port == 0 { String::new() } else { host_port.to_string() },
                                    port.container_port
                                ),
                            );
                        } else if !every
                            && !settings.allowed_host_ips.is_empty()
                            && !settings.allowed_host_ips.iter().any(|a| a == ip)
                        {
                            findings.deny(
                                "HostConfig.PortBindings",
                                format!("host IP {ip} is not allowed for published ports"),
                            );
                        }
                        if host_port != 0 && host_port < 1024 && !settings.allow_privileged_ports {
                            findings.deny(
                                "HostConfig.PortBindings",
                                format!("privileged host port {host_port} must not be published"),
                            );
                        }
                        if host_port != 0
                            && !settings.allowed_ranges.is_empty()
                            && !in_range(host_port)
                        {
                            findings.deny(
                                "HostConfig.PortBindings",
                                format!("host port {host_port} is outside the allowed ranges"),
                            );
                        }
                    }
                }
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(HostPorts);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::Port;
    use portcullis_sdk::testing::*;

    fn publishing(host_ip: Option<&str>, host_port: u32) -> portcullis_sdk::Container {
        let mut c = container("app", "nginx");
        c.ports = vec![Port {
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: host_ip.map(str::to_string),
            host_port: Some(host_port),
        }];
        c
    }

    #[test]
    fn kubernetes_host_ports_need_a_range() {
        assert!(
            !run::<HostPorts>(&pod(vec![publishing(None, 8080)]), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            run::<HostPorts>(
                &pod(vec![publishing(None, 8080)]),
                r#"{"allowedRanges":[[8000,9000]]}"#
            )
            .unwrap()
            .allowed
        );
    }

    #[test]
    fn docker_interfaces_and_privileged_ports() {
        assert!(
            run::<HostPorts>(&docker_create(publishing(Some("127.0.0.1"), 8080)), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            !run::<HostPorts>(&docker_create(publishing(Some(""), 8080)), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            !run::<HostPorts>(&docker_create(publishing(Some("0.0.0.0"), 8080)), "{}")
                .unwrap()
                .allowed
        );
        let d = run::<HostPorts>(&docker_create(publishing(Some("127.0.0.1"), 80)), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            "privileged host port 80 must not be published"
        );
        let s = r#"{"allowedHostIPs":["10.0.0.5"]}"#;
        assert!(
            !run::<HostPorts>(&docker_create(publishing(Some("127.0.0.1"), 8080)), s)
                .unwrap()
                .allowed
        );
    }
}
