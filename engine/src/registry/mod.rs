//! Registry facts for policies: what a tag points at, a manifest, the cosign signatures
//! stored for a digest, and their verification. Policies never reach the network; they ask
//! through the ABI's `registry` import, and these answers are the host's.
//!
//! Invariants:
//! - every call to a registry has one deadline (`registry.timeout`), and its failure comes
//!   back as a [`RegistryError`] the policy sees, never a panic or a hang;
//! - what a tag points at is cached for `registry.tagTtl`, what a digest names (a manifest)
//!   until the cache is full, signatures and their verification for the tag TTL (new
//!   signatures may be added to a digest);
//! - the calls run on this module's own small runtime, so an evaluation thread can wait for
//!   them whether or not it is inside another runtime.

pub mod artifacts;
mod cache;
pub mod cosign;
mod pull_secrets;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sha2::Digest as _;

use crate::config::RegistryConfig;
use cache::Cache;
pub use cosign::{Check, PublicKey, StoredSignature};

/// Why a registry question has no answer. The policy sees these as the ABI's
/// `registry-error`, and decides what a failure means (the built-ins leave it undecided, so
/// the policy's `failurePolicy` applies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("the policy is not granted the registry capability")]
    NotGranted,
    #[error("registry unreachable: {0}")]
    Unreachable(String),
    #[error("registry refused access: {0}")]
    Unauthorized(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl RegistryError {
    fn label(&self) -> &'static str {
        match self {
            RegistryError::NotGranted => "not-granted",
            RegistryError::Unreachable(_) => "unreachable",
            RegistryError::Unauthorized(_) => "unauthorized",
            RegistryError::NotFound(_) => "not-found",
            RegistryError::Invalid(_) => "invalid",
        }
    }
}

/// What one request tells the host beyond its images' names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The Docker door: which image the daemon holds under each name a create uses.
    pub local_images: LocalImages,
    /// The Kubernetes door: the namespace and the `imagePullSecrets` the pod spec names;
    /// their credentials are tried before the config's, as the kubelet tries them.
    pub pull_secrets: Option<PullSecrets>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecrets {
    pub namespace: String,
    pub names: Vec<String>,
}

/// What a door knows of the images a request names, which registry answers must not
/// override: at the Docker door, a create runs the daemon's local image, whatever the
/// registry's tag points at now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalImages(pub Vec<(String, LocalImage)>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalImage {
    /// The image under that name was pulled as this manifest digest of its repository.
    Digest(String),
    /// The daemon has an image under that name (this ID) that no pull from the repository
    /// the name says produced: built, loaded, imported, or tagged from another image.
    Unpulled { id: String },
}

impl LocalImages {
    /// What `image` (as written in the request) is on the daemon, when the door said.
    pub fn get(&self, image: &str) -> Option<&LocalImage> {
        self.0
            .iter()
            .find(|(name, _)| name == image)
            .map(|(_, i)| i)
    }
}

/// A manifest and its digest (computed here, not taken from the registry's word).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `resolve`, `manifest`, `signatures`.
    pub call: &'static str,
    /// `ok` or the error's kind (`unreachable`, `unauthorized`, `not-found`, `invalid`).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `digest`, `manifest`, `signatures`, `verification`.
    pub cache: &'static str,
}

/// The registry counters, one set per process so that `/metrics` finds them whichever
/// policy set is loaded.
#[derive(Default)]
pub struct Stats {
    pub calls: Family<CallLabels, Counter>,
    pub cache_hits: Family<CacheLabels, Counter>,
}

pub fn stats() -> &'static Stats {
    static STATS: OnceLock<Stats> = OnceLock::new();
    STATS.get_or_init(Stats::default)
}

/// The registry client the policies' questions go through.
pub struct Registry {
    settings: ClientSettings,
    /// One client per set of credentials: a client keeps the first credentials it is given
    /// for a registry, so requests with other credentials need their own.
    clients: Mutex<HashMap<String, Client>>,
    runtime: Option<tokio::runtime::Runtime>,
    /// `registry.insecure`, normalized for comparison.
    insecure: Vec<String>,
    auth: HashMap<String, RegistryAuth>,
    /// The cluster's API, for pull secrets; connected at the first secret asked for.
    cluster: Arc<tokio::sync::OnceCell<Result<kube::Client, String>>>,
    secrets: Cache<String, Vec<pull_secrets::Credential>>,
    digests: Cache<String, String>,
    manifests: Cache<String, Manifest>,
    signatures: Cache<String, Vec<StoredSignature>>,
    checks: Cache<String, Check>,
}

/// What a client is built from.
struct ClientSettings {
    insecure: Vec<String>,
    ca: Option<Vec<u8>>,
    timeout: Duration,
}

impl ClientSettings {
    fn client(&self) -> Result<Client, String> {
        let mut config = ClientConfig {
            protocol: if self.insecure.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(self.insecure.clone())
            },
            connect_timeout: Some(self.timeout),
            read_timeout: Some(self.timeout),
            user_agent: concat!("portcullis/", env!("CARGO_PKG_VERSION")),
            // An index is a fact to report, not something to resolve to one platform here.
            platform_resolver: None,
            ..ClientConfig::default()
        };
        if let Some(ca) = &self.ca {
            config.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: ca.clone(),
            });
        }
        Client::try_from(config).map_err(|e| format!("registry client: {e}"))
    }
}

/// The credentials one question is asked with, and a name for them that picks its client
/// (a client keeps the first credentials it is given for a registry).
#[derive(Clone)]
struct Access {
    id: String,
    auth: RegistryAuth,
}

impl Drop for Registry {
    fn drop(&mut self) {
        // A policy set may be dropped on an async thread (a reload); a runtime dropped
        // there would panic, one shut down in the background does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Registry {
    pub fn new(config: &RegistryConfig, base_dir: &std::path::Path) -> Result<Registry, String> {
        // reqwest is built without a default crypto provider; the process uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = match &config.ca_file {
            Some(ca) => {
                let path = base_dir.join(ca);
                Some(
                    std::fs::read(&path)
                        .map_err(|e| format!("registry.caFile {}: {e}", path.display()))?,
                )
            }
            None => None,
        };
        let settings = ClientSettings {
            insecure: config.insecure.clone(),
            ca,
            timeout: config.timeout,
        };
        // A bad CA file is reported at load, not at the first question.
        let anonymous = settings.client()?;

        let mut auth = HashMap::new();
        // The config has checked that each gives exactly one of the two.
        for c in &config.credentials {
            let password = match (&c.password, &c.password_file) {
                (Some(p), _) => p.clone(),
                (None, Some(file)) => {
                    let path = base_dir.join(file);
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("registry.credentials {}: {e}", path.display()))?
                        .trim_end_matches(['\r', '\n'])
                        .to_string()
                }
                (None, None) => String::new(),
            };
            auth.insert(
                normalize_host(&c.registry),
                RegistryAuth::Basic(c.username.clone(), password),
            );
        }

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("portcullis-registry")
            .enable_all()
            .build()
            .map_err(|e| format!("registry runtime: {e}"))?;
        let ttl = Some(config.tag_ttl);
        let entries = config.cache_entries;
        Ok(Registry {
            settings,
            clients: Mutex::new(HashMap::from([(ANONYMOUS.to_string(), anonymous)])),
            runtime: Some(runtime),
            insecure: config.insecure.iter().map(|h| normalize_host(h)).collect(),
            auth,
            cluster: Arc::new(tokio::sync::OnceCell::new()),
            secrets: Cache::new(entries, ttl),
            digests: Cache::new(entries, ttl),
            manifests: Cache::new(entries, None),
            signatures: Cache::new(entries, ttl),
            checks: Cache::new(entries, ttl),
        })
    }

    /// Whether the host reaches `registry` over plain HTTP.
    pub fn insecure(&self, registry: &str) -> bool {
        self.insecure.contains(&normalize_host(registry))
    }

    /// The digest `image` names: its own when pinned, else what its tag points at now.
    pub fn resolve(&self, image: &str, context: Option<&Context>) -> Result<String, RegistryError> {
        // Keyed by the image as written and who asks: a repeated question needs no parse.
        let key = format!("{}|{image}", access_id(context));
        if let Some(digest) = self.digests.get(&key) {
            hit("digest");
            return Ok((*digest).clone());
        }
        let reference = parse(image)?;
        if let Some(digest) = reference.digest() {
            return Ok(digest.to_string());
        }
        let access = self.access(&reference, context)?;
        let client = self.client(&access)?;
        let digest = self
            .call("resolve", async move {
                client.fetch_manifest_digest(&reference, &access.auth).await
            })
            .map_err(|e| match e {
                RegistryError::NotFound(why) => {
                    RegistryError::NotFound(format!("the registry does not have it ({why})"))
                }
                other => other,
            })?;
        Ok((*self.digests.insert(key, digest)).clone())
    }

    /// The manifest `image` names, by digest (resolving its tag first).
    pub fn manifest(
        &self,
        image: &str,
        context: Option<&Context>,
    ) -> Result<Manifest, RegistryError> {
        let digest = self.resolve(image, context)?;
        let key = format!("{}|{image}@{digest}", access_id(context));
        if let Some(m) = self.manifests.get(&key) {
            hit("manifest");
            return Ok((*m).clone());
        }
        let reference = parse(image)?;
        let pinned = Reference::with_digest(
            reference.registry().to_string(),
            reference.repository().to_string(),
            digest.clone(),
        );
        let access = self.access(&pinned, context)?;
        let client = self.client(&access)?;
        let (content, media_type) = self.call("manifest", async move {
            let (bytes, _) = client
                .pull_manifest_raw(&pinned, &access.auth, MANIFEST_MEDIA_TYPES)
                .await?;
            // Manifests since schema 2 name their own media type.
            let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
                .unwrap_or_default();
            Ok((bytes.to_vec(), media_type))
        })?;
        let actual = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&content)));
        if actual != digest {
            stats()
                .calls
                .get_or_create(&CallLabels {
                    call: "manifest",
                    result: "invalid",
                })
                .inc();
            return Err(RegistryError::Invalid(format!(
                "the registry answered {digest} with a manifest whose digest is {actual}"
            )));
        }
        let manifest = Manifest {
            digest,
            media_type,
            content,
        };
        Ok((*self.manifests.insert(key, manifest)).clone())
    }

    /// The key-based cosign signatures stored for `digest` in `image`'s repository.
    pub fn signatures(
        &self,
        image: &str,
        digest: &str,
        context: Option<&Context>,
    ) -> Result<Arc<Vec<StoredSignature>>, RegistryError> {
        let key = format!("{}|{image}@{digest}", access_id(context));
        if let Some(found) = self.signatures.get(&key) {
            hit("signatures");
            return Ok(found);
        }
        let reference = parse(image)?;
        let tag = cosign::signature_tag(digest).map_err(RegistryError::Invalid)?;
        let signatures = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            tag,
        );
        let access = self.access(&signatures, context)?;
        let client = self.client(&access)?;
        let found = self.call("signatures", async move {
            let auth = &access.auth;
            let (bytes, _) = match client
                .pull_manifest_raw(&signatures, auth, MANIFEST_MEDIA_TYPES)
                .await
            {
                Ok(m) => m,
                Err(e) if matches!(classify(&e), RegistryError::NotFound(_)) => {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(e),
            };
            if bytes.len() > MAX_SIGNATURE_MANIFEST {
                return Err(OciDistributionError::SpecViolationError(format!(
                    "the signature manifest is {} bytes, more than {MAX_SIGNATURE_MANIFEST}",
                    bytes.len()
                )));
            }
            let manifest: OciImageManifest = serde_json::from_slice(&bytes)?;
            let mut found = Vec::new();
            for layer in &manifest.layers {
                if layer.media_type != cosign::SIGNATURE_MEDIA_TYPE {
                    continue;
                }
                if found.len() == MAX_SIGNATURES {
                    break;
                }
                if !(0..=MAX_PAYLOAD).contains(&layer.size) {
                    return Err(OciDistributionError::SpecViolationError(format!(
                        "a signature payload of {} bytes, more than {MAX_PAYLOAD}",
                        layer.size
                    )));
                }
                let annotations = layer.annotations.clone().unwrap_or_default();
                let Some(signature) = annotations.get(cosign::SIGNATURE_ANNOTATION).cloned() else {
                    continue;
                };
                let mut payload = Vec::new();
                // pull_blob checks the payload against the layer's digest.
                client.pull_blob(&signatures, layer, &mut payload).await?;
                found.push(StoredSignature {
                    payload,
                    signature,
                    annotations: annotations
                        .into_iter()
                        .filter(|(k, _)| k != cosign::SIGNATURE_ANNOTATION)
                        .collect(),
                });
            }
            Ok(found)
        })?;
        Ok(self.signatures.insert(key, found))
    }

    /// Checks the cosign signatures stored for `digest` against `keys` (PEM), caching the
    /// outcome with the signatures it was computed from.
    pub fn verify_cosign(
        &self,
        image: &str,
        digest: &str,
        keys: &[String],
        context: Option<&Context>,
    ) -> Result<Arc<Check>, RegistryError> {
        let mut hasher = sha2::Sha256::new();
        for key in keys {
            hasher.update(key.as_bytes());
            hasher.update([0]);
        }
        let key = format!(
            "{}|{image}@{digest}#{}",
            access_id(context),
            hex::encode(hasher.finalize())
        );
        if let Some(check) = self.checks.get(&key) {
            hit("verification");
            return Ok(check);
        }
        let public_keys = keys
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                PublicKey::from_pem(pem)
                    .map_err(|e| RegistryError::Invalid(format!("key {i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stored = self.signatures(image, digest, context)?;
        Ok(self
            .checks
            .insert(key, cosign::check(digest, &stored, &public_keys)))
    }

    /// The credentials for `reference`: the first pull secret the request names that has
    /// some for its registry (as the kubelet tries them), else the config's, else none.
    fn access(
        &self,
        reference: &Reference,
        context: Option<&Context>,
    ) -> Result<Access, RegistryError> {
        let host = normalize_host(reference.registry());
        if let Some(pulls) = context.and_then(|c| c.pull_secrets.as_ref()) {
            for name in &pulls.names {
                let found = self.pull_secret(&pulls.namespace, name)?;
                if let Some(c) = found.iter().find(|c| c.host == host) {
                    return Ok(Access {
                        id: format!("secret:{}/{name}", pulls.namespace),
                        auth: RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                    });
                }
            }
        }
        Ok(match self.auth.get(&host) {
            Some(auth) => Access {
                id: "config".into(),
                auth: auth.clone(),
            },
            None => Access {
                id: ANONYMOUS.into(),
                auth: RegistryAuth::Anonymous,
            },
        })
    }

    /// The credentials in pull secret `namespace/name` (none when it does not exist, as the
    /// kubelet goes on without a missing one).
    fn pull_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Vec<pull_secrets::Credential>>, RegistryError> {
        let key = format!("{namespace}/{name}");
        if let Some(found) = self.secrets.get(&key) {
            hit("pull-secret");
            return Ok(found);
        }
        let cluster = self.cluster.clone();
        let (ns, n) = (namespace.to_string(), name.to_string());
        let secret = self
            .block(async move {
                let client = cluster
                    .get_or_init(|| async {
                        kube::Client::try_default().await.map_err(|e| e.to_string())
                    })
                    .await
                    .clone()?;
                kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client, &ns)
                    .get_opt(&n)
                    .await
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|| Err(self.no_answer()))
            .map_err(|e| {
                RegistryError::Unauthorized(format!("cannot read the pull secret {key}: {e}"))
            })?;
        let found = secret
            .map(|s| pull_secrets::credentials(&s))
            .unwrap_or_default();
        Ok(self.secrets.insert(key, found))
    }

    /// The client for `access`, made at its first use.
    fn client(&self, access: &Access) -> Result<Client, RegistryError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&access.id) {
            return Ok(client.clone());
        }
        let client = self.settings.client().map_err(RegistryError::Invalid)?;
        clients.insert(access.id.clone(), client.clone());
        Ok(client)
    }

    /// Runs `work` on this module's runtime within the deadline; `None` when it passed.
    fn block<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        self.block_within(self.settings.timeout, work)
    }

    /// [`Registry::block`] with a deadline of its own (a module download).
    fn block_within<T: Send + 'static>(
        &self,
        timeout: Duration,
        work: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the registry");
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(tokio::time::timeout(timeout, work).await.ok());
        });
        // The runtime's own timer bounds the work; this bounds the wait should the runtime
        // itself be stuck.
        rx.recv_timeout(timeout + Duration::from_secs(1))
            .ok()
            .flatten()
    }

    fn no_answer(&self) -> String {
        no_answer_within(self.settings.timeout)
    }

    /// Runs one registry call within the deadline, and counts it.
    fn call<T: Send + 'static>(
        &self,
        name: &'static str,
        work: impl Future<Output = Result<T, OciDistributionError>> + Send + 'static,
    ) -> Result<T, RegistryError> {
        self.call_within(name, self.settings.timeout, work)
    }

    /// [`Registry::call`] with a deadline of its own.
    fn call_within<T: Send + 'static>(
        &self,
        name: &'static str,
        timeout: Duration,
        work: impl Future<Output = Result<T, OciDistributionError>> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let outcome = match self.block_within(timeout, work) {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(classify(&e)),
            None => Err(RegistryError::Unreachable(no_answer_within(timeout))),
        };
        let result = match &outcome {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        stats()
            .calls
            .get_or_create(&CallLabels { call: name, result })
            .inc();
        outcome
    }
}

fn no_answer_within(timeout: Duration) -> String {
    format!("no answer within {}", humantime::format_duration(timeout))
}

const ANONYMOUS: &str = "anonymous";
/// Bounds on what a registry may hand the host for one digest's signatures: a repository
/// anyone can push to must not be able to exhaust the engine.
const MAX_SIGNATURE_MANIFEST: usize = 4 << 20;
const MAX_SIGNATURES: usize = 32;
const MAX_PAYLOAD: i64 = 64 << 10;

/// Who asks, for every cache key beside the image as written (so a repeated question needs
/// no parse): the pull secrets a request names (their credentials may be used), or the
/// host's own access. An answer given to one is not handed to another.
fn access_id(context: Option<&Context>) -> String {
    match context.and_then(|c| c.pull_secrets.as_ref()) {
        Some(p) => format!("{}/{}", p.namespace, p.names.join(",")),
        None => "host".into(),
    }
}

const MANIFEST_MEDIA_TYPES: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    oci_client::manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
    oci_client::manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

fn hit(cache: &'static str) {
    stats()
        .cache_hits
        .get_or_create(&CacheLabels { cache })
        .inc();
}

fn parse(image: &str) -> Result<Reference, RegistryError> {
    image
        .parse::<Reference>()
        .map_err(|e| RegistryError::Invalid(format!("{image:?} is not an image reference: {e}")))
}

/// `Docker.IO` and `index.docker.io` are the same registry as `docker.io`.
fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/').to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        _ => host,
    }
}

/// Sorts the client's errors into what a policy can act on.
pub(crate) fn classify(error: &OciDistributionError) -> RegistryError {
    let text = error.to_string();
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => RegistryError::Unauthorized(text),
        OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound(text),
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                RegistryError::NotFound(text)
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                RegistryError::Unauthorized(text)
            } else {
                RegistryError::Invalid(text)
            }
        }
        OciDistributionError::ServerError { code, .. } => match code {
            404 => RegistryError::NotFound(text),
            401 | 403 => RegistryError::Unauthorized(text),
            // The registry is down or overloaded: it may answer later.
            429 | 500..=599 => RegistryError::Unreachable(text),
            // It answered, and refused (410 Gone, 451, a bad request): that is its answer.
            _ => RegistryError::Invalid(text),
        },
        OciDistributionError::RequestError(e) => {
            // reqwest's Display hides the cause (connection refused, certificate unknown).
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            RegistryError::Unreachable(text)
        }
        OciDistributionError::IoError(_) => RegistryError::Unreachable(text),
        _ => RegistryError::Invalid(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_has_one_name() {
        assert_eq!(normalize_host("Index.Docker.IO"), "docker.io");
        assert_eq!(normalize_host("127.0.0.1:5000/"), "127.0.0.1:5000");
    }
}
