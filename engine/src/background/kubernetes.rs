//! `portcullis audit kubernetes`: every object of the kinds the policies match, listed from
//! the API server a page at a time and decided as a CREATE of the object as it stands.
//!
//! Which kinds: those the policies' match rules name (operations including CREATE), a policy
//! without kinds (or a `*` kind) meaning the workload kinds the engine understands. Each kind
//! is looked up in the API server's discovery, at the first version it serves (so a 1.20
//! server's `CronJob` is read as `batch/v1beta1`), as the webhook would have been sent it.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::ListParams;
use kube::core::{ApiResource, DynamicObject, Resource as _};
use kube::discovery::{ApiCapabilities, ApiGroup, Scope, verbs};
use rayon::prelude::*;
use serde_json::Value;

use super::{ObjectReport, Output, Resource, Summary, outcomes};
use crate::admission::Purpose;
use crate::kubernetes::review::AdmissionReview;
use crate::kubernetes::{self, ReviewOptions};
use crate::policy_set::PolicySet;

/// The kinds a policy without kinds matches: those `kubernetes::workload` reads a Pod
/// spec from, by group.
pub const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("", "Pod"),
    ("", "ReplicationController"),
    ("", "PodTemplate"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
];

/// What to audit.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only this namespace (cluster-scoped kinds are then left out).
    pub namespace: Option<String>,
    /// Only objects with these labels (a label selector, as kubectl's `-l`).
    pub selector: Option<String>,
    /// Only this policy.
    pub only: Option<String>,
    /// Objects per list request: what the audit holds in memory at once.
    pub page_size: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            selector: None,
            only: None,
            page_size: 500,
        }
    }
}

/// A kind to list: its group and name, and the versions the policies name (`*`: any).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub group: String,
    pub kind: String,
    pub versions: BTreeSet<String>,
}

/// The kinds the policies (or the one named) match on CREATE.
pub fn targets(policies: &PolicySet, only: Option<&str>) -> Vec<Target> {
    let mut wanted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut add = |group: &str, kind: &str, version: &str| {
        wanted
            .entry((group.to_string(), kind.to_string()))
            .or_default()
            .insert(version.to_string());
    };
    let workloads = |add: &mut dyn FnMut(&str, &str, &str), group: &str, version: &str| {
        for (g, kind) in WORKLOAD_KINDS {
            if group == "*" || group == *g {
                add(g, kind, version);
            }
        }
    };
    let kubernetes = policies.policies().iter().filter(|p| {
        p.metadata()
            .sources
            .contains(&crate::abi::Source::Kubernetes)
            && only.is_none_or(|name| p.config.name == name)
    });
    for policy in kubernetes {
        let m = &policy.config.matching;
        let creates =
            m.operations.is_empty() || m.operations.iter().any(|o| o == "CREATE" || o == "*");
        if !creates {
            continue;
        }
        if m.rules.is_empty() {
            workloads(&mut add, "*", "*");
        }
        for rule in &m.rules {
            for group in &rule.api_groups {
                for version in &rule.api_versions {
                    for kind in &rule.kinds {
                        if kind == "*" {
                            workloads(&mut add, group, version);
                        } else if group == "*" {
                            // A kind in any group: the groups the workload kinds are in.
                            for (g, k) in WORKLOAD_KINDS {
                                if k == kind {
                                    add(g, kind, version);
                                }
                            }
                        } else {
                            add(group, kind, version);
                        }
                    }
                }
            }
        }
    }
    // Pod Security levels from namespace labels apply to every workload.
    if policies.pod_security_enabled() && only.is_none_or(|name| name.starts_with("pod-security")) {
        workloads(&mut add, "*", "*");
    }
    wanted
        .into_iter()
        .map(|((group, kind), versions)| Target {
            group,
            kind,
            versions,
        })
        .collect()
}

/// The served resource for `target`: the first version (the group's preferred first) that
/// the policies accept and that serves the kind with `list`.
fn served(group: &ApiGroup, target: &Target) -> Option<(ApiResource, ApiCapabilities)> {
    let any = target.versions.contains("*");
    group
        .versions()
        .filter(|v| any || target.versions.contains(*v))
        .flat_map(|v| group.versioned_resources(v))
        .find(|(ar, caps)| ar.kind == target.kind && caps.supports_operation(verbs::LIST))
}

/// The API server's answer to one list request.
struct Page {
    items: Vec<Value>,
    next: Option<String>,
    remaining: Option<u64>,
}

async fn list_page(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<Page, kube::Error> {
    let url = DynamicObject::url_path(resource, namespace);
    let request = kube::core::Request::new(url)
        .list(params)
        .map_err(kube::Error::BuildRequest)?;
    let mut page: Value = client.request(request).await?;
    let metadata = page["metadata"].take();
    let items = match page["items"].take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    Ok(Page {
        items,
        next: metadata["continue"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        remaining: metadata["remainingItemCount"].as_u64(),
    })
}

/// Decides one listed object as a CREATE of it as it stands.
pub fn decide(
    policies: &PolicySet,
    resource: &ApiResource,
    mut object: Value,
    options: &ReviewOptions<'_>,
) -> ObjectReport {
    // List items carry no apiVersion and kind of their own.
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), resource.api_version.clone().into());
        map.insert("kind".into(), resource.kind.clone().into());
    }
    let metadata = &object["metadata"];
    let subject = Resource {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
        namespace: metadata["namespace"].as_str().map(str::to_string),
        name: metadata["name"].as_str().unwrap_or_default().to_string(),
        uid: metadata["uid"].as_str().unwrap_or_default().to_string(),
    };
    let mut request = AdmissionReview::for_object(object)
        .request
        .expect("a review made for an object has its request");
    request.namespace = subject.namespace.clone();
    request.resource.resource = resource.plural.clone();
    let (_, verdict) = kubernetes::decide(policies, request, options, Purpose::Audit);
    ObjectReport {
        door: "kubernetes",
        resource: subject,
        outcomes: outcomes(&verdict),
    }
}

/// Something the audit could not look at; the rest was audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub what: String,
    pub why: String,
    /// The API server refused or failed the list (RBAC, say), as opposed to not serving
    /// the kind at all: the audit is incomplete.
    pub failed: bool,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.why)
    }
}

/// Lists and decides every target object, page by page, handing each decided object to
/// `output` as it comes. Runs on the calling thread; `runtime` performs the requests.
#[allow(clippy::too_many_arguments)]
pub fn run(
    runtime: &tokio::runtime::Handle,
    client: &kube::Client,
    policies: &PolicySet,
    options: &Options,
    review: &ReviewOptions<'_>,
    output: &mut dyn Output,
    progress: &indicatif::ProgressBar,
) -> Result<(Summary, Vec<Skipped>), crate::background::Error> {
    let mut summary = Summary::default();
    let mut skipped = Vec::new();
    let mut groups: BTreeMap<String, Option<ApiGroup>> = BTreeMap::new();
    for target in targets(policies, options.only.as_deref()) {
        let label = if target.group.is_empty() {
            target.kind.clone()
        } else {
            format!("{}.{}", target.kind, target.group)
        };
        if !groups.contains_key(&target.group) {
            let found = match runtime.block_on(kube::discovery::group(client, &target.group)) {
                Ok(group) => Some(group),
                // A group this server does not serve has none of its kinds.
                Err(kube::Error::Discovery(_)) => None,
                Err(e) => return Err(crate::background::Error::Kubernetes(e)),
            };
            groups.insert(target.group.clone(), found);
        }
        let group = groups.get(&target.group).and_then(Option::as_ref);
        let Some((resource, capabilities)) = group.and_then(|g| served(g, &target)) else {
            skipped.push(Skipped {
                what: label,
                why: "not served by this API server".into(),
                failed: false,
            });
            continue;
        };
        let namespace = match (&options.namespace, &capabilities.scope) {
            (Some(ns), Scope::Namespaced) => Some(ns.as_str()),
            (Some(_), Scope::Cluster) => continue,
            (None, _) => None,
        };
        let mut params = ListParams::default().limit(options.page_size);
        if let Some(selector) = &options.selector {
            params = params.labels(selector);
        }
        progress.set_message(label.clone());
        loop {
            let page = match runtime.block_on(list_page(client, &resource, namespace, &params)) {
                Ok(page) => page,
                Err(e) => {
                    skipped.push(Skipped {
                        what: label.clone(),
                        why: format!("cannot list: {e}"),
                        failed: true,
                    });
                    break;
                }
            };
            progress.inc_length(page.items.len() as u64);
            if params.continue_token.is_none() {
                progress.inc_length(page.remaining.unwrap_or(0));
            }
            let reports: Vec<ObjectReport> = page
                .items
                .into_par_iter()
                .map(|object| decide(policies, &resource, object, review))
                .collect();
            for report in &reports {
                summary.add(report);
                output
                    .object(report)
                    .map_err(crate::background::Error::Output)?;
            }
            progress.inc(reports.len() as u64);
            match page.next {
                Some(token) => params.continue_token = Some(token),
                None => break,
            }
        }
    }
    Ok((summary, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn set(yaml: &str) -> PolicySet {
        PolicySet::load(&Config::parse(yaml, "test", std::env::current_dir().unwrap()).unwrap())
            .unwrap()
    }

    fn names(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|t| format!("{}/{}", t.group, t.kind))
            .collect()
    }

    #[test]
    fn kinds_follow_the_policies_match_rules() {
        let policies = set(r#"
policies:
  - name: everything
    module: builtin:privileged
  - name: pods-only
    module: builtin:registries
    settings: {allowedRegistries: [registry.example.com]}
    match:
      rules: [{apiGroups: [""], apiVersions: [v1], kinds: [Pod]}]
  - name: exec-only
    module: builtin:privileged
    match:
      operations: [CONNECT]
      rules: [{apiGroups: [""], apiVersions: [v1], kinds: [Pod], subresources: [exec]}]
"#);
        let all = targets(&policies, None);
        assert_eq!(all.len(), WORKLOAD_KINDS.len(), "{:?}", names(&all));
        let pods = targets(&policies, Some("pods-only"));
        assert_eq!(names(&pods), ["/Pod"]);
        assert_eq!(pods[0].versions, BTreeSet::from(["v1".to_string()]));
        // A policy that never sees a CREATE has nothing to audit.
        assert!(targets(&policies, Some("exec-only")).is_empty());
    }
}
