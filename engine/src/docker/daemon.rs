//! Read-only questions to the daemon this plugin guards: inspect a container, volume,
//! network, service or plugin, list the running containers. The door asks them while deciding a call
//! that refers to those objects (`references.rs`).
//!
//! dockerd sends its own authorization call to this plugin for each of these reads; reads
//! never need lookups, so a lookup never waits on another lookup.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::gojson::GoJson;
use tokio::time::Instant;

/// Why a lookup gave no answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    #[error("no daemon to ask is configured (docker.daemon)")]
    NotConfigured,
    #[error("cannot reach the daemon at {0}: {1}")]
    Unreachable(String, String),
    #[error("the daemon did not answer within {0:?}")]
    Deadline(Duration),
    #[error("the daemon answered {0}: {1}")]
    Status(u16, String),
    #[error("the daemon's answer is not JSON: {0}")]
    NotJson(String),
}

/// Where the daemon listens: a unix socket (`unix:///var/run/docker.sock`).
#[derive(Debug, Clone)]
pub struct Daemon {
    socket: Option<PathBuf>,
    display: String,
}

impl Daemon {
    /// A daemon address from the config; `""` is no daemon. Only unix sockets: the plugin
    /// runs beside the daemon it guards.
    pub fn new(address: &str) -> Result<Daemon, String> {
        if address.is_empty() {
            return Ok(Daemon {
                socket: None,
                display: String::new(),
            });
        }
        let path = address
            .strip_prefix("unix://")
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| {
                format!("{address:?} is not a daemon address: use unix:///path/to/docker.sock")
            })?;
        Ok(Daemon {
            socket: Some(PathBuf::from(path)),
            display: address.to_string(),
        })
    }

    /// `GET path` (unversioned: the daemon's own API version). `Ok(None)` is a 404: no such
    /// object.
    async fn get(&self, path: &str) -> Result<Option<GoJson>, LookupError> {
        let socket = self.socket.as_ref().ok_or(LookupError::NotConfigured)?;
        let unreachable = |e: &dyn std::fmt::Display| {
            LookupError::Unreachable(self.display.clone(), e.to_string())
        };
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| unreachable(&e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(async move {
            // Ends when the response has been read and the sender dropped.
            let _ = connection.await;
        });
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, "docker")
            .header(hyper::header::USER_AGENT, "portcullis")
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(&e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        match status {
            200 => GoJson::parse(&body)
                .map(Some)
                .map_err(|e| LookupError::NotJson(e.to_string())),
            404 => Ok(None),
            _ => {
                // dockerd's errors are `{"message": "..."}`.
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("message")?.as_str().map(str::to_string))
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
                Err(LookupError::Status(status, message))
            }
        }
    }
}

/// The objects one call can be decided by. Each is looked up at most once per call, and
/// nothing is kept after it: the next call sees the daemon as it is then.
pub struct Lookups<'a> {
    daemon: &'a Daemon,
    deadline: Instant,
    timeout: Duration,
    answers: HashMap<String, Result<Option<GoJson>, LookupError>>,
    /// How many questions went to the daemon (for metrics and tests).
    pub asked: usize,
}

/// A kind of object the daemon can be asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Container,
    Volume,
    Network,
    Service,
    Plugin,
}

impl Object {
    pub fn noun(self) -> &'static str {
        match self {
            Object::Container => "container",
            Object::Volume => "volume",
            Object::Network => "network",
            Object::Service => "service",
            Object::Plugin => "plugin",
        }
    }

    fn path(self, name: &str) -> String {
        // dockerd stores container names with a leading `/` and accepts them with or without
        // it (`container:/db`); a `//` path would be redirected by its router.
        let name = match self {
            Object::Container => name.strip_prefix('/').unwrap_or(name),
            _ => name,
        };
        let name = percent_encoding::utf8_percent_encode(name, PATH_SEGMENT);
        match self {
            Object::Container => format!("/containers/{name}/json"),
            Object::Volume => format!("/volumes/{name}"),
            Object::Network => format!("/networks/{name}"),
            Object::Service => format!("/services/{name}?insertDefaults=false"),
            Object::Plugin => format!("/plugins/{name}/json"),
        }
    }
}

/// Everything but unreserved characters is escaped, `/` too: a name is one path segment to
/// the router even where it may contain `/` (dockerd's `{name:.*}` decodes it back).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl<'a> Lookups<'a> {
    pub fn new(daemon: &'a Daemon, timeout: Duration) -> Lookups<'a> {
        Lookups {
            daemon,
            deadline: Instant::now() + timeout,
            timeout,
            answers: HashMap::new(),
            asked: 0,
        }
    }

    /// The daemon's inspect document of `name`, or `None` when it has no such object.
    pub async fn inspect(
        &mut self,
        object: Object,
        name: &str,
    ) -> Result<Option<GoJson>, LookupError> {
        self.get(object.path(name)).await
    }

    /// The running containers (`GET /containers/json`), with their mounts.
    pub async fn running_containers(&mut self) -> Result<Vec<GoJson>, LookupError> {
        let list = self.get("/containers/json".into()).await?;
        Ok(list.map(|l| l.as_array().to_vec()).unwrap_or_default())
    }

    async fn get(&mut self, path: String) -> Result<Option<GoJson>, LookupError> {
        if let Some(answer) = self.answers.get(&path) {
            return answer.clone();
        }
        self.asked += 1;
        let answer = match tokio::time::timeout_at(self.deadline, self.daemon.get(&path)).await {
            Ok(answer) => answer,
            Err(_) => Err(LookupError::Deadline(self.timeout)),
        };
        self.answers.insert(path, answer.clone());
        answer
    }
}
