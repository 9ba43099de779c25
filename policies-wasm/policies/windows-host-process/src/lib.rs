//! `windows-host-process`: Windows HostProcess containers run as processes on the node, with
//! its full access; Pod Security Standards baseline forbids them. Kubernetes only: Docker has
//! no such mode. No settings.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {}

pub struct WindowsHostProcess;

impl Policy for WindowsHostProcess {
    type Settings = Settings;
    const NAME: &'static str = "windows-host-process";
    const SOURCES: &'static [Source] = &[Source::Kubernetes];

    fn validate(request: &Request, _: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let mut findings = Findings::default();
        if workload.pod_security.windows_host_process == Some(true) {
            findings.deny(
                request.workload_field("securityContext.windowsOptions.hostProcess", ""),
                "pod must not set securityContext.windowsOptions.hostProcess=true",
            );
        }
        for c in request.defined_containers() {
            if c.windows_host_process == Some(true) {
                findings.deny(
                    request.field(c, "securityContext.windowsOptions.hostProcess", ""),
                    format!(
                        "container {:?} must not set securityContext.windowsOptions.hostProcess=true",
                        c.name
                    ),
                );
            }
        }
        findings.into_decision()
    }
}

portcullis_sdk::policy!(WindowsHostProcess);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn host_process_is_denied_at_pod_and_container_level() {
        let mut c = container("app", "mcr.microsoft.com/windows/nanoserver");
        c.pointer = "/spec/containers/0".into();
        assert!(
            run::<WindowsHostProcess>(&pod(vec![c.clone()]), "{}")
                .unwrap()
                .allowed
        );
        c.windows_host_process = Some(true);
        let mut request = pod(vec![c]);
        request
            .workload
            .as_mut()
            .unwrap()
            .pod_security
            .windows_host_process = Some(true);
        let d = run::<WindowsHostProcess>(&request, "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            "pod must not set securityContext.windowsOptions.hostProcess=true"
        );
        assert_eq!(
            d.reasons[1].field,
            "spec.containers[0].securityContext.windowsOptions.hostProcess"
        );
    }
}
