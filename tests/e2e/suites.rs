//! `portcullis test`: suites as a policy author runs them, the documented examples of every
//! built-in run as written, and `docker:` command lines checked against what the real docker
//! CLI makes dockerd send.

use crate::docker_harness::{Dockerd, IMAGE, NOTHING_GUARDED};
use crate::support::{portcullis, text, workspace};

const SUITE: &str = r#"
policy:
  module: builtin:capabilities
  settings: {}
cases:
  - name: SYS_ADMIN on Kubernetes
    pod:
      containers: [{name: app, image: nginx, securityContext: {capabilities: {add: [SYS_ADMIN]}}}]
    expect: {allowed: false, message: SYS_ADMIN}
  - name: SYS_ADMIN on Docker
    docker: docker run --cap-add SYS_ADMIN alpine
    expect: {allowed: false, message: [SYS_ADMIN, HostConfig.CapAdd]}
  - name: a plain Pod
    pod: {containers: [{name: app, image: nginx}]}
    expect: {allowed: true, warnings: [], patch: null}
  - name: wrong on purpose
    docker: docker run alpine
    expect: {allowed: false, message: "never said"}
"#;

#[test]
fn a_failing_case_fails_the_run_with_what_differed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("caps.yaml"), SUITE).unwrap();
    let junit = dir.path().join("junit.xml");
    let out = portcullis(&[
        "test",
        dir.path().to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout.contains("  ok    SYS_ADMIN on Docker"), "{stdout}");
    assert!(stdout.contains("  ok    a plain Pod"), "{stdout}");
    assert!(stdout.contains("  FAIL  wrong on purpose"), "{stdout}");
    assert!(stdout.contains("expected denied, got allowed"), "{stdout}");
    assert!(
        stdout.contains("1 suite, 4 cases: 3 passed, 1 failed"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"tests="4" failures="1""#), "{xml}");
    assert!(
        xml.contains(r#"name="wrong on purpose""#)
            && xml.contains("<failure message=\"expected denied, got allowed\">"),
        "{xml}"
    );

    // Without the failing case the run passes.
    let passing = SUITE.split("  - name: wrong on purpose").next().unwrap();
    std::fs::write(dir.path().join("caps.yaml"), passing).unwrap();
    let out = portcullis(&["test", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn suites_in_markdown_run_and_broken_suites_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let page = format!(
        "# A policy\n\nSome prose.\n\n```yaml\nignored: true\n```\n\n```yaml portcullis-test\n{SUITE}```\n"
    );
    std::fs::write(dir.path().join("page.md"), &page).unwrap();
    let out = portcullis(&["test", dir.path().join("page.md").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout.contains("page.md:10"), "the block's line: {stdout}");
    assert!(stdout.contains("  FAIL  wrong on purpose"), "{stdout}");

    // A misspelt expectation is an error, not a silently unchecked key.
    std::fs::write(
        dir.path().join("typo.yaml"),
        "policy: {module: builtin:privileged}\ncases:\n  - name: x\n    docker: docker run alpine\n    expect: {allowed: true, mesage: x}\n",
    )
    .unwrap();
    let out = portcullis(&["test", dir.path().join("typo.yaml").to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout.contains("unknown field `mesage`"), "{stdout}");

    // A module that does not load is reported for its suite.
    std::fs::write(
        dir.path().join("missing.yaml"),
        "policy: {module: ./nowhere.wasm}\ncases: []\n",
    )
    .unwrap();
    let out = portcullis(&["test", dir.path().join("missing.yaml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nowhere.wasm"),
        "{}",
        text(&out)
    );

    // Nothing to run is a usage error.
    let empty = tempfile::tempdir().unwrap();
    let out = portcullis(&["test", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no test suites"), "{}", text(&out));
}

/// Every built-in's page documents its examples as suites; they run as written.
#[test]
fn every_documented_example_holds() {
    let pages = workspace().join("docs/policies");
    let out = portcullis(&["test", pages.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    // Every built-in's page has examples that run.
    for entry in std::fs::read_dir(&pages).unwrap() {
        let path = entry.unwrap().path();
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(
            page.contains("```yaml portcullis-test"),
            "{} documents no examples as a suite",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(stdout.contains(name), "{name} did not run:\n{stdout}");
    }
}

/// Command lines covering every flag the suite reader turns into a body. Each is sent by the
/// real docker CLI through dockerd and given to a suite as `docker:`; the door must make the
/// same request of both.
const COMMAND_LINES: &[&str] = &[
    "run --privileged tiny:1",
    "create --name web2 -u 0:0 --cap-add SYS_ADMIN --cap-add net_raw --cap-drop ALL --read-only tiny:1 sh",
    // One bind per line: the CLI sends `-v` binds in Go map order, which varies.
    "create -v /:/host:ro --mount type=bind,source=/etc,target=/e,readonly,bind-propagation=rshared --tmpfs /run:rw,size=64m tiny:1",
    "create -v named:/named -v /data tiny:1",
    "create --mount type=volume,src=v2,dst=/v2 --mount type=tmpfs,dst=/t,tmpfs-size=1m tiny:1",
    "create --pid host --ipc host --uts host --network host --userns host --cgroupns host tiny:1",
    "create --pid=container:other --ipc=shareable --net=none tiny:1",
    "create --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt label=disable --security-opt no-new-privileges --security-opt systempaths=unconfined tiny:1",
    "create --security-opt label=type:spc_t --security-opt label=level:s0:c1 tiny:1",
    "create --device /dev/null:/dev/xnull:r --device /dev/zero -p 127.0.0.1:8080:80 -p 9090:90/udp -P --expose 7000 tiny:1",
    "create -m 512m --memory-reservation 256m --cpus 1.5 -c 512 --pids-limit 100 --restart on-failure:3 tiny:1",
    "create --sysctl net.ipv4.ip_forward=1 --sysctl kernel.msgmax=65536 --cgroup-parent /custom --runtime runc tiny:1",
    "create --health-cmd true --health-interval 5s --health-retries 2 -l a=b -l c tiny:1",
    "create --no-healthcheck --restart always -e A=1 -w /tmp --entrypoint sh -h host tiny:1 -c true",
    "create -it --rm --init --group-add 10 --user nobody tiny:1",
    "create --privileged=false -it --name=web3 tiny:1",
    "pull localhost:5000/team/app:1.0",
    "pull docker.io/library/busybox",
    "pull registry.example.com/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "exec --privileged -u root web id",
    "exec -d -e X=1 -w /tmp web sh",
    "exec -i web sh",
];

#[test]
#[ignore = "needs a real dockerd (root, Debian docker.io): run tests/run.sh"]
fn docker_command_lines_are_the_requests_dockerd_sends() {
    let echo = format!(
        "policies:\n  - name: echo-request\n    module: {}\n",
        crate::support::fixture_wasm("portcullis-fixture-echo-request").display()
    );
    // Containers the calls name exist, made before anything is guarded; then every call is
    // refused with what the door made of it.
    let d = Dockerd::start(NOTHING_GUARDED);
    d.ok(&["create", "--name", "web", IMAGE, "sleep", "600"]);
    d.ok(&["create", "--name", "other", IMAGE, "sleep", "600"]);
    d.reload(&format!("{echo}docker:\n  allowUnresolved: true\n"));

    let dir = tempfile::tempdir().unwrap();
    let mut suite = format!(
        "policy: {{module: {}}}\ncases:\n",
        crate::support::fixture_wasm("portcullis-fixture-echo-request").display()
    );
    let mut compared = 0;
    for line in COMMAND_LINES {
        let args: Vec<&str> = line.split(' ').collect();
        let out = d.docker(&args);
        assert!(
            !out.status.success(),
            "docker {line} was not refused: {}",
            text(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let echoed = between(&stderr, "ECHO ", " END")
            .unwrap_or_else(|| panic!("docker {line}: no echo in {stderr}"));
        suite.push_str(&format!(
            "  - name: {line:?}\n    docker: {:?}\n    expect: {{allowed: false, message: {:?}}}\n",
            format!("docker {line}"),
            format!("ECHO {echoed} END"),
        ));
        compared += 1;
    }
    std::fs::write(dir.path().join("echo.yaml"), &suite).unwrap();
    let out = portcullis(&["test", dir.path().join("echo.yaml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{compared} passed, 0 failed")),
        "{}",
        text(&out)
    );
    assert_eq!(compared, COMMAND_LINES.len());
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}
