//! Mutating policies: patches are applied only when the config allows the policy to mutate,
//! and the response carries the combined JSON Patch.

use base64::Engine as _;
use portcullis::eval::{self, Input};
use serde_json::json;

use crate::support::policy_set;

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"nginx:1.25"},{"name":"b","image":"nginx:1.25","securityContext":{"capabilities":{"drop":["NET_RAW"]}}}]}}"#;

fn capabilities(extra: &str) -> String {
    format!(
        "policies:\n  - name: drop-all\n    module: builtin:capabilities\n{extra}    settings:\n      addDropAll: true\n      requiredDropCapabilities: [ALL]\n  - name: restricted-caps\n    module: builtin:capabilities\n    settings:\n      requiredDropCapabilities: [ALL]\n"
    )
}

#[test]
fn add_drop_all_mutates_and_later_policies_see_the_result() {
    let set = policy_set(&capabilities("    allowedToMutate: true\n")).unwrap();
    let review = eval::evaluate(&set, Input::parse(POD).unwrap()).unwrap();
    let response = &review["response"];
    // `restricted-caps` requires drop ALL and validates the mutated pod, so it allows.
    assert_eq!(response["allowed"], true, "{review}");
    assert_eq!(response["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let patch: serde_json::Value = serde_json::from_slice(&patch).unwrap();
    let mut pod: serde_json::Value = serde_json::from_str(POD).unwrap();
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    json_patch::patch(&mut pod, &patch).unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["securityContext"],
        json!({"capabilities": {"drop": ["ALL"]}})
    );
    assert_eq!(
        pod["spec"]["containers"][1]["securityContext"]["capabilities"]["drop"],
        json!(["NET_RAW", "ALL"])
    );
}

#[test]
fn patches_from_policies_not_allowed_to_mutate_are_errors() {
    let set = policy_set(&capabilities("")).unwrap();
    let review = eval::evaluate(&set, Input::parse(POD).unwrap()).unwrap();
    let response = &review["response"];
    assert_eq!(response["allowed"], false);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("drop-all: policy failed: returned malformed output: returned a patch, but allowedToMutate is false in the config"),
        "{message}"
    );
    assert!(response.get("patch").is_none());
}

#[test]
fn mutating_policies_compose_and_the_patch_is_the_difference_from_the_original() {
    // Two mutators: the second sees the first one's result (drop ALL already there) and adds
    // nothing; the response carries one patch for both, against the original object.
    let set = policy_set(
        "policies:\n  - name: first\n    module: builtin:capabilities\n    allowedToMutate: true\n    settings:\n      addDropAll: true\n  - name: second\n    module: builtin:capabilities\n    allowedToMutate: true\n    settings:\n      addDropAll: true\n      requiredDropCapabilities: [ALL]\n",
    )
    .unwrap();
    let review = eval::evaluate(&set, Input::parse(POD).unwrap()).unwrap();
    let response = &review["response"];
    assert_eq!(response["allowed"], true, "{review}");
    let patch: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        patch.as_array().unwrap().len(),
        2,
        "one operation per container, not per policy: {patch}"
    );
    let mut pod: serde_json::Value = serde_json::from_str(POD).unwrap();
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    json_patch::patch(&mut pod, &patch).unwrap();
    for c in pod["spec"]["containers"].as_array().unwrap() {
        let drops = c["securityContext"]["capabilities"]["drop"]
            .as_array()
            .unwrap();
        assert_eq!(drops.iter().filter(|d| *d == "ALL").count(), 1, "{c}");
    }
}
