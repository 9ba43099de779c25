//! cosign's key-based signatures, read as cosign stores and checks them: the manifest tagged
//! `sha256-<hex>.sig` in the image's repository holds one layer per signature; each layer is
//! a simple-signing payload whose `dev.cosignproject.cosign/signature` annotation is the
//! base64 of an ASN.1 DER ECDSA signature over the payload's bytes. Like `cosign verify`, a
//! signature counts for an image only when its payload's type is cosign's and its
//! `docker-manifest-digest` is the image's digest; the `docker-reference` is not compared
//! (an image copied to a mirror keeps its signatures).

use base64::Engine as _;
use serde::Deserialize;

/// Media type of a signature layer.
pub const SIGNATURE_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation that carries the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// DER prefix of a P-256 `SubjectPublicKeyInfo`: SEQUENCE { SEQUENCE { id-ecPublicKey,
/// prime256v1 }, BIT STRING (0 unused bits) }, followed by the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The tag cosign stores an image's signatures under: `sha256:ab..` → `sha256-ab...sig`.
pub fn signature_tag(digest: &str) -> Result<String, String> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("{digest:?} is not a digest"))?;
    if algorithm != "sha256" || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{digest:?} is not a sha256 digest"));
    }
    Ok(format!("{algorithm}-{hex}.sig"))
}

/// An ECDSA P-256 public key, from the PEM `PUBLIC KEY` block cosign writes (`cosign.pub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The uncompressed point, as ring takes it.
    point: Vec<u8>,
}

impl PublicKey {
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        let body = pem_body(pem, "PUBLIC KEY")?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("the PUBLIC KEY block is not base64: {e}"))?;
        if der.len() != P256_SPKI_PREFIX.len() + 65
            || der[..P256_SPKI_PREFIX.len()] != P256_SPKI_PREFIX
        {
            return Err(
                "not an ECDSA P-256 public key (cosign's key-based signatures use P-256)".into(),
            );
        }
        Ok(PublicKey {
            point: der[P256_SPKI_PREFIX.len()..].to_vec(),
        })
    }

    /// Whether `signature` (DER) is this key's signature of SHA-256(`message`).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_ASN1,
            &self.point,
        )
        .verify(message, signature)
        .is_ok()
    }
}

/// The base64 between a PEM block's BEGIN and END lines.
fn pem_body(pem: &str, label: &str) -> Result<String, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or_else(|| format!("no \"{begin}\" line"))?
        + begin.len();
    let stop = pem[start..]
        .find(&end)
        .ok_or_else(|| format!("no \"{end}\" line"))?;
    Ok(pem[start..start + stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect())
}

/// A signature as stored: the payload and the layer's annotations.
#[derive(Debug, Clone)]
pub struct StoredSignature {
    pub payload: Vec<u8>,
    /// Base64 of the DER signature, as the annotation holds it.
    pub signature: String,
    pub annotations: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(rename = "type")]
    kind: String,
    image: PayloadImage,
}

#[derive(Deserialize)]
struct PayloadImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// What checking an image's stored signatures against some keys found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    pub found: u32,
    /// Per key, in the order given: a signature of the image verified with it.
    pub verified: Vec<bool>,
    /// Digests signed, with one of the keys, by signatures stored here for another image.
    pub other_digests: Vec<String>,
    pub problems: Vec<String>,
}

/// Checks each stored signature against each key, for the image `digest`.
pub fn check(digest: &str, signatures: &[StoredSignature], keys: &[PublicKey]) -> Check {
    let mut result = Check {
        found: signatures.len() as u32,
        verified: vec![false; keys.len()],
        ..Check::default()
    };
    for (n, stored) in signatures.iter().enumerate() {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(stored.signature.trim())
        else {
            result.problems.push(format!(
                "signature {n}: the signature annotation is not base64"
            ));
            continue;
        };
        let signed_by: Vec<usize> = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.verifies(&stored.payload, &raw))
            .map(|(i, _)| i)
            .collect();
        if signed_by.is_empty() {
            continue;
        }
        let payload: Payload = match serde_json::from_slice(&stored.payload) {
            Ok(p) => p,
            Err(e) => {
                result.problems.push(format!(
                    "signature {n}: the payload is not a simple-signing payload: {e}"
                ));
                continue;
            }
        };
        if payload.critical.kind != PAYLOAD_TYPE {
            result.problems.push(format!(
                "signature {n}: the payload's type is {:?}, not {PAYLOAD_TYPE:?}",
                payload.critical.kind
            ));
            continue;
        }
        if payload.critical.image.digest != digest {
            if !result
                .other_digests
                .contains(&payload.critical.image.digest)
            {
                result.other_digests.push(payload.critical.image.digest);
            }
            continue;
        }
        for i in signed_by {
            // A key listed twice (or in another PEM spelling) is one signer: only its first
            // listing counts towards a required number.
            if !keys[..i].contains(&keys[i]) {
                result.verified[i] = true;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tags_are_cosigns() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            signature_tag(&digest).unwrap(),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        assert!(signature_tag("sha256:abc").is_err());
        assert!(signature_tag("sha512:ab").is_err());
    }

    /// A key pair made by ring, its public key as cosign writes it, and a signer.
    fn key() -> (String, impl Fn(&[u8]) -> String) {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(pair.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD;
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            b64.encode(&spki)
        );
        let sign = move |payload: &[u8]| {
            b64.encode(
                pair.sign(&ring::rand::SystemRandom::new(), payload)
                    .unwrap(),
            )
        };
        (pem, sign)
    }

    fn payload(digest: &str, kind: &str) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r/x"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{kind}"}},"optional":null}}"#
        )
        .into_bytes()
    }

    #[test]
    fn signatures_count_for_their_digest_their_type_and_each_key_once() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let other = format!("sha256:{}", "cd".repeat(32));
        let (pem_a, sign_a) = key();
        let (pem_b, _) = key();
        let a = PublicKey::from_pem(&pem_a).unwrap();
        let b = PublicKey::from_pem(&pem_b).unwrap();
        let stored = |payload: Vec<u8>| StoredSignature {
            signature: sign_a(&payload),
            payload,
            annotations: Vec::new(),
        };

        let good = stored(payload(&digest, PAYLOAD_TYPE));
        let check = check(
            &digest,
            std::slice::from_ref(&good),
            &[a.clone(), b.clone()],
        );
        assert_eq!(check.verified, vec![true, false]);
        // The same key listed twice is one signer.
        let twice = super::check(
            &digest,
            std::slice::from_ref(&good),
            &[a.clone(), a.clone()],
        );
        assert_eq!(twice.verified, vec![true, false]);

        let elsewhere = super::check(
            &digest,
            &[stored(payload(&other, PAYLOAD_TYPE))],
            std::slice::from_ref(&a),
        );
        assert_eq!(elsewhere.verified, vec![false]);
        assert_eq!(elsewhere.other_digests, vec![other.clone()]);

        let wrong_type = super::check(
            &digest,
            &[stored(payload(&digest, "something else"))],
            std::slice::from_ref(&a),
        );
        assert_eq!(wrong_type.verified, vec![false]);
        assert!(
            wrong_type.problems[0].contains("type"),
            "{:?}",
            wrong_type.problems
        );

        let mut tampered = good;
        tampered.payload = payload(&other, PAYLOAD_TYPE);
        let tampered = super::check(&other, &[tampered], &[a]);
        assert_eq!(
            tampered.verified,
            vec![false],
            "a payload changed after signing"
        );
    }

    #[test]
    fn keys_other_than_p256_are_refused_with_the_reason() {
        // An Ed25519 SubjectPublicKeyInfo.
        let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let err = PublicKey::from_pem(pem).unwrap_err();
        assert!(err.contains("P-256"), "{err}");
        assert!(
            PublicKey::from_pem("hello")
                .unwrap_err()
                .contains("BEGIN PUBLIC KEY")
        );
    }
}
