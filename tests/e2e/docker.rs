//! The Docker door against a real dockerd: the docker CLI, dockerd's authz middleware, and
//! Portcullis on the plugin socket.

use crate::docker_harness::{Dockerd, IMAGE};
use crate::support::text;

/// The default set, plus an allow list of registries.
fn policies() -> String {
    format!(
        "{}  - name: registries\n    module: builtin:registries\n    settings:\n      allowedRegistries: [registry.example.com, docker.io/library/tiny]\n",
        crate::support::DEFAULT_POLICIES
    )
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn dockerd_consults_portcullis() {
    let mut d = Dockerd::start(&policies());

    // A plain run is allowed and the container really runs.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "echo",
        "hello from a container",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from a container"
    );

    // Each of these is refused, with the failing CIS control and the policy's message shown
    // by the docker CLI.
    let denied: &[(&[&str], &str)] = &[
        (
            &["--privileged"],
            "5.5 privileged (container must not be privileged) (HostConfig.Privileged)",
        ),
        (
            &["--pid=host"],
            "5.16 host pid (PidMode=host shares the host's process namespace",
        ),
        (
            &["--network=host"],
            "5.10 host network (NetworkMode=host shares the host's network namespace",
        ),
        (
            &["--ipc=host"],
            "5.17 host ipc (IpcMode=host shares the host's IPC namespace",
        ),
        (
            &["--uts=host"],
            "5.21 host uts (UTSMode=host shares the host's UTS namespace",
        ),
        (
            &["--userns=host"],
            "5.31 host user namespace (UsernsMode=host shares the host's user namespace",
        ),
        (
            &["--cap-add", "SYS_ADMIN"],
            "5.4 capabilities (capability \"SYS_ADMIN\" must not be added",
        ),
        (
            &["--cap-add", "ALL"],
            "5.4 capabilities (capability \"ALL\" must not be added",
        ),
        (
            &["-v", "/:/host"],
            "5.6 sensitive host directories (bind mount of /: is a sensitive host path",
        ),
        (
            &["-v", "/var/run/docker.sock:/var/run/docker.sock"],
            "5.32 docker socket (bind mount of /var/run/docker.sock (the host's /run/docker.sock): is a sensitive host path",
        ),
        (
            &["--mount", "type=bind,src=/etc,dst=/etc"],
            "5.6 sensitive host directories (bind mount of /etc: is a sensitive host path",
        ),
        (
            &["--restart", "on-failure:10"],
            "5.15 restart policy (on-failure restarts must be limited to 5 retries, not 10",
        ),
        (
            &["--no-healthcheck"],
            "5.27 health check (the image's health check must not be turned off (--no-healthcheck))",
        ),
        (
            &["--cgroup-parent", "/portcullis-test"],
            "5.25 cgroup parent (containers must not choose their cgroup parent (\"/portcullis-test\"))",
        ),
        (
            &["-v", "/srv:/srv:rshared"],
            "5.20 mount propagation (bind mount of /srv: mount propagation must not be shared (rshared)",
        ),
        (&["--security-opt", "seccomp=unconfined"], "5.22 seccomp ("),
    ];
    for (flags, message) in denied {
        let mut args = vec!["run"];
        if flags[0] != "--restart" {
            args.push("--rm"); // docker refuses --rm with a restart policy
        }
        if flags[0] != "--network=host" {
            args.extend_from_slice(&["--network", "none"]);
        }
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "true"]);
        let out = d.docker(&args);
        let shown = text(&out);
        assert!(!out.status.success(), "{flags:?} was allowed");
        let want = format!(
            "authorization denied by plugin {}: denied by portcullis: cis-docker: ",
            d.name
        );
        assert!(
            shown.contains(&want) && shown.contains(message),
            "{flags:?}: got {shown:?}\nwant {want:?} with {message:?}"
        );
    }

    // exec --privileged into a running container.
    let out = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "sleeper",
        IMAGE,
        "sleep",
        "300",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = d.docker(&["exec", "sleeper", "echo", "plain exec"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = d.docker(&["exec", "--privileged", "sleeper", "true"]);
    assert!(
        text(&out).contains(
            "denied by portcullis: cis-docker: 5.23 exec privileged (exec must not be privileged)"
        ),
        "{}",
        text(&out)
    );
    let out = d.docker(&["exec", "-u", "0", "sleeper", "true"]);
    assert!(
        text(&out).contains("denied by portcullis: cis-docker: 5.24 exec as root ("),
        "{}",
        text(&out)
    );

    // A pull from outside the allow list is refused before any network is tried.
    let out = d.docker(&["pull", "evil.example.com/x:latest"]);
    let shown = text(&out);
    assert!(shown.contains("denied by portcullis: registries: pull of \"evil.example.com/x:latest\" comes from evil.example.com/x, which is not an allowed registry"), "{shown}");

    // The plugin cannot be switched off through the API it guards.
    let out = d.docker(&["plugin", "disable", &d.name]);
    let shown = text(&out);
    assert!(
        shown.contains(&format!(
            "the authorization plugin {:?} cannot be disabled or removed through the Docker API",
            d.name
        )),
        "{shown}\nplugin log:\n{}",
        d.plugin_log.lock().unwrap().join("\n")
    );

    // Every call was recorded, with the door and the API path.
    let records = d.audit_records();
    let create = records
        .iter()
        .find(|r| r["operation"] == "container-create" && r["allowed"] == false)
        .expect("a denied create is audited");
    assert_eq!(create["source"], "docker");
    assert_eq!(create["method"], "POST");
    assert_eq!(create["path"], "/containers/create");
    assert!(
        records.iter().any(|r| r["endpoint"] == "authz-response"),
        "AuthZRes calls are recorded"
    );

    // With the plugin gone, dockerd refuses every call (it fails closed).
    d.stop_plugin();
    let out = d.docker(&["ps"]);
    let shown = text(&out);
    assert!(
        !out.status.success(),
        "dockerd served a request without its authorization plugin"
    );
    println!(
        "with the plugin stopped, `docker ps` says: {}",
        shown.trim()
    );
}
