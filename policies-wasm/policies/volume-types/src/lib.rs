//! `volume-types`: the kinds of volume a workload may use. On Kubernetes, the volume sources
//! of the Pod Security Standards restricted level by default (no `hostPath`, no network
//! filesystems mounted by the node); on Docker, mount types (`bind`, `volume`, `tmpfs`, ...),
//! all the ordinary ones by default. Which host paths a bind may reach is `host-mounts`'
//! business.

use portcullis_sdk::prelude::*;
use portcullis_sdk::standards::PSS_RESTRICTED_VOLUMES;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Kubernetes volume sources (`configMap`, `hostPath`, `nfs`, ...).
    pub allowed_types: Vec<String>,
    /// Docker mount types (`bind`, `volume`, `tmpfs`, `npipe`, `cluster`, `image`).
    pub allowed_docker_types: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_types: PSS_RESTRICTED_VOLUMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            allowed_docker_types: ["bind", "volume", "tmpfs", "image"]
                .map(str::to_string)
                .to_vec(),
        }
    }
}

pub struct VolumeTypes;

impl Policy for VolumeTypes {
    type Settings = Settings;
    const NAME: &'static str = "volume-types";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let allowed = match request.source {
            Source::Kubernetes => &settings.allowed_types,
            Source::Docker => &settings.allowed_docker_types,
        };
        let mut findings = Findings::default();
        for v in &workload.volumes {
            let fits = match request.source {
                Source::Kubernetes => allowed.contains(&v.source),
                // Docker reads mount types case-insensitively.
                Source::Docker => allowed.iter().any(|a| a.eq_ignore_ascii_case(&v.source)),
            };
            if fits {
                continue;
            }
            let message = match request.source {
                Source::Kubernetes => format!(
                    "volume {:?} uses {}, which is not an allowed volume type ({})",
                    v.name,
                    v.source,
                    allowed.join(", ")
                ),
                Source::Docker => format!(
                    "{} mounts are not allowed (allowed: {})",
                    v.source,
                    allowed.join(", ")
                ),
            };
            findings.deny(portcullis_sdk::pointer_to_path(&v.pointer), message);
        }
        findings.into_decision()
    }
}

portcullis_sdk::policy!(VolumeTypes);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn kubernetes_restricted_list_by_default() {
        let mut request = pod(vec![container("app", "nginx")]);
        let mut volume = host_path_volume("data", "/data", true);
        request.workload.as_mut().unwrap().volumes = vec![volume.clone()];
        let d = run::<VolumeTypes>(&request, "{}").unwrap();
        assert!(
            d.reasons[0]
                .message
                .starts_with("volume \"data\" uses hostPath, which is not an allowed volume type (configMap, csi,"),
            "{}",
            d.reasons[0].message
        );
        assert_eq!(d.reasons[0].field, "spec.volumes[0]");
        volume.source = "emptyDir".into();
        request.workload.as_mut().unwrap().volumes = vec![volume];
        assert!(run::<VolumeTypes>(&request, "{}").unwrap().allowed);
    }

    #[test]
    fn docker_mount_types() {
        let mut request = docker_create(container("", "alpine"));
        let mut bind = host_path_volume("", "/srv", false);
        bind.source = "bind".into();
        bind.pointer = "/HostConfig/Binds/0".into();
        request.workload.as_mut().unwrap().volumes = vec![bind];
        assert!(run::<VolumeTypes>(&request, "{}").unwrap().allowed);
        let d =
            run::<VolumeTypes>(&request, r#"{"allowedDockerTypes":["volume","tmpfs"]}"#).unwrap();
        assert_eq!(
            d.reasons[0].message,
            "bind mounts are not allowed (allowed: volume, tmpfs)"
        );
        assert_eq!(d.reasons[0].field, "HostConfig.Binds[0]");
    }
}
