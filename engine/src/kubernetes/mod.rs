//! The Kubernetes door: `AdmissionReview` in, normalized request out, and the review's
//! `response` back. No policy logic lives here.

pub mod review;
pub mod workload;

pub use review::{AdmissionRequest, AdmissionReview, ReviewError};

use serde_json::Value;

use crate::abi::Request;
use crate::policy_set::PolicySet;

/// Decides one `AdmissionReview` and returns the review to send back.
pub fn review(policies: &PolicySet, value: Value) -> Result<AdmissionReview, ReviewError> {
    let (api_version, request) = AdmissionReview::parse(value)?;
    let envelope = request.to_request();
    let kind = request.kind.kind.clone();
    let renormalize = move |previous: &Request, object: &Value| {
        let mut next = previous.clone();
        next.object = object.to_string();
        next.workload = workload::normalize(&kind, object);
        next
    };
    let verdict = policies.evaluate(&envelope, Some(&renormalize));
    Ok(AdmissionReview::respond(
        &api_version,
        &request.uid,
        &verdict,
    ))
}
