//! `run-as-non-root`: containers do not run as root. Kubernetes: `runAsNonRoot: true` (the
//! container's or the pod's) and no `runAsUser: 0` (the restricted standard). Docker:
//! `docker exec -u root` / `-u 0` is denied (CIS 5.24); with `requireNonRootUser`, containers
//! must also be created with a non-root `--user`.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Docker: `docker run` must name a non-root user (`--user 1000` or a name other than root).
    pub require_non_root_user: bool,
}

pub struct RunAsNonRoot;

/// Whether a Docker `--user` value is root: `root`, `0`, `root:…`, `0:…`.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user);
    name == "root" || name == "0"
}

impl Policy for RunAsNonRoot {
    type Settings = Settings;
    const NAME: &'static str = "run-as-non-root";

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let Some(workload) = &request.workload else {
            return Decision::allow();
        };
        let mut findings = Findings::default();
        let pod = &workload.pod_security;
        for c in request.containers() {
            match request.source {
                Source::Kubernetes if c.kind != ContainerKind::Exec => {
                    if c.run_as_non_root.or(pod.run_as_non_root) != Some(true) {
                        findings.deny(
                            request.field(c, "securityContext.runAsNonRoot", ""),
                            format!(
                                "pod or container {:?} must set securityContext.runAsNonRoot=true",
                                c.name
                            ),
                        );
                    }
                    if c.run_as_user.or(pod.run_as_user) == Some(0) {
                        findings.deny(
                            request.field(c, "securityContext.runAsUser", ""),
                            format!("container {:?} must not run as user 0", c.name),
                        );
                    }
                }
                Source::Docker if c.kind == ContainerKind::Exec => {
                    if let Some(user) = c.user.as_deref().filter(|u| is_root(u)) {
                        findings.deny("User", format!("exec must not run as root (User={user:?})"));
                    }
                }
                Source::Docker => match c.user.as_deref().filter(|u| !u.is_empty()) {
                    Some(user) if is_root(user) => findings.deny(
                        "User",
                        format!("container must not run as root (User={user:?})"),
                    ),
                    None if settings.require_non_root_user && !request.is_update() => {
                        findings.deny("User", "container must run as a non-root user (--user)")
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        findings.into_decision()
    }
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(RunAsNonRoot);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn kubernetes_inherits_from_the_pod() {
        let mut req = pod(vec![container("app", "nginx")]);
        assert!(!run::<RunAsNonRoot>(&req, "{}").unwrap().allowed);
        req.workload.as_mut().unwrap().pod_security.run_as_non_root = Some(true);
        assert!(run::<RunAsNonRoot>(&req, "{}").unwrap().allowed);
        req.workload.as_mut().unwrap().containers[0].run_as_user = Some(0);
        assert!(!run::<RunAsNonRoot>(&req, "{}").unwrap().allowed);
    }

    #[test]
    fn docker_exec_as_root() {
        for (user, allowed) in [
            ("root", false),
            ("0", false),
            ("0:0", false),
            ("root:wheel", false),
            ("1000", true),
            ("app", true),
        ] {
            let mut c = container("web", "");
            c.kind = ContainerKind::Exec;
            c.user = Some(user.into());
            assert_eq!(
                run::<RunAsNonRoot>(&docker_create(c), "{}")
                    .unwrap()
                    .allowed,
                allowed,
                "{user}"
            );
        }
        let plain = docker_create(container("", "alpine"));
        assert!(run::<RunAsNonRoot>(&plain, "{}").unwrap().allowed);
        assert!(
            !run::<RunAsNonRoot>(&plain, r#"{"requireNonRootUser":true}"#)
                .unwrap()
                .allowed
        );
    }
}
