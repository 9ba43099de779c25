//! The Portcullis policy SDK: write an admission policy as plain Rust and ship it as a
//! WebAssembly component.
//!
//! A policy implements [`Policy`] — its settings type and its decision — and registers itself
//! with [`policy!`]. The SDK owns everything else: the ABI (`portcullis:policy@1.2.0`, generated
//! from `policies-wasm/wit`), settings parsing with exact error paths, and the decision helpers.
//!
//! ```text
//! use portcullis_sdk::prelude::*;
//!
//! #[derive(Default, serde::Deserialize)]
//! #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
//! struct Settings {}
//!
//! struct NoPrivileged;
//! impl Policy for NoPrivileged {
//!     type Settings = Settings;
//!     const NAME: &'static str = "no-privileged";
//!     fn validate(request: &Request, _settings: &Settings) -> Decision {
//!         let mut findings = Findings::default();
//!         for c in request.containers() {
//!             if c.privileged == Some(true) {
//!                 findings.deny(request.field(c, "securityContext.privileged", "HostConfig.Privileged"),
//!                               format!("container {:?} must not be privileged", c.name));
//!             }
//!         }
//!         findings.into_decision()
//!     }
//! }
//! portcullis_sdk::policy!(NoPrivileged);
//! ```
//!
//! Test a policy natively with [`testing`] and `cargo test`; test the compiled component with
//! `portcullis eval --policy target/wasm32-wasip2/.../my_policy.wasm REQUEST`.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "policy",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "export_policy",
        default_bindings_module: "portcullis_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

mod decision;
mod field;
pub mod path;
pub mod registry;
mod settings;
pub mod standards;
pub mod testing;

pub use bindings::portcullis::policy::types::{
    Container, ContainerKind, Decision, Device, DockerCall, ImageRef, Metadata, NamespaceMode,
    Namespaces, PodSecurity, Port, Profile, ProfileKind, Reason, Request, Resources, RestartPolicy,
    SelinuxOptions, SettingsError, Source, Spelling, Sysctl, Volume, VolumeKind, Workload,
};
pub use decision::{Findings, mutate};
pub use field::pointer_to_path;
/// Re-exported so a policy's settings schema is made by the SDK's own version.
pub use schemars;
/// Re-exported for policies that read the raw object or build patches.
pub use serde_json;
pub use settings::parse_settings;

/// Everything a policy needs in one import.
pub mod prelude {
    pub use crate::{
        Container, ContainerKind, Decision, Findings, ImageRef, NamespaceMode, Policy, Request,
        SettingsError, Source, Spelling, Volume, VolumeKind, Workload, mutate,
    };
}

/// A policy: its settings and its decision. Register it with [`policy!`].
pub trait Policy {
    /// Settings as the operator writes them in the config (JSON or YAML). Use
    /// `#[serde(default, deny_unknown_fields)]` so a typo is a load-time error, and derive
    /// `schemars::JsonSchema` (with the same serde attributes) so the host can check settings
    /// and `portcullis inspect` can show them.
    type Settings: serde::de::DeserializeOwned + Default + schemars::JsonSchema;
    /// The name operators refer to, e.g. `host-mounts`.
    const NAME: &'static str;
    /// Semantic version of the policy itself.
    const VERSION: &'static str = "0.1.0";
    /// Whether [`Policy::validate`] may return a patch.
    const MUTATING: bool = false;
    /// The doors this policy understands.
    const SOURCES: &'static [Source] = &[Source::Kubernetes, Source::Docker];

    /// The JSON Schema of the settings, by default generated from [`Policy::Settings`]; `None`
    /// for a policy whose settings the host should not check.
    fn settings_schema() -> Option<String> {
        Some(settings_schema_of::<Self::Settings>())
    }

    /// Checks settings beyond what their type enforces. Called once at load.
    fn validate_settings(_settings: &Self::Settings) -> Result<(), SettingsError> {
        Ok(())
    }

    /// Decides one request.
    fn validate(request: &Request, settings: &Self::Settings) -> Decision;

    /// Decides one request, or says why it cannot: the host then applies the policy's
    /// `failurePolicy` (deny unless configured to fail open). A policy that asks the host
    /// (a registry) implements this; the default is [`Policy::validate`].
    fn try_validate(request: &Request, settings: &Self::Settings) -> Result<Decision, String> {
        Ok(Self::validate(request, settings))
    }
}

/// The metadata a policy reports to the host.
pub fn metadata_of<P: Policy>() -> Metadata {
    Metadata {
        name: P::NAME.to_string(),
        version: P::VERSION.to_string(),
        mutating: P::MUTATING,
        sources: P::SOURCES.to_vec(),
    }
}

/// The JSON Schema (draft 2020-12) of a settings type, as JSON text.
pub fn settings_schema_of<S: schemars::JsonSchema>() -> String {
    serde_json::to_string(&schemars::schema_for!(S)).expect("schemas serialize")
}

/// Runs a policy the way the host does: settings are parsed first and an unreadable setting
/// is an error, not a decision.
pub fn evaluate<P: Policy>(request: &Request, settings: &str) -> Result<Decision, String> {
    let settings = parse_settings::<P::Settings>(settings)
        .map_err(|e| format!("invalid settings: {}: {}", e.field, e.message))?;
    P::try_validate(request, &settings)
}

/// Registers a [`Policy`] as the component's exports.
#[macro_export]
macro_rules! policy {
    ($policy:ident) => {
        impl $crate::bindings::Guest for $policy {
            fn metadata() -> $crate::Metadata {
                $crate::metadata_of::<$policy>()
            }

            fn validate_settings(
                settings: ::std::string::String,
            ) -> Result<(), $crate::SettingsError> {
                let parsed =
                    $crate::parse_settings::<<$policy as $crate::Policy>::Settings>(&settings)?;
                <$policy as $crate::Policy>::validate_settings(&parsed)
            }

            fn settings_schema() -> Option<::std::string::String> {
                <$policy as $crate::Policy>::settings_schema()
            }

            fn validate(
                request: $crate::Request,
                settings: ::std::string::String,
            ) -> Result<$crate::Decision, ::std::string::String> {
                $crate::evaluate::<$policy>(&request, &settings)
            }
        }

        $crate::bindings::export_policy!($policy);
    };
}

impl Request {
    /// Every container of the workload (regular, init, ephemeral and exec), or none.
    pub fn containers(&self) -> impl Iterator<Item = &Container> {
        self.workload.iter().flat_map(|w| w.containers.iter())
    }

    /// The field path to report for a container's field: `k8s` is relative to the container
    /// (`securityContext.privileged`), `docker` is the path in the Docker request body.
    pub fn field(&self, container: &Container, k8s: &str, docker: &str) -> String {
        match self.source {
            Source::Kubernetes => field::join(&container.pointer, k8s),
            Source::Docker => docker.to_string(),
        }
    }

    /// The field path of a workload-level field (pod spec or Docker `HostConfig`).
    pub fn workload_field(&self, k8s: &str, docker: &str) -> String {
        match self.source {
            Source::Kubernetes => field::join(
                self.workload.as_ref().map_or("", |w| w.pointer.as_str()),
                k8s,
            ),
            Source::Docker => docker.to_string(),
        }
    }

    /// The containers the request defines: those of a pod spec or a `docker run`, not exec
    /// processes, and none for a `docker update` (which carries only what it changes). Checks
    /// that require a setting to be present iterate these.
    pub fn defined_containers(&self) -> impl Iterator<Item = &Container> {
        let update = self.is_update();
        self.containers()
            .filter(move |c| !update && c.kind != ContainerKind::Exec)
    }

    /// A change to the limits of an existing container (`docker update`): it carries only what
    /// it changes, so checks that require a setting to be present do not apply to it.
    pub fn is_update(&self) -> bool {
        self.source == Source::Docker && self.operation == "container-update"
    }

    pub fn is_kubernetes(&self) -> bool {
        self.source == Source::Kubernetes
    }
}

impl ImageRef {
    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}
