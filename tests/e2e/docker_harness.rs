//! A real dockerd with Portcullis as its authorization plugin: its own data root, exec root,
//! API socket and pid file, the plugin found through a spec file, and a tiny image imported
//! from a busybox-static root filesystem (no registry is reachable).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where dockerd looks for plugin spec files (the first of its search path).
const SPEC_DIR: &str = "/etc/docker/plugins";
pub const IMAGE: &str = "tiny:1";

/// A plugin config that lets everything through: objects made before anything is guarded.
pub const NOTHING_GUARDED: &str = "policies: []\ndocker:\n  allowUninspectable: [plugin-create]\n";

pub struct Dockerd {
    pub name: String,
    pub dir: tempfile::TempDir,
    dockerd: Child,
    pub portcullis: Option<Child>,
    spec: PathBuf,
    /// The plugin's log, for failure messages.
    pub plugin_log: crate::support::Log,
    /// One test dockerd at a time: they share the plugin directory and the host's mounts.
    _turn: std::sync::MutexGuard<'static, ()>,
}

static ONE_DOCKERD_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn require(binary: &str, package: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/bin",
        "/usr/local/sbin",
    ] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{binary} is not installed: these tests need a real {binary}; install Debian's {package} (apt-get install {package})"
    );
}

impl Dockerd {
    /// Starts Portcullis with `config` (policies YAML) and a dockerd that consults it.
    pub fn start(config: &str) -> Dockerd {
        Dockerd::start_with(config, &[])
    }

    /// As [`Dockerd::start`], with more dockerd arguments (another listener, say).
    pub fn start_with(config: &str, dockerd_args: &[String]) -> Dockerd {
        let turn = ONE_DOCKERD_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dockerd_bin = require("dockerd", "docker.io");
        let busybox = require("busybox", "busybox-static");
        // Short paths: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("pcd")
            .tempdir_in("/tmp")
            .unwrap();
        let name = format!("portcullis-e2e-{}", std::process::id());
        let plugin_socket = dir.path().join("plugin.sock");

        let config_path = dir.path().join("portcullis.yaml");
        std::fs::write(&config_path, full_config(config, dir.path(), &name)).unwrap();
        let (portcullis, plugin_log) =
            crate::support::serve(Command::new(env!("CARGO_BIN_EXE_portcullis")), &config_path);
        wait_until("the plugin socket", Duration::from_secs(60), || {
            plugin_socket.exists()
        });

        std::fs::create_dir_all(SPEC_DIR).unwrap();
        let spec = Path::new(SPEC_DIR).join(format!("{name}.spec"));
        std::fs::write(&spec, format!("unix://{}\n", plugin_socket.display())).unwrap();

        let d = dir.path();
        let dockerd = Command::new(dockerd_bin)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg(format!("--authorization-plugin={name}"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(dockerd_args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(d.join("dockerd.log")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(d.join("dockerd.err")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let this = Dockerd {
            name,
            dir,
            dockerd,
            portcullis: Some(portcullis),
            spec,
            plugin_log,
            _turn: turn,
        };
        crate::support::eventually("dockerd", Duration::from_secs(60), || {
            if this.docker(&["version"]).status.success() {
                Ok(())
            } else {
                Err(format!(
                    "its log:\n{}",
                    std::fs::read_to_string(this.dir.path().join("dockerd.err"))
                        .unwrap_or_default()
                ))
            }
        });

        // The image: busybox-static as /bin/busybox with a few applets, through `docker import`.
        let rootfs = this.dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "echo", "sleep", "id", "cat", "true"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["-c", "."])
            .output()
            .unwrap();
        assert!(tar.status.success());
        let mut import = this
            .docker_command(&["import", "-", IMAGE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut import.stdin.take().unwrap(), &tar.stdout).unwrap();
        let out = import.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        this
    }

    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(require("docker", "docker.io"));
        command.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.path().join("docker.sock").display()),
        );
        command.args(args);
        command
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// One raw Docker API call on dockerd's socket, as a crafted client would send it: the
    /// status code and the response body. A JSON body goes with `Content-Type:
    /// application/json`, so dockerd forwards it to the plugin.
    pub fn api(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, String) {
        self.api_typed(method, path, body, "application/json")
    }

    /// A raw call whose body has the given content type (dockerd forwards only JSON bodies
    /// to the plugin).
    pub fn api_typed(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        content_type: &str,
    ) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream =
            std::os::unix::net::UnixStream::connect(self.dir.path().join("docker.sock")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
        if let Some(body) = body {
            request.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        } else {
            request.push_str("Content-Length: 0\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        if let Some(body) = body {
            stream.write_all(body).unwrap();
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Stops the plugin (by its pid), leaving dockerd running.
    pub fn stop_plugin(&mut self) {
        if let Some(mut child) = self.portcullis.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Replaces the plugin's policies with `config` and waits until it has reloaded them:
    /// what was created before stays, as on a host where Portcullis is switched on late.
    pub fn reload(&self, config: &str) {
        let from = self.plugin_log.lock().unwrap().len();
        std::fs::write(
            self.dir.path().join("portcullis.yaml"),
            full_config(config, self.dir.path(), &self.name),
        )
        .unwrap();
        crate::support::wait_for_log(&self.plugin_log, "policies reloaded", from);
    }

    /// Runs the docker CLI, which must succeed; its trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            crate::support::text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A managed plugin `name` made from a directory (the test image's root filesystem): a
    /// volume driver that sleeps, with one settable bind mount `data` of /srv/plugin-data.
    pub fn create_plugin(&self, name: &str) {
        let plugin_dir = self.dir.path().join(name);
        std::fs::create_dir_all(&plugin_dir).unwrap();
        let status = Command::new("cp")
            .arg("-a")
            .arg(self.dir.path().join("rootfs"))
            .arg(&plugin_dir)
            .status()
            .unwrap();
        assert!(status.success());
        // dockerd refuses a second plugin made from the very same root filesystem layer.
        std::fs::write(plugin_dir.join("rootfs/name"), name).unwrap();
        std::fs::write(
            plugin_dir.join("config.json"),
            format!(
                r#"{{"Description":"{name}","Documentation":"https://example.com","Entrypoint":["/bin/sleep","600"],
                "Interface":{{"Types":["docker.volumedriver/1.0"],"Socket":"p.sock"}},"Network":{{"Type":"none"}},
                "Mounts":[{{"Name":"data","Source":"/srv/plugin-data","Destination":"/data","Type":"bind","Options":["rbind"],"Settable":["source"]}}],
                "Linux":{{"Capabilities":[]}}}}"#
            ),
        )
        .unwrap();
        let out = self.docker(&["plugin", "create", name, &plugin_dir.display().to_string()]);
        assert!(
            out.status.success(),
            "docker plugin create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every audit line the plugin has written, parsed (after the writer's linger, as
    /// [`crate::server_harness::Server::audit_records`]).
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        std::thread::sleep(crate::server_harness::AUDIT_SETTLE);
        std::fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// `config` (policies, and maybe a `docker:` section) with what this harness needs: the
/// plugin socket, the test dockerd's socket for lookups, the audit log in `dir`.
fn full_config(config: &str, dir: &Path, name: &str) -> String {
    let daemon = format!("  daemon: unix://{}\n", dir.join("docker.sock").display());
    let config = if config.contains("\ndocker:\n") {
        config.replacen("\ndocker:\n", &format!("\ndocker:\n{daemon}"), 1)
    } else {
        format!("{config}\ndocker:\n{daemon}")
    };
    format!(
        "{config}\nserver:\n  address: 127.0.0.1:0\n  dockerPluginName: {name}\n  dockerSocket: {}\n  tls:\n    caBundleFile: {}\naudit:\n  file: {}\n  stdout: false\nruntime:\n  cacheDir: {}\n",
        dir.join("plugin.sock").display(),
        dir.join("ca.pem").display(),
        dir.join("audit.log").display(),
        crate::support::cache_dir().display()
    )
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    crate::support::eventually(what, timeout, || {
        if done() {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Containers first, so dockerd has nothing to wait for; then dockerd and the plugin,
        // each by the pid we started it with.
        if self.portcullis.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.dockerd.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.dockerd.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.dockerd.kill();
        let _ = self.dockerd.wait();
        self.stop_plugin();
        let _ = std::fs::remove_file(&self.spec);
        // dockerd leaves its mounts under the data root; unmount before the directory goes.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("data"))
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("exec"))
            .stderr(Stdio::null())
            .status();
    }
}
