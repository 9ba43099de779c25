//! `portcullis inspect MODULE`: what a policy component is, read from the component itself —
//! its metadata, the ABI version it was built against, what it imports from the host (and so
//! which capabilities it needs granted), and the JSON Schema of its settings.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::builtin;
use crate::runtime::{Runtime, RuntimeOptions};

/// What a module says of itself.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub module: String,
    pub name: String,
    pub version: String,
    pub mutating: bool,
    pub doors: Vec<&'static str>,
    /// `portcullis:policy@X.Y.Z` as named in its imports, when it imports the package.
    pub abi: Option<String>,
    /// What its config must grant (`capabilities: [...]`) for its host calls to be answered.
    pub capabilities: Vec<&'static str>,
    pub imports: Vec<String>,
    pub settings_schema: Option<Value>,
    pub bytes: usize,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("no built-in policy {0:?} (`portcullis policies` lists them)")]
    UnknownBuiltin(String),
    #[error(transparent)]
    Load(#[from] crate::runtime::LoadError),
}

pub fn inspect(module: &str) -> Result<Inspection, InspectError> {
    let bytes: Vec<u8> = if let Some(name) = module.strip_prefix(builtin::PREFIX) {
        builtin::find(name)
            .ok_or_else(|| InspectError::UnknownBuiltin(name.to_string()))?
            .component
            .wasm
            .to_vec()
    } else {
        std::fs::read(Path::new(module)).map_err(|source| InspectError::Read {
            path: module.to_string(),
            source,
        })?
    };
    inspect_bytes(module, &bytes)
}

/// What the component `bytes` says of itself; `module` names it in the answer.
pub fn inspect_bytes(module: &str, bytes: &[u8]) -> Result<Inspection, InspectError> {
    let runtime = Runtime::new(&RuntimeOptions {
        max_concurrent_instances: 2,
        ..RuntimeOptions::default()
    })?;
    let loaded = runtime.load("inspected", bytes)?;
    let metadata = loaded.metadata();
    let imports: Vec<String> = loaded.imports().to_vec();
    let abi = imports.iter().find_map(|name| {
        let (package, version) = name.split_once('@')?;
        package
            .starts_with("portcullis:policy/")
            .then(|| format!("portcullis:policy@{version}"))
    });
    let mut capabilities = Vec::new();
    if imports
        .iter()
        .any(|name| name.starts_with("portcullis:policy/registry"))
    {
        capabilities.push("registry");
    }
    Ok(Inspection {
        module: module.to_string(),
        name: metadata.name.clone(),
        version: metadata.version.clone(),
        mutating: metadata.mutating,
        doors: metadata.sources.iter().map(|s| s.as_str()).collect(),
        abi,
        capabilities,
        imports,
        settings_schema: loaded
            .settings_schema()
            .and_then(|s| serde_json::from_str(s.text()).ok()),
        bytes: bytes.len(),
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)),
    })
}

impl Inspection {
    /// As a person reads it.
    pub fn human(&self) -> String {
        let none = || "none".to_string();
        let mut out = format!(
            "module:        {}\nname:          {}\nversion:       {}\ndoors:         {}\nmutating:      {}\nABI:           {}\ncapabilities:  {}\nimports:       {}\nsize:          {} bytes, sha256:{}\n",
            self.module,
            self.name,
            self.version,
            self.doors.join(", "),
            if self.mutating {
                "yes (the config must also say allowedToMutate: true)"
            } else {
                "no"
            },
            self.abi
                .clone()
                .unwrap_or_else(|| "portcullis:policy@1.x (imports nothing of the package)".into()),
            if self.capabilities.is_empty() {
                none()
            } else {
                format!(
                    "{} (grant with `capabilities: [{}]` in its config)",
                    self.capabilities.join(", "),
                    self.capabilities.join(", ")
                )
            },
            if self.imports.is_empty() {
                none()
            } else {
                self.imports.join(", ")
            },
            self.bytes,
            self.sha256,
        );
        match &self.settings_schema {
            Some(schema) => {
                out.push_str("settings schema:\n");
                out.push_str(&serde_json::to_string_pretty(schema).expect("values serialize"));
                out.push('\n');
            }
            None => out.push_str(
                "settings schema: none (built against ABI 1.0 or 1.1, or the policy exports none: settings are checked by the policy alone)\n",
            ),
        }
        out
    }
}
