//! The checks of the Pod Security Standards, as `policy/check_*.go` of Pod Security Admission
//! implements them, with the version each behaviour starts at. A check that a restricted check
//! overrides is not run at restricted once the overriding check exists.
//!
//! Most fields come from the normalized workload; where PSA's semantics need the raw spelling
//! (seccomp and AppArmor fields apart from their annotations, probe hosts, `spec.os`) the pod
//! spec is read directly.

use portcullis_sdk::{Container, NamespaceMode, Workload};

use crate::Level;
use crate::raw::{Handler, PodSpec, RawContainer};

/// One failing check: PSA's name for it, its details, and the first offending field.
pub struct Failure {
    pub check: &'static str,
    pub details: Vec<String>,
    pub field: Option<String>,
}

use portcullis_sdk::standards::{
    PSS_RESTRICTED_VOLUMES as RESTRICTED_VOLUMES, pss_safe_sysctls as safe_sysctls,
};

struct Collector {
    out: Vec<Failure>,
}

impl Collector {
    fn add(&mut self, check: &'static str, details: Vec<(String, String)>) {
        if details.is_empty() {
            return;
        }
        let field = details.first().map(|(f, _)| f.clone());
        self.out.push(Failure {
            check,
            details: details.into_iter().map(|(_, d)| d).collect(),
            field,
        });
    }
}

/// The raw container behind a normalized container.
fn raw<'a>(spec: &'a PodSpec, workload: &Workload, c: &Container) -> &'a RawContainer {
    static NONE: RawContainer = RawContainer {
        security_context: None,
        liveness_probe: None,
        readiness_probe: None,
        startup_probe: None,
        lifecycle: None,
    };
    c.pointer
        .strip_prefix(&workload.pointer)
        .and_then(|relative| spec.container(relative))
        .unwrap_or(&NONE)
}

fn profile_ok(kind: &str) -> bool {
    kind == "RuntimeDefault" || kind == "Localhost"
}

pub fn evaluate(level: Level, minor: u32, w: &Workload, spec: &PodSpec) -> Vec<Failure> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let restricted = level == Level::Restricted;
    let windows = minor >= 25 && spec.os_name() == Some("windows");
    let user_namespaced = w.namespaces.user == NamespaceMode::Private;
    let containers: Vec<&Container> = w.containers.iter().collect();
    let mut c = Collector { out: Vec::new() };
    let ptr = |suffix: &str| format!("{}/{suffix}", w.pointer);

    // hostNamespaces
    let mut d = Vec::new();
    for (mode, name) in [
        (&w.namespaces.network, "hostNetwork"),
        (&w.namespaces.pid, "hostPID"),
        (&w.namespaces.ipc, "hostIPC"),
    ] {
        if *mode == NamespaceMode::Host {
            d.push((ptr(name), format!("{name}=true")));
        }
    }
    c.add("host namespaces", d);

    // privileged
    c.add(
        "privileged",
        containers
            .iter()
            .filter(|x| x.privileged == Some(true))
            .map(|x| {
                (
                    format!("{}/securityContext/privileged", x.pointer),
                    format!(
                        "container {:?} must not set securityContext.privileged=true",
                        x.name
                    ),
                )
            })
            .collect(),
    );

    // capabilities_baseline (overridden by capabilities_restricted from 1.22)
    if !(restricted && minor >= 22) {
        let mut d = Vec::new();
        for x in &containers {
            for cap in &x.capabilities_add {
                if !portcullis_sdk::standards::PSS_BASELINE_CAPABILITIES.contains(&cap.raw.as_str())
                {
                    d.push((format!("{}/securityContext/capabilities/add", x.pointer), format!("container {:?} must not include {:?} in securityContext.capabilities.add", x.name, cap.raw)));
                }
            }
        }
        c.add("non-default capabilities", d);
    }

    // hostPathVolumes (overridden by restrictedVolumes)
    if !restricted {
        c.add(
            "hostPath volumes",
            w.volumes
                .iter()
                .filter(|v| v.source == "hostPath")
                .map(|v| (v.pointer.clone(), format!("volume {:?}", v.name)))
                .collect(),
        );
    }

    // hostPorts
    let mut d = Vec::new();
    for x in &containers {
        for p in &x.ports {
            if let Some(port) = p.host_port {
                d.push((
                    format!("{}/ports", x.pointer),
                    format!("container {:?} uses hostPort {port}", x.name),
                ));
            }
        }
    }
    c.add("hostPort", d);

    // appArmorProfile: fields, and the annotations whatever the fields say
    let mut d = Vec::new();
    if let Some(kind) = spec.app_armor().filter(|k| !profile_ok(k)) {
        d.push((
            ptr("securityContext/appArmorProfile/type"),
            format!("pod must not set appArmorProfile.type to {kind:?}"),
        ));
    }
    for x in &containers {
        if let Some(kind) = raw(spec, w, x).app_armor().filter(|k| !profile_ok(k)) {
            d.push((
                format!("{}/securityContext/appArmorProfile/type", x.pointer),
                format!(
                    "container {:?} must not set appArmorProfile.type to {kind:?}",
                    x.name
                ),
            ));
        }
    }
    for (key, value) in &w.annotations {
        if let Some(name) = key.strip_prefix("container.apparmor.security.beta.kubernetes.io/")
            && !(value.is_empty() || value == "runtime/default" || value.starts_with("localhost/"))
        {
            d.push((
                "/metadata/annotations".into(),
                format!("container {name:?} must not use AppArmor profile {value:?}"),
            ));
        }
    }
    c.add("forbidden AppArmor profile", d);

    // seLinuxOptions
    let mut allowed_types = vec!["", "container_t", "container_init_t", "container_kvm_t"];
    if minor >= 31 {
        allowed_types.push("container_engine_t");
    }
    let mut d = Vec::new();
    let mut selinux = |who: String, at: String, o: &Option<portcullis_sdk::SelinuxOptions>| {
        let Some(o) = o else { return };
        if let Some(t) = o.type_.as_deref().filter(|t| !allowed_types.contains(t)) {
            d.push((
                at.clone(),
                format!("{who} set forbidden securityContext.seLinuxOptions: type {t:?}"),
            ));
        }
        if o.user.as_deref().is_some_and(|u| !u.is_empty()) {
            d.push((
                at.clone(),
                format!(
                    "{who} set forbidden securityContext.seLinuxOptions: user {:?}",
                    o.user.as_deref().unwrap()
                ),
            ));
        }
        if o.role.as_deref().is_some_and(|r| !r.is_empty()) {
            d.push((
                at,
                format!(
                    "{who} set forbidden securityContext.seLinuxOptions: role {:?}",
                    o.role.as_deref().unwrap()
                ),
            ));
        }
    };
    selinux(
        "pod".into(),
        ptr("securityContext/seLinuxOptions"),
        &w.pod_security.selinux,
    );
    for x in &containers {
        selinux(
            format!("container {:?}", x.name),
            format!("{}/securityContext/seLinuxOptions", x.pointer),
            &x.selinux,
        );
    }
    c.add("seLinuxOptions", d);

    // procMount (overridden by procMount_restricted from 1.35)
    let proc_mount = |relax: bool| -> Vec<(String, String)> {
        if relax {
            return Vec::new();
        }
        containers
            .iter()
            .filter_map(|x| {
                x.proc_mount
                    .as_deref()
                    .filter(|m| *m != "Default")
                    .map(|m| (x, m))
            })
            .map(|(x, m)| {
                (
                    format!("{}/securityContext/procMount", x.pointer),
                    format!(
                        "container {:?} must not set securityContext.procMount to {m:?}",
                        x.name
                    ),
                )
            })
            .collect()
    };
    if restricted && minor >= 35 {
        c.add("procMount", proc_mount(false));
    } else {
        c.add("procMount", proc_mount(minor >= 35 && user_namespaced));
    }

    // seccompProfile: baseline, or restricted from 1.19 (which overrides it)
    let pod_seccomp = spec.seccomp();
    if restricted && minor >= 19 {
        if !windows {
            let mut d = Vec::new();
            if let Some(kind) = pod_seccomp.filter(|k| !profile_ok(k)) {
                d.push((
                    ptr("securityContext/seccompProfile/type"),
                    format!("pod must not set securityContext.seccompProfile.type to {kind:?}"),
                ));
            }
            let pod_ok = pod_seccomp.is_some_and(profile_ok);
            for x in &containers {
                match raw(spec, w, x).seccomp() {
                    Some(kind) if !profile_ok(kind) => d.push((format!("{}/securityContext/seccompProfile/type", x.pointer), format!("container {:?} must not set securityContext.seccompProfile.type to {kind:?}", x.name))),
                    None if !pod_ok => d.push((format!("{}/securityContext", x.pointer), format!("pod or container {:?} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"", x.name))),
                    _ => {}
                }
            }
            c.add("seccompProfile", d);
        }
    } else if minor >= 19 {
        let mut d = Vec::new();
        if pod_seccomp == Some("Unconfined") {
            d.push((
                ptr("securityContext/seccompProfile/type"),
                "pod must not set securityContext.seccompProfile.type to \"Unconfined\""
                    .to_string(),
            ));
        }
        for x in &containers {
            if raw(spec, w, x).seccomp() == Some("Unconfined") {
                d.push((format!("{}/securityContext/seccompProfile/type", x.pointer), format!("container {:?} must not set securityContext.seccompProfile.type to \"Unconfined\"", x.name)));
            }
        }
        c.add("seccompProfile", d);
    } else {
        let ok = |v: &str| {
            v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
        };
        let mut d = Vec::new();
        for (key, value) in &w.annotations {
            if (key == "seccomp.security.alpha.kubernetes.io/pod"
                || key.starts_with("container.seccomp.security.alpha.kubernetes.io/"))
                && !ok(value)
            {
                d.push((
                    "/metadata/annotations".into(),
                    format!("annotation {key}={value:?}"),
                ));
            }
        }
        c.add("seccompProfile", d);
    }

    // sysctls
    let safe = safe_sysctls(minor);
    c.add(
        "forbidden sysctls",
        w.sysctls
            .iter()
            .filter(|s| !safe.contains(&s.name.as_str()))
            .map(|s| (ptr("securityContext/sysctls"), s.name.clone()))
            .collect(),
    );

    // windowsHostProcess
    let mut d = Vec::new();
    if w.pod_security.windows_host_process == Some(true) {
        d.push((
            ptr("securityContext/windowsOptions/hostProcess"),
            "pod must not set securityContext.windowsOptions.hostProcess=true".to_string(),
        ));
    }
    for x in containers
        .iter()
        .filter(|x| x.windows_host_process == Some(true))
    {
        d.push((
            format!("{}/securityContext/windowsOptions/hostProcess", x.pointer),
            format!(
                "container {:?} must not set securityContext.windowsOptions.hostProcess=true",
                x.name
            ),
        ));
    }
    c.add("hostProcess", d);

    // hostProbesAndHostLifecycle (1.34)
    if minor >= 34 {
        let mut d = Vec::new();
        for x in &containers {
            for host in raw(spec, w, x).handlers().flat_map(Handler::hosts) {
                if !host.is_empty() {
                    d.push((
                        x.pointer.clone(),
                        format!(
                            "container {:?} uses probe or lifecycle host {host:?}",
                            x.name
                        ),
                    ));
                }
            }
        }
        c.add("probe or lifecycle host", d);
    }

    if !restricted {
        return c.out;
    }

    // restrictedVolumes
    c.add(
        "restricted volume types",
        w.volumes
            .iter()
            .filter(|v| !RESTRICTED_VOLUMES.contains(&v.source.as_str()))
            .map(|v| {
                (
                    v.pointer.clone(),
                    format!(
                        "volume {:?} uses restricted volume type {:?}",
                        v.name, v.source
                    ),
                )
            })
            .collect(),
    );

    // runAsNonRoot (relaxed for pods in their own user namespace from 1.35)
    if !(minor >= 35 && user_namespaced) {
        let mut d = Vec::new();
        let pod = w.pod_security.run_as_non_root;
        if pod == Some(false) {
            d.push((
                ptr("securityContext/runAsNonRoot"),
                "pod must not set securityContext.runAsNonRoot=false".to_string(),
            ));
        }
        for x in &containers {
            match x.run_as_non_root {
                Some(false) => d.push((
                    format!("{}/securityContext/runAsNonRoot", x.pointer),
                    format!(
                        "container {:?} must not set securityContext.runAsNonRoot=false",
                        x.name
                    ),
                )),
                None if pod != Some(true) => d.push((
                    format!("{}/securityContext", x.pointer),
                    format!(
                        "pod or container {:?} must set securityContext.runAsNonRoot=true",
                        x.name
                    ),
                )),
                _ => {}
            }
        }
        c.add("runAsNonRoot != true", d);
    }

    // runAsUser (1.23; relaxed for user namespaces from 1.35)
    if minor >= 23 && !(minor >= 35 && user_namespaced) {
        let mut d = Vec::new();
        if w.pod_security.run_as_user == Some(0) {
            d.push((
                ptr("securityContext/runAsUser"),
                "pod must not set runAsUser=0".to_string(),
            ));
        }
        for x in containers.iter().filter(|x| x.run_as_user == Some(0)) {
            d.push((
                format!("{}/securityContext/runAsUser", x.pointer),
                format!("container {:?} must not set runAsUser=0", x.name),
            ));
        }
        c.add("runAsUser=0", d);
    }

    // allowPrivilegeEscalation (1.8; Windows pods exempt from 1.25)
    if minor >= 8 && !windows {
        c.add(
            "allowPrivilegeEscalation != false",
            containers
                .iter()
                .filter(|x| x.allow_privilege_escalation != Some(false))
                .map(|x| (format!("{}/securityContext/allowPrivilegeEscalation", x.pointer), format!("container {:?} must set securityContext.allowPrivilegeEscalation=false", x.name)))
                .collect(),
        );
    }

    // capabilities_restricted (1.22; Windows pods exempt from 1.25)
    if minor >= 22 && !windows {
        let mut d = Vec::new();
        for x in &containers {
            if !x.capabilities_drop.iter().any(|s| s.raw == "ALL") {
                d.push((
                    format!("{}/securityContext/capabilities/drop", x.pointer),
                    format!(
                        "container {:?} must set securityContext.capabilities.drop=[\"ALL\"]",
                        x.name
                    ),
                ));
            }
            for cap in x
                .capabilities_add
                .iter()
                .filter(|s| s.raw != "NET_BIND_SERVICE")
            {
                d.push((
                    format!("{}/securityContext/capabilities/add", x.pointer),
                    format!(
                        "container {:?} must not include {:?} in securityContext.capabilities.add",
                        x.name, cap.raw
                    ),
                ));
            }
        }
        c.add("unrestricted capabilities", d);
    }
    c.out
}
