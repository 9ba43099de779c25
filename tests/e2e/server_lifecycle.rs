//! The server over time: certificate rotation, config reloads, shutdown, and the audit log
//! under concurrency.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::server::wait_for_records;
use crate::server_harness::{Server, review_of};

const PRIVILEGED_ONLY: &str = "policies:\n  - name: privileged\n    module: builtin:privileged\n";

fn privileged_pod() -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "x/y:1", "securityContext": {"privileged": true}}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificate_rotation_during_a_stream_of_requests_fails_none() {
    let server = Server::start(PRIVILEGED_ONLY);
    let client = server.client();
    let first = client.get("/healthz").await.peer_certificate;

    let stream = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            for i in 0..300 {
                let r = client
                    .review(
                        "/validate",
                        &review_of(privileged_pod(), &format!("rot-{i}")),
                    )
                    .await;
                assert_eq!(r.status, 200);
                assert_eq!(r.json()["response"]["allowed"], false);
                seen.insert(r.peer_certificate);
            }
            seen
        })
    };
    for n in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        server.ca.issue(server.dir.path(), &format!("rotated-{n}"));
    }
    let seen = stream.await.expect("every request in the stream succeeded");
    // Wait for the last rotation to be picked up, then check it is served.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let last = client.get("/healthz").await.peer_certificate;
    assert_ne!(
        first,
        last,
        "the rotated certificate is served; log:\n{}",
        server.log.lock().unwrap().join("\n")
    );
    assert!(
        seen.len() >= 2,
        "the stream saw {} certificates",
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_reload_good_and_bad() {
    let server = Server::start(PRIVILEGED_ONLY);
    let client = server.client();
    let decide = || async {
        client
            .review("/validate", &review_of(privileged_pod(), "reload"))
            .await
            .json()["response"]
            .clone()
    };
    assert_eq!(decide().await["allowed"], false);

    // A good change of the file: picked up without a signal.
    let config = std::fs::read_to_string(server.config_path()).unwrap();
    let warn = config.replace(
        "    module: builtin:privileged\n",
        "    module: builtin:privileged\n    mode: warn\n",
    );
    let from = server.log_len();
    std::fs::write(server.config_path(), &warn).unwrap();
    server.wait_for_log("config file changed: policies reloaded", from);
    let response = decide().await;
    assert_eq!(response["allowed"], true);
    assert!(
        response["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("privileged: container \"c\"")
    );

    // A bad change: reported with the field, and the previous policies stay.
    let bad = config.replace(
        "    module: builtin:privileged\n",
        "    module: builtin:privileged\n    settings:\n      allowPrivilegedExecs: true\n",
    );
    let from = server.log_len();
    std::fs::write(server.config_path(), &bad).unwrap();
    let line = server.wait_for_log("reload failed, keeping the current policies", from);
    assert!(line.contains("policy \\\"privileged\\\": invalid settings: allowPrivilegedExecs: unknown field `allowPrivilegedExecs`"), "{line}");
    assert_eq!(
        decide().await["allowed"],
        true,
        "the warn-mode set is still in force"
    );

    // SIGHUP reloads the (fixed) file.
    std::fs::write(server.config_path(), &config).unwrap();
    let from = server.log_len();
    server.signal("HUP");
    server.wait_for_log("policies reloaded", from);
    assert_eq!(decide().await["allowed"], false);
    let metrics = String::from_utf8(client.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("portcullis_config_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );

    // A section a reload cannot apply: the policies are reloaded, and the log says which
    // section waits for a restart.
    let from = server.log_len();
    std::fs::write(
        server.config_path(),
        config.replace("maxFiles: 50", "maxFiles: 40"),
    )
    .unwrap();
    let line = server.wait_for_log("take effect after a restart", from);
    assert!(line.contains("audit changed too"), "{line}");
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["fields"]["sections"], "[\"audit\"]", "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_give_exactly_n_audit_lines_across_a_rotation() {
    // Five policies: records large enough for 1,200 of them to pass the 1 MiB rotation size.
    let server = Server::start(
        "policies:\n  - {name: privileged, module: builtin:privileged}\n  - {name: host-namespaces, module: builtin:host-namespaces}\n  - {name: capabilities, module: builtin:capabilities}\n  - {name: host-mounts, module: builtin:host-mounts}\n  - {name: registries, module: builtin:registries}\n",
    );
    let client = server.client();
    const N: usize = 1200;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let client = client.clone();
        tasks.spawn(async move {
            for i in (worker..N).step_by(16) {
                let r = client
                    .review("/validate", &review_of(privileged_pod(), &format!("n-{i}")))
                    .await;
                assert_eq!(r.status, 200);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let records = wait_for_records(&server, N).await;
    assert_eq!(records.len(), N, "exactly one audit line per request");
    let uids: HashSet<&str> = records.iter().map(|r| r["uid"].as_str().unwrap()).collect();
    assert_eq!(uids.len(), N);
    assert!(
        server.dir.path().join("audit.log.1").exists(),
        "the audit log rotated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_requests_in_flight_and_flushes_the_audit_log() {
    let mut server = Server::start(crate::support::DEFAULT_POLICIES);
    let client = server.client();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = client.clone();
        tasks.spawn(async move {
            let mut answered = 0;
            for i in 0..1000 {
                match client
                    .request(
                        "POST",
                        "/validate",
                        Some("application/json"),
                        review_of(privileged_pod(), &format!("t-{worker}-{i}"))
                            .to_string()
                            .into_bytes(),
                    )
                    .await
                {
                    Ok(r) => {
                        assert_eq!(r.status, 200, "an answered request is a full answer");
                        assert_eq!(r.json()["response"]["allowed"], false);
                        answered += 1;
                    }
                    // Refused cleanly: the listener is closed.
                    Err(_) => return answered,
                }
            }
            answered
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("TERM");
    let mut answered = 0;
    while let Some(n) = tasks.join_next().await {
        answered += n.unwrap();
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (status, server)
    })
    .await
    .unwrap();
    let (status, server) = status;
    assert!(status.success(), "exit status {status:?}");
    server.wait_for_log("audit log flushed", 0);
    assert!(answered > 0);
    assert_eq!(
        server.audit_records().len(),
        answered,
        "every answered request is in the audit log"
    );
}

/// A server started with an empty compile cache (as every pod of the chart's read-only
/// image is) uses the built-ins compiled ahead of time and compiles nothing; an artifact the
/// engine cannot use is reported and that policy compiled instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompiled_built_ins_start_a_server_without_compiling() {
    let precompiled = tempfile::tempdir().unwrap();
    let out = crate::support::portcullis(&["precompile", precompiled.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("built-in policy components compiled into"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let runtime = format!(
        "  disableCache: true\n  precompiledDir: {}\n",
        precompiled.path().display()
    );
    let config = "policies:\n  - {name: pss-baseline, module: builtin:pss-baseline}\n  - {name: cis-docker, module: builtin:cis-docker}\n";

    let loaded = |server: &Server| -> serde_json::Value {
        let line = server.wait_for_log("policies loaded", 0);
        serde_json::from_str::<serde_json::Value>(&line).unwrap()["fields"].clone()
    };
    let server = Server::start_with(config, "", &runtime, None);
    let fields = loaded(&server);
    assert_eq!(fields["compiled"], 0, "{fields}");
    assert!(fields["precompiled"].as_u64().unwrap() >= 2, "{fields}");
    let body = server
        .client()
        .review("/validate", &review_of(privileged_pod(), "pre"))
        .await
        .json();
    assert_eq!(body["response"]["allowed"], false, "{body}");
    drop(server);

    // Every artifact replaced by one no engine can load: each is reported and compiled.
    let mut damaged = 0;
    for entry in std::fs::read_dir(precompiled.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a compiled component").unwrap();
        damaged += 1;
    }
    assert!(damaged > 0);
    let server = Server::start_with(config, "", &runtime, None);
    let fields = loaded(&server);
    assert_eq!(fields["precompiled"], 0, "{fields}");
    assert!(fields["compiled"].as_u64().unwrap() >= 2, "{fields}");
    server.wait_for_log(
        "precompiled policy does not fit this engine, compiling it instead",
        0,
    );
    let body = server
        .client()
        .review("/validate", &review_of(privileged_pod(), "compiled"))
        .await
        .json();
    assert_eq!(body["response"]["allowed"], false, "{body}");
}

/// The voluntary context switches of the server's thread named `name` (Linux truncates
/// thread names to 15 bytes).
fn thread_wakeups(server: &Server, name: &str) -> u64 {
    let tasks = format!("/proc/{}/task", server.child.id());
    let truncated = &name[..name.len().min(15)];
    for task in std::fs::read_dir(&tasks).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim_end() == truncated {
            let status = std::fs::read_to_string(task.join("status")).unwrap();
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
        }
    }
    panic!("no thread named {name} in {tasks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_is_not_woken_by_its_deadline_clock() {
    let server = Server::start(PRIVILEGED_ONLY);
    let client = server.client();
    for i in 0..3 {
        let r = client
            .review(
                "/validate",
                &review_of(privileged_pod(), &format!("idle-{i}")),
            )
            .await;
        assert_eq!(r.json()["response"]["allowed"], false);
    }
    // Once the last evaluation is over, the clock that counts policy deadlines (a tick a
    // millisecond while a policy runs) sleeps until the next one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = thread_wakeups(&server, "portcullis-epoch");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let woken = thread_wakeups(&server, "portcullis-epoch") - before;
    assert!(
        woken <= 5,
        "the deadline clock woke {woken} times in an idle second"
    );

    // ... and wakes for the next request, whose policies are decided as before.
    let r = client
        .review("/validate", &review_of(privileged_pod(), "after-idle"))
        .await;
    assert_eq!(r.json()["response"]["allowed"], false);
}
