//! Calls that are only as safe as the objects they name, against a real dockerd: the objects
//! are made while the plugin still allows everything (a host where Portcullis is switched on
//! late, or an exemption made for their own purpose), then the default policies are loaded.
//! Each way through another object is refused with 403 and creates nothing; the ordinary
//! uses of the same features still work.

use crate::docker_harness::{Dockerd, IMAGE, NOTHING_GUARDED};
use crate::support::text;

/// `docker run` refused by the plugin, with each of `expect` in the message.
fn refused(d: &Dockerd, args: &[&str], expect: &[&str]) {
    let out = d.docker(args);
    let said = text(&out);
    assert!(!out.status.success(), "docker {args:?} was allowed: {said}");
    assert!(
        said.contains("authorization denied by plugin"),
        "docker {args:?}: {said}"
    );
    for e in expect {
        assert!(said.contains(e), "docker {args:?}: {e:?} not in {said}");
    }
}

fn names(d: &Dockerd) -> Vec<String> {
    d.ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn containers_are_decided_with_what_they_join_and_mount() {
    let d = Dockerd::start(NOTHING_GUARDED);
    let shared = d.dir.path().join("shared");
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    let shared = shared.display().to_string();

    // Made while nothing was guarded.
    for (name, flags) in [
        ("hostnet", &["--network", "host"][..]),
        ("hostpid", &["--pid", "host"]),
        ("hostipc", &["--ipc", "host"]),
        ("app", &["--network", "none"]),
    ] {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend(flags);
        args.extend([IMAGE, "sleep", "600"]);
        d.ok(&args);
    }
    d.ok(&[
        "run",
        "-d",
        "--name",
        "chain",
        "--network",
        "container:hostnet",
        IMAGE,
        "sleep",
        "600",
    ]);
    d.ok(&[
        "create",
        "--name",
        "rootdata",
        "-v",
        "/:/hostroot",
        IMAGE,
        "true",
    ]);
    d.ok(&[
        "create",
        "--name",
        "data",
        "-v",
        "datavol:/data",
        IMAGE,
        "true",
    ]);
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        "device=/",
        "hostvol",
    ]);
    let writer_mount = format!("{shared}:/data");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "writer",
        "-v",
        &writer_mount,
        IMAGE,
        "sleep",
        "600",
    ]);
    // The writer plants a link to the host's root in the directory it may write to.
    d.ok(&[
        "exec",
        "writer",
        "/bin/busybox",
        "ln",
        "-s",
        "/",
        "/data/evil",
    ]);
    // Made, not started, before Portcullis: it joins hostnet only when it starts.
    d.ok(&[
        "create",
        "--name",
        "late",
        "--network",
        "container:hostnet",
        IMAGE,
        "sleep",
        "600",
    ]);

    // A local volume of the host kernel's own process filesystem.
    d.ok(&[
        "volume",
        "create",
        "--opt",
        "type=proc",
        "--opt",
        "device=proc",
        "procvol",
    ]);

    d.reload(crate::support::DEFAULT_POLICIES);
    let before = names(&d);

    refused(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "container:hostnet",
            IMAGE,
            "true",
        ],
        &[
            "5.10 host network",
            "joins the network namespace of container hostnet, which is the host's",
        ],
    );
    refused(
        &d,
        &["run", "--rm", "--network", "container:chain", IMAGE, "true"],
        &["5.10 host network", "container chain (through"],
    );
    refused(
        &d,
        &["run", "--rm", "--pid", "container:hostpid", IMAGE, "true"],
        &[
            "5.16 host pid",
            "joins the process namespace of container hostpid",
        ],
    );
    refused(
        &d,
        &["run", "--rm", "--ipc", "container:hostipc", IMAGE, "true"],
        &[
            "5.17 host ipc",
            "joins the IPC namespace of container hostipc",
        ],
    );
    refused(
        &d,
        &["run", "--rm", "--volumes-from", "rootdata", IMAGE, "true"],
        &[
            "5.6 sensitive host directories",
            "HostConfig.VolumesFrom[0]",
            "container rootdata's mounts: /:/hostroot",
        ],
    );
    refused(
        &d,
        &["run", "--rm", "-v", "hostvol:/x", IMAGE, "true"],
        &[
            "5.6 sensitive host directories",
            "volume \"hostvol\" is the host's /",
        ],
    );
    let evil = format!("{shared}/evil:/x");
    refused(
        &d,
        &["run", "--rm", "-v", &evil, IMAGE, "true"],
        &[&format!(
            "the bind source {shared}/evil lies inside {shared}, which container writer can write to"
        )],
    );
    let inside = format!("{shared}/sub:/x");
    refused(
        &d,
        &["run", "--rm", "-v", &inside, IMAGE, "true"],
        &[
            "which container writer can write to",
            "symbolic link after this check",
        ],
    );
    // With the swap check off, the planted link is still decided as the bind of / it is.
    d.reload(&format!(
        "{}\ndocker:\n  allowBindsInsideWritableMounts: true\n",
        crate::support::DEFAULT_POLICIES
    ));
    refused(
        &d,
        &["run", "--rm", "-v", &evil, IMAGE, "true"],
        &[
            "5.6 sensitive host directories",
            &format!("bind mount of {shared}/evil (the host's /)"),
        ],
    );
    d.reload(crate::support::DEFAULT_POLICIES);
    refused(
        &d,
        &["run", "--rm", "-v", "procvol:/x", IMAGE, "true"],
        &[
            "5.6 sensitive host directories",
            "volume \"procvol\" is the host's /proc",
        ],
    );
    // dockerd takes `container:/name` for `container:name`.
    refused(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "container:/hostnet",
            IMAGE,
            "true",
        ],
        &["joins the network namespace of container hostnet, which is the host's"],
    );
    // Joining a container's processes shows the network namespace they are in.
    refused(
        &d,
        &["run", "--rm", "--pid", "container:hostnet", IMAGE, "true"],
        &[
            "5.10 host network",
            "container hostnet is on the host's network",
        ],
    );
    // A body dockerd reads parameters from but never shows the plugin.
    let (status, answer) = d.api_typed(
        "POST",
        "/v1.41/images/create",
        Some(b"fromImage=tiny&tag=1"),
        "application/x-www-form-urlencoded",
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("form-encoded body"), "{answer}");
    // An old API version's start takes a HostConfig, binds included.
    d.ok(&["create", "--name", "oldstart", IMAGE, "true"]);
    let (status, answer) = d.api(
        "POST",
        "/v1.23/containers/oldstart/start",
        Some(br#"{"Binds":["/:/host"],"PidMode":"container:writer"}"#),
    );
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("5.6 sensitive host directories"),
        "{answer}"
    );
    d.ok(&["rm", "oldstart"]);
    // A name the daemon does not know cannot be decided.
    refused(
        &d,
        &["run", "--rm", "--volumes-from", "nosuch", IMAGE, "true"],
        &["container \"nosuch\" cannot be resolved: the daemon has no such container"],
    );
    assert_eq!(names(&d), before, "a refused run created a container");

    // The ordinary uses still work: a sidecar in an ordinary container's network, a data
    // container's named volume, a bind of the very directory another container writes.
    d.ok(&["run", "--rm", "--network", "container:app", IMAGE, "true"]);
    d.ok(&["run", "--rm", "--pid", "container:app", IMAGE, "true"]);
    d.ok(&["run", "--rm", "--volumes-from", "data", IMAGE, "true"]);
    let same = format!("{shared}:/x");
    d.ok(&["run", "--rm", "-v", &same, IMAGE, "true"]);
    d.ok(&["run", "--rm", "-v", "datavol:/d", IMAGE, "true"]);

    // A start joins and mounts now: `late`, made before, would join hostnet's namespace.
    let out = d.docker(&["start", "late"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("joins the network namespace of container hostnet, which is the host's"),
        "{}",
        text(&out)
    );
    let state = d.ok(&["inspect", "-f", "{{.State.Status}}", "late"]);
    assert_eq!(state, "created", "the refused start ran the container");
    // A bind allowed at create whose directory became a link to / before the start.
    let quiet = d.dir.path().join("quiet");
    std::fs::create_dir_all(quiet.join("later")).unwrap();
    let later = format!("{}/later:/x", quiet.display());
    d.ok(&["create", "--name", "planted", "-v", &later, IMAGE, "true"]);
    std::fs::remove_dir(quiet.join("later")).unwrap();
    std::os::unix::fs::symlink("/", quiet.join("later")).unwrap();
    let out = d.docker(&["start", "planted"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("5.6 sensitive host directories")
            && text(&out).contains("the start of planted is decided as the container it starts"),
        "{}",
        text(&out)
    );
    // `docker cp` mounts a container's binds on the host: a bind whose directory became a
    // link is decided as the bind it now is, started or not.
    std::fs::create_dir_all(quiet.join("copied")).unwrap();
    let copied = format!("{}/copied:/x", quiet.display());
    d.ok(&["create", "--name", "cptarget", "-v", &copied, IMAGE, "true"]);
    std::fs::remove_dir(quiet.join("copied")).unwrap();
    std::os::unix::fs::symlink("/", quiet.join("copied")).unwrap();
    let out = d.docker(&["cp", "cptarget:/x/etc/hostname", "-"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("mounts its binds: decided as the container"),
        "{}",
        text(&out)
    );
    // A network join of a container that does not exist yet is created, as dockerd allows;
    // it is decided when it starts.
    d.ok(&[
        "create",
        "--name",
        "early",
        "--network",
        "container:notyet",
        IMAGE,
        "true",
    ]);
    // An ordinary container starts as before, and so does one made before Portcullis.
    d.ok(&["create", "--name", "plainstart", IMAGE, "true"]);
    d.ok(&["start", "plainstart"]);
    d.ok(&["start", "data"]);
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn rollbacks_and_plugin_enables_are_decided_as_what_they_restore() {
    let d = Dockerd::start(NOTHING_GUARDED);
    d.ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        "127.0.0.1",
        "--listen-addr",
        "127.0.0.1:23772",
    ]);
    let spec = |name: &str, mounts: &str, env: &str| {
        format!(
            r#"{{"Name":"{name}","TaskTemplate":{{"ContainerSpec":{{"Image":"{IMAGE}","Command":["sleep","600"],"Env":["V={env}"],"Mounts":[{mounts}]}}}}}}"#
        )
    };
    let root_bind = r#"{"Type":"bind","Source":"/","Target":"/hostroot"}"#;
    let version = |name: &str| -> u64 {
        let (status, body) = d.api("GET", &format!("/v1.41/services/{name}"), None);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["Version"]["Index"].as_u64().unwrap()
    };
    let update = |name: &str, query: &str, body: &str| {
        d.api(
            "POST",
            &format!(
                "/v1.41/services/{name}/update?version={}{query}",
                version(name)
            ),
            Some(body.as_bytes()),
        )
    };
    // `rooted` once bound /; `plain` never did. Both now run a compliant spec.
    for (name, first) in [("rooted", root_bind), ("plain", "")] {
        let (status, body) = d.api(
            "POST",
            "/v1.41/services/create",
            Some(spec(name, first, "1").as_bytes()),
        );
        assert_eq!(status, 201, "{body}");
        let (status, body) = update(name, "", &spec(name, "", "2"));
        assert_eq!(status, 200, "{body}");
    }

    // Plugins made from a directory: one whose settings were pointed at / before.
    for name in ["rootplug", "safeplug"] {
        d.create_plugin(name);
    }
    d.ok(&["plugin", "set", "rootplug", "data.source=/"]);

    d.reload(crate::support::DEFAULT_POLICIES);

    // The body is harmless; the spec it restores binds /.
    let (status, answer) = update("rooted", "&rollback=previous", &spec("rooted", "", "3"));
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("restores service rooted's previous spec"),
        "{answer}"
    );
    assert!(
        answer.contains("5.6 sensitive host directories"),
        "{answer}"
    );
    // Nothing was rolled back: the service still runs the compliant spec.
    let (_, current) = d.api("GET", "/v1.41/services/rooted", None);
    let current: serde_json::Value = serde_json::from_str(&current).unwrap();
    let task = &current["Spec"]["TaskTemplate"]["ContainerSpec"];
    assert_eq!(task["Env"][0], "V=2", "{current}");
    assert!(
        task["Mounts"].as_array().is_none_or(Vec::is_empty),
        "{current}"
    );
    // dockerd's query reader drops a pair with a bad escape: this is still a rollback.
    let (status, answer) = update(
        "rooted",
        "&rollback=%zz&rollback=previous",
        &spec("rooted", "", "3"),
    );
    assert_eq!(status, 403, "{answer}");
    // A service bind is resolved on the host like a container's.
    let linked = d.dir.path().join("svc");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink("/", linked.join("evil")).unwrap();
    let mount = format!(
        r#"{{"Type":"bind","Source":"{}/evil","Target":"/x"}}"#,
        linked.display()
    );
    let (status, answer) = d.api(
        "POST",
        "/v1.41/services/create",
        Some(spec("linked", &mount, "1").as_bytes()),
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("(the host's /)"), "{answer}");
    let (status, answer) = update("plain", "&rollback=previous", &spec("plain", "", "3"));
    assert_eq!(status, 200, "a rollback to a compliant spec: {answer}");

    let (status, answer) = d.api("POST", "/v1.41/plugins/rootplug/enable?timeout=1", None);
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("enabled with its current settings"),
        "{answer}"
    );
    // The safe one is let through to dockerd (whether this test plugin then comes up is
    // dockerd's business: it has no socket to serve).
    let (status, answer) = d.api("POST", "/v1.41/plugins/safeplug/enable?timeout=1", None);
    assert_ne!(status, 403, "{answer}");
    let allowed = d.audit_records().into_iter().any(|r| {
        r["operation"] == "plugin-enable" && r["name"] == "safeplug" && r["allowed"] == true
    });
    assert!(
        allowed,
        "no allowed plugin-enable of safeplug in the audit log"
    );
}

/// The metrics the plugin serves on its HTTPS listener.
fn metrics(d: &Dockerd) -> String {
    let line = crate::support::wait_for_log(&d.plugin_log, "kubernetes webhook listening", 0);
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    let address = line["fields"]["address"].as_str().unwrap().to_string();
    let out = std::process::Command::new("curl")
        .args(["-sk", &format!("https://{address}/metrics")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lookups(metrics: &str, result: &str) -> u64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "portcullis_docker_lookups_total{{result=\"{result}\"}}"
            ))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn answers_are_kept_only_while_the_daemon_reports_no_change() {
    let d = Dockerd::start(crate::support::DEFAULT_POLICIES);
    let shared = d.dir.path().join("shared");
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    let writer = format!("{}:/s", shared.display());
    let inside = format!("{}/sub:/x", shared.display());
    // A container that may write to `shared`, not running yet.
    d.ok(&[
        "create", "--name", "writer", "-v", &writer, IMAGE, "sleep", "600",
    ]);
    d.ok(&["run", "--rm", "-v", &inside, IMAGE, "true"]);
    // Later calls are answered from what was kept, while nothing changes: creates with the
    // same bind ask the daemon no more.
    crate::support::eventually("answers kept", std::time::Duration::from_secs(30), || {
        let before = lookups(&metrics(&d), "kept");
        d.ok(&["create", "-v", &inside, IMAGE, "true"]);
        let after = lookups(&metrics(&d), "kept");
        if after > before {
            Ok(())
        } else {
            Err(format!("kept {before} -> {after}"))
        }
    });
    // A plain `docker run` asks the daemon nothing: its start is of a container created
    // through the door, whose create was recorded.
    let asked = lookups(&metrics(&d), "asked");
    d.ok(&["run", "--rm", "--network", "none", IMAGE, "true"]);
    assert_eq!(
        lookups(&metrics(&d), "asked"),
        asked,
        "a plain run asked the daemon"
    );
    // The writer starts: an event, after which nothing kept is used, and the bind inside
    // what it writes is refused. (The event reaches the plugin a moment after the start.)
    d.ok(&["start", "writer"]);
    crate::support::eventually("the start seen", std::time::Duration::from_secs(10), || {
        let out = d.docker(&["create", "-v", &inside, IMAGE, "true"]);
        if text(&out).contains("which container writer can write to") {
            Ok(())
        } else {
            Err(text(&out))
        }
    });
}

/// `docker run -P` publishes every port the image exposes, which the request does not name:
/// the door reads them from the image, so `host-ports` sees what will be published.
#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn publish_all_is_decided_with_the_ports_the_image_exposes() {
    let d = Dockerd::start(NOTHING_GUARDED);
    // An image that exposes a port, made while nothing was guarded.
    d.ok(&["create", "--name", "base", IMAGE, "true"]);
    d.ok(&["commit", "--change", "EXPOSE 8080", "base", "tiny:exposed"]);
    d.reload("policies:\n  - name: host-ports\n    module: builtin:host-ports\n");

    refused(
        &d,
        &["create", "-P", "tiny:exposed", "true"],
        &[
            "host-ports: port 8080/tcp is published on every host interface; bind it to one address (-p 127.0.0.1::8080)",
            "-P publishes the ports image \"tiny:exposed\" exposes: 8080/tcp",
        ],
    );
    // The same image without -P, and -P of an image exposing nothing, publish nothing.
    let id = d.ok(&["create", "tiny:exposed", "true"]);
    d.ok(&["create", "-P", IMAGE, "true"]);

    // A start in API 1.23 brings a HostConfig of its own, which dockerd applies: publishing
    // all ports there publishes the image's too.
    let (status, body) = d.api(
        "POST",
        &format!("/v1.23/containers/{id}/start"),
        Some(br#"{"PublishAllPorts":true}"#),
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("port 8080/tcp is published on every host interface")
            && body.contains("publishes ports with a HostConfig of its own"),
        "{body}"
    );
    let (status, body) = d.api("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(status, 204, "{body}");
}
