//! `AdmissionReview` (`admission.k8s.io/v1` and `v1beta1`) as the API server sends and
//! expects it: the response echoes the request's `apiVersion` and `uid`, a denial is data
//! inside an HTTP 200 review, and a patch is base64 JSON Patch with `patchType: JSONPatch`.
//!
//! The parts come from kube and k8s-openapi: the operation, group/version/kind and resource,
//! the user, and the denial's `Status`. The three envelopes stay ours, because kube's do not
//! fit a policy engine: its request is generic over a typed resource, so every object would
//! be parsed through `ObjectMeta` and written out again before a policy saw it (unknown
//! metadata dropped, the parse paid twice), and its response writes the patch as an array of
//! numbers rather than base64, with the patch type settable only through another major
//! version of `json-patch` than ours.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use k8s_openapi::api::authentication::v1::UserInfo;
pub use kube::core::admission::Operation;
pub use kube::core::{GroupVersionKind, GroupVersionResource, Status};

use crate::abi::{Request, Source};
use crate::decision::Verdict;

pub const API_VERSION_V1: &str = "admission.k8s.io/v1";
pub const API_VERSION_V1BETA1: &str = "admission.k8s.io/v1beta1";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    #[error("not an AdmissionReview: {0}")]
    Malformed(String),
    #[error(
        "unsupported AdmissionReview apiVersion {0:?} (expected {API_VERSION_V1} or {API_VERSION_V1BETA1})"
    )]
    Version(String),
    #[error("AdmissionReview has no request")]
    NoRequest,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What is being done: a type, so an operation the API server does not send cannot
    /// reach the policies (a review with another is refused naming `request.operation`).
    #[serde(default)]
    pub operation: Option<Operation>,
    #[serde(default)]
    pub user_info: UserInfo,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub old_object: Option<Value>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    /// `metav1.Status`, as the API server shows it to the user who was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

impl AdmissionRequest {
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`, as policies and match rules spell it.
    pub fn operation_name(&self) -> &'static str {
        match self.operation {
            Some(Operation::Create) => "CREATE",
            Some(Operation::Update) => "UPDATE",
            Some(Operation::Delete) => "DELETE",
            Some(Operation::Connect) => "CONNECT",
            None => "",
        }
    }

    /// A request no policy could be trusted to decide: without what it is (`kind`,
    /// `resource`, `operation`), or with an object that says it is something else. The API
    /// server never sends one; anything that does gets an error, not an allowed answer.
    fn check(&self) -> Result<(), ReviewError> {
        let missing =
            |field: &str| ReviewError::Malformed(format!("request.{field} is missing or empty"));
        if self.kind.kind.is_empty() {
            return Err(missing("kind.kind"));
        }
        if self.kind.version.is_empty() {
            return Err(missing("kind.version"));
        }
        if self.resource.version.is_empty() {
            return Err(missing("resource.version"));
        }
        if self.resource.resource.is_empty() {
            return Err(missing("resource.resource"));
        }
        if self.operation.is_none() {
            return Err(missing("operation"));
        }
        let expected_api_version = if self.kind.group.is_empty() {
            self.kind.version.clone()
        } else {
            format!("{}/{}", self.kind.group, self.kind.version)
        };
        for (field, object) in [("object", &self.object), ("oldObject", &self.old_object)] {
            let Some(object) = object.as_ref().filter(|o| o.is_object()) else {
                continue;
            };
            let kind = object["kind"].as_str().unwrap_or_default();
            let api_version = object["apiVersion"].as_str().unwrap_or_default();
            if (!kind.is_empty() && kind != self.kind.kind)
                || (!api_version.is_empty() && api_version != expected_api_version)
            {
                return Err(ReviewError::Malformed(format!(
                    "request.{field} is {api_version} {kind}, but request.kind is \
                     {expected_api_version} {}",
                    self.kind.kind
                )));
            }
        }
        Ok(())
    }
}

impl AdmissionReview {
    /// Reads a review and checks that it carries a request of a version we answer.
    pub fn parse(mut value: Value) -> Result<(String, AdmissionRequest), ReviewError> {
        // What it is first: a review of another version is refused as such, not for the
        // fields that version happens to lack.
        let kind = value["kind"].as_str().unwrap_or_default();
        if kind != "AdmissionReview" {
            return Err(ReviewError::Malformed(format!("kind is {kind:?}")));
        }
        let api_version = value["apiVersion"].as_str().unwrap_or_default();
        if api_version != API_VERSION_V1 && api_version != API_VERSION_V1BETA1 {
            return Err(ReviewError::Version(api_version.to_string()));
        }
        // The objects are moved out before the typed read and back after it: they are kept
        // as sent, and reading them through the typed envelope would only rebuild every map
        // of them (the bulk of a review) for nothing.
        let mut objects = [Value::Null, Value::Null];
        if let Some(request) = value.get_mut("request").and_then(Value::as_object_mut) {
            for (slot, key) in objects.iter_mut().zip(["object", "oldObject"]) {
                if let Some(object) = request.get_mut(key) {
                    *slot = object.take();
                }
            }
        }
        // The field path in the message: `request.operation: unknown variant "PATCH"`.
        let review: AdmissionReview = serde_path_to_error::deserialize(value)
            .map_err(|e| ReviewError::Malformed(format!("{}: {}", e.path(), e.inner())))?;
        let mut request = review.request.ok_or(ReviewError::NoRequest)?;
        let [object, old_object] = objects;
        request.object = Some(object).filter(|o| !o.is_null());
        request.old_object = Some(old_object).filter(|o| !o.is_null());
        request.check()?;
        Ok((review.api_version, request))
    }

    /// The review to send back, in the version that was asked.
    pub fn respond(api_version: &str, uid: &str, verdict: &Verdict) -> AdmissionReview {
        let status = (!verdict.allowed)
            .then(|| Status::failure(&verdict.message, "Forbidden").with_code(403));
        let patch = verdict.patch.as_ref().filter(|p| !p.0.is_empty()).map(|p| {
            let json = serde_json::to_vec(p).expect("a patch serializes");
            base64::engine::general_purpose::STANDARD.encode(json)
        });
        AdmissionReview {
            api_version: api_version.to_string(),
            kind: "AdmissionReview".into(),
            request: None,
            response: Some(AdmissionResponse {
                uid: uid.to_string(),
                allowed: verdict.allowed,
                status,
                warnings: verdict.warnings.clone(),
                patch_type: patch.as_ref().map(|_| "JSONPatch".into()),
                patch,
                audit_annotations: verdict.audit_annotations.clone(),
            }),
        }
    }

    /// Wraps a bare object as the CREATE review the API server would send for it.
    pub fn for_object(object: Value) -> AdmissionReview {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let metadata = &object["metadata"];
        let request = AdmissionRequest {
            uid: "00000000-0000-0000-0000-000000000000".into(),
            resource: GroupVersionResource::gvr(
                &group,
                &version,
                &super::registration::resource_of(&kind),
            ),
            kind: GroupVersionKind::gvk(&group, &version, &kind),
            name: metadata["name"].as_str().map(str::to_string),
            namespace: Some(
                metadata["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string(),
            ),
            sub_resource: None,
            operation: Some(Operation::Create),
            user_info: UserInfo::default(),
            object: Some(object),
            old_object: None,
            dry_run: None,
        };
        AdmissionReview {
            api_version: API_VERSION_V1.into(),
            kind: "AdmissionReview".into(),
            request: Some(request),
            response: None,
        }
    }
}

/// The resource name of a kind, for the common kinds (`Pod` → `pods`).
impl AdmissionRequest {
    /// The policy envelope for this request: identity, the raw object, and its workload.
    pub fn to_request(&self) -> Request {
        let object = self.object.as_ref().unwrap_or(&Value::Null);
        let workload = super::workload::normalize(&self.kind.kind, object);
        let kind = if self.kind.group.is_empty() {
            format!("{}/{}", self.kind.version, self.kind.kind)
        } else {
            format!(
                "{}/{}/{}",
                self.kind.group, self.kind.version, self.kind.kind
            )
        };
        Request {
            uid: self.uid.clone(),
            source: Source::Kubernetes,
            operation: self.operation_name().into(),
            kind,
            subresource: self.sub_resource.clone().filter(|s| !s.is_empty()),
            user: self.user_info.username.clone().unwrap_or_default(),
            groups: self.user_info.groups.clone().unwrap_or_default(),
            namespace: self.namespace.clone().filter(|s| !s.is_empty()),
            name: self.name.clone().filter(|s| !s.is_empty()),
            dry_run: self.dry_run.unwrap_or(false),
            object: if object.is_null() {
                "{}".into()
            } else {
                object.to_string()
            },
            old_object: self
                .old_object
                .as_ref()
                .filter(|o| !o.is_null())
                .map(Value::to_string),
            workload,
            docker: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn review(request: Value) -> Result<(String, AdmissionRequest), ReviewError> {
        AdmissionReview::parse(json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        }))
    }

    fn pod_request() -> Value {
        json!({
            "uid": "u",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": []}},
        })
    }

    #[test]
    fn a_well_formed_review_parses() {
        assert!(review(pod_request()).is_ok());
        let mut scale = pod_request();
        scale["kind"] = json!({"group": "autoscaling", "version": "v1", "kind": "Scale"});
        scale["object"] = json!({"apiVersion": "autoscaling/v1", "kind": "Scale"});
        scale["subResource"] = json!("scale");
        assert!(review(scale).is_ok());
    }

    #[test]
    fn objects_are_kept_exactly_as_sent() {
        let mut update = pod_request();
        update["operation"] = json!("UPDATE");
        update["object"]["metadata"] = json!({"name": "p", "labels": {"b": "2", "a": "1"}});
        update["oldObject"] = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"x": [1, null]}});
        let (_, request) = review(update.clone()).unwrap();
        assert_eq!(request.object.as_ref(), Some(&update["object"]));
        assert_eq!(request.old_object.as_ref(), Some(&update["oldObject"]));
        // A null or missing object is none, as before.
        let mut delete = pod_request();
        delete["operation"] = json!("DELETE");
        delete["object"] = Value::Null;
        let (_, request) = review(delete).unwrap();
        assert!(request.object.is_none() && request.old_object.is_none());
    }

    #[test]
    fn malformed_reviews_are_refused_naming_the_field() {
        let refused = |request: Value, field: &str| {
            let err = review(request).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        };
        let mut r = pod_request();
        r.as_object_mut().unwrap().remove("kind");
        refused(r, "request: missing field `kind`");
        let mut r = pod_request();
        r["kind"]["kind"] = json!("");
        refused(r, "request.kind.kind is missing or empty");
        let mut r = pod_request();
        r["kind"].as_object_mut().unwrap().remove("version");
        refused(r, "request.kind: missing field `version`");
        let mut r = pod_request();
        r.as_object_mut().unwrap().remove("resource");
        refused(r, "request: missing field `resource`");
        let mut r = pod_request();
        r["resource"]["resource"] = json!("");
        refused(r, "request.resource.resource is missing or empty");
        let mut r = pod_request();
        r["operation"] = json!("PATCH");
        refused(r, "request.operation");
        // An object that is not what the request says it is.
        let mut r = pod_request();
        r["kind"] = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
        r["resource"] = json!({"group": "", "version": "v1", "resource": "configmaps"});
        refused(
            r,
            "request.object is v1 Pod, but request.kind is v1 ConfigMap",
        );
        let mut r = pod_request();
        r["object"]["apiVersion"] = json!("apps/v1");
        refused(r, "request.object is apps/v1 Pod");
    }
}
