//! Policy modules as OCI artifacts, laid out as the WebAssembly OCI artifact convention
//! (CNCF TAG Runtime's wasm OCI artifact layout, which ORAS, wasm-pkg-tools and registries
//! understand): an image manifest whose config is `application/vnd.wasm.config.v0+json` and
//! whose one layer is the component, `application/wasm`.

use std::collections::BTreeMap;
use std::time::Duration;

use oci_client::Reference;
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use serde_json::json;
use sha2::Digest as _;

use super::{Registry, RegistryError, parse};

pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Layer media types other tools have used for a wasm module (wasm-to-oci, Kubewarden).
const OLDER_LAYER_MEDIA_TYPES: &[&str] = &[
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
];
/// The largest module the host downloads.
pub const MAX_MODULE: i64 = 256 << 20;
/// A module download may take longer than a registry question.
const MODULE_DEADLINE: Duration = Duration::from_secs(120);

/// A module as the registry holds it.
#[derive(Debug, Clone)]
pub struct PulledModule {
    /// The manifest's digest: what a config pins with `@sha256:…`, and what is signed.
    pub manifest_digest: String,
    /// The layer's digest, checked against `wasm`.
    pub layer_digest: String,
    pub wasm: Vec<u8>,
}

/// What the registry says a module reference points at, without its content.
#[derive(Debug, Clone)]
pub struct ModuleManifest {
    pub manifest_digest: String,
    pub layer: OciDescriptor,
}

/// A buffer that refuses to grow past `limit`.
struct Bounded {
    bytes: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl tokio::io::AsyncWrite for Bounded {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.bytes.len() + data.len() > self.limit {
            self.exceeded = true;
            return std::task::Poll::Ready(Err(std::io::Error::other(
                "more bytes than the manifest declares",
            )));
        }
        self.bytes.extend_from_slice(data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Registry {
    /// The manifest `reference` names and its one wasm layer (digest-checked by
    /// [`Registry::manifest`]).
    pub fn module_manifest(&self, reference: &str) -> Result<ModuleManifest, RegistryError> {
        let manifest = self.manifest(reference, None)?;
        let parsed: OciImageManifest = serde_json::from_slice(&manifest.content).map_err(|e| {
            RegistryError::Invalid(format!(
                "{reference} is not an OCI image manifest (a wasm artifact): {e}"
            ))
        })?;
        let layers: Vec<&OciDescriptor> = parsed
            .layers
            .iter()
            .filter(|l| {
                l.media_type == WASM_LAYER_MEDIA_TYPE
                    || OLDER_LAYER_MEDIA_TYPES.contains(&l.media_type.as_str())
            })
            .collect();
        let [layer] = layers[..] else {
            return Err(RegistryError::Invalid(format!(
                "{reference} holds {} layers of type {WASM_LAYER_MEDIA_TYPE}, expected one (its layers: {})",
                layers.len(),
                parsed
                    .layers
                    .iter()
                    .map(|l| l.media_type.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if !(0..=MAX_MODULE).contains(&layer.size) {
            return Err(RegistryError::Invalid(format!(
                "{reference}: a module of {} bytes, more than {MAX_MODULE}",
                layer.size
            )));
        }
        Ok(ModuleManifest {
            manifest_digest: manifest.digest,
            layer: layer.clone(),
        })
    }

    /// Downloads the module layer `manifest` names, checked against its digest.
    pub fn pull_module_layer(
        &self,
        reference: &str,
        manifest: &ModuleManifest,
    ) -> Result<PulledModule, RegistryError> {
        let parsed = parse(reference)?;
        let access = self.access(&parsed, None)?;
        let client = self.client(&access)?;
        let layer = manifest.layer.clone();
        let declared = layer.size.max(0) as usize;
        let wasm = self.call_within("module", MODULE_DEADLINE, async move {
            client
                .store_auth_if_needed(parsed.resolve_registry(), &access.auth)
                .await;
            // No more than the manifest declares (and it declares at most MAX_MODULE): a
            // registry that sends more is cut off, not buffered.
            let mut wasm = Bounded {
                bytes: Vec::with_capacity(declared),
                limit: declared,
                exceeded: false,
            };
            let pulled = client.pull_blob(&parsed, &layer, &mut wasm).await;
            Ok((pulled, wasm))
        })?;
        let (pulled, wasm) = wasm;
        if wasm.exceeded {
            return Err(RegistryError::Invalid(format!(
                "{reference}: the module layer is larger than the {declared} bytes its manifest declares"
            )));
        }
        pulled.map_err(|e| super::classify(&e))?;
        let wasm = wasm.bytes;
        let actual = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&wasm)));
        if actual != manifest.layer.digest {
            return Err(RegistryError::Invalid(format!(
                "{reference}: the module layer {} arrived with digest {actual}",
                manifest.layer.digest
            )));
        }
        Ok(PulledModule {
            manifest_digest: manifest.manifest_digest.clone(),
            layer_digest: actual,
            wasm,
        })
    }

    /// Pushes `wasm` as a wasm artifact tagged `reference` and returns its manifest digest.
    /// `component` describes it in the config blob (exports, imports, the world it targets).
    pub fn push_module(
        &self,
        reference: &str,
        wasm: &[u8],
        component: serde_json::Value,
        annotations: BTreeMap<String, String>,
    ) -> Result<String, RegistryError> {
        let parsed: Reference = parse(reference)?;
        if parsed.digest().is_some() {
            return Err(RegistryError::Invalid(format!(
                "{reference}: push to a tag; the digest is the registry's to give"
            )));
        }
        let layer = ImageLayer::new(wasm.to_vec(), WASM_LAYER_MEDIA_TYPE.to_string(), None);
        let config = json!({
            "created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer.sha256_digest()],
            "component": component,
        });
        let config = Config::new(
            serde_json::to_vec(&config).expect("json serializes"),
            WASM_CONFIG_MEDIA_TYPE.to_string(),
            None,
        );
        let manifest = OciImageManifest::build(
            std::slice::from_ref(&layer),
            &config,
            Some(annotations).filter(|a| !a.is_empty()),
        );
        let access = self.access(&parsed, None)?;
        let client = self.client(&access)?;
        self.call_within("push", MODULE_DEADLINE, async move {
            client
                .push(&parsed, &[layer], config, &access.auth, Some(manifest))
                .await?;
            // The registry's own answer for the tag: what a config pins.
            client.fetch_manifest_digest(&parsed, &access.auth).await
        })
    }
}
