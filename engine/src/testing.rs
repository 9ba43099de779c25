//! Test a compiled policy component from Rust, against real requests: the same path
//! `portcullis eval --policy` takes, for a policy author's `cargo test`.
//!
//! ```text
//! let policy = PolicyUnderTest::load("target/wasm32-wasip2/release/my_policy.wasm", json!({}))?;
//! let response = policy.decide(include_str!("pod.yaml"))?;
//! assert_eq!(response["response"]["allowed"], false);
//! ```

use std::path::Path;

use serde_json::Value;

use crate::config::Config;
use crate::eval::{self, Input, InputError};
use crate::policy_set::{PolicySet, SetError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Load(#[from] SetError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// One policy module, loaded with its settings and allowed to mutate.
pub struct PolicyUnderTest {
    set: PolicySet,
}

impl PolicyUnderTest {
    pub fn load(wasm: impl AsRef<Path>, settings: Value) -> Result<Self, TestError> {
        let wasm = wasm.as_ref();
        let yaml = serde_json::json!({
            "policies": [{
                "name": crate::config::policy_name_for_module(&wasm.display().to_string()),
                "module": wasm.display().to_string(),
                "settings": settings,
                "allowedToMutate": true,
            }],
            "runtime": {"disableCache": true, "maxConcurrentInstances": 4},
        });
        let config = Config::parse(&yaml.to_string(), "test policy", Default::default())?;
        Ok(PolicyUnderTest {
            set: PolicySet::load(&config)?,
        })
    }

    /// Decides a request (AdmissionReview, Kubernetes object or Docker authz request, as JSON
    /// or YAML text) and returns the response the server would send.
    pub fn decide(&self, request: &str) -> Result<Value, TestError> {
        Ok(eval::evaluate(&self.set, Input::parse(request)?)?)
    }
}
