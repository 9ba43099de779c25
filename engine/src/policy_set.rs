//! A configured set of loaded policies and the order they run in. Loading compiles every
//! module, reads its metadata and has it check its settings, so a set that loads is ready to
//! serve. Evaluation runs mutating policies one after another (each sees the previous one's
//! result), then every other policy on the final object: concurrently on the policy pool, or
//! one after another on the calling thread while the set has been cheap (`placement`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;

use crate::abi::{Metadata, Request, Source};
use crate::admission::LevelCheck;
use crate::builtin;
use crate::config::{Capability, Config, FailurePolicy, PodSecurityConfig, PolicyConfig};
use crate::decision::{self, PolicyResult, Verdict};
use crate::matching::{MatchContext, NamespaceLabels};
use crate::modules::OciModules;
use crate::placement::{Cost, INLINE_BUDGET, INLINE_WORST_CASE, Placement};
use crate::runtime::{Grants, LoadError, PolicyError, PolicyModule, Runtime};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetError {
    #[error("policy {policy:?}: unknown built-in module {module:?} (built-ins: {known})")]
    UnknownBuiltin {
        policy: String,
        module: String,
        known: String,
    },
    #[error("policy {policy:?}: cannot read module {path}: {source}")]
    ReadModule {
        policy: String,
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("policy {policy:?}: invalid settings: {field}{sep}{message}", sep = if field.is_empty() { "" } else { ": " })]
    Settings {
        policy: String,
        field: String,
        message: String,
    },
    #[error("policy {policy:?}: checking its settings failed: {error}")]
    SettingsCall { policy: String, error: PolicyError },
    #[error("registry: {0}")]
    Registry(String),
    #[error("policy {policy:?}: {reason}")]
    Module { policy: String, reason: String },
}

/// A policy ready to run, with its configuration.
pub struct LoadedPolicy {
    pub config: PolicyConfig,
    metadata: Metadata,
    module: PolicyModule,
    /// The config's settings laid over the built-in's preset, as JSON text.
    settings: String,
    grants: Grants,
    /// What its evaluations have cost lately: where the next request is decided.
    cost: Cost,
}

impl LoadedPolicy {
    fn applies_to(&self, source: Source) -> bool {
        self.metadata.sources.contains(&source)
    }

    /// Whether its patches are applied: allowed in the config and declared by the module.
    pub fn mutates(&self) -> bool {
        self.config.allowed_to_mutate && self.metadata.mutating
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn decide(
        &self,
        request: &Request,
        registry_context: Option<&Arc<crate::registry::Context>>,
    ) -> Result<crate::abi::Decision, PolicyError> {
        let limits = self.config.limits();
        // The request's context only matters to a policy that may ask registries.
        let with_context;
        let grants = match registry_context {
            Some(context) if self.grants.registry.is_some() => {
                with_context = Grants {
                    registry_context: Some(context.clone()),
                    ..self.grants.clone()
                };
                &with_context
            }
            _ => &self.grants,
        };
        self.module
            .validate(request, &self.settings, limits, grants)
    }

    fn run(
        &self,
        request: &Request,
        registry_context: Option<&Arc<crate::registry::Context>>,
    ) -> PolicyResult {
        let started = Instant::now();
        let mut outcome = self.decide(request, registry_context);
        let duration = started.elapsed();
        self.cost.observe(duration);
        if let Ok(d) = &outcome
            && d.patch.is_some()
            && !self.config.allowed_to_mutate
        {
            outcome = Err(PolicyError::BadOutput(
                "returned a patch, but allowedToMutate is false in the config".into(),
            ));
        }
        PolicyResult {
            policy: self.config.name.clone(),
            mode: self.config.mode,
            failure_policy: self.config.failure_policy,
            outcome,
            duration,
        }
    }
}

/// Rebuilds a request's workload after a mutation changed its object.
pub type Renormalize<'a> = &'a (dyn Fn(&Request, &Value) -> Request + Sync);

/// Which of the set's policies a request goes to.
#[derive(Clone, Copy)]
pub struct Selection<'a> {
    pub phase: Phase,
    /// Only the policy of this name (per-policy webhook endpoints).
    pub only: Option<&'a str>,
    /// Each policy's `match` rules against this request; `None` selects every policy.
    pub matching: Option<&'a Matcher<'a>>,
    /// The request is an UPDATE that changes nothing policies read
    /// (`kubernetes::update`): only policies configured with `everyUpdate` see it.
    pub unchanged_update: bool,
    /// How the selected policies run.
    pub placement: Placement,
}

/// What a policy's `match` rules are checked against.
pub struct Matcher<'a> {
    pub context: &'a MatchContext,
    pub namespaces: &'a dyn NamespaceLabels,
    pub own_namespace: Option<&'a str>,
}

/// The admission phase: the API server calls mutating webhooks first, then validating ones
/// on the mutated object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Policies allowed to mutate, one after another.
    Mutate,
    /// Every other policy, concurrently.
    Validate,
    /// Both, as `portcullis eval` and the Docker door decide.
    All,
}

pub struct PolicySet {
    policies: Vec<LoadedPolicy>,
    /// The Pod Security Standards module, when levels come from namespace labels.
    pod_security: Option<(PodSecurityConfig, PolicyModule, Cost)>,
    docker: crate::config::DockerConfig,
    _runtime: Arc<Runtime>,
}

impl PolicySet {
    /// Builds the runtime the config asks for and loads every policy.
    pub fn load(config: &Config) -> Result<PolicySet, SetError> {
        let options = config.runtime.options();
        let runtime = Arc::new(Runtime::new(&options)?);
        PolicySet::load_with(runtime, config)
    }

    pub fn load_with(runtime: Arc<Runtime>, config: &Config) -> Result<PolicySet, SetError> {
        // Modules from registries are kept beside the compile cache, so a restart while the
        // registry is away finds them.
        let oci = OciModules::new(
            &config.registry,
            &config.base_dir,
            config
                .runtime
                .options()
                .cache_dir
                .map(|dir| dir.join("modules")),
        );
        let sources: Vec<(&PolicyConfig, Resolved)> = config
            .policies
            .iter()
            .map(|p| Ok((p, resolve(p, &config.base_dir, &oci)?)))
            .collect::<Result<_, SetError>>()?;

        // Compile each distinct module once, in parallel; entries sharing a module share it.
        // Modules are told apart by digest, which a built-in knows without reading its bytes.
        let mut distinct: HashMap<String, (&[u8], &str)> = HashMap::new();
        for (p, resolved) in &sources {
            match resolved {
                Resolved::Module(wasm, _) => {
                    distinct
                        .entry(wasm.sha256.clone())
                        .or_insert((&wasm.bytes, &p.name));
                }
            }
        }
        let compiled: HashMap<String, PolicyModule> = distinct
            .into_par_iter()
            .map(|(digest, (bytes, name))| Ok((digest, runtime.load(name, bytes)?)))
            .collect::<Result<_, LoadError>>()?;

        // One registry client for every policy granted it, made only when one is.
        let registry = match config
            .policies
            .iter()
            .any(|p| p.granted(Capability::Registry))
        {
            true => Some(Arc::new(
                crate::registry::Registry::new(&config.registry, &config.base_dir)
                    .map_err(SetError::Registry)?,
            )),
            false => None,
        };

        let mut policies = Vec::with_capacity(sources.len());
        for (p, resolved) in &sources {
            let Resolved::Module(wasm, preset) = resolved;
            let module = compiled[&wasm.sha256].clone();
            let settings = settings_text(preset, &p.settings);
            check_settings(p, &module, &settings)?;
            let grants = Grants {
                registry: registry.clone().filter(|_| p.granted(Capability::Registry)),
                registry_context: None,
            };
            policies.push(LoadedPolicy {
                config: (*p).clone(),
                metadata: module.metadata().clone(),
                module,
                settings,
                grants,
                cost: Cost::default(),
            });
        }
        let pod_security = match config.pod_security.enabled {
            true => {
                let wasm = builtin::find("pss-restricted")
                    .expect("the pss module is built in")
                    .component
                    .wasm;
                let module = match compiled.get(&builtin::sha256_hex(wasm)) {
                    Some(m) => m.clone(),
                    None => runtime.load("pod-security", wasm)?,
                };
                Some((config.pod_security.clone(), module, Cost::default()))
            }
            false => None,
        };
        Ok(PolicySet {
            pod_security,
            docker: config.docker.clone(),
            policies,
            _runtime: runtime,
        })
    }

    pub fn policies(&self) -> &[LoadedPolicy] {
        &self.policies
    }

    /// The Docker door's rules for calls policies cannot inspect.
    pub fn docker_config(&self) -> &crate::config::DockerConfig {
        &self.docker
    }

    /// How namespaces choose Pod Security levels, when they do (`podSecurity`).
    pub fn pod_security(&self) -> Option<&PodSecurityConfig> {
        self.pod_security.as_ref().map(|(config, _, _)| config)
    }

    /// Whether Pod Security levels come from namespace labels.
    /// How the policies `selection` picks for `request`, and the Pod Security `levels`,
    /// should run (`placement`): one after another on the calling thread while each has been
    /// cheap, none may wait on a registry, and their deadlines together are short.
    pub fn placement(
        &self,
        request: &Request,
        selection: Selection<'_>,
        levels: &[LevelCheck],
    ) -> Placement {
        let mut expected = std::time::Duration::ZERO;
        let mut worst = std::time::Duration::ZERO;
        for p in self.selected(request, selection) {
            if p.grants.registry.is_some() {
                return Placement::Concurrent;
            }
            let Some(cost) = p.cost.get() else {
                return Placement::Concurrent;
            };
            expected += cost;
            worst += p.config.limits().timeout;
        }
        if let (Some((_, _, cost)), false) = (&self.pod_security, levels.is_empty()) {
            let Some(cost) = cost.get() else {
                return Placement::Concurrent;
            };
            let n = levels.len() as u32;
            expected += cost * n;
            worst += crate::runtime::Limits::default().timeout * n;
        }
        if expected <= INLINE_BUDGET && worst <= INLINE_WORST_CASE {
            Placement::Sequential
        } else {
            Placement::Concurrent
        }
    }

    /// Records an evaluation of the policy `name` that took `took`, as running it would.
    #[cfg(test)]
    pub(crate) fn observe(&self, name: &str, took: std::time::Duration) {
        let policy = self.policies.iter().find(|p| p.config.name == name);
        policy.expect("a policy of that name").cost.observe(took);
    }

    pub fn pod_security_enabled(&self) -> bool {
        self.pod_security.is_some()
    }

    /// Whether any policy may ask registries: then the Docker door says which image the
    /// daemon holds under each name a create uses.
    pub fn asks_registries(&self) -> bool {
        self.policies.iter().any(|p| p.grants.registry.is_some())
    }

    /// Whether a policy of this name is loaded.
    pub fn contains(&self, name: &str) -> bool {
        self.policies.iter().any(|p| p.config.name == name)
    }

    /// The policies `selection` picks for `request`, in the set's order.
    fn selected<'s>(
        &'s self,
        request: &'s Request,
        selection: Selection<'s>,
    ) -> impl Iterator<Item = &'s LoadedPolicy> {
        self.policies.iter().filter(move |p| {
            p.applies_to(request.source)
                && selection.only.is_none_or(|name| p.config.name == name)
                && (!selection.unchanged_update || p.config.every_update)
                && match selection.phase {
                    Phase::All => true,
                    Phase::Mutate => p.mutates(),
                    Phase::Validate => !p.mutates(),
                }
                && selection.matching.is_none_or(|m| {
                    p.config
                        .matching
                        .selects(m.context, m.namespaces, m.own_namespace)
                })
        })
    }

    /// Runs the policies `selection` picks, and the Pod Security `levels` a namespace asks
    /// for, on a request; `admission::evaluate` is the way in. `renormalize` rebuilds the
    /// request from a mutated object; without it (the Docker door, which cannot change a
    /// request) patches are not applied.
    /// `object` is the request's object already parsed, when the door has it: patches apply
    /// to it without reading `request.object` again.
    pub(crate) fn run(
        &self,
        request: &Request,
        object: Option<&Value>,
        selection: Selection<'_>,
        levels: &[LevelCheck],
        renormalize: Option<Renormalize<'_>>,
        registry_context: Option<&Arc<crate::registry::Context>>,
    ) -> Verdict {
        let applicable = self.selected(request, selection);
        let (mutators, validators): (Vec<&LoadedPolicy>, Vec<&LoadedPolicy>) = match renormalize {
            Some(_) => applicable.partition(|p| p.mutates()),
            None => (Vec::new(), applicable.collect()),
        };

        let mut results = Vec::with_capacity(self.policies.len());
        // The request is copied only when a mutation changes it.
        let mut current = std::borrow::Cow::Borrowed(request);
        // The object the next patch applies to: parsed once, then each patch's result.
        let mut parsed: Option<std::borrow::Cow<'_, Value>> =
            object.map(std::borrow::Cow::Borrowed);
        let mut mutated = false;
        for policy in mutators {
            let mut result = policy.run(&current, registry_context);
            // The patch stays in the policy's result too: the background audit reports it.
            if let (Ok(decision), Some(renormalize)) = (&result.outcome, renormalize)
                && let Some(patch_text) = decision.patch.as_deref()
            {
                let base = match parsed.take() {
                    Some(value) => Ok(value.into_owned()),
                    None => serde_json::from_str(&current.object)
                        .map_err(|e| format!("object is not JSON: {e}")),
                };
                match base.and_then(|value| apply(value, patch_text)) {
                    Ok(object) => {
                        current = std::borrow::Cow::Owned(renormalize(&current, &object));
                        parsed = Some(std::borrow::Cow::Owned(object));
                        mutated = true;
                    }
                    Err(e) => result.outcome = Err(PolicyError::BadOutput(e)),
                }
            }
            results.push(result);
        }

        let current: &Request = &current;
        let placement = selection.placement;
        let mut concurrent: Vec<PolicyResult> =
            if validators.len() > 1 && placement == Placement::Concurrent {
                validators
                    .par_iter()
                    .map(|p| p.run(current, registry_context))
                    .collect()
            } else {
                validators
                    .iter()
                    .map(|p| p.run(current, registry_context))
                    .collect()
            };
        if renormalize.is_none() {
            for r in &mut concurrent {
                if let Ok(d) = &mut r.outcome
                    && d.patch.take().is_some()
                {
                    d.warnings.push(
                        "asked to change the request; this door cannot change requests, so the \
                         change was not made"
                            .into(),
                    );
                }
            }
        }
        results.extend(concurrent);

        let patch = match (mutated, &parsed) {
            (true, Some(now)) => {
                let original = match object {
                    Some(original) => std::borrow::Cow::Borrowed(original),
                    None => std::borrow::Cow::Owned(
                        serde_json::from_str(&request.object).unwrap_or(Value::Null),
                    ),
                };
                Some(json_patch::diff(&original, now))
            }
            _ => None,
        };
        if let Some((_, module, cost)) = &self.pod_security {
            results.extend(levels.iter().map(|check| {
                let settings =
                    serde_json::json!({"level": check.level, "version": check.version}).to_string();
                let started = Instant::now();
                let outcome = module.validate(
                    request,
                    &settings,
                    crate::runtime::Limits::default(),
                    &Grants::NONE,
                );
                let duration = started.elapsed();
                cost.observe(duration);
                PolicyResult {
                    policy: format!("pod-security-{}", check.label),
                    mode: check.mode,
                    failure_policy: FailurePolicy::Fail,
                    outcome,
                    duration,
                }
            }));
        }
        decision::combine(results, patch)
    }
}

/// A module's bytes and their SHA-256, which tells modules apart and names their compiled
/// artifacts (known from the build for a built-in, whose embedded bytes stay unread).
struct Wasm {
    bytes: Cow<'static, [u8]>,
    sha256: String,
}

impl Wasm {
    fn new(bytes: Cow<'static, [u8]>) -> Self {
        let sha256 = builtin::sha256_hex(&bytes);
        Wasm { bytes, sha256 }
    }
}

/// What a configured policy runs.
enum Resolved {
    /// A module's bytes and the settings it starts from (built-ins may preset some).
    Module(Wasm, Value),
}

fn resolve(p: &PolicyConfig, base: &Path, oci: &OciModules) -> Result<Resolved, SetError> {
    if let Some(reference) = p.module.strip_prefix(crate::modules::OCI_PREFIX) {
        if p.verify.as_ref().is_some_and(|v| v.keys.is_empty()) {
            return Err(SetError::Module {
                policy: p.name.clone(),
                reason: "verify.keys is empty: list the public keys the module must be signed \
                         with"
                    .into(),
            });
        }
        let fetched =
            oci.fetch(reference, p.verify.as_ref())
                .map_err(|reason| SetError::Module {
                    policy: p.name.clone(),
                    reason,
                })?;
        tracing::info!(
            policy = %p.name,
            module = %p.module,
            digest = %fetched.manifest_digest,
            offline = fetched.offline,
            verified = p.verify.is_some(),
            "module from a registry"
        );
        return Ok(Resolved::Module(
            Wasm::new(Cow::Owned(fetched.wasm)),
            Value::Object(Default::default()),
        ));
    }
    if p.verify.is_some() {
        return Err(SetError::Module {
            policy: p.name.clone(),
            reason: format!(
                "verify applies to modules from a registry (oci://…), not {:?}",
                p.module
            ),
        });
    }
    if let Some(name) = p.module.strip_prefix(builtin::PREFIX) {
        let found = builtin::find(name).ok_or_else(|| SetError::UnknownBuiltin {
            policy: p.name.clone(),
            module: p.module.clone(),
            known: builtin::names()
                .map(|n| format!("builtin:{n}"))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let preset = serde_json::from_str(found.preset).expect("built-in presets are JSON");
        // Borrowed: a built-in's embedded bytes are read only if it must be compiled.
        return Ok(Resolved::Module(
            Wasm::new(Cow::Borrowed(found.component.wasm)),
            preset,
        ));
    }
    let path = base.join(&p.module);
    let bytes = std::fs::read(&path).map_err(|source| SetError::ReadModule {
        policy: p.name.clone(),
        path: path.display().to_string(),
        source,
    })?;
    Ok(Resolved::Module(
        Wasm::new(Cow::Owned(bytes)),
        Value::Object(Default::default()),
    ))
}

/// Has the module check its settings: against its schema, then by its own checks.
fn check_settings(p: &PolicyConfig, module: &PolicyModule, settings: &str) -> Result<(), SetError> {
    if let Some(schema) = module.settings_schema() {
        // Settings are JSON text written from a parsed config: they always parse.
        let value: Value = serde_json::from_str(settings).unwrap_or(Value::Null);
        if let Some(first) = schema.check(&value).into_iter().next() {
            return Err(SetError::Settings {
                policy: p.name.clone(),
                field: first.field,
                message: first.message,
            });
        }
    }
    match module.validate_settings(settings, p.limits()) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SetError::Settings {
            policy: p.name.clone(),
            field: e.field,
            message: e.message,
        }),
        Err(error) => Err(SetError::SettingsCall {
            policy: p.name.clone(),
            error,
        }),
    }
}

/// The config's settings laid over a built-in's preset.
fn settings_text(preset: &Value, configured: &Value) -> String {
    let mut merged = preset.clone();
    if let (Some(into), Some(from)) = (merged.as_object_mut(), configured.as_object()) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
    merged.to_string()
}

fn apply(mut value: Value, patch_text: &str) -> Result<Value, String> {
    let patch: json_patch::Patch =
        serde_json::from_str(patch_text).map_err(|e| format!("patch is not a JSON Patch: {e}"))?;
    json_patch::patch(&mut value, &patch).map_err(|e| format!("patch does not apply: {e}"))?;
    Ok(value)
}
