//! Pod Security levels chosen per namespace by its labels, as Pod Security Admission reads
//! them: `<prefix>/enforce: restricted`, `<prefix>/warn-version: v1.30`, ... (and PSA's own
//! `pod-security.kubernetes.io/*` labels when accepted). A Kubernetes-door rule: the door
//! turns the labels into checks that `admission::evaluate` runs with the set's PSS module.

use std::collections::BTreeMap;

use crate::admission::LevelCheck;
use crate::config::{Mode, PodSecurityConfig};

/// The checks namespace `labels` ask for.
pub fn levels(config: &PodSecurityConfig, labels: &BTreeMap<String, String>) -> Vec<LevelCheck> {
    let mut checks = Vec::new();
    for (label, mode) in [
        ("enforce", Mode::Enforce),
        ("warn", Mode::Warn),
        ("audit", Mode::Audit),
    ] {
        let value = |suffix: &str| {
            labels
                .get(&format!("{}/{label}{suffix}", config.label_prefix))
                .or_else(|| {
                    config
                        .accept_psa_labels
                        .then(|| labels.get(&format!("pod-security.kubernetes.io/{label}{suffix}")))
                        .flatten()
                })
        };
        let Some(level) = value("") else { continue };
        // An unknown level is decided as the strictest, as Pod Security Admission does.
        let level = match level.as_str() {
            "privileged" | "baseline" | "restricted" => level.as_str(),
            _ => "restricted",
        };
        let version = value("-version")
            .filter(|v| v.as_str() == "latest" || v.starts_with("v1."))
            .map_or("latest", |v| v.as_str());
        checks.push(LevelCheck {
            label,
            mode,
            level: level.to_string(),
            version: version.to_string(),
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_as_pod_security_admission_reads_them() {
        let config = PodSecurityConfig {
            enabled: true,
            label_prefix: "portcullis.dev".into(),
            accept_psa_labels: true,
        };
        let labels: BTreeMap<String, String> = [
            ("portcullis.dev/enforce", "baseline"),
            ("pod-security.kubernetes.io/enforce", "privileged"),
            ("pod-security.kubernetes.io/warn", "strictest"),
            ("pod-security.kubernetes.io/warn-version", "v1.29"),
            ("portcullis.dev/audit-version", "1.29"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let checks = levels(&config, &labels);
        // Ours win where both are set; an unknown level is restricted; a malformed version
        // is the latest; no audit level, no audit check.
        assert_eq!(
            checks,
            vec![
                LevelCheck {
                    label: "enforce",
                    mode: Mode::Enforce,
                    level: "baseline".into(),
                    version: "latest".into()
                },
                LevelCheck {
                    label: "warn",
                    mode: Mode::Warn,
                    level: "restricted".into(),
                    version: "v1.29".into()
                },
            ]
        );
        let ours_only = PodSecurityConfig {
            accept_psa_labels: false,
            ..config
        };
        assert_eq!(levels(&ours_only, &labels).len(), 1);
    }
}
