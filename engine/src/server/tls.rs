//! The serving certificate: read from files and swapped in when the files change (as
//! cert-manager rotates them), or made at start-up with a CA of our own when none is given.
//! A connection keeps the certificate it was accepted with; only new handshakes see the new
//! one, so rotation never drops a request.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("cannot read private key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("cannot write the CA bundle to {path}: {source}")]
    WriteCa {
        path: String,
        source: std::io::Error,
    },
}

/// Hands out the current certificate to every new handshake.
#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl ReloadingCert {
    pub fn new(key: CertifiedKey) -> Arc<Self> {
        Arc::new(ReloadingCert {
            current: ArcSwap::from_pointee(key),
        })
    }

    pub fn replace(&self, key: CertifiedKey) {
        self.current.store(Arc::new(key));
    }
}

/// A TLS 1.2/1.3 server configuration around `cert`.
pub fn server_config(cert: Arc<ReloadingCert>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Reads a PEM certificate chain and private key.
pub fn load_files(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect())
        .map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.display().to_string(),
            reason: "no certificate in the file".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|e| TlsError::Key {
            path: key.display().to_string(),
            reason: e.to_string(),
        })?;
    let pair = CertifiedKey::new(certs, signing);
    // During a rotation one file may be new and the other old; such a pair must not be served.
    pair.keys_match().map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: format!(
            "does not belong to the certificate {} ({e})",
            cert.display()
        ),
    })?;
    Ok(pair)
}

/// A CA and a serving certificate signed by it, as PEM.
pub struct GeneratedPem {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// Makes a CA and a serving certificate for these names and addresses.
pub fn generate(dns_names: &[String], ip_addresses: &[IpAddr]) -> Result<GeneratedPem, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType,
    };
    let generate = |e: rcgen::Error| TlsError::Generate(e.to_string());

    let ca_key = KeyPair::generate().map_err(generate)?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "portcullis self-signed CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Shared through a Secret for as long as the installation lives.
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca = ca_params.self_signed(&ca_key).map_err(generate)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(generate)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        dns_names.first().map_or("portcullis", String::as_str),
    );
    params.subject_alt_names = dns_names
        .iter()
        .filter_map(|n| n.clone().try_into().ok().map(SanType::DnsName))
        .chain(ip_addresses.iter().map(|ip| SanType::IpAddress(*ip)))
        .collect();
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.signed_by(&key, &issuer).map_err(generate)?;
    Ok(GeneratedPem {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A serving certificate and key from PEM text; `origin` names where they came from.
pub fn from_pem(cert: &str, key: &str, origin: &str) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Certificate {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
    let key_der = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| TlsError::Key {
        path: origin.to_string(),
        reason: e.to_string(),
    })?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|e| TlsError::Key {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
    Ok(CertifiedKey::new(certs, signing))
}

/// A CA and a serving certificate for the configured names; the CA's PEM is returned for
/// the webhook configuration's `caBundle`.
pub fn self_signed(config: &TlsConfig) -> Result<(CertifiedKey, String), TlsError> {
    let pem = generate(&config.dns_names, &config.ip_addresses)?;
    Ok((from_pem(&pem.cert, &pem.key, "self-signed")?, pem.ca))
}

/// Writes the CA bundle where the operator (and `kubectl`) can pick it up.
pub fn write_ca_bundle(path: &Path, pem: &str) -> Result<(), TlsError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, pem)
    };
    write().map_err(|source| TlsError::WriteCa {
        path: path.display().to_string(),
        source,
    })
}

/// Polls the certificate and key files and swaps in a new pair when either changes. A pair
/// that does not load (say, the key written before the certificate) is retried on the next
/// change; the old certificate stays in use meanwhile.
pub async fn watch_files(
    cert: Arc<ReloadingCert>,
    cert_path: PathBuf,
    key_path: PathBuf,
    every: Duration,
) {
    let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last: (Option<SystemTime>, Option<SystemTime>) = (stamp(&cert_path), stamp(&key_path));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let now = (stamp(&cert_path), stamp(&key_path));
        if now == last {
            continue;
        }
        match load_files(&cert_path, &key_path) {
            Ok(key) => {
                cert.replace(key);
                last = now;
                tracing::info!(cert = %cert_path.display(), "serving certificate reloaded");
            }
            Err(e) => {
                tracing::warn!("serving certificate not reloaded, keeping the current one: {e}")
            }
        }
    }
}
