//! Crafted Docker API calls against a real dockerd with Portcullis as its authorization
//! plugin: bodies that dockerd reads as privileged or host-bound only through Go's
//! `encoding/json` rules, host access outside `containers/create`, routes in unusual
//! spellings and routes no policy can inspect. Each is refused with 403 and nothing is
//! created; ordinary calls still work.

use crate::docker_harness::{Dockerd, IMAGE};

fn create(name: &str, body: &str) -> (String, String) {
    (
        format!("/v1.41/containers/create?name={name}"),
        body.replace("IMAGE", IMAGE),
    )
}

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn crafted_calls_are_refused_and_create_nothing() {
    let d = Dockerd::start(crate::support::DEFAULT_POLICIES);
    let host_dir = d.dir.path().join("plain");
    std::fs::create_dir_all(&host_dir).unwrap();

    let containers: Vec<(&str, (String, String))> = vec![
        (
            "a repeated HostConfig merges into the first",
            create(
                "merged",
                r#"{"Image":"IMAGE","HostConfig":{"Privileged":true},"HostConfig":{"NetworkMode":"none"}}"#,
            ),
        ),
        (
            "a case-folded repeat merges too",
            create(
                "folded",
                r#"{"Image":"IMAGE","HostConfig":{"PidMode":"host"},"hostconfig":{"NetworkMode":"none"}}"#,
            ),
        ),
        (
            "null leaves a bool set",
            create(
                "nulled",
                r#"{"Image":"IMAGE","HostConfig":{"Privileged":true,"Privileged":null,"NetworkMode":"none"}}"#,
            ),
        ),
        (
            "Go folds the long s to s",
            create(
                "longs",
                "{\"Image\":\"IMAGE\",\"HostConfig\":{\"\u{17f}ecurityOpt\":[\"seccomp=unconfined\"],\"NetworkMode\":\"none\"}}",
            ),
        ),
        (
            "Go folds the Kelvin sign to k",
            create(
                "kelvin",
                "{\"Image\":\"IMAGE\",\"HostConfig\":{\"NetworkMode\":\"none\",\"Mas\u{212a}edPaths\":[]}}",
            ),
        ),
        (
            "StrSlice takes a bare string",
            create(
                "strslice",
                r#"{"Image":"IMAGE","HostConfig":{"CapAdd":"SYS_ADMIN","NetworkMode":"none"}}"#,
            ),
        ),
        (
            "a repeated list reuses its elements",
            create(
                "reused",
                r#"{"Image":"IMAGE","HostConfig":{"NetworkMode":"none","Mounts":[{"Type":"bind","Source":"/","Target":"/h"}],"Mounts":[{"Target":"/h2"}]}}"#,
            ),
        ),
        (
            "HostConfig fields at the top level",
            create(
                "toplevel",
                r#"{"Image":"IMAGE","Privileged":true,"NetworkMode":"none"}"#,
            ),
        ),
        (
            "a volume mount whose local driver binds /",
            create(
                "volbind",
                r#"{"Image":"IMAGE","HostConfig":{"NetworkMode":"none","Mounts":[{"Type":"volume","Source":"rootvol","Target":"/h",
                    "VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}}"#,
            ),
        ),
        (
            "a bind of /bin/.. (the host's /usr)",
            create(
                "usr",
                r#"{"Image":"IMAGE","HostConfig":{"NetworkMode":"none","Binds":["/bin/..:/h"]}}"#,
            ),
        ),
        (
            "device cgroup rules opening every device",
            create(
                "devices",
                r#"{"Image":"IMAGE","HostConfig":{"NetworkMode":"none","DeviceCgroupRules":["a *:* rwm"]}}"#,
            ),
        ),
        (
            "unmasked /proc and /sys",
            create(
                "unmasked",
                r#"{"Image":"IMAGE","HostConfig":{"NetworkMode":"none","MaskedPaths":[],"ReadonlyPaths":[]}}"#,
            ),
        ),
        (
            "SELinux labeling off by a bare `disable`",
            create(
                "nolabel",
                r#"{"Image":"IMAGE","HostConfig":{"NetworkMode":"none","SecurityOpt":["disable"]}}"#,
            ),
        ),
    ];
    for (what, (path, body)) in &containers {
        let (status, answer) = d.api("POST", path, Some(body.as_bytes()));
        assert_eq!(status, 403, "{what}: {answer}");
        assert!(answer.contains("portcullis"), "{what}: {answer}");
    }
    let out = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "no container was created"
    );

    // Host access outside containers/create.
    let others: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "a local volume binding /",
            "POST",
            "/v1.41/volumes/create",
            Some(
                r#"{"Name":"hostroot","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#,
            ),
        ),
        (
            "a local volume binding /etc, keys folded",
            "POST",
            "/v1.41/volumes/create",
            Some(r#"{"name":"hostetc","DRIVEROPTS":{"o":"rbind","device":"/etc"}}"#),
        ),
        (
            "a plugin from a tarball",
            "POST",
            "/v1.41/plugins/create?name=evil",
            None,
        ),
        ("a BuildKit session", "POST", "/v1.41/session", None),
        (
            "a build on the host network",
            "POST",
            "/v1.41/build?networkmode=host",
            None,
        ),
        (
            "joining another swarm",
            "POST",
            "/v1.41/swarm/join",
            Some(r#"{"RemoteAddrs":["192.0.2.1:2377"],"JoinToken":"x"}"#),
        ),
        (
            "exec in a container whose name has a slash",
            "POST",
            "/v1.41/containers/a%2Fb/exec",
            Some(r#"{"Cmd":["sh"],"Privileged":true}"#),
        ),
    ];
    for (what, method, path, body) in others {
        let (status, answer) = d.api(method, path, body.map(str::as_bytes));
        assert_eq!(status, 403, "{what}: {answer}");
    }
    let out = d.docker(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "no volume was created"
    );

    // Ordinary work still works: a bind of an ordinary directory, a named volume, a health
    // check, and a local volume that binds nothing.
    let bind = format!("{}:/data", host_dir.display());
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &bind,
        "-v",
        "named:/v",
        "--health-cmd",
        "true",
        IMAGE,
        "sh",
        "-c",
        "echo ok > /data/f && cat /data/f",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    let (status, answer) = d.api(
        "POST",
        "/v1.41/volumes/create",
        Some(br#"{"Name":"scratch","Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"}}"#),
    );
    assert_eq!(status, 201, "{answer}");
}

/// Swarm services and plugin installs reach the host too: through the container spec's
/// privileges, local-driver volume options, host networking and a plugin's privileges.
#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn services_and_plugins_that_reach_the_host_are_refused() {
    let d = Dockerd::start(crate::support::DEFAULT_POLICIES);
    let out = d.docker(&[
        "swarm",
        "init",
        "--advertise-addr",
        "127.0.0.1",
        "--listen-addr",
        "127.0.0.1:23771",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let service = |name: &str, task: &str| {
        format!(
            r#"{{"Name":"{name}","TaskTemplate":{task}}}"#,
            task = task.replace("IMAGE", IMAGE)
        )
    };
    let services = [
        (
            "SELinux labeling off",
            service(
                "nolabel",
                r#"{"ContainerSpec":{"Image":"IMAGE","Privileges":{"SELinuxContext":{"Disable":true}}}}"#,
            ),
        ),
        (
            "a capability added, key folded",
            service(
                "caps",
                r#"{"ContainerSpec":{"Image":"IMAGE","capabilityadd":["CAP_SYS_ADMIN"]}}"#,
            ),
        ),
        (
            "a local volume binding /",
            service(
                "volbind",
                r#"{"ContainerSpec":{"Image":"IMAGE","Mounts":[{"Type":"volume","Source":"r","Target":"/h",
                    "VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}}"#,
            ),
        ),
        (
            "the host network",
            service(
                "hostnet",
                r#"{"ContainerSpec":{"Image":"IMAGE"},"Networks":[{"Target":"host"}]}"#,
            ),
        ),
        (
            "a plugin service with host mounts",
            service(
                "plugin",
                r#"{"Runtime":"plugin","PluginSpec":{"Name":"p","Remote":"example.com/p:1",
                    "Privileges":[{"Name":"mount","Value":["/"]}]}}"#,
            ),
        ),
    ];
    for (what, body) in &services {
        let (status, answer) = d.api("POST", "/v1.41/services/create", Some(body.as_bytes()));
        assert_eq!(status, 403, "{what}: {answer}");
    }
    let out = d.docker(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");

    // An ordinary service is created.
    let ordinary = service(
        "plain",
        r#"{"ContainerSpec":{"Image":"IMAGE","Command":["sleep","60"]}}"#,
    );
    let (status, answer) = d.api("POST", "/v1.41/services/create", Some(ordinary.as_bytes()));
    assert_eq!(status, 201, "{answer}");

    // A plugin install asking for the host's root, and the same with its privileges in a body
    // dockerd does not forward (not JSON): both refused before anything is pulled.
    let privileges = br#"[{"Name":"mount","Value":["/"]}]"#;
    let path = "/v1.41/plugins/pull?remote=example.com/evil:1&name=evil";
    let (status, answer) = d.api("POST", path, Some(privileges));
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = d.api_typed("POST", path, Some(privileges), "text/plain");
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("cannot be inspected"), "{answer}");
}
