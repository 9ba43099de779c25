//! An expectation against the decision a door answered: each difference described, with a
//! line diff where a value is long.

use serde_json::Value;

use super::format::Expect;

/// What a case's request got, from either door.
#[derive(Debug)]
pub struct Outcome {
    pub allowed: bool,
    pub message: String,
    pub warnings: Vec<String>,
    /// The JSON Patch, decoded.
    pub patch: Option<Value>,
}

pub fn compare(expect: &Expect, outcome: &Outcome) -> Vec<String> {
    let mut failures = Vec::new();
    if expect.allowed != outcome.allowed {
        let got = if outcome.allowed { "allowed" } else { "denied" };
        let wanted = if expect.allowed { "allowed" } else { "denied" };
        let mut failure = format!("expected {wanted}, got {got}");
        if !outcome.message.is_empty() {
            failure.push_str(&format!(": {}", outcome.message));
        }
        failures.push(failure);
    }
    for fragment in &expect.message {
        if !outcome.message.contains(fragment.as_str()) {
            let failure = if fragment.len() > 80 && outcome.message.len() > 80 {
                // A long fragment is usually a whole message with a detail changed: show
                // what changed rather than two walls of text.
                format!(
                    "message does not contain the expected text; where they differ ([-expected-] {{+got+}}):\n{}",
                    word_diff(fragment, &outcome.message)
                )
            } else {
                format!(
                    "message does not contain {fragment:?}\n  the message: {:?}",
                    outcome.message
                )
            };
            failures.push(failure);
        }
    }
    if let Some(expected) = &expect.warnings {
        if expected.is_empty() && !outcome.warnings.is_empty() {
            failures.push(format!("expected no warnings, got {:?}", outcome.warnings));
        }
        for fragment in expected {
            if !outcome
                .warnings
                .iter()
                .any(|w| w.contains(fragment.as_str()))
            {
                failures.push(format!(
                    "no warning contains {fragment:?}; warnings: {:?}",
                    outcome.warnings
                ));
            }
        }
    }
    if let Some(expected) = &expect.patch {
        let got = outcome.patch.clone().unwrap_or(Value::Null);
        if *expected != got {
            failures.push(format!(
                "patch differs\n{}",
                diff(&pretty(expected), &pretty(&got))
            ));
        }
    }
    failures
}

fn pretty(value: &Value) -> String {
    if value.is_null() {
        "(no patch)".into()
    } else {
        serde_json::to_string_pretty(value).expect("values serialize")
    }
}

/// The changed words of two texts, each change with a few words around it. `got` is read
/// from where the expected text's first words appear in it, so a prefix the fragment left
/// out is not shown as a change.
fn word_diff(expected: &str, got: &str) -> String {
    const CONTEXT: usize = 12;
    let head: String = expected.chars().take(24).collect();
    let got = got.find(&head).map_or(got, |at| &got[at..]);
    let diff = similar::TextDiff::from_words(expected, got);
    // Runs of one kind merged: `[-a b-]` rather than `[-a-][- -][-b-]`.
    let mut runs: Vec<(similar::ChangeTag, String)> = Vec::new();
    for change in diff.iter_all_changes() {
        match runs.last_mut() {
            Some((tag, text)) if *tag == change.tag() => text.push_str(change.value()),
            _ => runs.push((change.tag(), change.value().to_string())),
        }
    }
    let mut out = String::new();
    let last = runs.len().saturating_sub(1);
    for (i, (tag, text)) in runs.iter().enumerate() {
        match tag {
            similar::ChangeTag::Delete => out.push_str(&format!("[-{text}-]")),
            similar::ChangeTag::Insert => out.push_str(&format!("{{+{text}+}}")),
            similar::ChangeTag::Equal => {
                let chars: Vec<char> = text.chars().collect();
                let keep_head = if i == last { CONTEXT * 4 } else { CONTEXT * 2 };
                if i > 0 && i < last && chars.len() > keep_head * 2 {
                    out.extend(&chars[..keep_head]);
                    out.push_str(" … ");
                    out.extend(&chars[chars.len() - keep_head..]);
                } else if i == 0 && chars.len() > keep_head {
                    out.push_str("… ");
                    out.extend(&chars[chars.len() - keep_head..]);
                } else if i == last && i > 0 && chars.len() > keep_head {
                    out.extend(&chars[..keep_head]);
                    out.push_str(" …");
                } else {
                    out.push_str(text);
                }
            }
        }
    }
    out
}

/// A line diff, `-` expected and `+` got.
fn diff(expected: &str, got: &str) -> String {
    let diff = similar::TextDiff::from_lines(expected, got);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "- ",
            similar::ChangeTag::Insert => "+ ",
            similar::ChangeTag::Equal => "  ",
        };
        out.push_str(sign);
        out.push_str(change.value().trim_end_matches('\n'));
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(yaml: &str) -> Expect {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn each_difference_is_named() {
        let outcome = Outcome {
            allowed: true,
            message: String::new(),
            warnings: vec!["image uses latest".into()],
            patch: Some(json!([{"op": "add", "path": "/a", "value": 1}])),
        };
        assert!(compare(&expect("allowed: true\nwarnings: [latest]"), &outcome).is_empty());
        let failures = compare(
            &expect("allowed: false\nmessage: privileged\nwarnings: []\npatch: null"),
            &outcome,
        );
        assert_eq!(failures.len(), 4, "{failures:#?}");
        assert_eq!(failures[0], "expected denied, got allowed");
        assert!(failures[3].contains("- (no patch)"), "{}", failures[3]);
        assert!(failures[3].contains("+   {"), "{}", failures[3]);
    }
}
