//! `portcullis eval` as a user runs it: the exact responses, the exit codes, the errors.

use base64::Engine as _;

use crate::support::{corpus, portcullis, stdout_json, workspace};

#[test]
fn example_pod_is_denied_with_every_reason() {
    let out = portcullis(&["eval", "deploy/examples/pod-privileged.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review = stdout_json(&out);
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(review["kind"], "AdmissionReview");
    let response = &review["response"];
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(response["status"]["reason"], "Forbidden");
    assert_eq!(
        response["status"]["message"],
        "denied by portcullis: pss-baseline: \
         host namespaces (hostPID=true) (spec.hostPID); \
         privileged (container \"shell\" must not set securityContext.privileged=true) (spec.containers[0].securityContext.privileged); \
         hostPath volumes (volume \"host\") (spec.volumes[0])"
    );
}

#[test]
fn a_compliant_deployment_is_allowed() {
    let out = portcullis(&["eval", "deploy/examples/deployment-ok.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let review = stdout_json(&out);
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert!(review["response"].get("status").is_none());
}

#[test]
fn admission_reviews_are_answered_in_their_version_with_their_uid() {
    // A request body a real kube-apiserver sent.
    let sample = corpus("kubernetes/sample-admissionreview-pod-create.json");
    let out = portcullis(&["eval", sample.to_str().unwrap()]);
    let review = stdout_json(&out);
    assert_eq!(
        review["response"]["uid"],
        "b87b3d93-aa30-4ce1-8f31-04bddf2c3d3c"
    );
    assert_eq!(review["response"]["allowed"], true);

    let mut v1beta1: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sample).unwrap()).unwrap();
    v1beta1["apiVersion"] = "admission.k8s.io/v1beta1".into();
    v1beta1["request"]["object"]["spec"]["hostNetwork"] = true.into();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("review.json");
    std::fs::write(&file, v1beta1.to_string()).unwrap();
    let review = stdout_json(&portcullis(&["eval", file.to_str().unwrap()]));
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(review["response"]["allowed"], false);
    assert!(
        review["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("(spec.hostNetwork)")
    );
}

#[test]
fn docker_requests_get_the_plugin_response() {
    let dir = tempfile::tempdir().unwrap();
    let file = authz_request_file("run_privileged.json", dir.path());
    let out = portcullis(&["eval", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        stdout_json(&out),
        serde_json::json!({
            "Allow": false,
            "Msg": "denied by portcullis: cis-docker: 5.5 privileged (container must not be privileged) (HostConfig.Privileged)",
            "Err": ""
        })
    );
}

#[test]
fn requests_from_stdin() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["eval", "-"])
        .env(
            "XDG_CACHE_HOME",
            workspace().join("target").join("e2e-cache-cli"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"RequestMethod":"POST","RequestUri":"/v1.43/containers/create","RequestBody":"eyJIb3N0Q29uZmlnIjp7IlBpZE1vZGUiOiJob3N0In19"}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let response = stdout_json(&out);
    assert_eq!(response["Allow"], false);
    assert!(
        response["Msg"].as_str().unwrap().contains("PidMode=host"),
        "{response}"
    );
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode("eyJIb3N0Q29uZmlnIjp7IlBpZE1vZGUiOiJob3N0In19")
            .unwrap(),
        br#"{"HostConfig":{"PidMode":"host"}}"#
    );
}

#[test]
fn unreadable_input_and_bad_config_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{ not json").unwrap();
    let unknown = dir.path().join("unknown.yaml");
    std::fs::write(&unknown, "hello: world\n").unwrap();
    let bad_config = dir.path().join("bad.yaml");
    std::fs::write(
        &bad_config,
        "policies:\n  - name: p\n    module: builtin:privileged\n    mode: enforced\n",
    )
    .unwrap();
    let missing_module = dir.path().join("missing.yaml");
    std::fs::write(
        &missing_module,
        "policies:\n  - name: p\n    module: builtin:nope\n",
    )
    .unwrap();
    let pod = workspace().join("deploy/examples/pod-privileged.yaml");
    // A review of a privileged Pod that does not say what it is: no policy may be skipped.
    let kindless = dir.path().join("kindless.json");
    std::fs::write(
        &kindless,
        r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",
            "resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE",
            "object":{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c",
            "image":"x","securityContext":{"privileged":true}}]}}}}"#,
    )
    .unwrap();

    let cases = [
        (
            vec!["eval", kindless.to_str().unwrap()],
            "not an AdmissionReview: request: missing field `kind`",
        ),
        (
            vec!["eval", "does-not-exist.yaml"],
            "portcullis: cannot read request does-not-exist.yaml: No such file or directory",
        ),
        (
            vec!["eval", junk.to_str().unwrap()],
            "request is neither JSON nor YAML",
        ),
        (
            vec!["eval", unknown.to_str().unwrap()],
            "cannot tell what the request is: expected a Kubernetes AdmissionReview",
        ),
        (
            vec![
                "eval",
                "--config",
                bad_config.to_str().unwrap(),
                pod.to_str().unwrap(),
            ],
            "bad.yaml:4:11: policies[0].mode: unknown variant `enforced`, expected one of `enforce`, `warn`, `audit`",
        ),
        (
            vec![
                "eval",
                "--config",
                missing_module.to_str().unwrap(),
                pod.to_str().unwrap(),
            ],
            "policy \"p\": unknown built-in module \"builtin:nope\" (built-ins: builtin:privileged",
        ),
    ];
    for (args, want) in cases {
        let out = portcullis(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(want),
            "{args:?}: got {stderr:?}, want {want:?}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_policy_under_development_is_evaluated_from_its_wasm_file() {
    let wasm = crate::support::fixture_wasm("portcullis-fixture-hostile");
    let pod = workspace().join("deploy/examples/deployment-ok.yaml");
    let out = portcullis(&[
        "eval",
        "--policy",
        wasm.to_str().unwrap(),
        "--settings",
        r#"{"behave":"trap"}"#,
        pod.to_str().unwrap(),
    ]);
    let review = stdout_json(&out);
    assert_eq!(review["response"]["allowed"], false);
    let message = review["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "denied by portcullis: portcullis-fixture-hostile: policy failed: trapped"
        ),
        "{message}"
    );
}

#[test]
fn help_teaches_the_request_kinds() {
    let out = portcullis(&["eval", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "AdmissionReview",
        "/AuthZPlugin.AuthZReq",
        "--config",
        "--policy",
        "Exits 0 when a decision was made",
    ] {
        assert!(
            help.contains(needle),
            "eval --help lacks {needle:?}:\n{help}"
        );
    }
}

#[test]
fn a_compiled_policy_can_be_tested_from_rust() {
    use portcullis::testing::PolicyUnderTest;
    let wasm = crate::support::fixture_wasm("portcullis-fixture-hostile");
    let policy = PolicyUnderTest::load(&wasm, serde_json::json!({"behave": "allow"})).unwrap();
    let response = policy
        .decide(
            &std::fs::read_to_string(workspace().join("deploy/examples/pod-privileged.yaml"))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(response["response"]["allowed"], true);
    let err = PolicyUnderTest::load(&wasm, serde_json::json!({"behave": "reject-settings"}))
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "policy \"portcullis-fixture-hostile\": invalid settings: behave: reject-settings was asked for"
    );
}

#[test]
fn the_shipped_docker_plugin_config_denies_a_privileged_run() {
    // deploy/docker/portcullis.yaml is what the plugin install uses: it must load and decide.
    let dir = tempfile::tempdir().unwrap();
    let file = authz_request_file("run_privileged.json", dir.path());
    let config = workspace().join("deploy/docker/portcullis.yaml");
    let out = portcullis(&[
        "eval",
        "--config",
        config.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = stdout_json(&out);
    assert_eq!(answer["Allow"], false, "{answer}");
    assert!(
        answer["Msg"]
            .as_str()
            .unwrap()
            .contains("cis-docker: 5.5 privileged"),
        "{answer}"
    );
}

/// Writes the AuthZReq of a corpus Docker sample into `dir`, for `portcullis eval`.
fn authz_request_file(sample: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let path = corpus(&format!("docker-authz/requests/{sample}"));
    let sample: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let file = dir.join("authz.json");
    std::fs::write(&file, sample["authz_request"].to_string()).unwrap();
    file
}
