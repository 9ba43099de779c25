//! `host-mounts`: host paths given to containers — Kubernetes `hostPath` volumes, Docker binds
//! and bind mounts — must lie under an allowed prefix, may be required to be read-only, and
//! never expose a sensitive host path (`/`, the Docker socket, `/etc`, `/proc`, ...) unless
//! that path is listed explicitly.
//!
//! A Kubernetes volume reaches the host through a claim too: the engine sees a
//! `persistentVolumeClaim` through to a `hostPath` or `local` PersistentVolume, and it is
//! decided here as the host path it is (Pod Security Admission does not look through claims,
//! and neither do `pss-baseline`/`pss-restricted`).
//!
//! Defaults follow each door's standard: on Kubernetes no hostPath at all (Pod Security
//! Standards baseline); on Docker any bind except the sensitive paths (CIS 5.6 and 5.32), so
//! `docker run -v "$PWD":/app` keeps working.
//!
//! Paths are compared after normalization (`.`, `..`, `//` resolved by the host). A path is
//! sensitive if it is, lies under, or contains a sensitive path: binding `/var` exposes
//! `/var/run/docker.sock` as surely as binding the socket itself.

use portcullis_sdk::path::{normalize, within};
use portcullis_sdk::prelude::*;

pub const SENSITIVE: &[&str] = &[
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/root",
    "/run",
    "/var/run",
    "/usr",
    "/lib",
    "/var/lib/docker",
    "/var/run/docker.sock",
    "/run/docker.sock",
];

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    pub kubernetes: DoorSettings,
    pub docker: DoorSettings,
    /// Paths never exposed unless listed in `allowedPaths` (replaces the default list).
    pub sensitive_paths: Vec<String>,
    /// Allow shared mount propagation (Docker `shared`/`rshared`, Kubernetes
    /// `Bidirectional`), through which mounts made in the container appear on the host.
    pub allow_shared_propagation: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            kubernetes: DoorSettings::default(),
            docker: DoorSettings::default(),
            sensitive_paths: SENSITIVE.iter().map(|s| s.to_string()).collect(),
            allow_shared_propagation: false,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DoorSettings {
    /// Host paths that may be mounted, with what lies below them.
    pub allowed_paths: Vec<AllowedPath>,
    /// Allow any path that is not sensitive. Default: false on Kubernetes, true on Docker.
    pub allow_any_path: Option<bool>,
    /// Every host path must be mounted read-only.
    pub require_read_only: bool,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowedPath {
    pub path_prefix: String,
    #[serde(default)]
    pub read_only: bool,
}

pub struct HostMounts;

/// The sensitive path `path` exposes, if any: the path itself, else the closest sensitive
/// path it lies inside, else the first sensitive path it contains.
fn exposed_sensitive<'a>(path: &str, sensitive: &'a [String]) -> Option<&'a str> {
    let sensitive = || sensitive.iter().map(String::as_str);
    sensitive()
        .find(|s| *s == path)
        .or_else(|| {
            sensitive()
                .filter(|s| *s != "/" && within(path, s))
                .max_by_key(|s| s.len())
        })
        .or_else(|| sensitive().find(|s| *s != "/" && within(s, path)))
}

impl Policy for HostMounts {
    type Settings = Settings;
    const NAME: &'static str = "host-mounts";

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        for (door, s) in [
            ("kubernetes", &settings.kubernetes),
            ("docker", &settings.docker),
        ] {
            for (i, p) in s.allowed_paths.iter().enumerate() {
                if !p.path_prefix.starts_with('/') {
                    return Err(SettingsError {
                        field: format!("{door}.allowedPaths[{i}].pathPrefix"),
                        message: format!("{:?} is not an absolute path", p.path_prefix),
                    });
                }
            }
        }
        for (i, s) in settings.sensitive_paths.iter().enumerate() {
            if !s.starts_with('/') {
                return Err(SettingsError {
                    field: format!("sensitivePaths[{i}]"),
                    message: format!("{s:?} is not an absolute path"),
                });
            }
        }
        Ok(())
    }

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let (door, allow_any) = match request.source {
            Source::Kubernetes => (
                &settings.kubernetes,
                settings.kubernetes.allow_any_path.unwrap_or(false),
            ),
            Source::Docker => (
                &settings.docker,
                settings.docker.allow_any_path.unwrap_or(true),
            ),
        };
        let sensitive: Vec<String> = settings
            .sensitive_paths
            .iter()
            .map(|s| normalize(s))
            .collect();
        let allowed: Vec<(String, bool)> = door
            .allowed_paths
            .iter()
            .map(|p| (normalize(&p.path_prefix), p.read_only))
            .collect();

        // Any file named docker.sock is the Docker socket, wherever it was bind-mounted from,
        // as long as the socket is on the sensitive list at all.
        let guards_socket = sensitive.iter().any(|s| s.ends_with("/docker.sock"));

        let mut findings = Findings::default();
        for volume in &workload.volumes {
            if let Some(p) = volume.propagation.as_deref()
                && matches!(p, "shared" | "rshared" | "Bidirectional")
                && !settings.allow_shared_propagation
            {
                let shown = match (request.source, &volume.host_path) {
                    (Source::Kubernetes, _) => format!("volume {:?}", volume.name),
                    (Source::Docker, Some(h)) => format!("bind mount of {}", h.normalized),
                    (Source::Docker, None) => format!("mount of {:?}", volume.name),
                };
                findings.deny(
                    portcullis_sdk::pointer_to_path(&volume.pointer),
                    format!(
                        "{shown}: mount propagation must not be shared ({p}): the container's mounts would reach the host"
                    ),
                );
            }
            let Some(host_path) = &volume.host_path else {
                continue;
            };
            let path = host_path.normalized.as_str();
            let field = portcullis_sdk::pointer_to_path(&volume.pointer);
            let shown = describe(request, volume, path);
            let covering: Vec<&(String, bool)> =
                allowed.iter().filter(|(p, _)| within(path, p)).collect();

            if !allow_any && covering.is_empty() {
                let message = if allowed.is_empty() {
                    format!("{shown}: host paths are not allowed")
                } else {
                    let list: Vec<&str> = allowed.iter().map(|(p, _)| p.as_str()).collect();
                    format!("{shown}: not under an allowed path ({})", list.join(", "))
                };
                findings.deny(field, message);
                continue;
            }

            let socket = guards_socket && path.rsplit('/').next() == Some("docker.sock");
            let exposed = exposed_sensitive(path, &sensitive).or(socket.then_some(path));
            if let Some(s) = exposed {
                let explicit = covering
                    .iter()
                    .any(|(p, _)| p == path || (s != "/" && within(p, s)));
                if !explicit {
                    let how = if path == s {
                        "is a sensitive host path".to_string()
                    } else if within(path, s) {
                        format!("lies inside the sensitive host path {s}")
                    } else {
                        format!("contains the sensitive host path {s}")
                    };
                    findings.deny(
                        field,
                        format!("{shown}: {how}; list it in allowedPaths to allow it"),
                    );
                    continue;
                }
            }

            let require_ro = door.require_read_only || covering.iter().any(|(_, ro)| *ro);
            if require_ro && !volume.read_only {
                findings.deny(field, format!("{shown}: must be mounted read-only"));
            }
        }
        findings.into_decision()
    }
}

/// The volume as the user wrote it, and the host path it resolves to when that differs
/// (`/var/run/docker.sock` is `/run/docker.sock` on the host).
fn describe(request: &Request, volume: &Volume, path: &str) -> String {
    let raw = volume
        .host_path
        .as_ref()
        .map(|h| h.raw.trim_end_matches('/'))
        .filter(|r| !r.is_empty() && *r != path);
    match (request.source, raw) {
        (Source::Kubernetes, _) if volume.source != "hostPath" => format!(
            "volume {:?} ({} bound to the host's {path})",
            volume.name, volume.source
        ),
        (Source::Kubernetes, _) => format!("hostPath volume {:?} ({path})", volume.name),
        (Source::Docker, Some(raw)) => format!("bind mount of {raw} (the host's {path})"),
        (Source::Docker, None) => format!("bind mount of {path}"),
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(HostMounts);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    fn with_path(mut req: Request, path: &str, read_only: bool) -> Request {
        let mut v = host_path_volume("host", path, read_only);
        v.host_path.as_mut().unwrap().normalized = normalize(path);
        req.workload.as_mut().unwrap().volumes.push(v);
        req
    }

    fn k8s(path: &str, settings: &str) -> Decision {
        run::<HostMounts>(
            &with_path(pod(vec![container("a", "x")]), path, false),
            settings,
        )
        .unwrap()
    }

    fn docker(path: &str, read_only: bool, settings: &str) -> Decision {
        run::<HostMounts>(
            &with_path(docker_create(container("", "x")), path, read_only),
            settings,
        )
        .unwrap()
    }

    #[test]
    fn kubernetes_denies_every_host_path_by_default() {
        let d = k8s("/a", "{}");
        assert!(!d.allowed);
        assert_eq!(
            d.reasons[0].message,
            r#"hostPath volume "host" (/a): host paths are not allowed"#
        );
        assert_eq!(d.reasons[0].field, "spec.volumes[0]");
    }

    #[test]
    fn docker_allows_ordinary_binds_but_not_sensitive_ones() {
        assert!(docker("/home/user/app", false, "{}").allowed);
        assert!(docker("/srv/data", false, "{}").allowed);
        for path in [
            "/",
            "/etc",
            "/etc/ssl",
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/var",
            "/var/lib",
            "/proc/1",
            "/home/u/.docker/run/docker.sock",
        ] {
            assert!(!docker(path, true, "{}").allowed, "{path}");
        }
        assert!(docker("/etcetera", false, "{}").allowed);
    }

    #[test]
    fn explicit_listing_allows_a_sensitive_path() {
        let s = r#"{"docker":{"allowedPaths":[{"pathPrefix":"/etc/ssl","readOnly":true}]}}"#;
        assert!(docker("/etc/ssl/certs", true, s).allowed);
        let d = docker("/etc/ssl/certs", false, s);
        assert_eq!(
            d.reasons[0].message,
            "bind mount of /etc/ssl/certs: must be mounted read-only"
        );
        assert!(!docker("/etc/passwd", true, s).allowed);
        // Listing / is not listing everything below it.
        assert!(
            !docker(
                "/etc",
                true,
                r#"{"docker":{"allowedPaths":[{"pathPrefix":"/"}]}}"#
            )
            .allowed
        );
    }

    #[test]
    fn kubernetes_allowed_prefixes() {
        let s = r#"{"kubernetes":{"allowedPaths":[{"pathPrefix":"/data"}]}}"#;
        assert!(k8s("/data/x", s).allowed);
        assert!(!k8s("/database", s).allowed);
        assert!(!k8s("/data/../etc", s).allowed);
    }

    #[test]
    fn settings_paths_must_be_absolute() {
        let err =
            check_settings::<HostMounts>(r#"{"docker":{"allowedPaths":[{"pathPrefix":"data"}]}}"#)
                .unwrap_err();
        assert_eq!(err.field, "docker.allowedPaths[0].pathPrefix");
    }

    #[test]
    fn shared_propagation_is_denied_on_both_doors() {
        let mut request = docker_create(container("", "alpine"));
        let mut bind = host_path_volume("", "/srv/data", false);
        bind.source = "bind".into();
        bind.pointer = "/HostConfig/Binds/0".into();
        bind.propagation = Some("rshared".into());
        request.workload.as_mut().unwrap().volumes = vec![bind.clone()];
        let d = HostMounts::validate(&request, &Settings::default());
        assert_eq!(
            d.reasons[0].message,
            "bind mount of /srv/data: mount propagation must not be shared (rshared): the container's mounts would reach the host"
        );
        assert!(
            run::<HostMounts>(&request, r#"{"allowSharedPropagation":true}"#)
                .unwrap()
                .allowed
        );
        bind.propagation = Some("rslave".into());
        request.workload.as_mut().unwrap().volumes = vec![bind];
        assert!(run::<HostMounts>(&request, "{}").unwrap().allowed);
    }

    #[test]
    fn the_socket_rule_follows_the_sensitive_list() {
        let d = docker(
            "/home/me/docker.sock",
            false,
            r#"{"sensitivePaths":["/etc"]}"#,
        );
        assert!(d.allowed, "socket not listed: not guarded");
        let d = docker("/home/me/docker.sock", false, "{}");
        assert!(!d.allowed);
    }
}
