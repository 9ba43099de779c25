//! The background audit inside `serve`, against a real API server: two replicas, one `Lease`;
//! the holder audits on its interval, writes each finding to its audit log and exports the
//! counts; when it dies without a word, the other takes over.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::audit_kubernetes::cluster_with_workloads;
use crate::server_harness::Server;
use crate::support::text;

const CONFIG: &str = "policies:\n  - {name: pss-baseline, module: builtin:pss-baseline}\n\
kubernetes:\n  ownNamespace: portcullis-test\n\
backgroundAudit:\n  interval: 1s\n  lease: {durationSeconds: 3}\n";

/// `(kind, namespace/name, policy)` of the audit findings in a server's audit log.
fn findings(server: &Server) -> BTreeSet<(String, String, String)> {
    server
        .audit_records()
        .into_iter()
        .filter(|r| r["source"] == "audit")
        .map(|r| {
            assert!(r["timestamp"].is_string(), "{r}");
            let resource = &r["resource"];
            (
                resource["kind"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    resource["namespace"].as_str().unwrap(),
                    resource["name"].as_str().unwrap()
                ),
                r["policy"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn metrics(server: &Server) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(async { String::from_utf8(server.client().get("/metrics").await.body).unwrap() })
}

#[test]
#[ignore = "needs kube-apiserver and etcd (tests/provision/install.sh): run tests/run.sh"]
fn one_replica_audits_in_the_background_and_another_takes_over() {
    let (cluster, _dir, _config) = cluster_with_workloads();
    let out = cluster.kubectl(&["create", "namespace", "portcullis-test"], None);
    assert!(out.status.success(), "{}", text(&out));
    let expected = BTreeSet::from([
        (
            "Pod".to_string(),
            "audit-a/priv".to_string(),
            "pss-baseline".to_string(),
        ),
        (
            "Pod".into(),
            "audit-a/hostnet".into(),
            "pss-baseline".into(),
        ),
        (
            "Deployment".into(),
            "audit-b/web-priv".into(),
            "pss-baseline".into(),
        ),
        (
            "CronJob".into(),
            "audit-b/nightly".into(),
            "pss-baseline".into(),
        ),
    ]);

    let mut first = Server::start_with_kubeconfig(CONFIG, Some(&cluster.kubeconfig));
    first.wait_for_log("background audit lease taken", 0);
    let second = Server::start_with_kubeconfig(CONFIG, Some(&cluster.kubeconfig));
    first.wait_for_log("background audit done", 0);
    crate::support::eventually("the holder's findings", Duration::from_secs(30), || {
        let found = findings(&first);
        if found == expected {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    });
    let exported = metrics(&first);
    assert!(
        exported
            .contains("portcullis_audit_findings{policy=\"pss-baseline\",namespace=\"audit-a\"} 2"),
        "{exported}"
    );
    assert!(
        exported.contains("portcullis_audit_last_run_timestamp_seconds"),
        "{exported}"
    );
    // Several intervals later, the other replica has audited nothing.
    std::thread::sleep(Duration::from_secs(4));
    assert!(findings(&second).is_empty(), "both replicas audit");
    let lease = cluster.kubectl(
        &[
            "-n",
            "portcullis-test",
            "get",
            "lease",
            "portcullis-background-audit",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    let holder = String::from_utf8_lossy(&lease.stdout).into_owned();
    assert!(
        holder.ends_with(&format!("_{}", first.child.id())),
        "the lease is held by {holder:?}"
    );

    // The holder dies without giving the lease up: the other takes over once the lease
    // has gone unrenewed for its duration.
    first.child.kill().unwrap();
    let _ = first.child.wait();
    second.wait_for_log("background audit lease taken", 0);
    crate::support::eventually("the new holder's findings", Duration::from_secs(30), || {
        let found = findings(&second);
        if found == expected {
            Ok(())
        } else {
            Err(format!("{found:?}"))
        }
    });
}
