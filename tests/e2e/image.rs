//! The container image, as `deploy/image/build.sh` builds it against a real dockerd (with
//! Portcullis guarding that dockerd): a static binary on an empty base that runs as a
//! non-root user and serves `/healthz` over TLS.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::docker_harness::Dockerd;
use crate::server_harness::{Client, TestCa};
use crate::support::workspace;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real dockerd and musl-tools (root): run tests/run.sh"]
async fn the_image_builds_runs_as_non_root_and_serves_healthz() {
    let d = Dockerd::start("policies:\n  - {name: privileged, module: builtin:privileged}\n");
    let tag = "portcullis:e2e";
    let build = Command::new("bash")
        .arg(workspace().join("deploy/image/build.sh"))
        .arg(tag)
        .env(
            "DOCKER_HOST",
            format!("unix://{}", d.dir.path().join("docker.sock").display()),
        )
        // Its own target directory: a build for another target, apart from the tests'. The
        // unoptimised profile checks the same recipe in a third of a release build's time.
        .env("CARGO_TARGET_DIR", workspace().join("target/image"))
        .env("PROFILE", "image-check")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "deploy/image/build.sh failed (it needs the x86_64-unknown-linux-musl target, which \
         rust-toolchain.toml lists, and musl-tools: apt-get install musl-tools):\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let inspect = d.docker(&["image", "inspect", tag, "--format", "{{json .Config}}"]);
    assert!(inspect.status.success());
    let config: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/portcullis"]));

    // Certificates and config mounted read-only, as a Secret and a ConfigMap would be.
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let (_cert, key) = ca.issue(files.path(), "image");
    // The container's user must read the key, as kubelet makes Secret files readable.
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        files.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        files.path().join("portcullis.yaml"),
        format!(
            "server:\n  address: 127.0.0.1:{port}\n  tls:\n    certFile: /etc/portcullis/tls.crt\n    keyFile: /etc/portcullis/tls.key\nruntime:\n  cacheDir: /cache\nkubernetes:\n  namespaceLabels: off\npolicies:\n  - {{name: pss-baseline, module: builtin:pss-baseline}}\n"
        ),
    )
    .unwrap();
    let mount = format!("{}:/etc/portcullis:ro", files.path().display());
    let run = d.docker(&[
        "run",
        "-d",
        "--name",
        "engine",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/cache:uid=65532,gid=65532",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-v",
        &mount,
        tag,
        "serve",
        "--log-format",
        "json",
        "--config",
        "/etc/portcullis/portcullis.yaml",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let client = Client {
        address: format!("127.0.0.1:{port}").parse().unwrap(),
        config: ca.client_config(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        match client.request("GET", "/healthz", None, Vec::new()).await {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                let logs = d.docker(&["logs", "engine"]);
                panic!(
                    "/healthz never answered over TLS: {e}\n{}{}",
                    String::from_utf8_lossy(&logs.stdout),
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
        }
    };
    assert_eq!(health.status, 200);

    // With an empty cache, nothing was compiled: the image's precompiled built-ins served.
    let logs = d.docker(&["logs", "engine"]);
    let logs = String::from_utf8_lossy(&logs.stderr).to_string();
    let loaded: serde_json::Value = serde_json::from_str(
        logs.lines()
            .find(|l| l.contains("policies loaded"))
            .unwrap_or_else(|| panic!("no \"policies loaded\" line:\n{logs}")),
    )
    .unwrap();
    assert_eq!(loaded["fields"]["compiled"], 0, "{logs}");
    assert!(
        loaded["fields"]["precompiled"].as_u64() >= Some(1),
        "{logs}"
    );

    // The process runs as the image's user, not root: read from the host's /proc.
    let pid = d.docker(&["inspect", "engine", "--format", "{{.State.Pid}}"]);
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("65532"),
        "{uid_line}"
    );
}
