//! Image references parsed the way container runtimes resolve them (the rules of
//! `distribution/reference`'s `ParseNormalizedNamed`): `nginx` is `docker.io/library/nginx`,
//! `index.docker.io` is `docker.io`, and the registry is the first path component only when
//! it looks like a host (has a `.` or `:`, is `localhost`, or has upper case). Matching on the
//! parsed registry means `registry.example.com.evil.io/app` never passes for
//! `registry.example.com`.

use crate::abi::ImageRef;

pub const DOCKER_HUB: &str = "docker.io";

pub fn parse(raw: &str) -> ImageRef {
    let mut image = ImageRef {
        raw: raw.to_string(),
        registry: String::new(),
        repository: String::new(),
        tag: None,
        digest: None,
        valid: false,
    };
    let text = raw.trim();
    if text.is_empty() || is_image_id(text) {
        // An image ID names a local image; where it came from cannot be told.
        return image;
    }

    let (name_and_tag, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(i) if !name_and_tag[i..].contains('/') => {
            (&name_and_tag[..i], Some(&name_and_tag[i + 1..]))
        }
        _ => (name_and_tag, None),
    };

    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if looks_like_host(first) => {
            (first.to_ascii_lowercase(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    // Other names of the same servers, so a rule about one is a rule about all: Docker
    // Hub's index and API hosts, and an explicit HTTPS port.
    let registry = match registry.strip_suffix(":443").unwrap_or(&registry) {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        host => host.to_string(),
    };
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };

    image.valid = valid_repository(&repository)
        && valid_host(&registry)
        && tag.is_none_or(valid_tag)
        && digest.is_none_or(valid_digest);
    image.registry = registry;
    image.repository = repository;
    image.tag = tag.map(str::to_string);
    image.digest = digest.map(str::to_string);
    image
}

fn looks_like_host(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.chars().any(|c| c.is_ascii_uppercase())
}

/// `sha256:<64 hex>` or a bare 64-hex ID.
fn is_image_id(text: &str) -> bool {
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Path components: lower-case alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.len() <= 255
        && repository.split('/').all(|component| {
            let bytes = component.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_lowercase() | bytes[0].is_ascii_digit()
                && bytes[bytes.len() - 1].is_ascii_lowercase()
                    | bytes[bytes.len() - 1].is_ascii_digit()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
                && !component.contains("..")
                && !component.contains("___")
                && !component.contains("._")
                && !component.contains("_.")
                && !component.contains(".-")
                && !component.contains("-.")
        })
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

fn valid_digest(digest: &str) -> bool {
    match digest.split_once(':') {
        Some((algorithm, hex)) => {
            !algorithm.is_empty()
                && algorithm
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> (String, String, Option<String>, Option<String>, bool) {
        let i = parse(raw);
        (i.registry, i.repository, i.tag, i.digest, i.valid)
    }

    #[test]
    fn other_names_of_the_same_registry_are_one_registry() {
        for raw in [
            "registry-1.docker.io/acme/app:1",
            "index.docker.io/acme/app:1",
            "docker.io:443/acme/app:1",
        ] {
            assert_eq!(parse(raw).registry, "docker.io", "{raw}");
            assert_eq!(parse(raw).repository, "acme/app", "{raw}");
        }
        assert_eq!(
            parse("registry-1.docker.io/nginx").repository,
            "library/nginx"
        );
        assert_eq!(
            parse("Registry.Example.com:443/prod/app").registry,
            "registry.example.com"
        );
        assert_eq!(
            parse("registry.example.com:5000/prod/app").registry,
            "registry.example.com:5000"
        );
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            parts("nginx"),
            ("docker.io".into(), "library/nginx".into(), None, None, true)
        );
        assert_eq!(parts("nginx:1.25").2.as_deref(), Some("1.25"));
        assert_eq!(parts("bitnami/redis").1, "bitnami/redis");
        assert_eq!(parts("docker.io/nginx").1, "library/nginx");
        assert_eq!(parts("index.docker.io/library/nginx").0, "docker.io");
    }

    #[test]
    fn registries_are_hosts() {
        assert_eq!(
            parts("registry.example.com/team/app:1.4.2").0,
            "registry.example.com"
        );
        assert_eq!(parts("localhost:5000/app").0, "localhost:5000");
        assert_eq!(parts("localhost/app").0, "localhost");
        assert_eq!(parts("Registry.Example.COM/app").0, "registry.example.com");
        assert_eq!(
            parts("registry.example.com.evil.io/app").0,
            "registry.example.com.evil.io"
        );
        // No dot, colon or `localhost`: a Docker Hub user, not a registry.
        assert_eq!(parts("myregistry/app").0, "docker.io");
    }

    #[test]
    fn tags_and_digests() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let (reg, repo, tag, digest, valid) = parts(&format!("localhost:5000/app:v1@{d}"));
        assert_eq!((reg.as_str(), repo.as_str()), ("localhost:5000", "app"));
        assert_eq!(tag.as_deref(), Some("v1"));
        assert_eq!(digest.as_deref(), Some(d));
        assert!(valid);
        assert_eq!(parts("localhost:5000/app").2, None, "a port is not a tag");
    }

    #[test]
    fn invalid_references() {
        assert!(!parse("").valid);
        assert!(!parse("UPPER").valid, "repositories are lower case");
        assert!(!parse("app:").valid);
        assert!(!parse("app@sha256:short").valid);
        assert!(!parse("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").valid);
        let id = parse("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        assert!(!id.valid);
        assert_eq!(id.registry, "");
    }
}
