//! `portcullis audit kubernetes` against a real API server holding workloads created before
//! any policy was switched on: what it reports, exactly, in each format and scope.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use crate::kubernetes::Cluster;
use crate::support::text;
use crate::support::workspace;

const CONFIG: &str = r#"
policies:
  - name: pss-baseline
    module: builtin:pss-baseline
  - name: host-namespaces-warn
    module: builtin:host-namespaces
    mode: warn
  - name: drop-all
    module: builtin:capabilities
    allowedToMutate: true
    settings: {addDropAll: true}
    match:
      rules: [{apiGroups: [""], apiVersions: [v1], kinds: [Pod]}]
"#;

/// Compliant and non-compliant Pods, Deployments and a CronJob. The cluster runs no
/// controllers, so the Deployments and the CronJob make no Pods of their own.
const WORKLOADS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: good, namespace: audit-a, labels: {app: web}}
spec:
  automountServiceAccountToken: false
  containers:
    - name: app
      image: busybox
      securityContext: {capabilities: {drop: [ALL]}}
---
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: audit-a}
spec:
  automountServiceAccountToken: false
  containers:
    - name: app
      image: busybox
      securityContext: {privileged: true}
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet, namespace: audit-a, labels: {app: web}}
spec:
  automountServiceAccountToken: false
  hostNetwork: true
  containers:
    - name: app
      image: busybox
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: audit-b, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: busybox}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-priv, namespace: audit-b}
spec:
  selector: {matchLabels: {app: web-priv}}
  template:
    metadata: {labels: {app: web-priv}}
    spec:
      containers:
        - name: app
          image: busybox
          securityContext: {privileged: true}
---
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: nightly, namespace: audit-b}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          hostPID: true
          restartPolicy: Never
          containers: [{name: job, image: busybox}]
"#;

pub(crate) fn audit(cluster: &Cluster, config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["audit", "kubernetes", "--config"])
        .arg(config)
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env(
            "XDG_CACHE_HOME",
            workspace().join("target").join("e2e-cache-cli"),
        )
        .output()
        .expect("run portcullis")
}

/// `(kind, namespace/name, policy, result, wouldDeny)` of every JSON line.
fn findings(out: &Output) -> BTreeSet<(String, String, String, String, bool)> {
    assert!(out.status.success(), "audit failed: {}", text(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert_eq!(v["source"], "audit", "{line}");
            assert_eq!(v["door"], "kubernetes", "{line}");
            assert!(!v["resource"]["uid"].as_str().unwrap().is_empty(), "{line}");
            let r = &v["resource"];
            (
                r["kind"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    r["namespace"].as_str().unwrap(),
                    r["name"].as_str().unwrap()
                ),
                v["policy"].as_str().unwrap().to_string(),
                v["result"].as_str().unwrap().to_string(),
                v["wouldDeny"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn finding(
    kind: &str,
    object: &str,
    policy: &str,
    result: &str,
    would_deny: bool,
) -> (String, String, String, String, bool) {
    (
        kind.into(),
        object.into(),
        policy.into(),
        result.into(),
        would_deny,
    )
}

/// A cluster holding `WORKLOADS`, and the audit's config written in a directory.
pub(crate) fn cluster_with_workloads() -> (Cluster, tempfile::TempDir, std::path::PathBuf) {
    let cluster = Cluster::start();
    cluster.namespace_for_pods("audit-a");
    let out = cluster.kubectl(&["create", "namespace", "audit-b"], None);
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster.apply(WORKLOADS);
    assert!(out.status.success(), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    (cluster, dir, config)
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn what_already_runs_is_reported_as_enforce_mode_would_decide_it() {
    let (cluster, _dir, config) = cluster_with_workloads();

    let all = findings(&audit(&cluster, &config, &["--format", "json"]));
    let expected = BTreeSet::from([
        finding("Pod", "audit-a/priv", "pss-baseline", "fail", true),
        finding("Pod", "audit-a/priv", "drop-all", "warn", false),
        finding("Pod", "audit-a/hostnet", "pss-baseline", "fail", true),
        finding(
            "Pod",
            "audit-a/hostnet",
            "host-namespaces-warn",
            "fail",
            false,
        ),
        finding("Pod", "audit-a/hostnet", "drop-all", "warn", false),
        finding(
            "Deployment",
            "audit-b/web-priv",
            "pss-baseline",
            "fail",
            true,
        ),
        // A 1.20 API server serves CronJob as batch/v1beta1 only.
        finding("CronJob", "audit-b/nightly", "pss-baseline", "fail", true),
        finding(
            "CronJob",
            "audit-b/nightly",
            "host-namespaces-warn",
            "fail",
            false,
        ),
    ]);
    assert_eq!(all, expected);

    // A line says why, with the field, and a mutating policy's line carries its patch.
    let out = audit(&cluster, &config, &["--format", "json", "-n", "audit-a"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let privileged = lines
        .iter()
        .find(|l| l["resource"]["name"] == "priv" && l["policy"] == "pss-baseline")
        .expect("a line for the privileged Pod");
    assert_eq!(
        privileged["reasons"][0]["field"], "spec.containers[0].securityContext.privileged",
        "{privileged}"
    );
    let patch = lines
        .iter()
        .find(|l| l["resource"]["name"] == "priv" && l["policy"] == "drop-all")
        .expect("a line for the patch");
    assert_eq!(patch["patch"][0]["op"], "add", "{patch}");
    assert!(
        patch["patch"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("/spec/containers/0/securityContext"),
        "{patch}"
    );

    // Scopes: one namespace, a label selector, one policy.
    let in_b: BTreeSet<_> = all
        .iter()
        .filter(|f| f.1.starts_with("audit-b/"))
        .cloned()
        .collect();
    assert_eq!(
        findings(&audit(
            &cluster,
            &config,
            &["--format", "json", "-n", "audit-b"]
        )),
        in_b
    );
    assert_eq!(
        findings(&audit(
            &cluster,
            &config,
            &["--format", "json", "-l", "app=web"]
        )),
        BTreeSet::from([
            finding("Pod", "audit-a/hostnet", "pss-baseline", "fail", true),
            finding(
                "Pod",
                "audit-a/hostnet",
                "host-namespaces-warn",
                "fail",
                false
            ),
            finding("Pod", "audit-a/hostnet", "drop-all", "warn", false),
        ])
    );
    let baseline: BTreeSet<_> = all
        .iter()
        .filter(|f| f.2 == "pss-baseline")
        .cloned()
        .collect();
    assert_eq!(
        findings(&audit(
            &cluster,
            &config,
            &["--format", "json", "--policy", "pss-baseline"]
        )),
        baseline
    );
    // Every result, passes included, with --show-passes: 3 policies on each of 3 Pods, 2 on
    // each of 3 pod-template objects.
    let out = audit(&cluster, &config, &["--format", "json", "--show-passes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 15);

    // The table: counts by policy and namespace, the total, and the findings.
    let out = audit(&cluster, &config, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let row = |policy: &str, namespace: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&policy) && cells.get(1) == Some(&namespace)
            })
            .unwrap_or_else(|| panic!("no row for {policy} in {namespace}:\n{table}"))
            .split_whitespace()
            .skip(2)
            .map(str::to_string)
            .collect()
    };
    // CHECKED PASS FAIL WARN ERROR SKIP WOULD-DENY
    assert_eq!(
        row("pss-baseline", "audit-a"),
        ["3", "1", "2", "0", "0", "0", "2"]
    );
    assert_eq!(
        row("pss-baseline", "audit-b"),
        ["3", "1", "2", "0", "0", "0", "2"]
    );
    assert_eq!(
        row("drop-all", "audit-a"),
        ["3", "1", "0", "2", "0", "0", "0"]
    );
    assert_eq!(
        row("host-namespaces-warn", "audit-b"),
        ["3", "2", "1", "0", "0", "0", "0"]
    );
    assert!(
        table.contains(
            "6 objects decided (CronJob 1, Deployment 2, Pod 3); 4 would be refused in enforce mode."
        ),
        "{table}"
    );
    assert!(
        table.contains("Pod audit-a/priv: pss-baseline fail (enforce, would deny): "),
        "{table}"
    );

    // Nothing was changed: the privileged Pod is still as it was written.
    let out = cluster.kubectl(
        &[
            "-n",
            "audit-a",
            "get",
            "pod",
            "priv",
            "-o",
            "jsonpath={.spec.containers[0].securityContext}",
        ],
        None,
    );
    assert!(!text(&out).contains("drop"), "{}", text(&out));
}

/// Every PolicyReport in the cluster: name → (scope kind/namespace/name, summary, the
/// policies and results).
fn policy_reports(cluster: &Cluster) -> Vec<serde_json::Value> {
    let out = cluster.kubectl(&["get", "policyreports", "-A", "-o", "json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"].as_array().unwrap().clone()
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn policy_reports_are_written_replaced_and_cleaned_up() {
    let (cluster, _dir, config) = cluster_with_workloads();

    // Without the CRDs: a clear error, nothing half-done said to be done.
    let out = audit(&cluster, &config, &["--write-reports"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the Policy Report CRDs are not installed"),
        "{}",
        text(&out)
    );

    let crds = workspace().join("deploy/kubernetes/policyreport-crds.yaml");
    let out = cluster.kubectl(&["apply", "-f", crds.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster.kubectl(
        &[
            "wait",
            "--for=condition=established",
            "--timeout=60s",
            "crd/policyreports.wgpolicyk8s.io",
            "crd/clusterpolicyreports.wgpolicyk8s.io",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));

    let out = audit(&cluster, &config, &["--write-reports"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("wrote 6 policy reports, deleted 0 stale ones"),
        "{}",
        text(&out)
    );
    let reports = policy_reports(&cluster);
    assert_eq!(reports.len(), 6, "{reports:#?}");
    let uid = |namespace: &str, kind: &str, name: &str| -> String {
        let out = cluster.kubectl(
            &[
                "-n",
                namespace,
                "get",
                kind,
                name,
                "-o",
                "jsonpath={.metadata.uid}",
            ],
            None,
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let priv_uid = uid("audit-a", "pod", "priv");
    let report = reports
        .iter()
        .find(|r| r["metadata"]["name"] == priv_uid.as_str())
        .expect("the privileged Pod's report is named by its UID");
    assert_eq!(report["metadata"]["namespace"], "audit-a");
    assert_eq!(report["scope"]["kind"], "Pod");
    assert_eq!(report["scope"]["name"], "priv");
    assert_eq!(
        report["metadata"]["ownerReferences"][0]["uid"],
        priv_uid.as_str()
    );
    assert_eq!(
        report["summary"],
        serde_json::json!({"pass": 1, "fail": 1, "warn": 1, "error": 0, "skip": 0})
    );
    let results: BTreeSet<(String, String)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["source"], "portcullis");
            (
                r["policy"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        BTreeSet::from([
            ("drop-all".to_string(), "warn".to_string()),
            ("host-namespaces-warn".to_string(), "pass".to_string()),
            ("pss-baseline".to_string(), "fail".to_string()),
        ])
    );
    let failed = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["policy"] == "pss-baseline")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("(spec.containers[0].securityContext.privileged)"),
        "{failed}"
    );
    assert_eq!(failed["properties"]["wouldDeny"], "true");

    // What kubectl users see.
    let out = cluster.kubectl(&["get", "policyreports", "-n", "audit-b"], None);
    let listing = text(&out);
    let cron = listing
        .lines()
        .find(|l| l.contains("nightly"))
        .unwrap_or_else(|| panic!("{listing}"));
    // NAME KIND NAME PASS FAIL WARN ERROR SKIP AGE
    let cells: Vec<&str> = cron.split_whitespace().collect();
    assert_eq!(
        cells[1..8],
        ["CronJob", "nightly", "0", "2", "0", "0", "0"],
        "{listing}"
    );

    // A second audit replaces the reports: no duplicates.
    let out = audit(&cluster, &config, &["--write-reports"]);
    assert!(
        text(&out).contains("wrote 6 policy reports, deleted 0 stale ones"),
        "{}",
        text(&out)
    );
    let again = policy_reports(&cluster);
    let names = |reports: &[serde_json::Value]| -> BTreeSet<String> {
        reports
            .iter()
            .map(|r| r["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&again), names(&reports));

    // An object that is gone (this cluster runs no garbage collector to take its report with
    // it) has its report deleted by the next audit.
    let out = cluster.kubectl(
        &[
            "-n",
            "audit-a",
            "delete",
            "pod",
            "priv",
            "--grace-period=0",
            "--force",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = audit(&cluster, &config, &["--write-reports"]);
    assert!(
        text(&out).contains("wrote 5 policy reports, deleted 1 stale ones"),
        "{}",
        text(&out)
    );
    let left = names(&policy_reports(&cluster));
    assert_eq!(left.len(), 5);
    assert!(!left.contains(&priv_uid));
}

#[test]
fn an_unknown_policy_or_an_unreachable_cluster_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("portcullis.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n\
         contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: x}}]\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["audit", "kubernetes", "--config"])
            .arg(&config)
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env(
                "XDG_CACHE_HOME",
                workspace().join("target").join("e2e-cache-cli"),
            )
            .output()
            .unwrap()
    };
    let out = run(&["--policy", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--policy nope: no policy of that name"),
        "{}",
        text(&out)
    );
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot reach the API server"),
        "{}",
        text(&out)
    );
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn a_progress_bar_shows_on_a_terminal_and_nowhere_else() {
    let (cluster, dir, config) = cluster_with_workloads();
    // On a terminal (a pseudo-terminal from util-linux's `script`): the bar is drawn on
    // stderr, counting objects.
    let command = format!(
        "KUBECONFIG={} XDG_CACHE_HOME={} {} audit kubernetes --config {} >{}",
        cluster.kubeconfig.display(),
        workspace().join("target").join("e2e-cache-cli").display(),
        env!("CARGO_BIN_EXE_portcullis"),
        config.display(),
        dir.path().join("table.txt").display(),
    );
    let out = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(
        terminal.contains(" objects ("),
        "no progress bar: {terminal:?}"
    );
    // Redirected: nothing but the report.
    let out = audit(&cluster, &config, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
