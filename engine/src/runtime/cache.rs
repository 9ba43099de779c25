//! Compiled artifacts on disk, keyed by the module's SHA-256 and the engine's version and
//! configuration, so a restart skips compilation. A missing, stale or unreadable entry is
//! recompiled and rewritten; the cache never decides whether a module loads.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

pub(super) struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub(super) fn new(dir: PathBuf, engine: &Engine) -> Self {
        // The compatibility hash covers wasmtime's version and every setting that changes
        // generated code; our own version is added so a fix here also invalidates entries.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        ArtifactCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn path_for(&self, wasm: &[u8]) -> PathBuf {
        let digest = crate::builtin::sha256_hex(wasm);
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    pub(super) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<(Component, super::Source)> {
        let path = self.path_for(wasm);
        if path.exists() {
            // SAFETY: the file was written by `store` below from our own compilation, in a
            // directory only this engine writes to. `deserialize_file` checks the header and
            // the engine compatibility; a corrupt entry is an error, and we recompile.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, super::Source::Cached)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cached artifact: {e:#}")
                }
            }
        }
        let component = Component::from_binary(engine, wasm)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(dir = %self.dir.display(), "cannot cache compiled policy: {e}");
        }
        Ok((component, super::Source::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        // Write then rename, so a concurrent reader never sees half a file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}
