//! Lexical normalization of host paths: `.`, `..` and repeated slashes resolved, so that
//! `/var//run/../run/docker.sock` is compared as `/var/run/docker.sock`. Symbolic links on
//! the host cannot be seen from here; see docs/policies/host-mounts.md.

/// Normalizes an absolute path. A relative path is taken as relative to `/`: it cannot name
/// anything safer than the absolute path of the same spelling.
pub fn normalize(raw: &str) -> String {
    let parts = segments(raw);
    if parts.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(raw.len() + 1);
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    out
}

/// The segments of a path with `.`, `..` and empty segments resolved; `..` above the root
/// stays at the root, as the kernel and HTTP routers both treat it.
pub fn segments(raw: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts
}

/// Whether normalized `path` is `base` or lies below it (on a segment boundary:
/// `/etcetera` is not under `/etc`).
pub fn is_within(path: &str, base: &str) -> bool {
    if base == "/" {
        return true;
    }
    path == base || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dots_and_slashes() {
        let cases = [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/etc/", "/etc"),
            ("/var//run/../run/./docker.sock", "/var/run/docker.sock"),
            ("/../../etc", "/etc"),
            ("/a/b/../../..", "/"),
            ("etc/passwd", "/etc/passwd"),
            ("/home/user/app", "/home/user/app"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw), want, "{raw}");
        }
    }

    #[test]
    fn within_respects_segment_boundaries() {
        assert!(is_within("/etc", "/etc"));
        assert!(is_within("/etc/ssl", "/etc"));
        assert!(!is_within("/etcetera", "/etc"));
        assert!(is_within("/anything", "/"));
        assert!(!is_within("/et", "/etc"));
    }
}
