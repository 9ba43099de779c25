//! `restart-policy`: a container that keeps failing must not be restarted without end (CIS
//! Docker Benchmark 5.15: `on-failure` with at most 5 retries). Docker `--restart on-failure:N`
//! on create and `docker update --restart`; `on-failure` without a count retries forever and is
//! denied too. `allowedPolicies` can also limit which policies may be chosen, on either door
//! (Kubernetes pod `restartPolicy`).

use portcullis_sdk::prelude::*;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// The most retries `on-failure` may ask for.
    pub max_retries: u32,
    /// Restart policies that may be chosen, e.g. `[no, on-failure, Never, OnFailure]`.
    /// Compared without case and dashes. Empty: any.
    pub allowed_policies: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_retries: 5,
            allowed_policies: Vec::new(),
        }
    }
}

pub struct RestartPolicy;

fn canonical(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "")
}

impl Policy for RestartPolicy {
    type Settings = Settings;
    const NAME: &'static str = "restart-policy";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(policy) = request
            .workload
            .as_ref()
            .and_then(|w| w.restart_policy.as_ref())
        else {
            return Decision::allow();
        };
        // A create carries it in HostConfig, an update at the top level.
        let prefix = if request.is_update() {
            ""
        } else {
            "HostConfig."
        };
        let mut findings = Findings::default();
        if !settings.allowed_policies.is_empty()
            && !settings
                .allowed_policies
                .iter()
                .any(|a| canonical(a) == canonical(&policy.name))
        {
            findings.deny(
                request.workload_field("restartPolicy", &format!("{prefix}RestartPolicy.Name")),
                format!(
                    "restart policy {:?} is not allowed ({})",
                    policy.name,
                    settings.allowed_policies.join(", ")
                ),
            );
        }
        if request.source == Source::Docker && policy.name == "on-failure" {
            let max = settings.max_retries;
            let retries = policy.maximum_retry_count.unwrap_or(0);
            let shown = if retries == 0 {
                "unlimited".to_string()
            } else {
                retries.to_string()
            };
            if retries == 0 || retries > max {
                findings.deny(
                    format!("{prefix}RestartPolicy.MaximumRetryCount"),
                    format!(
                        "on-failure restarts must be limited to {max} retries, not {shown} (--restart on-failure:{max})"
                    ),
                );
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(RestartPolicy);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    fn docker(name: &str, count: Option<u32>, operation: &str) -> Request {
        let mut request = docker_create(container("", "nginx"));
        request.operation = operation.into();
        request.workload.as_mut().unwrap().restart_policy = Some(portcullis_sdk::RestartPolicy {
            name: name.into(),
            maximum_retry_count: count,
        });
        request
    }

    #[test]
    fn on_failure_retries_are_bounded() {
        let d = run::<RestartPolicy>(&docker("on-failure", Some(10), "container-create"), "{}")
            .unwrap();
        assert_eq!(
            d.reasons[0].message,
            "on-failure restarts must be limited to 5 retries, not 10 (--restart on-failure:5)"
        );
        assert_eq!(
            d.reasons[0].field,
            "HostConfig.RestartPolicy.MaximumRetryCount"
        );
        let d =
            run::<RestartPolicy>(&docker("on-failure", Some(0), "container-update"), "{}").unwrap();
        assert!(d.reasons[0].message.contains("not unlimited"));
        assert_eq!(d.reasons[0].field, "RestartPolicy.MaximumRetryCount");
        for ok in [
            docker("on-failure", Some(5), "container-create"),
            docker("always", None, "container-create"),
            docker("no", Some(0), "container-create"),
        ] {
            assert!(run::<RestartPolicy>(&ok, "{}").unwrap().allowed);
        }
        assert!(
            run::<RestartPolicy>(
                &docker("on-failure", Some(10), "container-create"),
                r#"{"maxRetries":10}"#
            )
            .unwrap()
            .allowed
        );
    }

    #[test]
    fn allowed_policies_on_kubernetes() {
        let mut request = pod(vec![container("a", "nginx")]);
        request.workload.as_mut().unwrap().restart_policy = Some(portcullis_sdk::RestartPolicy {
            name: "Always".into(),
            maximum_retry_count: None,
        });
        let settings = r#"{"allowedPolicies":["OnFailure","never"]}"#;
        let d = run::<RestartPolicy>(&request, settings).unwrap();
        assert_eq!(
            d.reasons[0].message,
            "restart policy \"Always\" is not allowed (OnFailure, never)"
        );
        assert_eq!(d.reasons[0].field, "spec.restartPolicy");
        request
            .workload
            .as_mut()
            .unwrap()
            .restart_policy
            .as_mut()
            .unwrap()
            .name = "Never".into();
        assert!(run::<RestartPolicy>(&request, settings).unwrap().allowed);
    }
}
