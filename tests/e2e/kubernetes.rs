//! Against a real Kubernetes API server (kube-apiserver v1.20.2 built from Debian's source
//! package, and etcd, started by `tests/provision/cluster.sh`): Portcullis registered with
//! webhook configurations carrying its CA bundle, and `kubectl` seeing what users see.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;

use crate::server_harness::Server;
use crate::support::{text, workspace};

fn cluster_script() -> PathBuf {
    workspace().join("tests/provision/cluster.sh")
}

/// A started API server; stopped (by the pids its scripts saved) on drop. Its ports are
/// fixed, so the tests that need one take turns.
pub(crate) struct Cluster {
    pub(crate) kubeconfig: PathBuf,
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    pub(crate) fn start() -> Cluster {
        let turn = ONE_CLUSTER_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let out = Command::new("bash")
            .arg(cluster_script())
            .arg("start")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot start the test API server: {}{}\ntests/run.sh (as root) installs and builds what it needs",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let kubeconfig = PathBuf::from(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap()
                .trim(),
        );
        Cluster {
            kubeconfig,
            _turn: turn,
        }
    }

    pub(crate) fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new("kubectl");
        command.env("KUBECONFIG", &self.kubeconfig).args(args);
        match stdin {
            Some(text) => {
                let mut child = command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
            None => command.output().unwrap(),
        }
    }

    /// A namespace Pods can be created in: this cluster runs no controller that would make
    /// its `default` service account.
    pub(crate) fn namespace_for_pods(&self, name: &str) {
        for args in [
            vec!["create", "namespace", name],
            vec!["-n", name, "create", "serviceaccount", "default"],
        ] {
            let out = self.kubectl(&args, None);
            assert!(out.status.success(), "{args:?}: {}", text(&out));
        }
    }

    pub(crate) fn apply(&self, yaml: &str) -> Output {
        self.kubectl(&["apply", "-f", "-"], Some(yaml))
    }

    /// Applies `yaml` until it is denied by Portcullis (webhook configurations take effect
    /// asynchronously); kubectl's output.
    pub(crate) fn apply_until_denied(&self, yaml: &str) -> String {
        eventually("the webhook never answered", || {
            let out = self.apply(yaml);
            match text(&out).contains("denied by portcullis") {
                true => Ok(text(&out)),
                false => Err(text(&out)),
            }
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(cluster_script())
            .arg("stop")
            .output();
    }
}

/// Retries `attempt` (the cluster applies configuration and labels asynchronously) until it
/// returns `Ok`, for up to 30 seconds; then fails with `what` and the last answer.
fn eventually<T>(what: &str, attempt: impl FnMut() -> Result<T, String>) -> T {
    crate::support::eventually(what, Duration::from_secs(30), attempt)
}

pub(crate) const POLICIES: &str = r#"
policies:
  - name: privileged
    module: builtin:privileged
  - name: host-namespaces
    module: builtin:host-namespaces
  - name: host-mounts
    module: builtin:host-mounts
    match:
      exemptUsers: ["system:serviceaccount:ops:*"]
  - name: drop-all
    module: builtin:capabilities
    allowedToMutate: true
    settings:
      addDropAll: true
  - name: registries
    module: builtin:registries
    mode: warn
    settings:
      rejectLatestTag: true
  - name: prod-registries
    module: builtin:registries
    settings:
      allowedRegistries: [registry.example.com]
    match:
      namespaceSelector:
        matchLabels: {env: prod}
podSecurity:
  enabled: true
  acceptPodSecurityAdmissionLabels: true
"#;

pub(crate) fn webhooks(port: u16, ca: &str, failure_policy: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    let hook = |kind: &str, name: &str, path: &str| {
        format!(
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: {kind}
metadata:
  name: portcullis-e2e
webhooks:
  - name: {name}
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: {failure_policy}
    timeoutSeconds: 5
    clientConfig:
      url: https://127.0.0.1:{port}{path}
      caBundle: {ca}
    namespaceSelector:
      matchExpressions:
        - {{key: portcullis-e2e/skip, operator: DoesNotExist}}
    rules:
      - operations: [CREATE, UPDATE]
        apiGroups: ["", apps]
        apiVersions: [v1]
        resources: [pods, deployments]
"#
        )
    };
    format!(
        "{}---\n{}",
        hook(
            "MutatingWebhookConfiguration",
            "mutate.portcullis.dev",
            "/mutate"
        ),
        hook(
            "ValidatingWebhookConfiguration",
            "validate.portcullis.dev",
            "/validate"
        )
    )
}

pub(crate) fn pod(name: &str, extra_spec: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: t1\nspec:\n  automountServiceAccountToken: false\n{extra_spec}  containers:\n    - name: c\n      image: {image}\n"
    )
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn a_real_api_server_consults_portcullis() {
    let cluster = Cluster::start();
    let server = Server::start_with_kubeconfig(POLICIES, Some(&cluster.kubeconfig));
    let port = server.address.port();

    for args in [
        vec!["create", "namespace", "t1"],
        vec!["create", "namespace", "ops"],
        vec!["-n", "t1", "create", "serviceaccount", "default"],
        vec![
            "create",
            "clusterrolebinding",
            "ops-deployer",
            "--clusterrole=cluster-admin",
            "--serviceaccount=ops:deployer",
        ],
    ] {
        let out = cluster.kubectl(&args, None);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let out = cluster.kubectl(
        &[
            "-n",
            "t1",
            "patch",
            "serviceaccount",
            "default",
            "-p",
            r#"{"automountServiceAccountToken":false}"#,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster.apply(&webhooks(port, &server.ca.pem, "Fail"));
    assert!(out.status.success(), "{}", text(&out));

    // The configuration becomes active asynchronously: probe with a server-side dry run.
    let privileged = pod("priv", "", "busybox:1.36").replace(
        "      image: busybox:1.36\n",
        "      image: busybox:1.36\n      securityContext:\n        privileged: true\n",
    );
    eventually("the webhook never answered", || {
        let out = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&privileged));
        if text(&out).contains("denied by portcullis") {
            Ok(())
        } else {
            Err(text(&out))
        }
    });

    // A privileged Pod is refused with Portcullis' message.
    let out = cluster.apply(&privileged);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("admission webhook \"validate.portcullis.dev\" denied the request: denied by portcullis: privileged: container \"c\" must not set securityContext.privileged=true (spec.containers[0].securityContext.privileged)"),
        "{}",
        text(&out)
    );

    // A Deployment with hostPID is refused at creation, not later at pod creation.
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: t1\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      hostPID: true\n      containers:\n        - name: web\n          image: nginx:1.25\n";
    let out = cluster.apply(deployment);
    assert!(!out.status.success());
    assert!(text(&out).contains("host-namespaces: hostPID=true shares the host's process namespace, which is not allowed (spec.template.spec.hostPID)"), "{}", text(&out));

    // An ordinary Pod is created, mutated: the stored object carries drop ALL.
    let out = cluster.apply(&pod("ok", "", "busybox:1.36"));
    assert!(out.status.success(), "{}", text(&out));
    let stored = cluster.kubectl(&["-n", "t1", "get", "pod", "ok", "-o", "json"], None);
    let stored: serde_json::Value = serde_json::from_slice(&stored.stdout).unwrap();
    assert_eq!(
        stored["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );

    // A warn-mode policy's warning is printed by kubectl; the Pod is created.
    let out = cluster.apply(&pod("untagged", "", "busybox"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Warning: registries: container \"c\" image \"busybox\" has no tag, which means latest; pin a version"), "{}", text(&out));

    // --dry-run=server is decided like any request, and nothing is stored.
    let out = cluster.kubectl(
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&pod("dry", "", "busybox:1.36")),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !cluster
            .kubectl(&["-n", "t1", "get", "pod", "dry"], None)
            .status
            .success()
    );

    // Exempt users: a host path from ops' service account passes host-mounts.
    let host_path = pod(
        "hostpath",
        "  volumes:\n    - name: h\n      hostPath: {path: /srv}\n",
        "busybox:1.36",
    );
    let out = cluster.apply(&host_path);
    assert!(
        text(&out)
            .contains("host-mounts: hostPath volume \"h\" (/srv): host paths are not allowed"),
        "{}",
        text(&out)
    );
    let out = cluster.kubectl(
        &[
            "--as=system:serviceaccount:ops:deployer",
            "apply",
            "-f",
            "-",
        ],
        Some(&host_path),
    );
    assert!(out.status.success(), "{}", text(&out));

    // Namespace selectors follow real namespace labels, changed with kubectl.
    let dry_run = |pod_name: &str| {
        text(&cluster.kubectl(
            &["apply", "--dry-run=server", "-f", "-"],
            Some(&pod(pod_name, "", "busybox:1.36")),
        ))
    };
    let retry_until = |what: &str, pod_name: &str, denied: bool| {
        eventually(what, || {
            let shown = dry_run(pod_name);
            let refused = shown.contains("prod-registries: container \"c\" image \"busybox:1.36\" comes from docker.io/library/busybox");
            if refused == denied {
                Ok(())
            } else {
                Err(shown)
            }
        })
    };
    retry_until("unlabelled namespace", "sel-1", false);
    assert!(
        cluster
            .kubectl(&["label", "namespace", "t1", "env=prod"], None)
            .status
            .success()
    );
    retry_until("after labelling env=prod", "sel-2", true);
    assert!(
        cluster
            .kubectl(&["label", "namespace", "t1", "env-"], None)
            .status
            .success()
    );
    retry_until("after removing the label", "sel-3", false);
    // Pod Security levels per namespace, from our labels and from PSA's own.
    let retry_pod = |what: &str, pod_name: &str, want: &str| {
        eventually(what, || {
            let shown = dry_run(pod_name);
            if shown.contains(want) {
                Ok(shown)
            } else {
                Err(shown)
            }
        })
    };
    assert!(
        cluster
            .kubectl(
                &[
                    "label",
                    "namespace",
                    "t1",
                    "portcullis.dev/enforce=restricted",
                    "portcullis.dev/enforce-version=v1.30"
                ],
                None
            )
            .status
            .success()
    );
    let shown = retry_pod(
        "enforce=restricted",
        "pss-1",
        "denied by portcullis: pod-security-enforce: seccompProfile",
    );
    // The drop-all mutation ran first, so the restricted capabilities check is satisfied.
    assert!(shown.contains("runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true)"), "{shown}");
    assert!(!shown.contains("unrestricted capabilities"), "{shown}");
    assert!(
        cluster
            .kubectl(
                &[
                    "label",
                    "namespace",
                    "t1",
                    "portcullis.dev/enforce-",
                    "portcullis.dev/enforce-version-",
                    "pod-security.kubernetes.io/warn=restricted"
                ],
                None
            )
            .status
            .success()
    );
    let shown = retry_pod(
        "PSA's warn label",
        "pss-2",
        "Warning: pod-security-warn: seccompProfile",
    );
    assert!(
        shown.contains("created (server dry run)") || shown.contains("configured (server dry run)"),
        "{shown}"
    );
    assert!(
        cluster
            .kubectl(
                &[
                    "label",
                    "namespace",
                    "t1",
                    "pod-security.kubernetes.io/warn-"
                ],
                None
            )
            .status
            .success()
    );

    let ready = server.client();
    let ready = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move { ready.get("/readyz").await.json() });
    assert_eq!(ready["namespaceLabels"], "available");

    // The audit log saw it all, dry runs marked.
    let records = server.audit_records();
    assert!(
        records
            .iter()
            .any(|r| r["name"] == "dry" && r["dryRun"] == true && r["endpoint"] == "/validate"),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["name"] == "priv" && r["allowed"] == false)
    );

    // The webhook stopped: failurePolicy Fail refuses, Ignore lets requests through.
    drop(server);
    let out = cluster.apply(&pod("while-down", "", "busybox:1.36"));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("failed calling webhook"),
        "{}",
        text(&out)
    );
    println!(
        "with the webhook down and failurePolicy Fail, kubectl says: {}",
        text(&out).trim()
    );
    let out = cluster.apply(&webhooks(port, "unused", "Ignore"));
    assert!(out.status.success(), "{}", text(&out));
    eventually("failurePolicy Ignore never took effect", || {
        let out = cluster.apply(&pod("while-down", "", "busybox:1.36"));
        if out.status.success() {
            Ok(())
        } else {
            Err(text(&out))
        }
    });
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn the_charts_default_render_is_accepted_by_a_1_20_api_server() {
    let cluster = Cluster::start();
    let out = cluster.kubectl(&["create", "namespace", "portcullis"], None);
    assert!(out.status.success(), "{}", text(&out));
    // 1.20 serves policy/v1beta1 and autoscaling/v2beta2 only: the chart must pick them.
    let objects = crate::chart::render(&serde_json::json!({
        "kubeVersionOverride": "v1.20.2",
        "autoscaling": {"enabled": true},
    }));
    let mut stream = String::new();
    for object in &objects {
        stream.push_str("---\n");
        stream.push_str(&serde_yaml_ng::to_string(object).unwrap());
    }
    let out = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&stream));
    assert!(out.status.success(), "{}", text(&out));
    let accepted = text(&out)
        .lines()
        .filter(|l| l.contains("(server dry run)"))
        .count();
    assert_eq!(accepted, objects.len(), "{}", text(&out));
    println!("objects of the chart accepted by kube-apiserver v1.20.2 (dry run): {accepted}");
}

/// Config of an engine that registers itself at `https://127.0.0.1:PORT`.
fn self_registering_config(
    port: u16,
    dir: &std::path::Path,
    timeout: u32,
    policies: &str,
) -> String {
    format!(
        "{policies}server:\n  address: 127.0.0.1:{port}\naudit:\n  file: {}\n  stdout: false\nruntime:\n  cacheDir: {}\nkubernetes:\n  ownNamespace: guard\n  registration:\n    name: portcullis-self\n    url: https://127.0.0.1:{port}\n    tlsSecret: portcullis-tls\n    timeoutSeconds: {timeout}\n    namespaceSelector:\n      matchExpressions:\n        - {{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, guard]}}\n",
        dir.join("audit.log").display(),
        crate::support::cache_dir().display()
    )
}

fn get_json(cluster: &Cluster, args: &[&str]) -> serde_json::Value {
    let out = cluster.kubectl(&[args, &["-o", "json"]].concat(), None);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn the_engine_registers_its_own_webhook_configurations() {
    use serde_json::json;
    let cluster = Cluster::start();
    for args in [
        vec!["create", "namespace", "guard"],
        vec!["create", "namespace", "work"],
        vec!["-n", "work", "create", "serviceaccount", "default"],
    ] {
        let out = cluster.kubectl(&args, None);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    // Someone else's MutatingWebhookConfiguration under the name the engine will use.
    let foreign = "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata:\n  name: portcullis-self\nwebhooks:\n  - name: theirs.example.com\n    admissionReviewVersions: [v1]\n    sideEffects: None\n    failurePolicy: Ignore\n    clientConfig: {url: 'https://127.0.0.1:1/theirs'}\n    rules: [{operations: [CREATE], apiGroups: [''], apiVersions: [v1], resources: [configmaps]}]\n";
    let out = cluster.apply(foreign);
    assert!(out.status.success(), "{}", text(&out));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.yaml");
    let policies = "policies:\n  - {name: privileged, module: builtin:privileged}\n  - name: drop-all\n    module: builtin:capabilities\n    allowedToMutate: true\n    settings: {addDropAll: true}\n";
    std::fs::write(
        &config,
        self_registering_config(port, dir.path(), 5, policies),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .env("HOME", dir.path())
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST");
    let (mut child, log) = crate::support::serve(command, &config);
    crate::support::wait_for_log(&log, "exists and was not created by portcullis", 0);

    // The replicas' shared CA and certificate, in a Secret the engine made and labelled.
    let secret = get_json(
        &cluster,
        &["-n", "guard", "get", "secret", "portcullis-tls"],
    );
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "portcullis"
    );
    let ca = secret["data"]["ca.crt"].as_str().unwrap().to_string();
    assert!(secret["data"]["tls.key"].is_string());

    // Its ValidatingWebhookConfiguration, exactly: CA bundle from the Secret, rules derived
    // from the policies (no match rules: every workload kind, CREATE and UPDATE).
    let validating = get_json(
        &cluster,
        &["get", "validatingwebhookconfiguration", "portcullis-self"],
    );
    assert_eq!(
        validating["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "portcullis"})
    );
    let workloads = |operations: serde_json::Value| {
        json!([
            {"apiGroups": [""], "apiVersions": ["v1"], "operations": operations, "resources": ["pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"], "scope": "*"},
            {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": operations, "resources": ["daemonsets", "deployments", "replicasets", "statefulsets"], "scope": "*"},
            {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": operations, "resources": ["cronjobs", "jobs"], "scope": "*"},
        ])
    };
    assert_eq!(
        validating["webhooks"],
        json!([{
            "name": "validate.portcullis.dev",
            "admissionReviewVersions": ["v1", "v1beta1"],
            "clientConfig": {"url": format!("https://127.0.0.1:{port}/validate"), "caBundle": ca},
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "guard"]}]},
            "objectSelector": {},
            "rules": workloads(json!(["CREATE", "UPDATE"])),
            "sideEffects": "None",
            "timeoutSeconds": 5,
        }])
    );
    // The foreign configuration is untouched.
    let mutating = get_json(
        &cluster,
        &["get", "mutatingwebhookconfiguration", "portcullis-self"],
    );
    assert!(mutating["metadata"]["labels"].is_null(), "{mutating}");
    assert_eq!(mutating["webhooks"][0]["name"], "theirs.example.com");

    // The API server trusts the registered CA: its calls reach the engine and are decided.
    let privileged = pod("priv", "", "busybox:1.36")
        .replace("namespace: t1", "namespace: work")
        .replace(
            "      image: busybox:1.36\n",
            "      image: busybox:1.36\n      securityContext:\n        privileged: true\n",
        );
    eventually("the registered webhook never answered", || {
        let out = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&privileged));
        if text(&out).contains("denied by portcullis: privileged:") {
            Ok(())
        } else {
            Err(text(&out))
        }
    });

    // A reload re-registers: the owner removed their object, the timeout changed and the
    // privileged policy now matches Pods only.
    let out = cluster.kubectl(
        &["delete", "mutatingwebhookconfiguration", "portcullis-self"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let policies = "policies:\n  - name: privileged\n    module: builtin:privileged\n    match:\n      rules: [{apiGroups: [''], apiVersions: [v1], kinds: [Pod]}]\n  - name: drop-all\n    module: builtin:capabilities\n    allowedToMutate: true\n    settings: {addDropAll: true}\n";
    std::fs::write(
        &config,
        self_registering_config(port, dir.path(), 7, policies),
    )
    .unwrap();
    let mark = log.lock().unwrap().len();
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    crate::support::wait_for_log(&log, "webhook configurations registered", mark);
    let validating = get_json(
        &cluster,
        &["get", "validatingwebhookconfiguration", "portcullis-self"],
    );
    assert_eq!(validating["webhooks"][0]["timeoutSeconds"], 7);
    assert_eq!(
        validating["webhooks"][0]["rules"],
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"], "scope": "*"}])
    );
    let mutating = get_json(
        &cluster,
        &["get", "mutatingwebhookconfiguration", "portcullis-self"],
    );
    assert_eq!(
        mutating["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "portcullis"})
    );
    assert_eq!(mutating["webhooks"][0]["name"], "mutate.portcullis.dev");
    assert_eq!(mutating["webhooks"][0]["reinvocationPolicy"], "IfNeeded");
    assert_eq!(
        mutating["webhooks"][0]["clientConfig"]["url"],
        format!("https://127.0.0.1:{port}/mutate")
    );
    assert_eq!(
        mutating["webhooks"][0]["rules"],
        workloads(json!(["CREATE", "UPDATE"]))
    );
    // The shared certificate stayed the same across the reload.
    let secret = get_json(
        &cluster,
        &["-n", "guard", "get", "secret", "portcullis-tls"],
    );
    assert_eq!(secret["data"]["ca.crt"], ca.as_str());
    let _ = child.kill();
    let _ = child.wait();

    // `portcullis register` does the same once, with the CA of the shared Secret.
    std::fs::write(
        &config,
        self_registering_config(port, dir.path(), 9, policies),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["register", "--config"])
        .arg(&config)
        .env("HOME", dir.path())
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let validating = get_json(
        &cluster,
        &["get", "validatingwebhookconfiguration", "portcullis-self"],
    );
    assert_eq!(validating["webhooks"][0]["timeoutSeconds"], 9);
    assert_eq!(
        validating["webhooks"][0]["clientConfig"]["caBundle"],
        ca.as_str()
    );
}

/// Pods and Deployments admitted before Portcullis was switched on, then updated: what
/// changes nothing a policy reads passes, as Pod Security Admission lets it pass; what
/// changes an image or a pod template is decided.
#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn updates_to_workloads_admitted_before_enforcement() {
    let cluster = Cluster::start();
    let server = Server::start_with_kubeconfig(
        "policies:\n  - name: pss-baseline\n    module: builtin:pss-baseline\n",
        Some(&cluster.kubeconfig),
    );
    cluster.namespace_for_pods("t1");

    // Admitted while no webhook was registered.
    let privileged = pod("old", "", "busybox:1.36")
        .replace(
            "      image: busybox:1.36\n",
            "      image: busybox:1.36\n      securityContext:\n        privileged: true\n",
        )
        .replace(
            "  namespace: t1\n",
            "  namespace: t1\n  finalizers: [example.com/hold]\n",
        );
    let out = cluster.apply(&privileged);
    assert!(out.status.success(), "{}", text(&out));
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: t1\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      hostPID: true\n      containers:\n        - name: web\n          image: nginx:1.25\n";
    let out = cluster.apply(deployment);
    assert!(out.status.success(), "{}", text(&out));

    let out = cluster.apply(&webhooks(server.address.port(), &server.ca.pem, "Fail"));
    assert!(out.status.success(), "{}", text(&out));
    eventually("the webhook never answered", || {
        let fresh = privileged.replace("name: old", "name: probe");
        let out = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&fresh));
        if text(&out).contains("denied by portcullis") {
            Ok(())
        } else {
            Err(text(&out))
        }
    });

    let ok = |args: &[&str]| {
        let out = cluster.kubectl(args, None);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    let refused = |args: &[&str], why: &str| {
        let out = cluster.kubectl(args, None);
        assert!(!out.status.success(), "{args:?} was allowed");
        assert!(text(&out).contains(why), "{args:?}: {}", text(&out));
    };
    ok(&["-n", "t1", "label", "pod", "old", "team=a"]);
    ok(&["-n", "t1", "annotate", "pod", "old", "note=checked"]);
    refused(
        &["-n", "t1", "set", "image", "pod/old", "c=busybox:1.37"],
        "privileged",
    );
    ok(&["-n", "t1", "label", "deployment", "web", "team=a"]);
    ok(&["-n", "t1", "scale", "deployment", "web", "--replicas=2"]);
    refused(
        &[
            "-n",
            "t1",
            "set",
            "image",
            "deployment/web",
            "web=nginx:1.26",
        ],
        "hostPID",
    );

    // A Pod stuck terminating on its finalizer can be released.
    ok(&["-n", "t1", "delete", "pod", "old", "--wait=false"]);
    ok(&[
        "-n",
        "t1",
        "patch",
        "pod",
        "old",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    eventually("the pod was not deleted", || {
        let out = cluster.kubectl(&["-n", "t1", "get", "pod", "old"], None);
        if text(&out).contains("NotFound") {
            Ok(())
        } else {
            Err(text(&out))
        }
    });

    // The audit log says which updates were let through without evaluation.
    let skipped = server
        .audit_records()
        .into_iter()
        .filter(|r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("allowed without evaluation"))
        })
        .count();
    assert!(skipped >= 4, "{skipped} updates recorded as not evaluated");
}

/// An ephemeral container added to a running Pod (`kubectl debug`, the
/// `pods/ephemeralcontainers` subresource; a 1.20 API server sends it as the
/// `EphemeralContainers` kind) is decided like any other container. API servers before 1.22
/// forbid a security context on ephemeral containers, so the image decides here.
#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn ephemeral_containers_are_decided() {
    let cluster = Cluster::start();
    let server = Server::start_with_kubeconfig(
        "policies:\n  - name: pss-baseline\n    module: builtin:pss-baseline\n  - name: registries\n    module: builtin:registries\n    settings:\n      allowedRegistries: [registry.example.com]\n",
        Some(&cluster.kubeconfig),
    );
    cluster.namespace_for_pods("t1");
    let out = cluster.apply(&pod("app", "", "registry.example.com/app:1"));
    assert!(out.status.success(), "{}", text(&out));
    let hooks = webhooks(server.address.port(), &server.ca.pem, "Fail").replace(
        "resources: [pods, deployments]",
        "resources: [pods, pods/ephemeralcontainers, deployments]",
    );
    let out = cluster.apply(&hooks);
    assert!(out.status.success(), "{}", text(&out));

    let debug = |name: &str, image: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"EphemeralContainers","metadata":{{"name":"app","namespace":"t1"}},
               "ephemeralContainers":[{{"name":"{name}","image":"{image}","command":["sh"],
               "stdin":true,"tty":true,"terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}}]}}"#
        )
    };
    let replace = |body: &str| {
        cluster.kubectl(
            &[
                "replace",
                "--raw",
                "/api/v1/namespaces/t1/pods/app/ephemeralcontainers",
                "-f",
                "-",
            ],
            Some(body),
        )
    };
    let refused = eventually("the webhook never decided a debug container", || {
        let out = replace(&debug("shell", "busybox:1.36"));
        if !out.status.success() && text(&out).contains("denied by portcullis") {
            Ok(text(&out))
        } else {
            Err(text(&out))
        }
    });
    assert!(refused.contains("registries"), "{refused}");
    assert!(refused.contains("ephemeralContainers[0]"), "{refused}");
    // A debug container from the allowed registry is added.
    let out = replace(&debug("shell", "registry.example.com/debug:1"));
    assert!(out.status.success(), "{}", text(&out));
    let stored = cluster.kubectl(&["-n", "t1", "get", "pod", "app", "-o", "json"], None);
    let stored: serde_json::Value = serde_json::from_slice(&stored.stdout).unwrap();
    assert_eq!(stored["spec"]["ephemeralContainers"][0]["name"], "shell");
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn a_claim_bound_to_a_host_path_is_a_host_path() {
    let cluster = Cluster::start();
    let server = Server::start_with_kubeconfig(
        "policies:\n  - name: pss-baseline\n    module: builtin:pss-baseline\n  - name: host-mounts\n    module: builtin:host-mounts\n",
        Some(&cluster.kubeconfig),
    );
    cluster.namespace_for_pods("t1");
    // A hostPath volume of the node's root, and a claim made for it; and an ordinary one.
    let volumes = r#"
apiVersion: v1
kind: PersistentVolume
metadata: {name: node-root}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  hostPath: {path: /}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: nfs-data}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  nfs: {server: nfs.example.com, path: /export}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: root, namespace: t1}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: node-root
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: t1}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: nfs-data
  resources: {requests: {storage: 1Gi}}
"#;
    let out = cluster.apply(volumes);
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster.apply(&webhooks(server.address.port(), &server.ca.pem, "Fail"));
    assert!(out.status.success(), "{}", text(&out));

    let with_claim = |name: &str, claim: &str| {
        pod(
            name,
            &format!(
                "  volumes:\n    - name: v\n      persistentVolumeClaim: {{claimName: {claim}}}\n"
            ),
            "registry.example.com/app:1",
        )
    };
    // The claim's watch may trail the apply by a moment.
    let refused = eventually("a Pod on the node-root claim refused", || {
        let out = cluster.apply(&with_claim("reaches-root", "root"));
        if !out.status.success() && text(&out).contains("denied by portcullis") {
            Ok(text(&out))
        } else {
            let _ = cluster.kubectl(&["-n", "t1", "delete", "pod", "reaches-root"], None);
            Err(text(&out))
        }
    });
    assert!(refused.contains("host-mounts"), "{refused}");
    assert!(
        refused.contains("volume \"v\" (persistentVolumeClaim bound to the host's /)"),
        "{refused}"
    );
    // Pod Security Admission does not look through claims, and pss-baseline is PSA.
    assert!(!refused.contains("pss-baseline"), "{refused}");
    let out = cluster.apply(&with_claim("ordinary", "data"));
    assert!(out.status.success(), "{}", text(&out));
}
