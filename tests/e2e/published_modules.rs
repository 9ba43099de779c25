//! A policy an author made (`portcullis new`, built from the packaged SDK), published with
//! `portcullis push` to a real registry (Debian's `docker-registry`, TLS and basic auth),
//! signed in cosign's layout, and loaded with `module: oci://…`: verified, kept on disk,
//! loaded from there while the registry is down, refused when unsigned, replaced or
//! tampered with, and enforced through the real API server and the real dockerd.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::authoring::scaffolded_policy;
use crate::registry_harness::{PASSWORD, Registry, USER, key_pair};
use crate::support::{text, workspace};

/// `portcullis push` as an author runs it, the password on standard input.
fn push(registry: &Registry, wasm: &Path, repository_tag: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["push", wasm.to_str().unwrap()])
        .arg(format!("oci://{}/{repository_tag}", registry.host))
        .args(["--username", USER, "--password-stdin", "--ca-file"])
        .arg(registry.ca_file())
        .env("XDG_CACHE_HOME", workspace().join("target/e2e-cache-cli"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "push: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("digest: "))
        .unwrap_or_else(|| panic!("no digest in {stdout}"))
        .to_string()
}

/// The scaffolded policy pushed to a registry of its own as `policies/demo:0.1.0` and signed
/// there with a new key: the registry, the public key (PEM) and the digest.
fn published(work: &Path) -> (Registry, String, String) {
    let wasm = scaffolded_policy();
    let registry = Registry::start();
    let (key, public) = key_pair(work, "release");
    let digest = push(&registry, &wasm, "policies/demo:0.1.0");
    registry.sign(&key, "policies/demo", &digest, None);
    (registry, public, digest)
}

/// The manifest `policies/demo@digest`, read from the registry with curl as any other tool
/// would read it.
fn manifest(registry: &Registry, digest: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-fsS", "--cacert"])
        .arg(registry.ca_file())
        .args(["-u", &format!("{USER}:{PASSWORD}")])
        .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
        .arg(format!(
            "https://{}/v2/policies/demo/manifests/{digest}",
            registry.host
        ))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The denial message of an `eval` response.
fn message(stdout: &str) -> String {
    let review: serde_json::Value = serde_json::from_str(stdout).unwrap();
    review["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn indent(text: &str, spaces: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(spaces)))
        .collect()
}

/// A config loading `module` from `registry` (its CA and credentials), verified with `key`
/// when given, its compile and module caches in `cache`.
fn config(registry: &Registry, module: &str, key: Option<&str>, cache: &Path) -> String {
    format!(
        "runtime:\n  cacheDir: {}\n{}",
        cache.display(),
        config_without_runtime(registry, module, key)
    )
}

/// [`config`] for a harness that sets the runtime section itself.
fn config_without_runtime(registry: &Registry, module: &str, key: Option<&str>) -> String {
    let verify = key.map_or(String::new(), |key| {
        format!("    verify:\n      keys:\n        - |\n{}", indent(key, 10))
    });
    format!(
        "registry:\n  caFile: {ca}\n  timeout: 2s\n  credentials:\n    - registry: {host}\n      username: {USER}\n      password: {PASSWORD}\npolicies:\n  - name: demo-policy\n    module: oci://{module}\n{verify}",
        ca = registry.ca_file().display(),
        host = registry.host,
    )
}

/// `portcullis eval` of a Pod running `image` with `config`: (exit code, stdout, stderr).
fn eval(dir: &Path, config: &str, image: &str) -> (i32, String, String) {
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let pod = dir.join("pod.yaml");
    std::fs::write(
        &pod,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: app}}\nspec:\n  containers:\n    - {{name: app, image: \"{image}\"}}\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["eval", "--config"])
        .arg(&config_path)
        .arg(&pod)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
#[ignore = "needs Debian's docker-registry and builds a policy project: run tests/run.sh"]
fn a_published_policy_is_verified_kept_and_refused_when_it_cannot_be_trusted() {
    let wasm = scaffolded_policy();
    let work = tempfile::tempdir().unwrap();
    let mut registry = Registry::start();
    let (key, public) = key_pair(work.path(), "release");
    let (_, other_public) = key_pair(work.path(), "other");
    let h = registry.host.clone();

    let digest = push(&registry, &wasm, "policies/demo:0.1.0");
    assert!(digest.starts_with("sha256:"), "{digest}");
    // The registry holds it as a wasm artifact other tools read.
    let manifest = manifest(&registry, &digest);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "demo-policy"
    );

    // Unsigned: refused when the config asks for a signature.
    let cache = work.path().join("cache");
    let tag = format!("{h}/policies/demo:0.1.0");
    let (code, _, stderr) = eval(
        work.path(),
        &config(&registry, &tag, Some(&public), &cache),
        "nginx",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is not signed by any of the 1 configured keys (0 signatures stored"),
        "{stderr}"
    );

    // Signed: loaded, and decides.
    registry.sign(&key, "policies/demo", &digest, None);
    let (code, stdout, stderr) = eval(
        work.path(),
        &config(&registry, &tag, Some(&public), &cache),
        "nginx",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        message(&stdout),
        "denied by portcullis: demo-policy: container \"app\" image \"nginx\" is not pinned: give it a version tag or a digest (spec.containers[0].image)"
    );
    let (_, stdout, _) = eval(
        work.path(),
        &config(&registry, &tag, Some(&public), &cache),
        "nginx:1.27",
    );
    let review: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(review["response"]["allowed"], true, "{stdout}");
    // Signed, but not by this key.
    let (code, _, stderr) = eval(
        work.path(),
        &config(&registry, &tag, Some(&other_public), &cache),
        "nginx",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is not signed by any of the 1 configured keys (1 signatures stored"),
        "{stderr}"
    );

    // Pinned by digest: that content only.
    let pinned = format!("{tag}@{digest}");
    let (code, _, stderr) = eval(
        work.path(),
        &config(&registry, &pinned, Some(&public), &cache),
        "nginx:1.27",
    );
    assert_eq!(code, 0, "{stderr}");

    // The registry goes away: the module kept on disk is loaded, verified as it was.
    registry.stop();
    let (code, stdout, stderr) = eval(
        work.path(),
        &config(&registry, &tag, Some(&public), &cache),
        "nginx",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(message(&stdout).contains("is not pinned"), "{stdout}");
    assert!(
        stderr.contains("loaded the module kept from its last pull"),
        "{stderr}"
    );
    // ... but not for a key it was never verified with.
    let (code, _, stderr) = eval(
        work.path(),
        &config(&registry, &tag, Some(&other_public), &cache),
        "nginx",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("was not verified with the configured keys"),
        "{stderr}"
    );
    // ... and a fresh cache has nothing to offer.
    let (code, _, stderr) = eval(
        work.path(),
        &config(&registry, &tag, None, &work.path().join("empty")),
        "nginx",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("registry unreachable") && stderr.contains("never pulled here"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs Debian's docker-registry and builds a policy project: run tests/run.sh"]
fn a_replaced_or_tampered_module_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let (registry, public, digest) = published(work.path());
    let h = registry.host.clone();
    let tag = format!("{h}/policies/demo:0.1.0");

    // Someone pushes other content under the same tag.
    let other = workspace().join("tests/fixtures/abi-1.0/privileged.wasm");
    let replaced = push(&registry, &other, "policies/demo:0.1.0");
    assert_ne!(replaced, digest);
    // A config pinned to the first digest notices the tag moved.
    let (code, _, stderr) = eval(
        work.path(),
        &config(
            &registry,
            &format!("{tag}@{digest}"),
            Some(&public),
            &work.path().join("c1"),
        ),
        "nginx",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the tag now points at {replaced}, not the pinned {digest}"
        )),
        "{stderr}"
    );
    // An unpinned config with verification refuses the unsigned replacement.
    let (code, _, stderr) = eval(
        work.path(),
        &config(&registry, &tag, Some(&public), &work.path().join("c2")),
        "nginx",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("({replaced}) is not signed")),
        "{stderr}"
    );

    // The module's bytes changed in the registry's storage: the digest check refuses them.
    let layer = {
        manifest(&registry, &digest)["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let hex = layer.strip_prefix("sha256:").unwrap();
    let blob = registry.dir.path().join(format!(
        "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    assert!(
        blob.is_file(),
        "the registry's storage layout: {}",
        blob.display()
    );
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let (code, _, stderr) = eval(
        work.path(),
        &config(
            &registry,
            &format!("{tag}@{digest}").replace(":0.1.0@", "@"),
            Some(&public),
            &work.path().join("c3"),
        ),
        "nginx",
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("Invalid digest. Expected {layer}")),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs dockerd, a kube-apiserver and docker-registry (root): run tests/run.sh"]
fn a_published_policy_is_enforced_at_both_doors() {
    use crate::docker_harness::Dockerd;
    use crate::kubernetes::{Cluster, pod, webhooks};
    use crate::server_harness::Server;

    let work = tempfile::tempdir().unwrap();
    let (mut registry, public, digest) = published(work.path());
    let module = format!("{}/policies/demo@{digest}", registry.host);

    // Docker: `docker run` of an untagged image is refused by the published policy.
    let d = Dockerd::start(&config_without_runtime(&registry, &module, Some(&public)));
    let out = d.docker(&["create", "tiny", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("demo-policy: container \"\" image \"tiny\" is not pinned"),
        "{}",
        text(&out)
    );
    d.ok(&["create", crate::docker_harness::IMAGE, "true"]);
    drop(d);

    // Kubernetes: the API server refuses a Pod with a latest tag, admits a pinned one.
    let cluster = Cluster::start();
    let server = Server::start_with_kubeconfig(
        &config_without_runtime(&registry, &module, Some(&public)),
        Some(&cluster.kubeconfig),
    );
    for args in [
        vec!["create", "namespace", "t1"],
        vec!["-n", "t1", "create", "serviceaccount", "default"],
    ] {
        let out = cluster.kubectl(&args, None);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let out = cluster.apply(&webhooks(server.address.port(), &server.ca.pem, "Fail"));
    assert!(out.status.success(), "{}", text(&out));
    let message = cluster.apply_until_denied(&pod("latest", "", "nginx:latest"));
    assert!(
        message.contains("demo-policy: container \"c\" image \"nginx:latest\" is not pinned"),
        "{message}"
    );
    let out = cluster.apply(&pod("tagged", "", "nginx:1.27"));
    assert!(out.status.success(), "{}", text(&out));

    // The server restarts while the registry is down: it loads the module it kept and goes on
    // enforcing it, verified as it was when pulled.
    drop(server);
    registry.stop();
    let config = config_without_runtime(&registry, &module, Some(&public));
    let server = Server::start_with_kubeconfig(&config, Some(&cluster.kubeconfig));
    server.wait_for_log("loaded the module kept from its last pull", 0);
    let out = cluster.apply(&webhooks(server.address.port(), &server.ca.pem, "Fail"));
    assert!(out.status.success(), "{}", text(&out));
    let message = cluster.apply_until_denied(&pod("latest-again", "", "nginx:latest"));
    assert!(
        message.contains("demo-policy: container \"c\" image \"nginx:latest\" is not pinned"),
        "{message}"
    );
}
