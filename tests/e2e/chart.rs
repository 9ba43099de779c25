//! The Helm chart, rendered and linted by Helm's own engine (the Helm SDK, through
//! `tests/chart/helm.py`): every variant lints clean, every object is a valid Kubernetes
//! object, the Deployment passes the engine's own `pss-restricted`, and the plain manifests in
//! `deploy/kubernetes/` are the default render.

use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api;
use serde_json::{Value, json};

use crate::support::{portcullis, workspace};

/// The Python that has the Helm SDK: `PORTCULLIS_HELM_PYTHON`, else `target/helm-venv`.
fn helm_python() -> PathBuf {
    if let Some(python) = std::env::var_os("PORTCULLIS_HELM_PYTHON") {
        return python.into();
    }
    let venv = workspace().join("target/helm-venv/bin/python");
    assert!(
        venv.exists(),
        "the chart tests need Helm's SDK for Python: python3 -m venv target/helm-venv && \
         target/helm-venv/bin/pip install helm-python-sdk==0.2.2 (.ci/run does this)"
    );
    venv
}

fn helm(command: &str, values: &Value) -> Value {
    let out = Command::new(helm_python())
        .arg(workspace().join("tests/chart/helm.py"))
        .arg(command)
        .arg(workspace().join("charts/portcullis"))
        .arg(values.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {command} {values}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every object of a render, in template order, as JSON.
pub fn render(values: &Value) -> Vec<Value> {
    let templates = helm("render", values);
    let mut objects = Vec::new();
    let mut names: Vec<&String> = templates.as_object().unwrap().keys().collect();
    names.sort();
    for name in names {
        if !name.ends_with(".yaml") {
            continue;
        }
        for doc in serde_yaml_ng::Deserializer::from_str(templates[name].as_str().unwrap()) {
            let value: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !value.is_null() {
                objects.push(value);
            }
        }
    }
    objects
}

/// The rules of the first object of `kind`.
fn rules_of(objects: &[Value], kind: &str) -> Vec<Value> {
    find(objects, kind).unwrap()["rules"]
        .as_array()
        .unwrap()
        .clone()
}

/// The variants users pick, by their values.
fn variants() -> Vec<(&'static str, Value)> {
    vec![
        ("default", json!({})),
        (
            "cert-manager",
            json!({"tls": {"mode": "certManager"}, "metrics": {"serviceMonitor": {"enabled": true}}}),
        ),
        (
            "own secret",
            json!({"tls": {"mode": "secret", "secretName": "my-tls", "caBundle": "Q0EK"}}),
        ),
        (
            "self-registration",
            json!({"tls": {"mode": "selfRegistration"}}),
        ),
        ("hpa", json!({"autoscaling": {"enabled": true}})),
        (
            "background audit",
            json!({"backgroundAudit": {"enabled": true, "interval": "30m"}}),
        ),
        (
            "signed images",
            json!({"registry": {"tagTtl": "5m"}, "policies": [
                {"name": "pss-baseline", "module": "builtin:pss-baseline"},
                {"name": "image-signatures", "module": "builtin:image-signatures", "capabilities": ["registry"], "allowedToMutate": true, "settings": {"mutateDigest": true}}
            ]}),
        ),
        (
            "hpa on 1.20",
            json!({"autoscaling": {"enabled": true}, "kubeVersionOverride": "1.20.2"}),
        ),
    ]
}

#[test]
#[ignore = "needs Helm's engine (target/helm-venv, tests/provision/install.sh): run tests/run.sh"]
fn the_chart_lints_clean_in_every_variant() {
    for (variant, values) in variants() {
        let report = helm("lint", &values);
        assert_eq!(report["errors"], json!([]), "{variant}: {report}");
        let problems: Vec<&Value> = report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["severity"].as_i64().unwrap() >= 2)
            .collect();
        assert!(problems.is_empty(), "{variant}: {problems:?}");
    }
}

/// Parses `object` as `T` and back: what the type does not know (a misspelt field, a wrong
/// nesting) is lost on the way and the comparison fails.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(object: &Value) -> Value {
    let typed: T = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("not a valid object: {e}\n{object:#}"));
    serde_json::to_value(typed).unwrap()
}

#[test]
#[ignore = "needs Helm's engine (target/helm-venv, tests/provision/install.sh): run tests/run.sh"]
fn every_rendered_object_is_a_valid_kubernetes_object() {
    let mut checked = 0;
    for (variant, values) in variants() {
        let objects = render(&values);
        for object in &objects {
            let kind = object["kind"].as_str().unwrap();
            let api_version = object["apiVersion"].as_str().unwrap();
            // The beta versions chosen for old clusters have the schema of their successors.
            let mut typed_as = object.clone();
            let back = match (api_version, kind) {
                ("v1", "ConfigMap") => round_trips::<api::core::v1::ConfigMap>(object),
                ("v1", "Service") => round_trips::<api::core::v1::Service>(object),
                ("v1", "ServiceAccount") => round_trips::<api::core::v1::ServiceAccount>(object),
                ("apps/v1", "Deployment") => round_trips::<api::apps::v1::Deployment>(object),
                ("policy/v1" | "policy/v1beta1", "PodDisruptionBudget") => {
                    typed_as["apiVersion"] = "policy/v1".into();
                    round_trips::<api::policy::v1::PodDisruptionBudget>(&typed_as)
                }
                ("autoscaling/v2" | "autoscaling/v2beta2", "HorizontalPodAutoscaler") => {
                    typed_as["apiVersion"] = "autoscaling/v2".into();
                    round_trips::<api::autoscaling::v2::HorizontalPodAutoscaler>(&typed_as)
                }
                ("networking.k8s.io/v1", "NetworkPolicy") => {
                    round_trips::<api::networking::v1::NetworkPolicy>(object)
                }
                ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                    round_trips::<api::rbac::v1::ClusterRole>(object)
                }
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                    round_trips::<api::rbac::v1::ClusterRoleBinding>(object)
                }
                ("rbac.authorization.k8s.io/v1", "Role") => {
                    round_trips::<api::rbac::v1::Role>(object)
                }
                ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                    round_trips::<api::rbac::v1::RoleBinding>(object)
                }
                ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
                    round_trips::<api::admissionregistration::v1::ValidatingWebhookConfiguration>(
                        object,
                    )
                }
                ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
                    round_trips::<api::admissionregistration::v1::MutatingWebhookConfiguration>(
                        object,
                    )
                }
                // Custom resources: no k8s-openapi type; their essentials are checked below.
                ("cert-manager.io/v1", "Certificate" | "Issuer")
                | ("monitoring.coreos.com/v1", "ServiceMonitor") => object.clone(),
                other => panic!("{variant}: unexpected object {other:?}"),
            };
            assert_eq!(back, typed_as, "{variant}: {kind} changed in a round trip");
            checked += 1;
        }
    }
    println!("rendered objects valid as their Kubernetes types: {checked}");
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Option<&'a Value> {
    objects.iter().find(|o| o["kind"] == kind)
}

#[test]
#[ignore = "needs Helm's engine (target/helm-venv, tests/provision/install.sh): run tests/run.sh"]
fn each_variant_renders_what_it_promises() {
    // Default: self-registration, so no webhook objects, and the engine told how to register.
    let objects = render(&json!({}));
    assert!(find(&objects, "ValidatingWebhookConfiguration").is_none());
    let config = find(&objects, "ConfigMap").unwrap()["data"]["portcullis.yaml"]
        .as_str()
        .unwrap();
    let config: Value = serde_yaml_ng::from_str(config).unwrap();
    assert_eq!(
        config["kubernetes"]["registration"]["tlsSecret"],
        "portcullis-tls"
    );
    assert_eq!(
        find(&objects, "PodDisruptionBudget").unwrap()["apiVersion"],
        "policy/v1"
    );
    let deployment = find(&objects, "Deployment").unwrap();
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert!(
        deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"].is_object(),
        "{deployment}"
    );

    // cert-manager: a Certificate for the Service's names and its CA injected into both
    // webhook configurations, which leave out kube-system and the release namespace.
    let objects = render(&json!({"tls": {"mode": "certManager"}}));
    let certificate = find(&objects, "Certificate").unwrap();
    assert_eq!(certificate["spec"]["secretName"], "portcullis-tls");
    assert!(
        certificate["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .contains(&json!("portcullis.portcullis.svc"))
    );
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let webhook = find(&objects, kind).unwrap();
        assert_eq!(
            webhook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "portcullis/portcullis"
        );
        let hook = &webhook["webhooks"][0];
        assert_eq!(hook["sideEffects"], "None");
        assert_eq!(hook["admissionReviewVersions"][0], "v1");
        assert_eq!(
            hook["namespaceSelector"]["matchExpressions"][0]["values"],
            json!(["kube-system", "portcullis"])
        );
        assert_eq!(hook["clientConfig"]["service"]["name"], "portcullis");
    }

    // The background audit: in the engine's config, with the RBAC it needs to list
    // workloads, write reports and hold its Lease.
    let objects = render(&json!({"backgroundAudit": {"enabled": true, "interval": "30m"}}));
    let config: Value = serde_yaml_ng::from_str(
        find(&objects, "ConfigMap").unwrap()["data"]["portcullis.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["backgroundAudit"],
        json!({"interval": "30m", "doors": ["kubernetes"], "writeReports": true})
    );
    let allows = |rules: &[Value], group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["apiGroups"].as_array().unwrap().contains(&json!(group))
                && r["resources"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(resource))
                && r["verbs"].as_array().unwrap().contains(&json!(verb))
        })
    };
    let cluster = rules_of(&objects, "ClusterRole");
    for (group, resource) in [("", "pods"), ("apps", "deployments"), ("batch", "cronjobs")] {
        assert!(allows(&cluster, group, resource, "list"), "{resource}");
    }
    assert!(allows(&cluster, "wgpolicyk8s.io", "policyreports", "patch"));
    let own = rules_of(&objects, "Role");
    assert!(allows(&own, "coordination.k8s.io", "leases", "update"));
    assert!(
        allows(&own, "", "secrets", "create"),
        "self-registration keeps its Secret"
    );
    // A policy that asks registries: the registry section in the config, and the pull
    // secrets Pods name readable; nothing of either by default.
    let objects = render(
        &json!({"registry": {"tagTtl": "5m"}, "policies": [{"name": "s", "module": "builtin:image-signatures", "capabilities": ["registry"]}]}),
    );
    let config: Value = serde_yaml_ng::from_str(
        find(&objects, "ConfigMap").unwrap()["data"]["portcullis.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["registry"], json!({"tagTtl": "5m"}));
    assert!(allows(
        &rules_of(&objects, "ClusterRole"),
        "",
        "secrets",
        "get"
    ));
    assert!(!allows(
        &rules_of(&render(&json!({})), "ClusterRole"),
        "",
        "secrets",
        "get"
    ));

    // Off by default: nothing of it.
    let objects = render(&json!({}));
    let config = find(&objects, "ConfigMap").unwrap()["data"]["portcullis.yaml"]
        .as_str()
        .unwrap();
    assert!(!config.contains("backgroundAudit"), "{config}");
    assert!(!allows(
        &rules_of(&objects, "ClusterRole"),
        "",
        "pods",
        "list"
    ));

    // The ServiceMonitor verifies the engine's certificate instead of skipping verification.
    let objects = render(&json!({"metrics": {"serviceMonitor": {"enabled": true}}}));
    let endpoint = &find(&objects, "ServiceMonitor").unwrap()["spec"]["endpoints"][0];
    assert_eq!(
        endpoint["tlsConfig"]["serverName"],
        "portcullis.portcullis.svc"
    );
    assert_eq!(
        endpoint["tlsConfig"]["ca"]["secret"]["name"],
        "portcullis-tls"
    );
    assert!(endpoint["tlsConfig"]["insecureSkipVerify"].is_null());

    // HPA: the Deployment leaves replicas to it; API versions follow the cluster's version.
    let objects = render(&json!({"autoscaling": {"enabled": true}}));
    assert_eq!(
        find(&objects, "HorizontalPodAutoscaler").unwrap()["apiVersion"],
        "autoscaling/v2"
    );
    assert!(find(&objects, "Deployment").unwrap()["spec"]["replicas"].is_null());
    let old = render(&json!({"autoscaling": {"enabled": true}, "kubeVersionOverride": "1.20.2"}));
    assert_eq!(
        find(&old, "HorizontalPodAutoscaler").unwrap()["apiVersion"],
        "autoscaling/v2beta2"
    );
    assert_eq!(
        find(&old, "PodDisruptionBudget").unwrap()["apiVersion"],
        "policy/v1beta1"
    );
}

#[test]
#[ignore = "needs Helm's engine (target/helm-venv, tests/provision/install.sh): run tests/run.sh"]
fn values_that_break_the_schema_are_refused_with_the_field() {
    let out = Command::new(helm_python())
        .arg(workspace().join("tests/chart/helm.py"))
        .args(["render"])
        .arg(workspace().join("charts/portcullis"))
        .arg(json!({"tls": {"mode": "selfsigned"}}).to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("/tls/mode"), "{error}");
}

#[test]
#[ignore = "needs Helm's engine (target/helm-venv, tests/provision/install.sh): run tests/run.sh"]
fn the_rendered_deployment_passes_pss_restricted() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("restricted.yaml");
    std::fs::write(
        &config,
        "policies:\n  - name: pss-restricted\n    module: builtin:pss-restricted\n",
    )
    .unwrap();
    for (variant, values) in variants() {
        let objects = render(&values);
        let deployment = dir.path().join("deployment.json");
        std::fs::write(
            &deployment,
            find(&objects, "Deployment").unwrap().to_string(),
        )
        .unwrap();
        let out = portcullis(&[
            "eval",
            "--config",
            config.to_str().unwrap(),
            deployment.to_str().unwrap(),
        ]);
        let review: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(review["response"]["allowed"], true, "{variant}: {review}");
    }
}

#[test]
#[ignore = "needs Helm's engine (target/helm-venv, tests/provision/install.sh): run tests/run.sh"]
fn plain_manifests_are_the_default_render() {
    let dir = workspace().join("deploy/kubernetes");
    let text = std::fs::read_to_string(dir.join("portcullis.yaml")).unwrap();
    let plain: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect();
    assert_eq!(
        plain,
        render(&json!({})),
        "deploy/kubernetes/portcullis.yaml differs from the chart's default render; \
         regenerate it with tests/chart/render-plain.sh"
    );
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    assert!(
        kustomization.contains("- portcullis.yaml"),
        "{kustomization}"
    );
    // The Policy Report CRDs the chart installs, the same for kubectl users.
    assert_eq!(
        std::fs::read_to_string(dir.join("policyreport-crds.yaml")).unwrap(),
        std::fs::read_to_string(workspace().join("charts/portcullis/crds/policyreports.yaml"))
            .unwrap(),
        "deploy/kubernetes/policyreport-crds.yaml differs from the chart's crds/"
    );
    assert!(
        kustomization.contains("- policyreport-crds.yaml"),
        "{kustomization}"
    );
}

#[test]
#[ignore = "needs Helm's engine (target/helm-venv, tests/provision/install.sh): run tests/run.sh"]
fn the_rendered_engine_config_loads_and_decides() {
    let dir = tempfile::tempdir().unwrap();
    for (variant, values) in variants() {
        let objects = render(&values);
        let config = find(&objects, "ConfigMap").unwrap()["data"]["portcullis.yaml"]
            .as_str()
            .unwrap()
            .to_string();
        let path = dir.path().join("portcullis.yaml");
        std::fs::write(&path, config).unwrap();
        let out = portcullis(&[
            "eval",
            "--config",
            path.to_str().unwrap(),
            workspace()
                .join("deploy/examples/pod-privileged.yaml")
                .to_str()
                .unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{variant}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let review: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(review["response"]["allowed"], false, "{variant}: {review}");
    }
}
