//! Hostile policy modules: each attack becomes a policy error that denies the request (fail
//! closed) with a message naming the policy and what happened, and the engine keeps serving.

use std::sync::Arc;

use portcullis::eval::{self, Input};
use portcullis::policy_set::PolicySet;
use portcullis::runtime::PolicyError;

use crate::support::{fixture_wasm, policy_set};

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:1.25"}]}}"#;

/// A set with one hostile policy behaving as asked, beside the real privileged policy. Only
/// the endless loop gets a short deadline; the others get a long one, so that a loaded
/// machine cannot turn their intended failure into a timeout.
fn hostile_set(behave: &str, extra: &str) -> PolicySet {
    let wasm = fixture_wasm("portcullis-fixture-hostile");
    let timeout_ms = if behave.ends_with("loop") { 50 } else { 10_000 };
    policy_set(&format!(
        "policies:\n  - name: hostile\n    module: {}\n    timeoutMs: {timeout_ms}\n    memoryLimitMiB: 32\n{extra}    settings:\n      behave: {behave}\n  - name: privileged\n    module: builtin:privileged\n",
        wasm.display()
    ))
    .unwrap()
}

fn decide(set: &PolicySet) -> (bool, String, Option<PolicyError>) {
    let response = eval::evaluate(set, Input::parse(POD).unwrap()).unwrap();
    let allowed = response["response"]["allowed"].as_bool().unwrap();
    let message = response["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The same request through the library, to see the typed error.
    let review =
        portcullis::kubernetes::AdmissionReview::for_object(serde_json::from_str(POD).unwrap());
    let request = review.request.unwrap().to_request();
    let verdict = portcullis::admission::evaluate(
        set,
        &portcullis::admission::Admission::of(request),
        &portcullis::admission::Scope::ADMISSION,
        None,
    );
    let error = verdict
        .results
        .iter()
        .find(|r| r.policy == "hostile")
        .and_then(|r| r.outcome.clone().err());
    (allowed, message, error)
}

#[test]
fn each_attack_is_denied_with_a_clear_message() {
    let cases = [
        (
            "endless-loop",
            "hostile: policy failed: timed out after 50 ms",
            "timeout",
        ),
        (
            "memory-bomb",
            "hostile: policy failed: ran out of memory (limit 32 MiB)",
            "out-of-memory",
        ),
        (
            "trap",
            "hostile: policy failed: trapped: wasm trap: wasm `unreachable` instruction executed",
            "trap",
        ),
        (
            "garbage",
            "hostile: policy failed: returned malformed output: returned a patch but its metadata says it does not mutate",
            "bad-output",
        ),
        (
            "huge-output",
            "hostile: policy failed: returned malformed output: decision is 16777216 bytes, more than the 1048576 byte limit",
            "bad-output",
        ),
    ];
    for (behave, want, kind) in cases {
        let set = hostile_set(behave, "");
        let (allowed, message, error) = decide(&set);
        println!("{behave}: {message}");
        assert!(!allowed, "{behave} must be denied");
        assert!(
            message.contains(want),
            "{behave}: got {message:?}, want {want:?}"
        );
        let error = error.unwrap_or_else(|| panic!("{behave}: no policy error recorded"));
        assert_eq!(error.kind(), kind, "{behave}: wrong error kind {error:?}");
    }
}

/// Time a policy waits on the host is given back to its deadline; a policy that does nothing
/// but call the host must still time out.
#[test]
fn a_policy_looping_on_host_calls_still_times_out() {
    let set = hostile_set("host-loop", "    capabilities: [registry]\n");
    let (allowed, message, error) = decide(&set);
    assert!(!allowed);
    assert!(
        message.contains("hostile: policy failed: timed out after 50 ms"),
        "{message}"
    );
    assert_eq!(error.map(|e| e.kind()), Some("timeout"));
}

#[test]
fn chatty_policies_are_capped_not_failed() {
    let (allowed, message, error) = decide(&hostile_set("chatty", ""));
    assert!(allowed, "{message}");
    assert_eq!(error, None);
}

#[test]
fn policies_see_no_files_environment_or_network() {
    let (allowed, message, error) = decide(&hostile_set("probe-sandbox", ""));
    assert!(allowed, "{message}");
    assert_eq!(error, None);
}

#[test]
fn fail_open_policies_let_the_request_through_with_a_warning() {
    let set = hostile_set("endless-loop", "    failurePolicy: Ignore\n");
    let response = eval::evaluate(&set, Input::parse(POD).unwrap()).unwrap();
    assert_eq!(response["response"]["allowed"], true, "{response}");
    let warning = response["response"]["warnings"][0].as_str().unwrap();
    assert_eq!(
        warning,
        "hostile: policy failed: timed out after 50 ms (failurePolicy Ignore: not enforced)"
    );
}

#[test]
fn the_engine_keeps_serving_during_and_after_attacks() {
    let set = Arc::new(hostile_set("endless-loop", ""));
    let privileged_pod = POD.replace(
        r#""image":"nginx:1.25""#,
        r#""image":"nginx:1.25","securityContext":{"privileged":true}"#,
    );
    // Attacks from several threads at once, interleaved with ordinary requests.
    std::thread::scope(|s| {
        for _ in 0..4 {
            let set = set.clone();
            let privileged_pod = privileged_pod.clone();
            s.spawn(move || {
                for _ in 0..3 {
                    let (allowed, message, _) = decide(&set);
                    assert!(!allowed && message.contains("timed out"), "{message}");
                    let response = eval::evaluate(&set, Input::parse(&privileged_pod).unwrap()).unwrap();
                    let message = response["response"]["status"]["message"].as_str().unwrap();
                    assert!(message.contains("privileged: container \"c\" must not set securityContext.privileged=true"), "{message}");
                }
            });
        }
    });
    // A well-behaved policy in a fresh set still loads and decides.
    let (allowed, _, error) = decide(&hostile_set("allow", ""));
    assert!(allowed);
    assert_eq!(error, None);
}

#[test]
fn modules_that_cannot_be_policies_are_refused_at_load() {
    let wrong = fixture_wasm("portcullis-fixture-wrong-exports");
    let err = policy_set(&format!(
        "policies:\n  - name: wrong\n    module: {}\n",
        wrong.display()
    ))
    .err()
    .unwrap();
    assert!(
        err.starts_with("policy \"wrong\": does not implement the portcullis:policy@1.2.0 world"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(
        &core,
        wat::parse_str("(module (func (export \"validate\")))").unwrap(),
    )
    .unwrap();
    let err = policy_set(&format!(
        "policies:\n  - name: core\n    module: {}\n",
        core.display()
    ))
    .err()
    .unwrap();
    assert!(
        err.starts_with("policy \"core\": not a valid WebAssembly component"),
        "{err}"
    );

    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"definitely not wasm").unwrap();
    let err = policy_set(&format!(
        "policies:\n  - name: junk\n    module: {}\n",
        junk.display()
    ))
    .err()
    .unwrap();
    assert!(
        err.starts_with("policy \"junk\": not a valid WebAssembly component"),
        "{err}"
    );
}

#[test]
fn rejected_settings_are_a_load_error_naming_policy_and_field() {
    let wasm = fixture_wasm("portcullis-fixture-hostile");
    let err = policy_set(&format!(
        "policies:\n  - name: picky\n    module: {}\n    settings:\n      behave: reject-settings\n",
        wasm.display()
    ))
    .err()
    .unwrap();
    assert_eq!(
        err,
        "policy \"picky\": invalid settings: behave: reject-settings was asked for"
    );

    let err = policy_set("policies:\n  - name: caps\n    module: builtin:capabilities\n    settings:\n      allowedCapabilites: [CHOWN]\n")
        .err()
        .unwrap();
    assert!(err.starts_with("policy \"caps\": invalid settings: allowedCapabilites: unknown field `allowedCapabilites`"), "{err}");
}
