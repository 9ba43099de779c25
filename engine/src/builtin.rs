//! The built-in policies, compiled to components by `build.rs` and embedded in the binary, so
//! `module: builtin:NAME` needs no file on disk.

macro_rules! component {
    ($file:literal) => {
        include_bytes!(concat!(env!("PORTCULLIS_WASM_DIR"), "/", $file))
    };
}

/// A built-in policy: a component, and settings it starts from (the config's settings are
/// laid over them), so one module can ship as several one-line policies.
pub struct Builtin {
    pub name: &'static str,
    pub wasm: &'static [u8],
    pub preset: &'static str,
}

const PSS: &[u8] = component!("portcullis_policy_pss.wasm");

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "privileged",
        wasm: component!("portcullis_policy_privileged.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "host-namespaces",
        wasm: component!("portcullis_policy_host_namespaces.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "capabilities",
        wasm: component!("portcullis_policy_capabilities.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "host-mounts",
        wasm: component!("portcullis_policy_host_mounts.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "registries",
        wasm: component!("portcullis_policy_registries.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "image-signatures",
        wasm: component!("portcullis_policy_image_signatures.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "seccomp",
        wasm: component!("portcullis_policy_seccomp.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "privilege-escalation",
        wasm: component!("portcullis_policy_privilege_escalation.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "read-only-root-fs",
        wasm: component!("portcullis_policy_read_only_root_fs.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "run-as-non-root",
        wasm: component!("portcullis_policy_run_as_non_root.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "host-ports",
        wasm: component!("portcullis_policy_host_ports.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "resource-limits",
        wasm: component!("portcullis_policy_resource_limits.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "apparmor",
        wasm: component!("portcullis_policy_apparmor.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "selinux",
        wasm: component!("portcullis_policy_selinux.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "devices",
        wasm: component!("portcullis_policy_devices.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "proc-mount",
        wasm: component!("portcullis_policy_proc_mount.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "sysctls",
        wasm: component!("portcullis_policy_sysctls.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "windows-host-process",
        wasm: component!("portcullis_policy_windows_host_process.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "volume-types",
        wasm: component!("portcullis_policy_volume_types.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "runtime-class",
        wasm: component!("portcullis_policy_runtime_class.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "healthcheck",
        wasm: component!("portcullis_policy_healthcheck.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "restart-policy",
        wasm: component!("portcullis_policy_restart_policy.wasm"),
        preset: "{}",
    },
    Builtin {
        name: "pss-baseline",
        wasm: PSS,
        preset: r#"{"level":"baseline"}"#,
    },
    Builtin {
        name: "pss-restricted",
        wasm: PSS,
        preset: r#"{"level":"restricted"}"#,
    },
];

pub const PREFIX: &str = "builtin:";

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Every built-in policy and bundle.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .chain(crate::bundle::BUNDLES.iter().map(|b| b.name))
}

/// Every distinct built-in component (the two Pod Security levels share one).
pub fn components() -> Vec<&'static [u8]> {
    let mut seen: Vec<&'static [u8]> = Vec::new();
    for builtin in BUILTINS {
        if !seen.iter().any(|w| std::ptr::eq(*w, builtin.wasm)) {
            seen.push(builtin.wasm);
        }
    }
    seen
}
