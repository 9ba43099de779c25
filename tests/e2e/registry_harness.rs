//! A real OCI registry on loopback: Debian's `docker-registry` (the CNCF distribution
//! server) over TLS with a test CA and basic auth, images pushed to it by `skopeo` from
//! `docker save`, and cosign-format signatures made by openssl
//! (`tests/supply-chain/cosign-sign.sh`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::server_harness::TestCa;

pub const USER: &str = "portcullis";
pub const PASSWORD: &str = "registry-secret";

pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

fn require(binary: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{binary} is not installed: install Debian's {package} (tests/provision/install.sh does)"
    );
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Registry {
    pub fn start() -> Registry {
        let binary = require("docker-registry", "docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new();
        let (cert, key) = ca.issue(dir.path(), "registry");
        std::fs::create_dir_all(dir.path().join("certs")).unwrap();
        // skopeo reads a directory of CA files; curl and the engine read the one file.
        std::fs::write(dir.path().join("certs/ca.crt"), &ca.pem).unwrap();
        let hash = run(Command::new("python3").args([
            "-W",
            "ignore",
            "-c",
            &format!(
                "import crypt; print(crypt.crypt({PASSWORD:?}, crypt.mksalt(crypt.METHOD_BLOWFISH)))"
            ),
        ]));
        std::fs::write(
            dir.path().join("htpasswd"),
            format!("{USER}:{}\n", hash.trim()),
        )
        .unwrap();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let host = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  tls:\n    certificate: {cert}\n    key: {key}\nauth:\n  htpasswd:\n    realm: portcullis-tests\n    path: {htpasswd}\n",
                root = dir.path().join("storage").display(),
                cert = cert.display(),
                key = key.display(),
                htpasswd = dir.path().join("htpasswd").display(),
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(dir.path().join("registry.log")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("registry.err")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let registry = Registry {
            host,
            dir,
            child: Some(child),
        };
        crate::support::eventually("the registry", Duration::from_secs(30), || {
            let out = Command::new("curl")
                .args([
                    "-fsS",
                    "-o",
                    "/dev/null",
                    "-u",
                    &format!("{USER}:{PASSWORD}"),
                ])
                .arg("--cacert")
                .arg(registry.ca_file())
                .arg(format!("https://{}/v2/", registry.host))
                .output()
                .unwrap();
            match out.status.success() {
                true => Ok(()),
                false => Err(format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(registry.dir.path().join("registry.err"))
                        .unwrap_or_default()
                )),
            }
        });
        registry
    }

    /// The test CA's certificate (PEM), which the registry's serving certificate chains to.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("certs/ca.crt")
    }

    /// Pushes a `docker save` archive as `repository:tag` in `format` (`v2s2` or `oci`: the
    /// same image has a different manifest digest in each) and returns the digest.
    pub fn push(&self, archive: &Path, repository_tag: &str, format: &str) -> String {
        let digest_file = self.dir.path().join("pushed.digest");
        run(Command::new(require("skopeo", "skopeo"))
            .args(["--insecure-policy", "copy", "--quiet", "--format", format])
            .arg("--dest-cert-dir")
            .arg(self.dir.path().join("certs"))
            .args(["--dest-creds", &format!("{USER}:{PASSWORD}")])
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}/{repository_tag}", self.host)));
        std::fs::read_to_string(&digest_file)
            .unwrap()
            .trim()
            .to_string()
    }

    /// Stores a signature of `digest` in `repository`, made with `key`, whose payload names
    /// `claim` (the digest itself unless given).
    pub fn sign(&self, key: &Path, repository: &str, digest: &str, claim: Option<&str>) {
        let script = crate::support::workspace().join("tests/supply-chain/cosign-sign.sh");
        let mut command = Command::new(script);
        command
            .arg("--key")
            .arg(key)
            .args(["--registry", &self.host, "--repository", repository])
            .args(["--digest", digest, "--claim", claim.unwrap_or(digest)])
            .arg("--cacert")
            .arg(self.ca_file())
            .args(["--user", &format!("{USER}:{PASSWORD}")]);
        run(&mut command);
    }

    /// Stops the registry: what a registry outage looks like to the engine.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An ECDSA P-256 key pair as `cosign generate-key-pair` makes one (the private key in
/// openssl's PEM, the public key as the `PUBLIC KEY` block cosign writes to `cosign.pub`).
pub fn key_pair(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    run(Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(&key));
    let public = run(Command::new("openssl")
        .args(["ec", "-pubout", "-in"])
        .arg(&key)
        .stderr(Stdio::null()));
    (key, public)
}

/// The test image (`tiny:1`) as a `docker save` archive, from a real dockerd.
pub fn saved_test_image(dir: &Path) -> PathBuf {
    let dockerd = crate::docker_harness::Dockerd::start(crate::docker_harness::NOTHING_GUARDED);
    let archive = dir.join("tiny.tar");
    dockerd.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        crate::docker_harness::IMAGE,
    ]);
    archive
}
