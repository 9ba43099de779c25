//! `registries`: images must come from allowed registries or repositories, compared on the
//! parsed reference — `registry.example.com.evil.io/app` is not from `registry.example.com`,
//! and `nginx` is `docker.io/library/nginx`. Options deny `:latest` (and untagged images,
//! which mean `latest`) and require a digest. Applies to Kubernetes workloads and to Docker
//! container create and image pull.

use portcullis_sdk::prelude::*;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// `registry.example.com` (a whole registry) or `registry.example.com/team` (a
    /// repository and everything below it). Empty: any registry.
    pub allowed_registries: Vec<String>,
    /// Deny images tagged `latest` and images with neither tag nor digest.
    pub reject_latest_tag: bool,
    /// Deny images not pinned by digest.
    pub require_digest: bool,
}

/// An allow-list entry, parsed like an image name.
#[derive(Debug, PartialEq)]
struct Entry {
    registry: String,
    repository_prefix: String,
}

impl Entry {
    fn parse(text: &str) -> Result<Entry, String> {
        let text = text.trim().trim_end_matches('/');
        if text.is_empty() {
            return Err("is empty".into());
        }
        if text.contains("://") {
            return Err("must be a registry host, not a URL (drop the scheme)".into());
        }
        if text.contains(['*', '@', ' '])
            || text
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':') && text.contains('/'))
        {
            return Err(
                "must be a registry or registry/repository, without wildcards, tags or digests"
                    .into(),
            );
        }
        let (first, rest) = match text.split_once('/') {
            Some((f, r)) => (f, r),
            None => (text, ""),
        };
        let is_host = first.contains(['.', ':']) || first == "localhost";
        let (registry, repository_prefix) = if is_host {
            (first.to_ascii_lowercase(), rest.to_string())
        } else {
            // A bare name is a Docker Hub repository: `nginx` is `docker.io/library/nginx`.
            let repo = if text.contains('/') {
                text.to_string()
            } else {
                format!("library/{text}")
            };
            ("docker.io".to_string(), repo)
        };
        let registry = if registry == "index.docker.io" {
            "docker.io".to_string()
        } else {
            registry
        };
        Ok(Entry {
            registry,
            repository_prefix,
        })
    }

    fn admits(&self, image: &ImageRef) -> bool {
        image.registry == self.registry
            && (self.repository_prefix.is_empty()
                || image.repository == self.repository_prefix
                || image
                    .repository
                    .starts_with(&format!("{}/", self.repository_prefix)))
    }
}

pub struct Registries;

impl Policy for Registries {
    type Settings = Settings;
    const NAME: &'static str = "registries";

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        for (i, entry) in settings.allowed_registries.iter().enumerate() {
            Entry::parse(entry).map_err(|why| SettingsError {
                field: format!("allowedRegistries[{i}]"),
                message: format!("{entry:?} {why}"),
            })?;
        }
        Ok(())
    }

    fn validate(request: &Request, settings: &Settings) -> Decision {
        let entries: Vec<Entry> = settings
            .allowed_registries
            .iter()
            .filter_map(|e| Entry::parse(e).ok())
            .collect();
        let mut findings = Findings::default();
        for c in request.containers() {
            let Some(image) = &c.image else { continue };
            let field = request.field(c, "image", "Image");
            let who = match request.source {
                Source::Kubernetes => format!("container {:?} image {:?}", c.name, image.raw),
                Source::Docker => format!("image {:?}", image.raw),
            };
            check(image, &who, field, &entries, settings, &mut findings);
        }
        if let Some(image) = request.docker.as_ref().and_then(|d| d.pull_image.as_ref()) {
            check(
                image,
                &format!("pull of {:?}", image.raw),
                "fromImage".into(),
                &entries,
                settings,
                &mut findings,
            );
        }
        findings.into_decision()
    }
}

fn check(
    image: &ImageRef,
    who: &str,
    field: String,
    entries: &[Entry],
    settings: &Settings,
    findings: &mut Findings,
) {
    if !entries.is_empty() {
        if !image.valid {
            let why = if image.registry.is_empty() {
                "names an image by ID"
            } else {
                "is not a valid image reference"
            };
            findings.deny(
                field,
                format!("{who} {why}, so its registry cannot be checked"),
            );
            return;
        }
        if !entries.iter().any(|e| e.admits(image)) {
            let allowed = settings.allowed_registries.join(", ");
            findings.deny(
                field,
                format!(
                    "{who} comes from {}/{}, which is not an allowed registry ({allowed})",
                    image.registry, image.repository
                ),
            );
            return;
        }
    }
    if settings.reject_latest_tag {
        match (&image.tag, &image.digest) {
            (Some(tag), _) if tag == "latest" => {
                findings.deny(
                    field.clone(),
                    format!("{who} uses the tag latest; pin a version"),
                );
            }
            (None, None) => findings.deny(
                field.clone(),
                format!("{who} has no tag, which means latest; pin a version"),
            ),
            _ => {}
        }
    }
    if settings.require_digest && image.digest.is_none() {
        findings.deny(
            field,
            format!("{who} is not pinned by digest (@sha256:...)"),
        );
    }
}

portcullis_sdk::policy!(Registries);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    const ALLOW: &str = r#"{"allowedRegistries":["registry.example.com","docker.io/library"]}"#;

    fn k8s(image: &str, settings: &str) -> Decision {
        run::<Registries>(&pod(vec![container("app", image)]), settings).unwrap()
    }

    #[test]
    fn registry_is_compared_on_the_parsed_reference() {
        assert!(k8s("registry.example.com/team/app:1.0", ALLOW).allowed);
        assert!(k8s("nginx:1.25", ALLOW).allowed, "docker.io/library");
        assert!(!k8s("registry.example.com.evil.io/app:1", ALLOW).allowed);
        assert!(
            !k8s("evil/nginx:1", ALLOW).allowed,
            "docker.io/evil is not docker.io/library"
        );
        let d = k8s("evil.example.com/x:1", ALLOW);
        assert_eq!(
            d.reasons[0].message,
            r#"container "app" image "evil.example.com/x:1" comes from evil.example.com/x, which is not an allowed registry (registry.example.com, docker.io/library)"#
        );
        assert_eq!(d.reasons[0].field, "spec.containers[0].image");
    }

    #[test]
    fn repository_prefixes_respect_segments() {
        let s = r#"{"allowedRegistries":["registry.example.com/team"]}"#;
        assert!(k8s("registry.example.com/team/app:1", s).allowed);
        assert!(!k8s("registry.example.com/teammate/app:1", s).allowed);
    }

    #[test]
    fn latest_and_digests() {
        let s = r#"{"rejectLatestTag":true}"#;
        assert!(!k8s("nginx", s).allowed);
        assert!(!k8s("nginx:latest", s).allowed);
        assert!(k8s("nginx:1.25", s).allowed);
        let pinned =
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert!(k8s(pinned, s).allowed);
        assert!(!k8s("nginx:1.25", r#"{"requireDigest":true}"#).allowed);
        assert!(k8s(pinned, r#"{"requireDigest":true}"#).allowed);
    }

    #[test]
    fn unrestricted_by_default() {
        assert!(k8s("anything.example/x", "{}").allowed);
    }

    #[test]
    fn settings_are_checked() {
        let err = check_settings::<Registries>(r#"{"allowedRegistries":["ok.io","https://x.io"]}"#)
            .unwrap_err();
        assert_eq!(err.field, "allowedRegistries[1]");
        assert!(
            check_settings::<Registries>(r#"{"allowedRegistries":["*.example.com"]}"#).is_err()
        );
    }
}
