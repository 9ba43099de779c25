//! The built-in policies, compiled to components by `build.rs` and embedded in the binary, so
//! `module: builtin:NAME` needs no file on disk.

macro_rules! component {
    ($file:literal) => {
        include_bytes!(concat!(env!("PORTCULLIS_WASM_DIR"), "/", $file))
    };
}

/// `(name, component)` of every built-in policy.
pub const BUILTINS: &[(&str, &[u8])] = &[
    (
        "privileged",
        component!("portcullis_policy_privileged.wasm"),
    ),
    (
        "host-namespaces",
        component!("portcullis_policy_host_namespaces.wasm"),
    ),
    (
        "capabilities",
        component!("portcullis_policy_capabilities.wasm"),
    ),
    (
        "host-mounts",
        component!("portcullis_policy_host_mounts.wasm"),
    ),
    (
        "registries",
        component!("portcullis_policy_registries.wasm"),
    ),
];

pub const PREFIX: &str = "builtin:";

pub fn find(name: &str) -> Option<&'static [u8]> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, wasm)| *wasm)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(n, _)| *n)
}
