//! `portcullis audit docker`: what a Docker daemon already holds, decided by the Docker door's
//! own path as the call that would make or run it now:
//!
//! - every container, running or stopped, as the `POST /containers/create` its inspect
//!   describes (its `Config`, its `HostConfig`, its networks as `NetworkingConfig`), with what
//!   it refers to looked up in the daemon as for a real create (namespaces joined, volumes
//!   taken from other containers, named volumes, bind sources' real paths) — except that the
//!   container itself is not one of the running containers its binds could be swapped by;
//! - every swarm service, as the `POST /services/create` of its spec (on a swarm manager);
//! - every installed plugin, as the `POST /plugins/{name}/enable` that runs it with its
//!   settings and privileges.
//!
//! The daemon's own settings are `daemon_settings.rs`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{ObjectReport, Outcome, PolicyOutcome, Resource, outcomes};
use crate::config::Mode;
use crate::docker::daemon::{Daemon, LookupError};
use crate::docker::gojson::GoJson;
use crate::docker::{self, AuthzRequest};
use crate::policy_set::PolicySet;

/// The API version the audit's calls are written for: dockerd 20.10's.
const API: &str = "/v1.41";

/// What a daemon holds that the audit decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Container,
    Service,
    Plugin,
    /// The daemon's own settings (`daemon_settings.rs`).
    Daemon,
}

/// What to audit.
#[derive(Debug, Clone)]
pub struct Options {
    pub subjects: Vec<Subject>,
    /// Daemon setting items left out (`2.1`).
    pub exclude: Vec<String>,
    /// The daemon's configuration file, when not the one its command line names or
    /// /etc/docker/daemon.json.
    pub daemon_json: Option<std::path::PathBuf>,
    /// Only this policy's results.
    pub only: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            subjects: vec![
                Subject::Container,
                Subject::Service,
                Subject::Plugin,
                Subject::Daemon,
            ],
            exclude: Vec::new(),
            daemon_json: None,
            only: None,
        }
    }
}

/// Audits what `daemon` holds, handing each decided object to `output`, and returns the
/// counts. Runs on the calling thread (outside any runtime); `runtime` asks the daemon.
pub fn run(
    runtime: &tokio::runtime::Handle,
    daemon: &Daemon,
    policies: &PolicySet,
    plugin_name: &str,
    options: &Options,
    output: &mut dyn super::Output,
    progress: &indicatif::ProgressBar,
) -> Result<super::Summary, super::Error> {
    use super::daemon_settings;
    use futures::StreamExt;

    let unreachable = |e: LookupError| {
        let why = match e {
            LookupError::Unreachable(_, why) => why,
            other => other.to_string(),
        };
        super::Error::Docker(format!(
            "cannot reach the Docker daemon at {}: {why}",
            daemon.address()
        ))
    };
    let info = runtime
        .block_on(daemon.query("/info"))
        .map_err(unreachable)?
        .unwrap_or(GoJson::Null)
        .to_value();
    let startup = runtime.block_on(startup(daemon, options.daemon_json.as_deref()));
    let mut summary = super::Summary::default();
    let only = options.only.as_deref();
    let mut emit = |mut report: ObjectReport| -> Result<(), super::Error> {
        if let Some(name) = only {
            report.outcomes.retain(|o| o.policy == name);
        }
        summary.add(&report);
        output.object(&report).map_err(super::Error::Output)
    };
    if options.subjects.contains(&Subject::Daemon)
        && only.is_none_or(|p| p == daemon_settings::POLICY)
    {
        let bridge = runtime
            .block_on(daemon.query("/networks/bridge"))
            .ok()
            .flatten()
            .map(|b| b.to_value());
        let reported = daemon_settings::Reported {
            info: &info,
            bridge: bridge.as_ref(),
        };
        emit(daemon_settings::audit(
            &reported,
            &startup,
            &options.exclude,
        ))?;
    }
    let subjects: Vec<Subject> = options
        .subjects
        .iter()
        .copied()
        .filter(|s| *s != Subject::Daemon && only != Some(daemon_settings::POLICY))
        .collect();
    let calls = runtime
        .block_on(calls(daemon, &subjects, &default_cgroupns(&info, &startup)))
        .map_err(|(what, e)| super::Error::Docker(format!("cannot list {what}: {e}")))?;
    progress.set_length(calls.len() as u64);
    let reports: Vec<ObjectReport> = runtime.block_on(
        futures::stream::iter(calls)
            .map(|call| async move {
                let report = decide(policies, daemon, plugin_name, call).await;
                progress.inc(1);
                report
            })
            // In the order listed, a few at a time.
            .buffered(4)
            .collect(),
    );
    for report in reports {
        emit(report)?;
    }
    Ok(summary)
}

/// How dockerd was started: its command line (its pid from the socket's peer credentials),
/// and the configuration file that names (or `path`, or /etc/docker/daemon.json). A default
/// file that does not exist is an empty configuration, as dockerd takes it.
pub async fn startup(
    daemon: &Daemon,
    path: Option<&std::path::Path>,
) -> super::daemon_settings::Startup {
    use std::path::PathBuf;
    if !daemon.is_local() {
        // Another host's command line and files are not readable from here.
        let file = path.and_then(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok());
        return super::daemon_settings::Startup { args: None, file };
    }
    let args: Option<Vec<String>> = match daemon.pid().await {
        Some(pid) => std::fs::read(format!("/proc/{pid}/cmdline"))
            .ok()
            .map(|bytes| {
                bytes
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            }),
        None => None,
    };
    let named = args.as_ref().and_then(|args| {
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix("--config-file=")
                .map(PathBuf::from)
                .or_else(|| {
                    (a == "--config-file")
                        .then(|| args.get(i + 1).map(PathBuf::from))
                        .flatten()
                })
        })
    });
    let (file, default) = match (path, named) {
        (Some(p), _) => (p.to_path_buf(), false),
        (None, Some(p)) => (p, false),
        (None, None) => (PathBuf::from("/etc/docker/daemon.json"), true),
    };
    let file = match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(e) if default && e.kind() == std::io::ErrorKind::NotFound => Some(json!({})),
        Err(_) => None,
    };
    super::daemon_settings::Startup { args, file }
}

/// One object and the call it is decided as.
pub struct Call {
    pub resource: Resource,
    pub authz: AuthzRequest,
    /// The container being decided, which its own binds cannot be swapped by.
    pub itself: Option<String>,
}

fn authz(method: &str, uri: String, body: Option<&Value>) -> AuthzRequest {
    let mut headers = BTreeMap::new();
    if body.is_some() {
        headers.insert("Content-Type".to_string(), "application/json".to_string());
    }
    AuthzRequest {
        request_method: method.into(),
        request_uri: uri,
        request_body: body
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b.to_string().as_bytes())),
        request_headers: headers,
        ..Default::default()
    }
}

fn query_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The create call a container's inspect describes. `default_cgroupns` is the daemon's
/// default cgroup namespace mode: inspect reports the mode dockerd filled in at create, and a
/// create that named none is decided at the door as naming none, so the audit does the same.
pub fn container_call(inspect: &GoJson, default_cgroupns: &str) -> Call {
    let id = inspect.get("Id").as_str().unwrap_or_default().to_string();
    let name = inspect
        .get("Name")
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let mut body = match inspect.get("Config").to_value() {
        Value::Object(config) => Value::Object(config),
        _ => json!({}),
    };
    let mut host_config = inspect.get("HostConfig").to_value();
    if host_config["CgroupnsMode"].as_str() == Some(default_cgroupns)
        && let Some(hc) = host_config.as_object_mut()
    {
        hc.remove("CgroupnsMode");
    }
    body["HostConfig"] = host_config;
    let networks = inspect.get("NetworkSettings").get("Networks").to_value();
    if networks.is_object() {
        body["NetworkingConfig"] = json!({ "EndpointsConfig": networks });
    }
    Call {
        resource: Resource {
            api_version: "docker/v1.41".into(),
            kind: "Container".into(),
            namespace: None,
            name: name.clone(),
            uid: id.clone(),
        },
        authz: authz(
            "POST",
            format!("{API}/containers/create?name={}", query_escape(&name)),
            Some(&body),
        ),
        itself: Some(id),
    }
}

/// The create call of a swarm service's spec.
pub fn service_call(service: &GoJson) -> Call {
    let spec = service.get("Spec");
    Call {
        resource: Resource {
            api_version: "docker/v1.41".into(),
            kind: "Service".into(),
            namespace: None,
            name: spec.get("Name").as_str().unwrap_or_default().to_string(),
            uid: service.get("ID").as_str().unwrap_or_default().to_string(),
        },
        authz: authz(
            "POST",
            format!("{API}/services/create"),
            Some(&spec.to_value()),
        ),
        itself: None,
    }
}

/// The enable call that runs an installed plugin as it is set up.
pub fn plugin_call(plugin: &GoJson) -> Call {
    let name = plugin.get("Name").as_str().unwrap_or_default().to_string();
    Call {
        resource: Resource {
            api_version: "docker/v1.41".into(),
            kind: "Plugin".into(),
            namespace: None,
            name: name.clone(),
            uid: plugin.get("Id").as_str().unwrap_or_default().to_string(),
        },
        authz: authz(
            "POST",
            format!(
                "{API}/plugins/{}/enable?timeout=0",
                percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
            ),
            None,
        ),
        itself: None,
    }
}

/// Decides one call through the Docker door (reading, looking up, deciding) and reports it.
/// A call the door itself refuses (a reference it cannot look up, a bind another container
/// could swap) is a result of its own, `docker-door`.
pub async fn decide(
    policies: &PolicySet,
    daemon: &Daemon,
    plugin_name: &str,
    call: Call,
) -> ObjectReport {
    let decided = match docker::prepare(policies, &call.authz, plugin_name) {
        Ok(mut pending) => {
            if pending.needs_lookups() {
                pending
                    .look_up_for_audit(policies.docker_config(), daemon, call.itself.as_deref())
                    .await;
            }
            docker::decide(policies, pending)
        }
        Err(done) => *done,
    };
    let mut report = outcomes(&decided.verdict);
    if decided.verdict.results.is_empty() && !decided.verdict.allowed {
        report.push(PolicyOutcome {
            policy: "docker-door".into(),
            rule: None,
            mode: Mode::Enforce,
            result: Outcome::Fail,
            would_deny: true,
            message: decided
                .verdict
                .message
                .trim_start_matches("denied by portcullis: ")
                .to_string(),
            reasons: Vec::new(),
            patch: None,
        });
    }
    ObjectReport {
        door: "docker",
        resource: call.resource,
        outcomes: report,
    }
}

/// Everything the daemon holds that is decided, as calls. Services are listed only on a
/// swarm manager; a daemon that is not one answers 503, which means "none".
pub async fn calls(
    daemon: &Daemon,
    subjects: &[Subject],
    default_cgroupns: &str,
) -> Result<Vec<Call>, (String, LookupError)> {
    let mut calls = Vec::new();
    if subjects.contains(&Subject::Container) {
        let list = daemon
            .query("/containers/json?all=1")
            .await
            .map_err(|e| ("containers".to_string(), e))?
            .unwrap_or(GoJson::Null);
        for summary in list.as_array() {
            let id = summary.get("Id").as_str().unwrap_or_default();
            match daemon.query(&format!("/containers/{id}/json")).await {
                Ok(Some(inspect)) => calls.push(container_call(&inspect, default_cgroupns)),
                // Removed since it was listed.
                Ok(None) => {}
                Err(e) => return Err((format!("container {id}"), e)),
            }
        }
    }
    if subjects.contains(&Subject::Service) {
        match daemon.query("/services").await {
            Ok(list) => calls.extend(
                list.unwrap_or(GoJson::Null)
                    .as_array()
                    .iter()
                    .map(service_call),
            ),
            Err(LookupError::Status(503, _)) => {}
            Err(e) => return Err(("services".into(), e)),
        }
    }
    if subjects.contains(&Subject::Plugin) {
        let list = daemon
            .query("/plugins")
            .await
            .map_err(|e| ("plugins".to_string(), e))?
            .unwrap_or(GoJson::Null);
        calls.extend(list.as_array().iter().map(plugin_call));
    }
    Ok(calls)
}

/// The cgroup namespace mode dockerd gives a container that names none: its
/// `default-cgroupns-mode` (command line, then daemon.json), else `private` on cgroup v2 and
/// `host` on v1.
pub fn default_cgroupns(info: &Value, startup: &super::daemon_settings::Startup) -> String {
    let configured = startup
        .setting(&["--default-cgroupns-mode"], "default-cgroupns-mode")
        .flatten()
        .and_then(|mode| mode.as_str().map(str::to_string));
    configured.unwrap_or_else(|| match info["CgroupVersion"].as_str() {
        Some("2") => "private".into(),
        _ => "host".into(),
    })
}
