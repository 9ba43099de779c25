//! Settings arrive as JSON text. Errors carry the exact path of the offending field so an
//! operator can find it in the config.

use crate::SettingsError;

/// Parses settings; empty text or `null` means the defaults.
pub fn parse_settings<T: serde::de::DeserializeOwned + Default>(
    text: &str,
) -> Result<T, SettingsError> {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(T::default());
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = err.path().to_string();
        SettingsError {
            field: if field == "." { String::new() } else { field },
            message: strip_position(&err.inner().to_string()),
        }
    })
}

/// serde_json appends "at line 1 column 42" of the JSON text the host built, which is not the
/// operator's file: drop it.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
    struct Demo {
        allowed_paths: Vec<Entry>,
    }
    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        #[allow(dead_code)]
        prefix: String,
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse_settings::<Demo>(r#"{"allowedPaths":[{"prefix":"/a"},{"prefx":"/b"}]}"#)
            .unwrap_err();
        assert_eq!(err.field, "allowedPaths[1].prefx");
        assert!(
            err.message.starts_with("unknown field `prefx`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn empty_means_defaults() {
        assert!(parse_settings::<Demo>("").unwrap().allowed_paths.is_empty());
        assert!(
            parse_settings::<Demo>("null")
                .unwrap()
                .allowed_paths
                .is_empty()
        );
    }
}
