//! Persistent volume claims seen through to the volumes they are bound to: a Pod whose
//! `persistentVolumeClaim` names a claim bound to a `hostPath` or `local` PersistentVolume
//! mounts a directory of the node, as surely as a `hostPath` volume of its own. Claims and
//! volumes come from a watch (kube-runtime's reflector), like namespace labels: no request
//! to the API server per decision.
//!
//! The volume keeps its source (`persistentVolumeClaim`), so Pod Security Admission's checks,
//! which read only the Pod, decide exactly as PSA does; `host-mounts` sees the host path.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::Value;

use crate::abi::{Request, VolumeKind};
use crate::matching::NoCluster;

/// The node path a claim reaches, when the volume it is bound to is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePath {
    /// The PersistentVolume's name.
    pub volume: String,
    /// `hostPath` or `local`.
    pub kind: &'static str,
    pub path: String,
}

/// Where claims are looked up.
pub trait Claims: Send + Sync {
    /// The node path claim `claim` in `namespace` is bound to, if it is bound to a
    /// `hostPath` or `local` volume.
    fn node_path(&self, namespace: &str, claim: &str) -> Option<NodePath>;
}

impl Claims for NoCluster {
    fn node_path(&self, _: &str, _: &str) -> Option<NodePath> {
        None
    }
}

/// The node path of a PersistentVolume's spec, if it has one.
pub fn node_path_of(volume: &PersistentVolume) -> Option<NodePath> {
    let spec = volume.spec.as_ref()?;
    let (kind, path) = match (&spec.host_path, &spec.local) {
        (Some(h), _) => ("hostPath", h.path.clone()),
        (None, Some(l)) => ("local", l.path.clone()),
        _ => return None,
    };
    Some(NodePath {
        volume: volume.metadata.name.clone().unwrap_or_default(),
        kind,
        path,
    })
}

/// Claims and volumes as last seen by their watches.
pub struct ClaimCache {
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
}

impl Claims for ClaimCache {
    fn node_path(&self, namespace: &str, claim: &str) -> Option<NodePath> {
        let claim = self.claims.get(&ObjectRef::new(claim).within(namespace))?;
        // The volume the claim names, bound or about to be: a claim made with `volumeName`
        // is bound to that volume by the controller as soon as it can be.
        let name = claim.spec.as_ref()?.volume_name.as_ref()?;
        node_path_of(&*self.volumes.get(&ObjectRef::new(name))?)
    }
}

/// Sees claim volumes through to their node paths.
pub fn resolve(request: &mut Request, object: &Value, claims: &dyn Claims) {
    let namespace = request.namespace.clone().unwrap_or_default();
    let Some(workload) = request.workload.as_mut() else {
        return;
    };
    for v in workload
        .volumes
        .iter_mut()
        .filter(|v| v.source == "persistentVolumeClaim")
    {
        let Some(claim) = object
            .pointer(&format!("{}/persistentVolumeClaim/claimName", v.pointer))
            .and_then(Value::as_str)
        else {
            continue;
        };
        if let Some(found) = claims.node_path(&namespace, claim) {
            v.kind = VolumeKind::HostPath;
            v.host_path = Some(crate::workload::host_path(&found.path));
        }
    }
}

/// Starts the watches on claims and volumes, with the in-cluster service account or
/// `KUBECONFIG`. Returns once both first lists are in (or 30 s have passed).
pub async fn connect() -> Result<Arc<ClaimCache>, kube::Error> {
    let client = kube::Client::try_default().await?;
    let claims =
        super::watch::cached::<PersistentVolumeClaim>(kube::Api::all(client.clone()), "claim");
    let volumes =
        super::watch::cached::<PersistentVolume>(kube::Api::all(client), "persistent volume");
    let cache = Arc::new(ClaimCache { claims, volumes });
    let ready = async {
        let _ = cache.claims.wait_until_ready().await;
        let _ = cache.volumes.wait_until_ready().await;
    };
    if tokio::time::timeout(std::time::Duration::from_secs(30), ready)
        .await
        .is_err()
    {
        tracing::warn!(
            "persistent volume claims not listed within 30 s; claims bound to host paths cannot be seen until they are"
        );
    }
    Ok(cache)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Claims as a table, for tests: (namespace, claim) → node path.
    impl Claims for BTreeMap<(String, String), NodePath> {
        fn node_path(&self, namespace: &str, claim: &str) -> Option<NodePath> {
            self.get(&(namespace.to_string(), claim.to_string()))
                .cloned()
        }
    }

    #[test]
    fn volumes_of_every_kind_with_a_node_path() {
        let pv = |spec: Value| -> PersistentVolume {
            serde_json::from_value(serde_json::json!({"metadata": {"name": "pv"}, "spec": spec}))
                .unwrap()
        };
        let host = pv(serde_json::json!({"hostPath": {"path": "/"}}));
        assert_eq!(node_path_of(&host).unwrap().kind, "hostPath");
        let local = pv(serde_json::json!({"local": {"path": "/mnt/disk"}}));
        assert_eq!(node_path_of(&local).unwrap().path, "/mnt/disk");
        let nfs = pv(serde_json::json!({"nfs": {"server": "x", "path": "/export"}}));
        assert_eq!(node_path_of(&nfs), None);
    }

    #[test]
    fn a_claim_bound_to_a_host_path_is_a_host_path() {
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "team"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "root"}},
                {"name": "other", "persistentVolumeClaim": {"claimName": "ordinary"}}
            ]}
        });
        let review = serde_json::to_value(crate::kubernetes::review::AdmissionReview::for_object(
            pod.clone(),
        ))
        .unwrap();
        let (_, admission) = crate::kubernetes::review::AdmissionReview::parse(review).unwrap();
        let mut request = admission.to_request();
        request.namespace = Some("team".into());
        let mut claims = BTreeMap::new();
        claims.insert(
            ("team".to_string(), "root".to_string()),
            NodePath {
                volume: "pv-root".into(),
                kind: "hostPath",
                path: "/".into(),
            },
        );
        resolve(&mut request, &pod, &claims);
        let volumes = &request.workload.unwrap().volumes;
        assert_eq!(volumes[0].kind, VolumeKind::HostPath);
        assert_eq!(volumes[0].host_path.as_ref().unwrap().normalized, "/");
        // Pod Security Admission's checks read the source, which stays what the Pod says.
        assert_eq!(volumes[0].source, "persistentVolumeClaim");
        assert_eq!(volumes[1].kind, VolumeKind::Other);
        assert_eq!(volumes[1].host_path, None);
    }
}
