//! Host paths as the engine normalizes them, for policies that compare paths from their
//! settings with the normalized paths of a request.

/// Resolves `.`, `..` and repeated slashes; a relative path is taken as relative to `/`.
pub fn normalize(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        "/".into()
    } else {
        format!("/{}", parts.join("/"))
    }
}

/// Whether normalized `path` is `base` or lies below it, on a segment boundary (`/etcetera`
/// is not under `/etc`).
pub fn within(path: &str, base: &str) -> bool {
    base == "/"
        || path == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_the_engine() {
        assert_eq!(
            normalize("/var//run/../run/./docker.sock"),
            "/var/run/docker.sock"
        );
        assert_eq!(normalize("/../.."), "/");
        assert!(within("/etc/ssl", "/etc"));
        assert!(!within("/etcetera", "/etc"));
    }
}
