//! Pod specs, wherever they sit, normalized into a [`Workload`]: a Pod's own spec, or the pod
//! template of a Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
//! ReplicationController or PodTemplate. Fields keep Kubernetes semantics: a container's own
//! security settings are recorded as written and the pod-level ones beside them, so policies
//! can apply inheritance exactly as the kubelet does.

use serde_json::Value;

use crate::abi::{
    Container, ContainerKind, NamespaceMode, PodSecurity, Port, Profile, ProfileKind, Resources,
    SelinuxOptions, Sysctl, Volume, VolumeKind, Workload,
};
use crate::workload::{capability, host_path, image, quantity};

/// Where the pod spec and pod metadata of each workload kind live (JSON pointers).
fn pod_pointers(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "Pod" => ("/spec", "/metadata"),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => ("/spec/template/spec", "/spec/template/metadata"),
        "CronJob" => (
            "/spec/jobTemplate/spec/template/spec",
            "/spec/jobTemplate/spec/template/metadata",
        ),
        "PodTemplate" => ("/template/spec", "/template/metadata"),
        // `pods/ephemeralcontainers` on API servers 1.16 to 1.22: the containers sit at the
        // top of the object (later servers send the whole Pod).
        "EphemeralContainers" => ("", "/metadata"),
        _ => return None,
    })
}

/// The workload of an object of `kind`, or `None` for kinds that run no containers.
pub fn normalize(kind: &str, object: &Value) -> Option<Workload> {
    if matches!(kind, "PodExecOptions" | "PodAttachOptions") {
        return Some(exec(kind, object));
    }
    let (spec_pointer, meta_pointer) = pod_pointers(kind)?;
    let spec = object.pointer(spec_pointer)?;
    let empty = Value::Null;
    let meta = object.pointer(meta_pointer).unwrap_or(&empty);

    let mut workload = Workload::new(kind.to_string(), spec_pointer.to_string());
    workload.labels = string_map(&meta["labels"]);
    workload.annotations = string_map(&meta["annotations"]);

    let pod_sc = &spec["securityContext"];
    workload.pod_security = PodSecurity {
        run_as_user: pod_sc["runAsUser"].as_i64(),
        run_as_group: pod_sc["runAsGroup"].as_i64(),
        run_as_non_root: pod_sc["runAsNonRoot"].as_bool(),
        fs_group: pod_sc["fsGroup"].as_i64(),
        supplemental_groups: pod_sc["supplementalGroups"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default(),
        seccomp: seccomp_field(&pod_sc["seccompProfile"]).or_else(|| {
            annotation(
                &workload.annotations,
                "seccomp.security.alpha.kubernetes.io/pod",
            )
            .map(|v| profile_annotation(&v))
        }),
        apparmor: apparmor_field(&pod_sc["appArmorProfile"]),
        selinux: selinux(&pod_sc["seLinuxOptions"]),
        windows_host_process: pod_sc["windowsOptions"]["hostProcess"].as_bool(),
    };

    let ns = &mut workload.namespaces;
    ns.pid = host_flag(&spec["hostPID"]);
    ns.ipc = host_flag(&spec["hostIPC"]);
    ns.network = host_flag(&spec["hostNetwork"]);
    // Pods share the host's user namespace unless `hostUsers: false` asks for their own.
    ns.user = match spec["hostUsers"].as_bool() {
        Some(false) => NamespaceMode::Private,
        _ => NamespaceMode::Default,
    };

    for (key, kind) in [
        ("initContainers", ContainerKind::Init),
        ("containers", ContainerKind::Container),
        ("ephemeralContainers", ContainerKind::Ephemeral),
    ] {
        for (i, c) in spec[key].as_array().into_iter().flatten().enumerate() {
            let pointer = format!("{spec_pointer}/{key}/{i}");
            workload
                .containers
                .push(container(c, kind, pointer, &workload.annotations));
        }
    }

    workload.volumes = volumes(spec, spec_pointer);
    workload.sysctls = pod_sc["sysctls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| Sysctl {
            name: s["name"].as_str().unwrap_or_default().to_string(),
            value: s["value"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    workload.runtime_class = spec["runtimeClassName"].as_str().map(str::to_string);
    workload.restart_policy =
        spec["restartPolicy"]
            .as_str()
            .map(|name| crate::abi::RestartPolicy {
                name: name.to_string(),
                maximum_retry_count: None,
            });
    Some(workload)
}

/// `kubectl exec` / `attach` (CONNECT on `pods/exec`, `pods/attach`): a process in a running
/// container, decided like `docker exec`. The options name the container; the command is in
/// the raw object.
fn exec(kind: &str, options: &Value) -> Workload {
    let mut workload = Workload::new(kind.to_string(), String::new());
    let name = options["container"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    workload
        .containers
        .push(Container::new(name, ContainerKind::Exec, String::new()));
    workload
}

fn container(
    c: &Value,
    kind: ContainerKind,
    pointer: String,
    annotations: &[(String, String)],
) -> Container {
    let name = c["name"].as_str().unwrap_or_default().to_string();
    let sc = &c["securityContext"];
    let mut out = Container::new(name, kind, pointer);
    out.image = c["image"].as_str().map(image::parse);
    out.privileged = sc["privileged"].as_bool();
    out.allow_privilege_escalation = sc["allowPrivilegeEscalation"].as_bool();
    out.capabilities_add = strings(&sc["capabilities"]["add"])
        .map(capability)
        .collect();
    out.capabilities_drop = strings(&sc["capabilities"]["drop"])
        .map(capability)
        .collect();
    out.run_as_user = sc["runAsUser"].as_i64();
    out.user = out.run_as_user.map(|u| u.to_string());
    out.run_as_group = sc["runAsGroup"].as_i64();
    out.run_as_non_root = sc["runAsNonRoot"].as_bool();
    out.seccomp = seccomp_field(&sc["seccompProfile"]).or_else(|| {
        annotation(
            annotations,
            &format!(
                "container.seccomp.security.alpha.kubernetes.io/{}",
                out.name
            ),
        )
        .map(|v| profile_annotation(&v))
    });
    out.apparmor = apparmor_field(&sc["appArmorProfile"]).or_else(|| {
        annotation(
            annotations,
            &format!(
                "container.apparmor.security.beta.kubernetes.io/{}",
                out.name
            ),
        )
        .map(|v| profile_annotation(&v))
    });
    out.selinux = selinux(&sc["seLinuxOptions"]);
    out.read_only_root_filesystem = sc["readOnlyRootFilesystem"].as_bool();
    out.proc_mount = sc["procMount"].as_str().map(str::to_string);
    out.windows_host_process = sc["windowsOptions"]["hostProcess"].as_bool();
    out.health_checks = ["livenessProbe", "readinessProbe", "startupProbe"]
        .into_iter()
        .filter(|probe| c[*probe].is_object())
        .map(str::to_string)
        .collect();
    out.ports = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| Port {
            container_port: p["containerPort"].as_u64().unwrap_or(0) as u32,
            protocol: p["protocol"].as_str().unwrap_or("TCP").to_string(),
            host_ip: p["hostIP"].as_str().map(str::to_string),
            host_port: p["hostPort"].as_u64().filter(|&h| h != 0).map(|h| h as u32),
        })
        .collect();
    let r = &c["resources"];
    out.resources = Resources {
        memory_limit_bytes: quantity::from_json(&r["limits"]["memory"], 1),
        cpu_limit_millis: quantity::from_json(&r["limits"]["cpu"], 1000),
        memory_request_bytes: quantity::from_json(&r["requests"]["memory"], 1),
        cpu_request_millis: quantity::from_json(&r["requests"]["cpu"], 1000),
        cpu_shares: None,
        pids_limit: None,
    };
    out
}

/// Volumes with their sources; a host path is read-only only if every mount of it is.
fn volumes(spec: &Value, spec_pointer: &str) -> Vec<Volume> {
    let mounts: Vec<&Value> = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|key| spec[*key].as_array().into_iter().flatten())
        .flat_map(|c| c["volumeMounts"].as_array().into_iter().flatten())
        .collect();
    spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, v)| {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            // The API server defaults a volume with no source to emptyDir.
            let source = v
                .as_object()
                .and_then(|o| o.keys().find(|k| *k != "name").cloned())
                .unwrap_or_else(|| "emptyDir".to_string());
            let of_volume = || {
                mounts
                    .iter()
                    .filter(|m| m["name"].as_str() == Some(name.as_str()))
            };
            let read_only = of_volume().all(|m| m["readOnly"].as_bool() == Some(true));
            // The most open propagation wins: one Bidirectional mount shares the host's mounts.
            let propagation = of_volume()
                .filter_map(|m| m["mountPropagation"].as_str())
                .max_by_key(|p| match *p {
                    "Bidirectional" => 2,
                    "HostToContainer" => 1,
                    _ => 0,
                })
                .map(str::to_string);
            let (kind, path) = match source.as_str() {
                "hostPath" => (
                    VolumeKind::HostPath,
                    v["hostPath"]["path"].as_str().map(host_path),
                ),
                "emptyDir" if v["emptyDir"]["medium"].as_str() == Some("Memory") => {
                    (VolumeKind::Tmpfs, None)
                }
                _ => (VolumeKind::Other, None),
            };
            Volume {
                name,
                kind,
                source,
                host_path: path,
                read_only,
                pointer: format!("{spec_pointer}/volumes/{i}"),
                propagation,
            }
        })
        .collect()
}

fn host_flag(value: &Value) -> NamespaceMode {
    if value.as_bool() == Some(true) {
        NamespaceMode::Host
    } else {
        NamespaceMode::Default
    }
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn string_map(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn annotation(annotations: &[(String, String)], key: &str) -> Option<String> {
    annotations
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

fn profile_kind(kind: &str) -> ProfileKind {
    match kind {
        "RuntimeDefault" => ProfileKind::RuntimeDefault,
        "Localhost" => ProfileKind::Localhost,
        "Unconfined" => ProfileKind::Unconfined,
        _ => ProfileKind::Other,
    }
}

fn seccomp_field(value: &Value) -> Option<Profile> {
    let kind = value["type"].as_str()?;
    Some(Profile {
        kind: profile_kind(kind),
        raw: kind.to_string(),
        localhost: value["localhostProfile"].as_str().map(str::to_string),
    })
}

fn apparmor_field(value: &Value) -> Option<Profile> {
    seccomp_field(value)
}

/// The annotation spellings of seccomp and AppArmor profiles.
fn profile_annotation(value: &str) -> Profile {
    let (kind, localhost) = match value {
        "runtime/default" | "docker/default" => (ProfileKind::RuntimeDefault, None),
        "unconfined" => (ProfileKind::Unconfined, None),
        v => match v.strip_prefix("localhost/") {
            Some(name) => (ProfileKind::Localhost, Some(name.to_string())),
            None => (ProfileKind::Other, None),
        },
    };
    Profile {
        kind,
        raw: value.to_string(),
        localhost,
    }
}

fn selinux(value: &Value) -> Option<SelinuxOptions> {
    let o = value.as_object()?;
    let get = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    Some(SelinuxOptions {
        user: get("user"),
        role: get("role"),
        type_: get("type"),
        level: get("level"),
        disabled: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_template_is_found_with_pointers() {
        let deploy = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "hostPID": true,
                    "initContainers": [{"name": "init", "image": "busybox"}],
                    "containers": [{"name": "web", "image": "nginx:1.25",
                        "securityContext": {"privileged": true, "capabilities": {"add": ["cap_net_admin"]}},
                        "volumeMounts": [{"name": "data", "mountPath": "/d", "readOnly": true}]}],
                    "volumes": [{"name": "data", "hostPath": {"path": "/srv//data/"}}, {"name": "scratch"}]
                }
            }}
        });
        let w = normalize("Deployment", &deploy).unwrap();
        assert_eq!(w.pointer, "/spec/template/spec");
        assert_eq!(w.labels, vec![("app".into(), "web".into())]);
        assert_eq!(w.namespaces.pid, NamespaceMode::Host);
        assert_eq!(w.containers.len(), 2);
        assert_eq!(w.containers[0].kind, ContainerKind::Init);
        let web = &w.containers[1];
        assert_eq!(web.pointer, "/spec/template/spec/containers/0");
        assert_eq!(web.privileged, Some(true));
        assert_eq!(web.capabilities_add[0].raw, "cap_net_admin");
        assert_eq!(web.capabilities_add[0].normalized, "NET_ADMIN");
        assert_eq!(web.image.as_ref().unwrap().repository, "library/nginx");
        let data = &w.volumes[0];
        assert_eq!(data.kind, VolumeKind::HostPath);
        assert_eq!(data.host_path.as_ref().unwrap().normalized, "/srv/data");
        assert!(data.read_only);
        assert_eq!(w.volumes[1].source, "emptyDir");
    }

    #[test]
    fn exec_is_a_process_in_a_container() {
        let options = json!({"kind": "PodExecOptions", "apiVersion": "v1", "container": "app", "command": ["sh"], "stdin": true, "tty": true});
        let w = normalize("PodExecOptions", &options).unwrap();
        assert_eq!(w.containers.len(), 1);
        assert_eq!(
            (w.containers[0].name.as_str(), w.containers[0].kind),
            ("app", ContainerKind::Exec)
        );
    }

    #[test]
    fn cronjob_and_non_workloads() {
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}}});
        assert_eq!(normalize("CronJob", &cron).unwrap().containers.len(), 1);
        assert!(normalize("ConfigMap", &json!({"data": {}})).is_none());
    }

    #[test]
    fn apparmor_annotation_applies_to_its_container() {
        let pod = json!({
            "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}},
            "spec": {"containers": [{"name": "c", "image": "x"}, {"name": "d", "image": "x"}]}
        });
        let w = normalize("Pod", &pod).unwrap();
        assert_eq!(
            w.containers[0].apparmor.as_ref().unwrap().kind,
            ProfileKind::Unconfined
        );
        assert!(w.containers[1].apparmor.is_none());
    }
}
