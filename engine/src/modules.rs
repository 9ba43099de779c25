//! Policy modules from an OCI registry: `module: oci://REGISTRY/REPO:TAG[@sha256:…]`.
//!
//! A module is pulled once and kept on disk by digest; later loads take it from there, and
//! a load while the registry cannot be reached uses what the reference last pointed at. When
//! the config says `verify:`, the module's manifest must carry a cosign signature made with
//! one of the keys, checked before the module is used, and a module taken from the disk is
//! used only if it was verified with one of the keys when it was pulled. A reference pinned
//! with `@sha256:…` loads only that content, and is refused when its tag now points
//! elsewhere.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::config::{RegistryConfig, VerifyConfig};
use crate::registry::{Registry, RegistryError};

pub const OCI_PREFIX: &str = "oci://";

/// Where modules named `oci://…` come from.
pub struct OciModules {
    config: RegistryConfig,
    base_dir: PathBuf,
    registry: OnceLock<Result<Arc<Registry>, String>>,
    store: Option<ModuleStore>,
}

/// A module ready to compile, and how it was found.
#[derive(Debug)]
pub struct Fetched {
    pub wasm: Vec<u8>,
    pub manifest_digest: String,
    /// Taken from the disk because the registry could not be reached.
    pub offline: bool,
}

impl OciModules {
    /// `store_dir`: where pulled modules are kept (none: pulled at every load).
    pub fn new(config: &RegistryConfig, base_dir: &Path, store_dir: Option<PathBuf>) -> Self {
        OciModules {
            config: config.clone(),
            base_dir: base_dir.to_path_buf(),
            registry: OnceLock::new(),
            store: store_dir.map(|dir| ModuleStore { dir }),
        }
    }

    fn registry(&self) -> Result<Arc<Registry>, String> {
        self.registry
            .get_or_init(|| Registry::new(&self.config, &self.base_dir).map(Arc::new))
            .clone()
    }

    /// The module `reference` (without `oci://`) names, verified as `verify` asks.
    pub fn fetch(&self, reference: &str, verify: Option<&VerifyConfig>) -> Result<Fetched, String> {
        let registry = self.registry()?;
        let pinned = reference
            .split_once('@')
            .map(|(name, digest)| (name.to_string(), digest.to_string()));
        let manifest = match registry.module_manifest(reference) {
            Ok(manifest) => manifest,
            Err(RegistryError::Unreachable(why)) => return self.offline(reference, verify, &why),
            Err(e) => return Err(format!("{OCI_PREFIX}{reference}: {}", e)),
        };
        if let Some((name, digest)) = &pinned
            && name
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            // `repo:tag@digest`: the tag must still point at the pinned digest.
            match registry.resolve(name, None) {
                Ok(now) if &now != digest => {
                    return Err(format!(
                        "{OCI_PREFIX}{reference}: the tag now points at {now}, not the pinned \
                         {digest}: the module was replaced; pin the new digest if it is trusted"
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("{OCI_PREFIX}{name}: {}", e)),
            }
        }
        let verified_with = match verify {
            Some(verify) => {
                let check = registry
                    .verify_cosign(reference, &manifest.manifest_digest, &verify.keys, None)
                    .map_err(|e| {
                        format!(
                            "{OCI_PREFIX}{reference}: cannot check its signatures: {}",
                            e
                        )
                    })?;
                let keys: Vec<String> = verify
                    .keys
                    .iter()
                    .zip(&check.verified)
                    .filter(|(_, ok)| **ok)
                    .map(|(key, _)| key_id(key))
                    .collect();
                if keys.is_empty() {
                    return Err(format!(
                        "{OCI_PREFIX}{reference} ({}) is not signed by any of the {} configured \
                         keys ({} signatures stored{})",
                        manifest.manifest_digest,
                        verify.keys.len(),
                        check.found,
                        if check.problems.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", check.problems.join("; "))
                        }
                    ));
                }
                keys
            }
            None => Vec::new(),
        };
        let kept = self
            .store
            .as_ref()
            .and_then(|s| s.blob(&manifest.layer.digest));
        let pulled = kept.is_none();
        let wasm = match kept {
            Some(wasm) => wasm,
            None => {
                registry
                    .pull_module_layer(reference, &manifest)
                    .map_err(|e| format!("{OCI_PREFIX}{reference}: {e}"))?
                    .wasm
            }
        };
        if let Some(store) = &self.store {
            let record = Record {
                reference: reference.to_string(),
                manifest: manifest.manifest_digest.clone(),
                layer: manifest.layer.digest.clone(),
                verified_with,
            };
            // A blob already kept is not written again.
            if let Err(e) = store.keep(&record, pulled.then_some(wasm.as_slice())) {
                tracing::warn!(
                    module = %reference,
                    "cannot keep the module in {}: {e}; it will be pulled again",
                    store.dir.display()
                );
            }
        }
        Ok(Fetched {
            wasm,
            manifest_digest: manifest.manifest_digest,
            offline: false,
        })
    }

    /// What the disk holds for `reference`, when the registry cannot answer.
    fn offline(
        &self,
        reference: &str,
        verify: Option<&VerifyConfig>,
        why: &str,
    ) -> Result<Fetched, String> {
        let unreachable = || format!("{OCI_PREFIX}{reference}: registry unreachable ({why})");
        let Some(store) = &self.store else {
            return Err(format!("{} and no module cache is kept", unreachable()));
        };
        let Some(record) = store.record(reference) else {
            return Err(format!("{}, and it was never pulled here", unreachable()));
        };
        if let Some(verify) = verify {
            let keys: Vec<String> = verify.keys.iter().map(|k| key_id(k)).collect();
            if !record.verified_with.iter().any(|k| keys.contains(k)) {
                return Err(format!(
                    "{}, and the copy kept here was not verified with the configured keys",
                    unreachable()
                ));
            }
        }
        let wasm = store.blob(&record.layer).ok_or_else(|| {
            format!(
                "{}, and the copy kept here is missing or damaged",
                unreachable()
            )
        })?;
        tracing::warn!(
            module = %reference,
            digest = %record.manifest,
            "registry unreachable ({why}): loaded the module kept from its last pull"
        );
        Ok(Fetched {
            wasm,
            manifest_digest: record.manifest,
            offline: true,
        })
    }
}

/// Pushes the policy component at `wasm_path` to `reference` (without `oci://`), after
/// checking that it loads as a policy; returns its name, version and manifest digest.
pub fn push(
    wasm_path: &Path,
    reference: &str,
    config: &RegistryConfig,
    base_dir: &Path,
) -> Result<(String, String, String), String> {
    let wasm = std::fs::read(wasm_path)
        .map_err(|e| format!("cannot read {}: {e}", wasm_path.display()))?;
    // What is pushed is what was checked: these bytes, read once.
    let inspection = crate::inspect::inspect_bytes(&wasm_path.display().to_string(), &wasm)
        .map_err(|e| e.to_string())?;
    let mut exports = vec!["metadata", "validate-settings", "validate"];
    if inspection.settings_schema.is_some() {
        exports.push(crate::abi::SETTINGS_SCHEMA_EXPORT);
    }
    let component = serde_json::json!({
        "target": inspection
            .abi
            .as_deref()
            .map(|abi| abi.replace("portcullis:policy@", "portcullis:policy/policy@")),
        "exports": exports,
        "imports": inspection.imports,
    });
    let annotations = [
        ("org.opencontainers.image.title", inspection.name.clone()),
        (
            "org.opencontainers.image.version",
            inspection.version.clone(),
        ),
        (
            "org.opencontainers.image.description",
            format!(
                "Portcullis admission policy for {}",
                inspection.doors.join(" and ")
            ),
        ),
        ("dev.portcullis.policy.doors", inspection.doors.join(",")),
        (
            "dev.portcullis.policy.mutating",
            inspection.mutating.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let registry = Registry::new(config, base_dir)?;
    let digest = registry
        .push_module(reference, &wasm, component, annotations)
        .map_err(|e| format!("{OCI_PREFIX}{reference}: {e}"))?;
    Ok((inspection.name, inspection.version, digest))
}

/// A public key's identity for the records: the SHA-256 of its PEM, whitespace trimmed.
fn key_id(pem: &str) -> String {
    hex::encode(sha2::Sha256::digest(pem.trim().as_bytes()))
}

/// What a reference pointed at when it was last pulled.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    reference: String,
    manifest: String,
    layer: String,
    /// The keys (by [`key_id`]) its signature verified with when pulled.
    verified_with: Vec<String>,
}

/// Modules on disk: `blobs/sha256/<hex>.wasm` by layer digest (checked again when read),
/// `refs/<sha256 of the reference>.json` for what each reference last pointed at.
struct ModuleStore {
    dir: PathBuf,
}

impl ModuleStore {
    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join("blobs/sha256").join(format!("{hex}.wasm")))
    }

    fn ref_path(&self, reference: &str) -> PathBuf {
        self.dir.join("refs").join(format!(
            "{}.json",
            hex::encode(sha2::Sha256::digest(reference.as_bytes()))
        ))
    }

    /// The blob of `digest`, only if its content still has that digest.
    fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)?).ok()?;
        let actual = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)));
        (actual == digest).then_some(bytes)
    }

    fn record(&self, reference: &str) -> Option<Record> {
        let text = std::fs::read_to_string(self.ref_path(reference)).ok()?;
        serde_json::from_str::<Record>(&text)
            .ok()
            .filter(|r| r.reference == reference)
    }

    /// Records what `record.reference` points at, and keeps the blob when given.
    fn keep(&self, record: &Record, wasm: Option<&[u8]>) -> std::io::Result<()> {
        let blob = self
            .blob_path(&record.layer)
            .ok_or_else(|| std::io::Error::other("not a sha256 digest"))?;
        if let Some(wasm) = wasm {
            write_atomically(&blob, wasm)?;
        }
        let text = serde_json::to_vec_pretty(record).expect("records serialize");
        write_atomically(&self.ref_path(&record.reference), &text)
    }
}

/// Written beside under a name no other writer uses (another load in this process, another
/// replica on a shared volume), synced, and renamed into place: a reader never sees half a
/// file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path.parent().expect("store paths have a parent");
    std::fs::create_dir_all(dir)?;
    let unique = format!(
        "{}-{}-{}",
        std::process::id(),
        WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let partial = dir.join(format!(
        ".{}.{unique}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("partial")
    ));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&partial, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_returns_only_what_still_has_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModuleStore {
            dir: dir.path().to_path_buf(),
        };
        let wasm = b"\0asm component bytes".to_vec();
        let layer = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&wasm)));
        let record = Record {
            reference: "r.example/p:1".into(),
            manifest: "sha256:abc".into(),
            layer: layer.clone(),
            verified_with: vec![key_id("KEY\n")],
        };
        store.keep(&record, Some(&wasm)).unwrap();
        assert_eq!(store.blob(&layer).unwrap(), wasm);
        assert_eq!(
            store.record("r.example/p:1").unwrap().manifest,
            "sha256:abc"
        );
        assert!(store.record("r.example/p:2").is_none());
        // Changed on disk: not used.
        std::fs::write(store.blob_path(&layer).unwrap(), b"tampered").unwrap();
        assert!(store.blob(&layer).is_none());
        assert!(store.blob_path("sha256:../../etc").is_none());
    }
}
