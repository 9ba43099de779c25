//! The policy ABI as host types, generated from `policies-wasm/wit` — the single definition
//! both the engine and the SDK compile against. The normalizers build these types directly,
//! so a request crosses into a policy without an intermediate copy.

// The host binds `policy-base`, the exports every component has since 1.0; the optional
// `settings-schema` of 1.2 is looked up by name (see `runtime`), so older components load.
wasmtime::component::bindgen!({
    path: "../policies-wasm/wit",
    world: "policy-base",
    additional_derives: [serde::Serialize, PartialEq],
});

pub use PolicyBase as Policy;
pub use PolicyBasePre as PolicyPre;

/// The name of the optional export (ABI 1.2) giving the settings' JSON Schema.
pub const SETTINGS_SCHEMA_EXPORT: &str = "settings-schema";

// `Decision`, `Metadata`, `Request` and `SettingsError` are used by the world itself and so
// are already in scope here.
pub use portcullis::policy::types::{
    Container, ContainerKind, Device, DockerCall, ImageRef, NamespaceMode, Namespaces, PodSecurity,
    Port, Profile, ProfileKind, Reason, Resources, RestartPolicy, SelinuxOptions, Source, Spelling,
    Sysctl, Volume, VolumeKind, Workload,
};

/// The ABI version this engine speaks; the WIT package version.
/// Components built against an older 1.x load too: 1.1 only added an import, 1.2 an
/// optional export.
pub const ABI_VERSION: &str = "portcullis:policy@1.2.0";

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Kubernetes => "kubernetes",
            Source::Docker => "docker",
        }
    }
}

// The generated types cannot take a derive of their own; these are what a derive would write.
#[allow(clippy::derivable_impls)]
impl Default for Resources {
    fn default() -> Self {
        Resources {
            memory_limit_bytes: None,
            cpu_limit_millis: None,
            memory_request_bytes: None,
            cpu_request_millis: None,
            cpu_shares: None,
            pids_limit: None,
        }
    }
}

#[allow(clippy::derivable_impls)]
impl Default for PodSecurity {
    fn default() -> Self {
        PodSecurity {
            run_as_user: None,
            run_as_group: None,
            run_as_non_root: None,
            fs_group: None,
            supplemental_groups: Vec::new(),
            seccomp: None,
            apparmor: None,
            selinux: None,
            windows_host_process: None,
        }
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces {
            pid: NamespaceMode::Default,
            ipc: NamespaceMode::Default,
            network: NamespaceMode::Default,
            uts: NamespaceMode::Default,
            user: NamespaceMode::Default,
            cgroup: NamespaceMode::Default,
        }
    }
}

impl Container {
    /// A container with nothing set but its identity; normalizers fill in the rest.
    pub fn new(name: String, kind: ContainerKind, pointer: String) -> Self {
        Container {
            name,
            kind,
            pointer,
            image: None,
            privileged: None,
            allow_privilege_escalation: None,
            capabilities_add: Vec::new(),
            capabilities_drop: Vec::new(),
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
            ports: Vec::new(),
            resources: Resources::default(),
            devices: Vec::new(),
            masked_paths: None,
            readonly_paths: None,
            health_checks: Vec::new(),
            health_check_disabled: false,
        }
    }
}

impl Workload {
    pub fn new(kind: String, pointer: String) -> Self {
        Workload {
            kind,
            pointer,
            containers: Vec::new(),
            namespaces: Namespaces::default(),
            pod_security: PodSecurity::default(),
            volumes: Vec::new(),
            volumes_from: Vec::new(),
            sysctls: Vec::new(),
            runtime_class: None,
            restart_policy: None,
            cgroup_parent: None,
            labels: Vec::new(),
            annotations: Vec::new(),
        }
    }
}

impl Decision {
    /// Rough size of everything the policy returned, to refuse oversized output.
    pub fn output_size(&self) -> usize {
        self.message.len()
            + self
                .reasons
                .iter()
                .map(|r| r.message.len() + r.field.len())
                .sum::<usize>()
            + self.warnings.iter().map(String::len).sum::<usize>()
            + self.patch.as_ref().map_or(0, String::len)
            + self
                .audit_annotations
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}
