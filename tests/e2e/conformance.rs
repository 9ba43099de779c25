//! The built-in policies against the upstream corpora: Pod Security Admission's own fixtures
//! (the default set, the PSS bundles and the single-check policies) and the Docker authz
//! samples with their CIS Docker Benchmark findings (the default set, `cis-docker` and the
//! single-check policies, control by control).

use std::collections::BTreeSet;

use portcullis::eval::{self, Input};
use serde_json::Value;

use crate::support::{corpus, default_set, policy_set};

/// The Docker samples were recorded on other hosts: the containers, volumes and paths they
/// name do not exist here. They test how requests are read, so what they refer to is
/// decided as written.
const RECORDED_ELSEWHERE: &str = "docker:\n  daemon: \"\"\n  allowUnresolved: true\n";

/// `yaml` with [`RECORDED_ELSEWHERE`].
fn for_samples(yaml: &str) -> portcullis::policy_set::PolicySet {
    policy_set(&format!("{yaml}\n{RECORDED_ELSEWHERE}")).unwrap()
}

fn decide(input: &str) -> Value {
    eval::evaluate(&default_set(), Input::parse(input).expect("fixture parses")).expect("decided")
}

/// Every baseline-level PSS fixture, which the default set decides: (file, expected allow,
/// YAML text).
pub fn pss_cases() -> Vec<(String, bool, String)> {
    let dir = corpus("pss");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    index["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["level"] == "baseline")
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
            assert!(
                message.contains("(spec.") || message.contains("(metadata."),
                "{file}: {message}"
            );
        }
    }
    println!(
        "PSS fixtures decided as PSA: {} of {} ({allow} allow, {deny} deny)",
        allow + deny - mismatches.len(),
        allow + deny
    );
    assert_none(&mismatches);
    assert!(
        allow >= 5 && deny >= 20,
        "too few fixtures selected: {allow} allow, {deny} deny"
    );
}

pub fn docker_samples() -> Vec<(String, Value)> {
    let dir = corpus("docker-authz/requests");
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
fn docker_samples_are_decided_as_expected_by_the_default_set() {
    // The controls the default config leaves out are read from it, not restated here.
    let config: Value = serde_yaml_ng::from_str(crate::support::DEFAULT_POLICIES).unwrap();
    let excluded: Vec<&str> = config["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["module"] == "builtin:cis-docker")
        .expect("the default set runs cis-docker")["settings"]["exclude"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let (total, mismatches) =
        judge_docker_samples(&for_samples(crate::support::DEFAULT_POLICIES), &excluded);
    println!(
        "Docker samples decided as expected by the default set: {} of {total} (controls {excluded:?} left out)",
        total - mismatches.len()
    );
    assert_none(&mismatches);
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
    let dir = corpus("pss");
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
    assert_none(&mismatches);
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
    let set = for_samples(&config);
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

/// Where `cis-docker` is stricter than docker-bench, by design: (sample, control, why).
const STRICTER_THAN_DOCKER_BENCH: &[(&str, &str, &str)] = &[(
    "run_bind_host_root.json",
    "5.32",
    "binding / exposes the Docker socket as surely as binding the socket itself",
)];

/// The hardening controls a hand-written minimal body lacks without saying so.
const HARDENING: &[&str] = &["5.11", "5.12", "5.13", "5.26", "5.29"];

#[test]
fn every_docker_sample_is_decided_as_expected_under_cis_docker() {
    let set = for_samples("policies:\n  - name: cis-docker\n    module: builtin:cis-docker\n");
    let (total, mismatches) = judge_docker_samples(&set, &[]);
    println!(
        "Docker samples decided as expected under cis-docker: {} of {total}",
        total - mismatches.len()
    );
    assert_none(&mismatches);
    assert!(total >= 60, "only {total} samples");
}

/// Decides every Docker sample and compares the CIS controls reported with the sample's own
/// findings and hardening gaps, less the `excluded` controls: (samples, mismatches).
fn judge_docker_samples(
    set: &portcullis::policy_set::PolicySet,
    excluded: &[&str],
) -> (usize, Vec<String>) {
    // The controls as the module describes them: number and name, from its settings schema.
    let schema = portcullis::inspect::inspect("builtin:cis-docker")
        .unwrap()
        .settings_schema
        .unwrap();
    let controls: Vec<(String, String)> = schema["properties"]["controls"]["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, s)| (id.clone(), s["title"].as_str().unwrap().to_string()))
        .collect();
    assert!(controls.len() >= 20, "{controls:?}");
    let mut mismatches = Vec::new();
    let mut total = 0;
    for (file, sample) in docker_samples() {
        total += 1;
        let mut expected: BTreeSet<&str> = match &sample["expect_docker_cis"] {
            Value::Array(ids) => ids.iter().filter_map(Value::as_str).collect(),
            _ => BTreeSet::new(),
        };
        let gaps = sample["cis_hardening_gaps"].as_array();
        expected.extend(gaps.into_iter().flatten().filter_map(Value::as_str));
        for (f, id, _) in STRICTER_THAN_DOCKER_BENCH {
            if *f == file {
                expected.insert(id);
            }
        }
        expected.retain(|id| !excluded.contains(id));
        let response = eval::evaluate(
            set,
            Input::parse(&sample["authz_request"].to_string()).unwrap(),
        )
        .unwrap();
        let allowed = response["Allow"].as_bool().unwrap();
        let msg = response["Msg"].as_str().unwrap_or_default();
        if msg.contains("cannot be inspected") {
            // Fail-closed: the body needed for a decision could not be read.
            if expected.is_empty() {
                mismatches.push(format!("{file}: denied unread, expected allowed: {msg}"));
            }
            continue;
        }
        let reported: BTreeSet<&str> = controls
            .iter()
            .filter(|(id, name)| msg.contains(&format!("{id} {name} (")))
            .map(|(id, _)| id.as_str())
            .collect();
        if allowed != reported.is_empty() {
            mismatches.push(format!(
                "{file}: allowed={allowed} but reported {reported:?}: {msg}"
            ));
        }
        let fits = if gaps.is_none() && !expected.is_empty() {
            // A hand-written body states its one finding; the hardening it lacks is implied.
            expected.is_subset(&reported)
                && reported
                    .difference(&expected)
                    .all(|id| HARDENING.contains(id))
        } else {
            reported == expected
        };
        if !fits {
            mismatches.push(format!(
                "{file}: expected {expected:?}, reported {reported:?}: {msg}"
            ));
        }
    }
    (total, mismatches)
}

#[test]
fn single_check_policies_decide_their_pss_checks_as_psa_does() {
    // Each PSA check with the built-in that implements it alone, at its default settings,
    // and the level whose fixtures name it (at restricted, PSA reports some baseline checks
    // under the restricted check that overrides them).
    const CHECKS: &[(&str, &str, &str)] = &[
        ("privileged", "privileged", "baseline"),
        ("hostNamespaces", "host-namespaces", "baseline"),
        ("hostPathVolumes", "host-mounts", "baseline"),
        ("capabilities_baseline", "capabilities", "baseline"),
        ("procMount", "proc-mount", "baseline"),
        ("sysctls", "sysctls", "baseline"),
        ("windowsHostProcess", "windows-host-process", "baseline"),
        ("restrictedVolumes", "volume-types", "restricted"),
    ];
    let dir = corpus("pss");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let mut mismatches = Vec::new();
    let mut decided = 0;
    for (check, policy, level) in CHECKS {
        let set = policy_set(&format!(
            "policies:\n  - name: {policy}\n    module: builtin:{policy}\n"
        ))
        .unwrap();
        for entry in index["files"].as_array().unwrap() {
            let failing: Vec<&str> = entry["failing_checks_at_level"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            // Fixtures written for this check, and any other fixture it fails.
            if entry["level"] != *level || (entry["check"] != *check && !failing.contains(check)) {
                continue;
            }
            let file = entry["file"].as_str().unwrap();
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let response = eval::evaluate(&set, Input::parse(&text).unwrap()).unwrap();
            let allowed = response["response"]["allowed"].as_bool().unwrap();
            decided += 1;
            if allowed == failing.contains(check) {
                mismatches.push(format!("{policy} on {file} ({check}): {response}"));
            }
        }
    }
    println!(
        "PSS fixtures decided by the single-check policies as PSA: {} of {decided}",
        decided - mismatches.len()
    );
    assert_none(&mismatches);
    assert!(decided >= 40, "{decided}");
}

#[test]
fn cis_docker_allows_exactly_dockers_default_capabilities_back() {
    use base64::Engine as _;
    let set = policy_set("policies:\n  - name: cis-docker\n    module: builtin:cis-docker\n    settings:\n      exclude: [\"5.11\", \"5.12\", \"5.13\", \"5.26\", \"5.29\"]\n")
        .unwrap();
    let run = |cap: &str| {
        let body = serde_json::json!({"Image": "alpine", "HostConfig": {"CapAdd": [cap]}});
        let request = serde_json::json!({
            "RequestMethod": "POST",
            "RequestURI": "/v1.43/containers/create",
            "RequestHeaders": {"Content-Type": "application/json"},
            "RequestBody": base64::engine::general_purpose::STANDARD.encode(body.to_string()),
        });
        eval::evaluate(&set, Input::parse(&request.to_string()).unwrap()).unwrap()
    };
    // CIS 5.4 compares against Docker's default set, which has NET_RAW (Pod Security's does not).
    for allowed in ["NET_RAW", "cap_chown", "SYS_CHROOT"] {
        assert_eq!(run(allowed)["Allow"], true, "{allowed}: {}", run(allowed));
    }
    for denied in ["SYS_ADMIN", "NET_ADMIN", "ALL"] {
        let answer = run(denied);
        assert!(
            answer["Msg"]
                .as_str()
                .unwrap()
                .contains("5.4 capabilities ("),
            "{denied}: {answer}"
        );
    }
}

/// Fails listing every mismatch, so one run shows them all.
fn assert_none(mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
