//! The policy configuration: YAML in, a validated [`Config`] out. Unknown fields are errors,
//! and every error names the file, line and field.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::audit::AuditConfig;
use crate::matching::MatchRules;
use crate::runtime::{Limits, MAX_MEMORY_LIMIT, RuntimeOptions};

/// The built-in default policy set; also shipped as `deploy/config/portcullis.yaml`.
pub const DEFAULT_CONFIG: &str = include_str!("../../deploy/config/portcullis.yaml");

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Everything wrong with a config, one line each: `file:line:column: field: message`.
    #[error("{}", .0.join("\n"))]
    Problems(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    pub policies: Vec<PolicyConfig>,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// Pod Security Standards levels chosen per namespace by its labels, as PSA does.
    #[serde(default)]
    pub pod_security: PodSecurityConfig,
    /// The Docker door's own rules for routes no policy can inspect.
    #[serde(default)]
    pub docker: DockerConfig,
    /// The background audit `serve` runs on its own, when set.
    #[serde(default)]
    pub background_audit: Option<BackgroundAuditConfig>,
    /// How the host asks registries on behalf of policies granted `registry`.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// Directory that relative module paths are resolved against: the config file's own.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `backgroundAudit`: what `serve` audits, and how often (docs/audit.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackgroundAuditConfig {
    /// How often, as `30m`, `1h`, `90s`.
    #[serde(with = "humantime_serde_duration")]
    pub interval: std::time::Duration,
    /// Which doors: `kubernetes` (the cluster, through the service account) and `docker`
    /// (`docker.daemon`).
    #[serde(default = "BackgroundAuditConfig::default_doors")]
    pub doors: Vec<BackgroundDoor>,
    /// Also write PolicyReports (Kubernetes).
    #[serde(default)]
    pub write_reports: bool,
    /// The Lease (in the engine's own namespace) that elects the one replica that audits.
    #[serde(default)]
    pub lease: LeaseConfig,
}

impl BackgroundAuditConfig {
    fn default_doors() -> Vec<BackgroundDoor> {
        vec![BackgroundDoor::Kubernetes]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackgroundDoor {
    Kubernetes,
    Docker,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LeaseConfig {
    pub name: String,
    /// How long a holder that stopped renewing keeps it before another replica takes over.
    pub duration_seconds: u64,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            name: "portcullis-background-audit".into(),
            duration_seconds: 30,
        }
    }
}

/// Durations written as humans write them (`1h`, `30m`), read with humantime.
mod humantime_serde_duration {
    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
        let text = String::deserialize(d)?;
        let duration = humantime::parse_duration(&text).map_err(|e| {
            D::Error::custom(format!("{text:?} is not a duration like 30m or 1h: {e}"))
        })?;
        if duration < std::time::Duration::from_secs(1) {
            return Err(D::Error::custom("the interval must be at least 1s"));
        }
        Ok(duration)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// Cache of compiled policies; defaults to `$XDG_CACHE_HOME/portcullis`.
    pub cache_dir: Option<PathBuf>,
    /// Turn the compile cache off.
    #[serde(default)]
    pub disable_cache: bool,
    /// Built-ins compiled ahead of time by `portcullis precompile`; defaults to
    /// `precompiled/` beside the executable.
    pub precompiled_dir: Option<PathBuf>,
    /// Policy instances alive at once (default 64).
    pub max_concurrent_instances: Option<u32>,
}

/// The HTTPS listener of the Kubernetes webhook (and the Docker plugin socket).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ServerConfig {
    pub address: SocketAddr,
    pub tls: TlsConfig,
    /// Larger request bodies are refused with 413.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_seconds: u64,
    /// Serve the Docker authorization plugin protocol on this unix socket.
    pub docker_socket: Option<PathBuf>,
    /// Also serve the Docker plugin protocol over TLS on this address, for daemons on other
    /// hosts (their plugin spec is a `.json` file with `Addr: "https://..."` and a `TLSConfig`).
    /// Uses the webhook's certificate.
    pub docker_address: Option<SocketAddr>,
    /// The name dockerd knows the plugin by (`--authorization-plugin=NAME`), which the
    /// Docker API may not disable or remove. Default: the socket's file name without `.sock`.
    pub docker_plugin_name: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            address: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8443)),
            tls: TlsConfig::default(),
            body_limit_bytes: 3 << 20,
            shutdown_timeout_seconds: 25,
            docker_socket: None,
            docker_address: None,
            docker_plugin_name: None,
        }
    }
}

/// The serving certificate: files (reloaded when they change), or a self-signed one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Names and addresses of the self-signed certificate made when no files are given.
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// Where the CA of the self-signed certificate is written, for a webhook's `caBundle`.
    pub ca_bundle_file: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            dns_names: vec!["localhost".into()],
            ip_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ca_bundle_file: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct KubernetesConfig {
    /// The engine's own namespace, left out of every policy by default (so it cannot lock
    /// itself out). Defaults to `$POD_NAMESPACE`.
    pub own_namespace: Option<String>,
    /// Watch namespace labels from the API server (in-cluster service account or
    /// `KUBECONFIG`) for `namespaceSelector` rules. Without a cluster, selectors cannot match.
    pub namespace_labels: NamespaceLabelsSource,
    /// Register the webhook configurations with the API server (and share a CA and serving
    /// certificate between replicas through a Secret).
    pub registration: Option<RegistrationConfig>,
}

/// Self-registration: `portcullis serve` creates or updates its own
/// ValidatingWebhookConfiguration and MutatingWebhookConfiguration, labelled as its own, with
/// its CA bundle and with rules derived from the policies' match rules, and keeps them in sync
/// on reload. Objects of the same name that it did not create are never changed or deleted.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistrationConfig {
    /// Name of both webhook configurations.
    #[serde(default = "default_registration_name")]
    pub name: String,
    /// How the API server reaches the engine: a Service in the cluster...
    pub service: Option<ServiceRef>,
    /// ...or a URL (`https://host:port`), for an engine outside the cluster.
    pub url: Option<String>,
    /// Secret (in `service.namespace`, else the engine's own namespace) through which replicas
    /// share one CA and serving certificate; made on first start. Without it, each start makes
    /// a new self-signed CA (fine for one replica).
    pub tls_secret: Option<String>,
    /// Register the mutating webhook too (for policies with `allowedToMutate`).
    #[serde(default = "yes")]
    pub mutating: bool,
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_seconds: i32,
    #[serde(default = "default_match_policy")]
    pub match_policy: String,
    /// Label selectors as the webhook configuration spells them.
    pub namespace_selector: Option<serde_json::Value>,
    pub object_selector: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceRef {
    pub name: String,
    pub namespace: String,
    #[serde(default = "default_service_port")]
    pub port: i32,
}

fn default_registration_name() -> String {
    "portcullis".into()
}

fn yes() -> bool {
    true
}

fn default_webhook_timeout() -> i32 {
    10
}

fn default_match_policy() -> String {
    "Equivalent".into()
}

fn default_service_port() -> i32 {
    443
}

/// What the Docker door does with API calls that policies cannot inspect, and how it looks
/// up the objects a call refers to (docs/docker-door.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct DockerConfig {
    /// Uninspectable operations to let through to the policies anyway, by name:
    /// `plugin-create` (a plugin from a tarball), `buildkit-session` (BuildKit's `/session`
    /// and `/grpc`), `swarm-join`. Each can give host access the plugin never sees.
    pub allow_uninspectable: Vec<String>,
    /// Let through write calls to routes dockerd 20.10 does not have (newer daemons' routes),
    /// instead of denying them.
    pub allow_unknown_routes: bool,
    /// The daemon this plugin guards, asked (read-only) about the containers, volumes,
    /// networks, services and plugins a call refers to: `unix:///path/to/docker.sock`.
    /// Empty turns lookups off, which makes every call with such a reference undecidable.
    pub daemon: String,
    /// The deadline for all lookups of one call together.
    #[serde(with = "humantime_serde_compat")]
    pub lookup_timeout: Duration,
    /// Decide a call whose references cannot be looked up (daemon unreachable, object
    /// unknown, deadline passed) as written, instead of denying it.
    pub allow_unresolved: bool,
    /// The host's root directory as this process sees it, where bind sources are resolved
    /// (symbolic links followed) before policies see them; empty decides paths as written.
    pub host_root: String,
    /// Allow a bind source that lies inside a directory another container can write to
    /// (which could swap a part of the path for a symbolic link between check and mount).
    pub allow_binds_inside_writable_mounts: bool,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            allow_uninspectable: Vec::new(),
            allow_unknown_routes: false,
            daemon: "unix:///var/run/docker.sock".into(),
            lookup_timeout: Duration::from_secs(2),
            allow_unresolved: false,
            host_root: "/".into(),
            allow_binds_inside_writable_mounts: false,
        }
    }
}

/// How the host reaches registries for the policies granted the `registry` capability
/// (docs/supply-chain.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RegistryConfig {
    /// The deadline of one registry call (connect, then each read).
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// How long what a tag points at, and the signatures stored for a digest, are trusted
    /// before the registry is asked again.
    #[serde(with = "humantime_serde_compat")]
    pub tag_ttl: Duration,
    /// Entries of each cache (digests, manifests, signatures, verifications).
    pub cache_entries: usize,
    /// A PEM bundle of certificate authorities trusted for registries, besides the
    /// platform's roots.
    pub ca_file: Option<PathBuf>,
    /// Registries (`host[:port]`) reached over plain HTTP. Policies are told, and the
    /// built-in `image-signatures` refuses their images unless its settings allow them.
    pub insecure: Vec<String>,
    /// Credentials per registry host; others are asked anonymously.
    pub credentials: Vec<RegistryCredential>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryCredential {
    /// `host[:port]`, as images name it (`docker.io` for Docker Hub).
    pub registry: String,
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password (a mounted Secret), read at load.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            timeout: Duration::from_secs(5),
            tag_ttl: Duration::from_secs(60),
            cache_entries: 1000,
            ca_file: None,
            insecure: Vec::new(),
            credentials: Vec::new(),
        }
    }
}

/// What the host does for a policy beyond running it, granted per policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Capability {
    /// Ask registries (through the host) for digests, manifests and signatures.
    Registry,
}

/// `2s`, `500ms`: durations as humans write them.
mod humantime_serde_compat {
    use serde::Deserialize;
    use std::time::Duration;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Per-namespace Pod Security levels: a namespace labelled `portcullis.dev/enforce: restricted`
/// (and/or `warn`, `audit`, each with an optional `-version: v1.N`) has its pods checked at
/// that level in that mode, like Pod Security Admission's own labels, which can be accepted
/// too so a cluster can switch without relabelling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct PodSecurityConfig {
    pub enabled: bool,
    /// The label prefix: `<prefix>/enforce`, `<prefix>/enforce-version`, `/warn`, `/audit`.
    pub label_prefix: String,
    /// Also read `pod-security.kubernetes.io/*` labels (ours win where both are set).
    #[serde(rename = "acceptPodSecurityAdmissionLabels")]
    pub accept_psa_labels: bool,
}

impl Default for PodSecurityConfig {
    fn default() -> Self {
        PodSecurityConfig {
            enabled: false,
            label_prefix: "portcullis.dev".into(),
            accept_psa_labels: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceLabelsSource {
    /// From the cluster when one is reachable.
    #[default]
    Auto,
    /// Never ask the cluster.
    Off,
}

impl KubernetesConfig {
    pub fn own_namespace(&self) -> Option<String> {
        self.own_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .filter(|n| !n.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyConfig {
    /// The name used in messages, metrics and the audit log.
    pub name: String,
    /// `builtin:NAME`, a path to a `.wasm` component, or `oci://REGISTRY/REPO:TAG` (or
    /// `…@sha256:DIGEST`) for one published with `portcullis push`.
    pub module: String,
    /// Settings passed to the policy, checked by it at load time.
    #[serde(default)]
    pub settings: serde_json::Value,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Deadline of one evaluation, in milliseconds (default 100).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Memory cap of one evaluation, in MiB (default 64).
    #[serde(default = "default_memory_mib", rename = "memoryLimitMiB")]
    pub memory_limit_mib: u64,
    /// Whether patches this policy returns are applied (default false: a patch is an error).
    #[serde(default)]
    pub allowed_to_mutate: bool,
    /// See every UPDATE, with the old object, including those that change nothing a policy
    /// usually reads (labels, annotations, finalizers; a pod template left as it was). By
    /// default such updates are allowed without running the policy, as Pod Security
    /// Admission allows them.
    #[serde(default)]
    pub every_update: bool,
    /// Which requests the policy sees; by default every request of every namespace but
    /// `kube-system` and the engine's own.
    #[serde(default, rename = "match")]
    pub matching: MatchRules,
    /// What the host may do for it: `registry`. None by default; a policy asking for a
    /// capability it is not granted gets `not-granted`. Time spent waiting on the host does
    /// not count against `timeoutMs`.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// For a module from a registry (`oci://…`): load it only if its manifest carries a
    /// cosign signature made with one of these keys.
    #[serde(default)]
    pub verify: Option<VerifyConfig>,
}

/// How a module pulled from a registry must be signed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyConfig {
    /// ECDSA P-256 public keys (PEM, as `cosign generate-key-pair` writes `cosign.pub`).
    pub keys: Vec<String>,
}

/// The name a policy gets from its module when a config does not give one (`eval --policy`,
/// a test suite, `PolicyUnderTest`): `builtin:host-mounts` → `host-mounts`,
/// `target/…/my_policy.wasm` → `my-policy`, `oci://host:5000/policies/demo:0.1.0@sha256:…`
/// → `demo` (the repository's last part: its tag and digest say which version, not what it is).
pub fn policy_name_for_module(module: &str) -> String {
    let stem = if let Some(reference) = module.strip_prefix("oci://") {
        let reference = reference
            .split_once('@')
            .map_or(reference, |(name, _)| name);
        let last = reference.rsplit('/').next().unwrap_or(reference);
        // A colon in the last part starts its tag (one in the host part has been cut off
        // with the host, unless the reference has no path, which names no repository).
        last.split_once(':')
            .map_or(last, |(repository, _)| repository)
    } else if let Some(builtin) = module.strip_prefix("builtin:") {
        builtin
    } else {
        let last = module.rsplit('/').next().unwrap_or(module);
        last.strip_suffix(".wasm").unwrap_or(last)
    };
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "policy".into()
    } else {
        name
    }
}

fn default_timeout_ms() -> u64 {
    100
}

fn default_memory_mib() -> u64 {
    64
}

/// What a denial from this policy does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny the request.
    #[default]
    Enforce,
    /// Allow it, with the denial as a warning to the client.
    Warn,
    /// Allow it; the denial is only recorded.
    Audit,
}

/// What happens when the policy cannot decide (trap, timeout, memory, bad output).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum FailurePolicy {
    /// Deny (fail closed).
    #[default]
    Fail,
    /// Allow, with a warning (fail open).
    Ignore,
}

impl RuntimeConfig {
    /// The runtime this config asks for.
    pub fn options(&self) -> RuntimeOptions {
        let mut options = RuntimeOptions::default();
        if self.disable_cache {
            options.cache_dir = None;
        } else if let Some(dir) = &self.cache_dir {
            options.cache_dir = Some(dir.clone());
        }
        if let Some(dir) = &self.precompiled_dir {
            options.precompiled_dir = Some(dir.clone());
        }
        if let Some(n) = self.max_concurrent_instances {
            options.max_concurrent_instances = n;
        }
        options
    }
}

/// A label selector as the API server accepts it: known fields and operators, values for
/// `In`/`NotIn` and none for `Exists`/`DoesNotExist`.
fn check_selector(value: &serde_json::Value) -> Result<(), String> {
    use crate::matching::{LabelSelector, Operator};
    let selector: LabelSelector =
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    for (i, r) in selector.match_expressions.iter().enumerate() {
        let with_values = matches!(r.operator, Operator::In | Operator::NotIn);
        if with_values == r.values.is_empty() {
            return Err(format!(
                "matchExpressions[{i}] ({:?} {:?}): {}",
                r.key,
                r.operator,
                if with_values {
                    "In and NotIn need values"
                } else {
                    "Exists and DoesNotExist take no values"
                }
            ));
        }
    }
    Ok(())
}

impl Config {
    /// The name dockerd knows the plugin by (`--authorization-plugin=NAME`):
    /// `server.dockerPluginName`, else the socket's file name without `.sock`, else
    /// `portcullis`. The Docker API may not disable or remove the plugin of this name.
    pub fn docker_plugin_name(&self) -> String {
        self.server.docker_plugin_name.clone().unwrap_or_else(|| {
            self.server
                .docker_socket
                .as_deref()
                .and_then(|s| s.file_stem())
                .and_then(|s| s.to_str())
                .unwrap_or("portcullis")
                .to_string()
        })
    }
}

impl PolicyConfig {
    /// Whether the config grants the policy `capability`.
    pub fn granted(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            memory_bytes: (self.memory_limit_mib as usize) << 20,
        }
    }
}

impl Config {
    pub fn default_config() -> Config {
        Config::parse(DEFAULT_CONFIG, "<built-in default config>", PathBuf::new())
            .expect("the built-in config is valid")
    }

    /// The sections a reload cannot apply (listeners, audit log, runtime, cluster watches),
    /// each with a fingerprint: a reload compares them with the running ones and says which
    /// changed and wait for a restart. Policies, `podSecurity`, `docker` and
    /// `kubernetes.registration` are applied by a reload.
    pub fn restart_sections(&self) -> Vec<(&'static str, String)> {
        let kubernetes = KubernetesConfig {
            registration: None,
            ..self.kubernetes.clone()
        };
        vec![
            ("server", format!("{:?}", self.server)),
            ("audit", format!("{:?}", self.audit)),
            ("runtime", format!("{:?}", self.runtime)),
            ("kubernetes (but registration)", format!("{kubernetes:?}")),
            ("backgroundAudit", format!("{:?}", self.background_audit)),
        ]
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::parse(&text, &shown, base)
    }

    /// Reads a config and reports every problem in it at once, each with its line, column
    /// and field. serde stops at the first: after each, the entry it is in is blanked out
    /// (spaces keep every other line and column where they were) and the text read again.
    pub fn parse(text: &str, shown: &str, base_dir: PathBuf) -> Result<Config, ConfigError> {
        // Syntax first: nothing after a syntax error can be placed.
        if let Err(e) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            return Err(ConfigError::Syntax {
                path: shown.to_string(),
                line,
                column,
                message: e.to_string(),
            });
        }
        let mut problems = Vec::new();
        let mut remaining = text.to_string();
        let config = loop {
            match serde_yaml_ng::from_str::<Config>(&remaining) {
                Ok(config) => break Some(config),
                Err(e) => {
                    let location = e.location().map(|l| (l.line(), l.column()));
                    problems.push(match location {
                        Some((line, column)) => format!("{shown}:{line}:{column}: {e}"),
                        None => format!("{shown}: {e}"),
                    });
                    match location.and_then(|(line, _)| blank_entry(&remaining, line)) {
                        Some(next) if problems.len() < 100 => remaining = next,
                        _ => break None,
                    }
                }
            }
        };
        if let Some(config) = &config {
            for (field, message) in config.problems() {
                let at = locate(text, &field)
                    .map_or(String::new(), |(line, column)| format!(":{line}:{column}"));
                problems.push(format!("{shown}{at}: {field}: {message}"));
            }
        }
        match config {
            Some(mut config) if problems.is_empty() => {
                config.base_dir = base_dir;
                Ok(config)
            }
            _ => Err(ConfigError::Problems(problems)),
        }
    }

    /// What is wrong with a config that parsed: (field path, message), every one.
    fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut problem = |field: &str, message: String| out.push((field.to_string(), message));
        if let Err(e) = crate::docker::daemon::Daemon::new(&self.docker.daemon) {
            problem("docker.daemon", e);
        }
        for (i, c) in self.registry.credentials.iter().enumerate() {
            if c.password.is_some() == c.password_file.is_some() {
                problem(
                    &format!("registry.credentials[{i}]"),
                    format!(
                        "give exactly one of password and passwordFile for {}",
                        c.registry
                    ),
                );
            }
        }
        if !(self.docker.host_root.is_empty() || self.docker.host_root.starts_with('/')) {
            problem(
                "docker.hostRoot",
                format!("{:?} is not an absolute path", self.docker.host_root),
            );
        }
        if self.docker.lookup_timeout.is_zero() {
            problem("docker.lookupTimeout", "must be more than zero".into());
        }
        if let Some(r) = &self.kubernetes.registration {
            match (&r.service, &r.url) {
                (Some(_), Some(_)) | (None, None) => problem(
                    "kubernetes.registration",
                    "give either service (in the cluster) or url (outside it)".into(),
                ),
                (None, Some(url)) if !url.starts_with("https://") => problem(
                    "kubernetes.registration.url",
                    format!("{url:?} must start with https://"),
                ),
                _ => {}
            }
            if !(1..=30).contains(&r.timeout_seconds) {
                problem(
                    "kubernetes.registration.timeoutSeconds",
                    format!("must be between 1 and 30, got {}", r.timeout_seconds),
                );
            }
            if !["Exact", "Equivalent"].contains(&r.match_policy.as_str()) {
                problem(
                    "kubernetes.registration.matchPolicy",
                    format!("{:?} is not Exact or Equivalent", r.match_policy),
                );
            }
            // A selector the engine cannot read would be left out of the registration, and
            // the webhook would then see every namespace or object.
            for (field, selector) in [
                ("namespaceSelector", &r.namespace_selector),
                ("objectSelector", &r.object_selector),
            ] {
                if let Some(Err(e)) = selector.as_ref().map(check_selector) {
                    problem(&format!("kubernetes.registration.{field}"), e);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.policies.iter().enumerate() {
            let at = |field: &str| format!("policies[{i}].{field}");
            if p.name.is_empty()
                || !p
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                problem(
                    &at("name"),
                    format!("{:?}: a name is letters, digits, '-' or '_'", p.name),
                );
            }
            if !seen.insert(&p.name) {
                problem(
                    &at("name"),
                    format!("{:?} is used twice; names must be unique", p.name),
                );
            }
            if p.timeout_ms == 0 || p.timeout_ms > 60_000 {
                problem(
                    &at("timeoutMs"),
                    format!("must be between 1 and 60000, got {}", p.timeout_ms),
                );
            }
            let max_mib = (MAX_MEMORY_LIMIT >> 20) as u64;
            if p.memory_limit_mib == 0 || p.memory_limit_mib > max_mib {
                problem(
                    &at("memoryLimitMiB"),
                    format!(
                        "must be between 1 and {max_mib}, got {}",
                        p.memory_limit_mib
                    ),
                );
            }
            if !(p.settings.is_null() || p.settings.is_object()) {
                problem(&at("settings"), "must be a mapping".into());
            }
            for (j, op) in p.matching.operations.iter().enumerate() {
                if !["CREATE", "UPDATE", "DELETE", "CONNECT", "*"].contains(&op.as_str()) {
                    problem(
                        &at(&format!("match.operations[{j}]")),
                        format!("{op:?} is not CREATE, UPDATE, DELETE, CONNECT or *"),
                    );
                }
            }
        }
        if self.server.tls.cert_file.is_some() != self.server.tls.key_file.is_some() {
            problem("server.tls", "certFile and keyFile go together".into());
        }
        out
    }
}

/// `text` with the entry that starts on (1-based) `line` blanked out: that line and the
/// more deeply indented lines after it become spaces, so every other line and column stays
/// where it was. `None` when nothing would change.
fn blank_entry(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let first = line.checked_sub(1).filter(|&i| i < lines.len())?;
    let indent = |l: &str| l.len() - l.trim_start_matches([' ', '-']).len();
    let own = indent(lines[first]);
    let mut last = first;
    while last + 1 < lines.len() {
        let next = lines[last + 1];
        if !next.trim().is_empty() && indent(next) <= own && !next.trim_start().starts_with('#') {
            break;
        }
        last += 1;
    }
    if lines[first..=last].iter().all(|l| l.trim().is_empty()) {
        return None;
    }
    let blanked: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if (first..=last).contains(&i) {
                // A sequence item's dash stays, so the sequence keeps its shape.
                let keep = if i == first {
                    l.len() - l.trim_start().len() + usize::from(l.trim_start().starts_with("- "))
                } else {
                    0
                };
                format!("{}{}", &l[..keep], " ".repeat(l.len() - keep))
            } else {
                l.to_string()
            }
        })
        .collect();
    let out = blanked.join("\n");
    (out != text).then_some(out)
}

/// Where a field (`policies[1].timeoutMs`, `kubernetes.registration.url`) is written in a
/// block-style YAML config: (1-based line, column) of its key or sequence item, or of the
/// closest enclosing one found.
fn locate(text: &str, field: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    // (line index, column) of the node found so far; the root spans everything.
    let mut at: Option<(usize, usize)> = None;
    let mut start = 0;
    let mut parent_col: isize = -1;
    for segment in field.split('.') {
        let (key, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        // The key: the first line in the block whose content starts with `key:`.
        let mut found = None;
        for (i, l) in lines.iter().enumerate().skip(start) {
            let content = l.trim_start_matches([' ', '-']);
            let col = (l.len() - content.len()) as isize;
            if !l.trim().is_empty() && col <= parent_col && i > start {
                break;
            }
            if content.starts_with(&format!("{key}:")) && col > parent_col {
                found = Some((i, col as usize));
                break;
            }
        }
        let Some((line, col)) = found else { break };
        at = Some((line, col));
        start = line + 1;
        parent_col = col as isize;
        // Each `[n]`: the n-th item of the sequence under it.
        for index in indexes
            .split(['[', ']'])
            .filter(|s| !s.is_empty())
            .filter_map(|n| n.parse::<usize>().ok())
        {
            let items: Vec<(usize, usize)> = lines
                .iter()
                .enumerate()
                .skip(start)
                .take_while(|(_, l)| {
                    l.trim().is_empty()
                        || (l.len() - l.trim_start().len()) as isize > parent_col
                        || l.trim_start().starts_with("- ")
                            && (l.len() - l.trim_start().len()) as isize >= parent_col
                })
                .filter(|(_, l)| l.trim_start().starts_with("- "))
                .map(|(i, l)| (i, l.len() - l.trim_start().len()))
                .collect();
            let min = items.iter().map(|(_, c)| *c).min();
            let Some(&(line, col)) = items.iter().filter(|(_, c)| Some(*c) == min).nth(index)
            else {
                return at.map(|(l, c)| (l + 1, c + 1));
            };
            at = Some((line, col + 2));
            start = line;
            parent_col = col as isize;
        }
    }
    at.map(|(line, col)| (line + 1, col + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_named_after_their_modules() {
        assert_eq!(policy_name_for_module("builtin:host-mounts"), "host-mounts");
        assert_eq!(
            policy_name_for_module("target/wasm32-wasip2/release/My_Policy.wasm"),
            "my-policy"
        );
        // A registry's port, a tag and a digest are not part of the name.
        for module in [
            "oci://localhost:5000/policies/demo:0.1.0",
            "oci://localhost:5000/policies/demo@sha256:0123abcd",
            "oci://localhost:5000/policies/demo:0.1.0@sha256:0123abcd",
            "oci://registry.example.com/demo",
        ] {
            assert_eq!(policy_name_for_module(module), "demo", "{module}");
        }
    }

    #[test]
    fn default_config_loads() {
        let c = Config::default_config();
        let names: Vec<_> = c.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["pss-baseline", "cis-docker", "docker-escapes"]);
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases = [
            (
                "policies:\n  - name: a\n    module: builtin:privileged\n    mdoe: warn\n",
                "x.yaml:4:5: policies[0]: unknown field `mdoe`",
            ),
            (
                "policies:\n  - name: a\n    module: builtin:privileged\n    mode: block\n",
                "x.yaml:4:11: policies[0].mode: unknown variant `block`",
            ),
            (
                "policies:\n  - name: a\n    module: m\n  - name: a\n    module: m\n",
                "x.yaml:4:5: policies[1].name: \"a\" is used twice",
            ),
            (
                "policies:\n  - name: a\n    module: m\n    timeoutMs: 0\n",
                "x.yaml:4:5: policies[0].timeoutMs: must be between 1 and 60000, got 0",
            ),
            (
                "policies: []\nkubernetes:\n  registration:\n    url: https://x\n    namespaceSelector:\n      matchExpressions: [{key: env, operator: Equals, values: [a]}]\n",
                "x.yaml:5:5: kubernetes.registration.namespaceSelector: unknown variant `Equals`",
            ),
            (
                "policies: []\nkubernetes:\n  registration:\n    url: https://x\n    objectSelector:\n      matchExpressions: [{key: env, operator: In}]\n",
                "x.yaml:5:5: kubernetes.registration.objectSelector: matchExpressions[0] (\"env\" In): In and NotIn need values",
            ),
            (
                "policies: []\nkubernetes:\n  registration:\n    url: https://x\n    namespaceSelector:\n      matchLabel: {a: b}\n",
                "x.yaml:5:5: kubernetes.registration.namespaceSelector: unknown field `matchLabel`",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "x.yaml", PathBuf::new())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "got {err:?}, want prefix {want:?}");
        }
    }

    #[test]
    fn registry_credentials_give_one_password() {
        let text = "policies: []\nregistry:\n  credentials:\n    - registry: r.example\n      username: u\n";
        let err = Config::parse(text, "x.yaml", PathBuf::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "x.yaml:4:7: registry.credentials[0]: give exactly one of password and passwordFile for r.example"
            ),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_place() {
        let text = "\
policies:
  - name: a
    module: builtin:privileged
    mdoe: warn
  - name: b
    module: builtin:privileged
    mode: block
  - name: c
    module: builtin:privileged
    timeoutMs: 0
  - name: c
    module: builtin:privileged
docker:
  hostRoot: relative
server:
  tls:
    certFile: /x
";
        let err = Config::parse(text, "x.yaml", PathBuf::new())
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = err.lines().collect();
        let want = [
            "x.yaml:4:5: policies[0]: unknown field `mdoe`",
            "x.yaml:7:11: policies[1].mode: unknown variant `block`",
            "x.yaml:14:3: docker.hostRoot: \"relative\" is not an absolute path",
            "x.yaml:10:5: policies[2].timeoutMs: must be between 1 and 60000, got 0",
            "x.yaml:11:5: policies[3].name: \"c\" is used twice",
            "x.yaml:16:3: server.tls: certFile and keyFile go together",
        ];
        assert_eq!(lines.len(), want.len(), "{err}");
        for (line, want) in lines.iter().zip(want) {
            assert!(line.starts_with(want), "got {line:?}, want prefix {want:?}");
        }
    }
}
