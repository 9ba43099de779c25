//! The Kubernetes door: `AdmissionReview` in, normalized request out, and the review's
//! `response` back. No policy logic lives here.

pub mod claims;
pub mod namespaces;
pub mod pod_security;
pub mod registration;
pub mod review;
pub mod update;
mod watch;
pub mod workload;

pub use review::{AdmissionRequest, AdmissionReview, ReviewError};

use serde_json::Value;

use crate::abi::Request;
use crate::admission::{self, Admission, Purpose, Scope};
use crate::decision::Verdict;
use crate::matching::{ALWAYS_EXCLUDED, MatchContext, NamespaceLabels, NoCluster};
use crate::policy_set::{Phase, PolicySet};

/// How a review is decided: which phase, which policies, and what match rules see.
#[derive(Clone, Copy)]
pub struct ReviewOptions<'a> {
    pub phase: Phase,
    pub only: Option<&'a str>,
    pub namespaces: &'a dyn NamespaceLabels,
    /// Claims seen through to the volumes they are bound to.
    pub claims: &'a dyn claims::Claims,
    pub own_namespace: Option<&'a str>,
}

impl Default for ReviewOptions<'_> {
    fn default() -> Self {
        ReviewOptions {
            phase: Phase::All,
            only: None,
            namespaces: &NoCluster,
            claims: &NoCluster,
            own_namespace: None,
        }
    }
}

/// A decided review: the response to send, and what the audit log records.
pub struct Reviewed {
    pub response: AdmissionReview,
    pub request: Request,
    pub verdict: Verdict,
}

/// Decides one `AdmissionReview` and returns the review to send back.
pub fn review(
    policies: &PolicySet,
    value: Value,
    options: ReviewOptions<'_>,
) -> Result<Reviewed, ReviewError> {
    let (api_version, request) = AdmissionReview::parse(value)?;
    let uid = request.uid.clone();
    let (request, verdict) = decide(policies, request, &options, Purpose::Admission);
    let response = AdmissionReview::respond(&api_version, &uid, &verdict);
    Ok(Reviewed {
        response,
        request,
        verdict,
    })
}

/// Decides one request for `purpose`: a review the API server sent, or (in the background
/// audit) an object as it stands, as a CREATE. Returns the envelope policies saw, and the
/// verdict.
pub fn decide(
    policies: &PolicySet,
    mut request: AdmissionRequest,
    options: &ReviewOptions<'_>,
    purpose: Purpose,
) -> (Request, Verdict) {
    let mut admission = request.admission(policies, options);
    // The parsed object moves to the admission: patches apply to it, nothing re-reads it.
    admission.object = request.object.take();
    let scope = Scope {
        purpose,
        phase: options.phase,
        only: options.only,
        namespaces: options.namespaces,
        own_namespace: options.own_namespace,
    };
    let kind = request.kind.kind.clone();
    let claims_view = options.claims;
    let renormalize = move |previous: &Request, object: &Value| {
        let mut next = previous.clone();
        next.object = object.to_string();
        next.workload = workload::normalize(&kind, object);
        claims::resolve(&mut next, object, claims_view);
        next
    };
    let verdict = admission::evaluate(policies, &admission, &scope, Some(&renormalize));
    (admission.request, verdict)
}

impl AdmissionRequest {
    /// The door-neutral admission: the envelope (claims seen through to their volumes), what
    /// match rules see, whether this UPDATE changes anything policies read, and the Pod
    /// Security levels the namespace's labels ask for.
    pub fn admission(&self, policies: &PolicySet, options: &ReviewOptions<'_>) -> Admission {
        let mut request = self.to_request();
        if let Some(object) = self.object.as_ref() {
            claims::resolve(&mut request, object, options.claims);
        }
        let context = self.match_context();
        let pod_security = match (policies.pod_security(), context.namespace.as_deref()) {
            (Some(config), Some(namespace))
                if !namespace.is_empty()
                    && request.workload.is_some()
                    && !ALWAYS_EXCLUDED.contains(&namespace)
                    && options.own_namespace != Some(namespace) =>
            {
                options
                    .namespaces
                    .labels(namespace)
                    .map(|labels| pod_security::levels(config, &labels))
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let registry_context = match policies.asks_registries() {
            true => self.pull_secrets(&request),
            false => None,
        };
        Admission {
            request,
            object: None,
            context,
            unchanged_update: update::unchanged(self),
            pod_security,
            registry_context,
        }
    }

    /// The `imagePullSecrets` the pod spec names, with its namespace: the credentials the
    /// kubelet will pull with, so registry questions are asked with them too.
    fn pull_secrets(&self, request: &Request) -> Option<std::sync::Arc<crate::registry::Context>> {
        let pointer = &request.workload.as_ref()?.pointer;
        let spec = self.object.as_ref()?.pointer(pointer)?;
        let names: Vec<String> = spec
            .get("imagePullSecrets")?
            .as_array()?
            .iter()
            .filter_map(|s| s.get("name")?.as_str().map(str::to_string))
            .filter(|n| !n.is_empty())
            .collect();
        let namespace = request.namespace.clone().filter(|n| !n.is_empty())?;
        (!names.is_empty()).then(|| {
            std::sync::Arc::new(crate::registry::Context {
                local_images: Default::default(),
                pull_secrets: Some(crate::registry::PullSecrets { namespace, names }),
            })
        })
    }

    /// What match rules look at.
    pub fn match_context(&self) -> MatchContext {
        let object = self
            .object
            .as_ref()
            .filter(|o| !o.is_null())
            .or(self.old_object.as_ref());
        let object_labels = object
            .and_then(|o| o["metadata"]["labels"].as_object())
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        MatchContext {
            kubernetes: true,
            operation: self.operation_name().to_string(),
            group: self.kind.group.clone(),
            version: self.kind.version.clone(),
            kind: self.kind.kind.clone(),
            subresource: self.sub_resource.clone().filter(|s| !s.is_empty()),
            namespace: self.namespace.clone(),
            object_labels,
            user: self.user_info.username.clone().unwrap_or_default(),
            groups: self.user_info.groups.clone().unwrap_or_default(),
        }
    }
}
