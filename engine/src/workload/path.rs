//! Normalization of host paths: `.`, `..` and repeated slashes resolved, and the symbolic
//! links every current distribution has at the root followed as the kernel follows them
//! (merged `/usr`: `/bin` is `/usr/bin`; `/var/run` is `/run`), so that
//! `/var//run/../run/docker.sock` is compared as `/run/docker.sock` and `/bin/../share` as
//! `/usr/share`. Other symbolic links on the host cannot be seen from here; see
//! docs/policies/host-mounts.md. The SDK's `path::normalize` is the same function, for the
//! paths in policies' settings.

/// The root-level symbolic links of merged-`/usr` Debian, Ubuntu, Fedora and Arch hosts,
/// and `/var/run` and `/var/lock`. On a host without them this decides `/bin/..` as `/usr`
/// rather than `/`: stricter, never looser.
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

/// Normalizes an absolute host path. A relative path is taken as relative to `/`: it cannot
/// name anything safer than the absolute path of the same spelling. dockerd does not clean
/// bind sources; the kernel resolves each symbolic link before the `..` that follows it, and
/// so does this.
pub fn normalize(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => {
                parts.push(other);
                if let Some((_, target)) = HOST_SYMLINKS.iter().find(|(link, _)| *link == parts) {
                    parts = target.to_vec();
                }
            }
        }
    }
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

/// Go's `path.Clean` of an absolute path: `.`, `..` and repeated slashes resolved by
/// spelling alone, `..` above the root staying at the root. dockerd cleans bind sources this
/// way before the kernel sees them (`/srv/link/..` mounts `/srv` whatever `link` points
/// to), while mount(2) of a local volume's `device` does not.
pub fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 1);
    for part in segments(raw) {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() { "/".into() } else { out }
}

/// The segments of a URL path with `.`, `..` and empty segments resolved; `..` above the
/// root stays at the root, as HTTP routers treat it.
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
            ("/var//run/../run/./docker.sock", "/run/docker.sock"),
            ("/var/run/docker.sock", "/run/docker.sock"),
            ("/bin", "/usr/bin"),
            ("/bin/../share", "/usr/share"),
            ("/lib64/../../etc", "/etc"),
            ("/sbin/", "/usr/sbin"),
            ("/var/lock/../x", "/run/x"),
            ("/binary", "/binary"),
            ("/usr/bin/../lib", "/usr/lib"),
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
    fn clean_is_go_path_clean() {
        for (raw, want) in [
            ("/bin/..", "/"),
            ("/lib/../etc", "/etc"),
            ("/srv/link/../x/./", "/srv/x"),
            ("//a//b", "/a/b"),
            ("/../..", "/"),
        ] {
            assert_eq!(clean(raw), want, "{raw}");
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
