//! The built-in policies, compiled to components by `build.rs` and embedded in the binary, so
//! `module: builtin:NAME` needs no file on disk.

macro_rules! component {
    ($stem:literal) => {
        Embedded {
            wasm: include_bytes!(concat!(env!("PORTCULLIS_WASM_DIR"), "/", $stem, ".wasm")),
            sha256: env!(concat!("PORTCULLIS_SHA256_", $stem)),
        }
    };
}

/// A component embedded in the binary, with its SHA-256 computed at build time.
#[derive(Clone, Copy)]
pub struct Embedded {
    pub wasm: &'static [u8],
    pub sha256: &'static str,
}

/// A built-in policy: a component, and settings it starts from (the config's settings are
/// laid over them), so one module can ship as several one-line policies.
pub struct Builtin {
    pub name: &'static str,
    pub component: Embedded,
    pub preset: &'static str,
}

const PSS: Embedded = component!("portcullis_policy_pss");

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "privileged",
        component: component!("portcullis_policy_privileged"),
        preset: "{}",
    },
    Builtin {
        name: "host-namespaces",
        component: component!("portcullis_policy_host_namespaces"),
        preset: "{}",
    },
    Builtin {
        name: "capabilities",
        component: component!("portcullis_policy_capabilities"),
        preset: "{}",
    },
    Builtin {
        name: "host-mounts",
        component: component!("portcullis_policy_host_mounts"),
        preset: "{}",
    },
    Builtin {
        name: "registries",
        component: component!("portcullis_policy_registries"),
        preset: "{}",
    },
    Builtin {
        name: "image-signatures",
        component: component!("portcullis_policy_image_signatures"),
        preset: "{}",
    },
    Builtin {
        name: "seccomp",
        component: component!("portcullis_policy_seccomp"),
        preset: "{}",
    },
    Builtin {
        name: "privilege-escalation",
        component: component!("portcullis_policy_privilege_escalation"),
        preset: "{}",
    },
    Builtin {
        name: "read-only-root-fs",
        component: component!("portcullis_policy_read_only_root_fs"),
        preset: "{}",
    },
    Builtin {
        name: "run-as-non-root",
        component: component!("portcullis_policy_run_as_non_root"),
        preset: "{}",
    },
    Builtin {
        name: "host-ports",
        component: component!("portcullis_policy_host_ports"),
        preset: "{}",
    },
    Builtin {
        name: "resource-limits",
        component: component!("portcullis_policy_resource_limits"),
        preset: "{}",
    },
    Builtin {
        name: "apparmor",
        component: component!("portcullis_policy_apparmor"),
        preset: "{}",
    },
    Builtin {
        name: "selinux",
        component: component!("portcullis_policy_selinux"),
        preset: "{}",
    },
    Builtin {
        name: "devices",
        component: component!("portcullis_policy_devices"),
        preset: "{}",
    },
    Builtin {
        name: "proc-mount",
        component: component!("portcullis_policy_proc_mount"),
        preset: "{}",
    },
    Builtin {
        name: "sysctls",
        component: component!("portcullis_policy_sysctls"),
        preset: "{}",
    },
    Builtin {
        name: "windows-host-process",
        component: component!("portcullis_policy_windows_host_process"),
        preset: "{}",
    },
    Builtin {
        name: "volume-types",
        component: component!("portcullis_policy_volume_types"),
        preset: "{}",
    },
    Builtin {
        name: "runtime-class",
        component: component!("portcullis_policy_runtime_class"),
        preset: "{}",
    },
    Builtin {
        name: "healthcheck",
        component: component!("portcullis_policy_healthcheck"),
        preset: "{}",
    },
    Builtin {
        name: "restart-policy",
        component: component!("portcullis_policy_restart_policy"),
        preset: "{}",
    },
    // Bundles: each links the single-check policies above and decides its numbered controls
    // with them in one evaluation (policies-wasm/bundle).
    Builtin {
        name: "cis-docker",
        component: component!("portcullis_policy_cis_docker"),
        preset: "{}",
    },
    Builtin {
        name: "docker-escapes",
        component: component!("portcullis_policy_docker_escapes"),
        preset: "{}",
    },
    Builtin {
        name: "pss-baseline",
        component: PSS,
        preset: r#"{"level":"baseline"}"#,
    },
    Builtin {
        name: "pss-restricted",
        component: PSS,
        preset: r#"{"level":"restricted"}"#,
    },
];

pub const PREFIX: &str = "builtin:";

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Every built-in policy, bundles included.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// Every distinct built-in component (the two Pod Security levels share one).
pub fn components() -> Vec<&'static [u8]> {
    let mut seen: Vec<&'static [u8]> = Vec::new();
    for builtin in BUILTINS {
        if !seen
            .iter()
            .any(|w| std::ptr::eq(*w, builtin.component.wasm))
        {
            seen.push(builtin.component.wasm);
        }
    }
    seen
}

/// The SHA-256 (hex) of a component: known from the build for a built-in's embedded bytes
/// (recognised by where they are, so they are not read), computed for any other.
pub fn sha256_hex(wasm: &[u8]) -> String {
    let embedded = BUILTINS
        .iter()
        .map(|b| b.component)
        .find(|c| std::ptr::eq(c.wasm, wasm));
    match embedded {
        Some(component) => component.sha256.to_string(),
        None => hex::encode(<sha2::Sha256 as sha2::Digest>::digest(wasm)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builtin_digest_known_from_the_build_is_the_digest_of_its_bytes() {
        for builtin in BUILTINS {
            let computed = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                builtin.component.wasm,
            ));
            assert_eq!(builtin.component.sha256, computed, "{}", builtin.name);
            assert_eq!(sha256_hex(builtin.component.wasm), computed);
        }
        // The same bytes elsewhere are hashed, not mistaken for the embedded ones by content.
        let copy = BUILTINS[0].component.wasm.to_vec();
        assert_eq!(sha256_hex(&copy), BUILTINS[0].component.sha256);
        assert_ne!(sha256_hex(b"\0asm"), BUILTINS[0].component.sha256);
    }
}
