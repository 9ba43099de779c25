//! Signed images only: the built-in `image-signatures` against a real registry (Debian's
//! `docker-registry` over TLS with basic auth), images pushed by skopeo from `docker save`,
//! signatures in cosign's format made by openssl. The engine's registry questions go through
//! the policy ABI's `registry` import.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::registry_harness::{PASSWORD, Registry, USER, key_pair, saved_test_image};
use crate::server_harness::{Server, review_of};

fn pod(image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": image}]}
    })
}

fn indent(text: &str, spaces: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(spaces)))
        .collect()
}

fn config(registry: &Registry, key: &str, credentials: bool, failure_policy: &str) -> String {
    let credentials = match credentials {
        true => format!(
            "  credentials:\n    - registry: {}\n      username: {USER}\n      password: {PASSWORD}\n",
            registry.host
        ),
        false => String::new(),
    };
    format!(
        "registry:\n  caFile: {ca}\n  tagTtl: 0s\n  timeout: 2s\n{credentials}policies:\n  - name: image-signatures\n    module: builtin:image-signatures\n    capabilities: [registry]\n    allowedToMutate: true\n    failurePolicy: {failure_policy}\n    timeoutMs: 200\n    settings:\n      mutateDigest: true\n      rules:\n        - images: [\"{host}/signed/*\"]\n          keys:\n            - |\n{key}",
        ca = registry.ca_file().display(),
        host = registry.host,
        key = indent(key, 14),
    )
}

/// The response to a Pod running `image`: (allowed, message, patch).
async fn decide(server: &Server, image: &str) -> (bool, String, Option<Value>) {
    let review = review_of(pod(image), "u-1");
    let response = server.client().review("/mutate", &review).await.json();
    let response = &response["response"];
    let patch = response["patch"].as_str().map(|p| {
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(p).unwrap())
            .unwrap()
    });
    (
        response["allowed"].as_bool().unwrap(),
        response["status"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        patch,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_images_signed_by_the_rules_keys_run_and_they_run_by_digest() {
    let work = tempfile::tempdir().unwrap();
    let archive = saved_test_image(work.path());
    let mut registry = Registry::start();
    let (key, public) = key_pair(work.path(), "release");
    let (other_key, other_public) = key_pair(work.path(), "someone-else");
    let h = registry.host.clone();

    // One image, two manifests: skopeo writes it as Docker v2s2 or as OCI, each with its
    // own digest.
    let signed = registry.push(&archive, "signed/app:1", "v2s2");
    registry.sign(&key, "signed/app", &signed, None);
    let oci = registry.push(&archive, "signed/unsigned:1", "oci");
    assert_ne!(signed, oci);
    registry.push(&archive, "signed/other-key:1", "v2s2");
    registry.sign(&other_key, "signed/other-key", &signed, None);
    // A genuine signature, by the right key, of another image, stored under this one's tag.
    registry.push(&archive, "signed/swapped:1", "v2s2");
    registry.sign(&key, "signed/swapped", &signed, Some(&oci));
    registry.push(&archive, "signed/moving:1", "v2s2");
    registry.sign(&key, "signed/moving", &signed, None);
    registry.push(&archive, "unruled/app:1", "oci");

    let server = Server::start(&config(&registry, &public, true, "Fail"));

    let (allowed, message, patch) = decide(&server, &format!("{h}/signed/app:1")).await;
    assert!(allowed, "{message}");
    assert_eq!(
        patch.unwrap(),
        json!([{"op": "replace", "path": "/spec/containers/0/image",
                "value": format!("{h}/signed/app:1@{signed}")}]),
        "what runs is the digest that was verified"
    );

    let (allowed, message, patch) = decide(&server, &format!("{h}/signed/app@{signed}")).await;
    assert!(allowed, "{message}");
    assert_eq!(patch, None, "an image pinned by digest is left as written");

    let (allowed, message, _) = decide(&server, &format!("{h}/signed/unsigned:1")).await;
    assert!(!allowed);
    assert!(
        message.contains(&format!(
            "image \"{h}/signed/unsigned:1\" is not signed: no cosign signature is stored for {oci}"
        )),
        "{message}"
    );

    let (allowed, message, _) = decide(&server, &format!("{h}/signed/other-key:1")).await;
    assert!(!allowed);
    assert!(
        message.contains("is signed, but not by a key of rule 0: none of the 1 signature(s)"),
        "{message}"
    );

    let (allowed, message, _) = decide(&server, &format!("{h}/signed/swapped:1")).await;
    assert!(!allowed);
    assert!(
        message.contains(&format!(
            "the signatures stored for {signed} (what its tag 1 points at now) sign another image ({oci})"
        )),
        "{message}"
    );

    // A tag moved to an unsigned digest is decided on where it points now.
    let (allowed, message, _) = decide(&server, &format!("{h}/signed/moving:1")).await;
    assert!(allowed, "{message}");
    let moved = registry.push(&archive, "signed/moving:1", "oci");
    assert_eq!(moved, oci);
    let (allowed, message, _) = decide(&server, &format!("{h}/signed/moving:1")).await;
    assert!(!allowed);
    assert!(
        message.contains(&format!(
            "is not signed: no cosign signature is stored for {oci} (what its tag 1 points at now)"
        )),
        "{message}"
    );

    // No rule names it: not this policy's business.
    let (allowed, message, patch) = decide(&server, &format!("{h}/unruled/app:1")).await;
    assert!(allowed && patch.is_none(), "{message}");

    let metrics = String::from_utf8(server.client().get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("portcullis_registry_calls_total{call=\"resolve\",result=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_registry_calls_total{call=\"signatures\",result=\"ok\"}"),
        "{metrics}"
    );

    // A rule that needs two keys: both signatures stored (the second added to the first, as
    // cosign adds), or only one of them.
    registry.push(&archive, "two/both:1", "v2s2");
    registry.sign(&key, "two/both", &signed, None);
    registry.sign(&other_key, "two/both", &signed, None);
    registry.push(&archive, "two/one:1", "v2s2");
    registry.sign(&key, "two/one", &signed, None);
    let two_keys = Server::start(&format!(
        "registry:\n  caFile: {ca}\n  credentials:\n    - registry: {h}\n      username: {USER}\n      password: {PASSWORD}\npolicies:\n  - name: image-signatures\n    module: builtin:image-signatures\n    capabilities: [registry]\n    allowedToMutate: true\n    settings:\n      rules:\n        - images: [\"{h}/two/*\"]\n          required: 2\n          keys:\n            - |\n{a}            - |\n{b}",
        ca = registry.ca_file().display(),
        a = indent(&public, 14),
        b = indent(&other_public, 14),
    ));
    let (allowed, message, _) = decide(&two_keys, &format!("{h}/two/both:1")).await;
    assert!(allowed, "{message}");
    let (allowed, message, _) = decide(&two_keys, &format!("{h}/two/one:1")).await;
    assert!(!allowed);
    assert!(
        message.contains(&format!(
            "image \"{h}/two/one:1\": 1 of the 2 required keys of rule 0 signed {signed}"
        )),
        "{message}"
    );

    // The import's other calls, as a policy of its own sees them: the manifest, and the
    // signatures stored for it.
    let facts = Server::start(&format!(
        "registry:\n  caFile: {}\n  credentials:\n    - registry: {h}\n      username: {USER}\n      password: {PASSWORD}\npolicies:\n  - name: facts\n    module: {}\n    capabilities: [registry]\n",
        registry.ca_file().display(),
        crate::support::fixture_wasm("portcullis-fixture-registry-facts").display(),
    ));
    let review = review_of(pod(&format!("{h}/signed/app:1")), "u-2");
    let response = facts.client().review("/validate", &review).await.json();
    let message = response["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "{h}/signed/app:1: manifest application/vnd.docker.distribution.manifest.v2+json {signed} of "
        )) && message.contains("signatures: [payload of "),
        "{message}"
    );
    let review = review_of(pod(&format!("{h}/signed/unsigned:1")), "u-3");
    let response = facts.client().review("/validate", &review).await.json();
    let message = response["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "{h}/signed/unsigned:1: manifest application/vnd.oci.image.manifest.v1+json {oci} of "
        )) && message.contains("signatures: []"),
        "{message}"
    );

    // Without credentials the registry refuses, and the policy cannot decide: denied by
    // its failurePolicy, saying why.
    let anonymous = Server::start(&config(&registry, &public, false, "Fail"));
    let (allowed, message, _) = decide(&anonymous, &format!("{h}/signed/app:1")).await;
    assert!(!allowed);
    assert!(
        message.contains("cannot resolve its tag: registry refused access"),
        "{message}"
    );

    // The registry down: fail closed by default, open where the config says so.
    let open = Server::start(&config(&registry, &public, true, "Ignore"));
    registry.stop();
    let (allowed, message, _) = decide(&server, &format!("{h}/signed/app:1")).await;
    assert!(!allowed);
    assert!(message.contains("registry unreachable"), "{message}");
    let (allowed, message, patch) = decide(&open, &format!("{h}/signed/app:1")).await;
    assert!(allowed, "{message}");
    assert_eq!(patch, None);
    let metrics = String::from_utf8(server.client().get("/metrics").await.body).unwrap();
    assert!(
        metrics
            .contains("portcullis_registry_calls_total{call=\"resolve\",result=\"unreachable\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_not_granted_the_registry_cannot_ask_it() {
    let server = Server::start(
        "policies:\n  - name: image-signatures\n    module: builtin:image-signatures\n    allowedToMutate: true\n    settings:\n      rules:\n        - images: [\"example.com/*\"]\n          keys: [\"-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\"]\n",
    );
    let (allowed, message, _) = decide(&server, "example.com/app:1").await;
    assert!(!allowed);
    assert!(
        message.contains("the policy is not granted the registry capability"),
        "{message}"
    );
}

/// Through a real dockerd: `docker pull` and `docker run` of images the rules match are
/// decided on the digest that will run — the registry's for a pull, the daemon's local
/// image for a run.
#[test]
fn the_docker_door_runs_only_signed_images_as_the_daemon_holds_them() {
    use crate::docker_harness::{Dockerd, IMAGE};

    let work = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let (key, public) = key_pair(work.path(), "release");
    let h = registry.host.clone();
    let config = format!(
        "registry:\n  caFile: {ca}\n  credentials:\n    - registry: {h}\n      username: {USER}\n      password: {PASSWORD}\npolicies:\n  - name: image-signatures\n    module: builtin:image-signatures\n    capabilities: [registry]\n    settings:\n      rules:\n        - images: [\"{h}/signed/*\"]\n          keys:\n            - |\n{key}",
        ca = registry.ca_file().display(),
        key = indent(&public, 14),
    );
    // Started with no rule for these images, so an unsigned one can be pulled before the
    // policy applies to it (a pull made earlier, or by another route).
    let dockerd = Dockerd::start(&config.replace("/signed/*", "/nothing-yet/*"));

    let archive = work.path().join("tiny.tar");
    dockerd.ok(&["save", "-o", archive.to_str().unwrap(), IMAGE]);
    let signed = registry.push(&archive, "signed/app:1", "v2s2");
    registry.sign(&key, "signed/app", &signed, None);
    let unsigned = registry.push(&archive, "signed/unsigned:1", "oci");
    // Other content, never signed, in the protected repository.
    dockerd.ok(&["create", "--name", "base", IMAGE, "true"]);
    dockerd.ok(&[
        "commit",
        "--change",
        "ENV MADE=elsewhere",
        "base",
        "local/other:1",
    ]);
    let other_archive = work.path().join("other.tar");
    dockerd.ok(&[
        "save",
        "-o",
        other_archive.to_str().unwrap(),
        "local/other:1",
    ]);
    let other = registry.push(&other_archive, "signed/other:1", "v2s2");

    // dockerd trusts the registry's CA as it trusts any registry's: certs.d, by host:port.
    let certs = std::path::Path::new("/etc/docker/certs.d").join(&h);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(registry.ca_file(), certs.join("ca.crt")).unwrap();
    let _certs = scopeguard(certs.clone());
    // The CLI's credentials for the registry, as `docker login` stores them.
    let client_config = work.path().join("docker-config");
    std::fs::create_dir_all(&client_config).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        client_config.join("config.json"),
        json!({"auths": {h.clone(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let docker = |args: &[&str]| {
        let out = dockerd
            .docker_command(args)
            .env("DOCKER_CONFIG", &client_config)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    let (ok, out) = docker(&["pull", &format!("{h}/signed/other:1")]);
    assert!(ok, "{out}");
    dockerd.reload(&config);

    let (ok, out) = docker(&["pull", &format!("{h}/signed/app:1")]);
    assert!(ok, "{out}");
    let (ok, out) = docker(&["run", "--rm", &format!("{h}/signed/app:1"), "true"]);
    assert!(ok, "a signed image runs: {out}");

    let (ok, out) = docker(&["run", "--rm", &format!("{h}/signed/unsigned:1"), "true"]);
    assert!(!ok, "an unsigned image must not run: {out}");
    assert!(
        out.contains(&format!(
            "image \"{h}/signed/unsigned:1\" is not signed: no cosign signature is stored for {unsigned}"
        )),
        "{out}"
    );
    let (ok, out) = docker(&["pull", &format!("{h}/signed/unsigned:1")]);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "pull of \"{h}/signed/unsigned:1\" is not signed: no cosign signature is stored for {unsigned}"
        )),
        "{out}"
    );

    // The registry's tag is signed, but the daemon's image under that name is another one
    // (made here, never pulled): what would run is decided, not what the registry says.
    let (ok, out) = docker(&[
        "commit",
        "--change",
        "ENV MADE=locally",
        "base",
        "local/third:1",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = docker(&["tag", "local/third:1", &format!("{h}/signed/app:1")]);
    assert!(ok, "{out}");
    let (ok, out) = docker(&["run", "--rm", &format!("{h}/signed/app:1"), "true"]);
    assert!(!ok, "a local image under a signed name must not run: {out}");
    assert!(
        out.contains("which was not pulled from that repository"),
        "{out}"
    );

    // An unsigned image of the protected repository, run under another name or by its ID:
    // decided as where it was pulled from.
    let short_id = dockerd.ok(&["images", "-q", "local/other:1"]);
    let (ok, out) = docker(&["tag", "local/other:1", "innocent:1"]);
    assert!(ok, "{out}");
    for name in ["innocent:1", short_id.as_str()] {
        let (ok, out) = docker(&["run", "--rm", name, "true"]);
        assert!(!ok, "{name} must not run: {out}");
        assert!(
            out.contains(&format!(
                "image \"{h}/signed/other@{other}\" is not signed: no cosign signature is stored for {other}"
            )) && out.contains(&format!("which was pulled as {h}/signed/other@{other}")),
            "{name}: {out}"
        );
    }

    // The pulled image is still there by its digest, which is signed.
    let (ok, out) = docker(&["run", "--rm", &format!("{h}/signed/app@{signed}"), "true"]);
    assert!(ok, "{out}");
}

/// Removes a directory when dropped (the daemon-wide certs.d entry a test adds).
fn scopeguard(dir: std::path::PathBuf) -> impl Drop {
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    Remove(dir)
}

/// Through a real API server: the stored Pod runs the digest that was verified, and an
/// unsigned image is refused with the policy's message. The engine has no credentials of its
/// own here: it asks the registry with the pull secret the Pod names, as the kubelet pulls.
#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn through_a_real_api_server_the_stored_pod_names_the_verified_digest() {
    use crate::kubernetes::{Cluster, pod, webhooks};
    use crate::support::text;

    let work = tempfile::tempdir().unwrap();
    let archive = saved_test_image(work.path());
    let registry = Registry::start();
    let (key, public) = key_pair(work.path(), "release");
    let h = registry.host.clone();
    let signed = registry.push(&archive, "signed/app:1", "v2s2");
    registry.sign(&key, "signed/app", &signed, None);
    let unsigned = registry.push(&archive, "signed/unsigned:1", "oci");

    let cluster = Cluster::start();
    let server = Server::start_with_kubeconfig(
        &config(&registry, &public, false, "Fail"),
        Some(&cluster.kubeconfig),
    );
    for args in [
        vec!["create", "namespace", "t1"],
        vec!["-n", "t1", "create", "serviceaccount", "default"],
        vec![
            "-n",
            "t1",
            "create",
            "secret",
            "docker-registry",
            "regcred",
            &format!("--docker-server={h}"),
            &format!("--docker-username={USER}"),
            &format!("--docker-password={PASSWORD}"),
        ],
    ] {
        let out = cluster.kubectl(&args, None);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let out = cluster.apply(&webhooks(server.address.port(), &server.ca.pem, "Fail"));
    assert!(out.status.success(), "{}", text(&out));

    let with_secret = "  imagePullSecrets:\n    - name: regcred\n";
    let refused = pod("unsigned", with_secret, &format!("{h}/signed/unsigned:1"));
    let message = crate::support::eventually(
        "the webhook never answered",
        std::time::Duration::from_secs(30),
        || {
            let out = cluster.apply(&refused);
            match text(&out).contains("denied by portcullis") {
                true => Ok(text(&out)),
                false => Err(text(&out)),
            }
        },
    );
    assert!(
        message.contains(&format!(
            "image-signatures: container \"c\" image \"{h}/signed/unsigned:1\" is not signed: no cosign signature is stored for {unsigned}"
        )),
        "{message}"
    );

    let out = cluster.apply(&pod("signed", with_secret, &format!("{h}/signed/app:1")));
    assert!(out.status.success(), "{}", text(&out));
    let stored = cluster.kubectl(&["-n", "t1", "get", "pod", "signed", "-o", "json"], None);
    let stored: Value = serde_json::from_slice(&stored.stdout).unwrap();
    assert_eq!(
        stored["spec"]["containers"][0]["image"],
        format!("{h}/signed/app:1@{signed}"),
        "the stored Pod runs the digest that was verified"
    );

    // Without the pull secret the engine has no credentials for this registry either.
    let out = cluster.apply(&pod("no-secret", "", &format!("{h}/signed/app:1")));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot resolve its tag: registry refused access"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_registries_and_tags_without_digest_are_refused_before_asking() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let server = Server::start(
        "registry:\n  insecure: [\"plain.example:5000\"]\npolicies:\n  - name: image-signatures\n    module: builtin:image-signatures\n    capabilities: [registry]\n    allowedToMutate: true\n    settings:\n      requireDigest: true\n      rules:\n        - images: [\"*\"]\n          keys: [\"-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\"]\n",
    );
    let (allowed, message, _) = decide(&server, &format!("plain.example:5000/app@{digest}")).await;
    assert!(!allowed);
    assert!(
        message.contains(
            "comes from plain.example:5000, which is reached over plain HTTP (an insecure registry)"
        ),
        "{message}"
    );
    let (allowed, message, _) = decide(&server, "example.com/app:1").await;
    assert!(!allowed);
    assert!(
        message.contains("image \"example.com/app:1\" is not pinned by digest"),
        "{message}"
    );
}
