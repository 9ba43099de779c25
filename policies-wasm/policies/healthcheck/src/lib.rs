//! `healthcheck`: containers keep a health check (CIS Docker Benchmark 5.27). Docker requests
//! must not turn the image's health check off (`--no-healthcheck`); with `requireDefined`,
//! every container must define one in the request itself, as a Docker `--health-cmd` or a
//! Kubernetes liveness, readiness or startup probe. A `HEALTHCHECK` in the image cannot be
//! seen from the request, which is why that requirement is a setting.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Every container must define a health check (probe) in the request.
    pub require_defined: bool,
}

pub struct Healthcheck;

impl Policy for Healthcheck {
    type Settings = Settings;
    const NAME: &'static str = "healthcheck";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let mut findings = Findings::default();
        for c in request.defined_containers() {
            // Init and ephemeral containers run to completion or for debugging: no probes.
            if c.kind != ContainerKind::Container {
                continue;
            }
            if c.health_check_disabled {
                findings.deny(
                    "Config.Healthcheck.Test",
                    "the image's health check must not be turned off (--no-healthcheck)",
                );
                continue;
            }
            if settings.require_defined && c.health_checks.is_empty() {
                let (field, message) = match request.source {
                    Source::Kubernetes => (
                        request.field(c, "livenessProbe", ""),
                        format!(
                            "container {:?} must define a livenessProbe, readinessProbe or startupProbe",
                            c.name
                        ),
                    ),
                    Source::Docker => (
                        "Config.Healthcheck".to_string(),
                        "containers must define a health check (--health-cmd)".to_string(),
                    ),
                };
                findings.deny(field, message);
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(Healthcheck);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn docker_no_healthcheck_is_denied() {
        let mut c = container("", "nginx");
        assert!(
            run::<Healthcheck>(&docker_create(c.clone()), "{}")
                .unwrap()
                .allowed
        );
        c.health_check_disabled = true;
        let d = run::<Healthcheck>(&docker_create(c), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            "the image's health check must not be turned off (--no-healthcheck)"
        );
    }

    #[test]
    fn required_checks_on_both_doors() {
        let required = r#"{"requireDefined":true}"#;
        let mut c = container("web", "nginx");
        c.pointer = "/spec/containers/0".into();
        let d = run::<Healthcheck>(&pod(vec![c.clone()]), required).unwrap();
        assert_eq!(
            d.reasons[0].message,
            "container \"web\" must define a livenessProbe, readinessProbe or startupProbe"
        );
        assert_eq!(d.reasons[0].field, "spec.containers[0].livenessProbe");
        c.health_checks = vec!["readinessProbe".into()];
        assert!(run::<Healthcheck>(&pod(vec![c]), required).unwrap().allowed);
        let d = run::<Healthcheck>(&docker_create(container("", "nginx")), required).unwrap();
        assert_eq!(d.reasons[0].field, "Config.Healthcheck");
    }
}
