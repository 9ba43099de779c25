//! Which requests a policy sees. Each policy's `match` block in the config selects by
//! operation; API group, version, kind and subresource; namespace (include and exclude
//! lists, a namespace label selector); an object label selector; and exempts users and
//! groups. The Docker door has no namespaces or kinds: there only the user and group
//! exemptions apply.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Namespaces every policy leaves alone unless its `match` says otherwise.
pub const ALWAYS_EXCLUDED: &[&str] = &["kube-system"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MatchRules {
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `*`. Empty: every operation.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Empty: every kind.
    #[serde(default)]
    pub rules: Vec<KindRule>,
    /// Only these namespaces. Absent: every namespace.
    pub namespaces: Option<Vec<String>>,
    /// Never these namespaces. Absent: `kube-system` and the engine's own namespace.
    pub exclude_namespaces: Option<Vec<String>>,
    /// Labels the request's namespace must have (from the API server).
    pub namespace_selector: Option<LabelSelector>,
    /// Labels the object must have.
    pub object_selector: Option<LabelSelector>,
    /// Users the policy does not apply to; a trailing `*` matches any rest
    /// (`system:serviceaccount:kube-system:*`).
    #[serde(default)]
    pub exempt_users: Vec<String>,
    /// Groups the policy does not apply to (same patterns).
    #[serde(default)]
    pub exempt_groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KindRule {
    /// `""` is the core group; `*` any.
    #[serde(default = "any")]
    pub api_groups: Vec<String>,
    #[serde(default = "any")]
    pub api_versions: Vec<String>,
    /// `Pod`, `Deployment`, ... or `*`.
    #[serde(default = "any")]
    pub kinds: Vec<String>,
    /// Subresources also matched (`ephemeralcontainers`, `exec`, `*`); the object itself
    /// always matches.
    #[serde(default)]
    pub subresources: Vec<String>,
}

fn any() -> Vec<String> {
    vec!["*".into()]
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    Operator::In => value.is_some_and(|v| r.values.contains(v)),
                    Operator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                    Operator::Exists => value.is_some(),
                    Operator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// What matching needs to know of a request.
#[derive(Debug, Clone, Default)]
pub struct MatchContext {
    pub kubernetes: bool,
    pub operation: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub object_labels: BTreeMap<String, String>,
    pub user: String,
    pub groups: Vec<String>,
}

/// Labels of namespaces, as the API server has them.
pub trait NamespaceLabels: Send + Sync {
    /// `None` when the labels cannot be known (no cluster, or namespace not seen yet).
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>>;
}

/// Used when no cluster is reachable: no namespace's labels are known.
pub struct NoCluster;

impl NamespaceLabels for NoCluster {
    fn labels(&self, _: &str) -> Option<BTreeMap<String, String>> {
        None
    }
}

impl NamespaceLabels for BTreeMap<String, BTreeMap<String, String>> {
    fn labels(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.get(namespace).cloned()
    }
}

/// `pattern` with an optional trailing `*`.
fn glob(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|x| x == "*" || x == value)
}

impl MatchRules {
    /// Whether a policy with these rules sees the request. `own_namespace` is the engine's
    /// namespace, excluded by default so the engine cannot lock itself out.
    pub fn selects(
        &self,
        ctx: &MatchContext,
        namespaces: &dyn NamespaceLabels,
        own_namespace: Option<&str>,
    ) -> bool {
        if self.exempt_users.iter().any(|p| glob(p, &ctx.user))
            || self
                .exempt_groups
                .iter()
                .any(|p| ctx.groups.iter().any(|g| glob(p, g)))
        {
            return false;
        }
        if !ctx.kubernetes {
            return true;
        }
        if !self.operations.is_empty() && !listed(&self.operations, &ctx.operation) {
            return false;
        }
        if !self.rules.is_empty() && !self.rules.iter().any(|r| r.matches(ctx)) {
            return false;
        }
        if let Some(ns) = ctx.namespace.as_deref().filter(|ns| !ns.is_empty()) {
            let excluded = match &self.exclude_namespaces {
                Some(list) => listed(list, ns),
                None => ALWAYS_EXCLUDED.contains(&ns) || own_namespace == Some(ns),
            };
            if excluded
                || self
                    .namespaces
                    .as_ref()
                    .is_some_and(|list| !listed(list, ns))
            {
                return false;
            }
            if let Some(selector) = &self.namespace_selector {
                match namespaces.labels(ns) {
                    Some(labels) if selector.matches(&labels) => {}
                    _ => return false,
                }
            }
        } else if self.namespace_selector.is_some() {
            // Cluster-scoped objects have no namespace for a selector to match, as with the
            // API server's own namespaceSelector (which matches them only when empty).
            return self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.match_labels.is_empty() && s.match_expressions.is_empty());
        }
        self.object_selector
            .as_ref()
            .is_none_or(|s| s.matches(&ctx.object_labels))
    }
}

impl KindRule {
    fn matches(&self, ctx: &MatchContext) -> bool {
        listed(&self.api_groups, &ctx.group)
            && listed(&self.api_versions, &ctx.version)
            && listed(&self.kinds, &ctx.kind)
            && ctx
                .subresource
                .as_deref()
                .is_none_or(|s| listed(&self.subresources, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_ctx(ns: &str) -> MatchContext {
        MatchContext {
            kubernetes: true,
            operation: "CREATE".into(),
            version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some(ns.into()),
            user: "alice".into(),
            groups: vec!["system:authenticated".into()],
            ..Default::default()
        }
    }

    fn rules(yaml: &str) -> MatchRules {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_leave_out_kube_system_and_our_namespace() {
        let r = MatchRules::default();
        assert!(r.selects(&pod_ctx("default"), &NoCluster, Some("portcullis")));
        assert!(!r.selects(&pod_ctx("kube-system"), &NoCluster, Some("portcullis")));
        assert!(!r.selects(&pod_ctx("portcullis"), &NoCluster, Some("portcullis")));
        let all = rules("excludeNamespaces: []");
        assert!(all.selects(&pod_ctx("kube-system"), &NoCluster, None));
    }

    #[test]
    fn operations_kinds_and_subresources() {
        let r = rules(
            "operations: [CREATE]\nrules: [{apiGroups: [''], kinds: [Pod], subresources: [ephemeralcontainers]}]",
        );
        assert!(r.selects(&pod_ctx("a"), &NoCluster, None));
        let mut update = pod_ctx("a");
        update.operation = "UPDATE".into();
        assert!(!r.selects(&update, &NoCluster, None));
        let mut eph = pod_ctx("a");
        eph.subresource = Some("ephemeralcontainers".into());
        assert!(r.selects(&eph, &NoCluster, None));
        eph.subresource = Some("status".into());
        assert!(!r.selects(&eph, &NoCluster, None));
        let mut deploy = pod_ctx("a");
        deploy.group = "apps".into();
        deploy.kind = "Deployment".into();
        assert!(!r.selects(&deploy, &NoCluster, None));
    }

    #[test]
    fn exemptions_with_globs() {
        let r =
            rules("exemptUsers: ['system:serviceaccount:kube-system:*']\nexemptGroups: [admins]");
        let mut ctx = pod_ctx("a");
        ctx.user = "system:serviceaccount:kube-system:replicaset-controller".into();
        assert!(!r.selects(&ctx, &NoCluster, None));
        ctx.user = "system:serviceaccount:default:app".into();
        assert!(r.selects(&ctx, &NoCluster, None));
        ctx.groups.push("admins".into());
        assert!(!r.selects(&ctx, &NoCluster, None));
    }

    #[test]
    fn selectors() {
        let mut cache = BTreeMap::new();
        cache.insert(
            "prod".to_string(),
            BTreeMap::from([("env".to_string(), "prod".to_string())]),
        );
        cache.insert(
            "dev".to_string(),
            BTreeMap::from([("env".to_string(), "dev".to_string())]),
        );
        let r = rules(
            "namespaceSelector: {matchExpressions: [{key: env, operator: In, values: [prod]}]}",
        );
        assert!(r.selects(&pod_ctx("prod"), &cache, None));
        assert!(!r.selects(&pod_ctx("dev"), &cache, None));
        assert!(
            !r.selects(&pod_ctx("prod"), &NoCluster, None),
            "unknown labels cannot match"
        );
        let r = rules("objectSelector: {matchLabels: {team: a}}");
        let mut ctx = pod_ctx("x");
        assert!(!r.selects(&ctx, &NoCluster, None));
        ctx.object_labels.insert("team".into(), "a".into());
        assert!(r.selects(&ctx, &NoCluster, None));
    }
}
