//! `pss`: the Pod Security Standards, every check of a level, decided as Kubernetes' Pod
//! Security Admission decides them (its checks as of v1.37, with their version history), and
//! reported the way PSA reports them: `privileged (container "x" must not set
//! securityContext.privileged=true)`.
//!
//! Shipped as `builtin:pss-baseline` and `builtin:pss-restricted` (this module with `level`
//! preset). Kubernetes only: the standards are defined on pod specs.

mod checks;
mod raw;

use portcullis_sdk::prelude::*;

pub use portcullis_sdk::standards::{
    PSS_LATEST_MINOR as LATEST_MINOR, pss_version as parse_version,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Privileged,
    #[default]
    Baseline,
    Restricted,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub level: Level,
    /// `latest` or `v1.N`, like PSA's `pod-security.kubernetes.io/enforce-version`.
    pub version: Option<String>,
}

impl Settings {
    pub fn minor(&self) -> Result<u32, SettingsError> {
        portcullis_sdk::standards::pss_version_setting(self.version.as_deref())
    }
}

pub struct Pss;

impl Policy for Pss {
    type Settings = Settings;
    const NAME: &'static str = "pss";
    const SOURCES: &'static [Source] = &[Source::Kubernetes];

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        settings.minor().map(|_| ())
    }

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        if workload
            .containers
            .iter()
            .all(|c| c.kind == ContainerKind::Exec)
        {
            return Decision::allow();
        }
        let minor = settings.minor().unwrap_or(LATEST_MINOR);
        let spec = match raw::pod_spec_at(&request.object, &workload.pointer) {
            Ok(spec) => spec,
            Err(e) => {
                return Decision::deny(vec![portcullis_sdk::Reason {
                    message: format!("cannot read the pod spec: {e}"),
                    field: portcullis_sdk::pointer_to_path(&workload.pointer),
                }]);
            }
        };
        let failures = checks::evaluate(settings.level, minor, workload, &spec);
        if failures.is_empty() {
            return Decision::allow();
        }
        let level = match settings.level {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        };
        let version =
            if minor == LATEST_MINOR && settings.version.as_deref().is_none_or(|v| v == "latest") {
                "latest".to_string()
            } else {
                format!("v1.{minor}")
            };
        let mut decision = Decision::deny(
            failures
                .into_iter()
                .map(|f| portcullis_sdk::Reason {
                    message: format!("{} ({})", f.check, f.details.join(", ")),
                    field: f
                        .field
                        .map(|p| portcullis_sdk::pointer_to_path(&p))
                        .unwrap_or_default(),
                })
                .collect(),
        );
        decision.message = format!("violates PodSecurity \"{level}:{version}\"");
        decision
    }
}

portcullis_sdk::policy!(Pss);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("latest"), Ok(LATEST_MINOR));
        assert_eq!(parse_version("v1.30"), Ok(30));
        assert_eq!(
            parse_version("v1.99"),
            Ok(LATEST_MINOR),
            "newer than known: decided as the newest"
        );
        assert!(parse_version("1.30").is_err());
        let err = check_settings::<Pss>(r#"{"level":"restricted","version":"1.30"}"#).unwrap_err();
        assert_eq!(err.field, "version");
    }

    #[test]
    fn restricted_names_each_failing_check_like_psa() {
        let mut c = container("app", "nginx");
        c.privileged = Some(true);
        let d = run::<Pss>(&pod(vec![c]), r#"{"level":"restricted"}"#).unwrap();
        let checks: Vec<&str> = d
            .reasons
            .iter()
            .map(|r| r.message.split(" (").next().unwrap())
            .collect();
        assert_eq!(
            checks,
            [
                "privileged",
                "seccompProfile",
                "runAsNonRoot != true",
                "allowPrivilegeEscalation != false",
                "unrestricted capabilities"
            ]
        );
        assert_eq!(d.message, "violates PodSecurity \"restricted:latest\"");
        assert!(
            run::<Pss>(
                &pod(vec![container("app", "nginx")]),
                r#"{"level":"privileged"}"#
            )
            .unwrap()
            .allowed
        );
    }

    #[test]
    fn a_pod_spec_that_cannot_be_read_is_denied() {
        let mut request = pod(vec![container("app", "nginx")]);
        request.object = r#"{"kind":"Pod","spec":{"os":{"name":["windows"]}}}"#.into();
        let d = run::<Pss>(&request, r#"{"level":"baseline"}"#).unwrap();
        assert!(!d.allowed);
        assert!(
            d.reasons[0]
                .message
                .starts_with("cannot read the pod spec: invalid type: sequence"),
            "{:?}",
            d.reasons
        );
        assert_eq!(d.reasons[0].field, "spec");
    }
}
