//! `capabilities`: added Linux capabilities must be in an allow list (by default the Pod
//! Security Standards baseline list), required drops must be present, and optionally every
//! Kubernetes container is given `drop: [ALL]` by mutation.
//!
//! Spelling: on Kubernetes the allow list compares capabilities exactly as written, as Pod
//! Security Admission does (`chown` and `CAP_CHOWN` are not `CHOWN`). dockerd itself
//! normalizes what it is sent (`cap_chown` is `CAP_CHOWN`), so on Docker the comparison is on
//! the normalized name: every spelling of a capability is caught.

use portcullis_sdk::prelude::*;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Capabilities that may be added; `*` allows any.
    pub allowed_capabilities: Vec<String>,
    /// Capabilities every container must drop (`ALL` covers every one).
    pub required_drop_capabilities: Vec<String>,
    /// Add `ALL` to the drop list of every Kubernetes container that lacks it (needs
    /// `allowedToMutate: true` in the config).
    pub add_drop_all: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_capabilities: portcullis_sdk::standards::PSS_BASELINE_CAPABILITIES
                .iter()
                .map(|c| c.to_string())
                .collect(),
            required_drop_capabilities: Vec::new(),
            add_drop_all: false,
        }
    }
}

pub struct Capabilities;

fn canonical(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

impl Policy for Capabilities {
    type Settings = Settings;
    const NAME: &'static str = "capabilities";
    const MUTATING: bool = true;

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        for (key, list) in [
            ("allowedCapabilities", &settings.allowed_capabilities),
            (
                "requiredDropCapabilities",
                &settings.required_drop_capabilities,
            ),
        ] {
            for (i, cap) in list.iter().enumerate() {
                let ok = cap == "*" && key == "allowedCapabilities"
                    || (!cap.is_empty()
                        && !cap.starts_with("CAP_")
                        && cap
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
                if !ok {
                    return Err(SettingsError {
                        field: format!("{key}[{i}]"),
                        message: format!(
                            "{cap:?} is not a capability name: write it in upper case without CAP_, e.g. {:?}",
                            canonical(cap)
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let any_allowed = settings.allowed_capabilities.iter().any(|c| c == "*");
        let mut findings = Findings::default();
        let mut needs_drop_all: Vec<&str> = Vec::new();
        let mutate_here = settings.add_drop_all && request.is_kubernetes();

        for c in request
            .containers()
            .filter(|c| c.kind != ContainerKind::Exec)
        {
            for cap in &c.capabilities_add {
                let allowed = any_allowed
                    || match request.source {
                        Source::Kubernetes => settings.allowed_capabilities.contains(&cap.raw),
                        Source::Docker => settings.allowed_capabilities.contains(&cap.normalized),
                    };
                if !allowed {
                    let field =
                        request.field(c, "securityContext.capabilities.add", "HostConfig.CapAdd");
                    let message = match request.source {
                        Source::Kubernetes => format!(
                            "container {:?} must not include {:?} in securityContext.capabilities.add",
                            c.name, cap.raw
                        ),
                        Source::Docker => {
                            format!("capability {:?} must not be added", cap.normalized)
                        }
                    };
                    findings.deny(field, message);
                }
            }

            let drops = |name: &str| {
                c.capabilities_drop.iter().any(|d| match request.source {
                    Source::Kubernetes => d.raw == name || d.raw == "ALL",
                    Source::Docker => d.normalized == name || d.normalized == "ALL",
                })
            };
            let drops_all = drops("ALL");
            if mutate_here && !drops_all {
                needs_drop_all.push(&c.pointer);
            }
            for required in &settings.required_drop_capabilities {
                // The mutation below adds ALL, which satisfies every required drop.
                if drops(required) || (mutate_here && !drops_all) {
                    continue;
                }
                let field =
                    request.field(c, "securityContext.capabilities.drop", "HostConfig.CapDrop");
                let message = match request.source {
                    Source::Kubernetes => format!(
                        "container {:?} must include {:?} in securityContext.capabilities.drop",
                        c.name, required
                    ),
                    Source::Docker => {
                        format!("capability {required:?} must be dropped (--cap-drop {required})")
                    }
                };
                findings.deny(field, message);
            }
        }

        if !findings.is_empty() || needs_drop_all.is_empty() {
            return findings.into_decision();
        }
        match add_drop_all(&request.object, &needs_drop_all) {
            Ok(patch) => Decision::allow().with_patch(patch),
            Err(e) => {
                findings.deny("", format!("cannot add drop ALL: {e}"));
                findings.into_decision()
            }
        }
    }
}

/// Appends `ALL` to `securityContext.capabilities.drop` of each container at `pointers`.
fn add_drop_all(object: &str, pointers: &[&str]) -> Result<Option<String>, String> {
    portcullis_sdk::mutate(object, |root| {
        for pointer in pointers {
            let Some(container) = root.pointer_mut(pointer).and_then(|c| c.as_object_mut()) else {
                continue;
            };
            let sc = container
                .entry("securityContext")
                .or_insert_with(|| portcullis_sdk::serde_json::json!({}));
            let Some(caps) = sc.as_object_mut().map(|sc| {
                sc.entry("capabilities")
                    .or_insert_with(|| portcullis_sdk::serde_json::json!({}))
            }) else {
                continue;
            };
            let Some(drop) = caps.as_object_mut().map(|c| {
                c.entry("drop")
                    .or_insert_with(|| portcullis_sdk::serde_json::json!([]))
            }) else {
                continue;
            };
            if let Some(list) = drop.as_array_mut() {
                list.push(portcullis_sdk::serde_json::Value::String("ALL".into()));
            }
        }
    })
}

#[cfg(not(feature = "bundled"))]
portcullis_sdk::policy!(Capabilities);

#[cfg(all(test, not(feature = "bundled")))]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    fn adding(caps: &[&str]) -> portcullis_sdk::Container {
        let mut c = container("app", "nginx");
        c.capabilities_add = caps.iter().map(|c| capability(c)).collect();
        c
    }

    #[test]
    fn kubernetes_compares_exact_spellings() {
        for (cap, allowed) in [
            ("CHOWN", true),
            ("chown", false),
            ("CAP_CHOWN", false),
            ("NET_RAW", false),
            ("SYS_ADMIN", false),
        ] {
            let d = run::<Capabilities>(&pod(vec![adding(&[cap])]), "{}").unwrap();
            assert_eq!(d.allowed, allowed, "{cap}");
        }
        let d = run::<Capabilities>(&pod(vec![adding(&["NET_RAW"])]), "{}").unwrap();
        assert_eq!(
            d.reasons[0].message,
            r#"container "app" must not include "NET_RAW" in securityContext.capabilities.add"#
        );
        assert_eq!(
            d.reasons[0].field,
            "spec.containers[0].securityContext.capabilities.add"
        );
    }

    #[test]
    fn docker_catches_every_spelling() {
        for cap in [
            "SYS_ADMIN",
            "sys_admin",
            "CAP_SYS_ADMIN",
            "cap_sys_admin",
            "ALL",
        ] {
            let d = run::<Capabilities>(&docker_create(adding(&[cap])), "{}").unwrap();
            assert!(!d.allowed, "{cap}");
        }
        assert!(
            run::<Capabilities>(&docker_create(adding(&["cap_chown"])), "{}")
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn required_drops() {
        let settings = r#"{"requiredDropCapabilities":["ALL"]}"#;
        let d = run::<Capabilities>(&pod(vec![adding(&[])]), settings).unwrap();
        assert!(!d.allowed);
        let mut c = adding(&[]);
        c.capabilities_drop = vec![capability("ALL")];
        assert!(
            run::<Capabilities>(&pod(vec![c]), settings)
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn add_drop_all_patches_the_object() {
        let mut req = pod(vec![adding(&[])]);
        req.object = r#"{"spec":{"containers":[{"name":"app","image":"nginx"}]}}"#.into();
        let d = run::<Capabilities>(
            &req,
            r#"{"addDropAll":true,"requiredDropCapabilities":["ALL"]}"#,
        )
        .unwrap();
        assert!(d.allowed);
        assert_eq!(
            d.patch.as_deref(),
            Some(
                r#"[{"op":"add","path":"/spec/containers/0/securityContext","value":{"capabilities":{"drop":["ALL"]}}}]"#
            )
        );
    }

    #[test]
    fn settings_must_be_canonical_names() {
        let err =
            check_settings::<Capabilities>(r#"{"allowedCapabilities":["CHOWN","cap_net_raw"]}"#)
                .unwrap_err();
        assert_eq!(err.field, "allowedCapabilities[1]");
        assert!(err.message.contains("\"NET_RAW\""), "{}", err.message);
    }
}
