//! The Kubernetes door: `AdmissionReview` in, normalized request out, and the review's
//! `response` back. No policy logic lives here.

pub mod claims;
pub mod namespaces;
pub mod registration;
pub mod review;
pub mod update;
pub mod workload;

pub use review::{AdmissionRequest, AdmissionReview, ReviewError};

use serde_json::Value;

use crate::abi::Request;
use crate::decision::Verdict;
use crate::matching::{MatchContext, NamespaceLabels, NoCluster};
use crate::policy_set::{Matcher, Phase, PolicySet, Selection};

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
    let (api_version, admission) = AdmissionReview::parse(value)?;
    let mut request = admission.to_request();
    if let Some(object) = admission.object.as_ref() {
        claims::resolve(&mut request, object, options.claims);
    }
    let context = admission.match_context();
    let matcher = Matcher {
        context: &context,
        namespaces: options.namespaces,
        own_namespace: options.own_namespace,
    };
    let unchanged = update::unchanged(&admission);
    let selection = Selection {
        phase: options.phase,
        only: options.only,
        matching: Some(&matcher),
        unchanged_update: unchanged.is_some(),
    };
    let kind = admission.kind.kind.clone();
    let claims_view = options.claims;
    let renormalize = move |previous: &Request, object: &Value| {
        let mut next = previous.clone();
        next.object = object.to_string();
        next.workload = workload::normalize(&kind, object);
        claims::resolve(&mut next, object, claims_view);
        next
    };
    let mut verdict = policies.evaluate_selected(&request, selection, Some(&renormalize));
    if let Some(why) = unchanged {
        // Recorded in the audit log: which policies were skipped and why.
        verdict
            .audit_annotations
            .insert("portcullis.dev/not-evaluated".into(), why.into());
        if verdict.allowed && verdict.message.is_empty() {
            verdict.message = format!("allowed without evaluation: {why}");
        }
    }
    let response = AdmissionReview::respond(&api_version, &admission.uid, &verdict);
    Ok(Reviewed {
        response,
        request,
        verdict,
    })
}

impl AdmissionRequest {
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
            operation: self.operation.clone(),
            group: self.kind.group.clone(),
            version: self.kind.version.clone(),
            kind: self.kind.kind.clone(),
            subresource: self.sub_resource.clone().filter(|s| !s.is_empty()),
            namespace: self.namespace.clone(),
            object_labels,
            user: self.user_info.username.clone(),
            groups: self.user_info.groups.clone(),
        }
    }
}
