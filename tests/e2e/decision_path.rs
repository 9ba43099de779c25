//! The one decision path, through both doors with the same table of cases: each case is a
//! Pod and the `docker run` that asks for the same thing, decided by the same policies
//! through `eval` (which `serve` answers alike: `server::serve_answers_exactly_as_eval…`).
//! Both doors must allow or deny alike, and name the same policies.

use portcullis::eval::{self, Input};
use serde_json::{Value, json};

use crate::support::policy_set;

const POLICIES: &str = "policies:
  - {name: privileged, module: builtin:privileged}
  - {name: host-namespaces, module: builtin:host-namespaces}
  - {name: capabilities, module: builtin:capabilities}
  - {name: host-mounts, module: builtin:host-mounts}
docker:
  daemon: \"\"
  allowUnresolved: true
";

const NAMES: &[&str] = &[
    "privileged",
    "host-namespaces",
    "capabilities",
    "host-mounts",
];

/// (case, pod spec fields, container securityContext, Docker HostConfig, denying policies)
fn cases() -> Vec<(&'static str, Value, Value, Value, &'static [&'static str])> {
    vec![
        ("ordinary", json!({}), json!({}), json!({}), &[]),
        (
            "privileged",
            json!({}),
            json!({"privileged": true}),
            json!({"Privileged": true}),
            &["privileged"],
        ),
        (
            "host network",
            json!({"hostNetwork": true}),
            json!({}),
            json!({"NetworkMode": "host"}),
            &["host-namespaces"],
        ),
        (
            "host PID and IPC",
            json!({"hostPID": true, "hostIPC": true}),
            json!({}),
            json!({"PidMode": "host", "IpcMode": "host"}),
            &["host-namespaces"],
        ),
        (
            "SYS_ADMIN added",
            json!({}),
            json!({"capabilities": {"add": ["SYS_ADMIN"]}}),
            json!({"CapAdd": ["SYS_ADMIN"]}),
            &["capabilities"],
        ),
        (
            "the host's root",
            json!({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}),
            json!({}),
            json!({"Binds": ["/:/host"]}),
            &["host-mounts"],
        ),
        (
            "privileged on the host network",
            json!({"hostNetwork": true}),
            json!({"privileged": true}),
            json!({"Privileged": true, "NetworkMode": "host"}),
            &["privileged", "host-namespaces"],
        ),
    ]
}

fn pod(spec: &Value, security: &Value) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": [{"name": "c", "image": "registry.example.com/app:1", "securityContext": security}]}
    });
    for (k, v) in spec.as_object().unwrap() {
        pod["spec"][k] = v.clone();
    }
    pod
}

fn docker_run(host_config: &Value) -> Value {
    use base64::Engine as _;
    let body = json!({"Image": "registry.example.com/app:1", "HostConfig": host_config});
    json!({
        "User": "",
        "UserAuthNMethod": "",
        "RequestMethod": "POST",
        "RequestURI": "/v1.41/containers/create",
        "RequestBody": base64::engine::general_purpose::STANDARD.encode(body.to_string()),
        "RequestHeaders": {"Content-Type": "application/json"}
    })
}

/// (allowed, message) of either door's answer.
fn answer(set: &portcullis::policy_set::PolicySet, input: Value) -> (bool, String) {
    let out = eval::evaluate(set, Input::parse(&input.to_string()).unwrap()).unwrap();
    match out.get("Allow") {
        Some(allow) => (
            allow.as_bool().unwrap(),
            out["Msg"].as_str().unwrap_or_default().to_string(),
        ),
        None => (
            out["response"]["allowed"].as_bool().unwrap(),
            out["response"]["status"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
    }
}

#[test]
fn both_doors_decide_the_same_table_alike() {
    let set = policy_set(POLICIES).unwrap();
    for (case, spec, security, host_config, denying) in cases() {
        for (door, input) in [
            ("kubernetes", pod(&spec, &security)),
            ("docker", docker_run(&host_config)),
        ] {
            let (allowed, message) = answer(&set, input);
            assert_eq!(allowed, denying.is_empty(), "{case} ({door}): {message}");
            for name in NAMES {
                assert_eq!(
                    message.contains(&format!("{name}: ")),
                    denying.contains(name),
                    "{case} ({door}): {name} in {message:?}"
                );
            }
        }
    }
}
