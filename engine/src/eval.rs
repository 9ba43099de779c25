//! `portcullis eval`: decide one request offline and print the exact response the server
//! would send — an `AdmissionReview` with its `response` for Kubernetes input, the authz
//! plugin's `{"Allow","Msg","Err"}` for Docker input.

use serde_json::Value;

use crate::docker::{self, AuthzRequest};
use crate::kubernetes::{self, AdmissionReview, ReviewOptions};
use crate::policy_set::PolicySet;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("request is neither JSON nor YAML: {0}")]
    Syntax(String),
    #[error(
        "cannot tell what the request is: expected a Kubernetes AdmissionReview, a Kubernetes \
         object (with apiVersion and kind) or a Docker authz request (with RequestMethod and \
         RequestUri)"
    )]
    Unknown,
    #[error(transparent)]
    Review(#[from] kubernetes::ReviewError),
    #[error("not a Docker authz request: {0}")]
    Docker(String),
}

/// What a request file holds.
#[derive(Debug)]
pub enum Input {
    Review(Value),
    Object(Value),
    Docker(AuthzRequest),
}

impl Input {
    pub fn parse(text: &str) -> Result<Input, InputError> {
        let value: Value = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| InputError::Syntax(e.to_string()))?
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| InputError::Syntax(e.to_string()))?
        };
        let Some(object) = value.as_object() else {
            return Err(InputError::Unknown);
        };
        if object.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
            Ok(Input::Review(value))
        } else if object.contains_key("RequestMethod")
            || object.contains_key("RequestUri")
            || object.contains_key("RequestURI")
        {
            serde_json::from_value(value)
                .map(Input::Docker)
                .map_err(|e| InputError::Docker(e.to_string()))
        } else if object.contains_key("apiVersion") && object.contains_key("kind") {
            Ok(Input::Object(value))
        } else {
            Err(InputError::Unknown)
        }
    }
}

/// Decides the request as the server would (every phase, match rules applied, no cluster to
/// ask for namespace labels) and returns the response document.
pub fn evaluate(policies: &PolicySet, input: Input) -> Result<Value, InputError> {
    let options = ReviewOptions::default();
    let response = match input {
        Input::Review(review) => {
            serde_json::to_value(kubernetes::review(policies, review, options)?.response)
        }
        Input::Object(object) => {
            let review =
                serde_json::to_value(AdmissionReview::for_object(object)).expect("serializable");
            serde_json::to_value(kubernetes::review(policies, review, options)?.response)
        }
        Input::Docker(request) => {
            serde_json::to_value(docker::authorize(policies, &request).response)
        }
    };
    Ok(response.expect("responses serialize"))
}
