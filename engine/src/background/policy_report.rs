//! `--write-reports`: each audited object's results as a `PolicyReport` (a
//! `ClusterPolicyReport` for an object without a namespace) of the Policy Report API
//! (`wgpolicyk8s.io/v1alpha2`), the format Kyverno and Kubewarden write and their UIs read.
//!
//! One report per object, as both of them now write: named by the object's UID, in its
//! namespace, owned by it (so it goes when the object goes), its `scope` the object. A report
//! is written with server-side apply, so a second audit replaces the first's results instead
//! of adding to them. Each report is labelled with the audit run that wrote it; at the end,
//! reports of earlier runs that this run did not rewrite (objects no policy matches any more)
//! are deleted. Reports are written a batch at a time, so memory stays bounded.

use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

use super::{ObjectReport, Outcome, Output, Summary};

/// Who wrote a report: its `app.kubernetes.io/managed-by` label and each result's `source`.
const MANAGER: &str = "portcullis";
/// The label naming the audit run that wrote a report.
const RUN_LABEL: &str = "portcullis.dev/audit-run";
/// Reports applied at once, and held before they are.
const BATCH: usize = 64;
const CONCURRENT: usize = 16;

/// Which earlier reports a run may delete: those it would have rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// Every namespace, and the cluster-wide reports.
    All,
    /// One namespace's.
    Namespace(String),
    /// None: the run did not see every object (a label selector).
    Nothing,
}

fn report_resource(cluster: bool) -> ApiResource {
    let kind = if cluster {
        "ClusterPolicyReport"
    } else {
        "PolicyReport"
    };
    ApiResource::from_gvk(&GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", kind))
}

pub struct PolicyReports<'a> {
    runtime: &'a tokio::runtime::Handle,
    client: kube::Client,
    cleanup: Cleanup,
    run: String,
    timestamp: Value,
    pending: Vec<Value>,
    /// Reports written, and deleted as stale.
    pub written: u64,
    pub deleted: u64,
}

impl<'a> PolicyReports<'a> {
    pub fn new(
        runtime: &'a tokio::runtime::Handle,
        client: kube::Client,
        cleanup: Cleanup,
    ) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        PolicyReports {
            runtime,
            client,
            cleanup,
            run: format!("{}-{:09}", now.as_secs(), now.subsec_nanos()),
            timestamp: json!({"seconds": now.as_secs(), "nanos": 0}),
            pending: Vec::new(),
            written: 0,
            deleted: 0,
        }
    }

    /// The report for one object, as it is applied.
    pub fn report(&self, object: &ObjectReport) -> Value {
        let r = &object.resource;
        let reference = json!({
            "apiVersion": r.api_version,
            "kind": r.kind,
            "name": r.name,
            "uid": r.uid,
        });
        let mut scope = reference.clone();
        if let Some(namespace) = &r.namespace {
            scope["namespace"] = namespace.clone().into();
        }
        let mut summary = json!({"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0});
        let results: Vec<Value> = object
            .outcomes
            .iter()
            .map(|o| {
                let counter = &mut summary[o.result.as_str()];
                *counter = (counter.as_u64().unwrap_or(0) + 1).into();
                let message = match o.result {
                    Outcome::Pass if o.reasons.is_empty() && o.message.is_empty() => {
                        "passed".to_string()
                    }
                    _ => o.why(),
                };
                let mut properties = json!({
                    "mode": serde_json::to_value(o.mode).unwrap_or_default(),
                    "wouldDeny": o.would_deny.to_string(),
                });
                if let Some(patch) = &o.patch {
                    properties["patch"] = patch.to_string().into();
                }
                json!({
                    "source": MANAGER,
                    "policy": o.policy,
                    "rule": o.rule.as_deref().unwrap_or(&o.policy),
                    "result": o.result.as_str(),
                    "scored": true,
                    "message": message,
                    "timestamp": self.timestamp,
                    "properties": properties,
                    "resources": [scope],
                })
            })
            .collect();
        let mut metadata = json!({
            "name": r.uid,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGER,
                RUN_LABEL: self.run,
            },
            "ownerReferences": [reference],
        });
        let kind = match &r.namespace {
            Some(namespace) => {
                metadata["namespace"] = namespace.clone().into();
                "PolicyReport"
            }
            None => "ClusterPolicyReport",
        };
        json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2",
            "kind": kind,
            "metadata": metadata,
            "scope": scope,
            "summary": summary,
            "results": results,
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let client = self.client.clone();
        let reports = std::mem::take(&mut self.pending);
        let count = reports.len() as u64;
        self.runtime
            .block_on(
                futures::stream::iter(reports)
                    .map(|report| apply(client.clone(), report))
                    .buffer_unordered(CONCURRENT)
                    .try_collect::<Vec<()>>(),
            )
            .map_err(std::io::Error::other)?;
        self.written += count;
        Ok(())
    }

    /// Deletes reports this manager wrote in earlier runs, within the cleanup's reach.
    fn delete_stale(&mut self) -> Result<(), kube::Error> {
        let selector = format!(
            "app.kubernetes.io/managed-by={MANAGER},{RUN_LABEL},{RUN_LABEL}!={}",
            self.run
        );
        let reaches = match &self.cleanup {
            Cleanup::Nothing => return Ok(()),
            Cleanup::All => vec![(false, None), (true, None)],
            Cleanup::Namespace(ns) => vec![(false, Some(ns.clone()))],
        };
        for (cluster, namespace) in reaches {
            let resource = report_resource(cluster);
            let api: kube::Api<DynamicObject> = match &namespace {
                Some(ns) => kube::Api::namespaced_with(self.client.clone(), ns, &resource),
                None => kube::Api::all_with(self.client.clone(), &resource),
            };
            let params = ListParams::default().labels(&selector).limit(BATCH as u32);
            self.runtime.block_on(async {
                // Each page is deleted before the next is asked for; what is deleted no
                // longer matches, so the list starts again until it is empty.
                loop {
                    let page = api.list_metadata(&params).await?;
                    if page.items.is_empty() {
                        return Ok::<(), kube::Error>(());
                    }
                    for stale in page.items {
                        let name = stale.metadata.name.unwrap_or_default();
                        let api: kube::Api<DynamicObject> = match stale.metadata.namespace {
                            Some(ns) => {
                                kube::Api::namespaced_with(self.client.clone(), &ns, &resource)
                            }
                            None => kube::Api::all_with(self.client.clone(), &resource),
                        };
                        match api.delete(&name, &DeleteParams::default()).await {
                            Ok(_) => self.deleted += 1,
                            // Gone already (its object was deleted, and the report with it).
                            Err(kube::Error::Api(e)) if e.code == 404 => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            })?;
        }
        Ok(())
    }
}

/// Creates or replaces one report with server-side apply.
async fn apply(client: kube::Client, report: Value) -> Result<(), String> {
    let name = report["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = report["metadata"]["namespace"].as_str().map(str::to_string);
    let resource = report_resource(namespace.is_none());
    let api: kube::Api<DynamicObject> = match &namespace {
        Some(ns) => kube::Api::namespaced_with(client, ns, &resource),
        None => kube::Api::all_with(client, &resource),
    };
    let params = PatchParams::apply(MANAGER).force();
    match api.patch(&name, &params, &Patch::Apply(&report)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(format!(
            "cannot write {} {name}: the Policy Report CRDs are not installed (kubectl apply \
             -f deploy/kubernetes/policyreport-crds.yaml; the Helm chart installs them): {}",
            resource.kind, e.message
        )),
        Err(e) => Err(format!("cannot write {} {name}: {e}", resource.kind)),
    }
}

impl Output for PolicyReports<'_> {
    fn object(&mut self, object: &ObjectReport) -> std::io::Result<()> {
        if object.resource.uid.is_empty() || object.outcomes.is_empty() {
            return Ok(());
        }
        let report = self.report(object);
        self.pending.push(report);
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
        self.flush()?;
        self.delete_stale()
            .map_err(|e| std::io::Error::other(format!("cannot delete stale reports: {e}")))
    }
}
