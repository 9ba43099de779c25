//! Questions to registries, asked of the host (ABI 1.1). The host answers only when the
//! policy's config grants it `capabilities: [registry]`; otherwise every call returns
//! [`RegistryError::NotGranted`]. The host caches answers, so asking again is cheap.
//!
//! Outside a WebAssembly host (native `cargo test`), the calls are not available.

pub use crate::bindings::portcullis::policy::registry::{
    CosignCheck, Manifest, RegistryError, Signature, fetch_manifest, insecure, resolve, signatures,
    verify_cosign,
};

/// A registry error in words for a message (the generated `Display` shows its debug form).
pub fn describe(error: &RegistryError) -> String {
    match error {
        RegistryError::NotGranted => {
            "the policy is not granted the registry capability (capabilities: [registry])".into()
        }
        RegistryError::Unreachable(m) => format!("registry unreachable: {m}"),
        RegistryError::Unauthorized(m) => format!("registry refused access: {m}"),
        RegistryError::NotFound(m) => format!("not found: {m}"),
        RegistryError::Invalid(m) => m.clone(),
    }
}
