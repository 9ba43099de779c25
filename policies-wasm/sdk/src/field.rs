//! Field paths in messages: JSON pointers from the host become the dotted paths Kubernetes
//! users read in `kubectl` errors (`spec.containers[0].securityContext.privileged`).

/// Joins a JSON pointer and a dotted suffix into one dotted path.
pub(crate) fn join(pointer: &str, suffix: &str) -> String {
    let mut path = pointer_to_path(pointer);
    if !suffix.is_empty() {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(suffix);
    }
    path
}

/// `/spec/containers/0` → `spec.containers[0]`.
pub fn pointer_to_path(pointer: &str) -> String {
    let mut path = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            path.push('[');
            path.push_str(&token);
            path.push(']');
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&token);
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_dotted_paths() {
        assert_eq!(pointer_to_path("/spec/containers/0"), "spec.containers[0]");
        assert_eq!(
            join(
                "/spec/template/spec/initContainers/2",
                "securityContext.privileged"
            ),
            "spec.template.spec.initContainers[2].securityContext.privileged"
        );
        assert_eq!(join("", "HostConfig.Privileged"), "HostConfig.Privileged");
        assert_eq!(
            pointer_to_path("/metadata/annotations/a~1b"),
            "metadata.annotations.a/b"
        );
    }
}
