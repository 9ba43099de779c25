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
            if let Some((line, column)) = too_deep(text) {
                return Err(InputError::Syntax(format!(
                    "nested deeper than {MAX_DEPTH} levels at line {line} column {column}"
                )));
            }
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

/// The deepest nesting a request may have, as serde_json allows for JSON.
const MAX_DEPTH: usize = 128;

/// Where YAML flow collections (`[`, `{`) first nest deeper than `MAX_DEPTH`, found in one
/// pass: the YAML parser reaches its own recursion limit only after time that grows with
/// the square of the input (minutes for 200 KB of brackets).
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    let mut previous = '\n';
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            comment = false;
        } else if comment {
        } else if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if q == '"' && c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                '"' | '\'' => quote = Some(c),
                '#' if previous.is_whitespace() => comment = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((line, column));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        previous = c;
    }
    None
}

/// Decides the request as the server would (every phase, match rules applied, no cluster to
/// ask for namespace labels) and returns the response document; a Docker plugin named
/// `portcullis`.
pub fn evaluate(policies: &PolicySet, input: Input) -> Result<Value, InputError> {
    evaluate_as(policies, input, "portcullis")
}

/// [`evaluate`] for a Docker plugin dockerd knows as `docker_plugin_name`
/// ([`crate::config::Config::docker_plugin_name`]).
pub fn evaluate_as(
    policies: &PolicySet,
    input: Input,
    docker_plugin_name: &str,
) -> Result<Value, InputError> {
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
            serde_json::to_value(docker::authorize(policies, &request, docker_plugin_name).response)
        }
    };
    Ok(response.expect("responses serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_yaml_is_refused_at_once() {
        let deep = format!("a: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        // Refused by the one-pass scan (the YAML parser's own message differs).
        let err = Input::parse(&deep).unwrap_err().to_string();
        assert!(
            err.contains("nested deeper than 128 levels at line 1 column 132"),
            "{err}"
        );
        // Brackets inside strings and comments do not count.
        let quoted = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: \"{}\"}} # {}\n",
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(Input::parse(&quoted).is_ok());
    }
}
