//! The Docker door against a real dockerd: the docker CLI, dockerd's authz middleware, and
//! Portcullis on the plugin socket.

use crate::docker_harness::{Dockerd, IMAGE};

const POLICIES: &str = r#"
policies:
  - name: privileged
    module: builtin:privileged
  - name: host-namespaces
    module: builtin:host-namespaces
  - name: capabilities
    module: builtin:capabilities
  - name: host-mounts
    module: builtin:host-mounts
  - name: registries
    module: builtin:registries
    settings:
      allowedRegistries: [registry.example.com, docker.io/library/tiny]
"#;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn dockerd_consults_portcullis() {
    let mut d = Dockerd::start(POLICIES);

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

    // Each of these is refused, with the policy's message shown by the docker CLI.
    let denied: &[(&[&str], &str)] = &[
        (
            &["--privileged"],
            "privileged: container must not be privileged (HostConfig.Privileged)",
        ),
        (
            &["--pid=host"],
            "host-namespaces: PidMode=host shares the host's process namespace",
        ),
        (
            &["--network=host"],
            "host-namespaces: NetworkMode=host shares the host's network namespace",
        ),
        (
            &["--ipc=host"],
            "host-namespaces: IpcMode=host shares the host's IPC namespace",
        ),
        (
            &["--uts=host"],
            "host-namespaces: UTSMode=host shares the host's UTS namespace",
        ),
        (
            &["--userns=host"],
            "host-namespaces: UsernsMode=host shares the host's user namespace",
        ),
        (
            &["--cap-add", "SYS_ADMIN"],
            "capabilities: capability \"SYS_ADMIN\" must not be added",
        ),
        (
            &["--cap-add", "ALL"],
            "capabilities: capability \"ALL\" must not be added",
        ),
        (
            &["-v", "/:/host"],
            "host-mounts: bind mount of /: is a sensitive host path",
        ),
        (
            &["-v", "/var/run/docker.sock:/var/run/docker.sock"],
            "host-mounts: bind mount of /var/run/docker.sock: is a sensitive host path",
        ),
        (
            &["--mount", "type=bind,src=/etc,dst=/etc"],
            "host-mounts: bind mount of /etc: is a sensitive host path",
        ),
    ];
    for (flags, message) in denied {
        let mut args = vec!["run", "--rm", "--network", "none"];
        if flags[0] == "--network=host" {
            args.pop();
            args.pop();
        }
        args.extend_from_slice(flags);
        args.extend_from_slice(&[IMAGE, "true"]);
        let out = d.docker(&args);
        let shown = text(&out);
        assert!(!out.status.success(), "{flags:?} was allowed");
        let want = format!(
            "authorization denied by plugin {}: denied by portcullis: {message}",
            d.name
        );
        assert!(
            shown.contains(&want),
            "{flags:?}: got {shown:?}\nwant {want:?}"
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
        text(&out)
            .contains("denied by portcullis: privileged: exec must not be privileged (Privileged)"),
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
