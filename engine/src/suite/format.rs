//! What a suite file says. Unknown keys are errors, so a misspelt expectation cannot pass
//! unchecked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Suite {
    /// Shown in reports; the file (and line) when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// The policy under test, written as an entry of a config's `policies` (`module`,
    /// `settings`, `capabilities`, ...). Its `name` defaults to the module's; it may mutate.
    #[serde(default)]
    pub policy: Option<Value>,
    /// Or a whole configuration file (relative to the suite): every policy it enables, as
    /// the server would run them.
    #[serde(default)]
    pub config: Option<PathBuf>,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Case {
    pub name: String,
    /// A Kubernetes object (with apiVersion and kind), decided as the operation below.
    #[serde(default)]
    pub object: Option<Value>,
    /// A Pod spec: shorthand for a `v1` Pod named `test` with that spec.
    #[serde(default)]
    pub pod: Option<Value>,
    /// A whole AdmissionReview, as the API server sends it.
    #[serde(default)]
    pub review: Option<Value>,
    /// A `docker run|create|exec|pull …` command line, turned into the request dockerd sends.
    #[serde(default)]
    pub docker: Option<String>,
    /// A Docker authz request as dockerd posts it; `RequestBody` may be written as JSON
    /// (an object) instead of base64.
    #[serde(default)]
    pub authz: Option<Value>,
    /// A file (relative to the suite) holding any of those, as `portcullis eval` reads it.
    #[serde(default)]
    pub file: Option<PathBuf>,

    /// For `object` and `pod`: `CREATE` (default), `UPDATE`, `DELETE` or `CONNECT`.
    #[serde(default)]
    pub operation: Option<String>,
    #[serde(default)]
    pub old_object: Option<Value>,
    /// Default: the object's own, else `default`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The labels of the request's namespace, as match rules and Pod Security levels see them.
    #[serde(default)]
    pub namespace_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub subresource: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub dry_run: bool,

    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expect {
    pub allowed: bool,
    /// Fragments the message must contain (the denial a user sees; on Docker, `Msg`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub message: Vec<String>,
    /// Fragments, each found in some warning; `[]` means no warnings at all. Absent: not checked.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
    /// The exact JSON Patch; `null` means no patch. Absent: not checked.
    #[serde(default, deserialize_with = "present")]
    pub patch: Option<Value>,
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Tells `patch: null` (no patch expected) from no `patch` key (not checked).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl Case {
    /// The request keys the case sets; exactly one is allowed.
    pub fn request_keys(&self) -> Vec<&'static str> {
        [
            ("object", self.object.is_some()),
            ("pod", self.pod.is_some()),
            ("review", self.review.is_some()),
            ("docker", self.docker.is_some()),
            ("authz", self.authz.is_some()),
            ("file", self.file.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| key)
        .collect()
    }
}
