//! `image-signatures`: images that rules match must carry cosign key-based signatures by the
//! rule's keys, for the digest that will run. The host answers the registry questions
//! (the policy needs `capabilities: [registry]` in its config): what a tag points at now,
//! and which keys signed that digest. On Kubernetes, `mutateDigest` pins each verified tag to
//! its digest with a patch, so the kubelet pulls what was verified. At the Docker door,
//! which cannot change a request, a create is decided on the image the daemon holds under
//! that name (the door tells the host which digest it was pulled as, and a tag moved in the
//! registry does not change it), and a pull on what the registry's tag points at.
//!
//! A registry that cannot answer leaves the policy undecided: its `failurePolicy` decides
//! (deny, unless configured to fail open).

use portcullis_sdk::prelude::*;
use portcullis_sdk::registry::{self, RegistryError};
use portcullis_sdk::{Reason, serde_json};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Which images need which signatures. An image no rule matches is not checked here.
    pub rules: Vec<Rule>,
    /// Kubernetes: replace each verified tag with `tag@digest` (needs `allowedToMutate`), so
    /// the kubelet pulls what was verified even if the tag moves later. On by default; off,
    /// a tag is verified as it points now and may be moved before the pull.
    pub mutate_digest: bool,
    /// Deny images written without a digest, even when their tag verifies.
    pub require_digest: bool,
    /// Registries (`host[:port]`) allowed although the host reaches them over plain HTTP.
    pub allow_insecure_registries: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rules: Vec::new(),
            mutate_digest: true,
            require_digest: false,
            allow_insecure_registries: Vec::new(),
        }
    }
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// Globs over `registry/repository` (`*` matches anything, `/` included; `?` one
    /// character): `ghcr.io/acme/*`, `docker.io/library/nginx`.
    pub images: Vec<String>,
    /// cosign public keys (PEM, ECDSA P-256), as `cosign generate-key-pair` writes them.
    pub keys: Vec<String>,
    /// How many of the keys must each have signed the digest; all of them when absent.
    pub required: Option<usize>,
}

impl Rule {
    fn required(&self) -> usize {
        self.required.unwrap_or(self.keys.len())
    }

    fn matches(&self, name: &str) -> bool {
        self.images
            .iter()
            .any(|g| glob(g.as_bytes(), name.as_bytes()))
    }
}

/// `*` matches any run of characters, `?` any one; everything else itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

pub struct ImageSignatures;

impl Policy for ImageSignatures {
    type Settings = Settings;
    const NAME: &'static str = "image-signatures";
    const MUTATING: bool = true;

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        let error = |field: String, message: &str| SettingsError {
            field,
            message: message.to_string(),
        };
        for (i, rule) in settings.rules.iter().enumerate() {
            if rule.images.is_empty() {
                return Err(error(format!("rules[{i}].images"), "names no image"));
            }
            if rule.keys.is_empty() {
                return Err(error(format!("rules[{i}].keys"), "lists no key"));
            }
            for (k, key) in rule.keys.iter().enumerate() {
                if !key.contains("-----BEGIN PUBLIC KEY-----") {
                    return Err(error(
                        format!("rules[{i}].keys[{k}]"),
                        "is not a PEM public key (-----BEGIN PUBLIC KEY-----)",
                    ));
                }
            }
            if rule.required() == 0 || rule.required() > rule.keys.len() {
                return Err(error(
                    format!("rules[{i}].required"),
                    "must be between 1 and the number of keys",
                ));
            }
        }
        Ok(())
    }

    fn validate(request: &Request, settings: &Settings) -> Decision {
        // Without a host to say otherwise, an image that cannot be checked is refused.
        Self::try_validate(request, settings).unwrap_or_else(|why| {
            Decision::deny(vec![Reason {
                message: why,
                field: String::new(),
            }])
        })
    }

    fn try_validate(request: &Request, settings: &Settings) -> Result<Decision, String> {
        let mut findings = Findings::default();
        let mut patch = Vec::new();
        for c in request.containers() {
            let Some(image) = &c.image else { continue };
            let who = match request.source {
                Source::Kubernetes => format!("container {:?} image {:?}", c.name, image.raw),
                Source::Docker => format!("image {:?}", image.raw),
            };
            let field = request.field(c, "image", "Image");
            let resolved = match request.source {
                Source::Kubernetes => Resolved::RegistryTag,
                // Swarm nodes pull a service's image later, from the registry, past this
                // door: only a digest in the spec says what they will run.
                Source::Docker if request.operation.starts_with("service-") => Resolved::PinnedOnly,
                Source::Docker => Resolved::DaemonImage,
            };
            let verified = check(image, &who, field, resolved, settings, &mut findings)?;
            if let Some(digest) = verified
                && settings.mutate_digest
                && request.source == Source::Kubernetes
                && image.digest.is_none()
            {
                patch.push(serde_json::json!({
                    "op": "replace",
                    "path": format!("{}/image", c.pointer),
                    "value": format!("{}@{digest}", image.raw),
                }));
            }
        }
        if let Some(image) = request.docker.as_ref().and_then(|d| d.pull_image.as_ref()) {
            let who = format!("pull of {:?}", image.raw);
            check(
                image,
                &who,
                "fromImage".into(),
                Resolved::RegistryTag,
                settings,
                &mut findings,
            )?;
        }
        let decision = findings.into_decision();
        if !decision.allowed || patch.is_empty() {
            return Ok(decision);
        }
        Ok(decision.with_patch(Some(serde_json::Value::Array(patch).to_string())))
    }
}

/// Where a tag's digest comes from: the registry (what Kubernetes nodes and `docker pull`
/// will fetch), or the daemon (the local image a `docker run` runs; the host answers it).
#[derive(Clone, Copy)]
enum Resolved {
    RegistryTag,
    DaemonImage,
    /// No tag can be trusted: only a digest written in the request.
    PinnedOnly,
}

/// Checks one image; the digest that verified, when a rule matched and it did.
fn check(
    image: &ImageRef,
    who: &str,
    field: String,
    resolved: Resolved,
    settings: &Settings,
    findings: &mut Findings,
) -> Result<Option<String>, String> {
    if !image.valid {
        let rules_apply = !settings.rules.is_empty();
        if rules_apply {
            findings.deny(
                field,
                format!("{who} is not a valid image reference, so its signature cannot be checked"),
            );
        }
        return Ok(None);
    }
    if registry::insecure(&image.registry)
        && !settings
            .allow_insecure_registries
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&image.registry))
    {
        findings.deny(
            field,
            format!(
                "{who} comes from {}, which is reached over plain HTTP (an insecure registry); \
                 list it in allowInsecureRegistries to allow it",
                image.registry
            ),
        );
        return Ok(None);
    }
    if settings.require_digest && image.digest.is_none() {
        findings.deny(
            field,
            format!("{who} is not pinned by digest (@sha256:...)"),
        );
        return Ok(None);
    }
    let name = format!("{}/{}", image.registry, image.repository);
    let rules: Vec<(usize, &Rule)> = settings
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches(&name))
        .collect();
    if rules.is_empty() {
        return Ok(None);
    }
    let (digest, moved) = match &image.digest {
        Some(d) => (d.clone(), String::new()),
        None if matches!(resolved, Resolved::PinnedOnly) => {
            findings.deny(
                field,
                format!(
                    "{who} must be pinned by digest (@sha256:...): swarm nodes pull a \
                     service's image later, so only a digest says what they will run"
                ),
            );
            return Ok(None);
        }
        None => match registry::resolve(&image.raw) {
            Ok(d) => {
                let tag = image.tag.as_deref().unwrap_or("latest");
                let moved = match resolved {
                    Resolved::DaemonImage => " (the image the daemon holds under that name)".into(),
                    _ => format!(" (what its tag {tag} points at now)"),
                };
                (d, moved)
            }
            Err(RegistryError::NotFound(why)) => {
                findings.deny(field, format!("{who} cannot be verified: {why}"));
                return Ok(None);
            }
            Err(e) => {
                return Err(format!(
                    "{who}: cannot resolve its tag: {}",
                    registry::describe(&e)
                ));
            }
        },
    };
    for (i, rule) in rules {
        let check = registry::verify_cosign(&image.raw, &digest, &rule.keys).map_err(|e| {
            format!(
                "{who}: cannot read its signatures: {}",
                registry::describe(&e)
            )
        })?;
        let count = check.verified.iter().filter(|v| **v).count();
        if count >= rule.required() {
            continue;
        }
        let message = if check.found == 0 {
            format!("{who} is not signed: no cosign signature is stored for {digest}{moved}")
        } else if !check.other_digests.is_empty() {
            format!(
                "{who}: the signatures stored for {digest}{moved} sign another image ({})",
                check.other_digests.join(", ")
            )
        } else if count == 0 {
            format!(
                "{who} is signed, but not by a key of rule {i}: none of the {} signature(s) \
                 stored for {digest}{moved} verified with its keys",
                check.found
            )
        } else {
            format!(
                "{who}: {count} of the {} required keys of rule {i} signed {digest}{moved}",
                rule.required()
            )
        };
        let message = match check.problems.first() {
            Some(problem) => format!("{message}; {problem}"),
            None => message,
        };
        findings.deny(field, message);
        return Ok(None);
    }
    Ok(Some(digest))
}

portcullis_sdk::policy!(ImageSignatures);

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_sdk::testing::*;

    #[test]
    fn globs_match_across_path_segments() {
        let rule = Rule {
            images: vec!["ghcr.io/acme/*".into(), "docker.io/library/ngin?".into()],
            ..Rule::default()
        };
        assert!(rule.matches("ghcr.io/acme/app"));
        assert!(rule.matches("ghcr.io/acme/team/app"));
        assert!(rule.matches("docker.io/library/nginx"));
        assert!(!rule.matches("ghcr.io/acme"));
        assert!(!rule.matches("ghcr.io/acmex/app"));
        assert!(!rule.matches("docker.io/library/nginx2"));
    }

    #[test]
    fn settings_name_the_rule_that_is_wrong() {
        let err = check_settings::<ImageSignatures>(
            r#"{"rules":[{"images":["a/*"],"keys":["-----BEGIN PUBLIC KEY-----x"],"required":2}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.field, "rules[0].required");
        let err =
            check_settings::<ImageSignatures>(r#"{"rules":[{"images":["a/*"],"keys":["abc"]}]}"#)
                .unwrap_err();
        assert_eq!(err.field, "rules[0].keys[0]");
    }
}
