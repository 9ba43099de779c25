//! Kubernetes image pull secrets, read as the kubelet reads them: a Secret of type
//! `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`, a `~/.docker/config.json` with
//! `auths`) or `kubernetes.io/dockercfg` (`.dockercfg`, the older form without the `auths`
//! level). Each entry is keyed by a registry host, possibly written as a URL
//! (`https://index.docker.io/v1/`), with credentials as `auth` (base64 of `user:password`) or
//! as `username` and `password`.

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;

/// A registry host and the credentials a secret gives for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub host: String,
    pub username: String,
    pub password: String,
}

/// The credentials in a pull secret; a secret of another type gives none.
pub fn credentials(secret: &Secret) -> Vec<Credential> {
    let (key, nested) = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => (".dockerconfigjson", true),
        Some("kubernetes.io/dockercfg") => (".dockercfg", false),
        _ => return Vec::new(),
    };
    let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(key)) else {
        return Vec::new();
    };
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(&bytes.0) else {
        return Vec::new();
    };
    let auths = if nested { &config["auths"] } else { &config };
    let Some(auths) = auths.as_object() else {
        return Vec::new();
    };
    auths
        .iter()
        .filter_map(|(key, entry)| {
            let (username, password) = match entry.get("auth").and_then(|a| a.as_str()) {
                Some(auth) if !auth.is_empty() => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth)
                        .ok()?;
                    let text = String::from_utf8(decoded).ok()?;
                    let (u, p) = text.split_once(':')?;
                    (u.to_string(), p.to_string())
                }
                _ => (
                    entry.get("username")?.as_str()?.to_string(),
                    entry.get("password")?.as_str()?.to_string(),
                ),
            };
            Some(Credential {
                host: host_of(key),
                username,
                password,
            })
        })
        .collect()
}

/// `https://index.docker.io/v1/` → `docker.io`; `registry.example.com:5000` stays.
fn host_of(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    super::normalize_host(key.split('/').next().unwrap_or(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(kind: &str, key: &str, json: &str) -> Secret {
        Secret {
            type_: Some(kind.into()),
            data: Some([(key.to_string(), ByteString(json.as_bytes().to_vec()))].into()),
            ..Secret::default()
        }
    }

    #[test]
    fn both_secret_forms_and_both_credential_spellings_are_read() {
        let auth = base64::engine::general_purpose::STANDARD.encode("robot:s3cr:et");
        let new = secret(
            "kubernetes.io/dockerconfigjson",
            ".dockerconfigjson",
            &format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},"r.example:5000":{{"username":"u","password":"p"}}}}}}"#
            ),
        );
        assert_eq!(
            credentials(&new),
            vec![
                Credential {
                    host: "docker.io".into(),
                    username: "robot".into(),
                    password: "s3cr:et".into()
                },
                Credential {
                    host: "r.example:5000".into(),
                    username: "u".into(),
                    password: "p".into()
                },
            ]
        );
        let old = secret(
            "kubernetes.io/dockercfg",
            ".dockercfg",
            &format!(r#"{{"r.example":{{"auth":"{auth}"}}}}"#),
        );
        assert_eq!(credentials(&old)[0].host, "r.example");
        assert!(credentials(&secret("Opaque", ".dockerconfigjson", "{}")).is_empty());
    }
}
