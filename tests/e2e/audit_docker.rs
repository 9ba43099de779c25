//! `portcullis audit docker` against a real dockerd holding containers, a swarm service and
//! plugins made while nothing was guarded: what it reports, exactly.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use crate::docker_harness::{Dockerd, IMAGE, NOTHING_GUARDED};
use crate::support::text;
use crate::support::workspace;

const AUDITED: &str = r#"
policies:
  - name: privileged
    module: builtin:privileged
  - name: host-namespaces
    module: builtin:host-namespaces
  - name: host-mounts
    module: builtin:host-mounts
"#;

fn audit(d: &Dockerd, config: &str, args: &[&str]) -> Output {
    let path = d.dir.path().join("audit.yaml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["audit", "docker", "--config"])
        .arg(&path)
        .arg("--host")
        .arg(format!(
            "unix://{}",
            d.dir.path().join("docker.sock").display()
        ))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            workspace().join("target").join("e2e-cache-cli"),
        )
        .output()
        .expect("run portcullis")
}

/// `(kind, name, policy, result)` of every JSON line.
fn findings(out: &Output) -> BTreeSet<(String, String, String, String)> {
    assert!(out.status.success(), "audit failed: {}", text(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert_eq!(v["door"], "docker", "{line}");
            let r = &v["resource"];
            (
                r["kind"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
                v["policy"].as_str().unwrap().to_string(),
                v["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding(kind: &str, name: &str, policy: &str, result: &str) -> (String, String, String, String) {
    (kind.into(), name.into(), policy.into(), result.into())
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn what_a_daemon_already_runs_is_decided_as_the_calls_that_would_make_it() {
    let d = Dockerd::start(NOTHING_GUARDED);
    let sleep = ["sleep", "600"];
    let run = |name: &str, options: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(options);
        args.push(IMAGE);
        args.extend_from_slice(&sleep);
        d.ok(&args);
    };
    run("plain", &["--network", "none"]);
    run("hostnet", &["--network", "host"]);
    run(
        "sensitive",
        &["--network", "none", "-v", "/etc:/host-etc:ro"],
    );
    // Made, never started (this machine could not start it: privileged containers need
    // capabilities the test's own sandbox may lack): still audited.
    d.ok(&[
        "create",
        "--name",
        "priv",
        "--network",
        "none",
        "--privileged",
        IMAGE,
        "true",
    ]);
    // Binds another running container could swap for a link: refused by the door itself. A
    // container is not among those that could swap its own binds.
    let shared = d.dir.path().join("data");
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    let shared = shared.display().to_string();
    d.ok(&[
        "create",
        "--name",
        "inside",
        "--network",
        "none",
        "-v",
        &format!("{shared}/sub:/x"),
        IMAGE,
        "true",
    ]);
    run(
        "writer",
        &[
            "--network",
            "none",
            "-v",
            &format!("{shared}:/data"),
            "-v",
            &format!("{shared}/sub:/sub"),
        ],
    );
    // A container joining another's network namespace is decided by what it joins.
    run("joiner", &["--network", "container:hostnet"]);

    // A swarm service binding / (no replicas: its spec is what is audited, not its tasks).
    d.ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        "127.0.0.1",
        "--listen-addr",
        "127.0.0.1:23773",
    ]);
    let (status, body) = d.api(
        "POST",
        "/v1.41/services/create",
        Some(
            format!(
                r#"{{"Name":"rooted","Mode":{{"Replicated":{{"Replicas":0}}}},"TaskTemplate":{{"ContainerSpec":{{"Image":"{IMAGE}","Command":["sleep","600"],"Mounts":[{{"Type":"bind","Source":"/","Target":"/hostroot"}}]}}}}}}"#
            )
            .as_bytes(),
        ),
    );
    assert_eq!(status, 201, "{body}");

    // Plugins made from a directory: one whose mount was pointed at / before.
    for name in ["rootplug", "safeplug"] {
        d.create_plugin(name);
    }
    d.ok(&["plugin", "set", "rootplug", "data.source=/"]);

    let all = findings(&audit(
        &d,
        AUDITED,
        &["--format", "json", "--only", "containers,services,plugins"],
    ));
    assert_eq!(
        all,
        BTreeSet::from([
            finding("Container", "priv", "privileged", "fail"),
            finding("Container", "hostnet", "host-namespaces", "fail"),
            finding("Container", "joiner", "host-namespaces", "fail"),
            finding("Container", "sensitive", "host-mounts", "fail"),
            finding("Container", "inside", "docker-door", "fail"),
            finding("Service", "rooted", "host-mounts", "fail"),
            finding("Plugin", "rootplug:latest", "host-mounts", "fail"),
        ])
    );

    // The daemon's own settings, as this test started it: no default bridge (2.2), Docker
    // kept from iptables (2.4, read from its command line), an authorization plugin (2.12),
    // logs in json-file (2.13), a swarm node, where live restore cannot be on (2.15).
    let out = audit(
        &d,
        AUDITED,
        &["--format", "json", "--show-passes", "--only", "daemon"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let items: std::collections::BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["policy"], "cis-docker-daemon", "{v}");
            assert_eq!(v["resource"]["kind"], "Daemon", "{v}");
            assert_eq!(v["wouldDeny"], false, "{v}");
            (
                v["rule"].as_str().unwrap().to_string(),
                v["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(items.len(), 18, "{items:?}");
    for (id, result) in [
        ("2.2", "pass"),
        ("2.4", "fail"),
        ("2.6", "pass"),
        ("2.9", "fail"),
        ("2.12", "pass"),
        ("2.13", "fail"),
        ("2.15", "pass"),
        ("2.18", "pass"),
    ] {
        assert_eq!(items[id], result, "{id}: {items:?}");
    }
    let out = audit(
        &d,
        AUDITED,
        &["--format", "json", "--only", "daemon", "--exclude", "2.4"],
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"2.4\""));

    // The built-in default set numbers its findings as the benchmark does.
    let out = audit(&d, crate::support::DEFAULT_POLICIES, &["--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    let privileged = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["resource"]["name"] == "priv" && v["policy"] == "cis-docker")
        .unwrap_or_else(|| panic!("no cis-docker line for priv:\n{lines}"));
    assert!(
        privileged.to_string().contains("5.5 privileged"),
        "{privileged}"
    );

    // The table counts by container.
    let out = audit(&d, AUDITED, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("OBJECT"), "{table}");
    assert!(
        table.contains("Container priv: privileged fail (enforce, would deny): "),
        "{table}"
    );

    // Nothing was changed: every container is as it was, the stopped one still stopped.
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "priv"]),
        "false"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Running}}", "plain"]),
        "true"
    );
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn a_daemon_on_another_host_is_audited_over_tls_with_a_client_certificate() {
    let ca = crate::server_harness::TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(certs.path(), "dockerd");
    let ca_file = certs.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let port = 23761;
    let d = Dockerd::start_with(
        NOTHING_GUARDED,
        &[
            format!("-H=tcp://127.0.0.1:{port}"),
            "--tlsverify".into(),
            format!("--tlscacert={}", ca_file.display()),
            format!("--tlscert={}", cert.display()),
            format!("--tlskey={}", key.display()),
        ],
    );
    d.ok(&[
        "create",
        "--name",
        "priv",
        "--network",
        "none",
        "--privileged",
        IMAGE,
        "true",
    ]);
    d.ok(&[
        "create",
        "--name",
        "plain",
        "--network",
        "none",
        IMAGE,
        "true",
    ]);
    let config = d.dir.path().join("audit.yaml");
    std::fs::write(&config, AUDITED).unwrap();
    // No certificates where the docker CLI would look, unless given.
    let nowhere = tempfile::tempdir().unwrap();
    let remote = |tls: &[&str], args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["audit", "docker", "--config"])
            .arg(&config)
            .args(["--host", &format!("tcp+tls://127.0.0.1:{port}")])
            .args(tls)
            .args(args)
            .env("HOME", nowhere.path())
            .env_remove("DOCKER_CERT_PATH")
            .env(
                "XDG_CACHE_HOME",
                workspace().join("target").join("e2e-cache-cli"),
            )
            .output()
            .expect("run portcullis")
    };
    let (ca_arg, cert_arg, key_arg) = (
        ca_file.display().to_string(),
        cert.display().to_string(),
        key.display().to_string(),
    );
    let tls = [
        "--tlscacert",
        ca_arg.as_str(),
        "--tlscert",
        cert_arg.as_str(),
        "--tlskey",
        key_arg.as_str(),
    ];
    let out = remote(&tls, &["--format", "json", "--only", "containers"]);
    assert_eq!(
        findings(&out),
        BTreeSet::from([finding("Container", "priv", "privileged", "fail")])
    );
    // The daemon's settings: what the API says is decided; its command line, on another
    // host, cannot be read, and says so.
    let out = remote(
        &tls,
        &["--format", "json", "--show-passes", "--only", "daemon"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    let result = |id: &str| -> String {
        lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["rule"] == id)
            .unwrap_or_else(|| panic!("no {id}:\n{lines}"))["result"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(result("2.12"), "pass");
    assert_eq!(result("2.4"), "skip");

    // Without the client certificate dockerd asks for: a clear error, exit 2.
    let out = remote(&["--tlscacert", ca_arg.as_str()], &["--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "cannot reach the Docker daemon at tcp+tls://127.0.0.1:{port}"
        )),
        "{}",
        text(&out)
    );
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn the_plugin_audits_its_own_daemon_on_a_schedule() {
    // The plugin lets everything through, and audits what runs every second.
    let d = Dockerd::start(
        "policies:\n  - {name: privileged, module: builtin:privileged, mode: audit}\n\
         backgroundAudit:\n  interval: 1s\n  doors: [docker]\n",
    );
    d.ok(&[
        "create",
        "--name",
        "priv",
        "--network",
        "none",
        "--privileged",
        IMAGE,
        "true",
    ]);
    crate::support::eventually(
        "the background audit's finding",
        std::time::Duration::from_secs(30),
        || {
            let found: Vec<serde_json::Value> = d
                .audit_records()
                .into_iter()
                .filter(|r| r["source"] == "audit" && r["resource"]["kind"] == "Container")
                .collect();
            match found.first() {
                Some(r) if r["resource"]["name"] == "priv" && r["policy"] == "privileged" => {
                    assert_eq!(r["result"], "fail", "{r}");
                    assert_eq!(r["door"], "docker", "{r}");
                    Ok(())
                }
                _ => Err(format!("{found:?}")),
            }
        },
    );
    // The daemon's settings are in the same log.
    assert!(
        d.audit_records()
            .iter()
            .any(|r| r["source"] == "audit" && r["policy"] == "cis-docker-daemon"),
        "no daemon setting findings"
    );
}
