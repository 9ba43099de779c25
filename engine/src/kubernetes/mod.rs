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
use crate::placement::Placement;
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
    /// How the policies run (`PolicySet::placement_for` says which suits a request).
    pub placement: Placement,
}

impl Default for ReviewOptions<'_> {
    fn default() -> Self {
        ReviewOptions {
            phase: Phase::All,
            only: None,
            namespaces: &NoCluster,
            claims: &NoCluster,
            own_namespace: None,
            placement: Placement::Concurrent,
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
    Ok(Prepared::new(policies, value, &options)?.decide(policies, &options))
}

/// A review read and turned into an admission, not yet decided: what `placement` needs to
/// choose where it is decided.
pub struct Prepared {
    api_version: String,
    uid: String,
    kind: String,
    admission: Admission,
}

impl Prepared {
    pub fn new(
        policies: &PolicySet,
        value: Value,
        options: &ReviewOptions<'_>,
    ) -> Result<Prepared, ReviewError> {
        let (api_version, mut request) = AdmissionReview::parse(value)?;
        let mut admission = request.admission(policies, options);
        // The parsed object moves to the admission: patches apply to it, nothing re-reads it.
        admission.object = request.object.take();
        Ok(Prepared {
            api_version,
            uid: request.uid,
            kind: request.kind.kind,
            admission,
        })
    }

    /// How its policies should run (`PolicySet::placement`).
    pub fn placement(&self, policies: &PolicySet, options: &ReviewOptions<'_>) -> Placement {
        admission::placement(
            policies,
            &self.admission,
            &scope(options, Purpose::Admission),
        )
    }

    pub fn decide(self, policies: &PolicySet, options: &ReviewOptions<'_>) -> Reviewed {
        let verdict = evaluate(
            policies,
            &self.admission,
            &self.kind,
            options,
            Purpose::Admission,
        );
        let response = AdmissionReview::respond(&self.api_version, &self.uid, &verdict);
        Reviewed {
            response,
            request: self.admission.request,
            verdict,
        }
    }
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
    admission.object = request.object.take();
    let verdict = evaluate(policies, &admission, &request.kind.kind, options, purpose);
    (admission.request, verdict)
}

fn scope<'a>(options: &ReviewOptions<'a>, purpose: Purpose) -> Scope<'a> {
    Scope {
        purpose,
        phase: options.phase,
        only: options.only,
        namespaces: options.namespaces,
        own_namespace: options.own_namespace,
        placement: options.placement,
    }
}

fn evaluate(
    policies: &PolicySet,
    admission: &Admission,
    kind: &str,
    options: &ReviewOptions<'_>,
    purpose: Purpose,
) -> Verdict {
    let claims_view = options.claims;
    let renormalize = move |previous: &Request, object: &Value| {
        let mut next = previous.clone();
        next.object = object.to_string();
        next.workload = workload::normalize(kind, object);
        claims::resolve(&mut next, object, claims_view);
        next
    };
    admission::evaluate(
        policies,
        admission,
        &scope(options, purpose),
        Some(&renormalize),
    )
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Config;

    fn set(yaml: &str) -> PolicySet {
        PolicySet::load(&Config::parse(yaml, "test", std::env::current_dir().unwrap()).unwrap())
            .unwrap()
    }

    fn pod_review(namespace: &str) -> Value {
        serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "1",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": namespace,
                "operation": "CREATE",
                "userInfo": {"username": "someone"},
                "object": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p", "namespace": namespace},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
                },
            },
        })
    }

    fn placement(set: &PolicySet, namespace: &str) -> Placement {
        let options = ReviewOptions::default();
        Prepared::new(set, pod_review(namespace), &options)
            .unwrap()
            .placement(set, &options)
    }

    #[test]
    fn a_review_is_decided_on_the_server_thread_only_while_the_policies_it_reaches_are_cheap() {
        let set = set(r#"
policies:
  - {name: everywhere, module: "builtin:privileged"}
  - name: elsewhere
    module: builtin:host-namespaces
    match: {namespaces: [elsewhere]}
"#);
        assert_eq!(
            placement(&set, "web"),
            Placement::Concurrent,
            "a policy never run yet goes to the pool"
        );
        set.observe("everywhere", Duration::from_micros(30));
        assert_eq!(
            placement(&set, "web"),
            Placement::Sequential,
            "a policy the review does not reach does not count"
        );
        assert_eq!(placement(&set, "elsewhere"), Placement::Concurrent);
        set.observe("elsewhere", Duration::from_micros(30));
        assert_eq!(placement(&set, "elsewhere"), Placement::Sequential);
        // One evaluation that ran long sends its reviews back to the pool.
        set.observe("everywhere", Duration::from_millis(5));
        assert_eq!(placement(&set, "web"), Placement::Concurrent);

        // Decided either way, the answer is the same.
        for placement in [Placement::Sequential, Placement::Concurrent] {
            let options = ReviewOptions {
                placement,
                ..Default::default()
            };
            let reviewed = review(&set, pod_review("elsewhere"), options).unwrap();
            assert!(reviewed.verdict.allowed, "{}", reviewed.verdict.message);
        }
    }

    #[test]
    fn long_deadlines_and_registry_questions_keep_a_review_on_the_pool() {
        let slow = set(r#"
policies:
  - {name: a, module: "builtin:privileged", timeoutMs: 600}
  - {name: b, module: "builtin:host-namespaces", timeoutMs: 600}
"#);
        slow.observe("a", Duration::from_micros(30));
        slow.observe("b", Duration::from_micros(30));
        assert_eq!(
            placement(&slow, "web"),
            Placement::Concurrent,
            "1.2 s of deadlines could hold a server thread"
        );

        let asks = set(r#"
policies:
  - {name: a, module: "builtin:privileged", capabilities: [registry]}
"#);
        asks.observe("a", Duration::from_micros(30));
        assert_eq!(
            placement(&asks, "web"),
            Placement::Concurrent,
            "a registry question waits on the network"
        );
    }
}
