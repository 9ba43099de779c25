//! `portcullis serve` as the Kubernetes API server meets it: a real process, a real TLS client
//! verifying the chain, AdmissionReviews in and out, the audit log, reloads and shutdown.

use base64::Engine as _;
use hyper::body::{Bytes, Frame};
use serde_json::{Value, json};

use crate::server_harness::{Server, review_of};

const POLICIES: &str = r#"
policies:
  - name: privileged
    module: builtin:privileged
  - name: host-namespaces
    module: builtin:host-namespaces
    mode: warn
  - name: registries
    module: builtin:registries
    mode: audit
    settings:
      allowedRegistries: [registry.example.com]
  - name: drop-all
    module: builtin:capabilities
    allowedToMutate: true
    settings:
      addDropAll: true
  - name: host-mounts
    module: builtin:host-mounts
    match:
      exemptUsers: ["system:serviceaccount:kube-system:*"]
  - name: prod-only
    module: builtin:privileged
    match:
      namespaceSelector:
        matchLabels: {env: prod}
"#;

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team-a"}, "spec": spec})
}

fn plain() -> Value {
    pod(json!({"containers": [{"name": "app", "image": "registry.example.com/app:1.0"}]}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decisions_over_https() {
    let server = Server::start(POLICIES);
    let client = server.client();

    // Allowed, nothing to say.
    let r = client
        .review("/validate", &review_of(plain(), "u-allowed"))
        .await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["response"]["uid"], "u-allowed");
    assert_eq!(body["response"]["allowed"], true, "{body}");
    assert!(body["response"].get("warnings").is_none(), "{body}");

    // Denied, with every enforcing policy's reasons; the warn-mode one only warns.
    let bad = pod(json!({
        "hostPID": true,
        "containers": [{"name": "app", "image": "registry.example.com/app:1.0", "securityContext": {"privileged": true}}],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}]
    }));
    let body = client
        .review("/validate", &review_of(bad.clone(), "u-denied"))
        .await
        .json();
    let response = &body["response"];
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(
        response["status"]["message"],
        "denied by portcullis: privileged: container \"app\" must not set securityContext.privileged=true (spec.containers[0].securityContext.privileged); \
         host-mounts: hostPath volume \"root\" (/): host paths are not allowed (spec.volumes[0])"
    );
    assert_eq!(
        response["warnings"][0],
        "host-namespaces: hostPID=true shares the host's process namespace, which is not allowed (spec.hostPID)"
    );

    // Audit mode: allowed, recorded as an audit annotation and in the audit log.
    let evil = pod(json!({"containers": [{"name": "app", "image": "evil.example.com/app:1.0"}]}));
    let body = client
        .review("/validate", &review_of(evil, "u-audit"))
        .await
        .json();
    assert_eq!(body["response"]["allowed"], true);
    assert!(
        body["response"]["auditAnnotations"]["registries.denied"]
            .as_str()
            .unwrap()
            .contains("evil.example.com/app")
    );

    // Exempt users skip the policy that exempts them.
    let mut exempt = review_of(
        pod(
            json!({"containers": [{"name": "app", "image": "registry.example.com/app:1.0"}], "volumes": [{"name": "h", "hostPath": {"path": "/srv"}}]}),
        ),
        "u-exempt",
    );
    assert_eq!(
        client.review("/validate", &exempt).await.json()["response"]["allowed"],
        false
    );
    exempt["request"]["userInfo"]["username"] =
        "system:serviceaccount:kube-system:daemon-set-controller".into();
    assert_eq!(
        client.review("/validate", &exempt).await.json()["response"]["allowed"],
        true
    );

    // Mutation: the patch, applied to the object, gives the expected object.
    let body = client
        .review("/mutate", &review_of(plain(), "u-mutate"))
        .await
        .json();
    let response = &body["response"];
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    let patch: json_patch::Patch = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut object = plain();
    json_patch::patch(&mut object, &patch).unwrap();
    let mut expected = plain();
    expected["spec"]["containers"][0]["securityContext"] =
        json!({"capabilities": {"drop": ["ALL"]}});
    assert_eq!(object, expected);
    // Validating policies are not run by /mutate, nor mutating ones by /validate.
    let body = client
        .review("/mutate", &review_of(bad, "u-mutate-bad"))
        .await
        .json();
    assert_eq!(body["response"]["allowed"], true, "{body}");

    // dryRun is decided the same and marked in the audit record.
    let mut dry = review_of(plain(), "u-dry");
    dry["request"]["dryRun"] = true.into();
    assert_eq!(
        client.review("/validate", &dry).await.json()["response"]["allowed"],
        true
    );

    // v1beta1 is answered in v1beta1.
    let mut beta = review_of(plain(), "u-beta");
    beta["apiVersion"] = "admission.k8s.io/v1beta1".into();
    assert_eq!(
        client.review("/validate", &beta).await.json()["apiVersion"],
        "admission.k8s.io/v1beta1"
    );

    // Per-policy endpoints.
    let privileged = pod(
        json!({"containers": [{"name": "app", "image": "x/y:1", "securityContext": {"privileged": true}}]}),
    );
    let body = client
        .review(
            "/validate/privileged",
            &review_of(privileged.clone(), "u-one"),
        )
        .await
        .json();
    assert_eq!(body["response"]["allowed"], false);
    assert!(
        !body["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("registries")
    );
    let r = client
        .review(
            "/validate/drop-all",
            &review_of(privileged.clone(), "u-wrong-phase"),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["error"],
        "policy \"drop-all\" is a mutating policy: call /mutate/drop-all"
    );
    let r = client
        .review("/validate/nope", &review_of(privileged, "u-none"))
        .await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("no policy named \"nope\" is loaded"))
    );

    // `kubectl exec` (CONNECT pods/exec) reaches the policies as an exec into a container.
    let exec = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u-exec", "operation": "CONNECT", "name": "web", "namespace": "team-a",
            "kind": {"group": "", "version": "v1", "kind": "PodExecOptions"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "subResource": "exec",
            "userInfo": {"username": "alice"},
            "object": {"kind": "PodExecOptions", "apiVersion": "v1", "container": "app", "command": ["sh"], "stdin": true, "tty": true}
        }
    });
    assert_eq!(
        client.review("/validate", &exec).await.json()["response"]["allowed"],
        true
    );

    // A namespace selector cannot match without a cluster, and /readyz says why.
    let ready = client.get("/readyz").await.json();
    assert_eq!(ready["ready"], true);
    let note = ready["namespaceLabels"].as_str().unwrap();
    assert!(
        note.starts_with("no cluster reachable (")
            && note.ends_with("): policies with a namespaceSelector cannot match"),
        "{note}"
    );
    assert_eq!(client.get("/healthz").await.status, 200);

    // Metrics count what happened.
    let metrics = String::from_utf8(client.get("/metrics").await.body).unwrap();
    assert!(
        metrics.contains("portcullis_requests_total{endpoint=\"/validate\",decision=\"denied\"}"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("portcullis_policy_evaluation_duration_seconds_count{policy=\"privileged\"}")
    );

    // The audit log has one line per decision, with what the issue asks of it.
    let records = wait_for_records(&server, 11).await;
    let denied = records.iter().find(|r| r["uid"] == "u-denied").unwrap();
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["user"], "alice");
    assert_eq!(denied["operation"], "CREATE");
    assert_eq!(denied["kind"], "v1/Pod");
    assert_eq!(denied["namespace"], "team-a");
    let names: Vec<&str> = denied["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["privileged", "host-namespaces", "registries", "host-mounts"]
    );
    assert!(denied["latencyUs"].as_u64().unwrap() > 0);
    assert_eq!(
        records.iter().find(|r| r["uid"] == "u-dry").unwrap()["dryRun"],
        true
    );
    assert_eq!(
        records.iter().find(|r| r["uid"] == "u-mutate").unwrap()["patchOperations"],
        1
    );
    let audit = records.iter().find(|r| r["uid"] == "u-audit").unwrap();
    let registries = audit["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "registries")
        .unwrap();
    assert_eq!(
        (registries["mode"].as_str(), registries["allowed"].as_bool()),
        (Some("audit"), Some(false))
    );
}

pub async fn wait_for_records(server: &Server, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let records = server.audit_records();
        if records.len() >= n {
            return records;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} audit records: {:?}", server.audit_records());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_clear_4xx_and_the_server_keeps_serving() {
    let server = Server::start("policies:\n  - name: privileged\n    module: builtin:privileged\n");
    let client = server.client();
    let ok = review_of(plain(), "u-ok");
    let mut no_uid = ok.clone();
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    let mut wrong_kind = ok.clone();
    wrong_kind["kind"] = "Pod".into();
    let huge = format!("{{\"padding\":\"{}\"}}", "x".repeat(4 << 20));
    // (what, content type, body, status, error message)
    type Case<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("not JSON", Some("application/json"), b"{ nope".to_vec(), 400, "request body is not JSON"),
        ("wrong kind", Some("application/json"), wrong_kind.to_string().into_bytes(), 400, "not an AdmissionReview: kind is \"Pod\""),
        ("missing uid", Some("application/json"), no_uid.to_string().into_bytes(), 400, "missing field `uid`"),
        ("no request", Some("application/json"), br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), 400, "AdmissionReview has no request"),
        ("old version", Some("application/json"), br#"{"apiVersion":"admission.k8s.io/v0","kind":"AdmissionReview","request":{"uid":"x"}}"#.to_vec(), 400, "unsupported AdmissionReview apiVersion"),
        ("oversized", Some("application/json"), huge.into_bytes(), 413, "request body is larger than the 3145728 byte limit"),
        ("wrong content type", Some("text/plain"), ok.to_string().into_bytes(), 415, "expected Content-Type: application/json, got \"text/plain\""),
        ("no content type", None, ok.to_string().into_bytes(), 415, "expected Content-Type: application/json"),
    ];
    for (what, content_type, body, status, message) in cases {
        let r = client
            .request("POST", "/validate", content_type, body)
            .await
            .unwrap();
        assert_eq!(
            r.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.contains(message),
            "{what}: {error:?} lacks {message:?}"
        );
        // Still serving, correctly.
        let body = client.review("/validate", &ok).await.json();
        assert_eq!(body["response"]["allowed"], true, "{what}");
    }
}

/// A body over the limit is answered with the 413 that says so, every time, on a new
/// connection, whether its length is declared or it comes chunked: the server reads what the
/// client is still sending before closing, so no reset overtakes the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_body_is_refused_with_413_not_a_reset() {
    let server = Server::start_full(
        "policies:\n  - name: privileged\n    module: builtin:privileged\n",
        "  bodyLimitBytes: 65536\n",
        None,
    );
    let client = server.client();
    let padding = format!("{{\"padding\":\"{}\"}}", "x".repeat(1 << 20));
    for round in 0..20 {
        let declared = client
            .request(
                "POST",
                "/validate",
                Some("application/json"),
                padding.clone().into_bytes(),
            )
            .await
            .unwrap_or_else(|e| panic!("round {round}, declared length: {e}"));
        // 16 KiB chunks, no Content-Length.
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = padding
            .as_bytes()
            .chunks(16 << 10)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
        let chunked = client
            .send("POST", "/validate", Some("application/json"), body)
            .await
            .unwrap_or_else(|e| panic!("round {round}, chunked: {e}"));
        for r in [declared, chunked] {
            assert_eq!(
                r.status,
                413,
                "round {round}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let error = r.json()["error"].as_str().unwrap().to_string();
            assert!(
                error.contains("larger than the 65536 byte limit"),
                "{error}"
            );
        }
    }
    let body = client
        .review("/validate", &review_of(plain(), "u-after"))
        .await
        .json();
    assert_eq!(body["response"]["allowed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pss_fixtures_over_https() {
    let server = Server::start(crate::support::DEFAULT_POLICIES);
    let client = server.client();
    let mut decided = 0;
    for (file, expect_allow, text) in crate::conformance::pss_cases() {
        let object: Value = serde_yaml_ng::from_str(&text).unwrap();
        let body = client
            .review("/validate", &review_of(object, &file))
            .await
            .json();
        assert_eq!(body["response"]["allowed"], expect_allow, "{file}: {body}");
        decided += 1;
    }
    println!("PSS fixtures decided over HTTPS as PSA decides them: {decided} of {decided}");
    assert!(decided >= 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_docker_plugin_protocol_over_tls_for_remote_daemons() {
    let server = Server::start_full(
        crate::support::DEFAULT_POLICIES,
        "  dockerAddress: 127.0.0.1:0\n",
        None,
    );
    let line = server.wait_for_log("docker authorization plugin listening (HTTPS)", 0);
    let log: Value = serde_json::from_str(&line).unwrap();
    let mut client = server.client();
    client.address = log["fields"]["address"].as_str().unwrap().parse().unwrap();

    let r = client
        .request("POST", "/Plugin.Activate", None, Vec::new())
        .await
        .unwrap();
    assert_eq!(r.json(), json!({"Implements": ["authz"]}));
    let sample = crate::support::corpus("docker-authz/requests/run_pid_host.json");
    let sample: Value = serde_json::from_slice(&std::fs::read(sample).unwrap()).unwrap();
    let r = client
        .request(
            "POST",
            "/AuthZPlugin.AuthZReq",
            None,
            sample["authz_request"].to_string().into_bytes(),
        )
        .await
        .unwrap();
    let answer = r.json();
    assert_eq!(answer["Allow"], false);
    assert!(
        answer["Msg"].as_str().unwrap().contains("PidMode=host"),
        "{answer}"
    );
    let r = client
        .request("POST", "/AuthZPlugin.AuthZReq", None, b"not json".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(
        r.json()["Err"]
            .as_str()
            .unwrap()
            .starts_with("not an authorization request")
    );
}

/// `portcullis eval` and `portcullis serve` are one decision path: for every request in the
/// corpora (each PSS fixture as a review, each Docker sample), the server's answer is the
/// evaluator's, field for field.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_answers_exactly_as_eval_for_every_corpus_request() {
    use portcullis::eval::{Input, evaluate};
    let server = Server::start_full(
        crate::support::DEFAULT_POLICIES,
        "  dockerAddress: 127.0.0.1:0\n",
        None,
    );
    let line = server.wait_for_log("docker authorization plugin listening (HTTPS)", 0);
    let log: Value = serde_json::from_str(&line).unwrap();
    let webhook = server.client();
    let mut plugin = server.client();
    plugin.address = log["fields"]["address"].as_str().unwrap().parse().unwrap();
    let set = crate::support::default_set();

    let mut compared = 0;
    for (file, _, text) in crate::conformance::pss_cases() {
        let review = review_of(serde_yaml_ng::from_str(&text).unwrap(), &file);
        let served = webhook.review("/validate", &review).await.json();
        let evaluated = evaluate(&set, Input::parse(&review.to_string()).unwrap()).unwrap();
        assert_eq!(served, evaluated, "{file}");
        compared += 1;
    }
    let recorded = std::fs::read_to_string(crate::support::corpus(
        "kubernetes/sample-admissionreview-pod-create.json",
    ))
    .unwrap();
    let review: Value = serde_json::from_str(&recorded).unwrap();
    let served = webhook.review("/validate", &review).await.json();
    assert_eq!(
        served,
        evaluate(&set, Input::parse(&recorded).unwrap()).unwrap()
    );
    for (file, sample) in crate::conformance::docker_samples() {
        let request = sample["authz_request"].to_string();
        let served = plugin
            .request(
                "POST",
                "/AuthZPlugin.AuthZReq",
                None,
                request.clone().into_bytes(),
            )
            .await
            .unwrap()
            .json();
        let evaluated = evaluate(&set, Input::parse(&request).unwrap()).unwrap();
        assert_eq!(served, evaluated, "{file}");
        compared += 1;
    }
    // The door guards itself in both: the plugin (here `portcullis`) cannot be disabled.
    let disable =
        json!({"RequestMethod": "POST", "RequestUri": "/v1.41/plugins/portcullis:latest/disable"})
            .to_string();
    let served = plugin
        .request(
            "POST",
            "/AuthZPlugin.AuthZReq",
            None,
            disable.clone().into_bytes(),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(served["Allow"], false, "{served}");
    assert_eq!(
        served,
        evaluate(&set, Input::parse(&disable).unwrap()).unwrap()
    );
    println!("requests answered alike by serve and eval: {compared}");
    assert!(compared >= 100, "{compared}");
}
