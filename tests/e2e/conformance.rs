//! The default policy set against the upstream corpora: every Pod Security Admission fixture
//! that exercises the privileged, host-namespaces, baseline-capabilities and hostPath checks,
//! and every Docker authz sample whose expectation concerns the five core policies.

use std::collections::BTreeSet;

use portcullis::eval::{self, Input};
use serde_json::Value;

use crate::support::{default_set, policy_set, shared};

/// The PSA checks the five core policies implement.
const PSA_CHECKS: &[&str] = &[
    "privileged",
    "hostNamespaces",
    "capabilities_baseline",
    "hostPathVolumes",
];

fn decide(input: &str) -> Value {
    eval::evaluate(&default_set(), Input::parse(input).expect("fixture parses")).expect("decided")
}

/// Every PSS fixture the five core policies decide: (file, expected allow, YAML text).
pub fn pss_cases() -> Vec<(String, bool, String)> {
    let dir = shared("conformance/pss");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    index["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            let failing: Vec<&str> = entry["failing_checks_at_level"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            entry["check"]
                .as_str()
                .is_none_or(|c| PSA_CHECKS.contains(&c))
                || failing.iter().any(|c| PSA_CHECKS.contains(c))
        })
        .map(|entry| {
            let file = entry["file"].as_str().unwrap().to_string();
            let text = std::fs::read_to_string(dir.join(&file)).unwrap();
            (file, entry["expect"] == "allow", text)
        })
        .collect()
}

#[test]
fn pss_fixtures_are_decided_as_psa_decides_them() {
    let (mut allow, mut deny, mut mismatches) = (0, 0, Vec::new());
    for (file, expect_allow, text) in pss_cases() {
        let response = decide(&text);
        let allowed = response["response"]["allowed"].as_bool().unwrap();
        if allowed != expect_allow {
            mismatches.push(format!(
                "{file}: expected allow={expect_allow}, got {response}"
            ));
        }
        if expect_allow {
            allow += 1
        } else {
            deny += 1;
            // PSA users should recognise the message: it names the field that failed.
            let message = response["response"]["status"]["message"].as_str().unwrap();
            assert!(message.contains("spec."), "{file}: {message}");
        }
    }
    println!(
        "PSS fixtures decided as PSA: {} of {} ({allow} allow, {deny} deny)",
        allow + deny - mismatches.len(),
        allow + deny
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(
        allow >= 5 && deny >= 20,
        "too few fixtures selected: {allow} allow, {deny} deny"
    );
}

/// CIS section 5 controls the five core policies decide, with the policy that should deny.
fn policy_for(control: &str) -> Option<&'static str> {
    Some(match control {
        "5.5" | "5.23" => "privileged",
        "5.10" | "5.16" | "5.17" | "5.21" | "5.31" => "host-namespaces",
        "5.4" => "capabilities",
        "5.6" | "5.32" => "host-mounts",
        _ => return None,
    })
}

fn docker_samples() -> Vec<(String, Value)> {
    let dir = shared("conformance/docker-authz/requests");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    index["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let file = s["file"].as_str().unwrap().to_string();
            let sample: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(&file)).unwrap()).unwrap();
            (file, sample)
        })
        .collect()
}

#[test]
fn docker_samples_are_decided_as_expected() {
    let (mut checked, mut skipped, mut mismatches) = (0, 0, Vec::new());
    for (file, sample) in docker_samples() {
        let expected: BTreeSet<&str> = match &sample["expect_docker_cis"] {
            Value::String(s) if s == "none" => BTreeSet::new(),
            Value::Array(ids) => ids.iter().filter_map(Value::as_str).collect(),
            other => panic!("{file}: unexpected expect_docker_cis {other}"),
        };
        let ours: BTreeSet<&str> = expected.iter().filter_map(|c| policy_for(c)).collect();
        if !expected.is_empty() && ours.is_empty() {
            // Concerns checks outside the five core policies (ports, seccomp, ...).
            skipped += 1;
            continue;
        }
        checked += 1;
        let response = decide(&sample["authz_request"].to_string());
        let allowed = response["Allow"].as_bool().unwrap();
        let msg = response["Msg"].as_str().unwrap_or_default();
        if allowed != ours.is_empty() {
            mismatches.push(format!("{file}: expected {expected:?}, got {response}"));
            continue;
        }
        // A denial names the policy that denied, unless the body could not be inspected.
        for policy in &ours {
            if !msg.contains(&format!("{policy}:")) && !msg.contains("cannot be inspected") {
                mismatches.push(format!(
                    "{file}: expected a denial by {policy}, got {msg:?}"
                ));
            }
        }
    }
    println!(
        "Docker samples decided as expected: {} of {checked} ({skipped} concern other checks)",
        checked - mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(checked >= 40, "only {checked} samples checked");
}

#[test]
fn docker_registry_samples_follow_an_allow_list() {
    let set = policy_set(
        "policies:\n  - name: registries\n    module: builtin:registries\n    settings:\n      allowedRegistries: [registry.example.com]\n",
    )
    .unwrap();
    let mut seen = 0;
    for (file, sample) in docker_samples() {
        let expect_allow = match file.as_str() {
            "pull_allowed_registry.json" | "run_allowed_registry.json" => true,
            "pull_untrusted_registry.json"
            | "run_untrusted_registry.json"
            | "pull_docker_hub_official.json" => false,
            _ => continue,
        };
        seen += 1;
        let response = eval::evaluate(
            &set,
            Input::parse(&sample["authz_request"].to_string()).unwrap(),
        )
        .unwrap();
        assert_eq!(response["Allow"], expect_allow, "{file}: {response}");
    }
    assert_eq!(seen, 5);

    // With Docker Hub's official images allowed, `nginx` is docker.io/library/nginx.
    let hub = policy_set(
        "policies:\n  - name: registries\n    module: builtin:registries\n    settings:\n      allowedRegistries: [docker.io/library]\n",
    )
    .unwrap();
    let (_, sample) = docker_samples()
        .into_iter()
        .find(|(f, _)| f == "pull_docker_hub_official.json")
        .unwrap();
    let response = eval::evaluate(
        &hub,
        Input::parse(&sample["authz_request"].to_string()).unwrap(),
    )
    .unwrap();
    assert_eq!(response["Allow"], true, "{response}");
}

/// The substring Pod Security Admission's own test harness expects in a denial, per check.
fn psa_substring(check: &str) -> &str {
    match check {
        "appArmorProfile" => "forbidden AppArmor profile",
        "capabilities_baseline" => "capabilities",
        "capabilities_restricted" => "unrestricted capabilities",
        "hostNamespaces" => "host namespaces",
        "hostPathVolumes" => "hostPath",
        "hostPorts" => "hostPort",
        "hostProbesAndHostLifecycle" => "probe or lifecycle host",
        "procMount" | "procMount_restricted" => "procMount",
        "restrictedVolumes" => "restricted volume types",
        "seLinuxOptions" => "seLinuxOptions",
        "seccompProfile_baseline" | "seccompProfile_restricted" => "seccompProfile",
        "sysctls" => "forbidden sysctl",
        "windowsHostProcess" => "hostProcess",
        other => other,
    }
}

#[test]
fn every_pss_fixture_is_decided_as_psa_decides_it_by_the_bundles() {
    let dir = shared("conformance/pss");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let mut mismatches = Vec::new();
    let mut total = 0;
    for level in ["baseline", "restricted"] {
        let set = policy_set(&format!("policies:\n  - name: pss\n    module: builtin:pss-{level}\n    settings:\n      version: v1.37\n")).unwrap();
        let mut decided = 0;
        for entry in index["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == level)
        {
            let file = entry["file"].as_str().unwrap();
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let response = eval::evaluate(&set, Input::parse(&text).unwrap()).unwrap();
            let allowed = response["response"]["allowed"].as_bool().unwrap();
            total += 1;
            if allowed != (entry["expect"] == "allow") {
                mismatches.push(format!(
                    "{file}: expected {}, got {response}",
                    entry["expect"]
                ));
                continue;
            }
            if !allowed {
                let message = response["response"]["status"]["message"].as_str().unwrap();
                for check in entry["failing_checks_at_level"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                {
                    if !message.contains(psa_substring(check)) {
                        mismatches.push(format!(
                            "{file}: message lacks {:?} for {check}: {message}",
                            psa_substring(check)
                        ));
                    }
                }
            }
            decided += 1;
        }
        println!("pss-{level}: {decided} fixtures decided as PSA decides them");
    }
    println!(
        "PSS bundles: {} of {total} fixtures decided as PSA, every check named",
        total - mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert_eq!(total, 148);
}

#[test]
fn docker_samples_follow_their_cis_findings_control_by_control() {
    // Each CIS control these policies decide, judged on every sample against the sample's own
    // expectation and, for container creates, its hardening gaps.
    const CONTROLS: &[(&str, &str)] = &[
        ("5.22", "seccomp"),
        ("5.13", "read-only-root-fs"),
        ("5.26", "privilege-escalation"),
        ("5.24", "run-as-non-root"),
        ("5.8", "host-ports"),
        ("5.14", "host-ports"),
        ("5.11", "resource-limits"),
        ("5.12", "resource-limits"),
        ("5.29", "resource-limits"),
        ("5.2", "apparmor"),
        ("5.3", "selinux"),
        ("5.18", "devices"),
    ];
    let mut config = String::from("policies:\n");
    for policy in [
        "seccomp",
        "read-only-root-fs",
        "privilege-escalation",
        "run-as-non-root",
        "host-ports",
        "resource-limits",
        "apparmor",
        "selinux",
        "devices",
    ] {
        config.push_str(&format!(
            "  - name: {policy}\n    module: builtin:{policy}\n"
        ));
    }
    let set = policy_set(&config).unwrap();
    let mut checked = 0;
    for (file, sample) in docker_samples() {
        let request = &sample["authz_request"];
        let route = portcullis::docker::route::parse(
            request["RequestMethod"].as_str().unwrap_or_default(),
            request["RequestUri"].as_str().unwrap_or_default(),
        );
        let gaps = sample["cis_hardening_gaps"].as_array();
        if route.operation == portcullis::docker::route::Operation::ContainerCreate
            && gaps.is_none()
        {
            continue; // hand-written minimal bodies: only their one finding is stated
        }
        let mut violated: BTreeSet<&str> = gaps
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(ids) = sample["expect_docker_cis"].as_array() {
            violated.extend(ids.iter().filter_map(Value::as_str));
        }
        let response = eval::evaluate(
            &set,
            Input::parse(&sample["authz_request"].to_string()).unwrap(),
        )
        .unwrap();
        let msg = response["Msg"].as_str().unwrap_or_default();
        for (control, policy) in CONTROLS {
            let same_policy_violated = CONTROLS
                .iter()
                .any(|(c, p)| p == policy && violated.contains(c));
            assert_eq!(
                msg.contains(&format!("{policy}:")),
                same_policy_violated,
                "{file}: {control} ({policy}), findings {violated:?}: {msg}"
            );
        }
        checked += 1;
    }
    println!(
        "Docker samples judged control by control on 5.2, 5.3, 5.8, 5.11-5.14, 5.18, 5.22, 5.24, 5.26, 5.29: {checked}"
    );
    assert!(checked >= 35, "{checked}");
}
