//! What a policy author does: `portcullis new` a project outside this repository, build and
//! test it, `inspect` the component, and have its settings checked against the schema it
//! exports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::support::{portcullis, stdout_json, text, workspace};

#[test]
fn inspect_shows_what_a_module_is() {
    let out = portcullis(&["inspect", "builtin:privileged", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let inspection = stdout_json(&out);
    assert_eq!(inspection["name"], "privileged");
    assert_eq!(
        inspection["doors"],
        serde_json::json!(["kubernetes", "docker"])
    );
    assert_eq!(inspection["mutating"], false);
    assert_eq!(inspection["abi"], "portcullis:policy@1.2.0");
    assert_eq!(inspection["capabilities"], serde_json::json!([]));
    let setting = &inspection["settingsSchema"]["properties"]["allowPrivilegedExec"];
    assert_eq!(setting["type"], "boolean", "{inspection:#}");
    assert!(
        setting["description"]
            .as_str()
            .is_some_and(|d| d.contains("docker exec --privileged")),
        "the field's doc comment is its description: {setting}"
    );
    assert_eq!(
        inspection["settingsSchema"]["additionalProperties"], false,
        "deny_unknown_fields is in the schema"
    );

    // A policy that imports the registry needs the capability granted.
    let facts = crate::support::fixture_wasm("portcullis-fixture-registry-facts");
    let out = portcullis(&["inspect", facts.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("capabilities:  registry (grant with `capabilities: [registry]`"),
        "{human}"
    );

    // A component built against ABI 1.0 has no schema, and says so.
    let old = workspace().join("tests/fixtures/abi-1.0/privileged.wasm");
    let out = portcullis(&["inspect", old.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let inspection = stdout_json(&out);
    assert_eq!(inspection["settingsSchema"], serde_json::Value::Null);
    assert_eq!(inspection["name"], "privileged");

    // A bundle is one module: its schema takes each control's policy's settings, by number.
    let out = portcullis(&["inspect", "builtin:cis-docker", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let inspection = stdout_json(&out);
    assert_eq!(inspection["name"], "cis-docker");
    let schema = &inspection["settingsSchema"];
    assert_eq!(
        schema["properties"]["controls"]["properties"]["5.5"]["title"],
        "privileged"
    );
    assert!(
        schema["properties"]["controls"]["properties"]["5.14"]["$ref"]
            .as_str()
            .is_some_and(|r| r.starts_with("#/$defs/")),
        "{schema}"
    );

    // A missing file is a clear error.
    let out = portcullis(&["inspect", "nowhere.wasm"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot read nowhere.wasm"),
        "{}",
        text(&out)
    );
}

#[test]
fn settings_are_checked_against_the_exported_schema_with_their_field() {
    let stderr = refused_settings(
        "policies:\n  - name: mounts\n    module: builtin:host-mounts\n    settings:\n      kubernetes:\n        allowedPaths:\n          - {pathPrefix: /data, readOnly: true}\n          - {pathPrefix: /srv, readOnly: maybe}\n",
    );
    // The schema's words, not serde's: the host checked before the policy did.
    assert!(
        stderr.contains("kubernetes.allowedPaths[1].readOnly")
            && stderr.contains("is not of type \"boolean\""),
        "{stderr}"
    );

    // A bundle control's settings are its policy's, named from the bundle's settings.
    let stderr = refused_settings(
        "policies:\n  - name: cis\n    module: builtin:cis-docker\n    settings:\n      controls:\n        \"5.15\": {maxRetries: many}\n",
    );
    assert!(
        stderr.contains("controls.5.15.maxRetries") && stderr.contains("is not of type"),
        "{stderr}"
    );
}

/// `eval` with this configuration, which must be refused at load (exit 2): its stderr.
fn refused_settings(config_yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, config_yaml).unwrap();
    let out = portcullis(&[
        "eval",
        "--config",
        config.to_str().unwrap(),
        "deploy/examples/deployment-ok.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command in `dir`, as a policy author would, without the variables this test's own
/// cargo set (they would point the author's cargo at this workspace).
fn run(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_")
            || [
                "CARGO",
                "RUSTFLAGS",
                "RUSTC",
                "RUSTC_WRAPPER",
                "RUSTUP_TOOLCHAIN",
            ]
            .contains(&key.as_str())
        {
            command.env_remove(key);
        }
    }
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} in {}: {}",
        dir.display(),
        text(&out)
    );
    out
}

/// A policy made as an author makes one: the SDK packaged and unpacked away from this
/// checkout, `portcullis new` on it, the native tests run, the component built. Built once
/// per test run (in `target/e2e-scaffold`); the component's path.
pub fn scaffolded_policy() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    built_once(&BUILT, build_rust_policy)
}

/// What `build` makes, made once per test run however many tests ask.
fn built_once(cell: &Mutex<Option<PathBuf>>, build: fn() -> PathBuf) -> PathBuf {
    let mut built = cell.lock().unwrap_or_else(|e| e.into_inner());
    built.get_or_insert_with(build).clone()
}

fn build_rust_policy() -> PathBuf {
    let scratch = workspace().join("target/e2e-scaffold");
    std::fs::create_dir_all(&scratch).unwrap();
    // As an author runs it: rustup's cargo, which honours the project's rust-toolchain.toml.
    let cargo = "cargo";

    // The SDK as it would be published: `cargo package` (which builds the packaged crate on
    // its own), unpacked away from this checkout.
    run(
        &workspace(),
        cargo,
        &[
            "package",
            "-p",
            "portcullis-sdk",
            "--allow-dirty",
            "--target-dir",
            scratch.join("package").to_str().unwrap(),
        ],
    );
    let unpacked = scratch.join("sdk");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).unwrap();
    let crate_file = scratch.join(format!(
        "package/package/portcullis-sdk-{}.crate",
        env!("CARGO_PKG_VERSION")
    ));
    run(
        &unpacked,
        "tar",
        &[
            "xzf",
            crate_file.to_str().unwrap(),
            "-C",
            unpacked.to_str().unwrap(),
        ],
    );
    let sdk = unpacked.join(format!("portcullis-sdk-{}", env!("CARGO_PKG_VERSION")));
    assert!(
        sdk.join("wit/policy.wit").is_file(),
        "the package carries the WIT"
    );

    let project = scratch.join("project");
    let _ = std::fs::remove_dir_all(&project);
    let out = portcullis(&[
        "new",
        "demo-policy",
        "--dir",
        project.to_str().unwrap(),
        "--sdk",
        &format!("path:{}", sdk.display()),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // Builds are kept between runs, outside the project made anew each time.
    std::fs::create_dir_all(scratch.join("build")).unwrap();
    std::os::unix::fs::symlink(scratch.join("build"), project.join("target")).unwrap();

    run(&project, cargo, &["test", "--quiet"]);
    run(
        &project,
        cargo,
        &["build", "--release", "--target", "wasm32-wasip2", "--quiet"],
    );
    let wasm = project.join("target/wasm32-wasip2/release/demo_policy.wasm");
    assert!(wasm.is_file());
    wasm
}

/// Runs a project's suites (the two every project gets, seven cases) against its component,
/// and returns what `inspect` says of the component.
fn passes_its_suites(project: &Path, wasm: &Path) -> serde_json::Value {
    let out = portcullis(&["test", project.join("tests").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 suites, 7 cases: 7 passed, 0 failed"),
        "{}",
        text(&out)
    );
    let out = portcullis(&["inspect", wasm.to_str().unwrap(), "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    stdout_json(&out)
}

#[test]
#[ignore = "builds a policy project with cargo for wasm32-wasip2 (minutes): run tests/run.sh"]
fn a_scaffolded_policy_builds_from_the_packaged_sdk_and_passes_its_suites() {
    let wasm = scaffolded_policy();
    let project = wasm.ancestors().nth(4).unwrap().to_path_buf();
    assert!(
        project.join("tests/suite.yaml").is_file(),
        "{}",
        project.display()
    );

    let inspection = passes_its_suites(&project, &wasm);
    assert_eq!(inspection["name"], "demo-policy");
    assert_eq!(
        inspection["settingsSchema"]["properties"]["exemptImages"]["type"],
        "array"
    );

    // Its settings are checked against that schema at load.
    let out = portcullis(&[
        "eval",
        "--policy",
        wasm.to_str().unwrap(),
        "--settings",
        r#"{"exemptImages": "registry.example.com/"}"#,
        "deploy/examples/deployment-ok.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("exemptImages") && text(&out).contains("is not of type \"array\""),
        "{}",
        text(&out)
    );
}

/// The same policy written in JavaScript, as an author makes it: `portcullis new --lang js`,
/// its npm packages installed (componentize-js from the npm registry), its unit tests run in
/// Node, the component built. Built once per test run; the component's path.
pub fn scaffolded_js_policy() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    built_once(&BUILT, build_js_policy)
}

fn build_js_policy() -> PathBuf {
    let project = workspace().join("target/e2e-scaffold/js-project");
    let _ = std::fs::remove_dir_all(&project);
    let out = portcullis(&[
        "new",
        "demo-js",
        "--lang",
        "js",
        "--dir",
        project.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    run(
        &project,
        "npm",
        &["install", "--no-audit", "--no-fund", "--loglevel=error"],
    );
    run(&project, "npm", &["test"]);
    run(&project, "npm", &["run", "build"]);
    let wasm = project.join("dist/demo_js.wasm");
    assert!(wasm.is_file());
    wasm
}

#[test]
#[ignore = "installs componentize-js from the npm registry and needs a real dockerd and kube-apiserver: run tests/run.sh"]
fn a_javascript_policy_is_built_with_its_own_tooling_and_decides_at_both_doors() {
    let wasm = scaffolded_js_policy();
    let project = wasm.ancestors().nth(2).unwrap().to_path_buf();

    // The suites every project gets, whatever its language: the same decisions.
    let inspection = passes_its_suites(&project, &wasm);
    assert_eq!(inspection["name"], "demo-js");
    assert_eq!(inspection["abi"], "portcullis:policy@1.2.0");
    assert_eq!(
        inspection["capabilities"],
        serde_json::json!([]),
        "{inspection:#}"
    );
    assert_eq!(
        inspection["settingsSchema"]["properties"]["exemptImages"]["type"],
        "array"
    );
    // Its settings are checked against its schema too.
    let out = portcullis(&[
        "eval",
        "--policy",
        wasm.to_str().unwrap(),
        "--settings",
        r#"{"exemptImages": [3]}"#,
        "deploy/examples/deployment-ok.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("exemptImages[0]"), "{}", text(&out));

    // Through a real dockerd.
    let d = crate::docker_harness::Dockerd::start(&format!(
        "policies:\n  - name: demo-js\n    module: {}\n",
        wasm.display()
    ));
    let out = d.docker(&["create", "tiny", "true"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "demo-js: container \"\" image \"tiny\" is not pinned: give it a version tag or a digest (Image)"
        ),
        "{}",
        text(&out)
    );
    d.ok(&["create", crate::docker_harness::IMAGE, "true"]);
    drop(d);

    // Through a real API server.
    use crate::kubernetes::{Cluster, pod, webhooks};
    let cluster = Cluster::start();
    cluster.namespace_for_pods("t1");
    let server = crate::server_harness::Server::start_with_kubeconfig(
        &format!(
            "policies:\n  - name: demo-js\n    module: {}\n",
            wasm.display()
        ),
        Some(&cluster.kubeconfig),
    );
    let out = cluster.apply(&webhooks(server.address.port(), &server.ca.pem, "Fail"));
    assert!(out.status.success(), "{}", text(&out));
    let message = cluster.apply_until_denied(&pod("latest", "", "nginx:latest"));
    assert!(
        message.contains("demo-js: container \"c\" image \"nginx:latest\" is not pinned"),
        "{message}"
    );
    let out = cluster.apply(&pod("tagged", "", "nginx:1.27"));
    assert!(out.status.success(), "{}", text(&out));
}
