//! The Docker door: dockerd's authorization-plugin requests in, normalized request out, and
//! `{"Allow","Msg","Err"}` back. Parsing follows dockerd exactly — a parser that disagrees
//! with dockerd is a policy bypass — and fails closed when a body needed for a decision is
//! missing.

pub mod authz;
pub mod gojson;
pub mod normalize;
pub mod route;

pub use authz::{AuthzRequest, AuthzResponse};

use crate::policy_set::PolicySet;

/// Decides one `AuthZReq`. A request that cannot be inspected is denied, naming why.
pub fn authorize(policies: &PolicySet, request: &AuthzRequest) -> AuthzResponse {
    match normalize::normalize(request) {
        Ok(envelope) => AuthzResponse::from_verdict(&policies.evaluate(&envelope, None)),
        Err(undecidable) => AuthzResponse::deny(format!("denied by portcullis: {undecidable}")),
    }
}
