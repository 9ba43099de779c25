//! Shared helpers: paths, the binary, policy sets built from config text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use portcullis::config::Config;
use portcullis::policy_set::PolicySet;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A file or folder of the conformance corpora in `tests/corpora/`.
pub fn corpus(relative: &str) -> PathBuf {
    let path = workspace().join("tests/corpora").join(relative);
    assert!(path.exists(), "missing {}", path.display());
    path
}

/// Compiled fixture policies (built by engine/build.rs).
pub fn fixture_wasm(name: &str) -> PathBuf {
    Path::new(env!("PORTCULLIS_WASM_DIR")).join(format!("{}.wasm", name.replace('-', "_")))
}

/// A compile cache shared by every test in this run, so each module compiles once.
pub fn cache_dir() -> PathBuf {
    workspace().join("target").join("e2e-cache")
}

/// Loads a policy set from YAML, with the shared cache and a small instance pool.
pub fn policy_set(yaml: &str) -> Result<PolicySet, String> {
    let config = config(yaml)?;
    PolicySet::load(&config).map_err(|e| e.to_string())
}

pub fn config(yaml: &str) -> Result<Config, String> {
    let mut config = Config::parse(yaml, "test.yaml", workspace()).map_err(|e| e.to_string())?;
    config.runtime.cache_dir = Some(cache_dir());
    config.runtime.max_concurrent_instances.get_or_insert(8);
    Ok(config)
}

/// The default policy set, loaded once per test binary.
pub fn default_set() -> Arc<PolicySet> {
    static SET: std::sync::OnceLock<Arc<PolicySet>> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let mut config = Config::default_config();
        config.runtime.cache_dir = Some(cache_dir());
        // These tests are about decisions; a loaded CI machine must not turn one into a timeout.
        for policy in &mut config.policies {
            policy.timeout_ms = 10_000;
        }
        Arc::new(PolicySet::load(&config).expect("default config loads"))
    })
    .clone()
}

/// Runs the real binary with `args`.
pub fn portcullis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            workspace().join("target").join("e2e-cache-cli"),
        )
        .current_dir(workspace())
        .output()
        .expect("run portcullis")
}

/// A command's stdout and stderr, for failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The built-in default policies, as config text.
pub const DEFAULT_POLICIES: &str = portcullis::config::DEFAULT_CONFIG;

/// The log lines a process writes to stderr, collected as they come.
pub type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `portcullis serve --log-format json --config CONFIG` from `command` (which may carry
/// environment), collecting its stderr.
pub fn serve(mut command: Command, config: &Path) -> (std::process::Child, Log) {
    use std::io::BufRead;
    let mut child = command
        .args(["serve", "--log-format", "json", "--config"])
        .arg(config)
        .current_dir(workspace())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run portcullis serve");
    let log = Log::default();
    let sink = log.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });
    (child, log)
}

/// The one way tests wait: polls `attempt` every 50 ms until it gives a value, or fails
/// after `timeout` with `what` and the attempt's last word. Real components (dockerd, the
/// API server, the engine's log) act asynchronously; nothing waits by a fixed sleep.
pub fn eventually<T>(
    what: &str,
    timeout: std::time::Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(last) if std::time::Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {last}")
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

/// Waits for a log line containing `needle` after the first `from` lines; fails with the log.
pub fn wait_for_log(log: &Log, needle: &str, from: usize) -> String {
    eventually(
        &format!("a log line with {needle:?}"),
        std::time::Duration::from_secs(60),
        || {
            let lines = log.lock().unwrap();
            match lines.iter().skip(from).find(|l| l.contains(needle)) {
                Some(line) => Ok(line.clone()),
                None => Err(format!("the log:\n{}", lines.join("\n"))),
            }
        },
    )
}
