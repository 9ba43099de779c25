//! Native test harness for policy authors: build requests in plain Rust and run a policy
//! through the same settings parsing the component uses, with `cargo test`.
//!
//! ```text
//! use portcullis_sdk::testing::*;
//! let mut req = pod(vec![container("web", "nginx:1.25")]);
//! req.workload.as_mut().unwrap().containers[0].privileged = Some(true);
//! let decision = run::<NoPrivileged>(&req, "{}").unwrap();
//! assert!(!decision.allowed);
//! ```
//!
//! These builders fill only what a test sets; the engine's normalizer fills every field from
//! real requests. Test the compiled component against real requests with `portcullis eval`.

use crate::{
    Container, ContainerKind, Decision, DockerCall, ImageRef, NamespaceMode, Namespaces,
    PodSecurity, Policy, Request, Resources, Source, Spelling, Volume, VolumeKind, Workload,
};

/// Runs `P` on `request` with settings given as JSON text.
pub fn run<P: Policy>(request: &Request, settings: &str) -> Result<Decision, String> {
    crate::evaluate::<P>(request, settings)
}

/// Checks settings the way the host does at load time.
pub fn check_settings<P: Policy>(settings: &str) -> Result<(), crate::SettingsError> {
    let parsed = crate::parse_settings::<P::Settings>(settings)?;
    P::validate_settings(&parsed)
}

/// A Kubernetes Pod CREATE with these containers at `/spec/containers/N`.
pub fn pod(containers: Vec<Container>) -> Request {
    let containers = containers
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            if c.pointer.is_empty() {
                c.pointer = format!("/spec/containers/{i}");
            }
            c
        })
        .collect();
    Request {
        uid: "test".into(),
        source: Source::Kubernetes,
        operation: "CREATE".into(),
        kind: "v1/Pod".into(),
        subresource: None,
        user: "tester".into(),
        groups: vec![],
        namespace: Some("default".into()),
        name: Some("test".into()),
        dry_run: false,
        object: "{}".into(),
        old_object: None,
        workload: Some(workload("Pod", "/spec", containers)),
        docker: None,
    }
}

/// A Docker `POST /containers/create` with one container.
pub fn docker_create(container: Container) -> Request {
    Request {
        uid: String::new(),
        source: Source::Docker,
        operation: "container-create".into(),
        kind: "container".into(),
        subresource: None,
        user: String::new(),
        groups: vec![],
        namespace: None,
        name: None,
        dry_run: false,
        object: "{}".into(),
        old_object: None,
        workload: Some(workload("container-create", "/HostConfig", vec![container])),
        docker: Some(DockerCall {
            method: "POST".into(),
            path: "/containers/create".into(),
            query: vec![],
            api_version: None,
            operation: "container-create".into(),
            pull_image: None,
            authn_method: None,
        }),
    }
}

/// A workload with no host namespaces, volumes or labels.
pub fn workload(kind: &str, pointer: &str, containers: Vec<Container>) -> Workload {
    Workload {
        kind: kind.into(),
        pointer: pointer.into(),
        containers,
        namespaces: Namespaces {
            pid: NamespaceMode::Default,
            ipc: NamespaceMode::Default,
            network: NamespaceMode::Default,
            uts: NamespaceMode::Default,
            user: NamespaceMode::Default,
            cgroup: NamespaceMode::Default,
        },
        pod_security: PodSecurity {
            run_as_user: None,
            run_as_group: None,
            run_as_non_root: None,
            fs_group: None,
            supplemental_groups: vec![],
            seccomp: None,
            apparmor: None,
            selinux: None,
            windows_host_process: None,
        },
        volumes: vec![],
        volumes_from: vec![],
        sysctls: vec![],
        runtime_class: None,
        restart_policy: None,
        cgroup_parent: None,
        labels: vec![],
        annotations: vec![],
    }
}

/// A regular container with nothing set but its name and image.
pub fn container(name: &str, image: &str) -> Container {
    Container {
        name: name.into(),
        kind: ContainerKind::Container,
        pointer: String::new(),
        image: Some(image_ref(image)),
        privileged: None,
        allow_privilege_escalation: None,
        capabilities_add: vec![],
        capabilities_drop: vec![],
        user: None,
        run_as_user: None,
        run_as_group: None,
        run_as_non_root: None,
        seccomp: None,
        apparmor: None,
        selinux: None,
        read_only_root_filesystem: None,
        proc_mount: None,
        windows_host_process: None,
        ports: vec![],
        resources: Resources {
            memory_limit_bytes: None,
            cpu_limit_millis: None,
            memory_request_bytes: None,
            cpu_request_millis: None,
            cpu_shares: None,
            pids_limit: None,
        },
        devices: vec![],
        masked_paths: None,
        readonly_paths: None,
        health_checks: vec![],
        health_check_disabled: false,
    }
}

/// A simplified image parser for tests: `registry/repo:tag`, with Docker Hub defaults. The
/// engine's parser is the authority; this one only saves test authors from filling fields.
pub fn image_ref(raw: &str) -> ImageRef {
    let (rest, digest) = match raw.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (raw, None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
        _ => (rest, None),
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_ascii_lowercase(), path.to_string())
        }
        Some(_) => ("docker.io".to_string(), name.to_string()),
        None => ("docker.io".to_string(), format!("library/{name}")),
    };
    ImageRef {
        raw: raw.into(),
        registry,
        repository,
        tag,
        digest,
        valid: true,
    }
}

/// A spelling whose normalized form is upper case without `CAP_`.
pub fn capability(raw: &str) -> Spelling {
    let upper = raw.to_ascii_uppercase();
    let normalized = upper.strip_prefix("CAP_").unwrap_or(&upper).to_string();
    Spelling {
        raw: raw.into(),
        normalized,
    }
}

/// A host-path volume at `/spec/volumes/N` (the pointer is left for the caller to adjust).
pub fn host_path_volume(name: &str, path: &str, read_only: bool) -> Volume {
    Volume {
        name: name.into(),
        kind: VolumeKind::HostPath,
        source: "hostPath".into(),
        host_path: Some(Spelling {
            raw: path.into(),
            normalized: path.into(),
        }),
        read_only,
        pointer: "/spec/volumes/0".into(),
        propagation: None,
    }
}
