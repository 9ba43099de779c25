//! Bundles: one config line that runs several built-in policies as the numbered controls of a
//! benchmark, and reports each failing control by its number, the way Pod Security Admission
//! reports its checks: `5.5 privileged (privileged mode must not be used)`.
//!
//! A bundle reuses the single-check modules with settings preset per control, so a control
//! and its policy never disagree. Users skip controls (`exclude`) and tune one control's
//! settings (`controls`), laid over the preset.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::abi::{Decision, Reason, Source};

/// A numbered control: which built-in decides it and how it is preset.
#[derive(Debug)]
pub struct Control {
    pub id: &'static str,
    /// Short name shown beside the number.
    pub name: &'static str,
    /// The built-in policy that decides it.
    pub policy: &'static str,
    pub preset: &'static str,
    /// Decided on `docker exec` (exec-create) only, or never on it.
    pub exec: bool,
}

pub struct Bundle {
    pub name: &'static str,
    /// The denial's summary, e.g. `violates CIS Docker Benchmark v1.6.0 section 5`.
    pub summary: &'static str,
    pub sources: &'static [Source],
    pub controls: &'static [Control],
}

const fn control(
    id: &'static str,
    name: &'static str,
    policy: &'static str,
    preset: &'static str,
) -> Control {
    Control {
        id,
        name,
        policy,
        preset,
        exec: false,
    }
}

const fn on_exec(control: Control) -> Control {
    Control {
        exec: true,
        ..control
    }
}

/// Every CIS Docker Benchmark v1.6.0 section 5 control that a create, update or exec request
/// shows enough of to decide (see `docs/policies/cis-docker.md` for the others).
pub const CIS_DOCKER: Bundle = Bundle {
    name: "cis-docker",
    summary: "violates CIS Docker Benchmark v1.6.0 section 5",
    sources: &[Source::Docker],
    controls: &[
        control("5.2", "apparmor", "apparmor", "{}"),
        control("5.3", "selinux", "selinux", "{}"),
        // Docker's default capability set: the Pod Security baseline list plus NET_RAW.
        control(
            "5.4",
            "capabilities",
            "capabilities",
            r#"{"allowedCapabilities":["AUDIT_WRITE","CHOWN","DAC_OVERRIDE","FOWNER","FSETID","KILL","MKNOD","NET_BIND_SERVICE","NET_RAW","SETFCAP","SETGID","SETPCAP","SETUID","SYS_CHROOT"]}"#,
        ),
        control("5.5", "privileged", "privileged", "{}"),
        control(
            "5.6",
            "sensitive host directories",
            "host-mounts",
            r#"{"sensitivePaths":["/","/boot","/dev","/etc","/lib","/proc","/sys","/usr"],"allowSharedPropagation":true}"#,
        ),
        control(
            "5.8",
            "privileged ports",
            "host-ports",
            r#"{"allowAllInterfaces":true}"#,
        ),
        control(
            "5.10",
            "host network",
            "host-namespaces",
            r#"{"allowHostPID":true,"allowHostIPC":true,"allowHostUTS":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
        ),
        control(
            "5.11",
            "memory limit",
            "resource-limits",
            r#"{"requireMemory":true,"requireCpu":false,"requirePids":false}"#,
        ),
        control(
            "5.12",
            "cpu priority",
            "resource-limits",
            r#"{"requireMemory":false,"requireCpu":true,"requirePids":false}"#,
        ),
        control(
            "5.13",
            "read-only root filesystem",
            "read-only-root-fs",
            "{}",
        ),
        control(
            "5.14",
            "host interface",
            "host-ports",
            r#"{"allowPrivilegedPorts":true}"#,
        ),
        control("5.15", "restart policy", "restart-policy", "{}"),
        control(
            "5.16",
            "host pid",
            "host-namespaces",
            r#"{"allowHostNetwork":true,"allowHostIPC":true,"allowHostUTS":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
        ),
        control(
            "5.17",
            "host ipc",
            "host-namespaces",
            r#"{"allowHostNetwork":true,"allowHostPID":true,"allowHostUTS":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
        ),
        control("5.18", "host devices", "devices", "{}"),
        control(
            "5.20",
            "mount propagation",
            "host-mounts",
            r#"{"sensitivePaths":[],"allowSharedPropagation":false}"#,
        ),
        control(
            "5.21",
            "host uts",
            "host-namespaces",
            r#"{"allowHostNetwork":true,"allowHostPID":true,"allowHostIPC":true,"allowHostUsers":true,"allowHostCgroup":true}"#,
        ),
        control("5.22", "seccomp", "seccomp", "{}"),
        on_exec(control("5.23", "exec privileged", "privileged", "{}")),
        on_exec(control("5.24", "exec as root", "run-as-non-root", "{}")),
        control(
            "5.25",
            "cgroup parent",
            "resource-limits",
            r#"{"requireMemory":false,"requireCpu":false,"requirePids":false,"allowedCgroupParents":[]}"#,
        ),
        control("5.26", "no-new-privileges", "privilege-escalation", "{}"),
        control("5.27", "health check", "healthcheck", "{}"),
        control(
            "5.29",
            "pids limit",
            "resource-limits",
            r#"{"requireMemory":false,"requireCpu":false,"requirePids":true}"#,
        ),
        control(
            "5.31",
            "host user namespace",
            "host-namespaces",
            r#"{"allowHostNetwork":true,"allowHostPID":true,"allowHostIPC":true,"allowHostUTS":true,"allowHostCgroup":true}"#,
        ),
        control(
            "5.32",
            "docker socket",
            "host-mounts",
            r#"{"sensitivePaths":["/var/run/docker.sock","/run/docker.sock"],"allowSharedPropagation":true}"#,
        ),
    ],
};

/// Ways to the host through a Docker request that the benchmark has no number for. Each
/// control is numbered `E.n` and decided by a built-in, like the benchmark's own.
pub const DOCKER_ESCAPES: Bundle = Bundle {
    name: "docker-escapes",
    summary: "opens a way to the host",
    sources: &[Source::Docker],
    controls: &[
        // `MaskedPaths: []` / `ReadonlyPaths: []` (`--security-opt systempaths=unconfined`):
        // a writable /proc/sys and /proc/sysrq-trigger, the host's kernel settings.
        control("E.1", "unmasked proc", "proc-mount", "{}"),
    ],
};

pub const BUNDLES: &[&Bundle] = &[&CIS_DOCKER, &DOCKER_ESCAPES];

pub fn find(name: &str) -> Option<&'static Bundle> {
    BUNDLES.iter().copied().find(|b| b.name == name)
}

/// A bundle's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BundleSettings {
    /// Controls not checked, by number.
    pub exclude: Vec<String>,
    /// Settings laid over one control's preset, by number.
    pub controls: BTreeMap<String, Value>,
}

/// Why a bundle's settings were refused: the field and the message.
pub type SettingsProblem = (String, String);

impl Bundle {
    /// The controls to run and each one's settings (preset with the configured ones laid
    /// over), or the first setting that names no control of this bundle.
    pub fn configure(
        &'static self,
        settings: &Value,
    ) -> Result<Vec<(&'static Control, Value)>, SettingsProblem> {
        let settings: BundleSettings = match settings {
            Value::Null => BundleSettings::default(),
            other => {
                serde_json::from_value(other.clone()).map_err(|e| (String::new(), e.to_string()))?
            }
        };
        let known = || {
            self.controls
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (i, id) in settings.exclude.iter().enumerate() {
            if !self.controls.iter().any(|c| c.id == id) {
                return Err((
                    format!("exclude[{i}]"),
                    format!("{id:?} is not a control of {} ({})", self.name, known()),
                ));
            }
        }
        for id in settings.controls.keys() {
            if !self.controls.iter().any(|c| c.id == id) {
                return Err((
                    format!("controls.{id}"),
                    format!("{id:?} is not a control of {} ({})", self.name, known()),
                ));
            }
        }
        Ok(self
            .controls
            .iter()
            .filter(|c| !settings.exclude.iter().any(|id| id == c.id))
            .map(|c| {
                let mut merged: Value =
                    serde_json::from_str(c.preset).expect("bundle presets are JSON");
                if let (Some(into), Some(Value::Object(from))) =
                    (merged.as_object_mut(), settings.controls.get(c.id))
                {
                    into.extend(from.clone());
                }
                (c, merged)
            })
            .collect())
    }

    /// One decision from the controls' decisions: a reason per failing control, named by
    /// its number, with the control's own reasons as details.
    pub fn combine(&self, decisions: Vec<(&Control, Decision)>) -> Decision {
        let mut out = Decision {
            allowed: true,
            message: String::new(),
            reasons: Vec::new(),
            warnings: Vec::new(),
            patch: None,
            audit_annotations: Vec::new(),
        };
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
pub fn applies(control: &Control, operation: &str) -> bool {
    control.exec == (operation == "exec-create")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_names_a_built_in_with_a_json_preset() {
        for c in CIS_DOCKER.controls {
            assert!(
                crate::builtin::find(c.policy).is_some(),
                "{}: {}",
                c.id,
                c.policy
            );
            serde_json::from_str::<Value>(c.preset).unwrap();
        }
    }

    #[test]
    fn settings_name_controls_that_exist() {
        let configured = CIS_DOCKER
            .configure(&serde_json::json!({
                "exclude": ["5.13"],
                "controls": {"5.15": {"maxRetries": 3}}
            }))
            .unwrap();
        assert!(configured.iter().all(|(c, _)| c.id != "5.13"));
        let (_, restart) = configured.iter().find(|(c, _)| c.id == "5.15").unwrap();
        assert_eq!(restart["maxRetries"], 3);
        let (field, message) = CIS_DOCKER
            .configure(&serde_json::json!({"exclude": ["5.99"]}))
            .unwrap_err();
        assert_eq!(field, "exclude[0]");
        assert!(message.starts_with("\"5.99\" is not a control of cis-docker (5.2, 5.3,"));
    }

    #[test]
    fn failing_controls_are_reported_by_number() {
        let deny = |msgs: &[&str]| Decision {
            allowed: false,
            message: String::new(),
            reasons: msgs
                .iter()
                .map(|m| Reason {
                    message: m.to_string(),
                    field: "HostConfig.X".into(),
                })
                .collect(),
            warnings: vec![],
            patch: None,
            audit_annotations: vec![],
        };
        let controls = CIS_DOCKER.controls;
        let d = CIS_DOCKER.combine(vec![
            (&controls[3], deny(&["privileged mode must not be used"])),
            (
                &controls[0],
                Decision {
                    allowed: true,
                    ..deny(&[])
                },
            ),
        ]);
        assert!(!d.allowed);
        assert_eq!(d.message, "violates CIS Docker Benchmark v1.6.0 section 5");
        assert_eq!(
            d.reasons[0].message,
            "5.5 privileged (privileged mode must not be used)"
        );
        assert_eq!(d.reasons.len(), 1);
    }
}
