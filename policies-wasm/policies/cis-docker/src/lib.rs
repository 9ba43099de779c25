//! `cis-docker`: every CIS Docker Benchmark v1.6.0 section 5 control that a create, update or
//! exec request shows enough of to decide (see `docs/policies/cis-docker.md` for the others),
//! each decided by the built-in policy named beside it, preset for the control.

use portcullis_bundle::{Bundle, Control, check, control, on_exec};
use portcullis_sdk::Source;

// The single-check policies, compiled from their own sources rather than linked as crates:
// cargo builds a dependency's every crate type, and each would be a component with nothing
// to export.
#[path = "../../apparmor/src/lib.rs"]
pub mod apparmor;
#[path = "../../capabilities/src/lib.rs"]
pub mod capabilities;
#[path = "../../devices/src/lib.rs"]
pub mod devices;
#[path = "../../healthcheck/src/lib.rs"]
pub mod healthcheck;
#[path = "../../host-mounts/src/lib.rs"]
pub mod host_mounts;
#[path = "../../host-namespaces/src/lib.rs"]
pub mod host_namespaces;
#[path = "../../host-ports/src/lib.rs"]
pub mod host_ports;
#[path = "../../privilege-escalation/src/lib.rs"]
pub mod privilege_escalation;
#[path = "../../privileged/src/lib.rs"]
pub mod privileged;
#[path = "../../read-only-root-fs/src/lib.rs"]
pub mod read_only_root_fs;
#[path = "../../resource-limits/src/lib.rs"]
pub mod resource_limits;
#[path = "../../restart-policy/src/lib.rs"]
pub mod restart_policy;
#[path = "../../run-as-non-root/src/lib.rs"]
pub mod run_as_non_root;
#[path = "../../seccomp/src/lib.rs"]
pub mod seccomp;
#[path = "../../selinux/src/lib.rs"]
pub mod selinux;

use apparmor::AppArmor;
use capabilities::Capabilities;
use devices::Devices;
use healthcheck::Healthcheck;
use host_mounts::HostMounts;
use host_namespaces::HostNamespaces;
use host_ports::HostPorts;
use privilege_escalation::PrivilegeEscalation;
use privileged::Privileged;
use read_only_root_fs::ReadOnlyRootFs;
use resource_limits::ResourceLimits;
use restart_policy::RestartPolicy;
use run_as_non_root::RunAsNonRoot;
use seccomp::Seccomp;
use selinux::Selinux;

pub const CIS_DOCKER: Bundle = Bundle {
    name: "cis-docker",
    version: env!("CARGO_PKG_VERSION"),
    summary: "violates CIS Docker Benchmark v1.6.0 section 5",
    sources: &[Source::Docker],
    controls: CONTROLS,
};

const CONTROLS: &[Control] = &[
    control("5.2", "apparmor", "apparmor", check::<AppArmor>(), "{}"),
    control("5.3", "selinux", "selinux", check::<Selinux>(), "{}"),
    // Docker's default capability set: the Pod Security baseline list plus NET_RAW.
    control(
        "5.4",
        "capabilities",
        "capabilities",
        check::<Capabilities>(),
        r#"{"allowedCapabilities":["AUDIT_WRITE","CHOWN","DAC_OVERRIDE","FOWNER","FSETID","KILL","MKNOD","NET_BIND_SERVICE","NET_RAW","SETFCAP","SETGID","SETPCAP","SETUID","SYS_CHROOT"]}"#,
    ),
    control(
        "5.5",
        "privileged",
        "privileged",
        check::<Privileged>(),
        "{}",
    ),
    control(
        "5.6",
        "sensitive host directories",
        "host-mounts",
        check::<HostMounts>(),
        r#"{"sensitivePaths":["/","/boot","/dev","/etc","/lib","/proc","/sys","/usr"],"allowSharedPropagation":true}"#,
    ),
    control(
        "5.8",
        "privileged ports",
        "host-ports",
        check::<HostPorts>(),
        r#"{"allowAllInterfaces":true}"#,
    ),
    control(
        "5.10",
        "host network",
        "host-namespaces",
        check::<HostNamespaces>(),
        r#"{"allowHostPID":true,"allowHostIPC":true,"allowHostUTS":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
    ),
    control(
        "5.11",
        "memory limit",
        "resource-limits",
        check::<ResourceLimits>(),
        r#"{"requireMemory":true,"requireCpu":false,"requirePids":false}"#,
    ),
    control(
        "5.12",
        "cpu priority",
        "resource-limits",
        check::<ResourceLimits>(),
        r#"{"requireMemory":false,"requireCpu":true,"requirePids":false}"#,
    ),
    control(
        "5.13",
        "read-only root filesystem",
        "read-only-root-fs",
        check::<ReadOnlyRootFs>(),
        "{}",
    ),
    control(
        "5.14",
        "host interface",
        "host-ports",
        check::<HostPorts>(),
        r#"{"allowPrivilegedPorts":true}"#,
    ),
    control(
        "5.15",
        "restart policy",
        "restart-policy",
        check::<RestartPolicy>(),
        "{}",
    ),
    control(
        "5.16",
        "host pid",
        "host-namespaces",
        check::<HostNamespaces>(),
        r#"{"allowHostNetwork":true,"allowHostIPC":true,"allowHostUTS":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
    ),
    control(
        "5.17",
        "host ipc",
        "host-namespaces",
        check::<HostNamespaces>(),
        r#"{"allowHostNetwork":true,"allowHostPID":true,"allowHostUTS":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
    ),
    control("5.18", "host devices", "devices", check::<Devices>(), "{}"),
    control(
        "5.20",
        "mount propagation",
        "host-mounts",
        check::<HostMounts>(),
        r#"{"sensitivePaths":[],"allowSharedPropagation":false}"#,
    ),
    control(
        "5.21",
        "host uts",
        "host-namespaces",
        check::<HostNamespaces>(),
        r#"{"allowHostNetwork":true,"allowHostPID":true,"allowHostIPC":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
    ),
    control("5.22", "seccomp", "seccomp", check::<Seccomp>(), "{}"),
    on_exec(control(
        "5.23",
        "exec privileged",
        "privileged",
        check::<Privileged>(),
        "{}",
    )),
    on_exec(control(
        "5.24",
        "exec as root",
        "run-as-non-root",
        check::<RunAsNonRoot>(),
        "{}",
    )),
    control(
        "5.25",
        "cgroup parent",
        "resource-limits",
        check::<ResourceLimits>(),
        r#"{"requireMemory":false,"requireCpu":false,"requirePids":false,"allowedCgroupParents":[]}"#,
    ),
    control(
        "5.26",
        "no-new-privileges",
        "privilege-escalation",
        check::<PrivilegeEscalation>(),
        "{}",
    ),
    control(
        "5.27",
        "health check",
        "healthcheck",
        check::<Healthcheck>(),
        "{}",
    ),
    control(
        "5.29",
        "pids limit",
        "resource-limits",
        check::<ResourceLimits>(),
        r#"{"requireMemory":false,"requireCpu":false,"requirePids":true}"#,
    ),
    control(
        "5.31",
        "host user namespace",
        "host-namespaces",
        check::<HostNamespaces>(),
        r#"{"allowHostNetwork":true,"allowHostPID":true,"allowHostIPC":true,"allowHostUTS":true,"allowHostCgroup":true}"#,
    ),
    control(
        "5.32",
        "docker socket",
        "host-mounts",
        check::<HostMounts>(),
        r#"{"sensitivePaths":["/var/run/docker.sock","/run/docker.sock"],"allowSharedPropagation":true}"#,
    ),
];

portcullis_bundle::bundle!(CisDocker, CIS_DOCKER);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;
    use portcullis_sdk::{ContainerKind, NamespaceMode, Request};

    /// A `docker run` that passes every control.
    fn hardened() -> Request {
        let mut c = container("", "nginx:1.27");
        c.read_only_root_filesystem = Some(true);
        c.allow_privilege_escalation = Some(false);
        c.resources.memory_limit_bytes = Some(256 << 20);
        c.resources.cpu_shares = Some(512);
        c.resources.pids_limit = Some(100);
        c.user = Some("1000".into());
        let mut request = docker_create(c);
        let w = request.workload.as_mut().unwrap();
        w.restart_policy = Some(portcullis_sdk::RestartPolicy {
            name: "on-failure".into(),
            maximum_retry_count: Some(5),
        });
        request
    }

    #[test]
    fn every_preset_passes_its_policys_own_settings_checks() {
        CIS_DOCKER.validate_settings("{}").unwrap();
        let schema: serde_json::Value =
            serde_json::from_str(&CIS_DOCKER.settings_schema()).unwrap();
        let controls = &schema["properties"]["controls"]["properties"];
        assert_eq!(controls["5.5"]["title"], "privileged");
        assert_eq!(
            controls.as_object().unwrap().len(),
            CONTROLS.len(),
            "a schema for every control"
        );
    }

    #[test]
    fn settings_name_controls_that_exist_and_fields_within_them() {
        let configured = CIS_DOCKER
            .configure(r#"{"exclude": ["5.13"], "controls": {"5.15": {"maxRetries": 3}}}"#)
            .unwrap();
        assert!(configured.iter().all(|(c, _)| c.id != "5.13"));
        let (_, restart) = configured.iter().find(|(c, _)| c.id == "5.15").unwrap();
        assert_eq!(restart, r#"{"maxRetries":3}"#);
        let e = CIS_DOCKER
            .validate_settings(r#"{"exclude": ["5.99"]}"#)
            .unwrap_err();
        assert_eq!(e.field, "exclude[0]");
        assert!(
            e.message
                .starts_with("\"5.99\" is not a control of cis-docker (5.2, 5.3,")
        );
        let e = CIS_DOCKER
            .validate_settings(r#"{"controls": {"5.15": {"maxRetrys": 3}}}"#)
            .unwrap_err();
        assert_eq!(e.field, "controls.5.15.maxRetrys");
        assert!(
            e.message.starts_with("unknown field `maxRetrys`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_hardened_run_passes_every_control() {
        let d = CIS_DOCKER.validate(&hardened(), "{}").unwrap();
        assert!(d.allowed, "{:?}", d.reasons);
        assert!(d.reasons.is_empty());
    }

    #[test]
    fn failing_controls_are_reported_by_number_with_their_policys_reasons() {
        let mut request = hardened();
        let w = request.workload.as_mut().unwrap();
        w.containers[0].privileged = Some(true);
        w.namespaces.pid = NamespaceMode::Host;
        let d = CIS_DOCKER.validate(&request, "{}").unwrap();
        assert!(!d.allowed);
        assert_eq!(d.message, "violates CIS Docker Benchmark v1.6.0 section 5");
        let messages: Vec<&str> = d.reasons.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "5.5 privileged (container must not be privileged)",
                "5.16 host pid (PidMode=host shares the host's process namespace, which is not allowed)",
            ],
            "{messages:?}"
        );
        assert_eq!(d.reasons[0].field, "HostConfig.Privileged");
        // Excluded, or relaxed in the config: the control no longer fails.
        let d = CIS_DOCKER
            .validate(
                &request,
                r#"{"exclude": ["5.5"], "controls": {"5.16": {"allowHostPID": true}}}"#,
            )
            .unwrap();
        assert!(d.allowed, "{:?}", d.reasons);
    }

    #[test]
    fn exec_controls_apply_to_exec_only() {
        let mut exec = hardened();
        exec.operation = "exec-create".into();
        let w = exec.workload.as_mut().unwrap();
        w.containers[0].kind = ContainerKind::Exec;
        w.containers[0].privileged = Some(true);
        let d = CIS_DOCKER.validate(&exec, "{}").unwrap();
        let messages: Vec<&str> = d.reasons.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(
            messages,
            ["5.23 exec privileged (exec must not be privileged)"]
        );
    }
}
