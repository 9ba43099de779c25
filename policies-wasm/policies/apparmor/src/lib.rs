//! `apparmor`: no container runs unconfined by AppArmor. Kubernetes: the `appArmorProfile`
//! fields (container, else pod) and the legacy per-container annotations must be
//! `RuntimeDefault` or `Localhost` (Pod Security Standards baseline). Docker:
//! `--security-opt apparmor=unconfined` is denied (CIS 5.2).

use portcullis_sdk::ProfileKind;
use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Localhost profiles that may be used; empty allows any.
    pub allowed_localhost_profiles: Vec<String>,
}

pub struct AppArmor;

impl Policy for AppArmor {
    type Settings = Settings;
    const NAME: &'static str = "apparmor";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let mut findings = Findings::default();
        for c in request.defined_containers() {
            let Some(profile) = c
                .apparmor
                .as_ref()
                .or(workload.pod_security.apparmor.as_ref())
            else {
                continue;
            };
            let field = request.field(
                c,
                "securityContext.appArmorProfile.type",
                "HostConfig.SecurityOpt",
            );
            match profile.kind {
                ProfileKind::RuntimeDefault => {}
                ProfileKind::Localhost => {
                    let name = profile.localhost.as_deref().unwrap_or_default();
                    if !settings.allowed_localhost_profiles.is_empty()
                        && !settings
                            .allowed_localhost_profiles
                            .iter()
                            .any(|p| p == name)
                    {
                        findings.deny(
                            field,
                            format!("AppArmor profile {name:?} is not an allowed profile"),
                        );
                    }
                }
                ProfileKind::Unconfined | ProfileKind::Other => match request.source {
                    Source::Kubernetes => findings.deny(
                        field,
                        format!(
                            "container {:?} must not use AppArmor profile {:?}",
                            c.name, profile.raw
                        ),
                    ),
                    Source::Docker => findings.deny(
                        field,
                        format!("AppArmor must not be disabled (apparmor={})", profile.raw),
                    ),
                },
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(AppArmor);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::Profile;
    use portcullis_sdk::testing::*;

    fn with(kind: ProfileKind, raw: &str, localhost: Option<&str>) -> portcullis_sdk::Container {
        let mut c = container("app", "nginx");
        c.apparmor = Some(Profile {
            kind,
            raw: raw.into(),
            localhost: localhost.map(str::to_string),
        });
        c
    }

    #[test]
    fn unconfined_is_denied_on_both_doors() {
        let d = run::<AppArmor>(
            &pod(vec![with(ProfileKind::Unconfined, "unconfined", None)]),
            "{}",
        )
        .unwrap();
        assert_eq!(
            d.reasons[0].message,
            r#"container "app" must not use AppArmor profile "unconfined""#
        );
        let d = run::<AppArmor>(
            &docker_create(with(ProfileKind::Unconfined, "unconfined", None)),
            "{}",
        )
        .unwrap();
        assert_eq!(d.reasons[0].field, "HostConfig.SecurityOpt");
        assert!(
            run::<AppArmor>(
                &pod(vec![with(
                    ProfileKind::RuntimeDefault,
                    "runtime/default",
                    None
                )]),
                "{}"
            )
            .unwrap()
            .allowed
        );
        let local = pod(vec![with(
            ProfileKind::Localhost,
            "localhost/k8s-nginx",
            Some("k8s-nginx"),
        )]);
        assert!(run::<AppArmor>(&local, "{}").unwrap().allowed);
        assert!(
            !run::<AppArmor>(&local, r#"{"allowedLocalhostProfiles":["other"]}"#)
                .unwrap()
                .allowed
        );
    }
}
