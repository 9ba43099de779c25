//! Self-registration: the engine creates or updates its own ValidatingWebhookConfiguration and
//! MutatingWebhookConfiguration, with its CA bundle and rules derived from the loaded
//! policies' match rules, and shares one CA and serving certificate between its replicas
//! through a Secret.
//!
//! Everything it creates carries [`OWNER_LABEL`]. An object of the same name without it
//! belongs to someone else: it is reported and left alone, never changed or deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::Source;
use crate::config::{FailurePolicy, RegistrationConfig};
use crate::policy_set::PolicySet;

/// The label that marks an object as the engine's own.
pub const OWNER_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "portcullis");

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{kind} {name:?} exists and was not created by portcullis (it lacks the label {}={}); it is left alone", OWNER_LABEL.0, OWNER_LABEL.1)]
    Foreign { kind: String, name: String },
    #[error("Secret {name:?}: {problem}")]
    Secret { name: String, problem: String },
    #[error(transparent)]
    Tls(#[from] crate::server::tls::TlsError),
    #[error("registration.{0}")]
    Config(String),
}

/// The CA and serving certificate the engine serves with, as PEM.
pub struct SharedCertificate {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// The names the serving certificate must carry for the API server to reach the engine.
fn serving_names(config: &RegistrationConfig) -> (Vec<String>, Vec<IpAddr>) {
    if let Some(service) = &config.service {
        let (name, ns) = (&service.name, &service.namespace);
        return (
            vec![
                format!("{name}.{ns}.svc"),
                name.clone(),
                format!("{name}.{ns}"),
                format!("{name}.{ns}.svc.cluster.local"),
            ],
            Vec::new(),
        );
    }
    let host = config
        .url
        .as_deref()
        .and_then(|u| u.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?']).next().unwrap_or_default())
        .unwrap_or_default();
    // `host:port`, `[v6]:port`, or a bare host.
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => (vec!["localhost".into()], vec![ip]),
        Err(_) => (vec![host.to_string()], Vec::new()),
    }
}

/// The namespace of the shared Secret: the Service's, else the engine's own.
fn secret_namespace(config: &RegistrationConfig, own: Option<&str>) -> Option<String> {
    config
        .service
        .as_ref()
        .map(|s| s.namespace.clone())
        .or_else(|| own.map(str::to_string))
}

/// The CA and certificate from the configured Secret, made and stored there by whichever
/// replica starts first; without a Secret, a fresh self-signed pair.
pub async fn shared_certificate(
    client: &Client,
    config: &RegistrationConfig,
    own_namespace: Option<&str>,
) -> Result<SharedCertificate, RegistrationError> {
    let (dns, ips) = serving_names(config);
    let fresh = || -> Result<SharedCertificate, RegistrationError> {
        let pem = crate::server::tls::generate(&dns, &ips)?;
        Ok(SharedCertificate {
            ca: pem.ca,
            cert: pem.cert,
            key: pem.key,
        })
    };
    let Some(name) = &config.tls_secret else {
        return fresh();
    };
    let namespace = secret_namespace(config, own_namespace).ok_or_else(|| {
        RegistrationError::Config(
            "tlsSecret needs a namespace: give service.namespace or set POD_NAMESPACE".into(),
        )
    })?;
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let what = format!("Secret {namespace}/{name}");
    let api_error = |source| RegistrationError::Api {
        what: what.clone(),
        source,
    };
    if let Some(secret) = api.get_opt(name).await.map_err(api_error)? {
        return read_secret(name, &secret);
    }
    let made = fresh()?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            labels: Some(owner_labels()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            ("ca.crt".into(), ByteString(made.ca.clone().into_bytes())),
            ("tls.crt".into(), ByteString(made.cert.clone().into_bytes())),
            ("tls.key".into(), ByteString(made.key.clone().into_bytes())),
        ])),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            tracing::info!(secret = %what, "made a CA and serving certificate for the replicas to share");
            Ok(made)
        }
        // Another replica made it first: use theirs, so every replica serves one CA.
        Err(kube::Error::Api(status)) if status.is_already_exists() => {
            let secret = api.get(name).await.map_err(api_error)?;
            read_secret(name, &secret)
        }
        Err(source) => Err(api_error(source)),
    }
}

fn read_secret(name: &str, secret: &Secret) -> Result<SharedCertificate, RegistrationError> {
    let field = |key: &str| -> Result<String, RegistrationError> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .ok_or_else(|| RegistrationError::Secret {
                name: name.to_string(),
                problem: format!("has no {key}; it must hold ca.crt, tls.crt and tls.key"),
            })?;
        String::from_utf8(bytes.0.clone()).map_err(|_| RegistrationError::Secret {
            name: name.to_string(),
            problem: format!("{key} is not PEM text"),
        })
    };
    Ok(SharedCertificate {
        ca: field("ca.crt")?,
        cert: field("tls.crt")?,
        key: field("tls.key")?,
    })
}

fn owner_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(OWNER_LABEL.0.to_string(), OWNER_LABEL.1.to_string())])
}

/// Resources of the workload kinds the engine understands, by group.
const WORKLOADS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "pods",
            "pods/ephemeralcontainers",
            "replicationcontrollers",
            "podtemplates",
        ],
    ),
    (
        "apps",
        &["deployments", "replicasets", "statefulsets", "daemonsets"],
    ),
    ("batch", &["jobs", "cronjobs"]),
];

/// The resource a kind is served as (`Deployment` → `deployments`).
pub(crate) fn resource_of(kind: &str) -> String {
    match kind {
        "*" => "*".into(),
        other => {
            let lower = other.to_ascii_lowercase();
            if lower.ends_with('s') {
                format!("{lower}es")
            } else if let Some(stem) = lower.strip_suffix('y') {
                format!("{stem}ies")
            } else {
                format!("{lower}s")
            }
        }
    }
}

/// Webhook rules covering what the given policies' match rules select: per policy, its
/// operations (default CREATE and UPDATE) on its kinds (default every workload kind).
pub fn rules_for<'a>(
    policies: impl Iterator<Item = &'a crate::matching::MatchRules>,
) -> Vec<RuleWithOperations> {
    // (operations, group, version) → resources
    let mut merged: BTreeMap<(Vec<String>, String, String), BTreeSet<String>> = BTreeMap::new();
    for m in policies {
        let mut operations: Vec<String> = if m.operations.is_empty() {
            vec!["CREATE".into(), "UPDATE".into()]
        } else {
            m.operations.clone()
        };
        operations.sort();
        operations.dedup();
        if m.rules.is_empty() {
            for (group, resources) in WORKLOADS {
                merged
                    .entry((operations.clone(), group.to_string(), "v1".into()))
                    .or_default()
                    .extend(resources.iter().map(|r| r.to_string()));
            }
            continue;
        }
        for rule in &m.rules {
            for group in &rule.api_groups {
                for version in &rule.api_versions {
                    let entry = merged
                        .entry((operations.clone(), group.clone(), version.clone()))
                        .or_default();
                    for kind in &rule.kinds {
                        let resource = resource_of(kind);
                        for sub in &rule.subresources {
                            entry.insert(format!("{resource}/{sub}"));
                        }
                        entry.insert(resource);
                    }
                }
            }
        }
    }
    merged
        .into_iter()
        .map(
            |((operations, group, version), resources)| RuleWithOperations {
                operations: Some(operations),
                api_groups: Some(vec![group]),
                api_versions: Some(vec![version]),
                resources: Some(resources.into_iter().collect()),
                scope: None,
            },
        )
        .collect()
}

fn client_config(config: &RegistrationConfig, path: &str, ca: &str) -> WebhookClientConfig {
    WebhookClientConfig {
        ca_bundle: Some(ByteString(ca.as_bytes().to_vec())),
        service: config.service.as_ref().map(|s| ServiceReference {
            name: s.name.clone(),
            namespace: s.namespace.clone(),
            path: Some(path.to_string()),
            port: Some(s.port),
        }),
        url: config
            .url
            .as_ref()
            .map(|u| format!("{}{path}", u.trim_end_matches('/'))),
    }
}

fn selector(value: &Option<serde_json::Value>) -> Option<LabelSelector> {
    value
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The two webhook configurations for a loaded policy set. The mutating one has a webhook
/// only while some policy may mutate.
pub fn webhook_configurations(
    config: &RegistrationConfig,
    set: &PolicySet,
    ca: &str,
) -> (ValidatingWebhookConfiguration, MutatingWebhookConfiguration) {
    let kubernetes = || {
        set.policies()
            .iter()
            .filter(|p| p.metadata().sources.contains(&Source::Kubernetes))
    };
    let pod_security = crate::matching::MatchRules::default();
    let validating_rules = rules_for(
        kubernetes()
            .filter(|p| !p.mutates())
            .map(|p| &p.config.matching)
            .chain(set.pod_security_enabled().then_some(&pod_security)),
    );
    let mutating_rules = rules_for(
        kubernetes()
            .filter(|p| p.mutates())
            .map(|p| &p.config.matching),
    );
    let failure_policy = match config.failure_policy {
        FailurePolicy::Fail => "Fail",
        FailurePolicy::Ignore => "Ignore",
    };
    let meta = || ObjectMeta {
        name: Some(config.name.clone()),
        labels: Some(owner_labels()),
        ..Default::default()
    };
    let versions = Some(vec!["v1".to_string(), "v1beta1".to_string()]);
    let validating = ValidatingWebhookConfiguration {
        metadata: meta(),
        webhooks: (!validating_rules.is_empty()).then(|| {
            vec![ValidatingWebhook {
                name: "validate.portcullis.dev".into(),
                admission_review_versions: versions.clone().unwrap_or_default(),
                side_effects: "None".into(),
                failure_policy: Some(failure_policy.into()),
                timeout_seconds: Some(config.timeout_seconds),
                match_policy: Some(config.match_policy.clone()),
                client_config: client_config(config, "/validate", ca),
                namespace_selector: selector(&config.namespace_selector),
                object_selector: selector(&config.object_selector),
                rules: Some(validating_rules),
                match_conditions: None,
            }]
        }),
    };
    let mutating = MutatingWebhookConfiguration {
        metadata: meta(),
        webhooks: (config.mutating && !mutating_rules.is_empty()).then(|| {
            vec![MutatingWebhook {
                name: "mutate.portcullis.dev".into(),
                admission_review_versions: versions.clone().unwrap_or_default(),
                side_effects: "None".into(),
                failure_policy: Some(failure_policy.into()),
                timeout_seconds: Some(config.timeout_seconds),
                match_policy: Some(config.match_policy.clone()),
                reinvocation_policy: Some("IfNeeded".into()),
                client_config: client_config(config, "/mutate", ca),
                namespace_selector: selector(&config.namespace_selector),
                object_selector: selector(&config.object_selector),
                rules: Some(mutating_rules),
                match_conditions: None,
            }]
        }),
    };
    (validating, mutating)
}

/// Creates or updates both webhook configurations. A configuration another party owns is
/// reported and left alone; the other one is still registered.
pub async fn sync(
    client: &Client,
    config: &RegistrationConfig,
    set: &PolicySet,
    ca: &str,
) -> Vec<RegistrationError> {
    let (validating, mutating) = webhook_configurations(config, set, ca);
    let mut problems = Vec::new();
    if let Err(e) = apply(Api::all(client.clone()), validating).await {
        problems.push(e);
    }
    if let Err(e) = apply(Api::all(client.clone()), mutating).await {
        problems.push(e);
    }
    problems
}

/// Creates `desired`, or replaces the object of its name if the engine owns it.
async fn apply<K>(api: Api<K>, mut desired: K) -> Result<(), RegistrationError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let kind = K::kind(&()).to_string();
    let name = desired.meta().name.clone().unwrap_or_default();
    let api_error = |source| RegistrationError::Api {
        what: format!("{kind} {name:?}"),
        source,
    };
    match api.get_opt(&name).await.map_err(api_error)? {
        Some(existing) => {
            let owned = existing
                .meta()
                .labels
                .as_ref()
                .and_then(|l| l.get(OWNER_LABEL.0))
                .is_some_and(|v| v == OWNER_LABEL.1);
            if !owned {
                return Err(RegistrationError::Foreign { kind, name });
            }
            desired.meta_mut().resource_version = existing.meta().resource_version.clone();
            api.replace(&name, &PostParams::default(), &desired)
                .await
                .map_err(api_error)?;
            tracing::info!(%kind, %name, "webhook configuration updated");
        }
        None => {
            api.create(&PostParams::default(), &desired)
                .await
                .map_err(api_error)?;
            tracing::info!(%kind, %name, "webhook configuration created");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> crate::config::PolicyConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn rules_follow_the_policies_match_rules() {
        let plain = policy("name: a\nmodule: builtin:privileged\n");
        let rules = rules_for([&plain.matching].into_iter());
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].api_groups, Some(vec!["".to_string()]));
        assert!(
            rules[0]
                .resources
                .as_ref()
                .unwrap()
                .contains(&"pods/ephemeralcontainers".to_string())
        );

        let exec = policy(
            "name: b\nmodule: builtin:privileged\nmatch:\n  operations: [CONNECT]\n  rules: [{apiGroups: [''], apiVersions: [v1], kinds: [Pod], subresources: [exec]}]\n",
        );
        let services = policy(
            "name: c\nmodule: builtin:privileged\nmatch:\n  operations: [CREATE]\n  rules: [{apiGroups: [apps], apiVersions: [v1], kinds: [Deployment, DaemonSet]}]\n",
        );
        let rules = rules_for([&exec.matching, &services.matching].into_iter());
        let as_json = serde_json::to_value(&rules).unwrap();
        assert_eq!(
            as_json,
            serde_json::json!([
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CONNECT"],
                 "resources": ["pods", "pods/exec"]},
                {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"],
                 "resources": ["daemonsets", "deployments"]},
            ])
        );
    }

    #[test]
    fn certificate_names_follow_how_the_server_is_reached() {
        let mut config: RegistrationConfig = serde_yaml_ng::from_str(
            "service: {name: portcullis, namespace: guard}\ntlsSecret: portcullis-tls\n",
        )
        .unwrap();
        let (dns, ips) = serving_names(&config);
        assert_eq!(dns[0], "portcullis.guard.svc");
        assert!(ips.is_empty());
        config.service = None;
        config.url = Some("https://127.0.0.1:9443".into());
        assert_eq!(
            serving_names(&config).1,
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        config.url = Some("https://webhook.example.com:9443/".into());
        assert_eq!(serving_names(&config).0, vec!["webhook.example.com"]);
    }
}
