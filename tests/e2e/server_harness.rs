//! A real `portcullis serve` process on an ephemeral port, with a test CA, and a real TLS
//! client that verifies the chain against that CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls_pki_types::{CertificateDer, ServerName};

/// A CA that signs serving certificates for `localhost` and 127.0.0.1.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "portcullis test CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// Writes a fresh serving certificate and key (named by `cn`) to `dir`.
    pub fn issue(&self, dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
        // Write beside, then rename: as a Secret volume update appears to the process.
        std::fs::write(dir.join("tls.crt.new"), cert.pem()).unwrap();
        std::fs::write(dir.join("tls.key.new"), key.serialize_pem()).unwrap();
        std::fs::rename(dir.join("tls.key.new"), &key_path).unwrap();
        std::fs::rename(dir.join("tls.crt.new"), &cert_path).unwrap();
        (cert_path, key_path)
    }

    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        let der = CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap();
        roots.add(der).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // Every connection does a full handshake, so each sees the certificate served now
        // (a resumed session reports the certificate of the session it resumes).
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

use rustls_pki_types::pem::PemObject;

/// How long a test waits for audit lines of requests already answered: the writer writes
/// at most a couple of milliseconds after a record is queued (`LINGER` in the audit writer).
pub const AUDIT_SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

/// A running server process; killed on drop if still running.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
    pub dir: tempfile::TempDir,
    pub ca: TestCa,
    pub log: crate::support::Log,
}

impl Server {
    /// Starts `portcullis serve` with `config` (YAML; server address and TLS are added), with
    /// no cluster to ask for namespace labels.
    pub fn start(config: &str) -> Server {
        Server::start_with_kubeconfig(config, None)
    }

    /// As [`Server::start`]; with a kubeconfig, namespace labels come from that cluster.
    pub fn start_with_kubeconfig(config: &str, kubeconfig: Option<&Path>) -> Server {
        Server::start_full(config, "", kubeconfig)
    }

    /// As [`Server::start`], with more lines for the config's `server:` block.
    pub fn start_full(config: &str, server_lines: &str, kubeconfig: Option<&Path>) -> Server {
        let runtime = format!(
            "  cacheDir: {}\n  maxConcurrentInstances: 16\n",
            crate::support::cache_dir().display()
        );
        Server::start_with(config, server_lines, &runtime, kubeconfig)
    }

    /// As [`Server::start_full`], with the config's `runtime:` block given.
    pub fn start_with(
        config: &str,
        server_lines: &str,
        runtime_lines: &str,
        kubeconfig: Option<&Path>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let (cert, key) = ca.issue(dir.path(), "first");
        let config_path = dir.path().join("portcullis.yaml");
        let audit = dir.path().join("audit.log");
        let full = format!(
            "{config}\nserver:\n{server_lines}  address: 127.0.0.1:0\n  tls:\n    certFile: {}\n    keyFile: {}\naudit:\n  file: {}\n  stdout: false\n  maxSizeMiB: 1\n  maxFiles: 50\nruntime:\n{runtime_lines}",
            cert.display(),
            key.display(),
            audit.display(),
        );
        std::fs::write(&config_path, full).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        // No ~/.kube/config of the machine running the tests may leak in.
        command
            .env("HOME", dir.path())
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST");
        if let Some(kubeconfig) = kubeconfig {
            command.env("KUBECONFIG", kubeconfig);
        }
        let (child, log) = crate::support::serve(command, &config_path);
        let line = crate::support::wait_for_log(&log, "kubernetes webhook listening (HTTPS)", 0);
        let line: serde_json::Value = serde_json::from_str(&line).unwrap();
        let address: SocketAddr = line["fields"]["address"].as_str().unwrap().parse().unwrap();
        Server {
            child,
            address,
            dir,
            ca,
            log,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("portcullis.yaml")
    }

    /// Every audit line written so far, across rotated files, parsed. The writer lets
    /// records gather for a couple of milliseconds before it writes them, so the lines of
    /// requests just answered are waited for first.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        std::thread::sleep(AUDIT_SETTLE);
        let mut records = Vec::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("audit.log")
            })
            .collect();
        files.sort();
        for file in files {
            for line in std::fs::read_to_string(&file).unwrap().lines() {
                records.push(serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("unparseable audit line in {}: {e}: {line}", file.display())
                }));
            }
        }
        records
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for a log line containing `needle`, after `from` lines.
    pub fn wait_for_log(&self, needle: &str, from: usize) -> String {
        crate::support::wait_for_log(&self.log, needle, from)
    }

    pub fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    pub fn client(&self) -> Client {
        Client {
            address: self.address,
            config: self.ca.client_config(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client that verifies the server against the test CA.
#[derive(Clone)]
pub struct Client {
    pub address: SocketAddr,
    pub config: Arc<rustls::ClientConfig>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The serving certificate's DER, to tell rotations apart.
    pub peer_certificate: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Client {
    /// One request on a new connection.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Response, String> {
        self.send(method, path, content_type, Full::new(Bytes::from(body)))
            .await
    }

    /// One request on a new connection, with any body: one without a known length is sent
    /// chunked.
    pub async fn send<B>(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: B,
    ) -> Result<Response, String>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let tcp = tokio::net::TcpStream::connect(self.address)
            .await
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let peer_certificate = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let response = sender
            .send_request(builder.body(body).unwrap())
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status,
            body,
            peer_certificate,
        })
    }

    pub async fn review(&self, path: &str, review: &serde_json::Value) -> Response {
        self.request(
            "POST",
            path,
            Some("application/json"),
            review.to_string().into_bytes(),
        )
        .await
        .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request("GET", path, None, Vec::new()).await.unwrap()
    }
}

/// An AdmissionReview for `object` as the API server sends it.
pub fn review_of(object: serde_json::Value, uid: &str) -> serde_json::Value {
    let mut review =
        serde_json::to_value(portcullis::kubernetes::AdmissionReview::for_object(object)).unwrap();
    review["request"]["uid"] = uid.into();
    review["request"]["userInfo"] =
        serde_json::json!({"username": "alice", "groups": ["system:authenticated"]});
    review
}
