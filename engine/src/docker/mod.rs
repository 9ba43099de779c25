//! The Docker door: dockerd's authorization-plugin requests in, normalized request out, and
//! `{"Allow","Msg","Err"}` back. Parsing follows dockerd exactly — a parser that disagrees
//! with dockerd is a policy bypass — and fails closed when a body needed for a decision is
//! missing.

pub mod authz;
pub mod gojson;
pub mod moby;
pub mod normalize;
pub mod route;

pub use authz::{AuthzRequest, AuthzResponse};

use crate::abi::Request;
use crate::decision::Verdict;
use crate::matching::{MatchContext, NoCluster};
use crate::policy_set::{Matcher, Phase, PolicySet, Selection};

/// A decided authz request: the answer for dockerd and, when the request could be read,
/// what the audit log records.
pub struct Authorized {
    pub response: AuthzResponse,
    pub request: Option<Request>,
    pub verdict: Verdict,
}

/// Decides one `AuthZReq`. A request that cannot be inspected is denied, naming why.
pub fn authorize(policies: &PolicySet, authz: &AuthzRequest) -> Authorized {
    let request = match normalize::normalize_with(authz, policies.docker_config()) {
        Ok(request) => request,
        Err(undecidable) => {
            let verdict = Verdict::deny(format!("denied by portcullis: {undecidable}"));
            return Authorized {
                response: AuthzResponse::from_verdict(&verdict),
                request: None,
                verdict,
            };
        }
    };
    // Only user and group exemptions apply at this door.
    let context = MatchContext {
        kubernetes: false,
        user: request.user.clone(),
        ..Default::default()
    };
    let matcher = Matcher {
        context: &context,
        namespaces: &NoCluster,
        own_namespace: None,
    };
    let selection = Selection {
        phase: Phase::All,
        only: None,
        matching: Some(&matcher),
        unchanged_update: false,
    };
    let verdict = policies.evaluate_selected(&request, selection, None);
    Authorized {
        response: AuthzResponse::from_verdict(&verdict),
        request: Some(request),
        verdict,
    }
}
