//! Runs a suite: loads its policies once, turns each case into the request its door
//! receives, decides it as the server would, and checks the answer.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::check::{self, Outcome};
use super::format::{Case, Suite};
use super::{Found, docker_cli};
use crate::config::Config;
use crate::docker::{self, AuthzRequest};
use crate::eval::Input;
use crate::kubernetes::{self, AdmissionReview, ReviewOptions};
use crate::matching::NamespaceLabels;
use crate::policy_set::PolicySet;
use crate::runtime::Runtime;

/// What became of one suite.
#[derive(Debug)]
pub struct SuiteResult {
    pub origin: String,
    pub name: String,
    /// Why the suite could not run at all (unreadable, policy failed to load).
    pub error: Option<String>,
    pub cases: Vec<CaseResult>,
    pub duration: Duration,
}

#[derive(Debug)]
pub struct CaseResult {
    pub name: String,
    /// Empty when the case passed; each entry says what differed.
    pub failures: Vec<String>,
    pub duration: Duration,
}

/// Runs one suite; nothing it contains can stop the others.
pub fn run_suite(found: &Found, runtime: &Arc<Runtime>) -> SuiteResult {
    let started = Instant::now();
    let mut result = SuiteResult {
        origin: found.origin.clone(),
        name: found.origin.clone(),
        error: None,
        cases: Vec::new(),
        duration: Duration::ZERO,
    };
    let suite: Suite = match serde_yaml_ng::from_str(&found.text) {
        Ok(suite) => suite,
        Err(e) => {
            result.error = Some(format!("not a suite: {e}"));
            return result;
        }
    };
    if let Some(name) = &suite.name {
        result.name = name.clone();
    }
    let base_dir = found
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let policies = match load_policies(&suite, &base_dir, runtime) {
        Ok(policies) => policies,
        Err(e) => {
            result.error = Some(e);
            result.duration = started.elapsed();
            return result;
        }
    };
    for case in &suite.cases {
        let started = Instant::now();
        let failures = match decide(&policies, case, &base_dir) {
            Ok(outcome) => check::compare(&case.expect, &outcome),
            Err(e) => vec![e],
        };
        result.cases.push(CaseResult {
            name: case.name.clone(),
            failures,
            duration: started.elapsed(),
        });
    }
    result.duration = started.elapsed();
    result
}

fn load_policies(
    suite: &Suite,
    base_dir: &Path,
    runtime: &Arc<Runtime>,
) -> Result<PolicySet, String> {
    let config = match (&suite.policy, &suite.config) {
        (Some(_), Some(_)) => return Err("give `policy` or `config`, not both".into()),
        (None, None) => return Err("no policy under test: give `policy` or `config`".into()),
        (None, Some(path)) => Config::load(&base_dir.join(path)).map_err(|e| e.to_string())?,
        (Some(entry), None) => {
            let mut entry = entry.clone();
            let Some(fields) = entry.as_object_mut() else {
                return Err(
                    "`policy` must be a config policy entry (module, settings, ...)".into(),
                );
            };
            let module = fields
                .get("module")
                .and_then(Value::as_str)
                .ok_or("`policy` needs a `module`")?
                .to_string();
            fields
                .entry("name")
                .or_insert_with(|| json!(crate::config::policy_name_for_module(&module)));
            fields.entry("allowedToMutate").or_insert(json!(true));
            let text = json!({ "policies": [entry] }).to_string();
            Config::parse(&text, "policy", base_dir.to_path_buf()).map_err(|e| e.to_string())?
        }
    };
    PolicySet::load_with(runtime.clone(), &config).map_err(|e| format!("{e:#}"))
}

/// A request the case describes, for one door or the other.
enum Described {
    Review(Value),
    Docker(AuthzRequest),
}

fn decide(policies: &PolicySet, case: &Case, base_dir: &Path) -> Result<Outcome, String> {
    let keys = case.request_keys();
    if keys.len() != 1 {
        return Err(format!(
            "a case needs exactly one of object, pod, review, docker, authz, file (has {})",
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        ));
    }
    let described = if let Some(object) = &case.object {
        Described::Review(review_for(object.clone(), case)?)
    } else if let Some(spec) = &case.pod {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "test"},
            "spec": spec,
        });
        Described::Review(review_for(pod, case)?)
    } else if let Some(review) = &case.review {
        Described::Review(review.clone())
    } else if let Some(command) = &case.docker {
        Described::Docker(docker_cli::authz_request(command, base_dir).map_err(|e| e.to_string())?)
    } else if let Some(authz) = &case.authz {
        Described::Docker(authz_request(authz.clone())?)
    } else if let Some(file) = &case.file {
        let path = base_dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        match Input::parse(&text).map_err(|e| format!("{}: {e}", path.display()))? {
            Input::Review(review) => Described::Review(review),
            Input::Object(object) => Described::Review(review_for(object, case)?),
            Input::Docker(request) => Described::Docker(request),
        }
    } else {
        unreachable!("exactly one request key is set")
    };
    match described {
        Described::Review(review) => {
            let labels = FixedLabels(case.namespace_labels.clone());
            let options = ReviewOptions {
                namespaces: &labels,
                ..ReviewOptions::default()
            };
            let reviewed =
                kubernetes::review(policies, review, options).map_err(|e| e.to_string())?;
            let response = reviewed
                .response
                .response
                .ok_or("the review has no response")?;
            let patch = match &response.patch {
                None => None,
                Some(encoded) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(encoded)
                        .map_err(|e| format!("the response's patch is not base64: {e}"))?;
                    Some(
                        serde_json::from_slice(&bytes)
                            .map_err(|e| format!("the response's patch is not JSON: {e}"))?,
                    )
                }
            };
            Ok(Outcome {
                allowed: response.allowed,
                message: response
                    .status
                    .as_ref()
                    .map(|s| s.message.clone())
                    .unwrap_or_default(),
                warnings: response.warnings.clone(),
                patch,
            })
        }
        Described::Docker(request) => {
            if case.operation.is_some()
                || case.old_object.is_some()
                || case.namespace_labels.is_some()
            {
                return Err(
                    "operation, oldObject and namespaceLabels are for Kubernetes requests".into(),
                );
            }
            // Decided as written: a suite runs with no daemon to look up what a call refers
            // to (other containers, host paths, local images).
            let response = match docker::prepare(policies, &request, "portcullis") {
                Ok(pending) => docker::decide(policies, pending).response,
                Err(done) => done.response,
            };
            let message = if response.err.is_empty() {
                response.msg
            } else {
                response.err
            };
            Ok(Outcome {
                allowed: response.allow,
                message,
                warnings: Vec::new(),
                patch: None,
            })
        }
    }
}

/// An AdmissionReview of `object` with the case's operation, user and namespace.
fn review_for(object: Value, case: &Case) -> Result<Value, String> {
    if !object.get("apiVersion").is_some_and(Value::is_string)
        || !object.get("kind").is_some_and(Value::is_string)
    {
        return Err("`object` needs apiVersion and kind".into());
    }
    let mut review = AdmissionReview::for_object(object);
    let request = review.request.as_mut().expect("for_object makes a request");
    let operation = case.operation.as_deref().unwrap_or("CREATE");
    request.operation = Some(serde_json::from_value(json!(operation)).map_err(|_| {
        format!("operation {operation:?}: expected CREATE, UPDATE, DELETE or CONNECT")
    })?);
    if operation == "DELETE" && case.old_object.is_none() {
        // The API server sends the object being deleted as the old object, and no object.
        request.old_object = request.object.take();
    } else {
        request.old_object = case.old_object.clone();
    }
    if let Some(namespace) = &case.namespace {
        request.namespace = Some(namespace.clone());
    }
    request.sub_resource = case.subresource.clone();
    request.user_info.username = case.user.clone();
    if !case.groups.is_empty() {
        request.user_info.groups = Some(case.groups.clone());
    }
    request.dry_run = Some(case.dry_run);
    Ok(serde_json::to_value(review).expect("reviews serialize"))
}

/// An authz request with `RequestBody` as JSON encoded as dockerd sends it.
fn authz_request(mut authz: Value) -> Result<AuthzRequest, String> {
    if let Some(body) = authz.get_mut("RequestBody")
        && (body.is_object() || body.is_array())
    {
        let text = format!("{body}\n");
        *body = json!(base64::engine::general_purpose::STANDARD.encode(&text));
        let headers = authz
            .as_object_mut()
            .ok_or("`authz` must be an object")?
            .entry("RequestHeaders")
            .or_insert_with(|| json!({}));
        if let Some(headers) = headers.as_object_mut() {
            headers
                .entry("Content-Type")
                .or_insert(json!("application/json"));
            headers
                .entry("Content-Length")
                .or_insert(json!(text.len().to_string()));
        }
    }
    serde_json::from_value(authz).map_err(|e| format!("`authz` is not a Docker authz request: {e}"))
}

/// The labels a case gives its namespace; unknown without them, as with no cluster.
struct FixedLabels(Option<BTreeMap<String, String>>);

impl NamespaceLabels for FixedLabels {
    fn labels(&self, _namespace: &str) -> Option<BTreeMap<String, String>> {
        self.0.clone()
    }
}
