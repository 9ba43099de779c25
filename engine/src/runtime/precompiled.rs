//! Built-in policies compiled ahead of time, shipped beside the binary (the container image
//! holds them in `/precompiled`), so a process that starts with an empty compile cache — every
//! pod start and scale-up of a read-only container — answers without compiling anything.
//!
//! They are compiled by this same binary (`portcullis precompile DIR`) with the engine's
//! configuration, for the target triple but none of the build machine's CPU features, so they
//! load on any machine of that architecture. wasmtime checks every artifact against the
//! running engine (its version, settings and the host's CPU); one that does not fit is
//! reported and the policy compiled as usual: this directory never decides whether a module
//! loads.

use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// Where a binary looks for its ahead-of-time artifacts unless the config says otherwise:
/// `precompiled/` in its own directory.
pub fn default_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("precompiled"))
}

fn file_name(wasm: &[u8]) -> String {
    format!("{}.cwasm", crate::builtin::sha256_hex(wasm))
}

/// Reads artifacts written by [`write`].
pub(super) struct Precompiled {
    dir: PathBuf,
}

impl Precompiled {
    pub(super) fn new(dir: PathBuf) -> Option<Self> {
        dir.is_dir().then_some(Precompiled { dir })
    }

    /// The artifact for `wasm`, when there is one and the running engine can use it.
    pub(super) fn load(&self, engine: &Engine, wasm: &[u8]) -> Option<Component> {
        let path = self.dir.join(file_name(wasm));
        if !path.exists() {
            return None;
        }
        // SAFETY: the directory holds what `portcullis precompile` wrote, installed beside
        // the binary by whoever installed the binary. `deserialize_file` checks the header,
        // wasmtime's version, the engine's settings and the CPU features the code needs.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "precompiled policy does not fit this engine, compiling it instead: {e:#}");
                None
            }
        }
    }
}

/// Compiles each component for this target with no CPU features beyond its baseline, and
/// writes it to `dir` named by the SHA-256 of the component. Returns the paths written.
pub fn write<'a>(
    config: &mut Config,
    dir: &Path,
    components: impl IntoIterator<Item = &'a [u8]>,
) -> wasmtime::Result<Vec<PathBuf>> {
    // Naming the target, even the one we run on, turns off the detection of the build
    // machine's CPU features.
    config.target(env!("PORTCULLIS_TARGET"))?;
    let engine = Engine::new(config)?;
    std::fs::create_dir_all(dir)?;
    use rayon::prelude::*;
    let components: Vec<&[u8]> = components.into_iter().collect();
    components
        .par_iter()
        .map(|wasm| {
            let path = dir.join(file_name(wasm));
            let bytes = engine.precompile_component(wasm)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
            Ok(path)
        })
        .collect()
}
