//! The one decision path both doors take. A door turns its request into an [`Admission`]
//! once — what was asked and by whom, the object (and on UPDATE the old one), the normalized
//! workload, and what only that door knows — and [`evaluate`] decides it within a [`Scope`]:
//! admission or audit, every policy or one, the mutating or the validating phase.
//!
//! Door-specific rules stay in their door: the Kubernetes door says which UPDATEs change
//! nothing policies read and which Pod Security levels a namespace asks for; the Docker door
//! refuses calls against itself before anything is evaluated. `serve` and `eval` both come
//! through here, so they answer alike.

use crate::abi::Request;
use crate::config::Mode;
use crate::decision::Verdict;
use crate::matching::{MatchContext, NamespaceLabels, NoCluster};
use crate::placement::Placement;
use crate::policy_set::{Matcher, Phase, PolicySet, Renormalize, Selection};

/// One request as a door read it.
pub struct Admission {
    /// The policy envelope: identity, operation, object and old object, workload.
    pub request: Request,
    /// `request.object` as the door parsed it, when it did: patches apply to it directly.
    pub object: Option<serde_json::Value>,
    /// What `match` rules look at.
    pub context: MatchContext,
    /// An UPDATE that changes nothing policies read, and why (`kubernetes::update`): in an
    /// admission scope only policies configured with `everyUpdate` see it.
    pub unchanged_update: Option<&'static str>,
    /// Pod Security levels the request's namespace asks for by its labels.
    pub pod_security: Vec<LevelCheck>,
    /// What the door tells the host for policies that ask registries: which image the
    /// daemon holds under each name (Docker), the pull secrets a pod spec names (Kubernetes).
    pub registry_context: Option<std::sync::Arc<crate::registry::Context>>,
}

impl Admission {
    /// A request with nothing door-specific: every policy's rules see only its source.
    pub fn of(request: Request) -> Admission {
        let context = MatchContext {
            kubernetes: request.source == crate::abi::Source::Kubernetes,
            user: request.user.clone(),
            groups: request.groups.clone(),
            ..Default::default()
        };
        Admission {
            request,
            object: None,
            context,
            unchanged_update: None,
            pod_security: Vec::new(),
            registry_context: None,
        }
    }
}

/// A Pod Security Standards level to check, in a mode, with the set's PSS module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelCheck {
    /// `enforce`, `warn` or `audit`: names the result (`pod-security-enforce`).
    pub label: &'static str,
    pub mode: Mode,
    pub level: String,
    pub version: String,
}

/// Why a request is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A request a door is waiting on.
    Admission,
    /// An object as it stands, decided as if created now: no UPDATE is skipped.
    Audit,
}

/// Which policies decide, and what they may know of the cluster.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub purpose: Purpose,
    pub phase: Phase,
    /// Only the policy of this name (per-policy webhook endpoints).
    pub only: Option<&'a str>,
    /// Namespace labels, for namespace selectors.
    pub namespaces: &'a dyn NamespaceLabels,
    /// The engine's own namespace, which policies leave alone unless told otherwise.
    pub own_namespace: Option<&'a str>,
    /// How the policies run: concurrently on the policy pool, or on the calling thread.
    pub placement: Placement,
}

impl Scope<'static> {
    /// Admission by every policy, with no cluster to ask (the Docker door; `eval`).
    pub const ADMISSION: Scope<'static> = Scope {
        purpose: Purpose::Admission,
        phase: Phase::All,
        only: None,
        namespaces: &NoCluster,
        own_namespace: None,
        placement: Placement::Concurrent,
    };
}

/// Decides `admission` with the policies `scope` picks. `renormalize` rebuilds the request
/// from an object a mutating policy changed; without it (the Docker door cannot change a
/// request) patches are reported, not applied.
pub fn evaluate(
    policies: &PolicySet,
    admission: &Admission,
    scope: &Scope<'_>,
    renormalize: Option<Renormalize<'_>>,
) -> Verdict {
    let skipped = skipped_update(admission, scope);
    let mut verdict = with_selection(admission, scope, |selection, levels| {
        policies.run(
            &admission.request,
            admission.object.as_ref(),
            selection,
            levels,
            renormalize,
            admission.registry_context.as_ref(),
        )
    });
    if let Some(why) = skipped {
        // Recorded in the audit log: which policies were skipped and why.
        verdict
            .audit_annotations
            .insert("portcullis.dev/not-evaluated".into(), why.into());
        if verdict.allowed && verdict.message.is_empty() {
            verdict.message = format!("allowed without evaluation: {why}");
        }
    }
    verdict
}

/// Where `evaluate` should decide `admission` (`placement`): judged on the very policies
/// and Pod Security levels it would run.
pub fn placement(policies: &PolicySet, admission: &Admission, scope: &Scope<'_>) -> Placement {
    with_selection(admission, scope, |selection, levels| {
        policies.placement(&admission.request, selection, levels)
    })
}

/// Why an UPDATE is not evaluated, when in an admission scope it is not.
fn skipped_update(admission: &Admission, scope: &Scope<'_>) -> Option<&'static str> {
    admission
        .unchanged_update
        .filter(|_| scope.purpose == Purpose::Admission)
}

/// Calls `f` with the policies `scope` selects for `admission`, and the Pod Security levels
/// to check.
fn with_selection<R>(
    admission: &Admission,
    scope: &Scope<'_>,
    f: impl FnOnce(Selection<'_>, &[LevelCheck]) -> R,
) -> R {
    let skipped = skipped_update(admission, scope);
    let matcher = Matcher {
        context: &admission.context,
        namespaces: scope.namespaces,
        own_namespace: scope.own_namespace,
    };
    let selection = Selection {
        phase: scope.phase,
        only: scope.only,
        matching: Some(&matcher),
        unchanged_update: skipped.is_some(),
        placement: scope.placement,
    };
    let levels: &[LevelCheck] = if scope.phase == Phase::Mutate || skipped.is_some() {
        &[]
    } else {
        &admission.pod_security
    };
    f(selection, levels)
}
