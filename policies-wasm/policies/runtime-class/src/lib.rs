//! `runtime-class`: workloads must run in a sandbox runtime (gVisor, Kata Containers, ...).
//! Kubernetes `runtimeClassName` and Docker `--runtime` must name one of the allowed runtimes.
//! Pick the namespaces or labels that need a sandbox with the policy's `match` rules.
//!
//! On Docker only container creation chooses a runtime; swarm services cannot, so they are
//! left alone.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// RuntimeClass names (Kubernetes) and runtime names (Docker) that count as sandboxed,
    /// e.g. `[gvisor, kata, runsc]`.
    pub allowed_runtimes: Vec<String>,
}

pub struct RuntimeClass;

impl Policy for RuntimeClass {
    type Settings = Settings;
    const NAME: &'static str = "runtime-class";

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        if settings.allowed_runtimes.is_empty() {
            return Err(SettingsError {
                field: "allowedRuntimes".into(),
                message: "list the sandbox runtimes workloads must use, e.g. [gvisor, runsc]"
                    .into(),
            });
        }
        Ok(())
    }

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let chooses_runtime = match request.source {
            Source::Kubernetes => request.defined_containers().next().is_some(),
            Source::Docker => request.operation == "container-create",
        };
        if !chooses_runtime {
            return Decision::allow();
        }
        let runtime = workload.runtime_class.as_deref();
        if runtime.is_some_and(|r| settings.allowed_runtimes.iter().any(|a| a == r)) {
            return Decision::allow();
        }
        let list = settings.allowed_runtimes.join(", ");
        let (field, message) = match (request.source, runtime) {
            (Source::Kubernetes, None) => (
                "runtimeClassName",
                format!("pod must set spec.runtimeClassName to a sandbox runtime ({list})"),
            ),
            (Source::Kubernetes, Some(r)) => (
                "runtimeClassName",
                format!("runtimeClassName {r:?} is not a sandbox runtime ({list})"),
            ),
            (Source::Docker, None) => (
                "Runtime",
                format!("containers must run in a sandbox runtime (--runtime {list})"),
            ),
            (Source::Docker, Some(r)) => (
                "Runtime",
                format!("runtime {r:?} is not a sandbox runtime ({list})"),
            ),
        };
        let mut findings = Findings::default();
        findings.deny(
            request.workload_field(field, &format!("HostConfig.{field}")),
            message,
        );
        findings.into_decision()
    }
}

portcullis_sdk::policy!(RuntimeClass);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    const SETTINGS: &str = r#"{"allowedRuntimes":["gvisor","runsc"]}"#;

    #[test]
    fn kubernetes_needs_a_sandbox_runtime_class() {
        let mut request = pod(vec![container("app", "nginx")]);
        let d = run::<RuntimeClass>(&request, SETTINGS).unwrap();
        assert_eq!(
            d.reasons[0].message,
            "pod must set spec.runtimeClassName to a sandbox runtime (gvisor, runsc)"
        );
        assert_eq!(d.reasons[0].field, "spec.runtimeClassName");
        request.workload.as_mut().unwrap().runtime_class = Some("gvisor".into());
        assert!(run::<RuntimeClass>(&request, SETTINGS).unwrap().allowed);
    }

    #[test]
    fn docker_runtime_on_create_only() {
        let mut request = docker_create(container("", "alpine"));
        request.workload.as_mut().unwrap().runtime_class = Some("runc".into());
        let d = run::<RuntimeClass>(&request, SETTINGS).unwrap();
        assert_eq!(
            d.reasons[0].message,
            "runtime \"runc\" is not a sandbox runtime (gvisor, runsc)"
        );
        assert_eq!(d.reasons[0].field, "HostConfig.Runtime");
        request.operation = "container-start".into();
        assert!(run::<RuntimeClass>(&request, SETTINGS).unwrap().allowed);
    }

    #[test]
    fn settings_must_name_a_runtime() {
        assert_eq!(
            check_settings::<RuntimeClass>("{}").unwrap_err().field,
            "allowedRuntimes"
        );
    }
}
