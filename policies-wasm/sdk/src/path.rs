//! Host paths as the engine normalizes them, for policies that compare paths from their
//! settings with the normalized paths of a request.

/// The root-level symbolic links of merged-`/usr` hosts, and `/var/run`, `/var/lock`.
const HOST_SYMLINKS: &[(&[&str], &[&str])] = &[
    (&["bin"], &["usr", "bin"]),
    (&["sbin"], &["usr", "sbin"]),
    (&["lib"], &["usr", "lib"]),
    (&["lib32"], &["usr", "lib32"]),
    (&["lib64"], &["usr", "lib64"]),
    (&["libx32"], &["usr", "libx32"]),
    (&["var", "run"], &["run"]),
    (&["var", "lock"], &["run", "lock"]),
];

/// Resolves `.`, `..`, repeated slashes and the root-level symbolic links every current
/// distribution has (`/bin` is `/usr/bin`, `/var/run` is `/run`), each link before the `..`
/// after it, as the kernel does; a relative path is taken as relative to `/`. The engine
/// normalizes request paths with the same function.
pub fn normalize(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => {
                parts.push(p);
                if let Some((_, target)) = HOST_SYMLINKS.iter().find(|(link, _)| *link == parts) {
                    parts = target.to_vec();
                }
            }
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
            "/run/docker.sock"
        );
        assert_eq!(normalize("/bin/../share"), "/usr/share");
        assert_eq!(normalize("/lib64/x"), "/usr/lib64/x");
        assert_eq!(normalize("/../.."), "/");
        assert!(within("/etc/ssl", "/etc"));
        assert!(!within("/etcetera", "/etc"));
    }
}
