//! A policy built against an older 1.x ABI loads and decides on this engine.

use crate::support::{portcullis, stdout_json, workspace};

#[test]
fn a_module_built_against_abi_1_0_still_loads_and_decides() {
    let module = workspace().join("tests/fixtures/abi-1.0/privileged.wasm");
    let out = portcullis(&[
        "eval",
        "--policy",
        module.to_str().unwrap(),
        "deploy/examples/pod-privileged.yaml",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review = stdout_json(&out);
    assert_eq!(review["response"]["allowed"], false, "{review}");
    let message = review["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("container \"shell\" must not set securityContext.privileged=true"),
        "{message}"
    );
}
