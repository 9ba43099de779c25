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

/// Decides one `AuthZReq`. A request that cannot be inspected is denied, naming why, and so
/// is any call that would disable or remove this plugin (`plugin_name`, as dockerd knows it):
/// the door guards itself before any policy runs, for `serve` and `eval` alike.
pub fn authorize(policies: &PolicySet, authz: &AuthzRequest, plugin_name: &str) -> Authorized {
    let route = route::parse(&authz.request_method, &authz.request_uri);
    if let route::Operation::PluginDisable { name } | route::Operation::PluginRemove { name } =
        &route.operation
        && is_this_plugin(name, plugin_name)
    {
        let verdict = Verdict::deny(format!(
            "denied by portcullis: the authorization plugin {plugin_name:?} cannot be disabled \
             or removed through the Docker API"
        ));
        return Authorized {
            response: AuthzResponse::from_verdict(&verdict),
            request: normalize::normalize_with(authz, policies.docker_config()).ok(),
            verdict,
        };
    }
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

/// `portcullis`, `portcullis:latest`, `library/portcullis:1.0` all name a plugin `portcullis`.
fn is_this_plugin(name: &str, ours: &str) -> bool {
    let without_tag = name
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(name, |(n, _)| n);
    let last = without_tag.rsplit('/').next().unwrap_or(without_tag);
    last.eq_ignore_ascii_case(ours) || without_tag.eq_ignore_ascii_case(ours)
}

#[cfg(test)]
mod tests {
    use super::is_this_plugin;

    #[test]
    fn plugin_names() {
        for name in [
            "portcullis",
            "portcullis:latest",
            "library/portcullis:1.0",
            "Portcullis",
        ] {
            assert!(is_this_plugin(name, "portcullis"), "{name}");
        }
        assert!(!is_this_plugin("portcullis-other", "portcullis"));
        assert!(!is_this_plugin("vieux/sshfs:latest", "portcullis"));
    }
}
