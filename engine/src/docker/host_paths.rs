//! Bind sources resolved on the host: the path the kernel will mount, with every symbolic
//! link on the way followed, so that a bind of an ordinary-looking directory in which some
//! container planted a link to `/` is decided as the bind of `/` it is.
//!
//! The plugin runs on the host it guards (dockerd finds it through a local socket), as
//! root; `docker.hostRoot` says where the host's root is seen from this process.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The kernel's limit on symbolic links followed in one lookup.
const MAX_LINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("more than {MAX_LINKS} symbolic links")]
    Loop,
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("its real path {0} is not UTF-8")]
    NotUtf8(String),
}

/// The real path of `raw` (absolute, as dockerd passes it to mount(2): not cleaned first)
/// on the host whose root is `root`. Each component is looked up as the kernel does: a
/// symbolic link is replaced by its target (an absolute target starts again at the host's
/// root, a relative one at the link's directory) and `..` steps back from where the path
/// has really got to. The part that does not exist yet is kept as written: dockerd creates
/// a missing bind source as a directory there. Names are bytes, as the kernel's are; a real
/// path that is not UTF-8 cannot be shown to policies and is an error.
pub fn resolve(root: &Path, raw: &str) -> Result<String, ResolveError> {
    let mut real: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = components(raw.as_bytes()).rev().collect();
    let mut links = 0;
    let mut missing = false;
    while let Some(part) = pending.pop() {
        match part.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                real.pop();
                continue;
            }
            _ => {}
        }
        if missing {
            real.push(part);
            continue;
        }
        let on_host = join(root, &real).join(&part);
        match std::fs::symlink_metadata(&on_host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(ResolveError::Loop);
                }
                let target = std::fs::read_link(&on_host)
                    .map_err(|e| ResolveError::Io(shown_lossy(&real, &part), e))?;
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    real.clear();
                }
                pending.extend(components(target).rev());
            }
            Ok(_) => real.push(part),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing = true;
                real.push(part);
            }
            Err(e) => return Err(ResolveError::Io(shown_lossy(&real, &part), e)),
        }
    }
    let mut out = String::new();
    for part in &real {
        let name = part
            .to_str()
            .ok_or_else(|| ResolveError::NotUtf8(shown_lossy(&real, OsStr::new(""))))?;
        out.push('/');
        out.push_str(name);
    }
    Ok(if out.is_empty() { "/".into() } else { out })
}

fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    path.split(|b| *b == b'/')
        .map(|c| OsStr::from_bytes(c).to_os_string())
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(parts);
    path
}

/// For messages only.
fn shown_lossy(parts: &[OsString], last: &OsStr) -> String {
    let mut out = String::new();
    for part in parts.iter().map(OsString::as_os_str).chain(Some(last)) {
        if !part.is_empty() {
            out.push('/');
            out.push_str(&part.to_string_lossy());
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn follows_links_as_the_kernel_does() {
        let host = tempfile::tempdir().unwrap();
        let root = host.path();
        std::fs::create_dir_all(root.join("srv/common/real")).unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        // What a container with /srv/common mounted could plant.
        symlink("/", root.join("srv/common/evil")).unwrap();
        symlink("../../etc", root.join("srv/common/up")).unwrap();
        symlink("real", root.join("srv/common/rel")).unwrap();
        symlink("loop", root.join("srv/loop")).unwrap();

        let cases = [
            ("/srv/common/real", "/srv/common/real"),
            ("/srv/common/evil", "/"),
            ("/srv/common/evil/etc", "/etc"),
            ("//srv/./common/evil/", "/"),
            ("/srv/common/up", "/etc"),
            ("/srv/common/rel/x/y", "/srv/common/real/x/y"),
            // `..` after a link steps back from its target, not from the link.
            ("/srv/common/up/../srv", "/srv"),
            ("/srv/common/rel/..", "/srv/common"),
            // Missing parts stay as written (dockerd creates them).
            ("/srv/new/dir", "/srv/new/dir"),
            ("/../../srv", "/srv"),
        ];
        for (raw, want) in cases {
            assert_eq!(resolve(root, raw).unwrap(), want, "{raw}");
        }
        assert!(matches!(
            resolve(root, "/srv/loop"),
            Err(ResolveError::Loop)
        ));
        // A link whose target is not UTF-8 is followed as the kernel follows it.
        let odd = OsStr::from_bytes(b"\xfe");
        symlink("/", root.join("srv/common").join(odd)).unwrap();
        symlink(odd, root.join("srv/common/innocent")).unwrap();
        assert_eq!(resolve(root, "/srv/common/innocent").unwrap(), "/");
        symlink(OsStr::from_bytes(b"/srv/\xfe"), root.join("srv/odd")).unwrap();
        assert!(matches!(
            resolve(root, "/srv/odd"),
            Err(ResolveError::NotUtf8(_))
        ));
    }
}
