//! Which UPDATEs are decided again. Pod Security Admission re-evaluates a Pod update only
//! when it changes something that can change on a running Pod and that its checks read:
//! a container image, the number of containers, a seccomp annotation, or an added ephemeral
//! container (`isSignificantPodUpdate` in k8s.io/pod-security-admission). Everything else a
//! policy reads is immutable on a Pod, so a label, an annotation or a finalizer removed on a
//! Pod admitted before a policy was switched on must not be refused: the Pod would be stuck.
//! Pod controllers follow the same idea: an update that leaves the pod template as it was
//! changes no Pod. PSA also ignores the subresources that never change a Pod's spec.
//!
//! Policies that want every UPDATE anyway say so with `everyUpdate: true` in their config.

use serde_json::Value;

use super::review::AdmissionRequest;

/// Pod subresources that never change what a policy reads (PSA's `ignoredPodSubresources`).
const IGNORED_POD_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

const SECCOMP_POD: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// Why a request needs no evaluation by policies that have not asked for every UPDATE;
/// `None` when it is decided as usual.
pub fn unchanged(request: &AdmissionRequest) -> Option<&'static str> {
    let subresource = request.sub_resource.as_deref().unwrap_or_default();
    let core = request.kind.group.is_empty();
    if core && request.kind.kind == "Pod" && IGNORED_POD_SUBRESOURCES.contains(&subresource) {
        return Some("a Pod subresource that changes no Pod spec (as Pod Security Admission)");
    }
    if request.operation != Some(crate::kubernetes::review::Operation::Update)
        || !subresource.is_empty()
    {
        return None;
    }
    let (new, old) = (request.object.as_ref()?, request.old_object.as_ref()?);
    if core && request.kind.kind == "Pod" {
        return (!significant_pod_update(new, old)).then_some(
            "a Pod update that changes no image, container count, ephemeral container or \
             seccomp annotation (as Pod Security Admission)",
        );
    }
    let template = template_pointer(&request.kind.kind)?;
    let (a, b) = (new.pointer(template), old.pointer(template));
    (a.is_some() && a == b).then_some("an update that leaves the pod template unchanged")
}

/// Where a pod-template kind keeps its template.
fn template_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template"),
        "CronJob" => Some("/spec/jobTemplate/spec/template"),
        "PodTemplate" => Some("/template"),
        _ => None,
    }
}

/// PSA's `isSignificantPodUpdate`, on the JSON objects.
fn significant_pod_update(pod: &Value, old: &Value) -> bool {
    let annotation = |p: &Value, key: &str| -> Option<String> {
        p["metadata"]["annotations"][key]
            .as_str()
            .map(str::to_string)
    };
    if annotation(pod, SECCOMP_POD) != annotation(old, SECCOMP_POD) {
        return true;
    }
    fn list<'a>(p: &'a Value, field: &str) -> &'a [Value] {
        p["spec"][field].as_array().map_or(&[], Vec::as_slice)
    }
    let container_changed = |c: &Value, o: &Value| {
        let key = format!(
            "{SECCOMP_CONTAINER_PREFIX}{}",
            c["name"].as_str().unwrap_or_default()
        );
        c["image"] != o["image"] || annotation(pod, &key) != annotation(old, &key)
    };
    for field in ["containers", "initContainers"] {
        let (now, before) = (list(pod, field), list(old, field));
        if now.len() != before.len() || now.iter().zip(before).any(|(c, o)| container_changed(c, o))
        {
            return true;
        }
    }
    let before = list(old, "ephemeralContainers");
    list(pod, "ephemeralContainers").iter().any(|c| {
        match before.iter().find(|o| o["name"] == c["name"]) {
            None => true,
            Some(o) => container_changed(c, o),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(kind: &str, group: &str, new: Value, old: Value) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "u",
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": "x"},
            "operation": "UPDATE",
            "object": new,
            "oldObject": old,
        }))
        .unwrap()
    }

    fn pod(image: &str, labels: Value, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": labels, "annotations": annotations,
                         "finalizers": []},
            "spec": {"containers": [{"name": "app", "image": image,
                                     "securityContext": {"privileged": true}}]}})
    }

    #[test]
    fn pod_updates_as_pod_security_admission_sees_them() {
        let old = pod("nginx:1", json!({}), json!({}));
        let relabelled = pod("nginx:1", json!({"team": "a"}), json!({"note": "x"}));
        assert!(unchanged(&update("Pod", "", relabelled, old.clone())).is_some());
        let new_image = pod("nginx:2", json!({}), json!({}));
        assert!(unchanged(&update("Pod", "", new_image, old.clone())).is_none());
        let seccomp = pod(
            "nginx:1",
            json!({}),
            json!({"container.seccomp.security.alpha.kubernetes.io/app": "unconfined"}),
        );
        assert!(unchanged(&update("Pod", "", seccomp, old.clone())).is_none());
        let mut debug = pod("nginx:1", json!({}), json!({}));
        debug["spec"]["ephemeralContainers"] = json!([{"name": "dbg", "image": "busybox"}]);
        assert!(unchanged(&update("Pod", "", debug, old.clone())).is_none());
        // A CREATE is always decided.
        let mut create = update("Pod", "", old.clone(), old.clone());
        create.operation = Some(crate::kubernetes::review::Operation::Create);
        assert!(unchanged(&create).is_none());
    }

    #[test]
    fn controllers_and_subresources() {
        let deployment = |image: &str, replicas: u32| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                    {"name": "app", "image": image}]}}}})
        };
        let scaled = update("Deployment", "apps", deployment("a", 3), deployment("a", 1));
        assert!(unchanged(&scaled).is_some());
        let changed = update("Deployment", "apps", deployment("b", 1), deployment("a", 1));
        assert!(unchanged(&changed).is_none());
        let mut status = update("Pod", "", json!({}), json!({}));
        status.sub_resource = Some("status".into());
        assert!(unchanged(&status).is_some());
        status.sub_resource = Some("ephemeralcontainers".into());
        assert!(unchanged(&status).is_none());
    }
}
