//! Bundles: one config line that runs several built-in policies as the numbered controls of a
//! benchmark, and reports each failing control by its number, the way Pod Security Admission
//! reports its checks: `5.5 privileged (privileged mode must not be used)`.
//!
//! A bundle's component links the single-check policies' crates (built with their `bundled`
//! feature, so they export nothing) and runs each control through the same code and settings
//! type as the standalone policy, with settings preset per control: a control and its policy
//! never disagree. Every control is decided inside one instance, so a request costs one
//! instantiation and one copy of the envelope however many controls there are; a control per
//! instance cost 22 of each for a `docker run` under `cis-docker`.
//!
//! Users skip controls (`exclude`) and tune one control's settings (`controls`), laid over the
//! preset. Both are checked at load, each control's settings by its policy's own checks, with
//! the field named from the bundle's settings (`controls.5.15.maxRetries`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use portcullis_sdk::schemars::{Schema, SchemaGenerator};
use portcullis_sdk::serde_json::{self, Map, Value, json};
use portcullis_sdk::{Decision, Metadata, Policy, Reason, Request, SettingsError, Source};

/// How a bundle calls one single-check policy: generic functions of its `Policy` impl, made
/// into plain function pointers so controls fit in a `const` table.
#[derive(Clone, Copy)]
pub struct Check {
    evaluate: fn(&Request, &str) -> Result<Decision, String>,
    validate_settings: fn(&str) -> Result<(), SettingsError>,
    schema: fn(&mut SchemaGenerator) -> Schema,
}

/// The check of policy `P`, as its standalone component runs it.
pub const fn check<P: Policy>() -> Check {
    Check {
        evaluate: portcullis_sdk::evaluate::<P>,
        validate_settings: validate_settings::<P>,
        schema: settings_schema::<P>,
    }
}

fn validate_settings<P: Policy>(text: &str) -> Result<(), SettingsError> {
    let parsed = portcullis_sdk::parse_settings::<P::Settings>(text)?;
    P::validate_settings(&parsed)
}

fn settings_schema<P: Policy>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<P::Settings>()
}

/// A numbered control: which policy decides it and how it is preset.
pub struct Control {
    pub id: &'static str,
    /// Short name shown beside the number.
    pub name: &'static str,
    /// The built-in policy whose code decides it (`builtin:NAME` runs it alone).
    pub policy: &'static str,
    pub check: Check,
    /// Settings (JSON) the control starts from; the config's are laid over them.
    pub preset: &'static str,
    /// Decided on `docker exec` (exec-create) only, or never on it.
    pub exec: bool,
}

/// A control decided on every request but `docker exec`.
pub const fn control(
    id: &'static str,
    name: &'static str,
    policy: &'static str,
    check: Check,
    preset: &'static str,
) -> Control {
    Control {
        id,
        name,
        policy,
        check,
        preset,
        exec: false,
    }
}

/// A control decided on `docker exec` only.
pub const fn on_exec(control: Control) -> Control {
    Control {
        exec: true,
        ..control
    }
}

pub struct Bundle {
    pub name: &'static str,
    pub version: &'static str,
    /// The denial's summary, e.g. `violates CIS Docker Benchmark v1.6.0 section 5`.
    pub summary: &'static str,
    pub sources: &'static [Source],
    pub controls: &'static [Control],
}

/// A bundle's own settings.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct BundleSettings {
    /// Controls not checked, by number.
    exclude: Vec<String>,
    /// Settings laid over one control's preset, by number.
    controls: BTreeMap<String, Map<String, Value>>,
}

impl Bundle {
    pub fn metadata(&self) -> Metadata {
        Metadata {
            name: self.name.to_string(),
            version: self.version.to_string(),
            mutating: false,
            sources: self.sources.to_vec(),
        }
    }

    /// The controls to run, each with its settings (the preset with the configured ones laid
    /// over), or the first setting that names no control of this bundle.
    pub fn configure(
        &self,
        settings: &str,
    ) -> Result<Vec<(&Control, Cow<'static, str>)>, SettingsError> {
        let settings: BundleSettings = portcullis_sdk::parse_settings(settings)?;
        let unknown = |field: String, id: &str| SettingsError {
            field,
            message: format!(
                "{id:?} is not a control of {} ({})",
                self.name,
                self.controls
                    .iter()
                    .map(|c| c.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        for (i, id) in settings.exclude.iter().enumerate() {
            if !self.controls.iter().any(|c| c.id == id) {
                return Err(unknown(format!("exclude[{i}]"), id));
            }
        }
        if let Some(id) = settings
            .controls
            .keys()
            .find(|id| !self.controls.iter().any(|c| c.id == *id))
        {
            return Err(unknown(format!("controls.{id}"), id));
        }
        Ok(self
            .controls
            .iter()
            .filter(|c| !settings.exclude.iter().any(|id| id == c.id))
            .map(|c| {
                let text = match settings.controls.get(c.id) {
                    // Most controls run as preset: their text is used as it is.
                    None => Cow::Borrowed(c.preset),
                    Some(configured) => {
                        let mut merged: Map<String, Value> =
                            serde_json::from_str(c.preset).expect("bundle presets are objects");
                        merged.extend(configured.clone());
                        Cow::Owned(Value::Object(merged).to_string())
                    }
                };
                (c, text)
            })
            .collect())
    }

    /// Checks the bundle's settings and each control's, as its policy checks them at load.
    pub fn validate_settings(&self, settings: &str) -> Result<(), SettingsError> {
        for (control, text) in self.configure(settings)? {
            (control.check.validate_settings)(&text).map_err(|e| SettingsError {
                field: format!("controls.{}.{}", control.id, e.field)
                    .trim_end_matches('.')
                    .to_string(),
                message: e.message,
            })?;
        }
        Ok(())
    }

    /// The JSON Schema of the bundle's settings: `exclude` takes the control numbers, and
    /// `controls` each control's policy's settings, titled with the control's name.
    pub fn settings_schema(&self) -> String {
        let mut generator = SchemaGenerator::default();
        let mut controls = Map::new();
        for c in self.controls {
            let mut schema = (c.check.schema)(&mut generator);
            schema.insert("title".into(), c.name.into());
            schema.insert(
                "description".into(),
                format!("Laid over the preset {} of `{}`.", c.preset, c.policy).into(),
            );
            controls.insert(c.id.to_string(), schema.to_value());
        }
        let ids: Vec<&str> = self.controls.iter().map(|c| c.id).collect();
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.name,
            "type": "object",
            "additionalProperties": false,
            "properties": {
                // Numbers are not an `enum`: the bundle's own check names the ones there are.
                "exclude": {
                    "description": format!("Controls not checked, by number: {}.", ids.join(", ")),
                    "type": "array",
                    "items": {"type": "string"},
                },
                "controls": {
                    "description": "Settings laid over one control's preset, by number.",
                    "type": "object",
                    "additionalProperties": false,
                    "properties": controls,
                },
            },
            "$defs": generator.take_definitions(true),
        });
        schema.to_string()
    }

    /// Decides a request with every configured control that applies to it, in turn, in this
    /// instance. The first control that cannot decide leaves the whole bundle undecided.
    pub fn validate(&self, request: &Request, settings: &str) -> Result<Decision, String> {
        let controls = self
            .configure(settings)
            .map_err(|e| format!("invalid settings: {}: {}", e.field, e.message))?;
        let mut decisions = Vec::with_capacity(controls.len());
        for (control, text) in controls {
            if !applies(control, &request.operation) {
                continue;
            }
            let decision = (control.check.evaluate)(request, &text)
                .map_err(|e| format!("control {} could not decide: {e}", control.id))?;
            decisions.push((control, decision));
        }
        Ok(self.combine(decisions))
    }

    /// One decision from the controls' decisions: a reason per failing control, named by
    /// its number, with the control's own reasons as details.
    pub fn combine(&self, decisions: Vec<(&Control, Decision)>) -> Decision {
        let mut out = Decision::allow();
        for (control, d) in decisions {
            out.warnings.extend(
                d.warnings
                    .into_iter()
                    .map(|w| format!("{}: {w}", control.id)),
            );
            out.audit_annotations.extend(
                d.audit_annotations
                    .into_iter()
                    .map(|(k, v)| (format!("{}.{k}", control.id), v)),
            );
            if d.allowed {
                continue;
            }
            out.allowed = false;
            let details: Vec<&str> = if d.reasons.is_empty() {
                vec![if d.message.is_empty() {
                    "denied"
                } else {
                    d.message.as_str()
                }]
            } else {
                d.reasons.iter().map(|r| r.message.as_str()).collect()
            };
            out.reasons.push(Reason {
                message: format!("{} {} ({})", control.id, control.name, details.join(", ")),
                field: d
                    .reasons
                    .first()
                    .map(|r| r.field.clone())
                    .unwrap_or_default(),
            });
        }
        if !out.allowed {
            out.message = self.summary.to_string();
        }
        out
    }
}

/// Whether a control applies to a request of this operation.
fn applies(control: &Control, operation: &str) -> bool {
    control.exec == (operation == "exec-create")
}

/// Exports a [`Bundle`] as the component's policy: `bundle!(CisDocker, CIS_DOCKER)`.
#[macro_export]
macro_rules! bundle {
    ($component:ident, $bundle:path) => {
        struct $component;

        impl ::portcullis_sdk::bindings::Guest for $component {
            fn metadata() -> ::portcullis_sdk::Metadata {
                $bundle.metadata()
            }

            fn validate_settings(
                settings: ::std::string::String,
            ) -> Result<(), ::portcullis_sdk::SettingsError> {
                $bundle.validate_settings(&settings)
            }

            fn settings_schema() -> Option<::std::string::String> {
                Some($bundle.settings_schema())
            }

            fn validate(
                request: ::portcullis_sdk::Request,
                settings: ::std::string::String,
            ) -> Result<::portcullis_sdk::Decision, ::std::string::String> {
                $bundle.validate(&request, &settings)
            }
        }

        ::portcullis_sdk::bindings::export_policy!($component);
    };
}
