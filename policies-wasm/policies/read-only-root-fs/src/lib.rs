//! `read-only-root-fs`: containers run with a read-only root filesystem, so what an attacker
//! writes cannot persist in the image layer. Kubernetes `readOnlyRootFilesystem: true`; Docker
//! `--read-only` (CIS 5.13).

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {}

pub struct ReadOnlyRootFs;

impl Policy for ReadOnlyRootFs {
    type Settings = Settings;
    const NAME: &'static str = "read-only-root-fs";

    fn validate(request: &Request, _settings: &Settings) -> Decision {
        let mut findings = Findings::default();
        for c in request.defined_containers() {
            if c.read_only_root_filesystem == Some(true) {
                continue;
            }
            match request.source {
                Source::Kubernetes => findings.deny(
                    request.field(c, "securityContext.readOnlyRootFilesystem", ""),
                    format!(
                        "container {:?} must set securityContext.readOnlyRootFilesystem=true",
                        c.name
                    ),
                ),
                Source::Docker => findings.deny(
                    "HostConfig.ReadonlyRootfs",
                    "containers must run with a read-only root filesystem (--read-only)",
                ),
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(ReadOnlyRootFs);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn read_only_required() {
        let mut c = container("app", "nginx");
        let d = run::<ReadOnlyRootFs>(&pod(vec![c.clone()]), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            r#"container "app" must set securityContext.readOnlyRootFilesystem=true"#
        );
        c.read_only_root_filesystem = Some(true);
        assert!(
            run::<ReadOnlyRootFs>(&pod(vec![c.clone()]), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            run::<ReadOnlyRootFs>(&docker_create(c), "{}")
                .unwrap()
                .allowed
        );
        assert!(
            !run::<ReadOnlyRootFs>(&docker_create(container("", "alpine")), "{}")
                .unwrap()
                .allowed
        );
    }
}
