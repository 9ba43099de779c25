//! `seccomp`: no container runs without seccomp confinement. Kubernetes: the effective
//! profile (the container's, else the pod's) must not be `Unconfined`, and with
//! `requireProfile` must be `RuntimeDefault` or `Localhost` (the restricted standard). Docker:
//! `--security-opt seccomp=unconfined` is denied (CIS 5.22); a custom profile only with
//! `allowCustomProfiles`.

use portcullis_sdk::prelude::*;
use portcullis_sdk::{Profile, ProfileKind};

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Every container needs an explicit `RuntimeDefault` or `Localhost` profile (Kubernetes).
    pub require_profile: bool,
    /// Allow Docker's custom profiles (`--security-opt seccomp=profile.json`).
    pub allow_custom_profiles: bool,
}

pub struct Seccomp;

impl Policy for Seccomp {
    type Settings = Settings;
    const NAME: &'static str = "seccomp";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let mut findings = Findings::default();
        for c in request.defined_containers() {
            let effective: Option<&Profile> = c
                .seccomp
                .as_ref()
                .or(workload.pod_security.seccomp.as_ref());
            match (request.source, effective.map(|p| p.kind)) {
                (Source::Kubernetes, Some(ProfileKind::Unconfined)) => findings.deny(
                    request.field(c, "securityContext.seccompProfile.type", ""),
                    format!("container {:?} must not run with seccompProfile type Unconfined", c.name),
                ),
                (Source::Kubernetes, Some(ProfileKind::Other)) => findings.deny(
                    request.field(c, "securityContext.seccompProfile.type", ""),
                    format!("container {:?} uses an unknown seccompProfile type {:?}", c.name, effective.map(|p| p.raw.as_str()).unwrap_or_default()),
                ),
                (Source::Kubernetes, None) if settings.require_profile => findings.deny(
                    request.field(c, "securityContext.seccompProfile", ""),
                    format!("pod or container {:?} must set securityContext.seccompProfile.type to RuntimeDefault or Localhost", c.name),
                ),
                (Source::Docker, Some(ProfileKind::Unconfined)) => {
                    findings.deny("HostConfig.SecurityOpt", "seccomp must not be disabled (seccomp=unconfined)")
                }
                (Source::Docker, Some(ProfileKind::Localhost)) if !settings.allow_custom_profiles => findings.deny(
                    "HostConfig.SecurityOpt",
                    "custom seccomp profiles are not allowed (set allowCustomProfiles to permit them)",
                ),
                _ => {}
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(Seccomp);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    fn profile(kind: ProfileKind, raw: &str) -> Option<Profile> {
        Some(Profile {
            kind,
            raw: raw.into(),
            localhost: None,
        })
    }

    #[test]
    fn kubernetes_effective_profile() {
        let mut c = container("app", "nginx");
        c.seccomp = profile(ProfileKind::Unconfined, "Unconfined");
        let d = run::<Seccomp>(&pod(vec![c]), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            r#"container "app" must not run with seccompProfile type Unconfined"#
        );
        // Inherited from the pod.
        let mut req = pod(vec![container("app", "nginx")]);
        req.workload.as_mut().unwrap().pod_security.seccomp =
            profile(ProfileKind::Unconfined, "Unconfined");
        assert!(!run::<Seccomp>(&req, "{}").unwrap().allowed);
        // The container's own profile wins over the pod's.
        req.workload.as_mut().unwrap().containers[0].seccomp =
            profile(ProfileKind::RuntimeDefault, "RuntimeDefault");
        assert!(run::<Seccomp>(&req, "{}").unwrap().allowed);
        // Unset is fine unless a profile is required.
        let plain = pod(vec![container("app", "nginx")]);
        assert!(run::<Seccomp>(&plain, "{}").unwrap().allowed);
        assert!(
            !run::<Seccomp>(&plain, r#"{"requireProfile":true}"#)
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn docker_unconfined_and_custom_profiles() {
        let mut c = container("", "alpine");
        c.seccomp = profile(ProfileKind::Unconfined, "unconfined");
        let d = run::<Seccomp>(&docker_create(c), "{}").unwrap();
        assert_eq!(d.reasons[0].field, "HostConfig.SecurityOpt");
        let mut c = container("", "alpine");
        c.seccomp = profile(
            ProfileKind::Localhost,
            "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
        );
        assert!(
            !run::<Seccomp>(&docker_create(c.clone()), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            run::<Seccomp>(&docker_create(c), r#"{"allowCustomProfiles":true}"#)
                .unwrap()
                .allowed
        );
        assert!(
            run::<Seccomp>(&docker_create(container("", "alpine")), "{}")
                .unwrap()
                .allowed
        );
    }
}
