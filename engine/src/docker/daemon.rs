//! Read-only questions to the daemon this plugin guards: inspect a container, volume,
//! network, service or plugin, list the running containers. The door asks them while deciding a call
//! that refers to those objects (`references.rs`).
//!
//! dockerd sends its own authorization call to this plugin for each of these reads; reads
//! never need lookups, so a lookup never waits on another lookup.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

/// Where the daemon listens: a unix socket (`unix:///var/run/docker.sock`), or for the
/// background audit of another host, TCP with TLS (`tcp+tls://host:2376`).
#[derive(Debug, Clone)]
pub struct Daemon {
    socket: Option<PathBuf>,
    remote: Option<Remote>,
    display: String,
}

/// A daemon reached over TCP with TLS, as `docker --tlsverify -H tcp://…` reaches it.
#[derive(Clone)]
struct Remote {
    address: String,
    server_name: rustls_pki_types::ServerName<'static>,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("address", &self.address)
            .finish()
    }
}

impl Daemon {
    /// A daemon address from the config; `""` is no daemon. Only unix sockets: the plugin
    /// runs beside the daemon it guards.
    pub fn new(address: &str) -> Result<Daemon, String> {
        if address.is_empty() {
            return Ok(Daemon {
                socket: None,
                remote: None,
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
            remote: None,
            display: address.to_string(),
        })
    }

    /// A daemon on another host: `tcp+tls://host:port`, its certificate verified with `tls`
    /// (which also carries the client certificate dockerd's `--tlsverify` asks for).
    pub fn remote(address: &str, tls: Arc<rustls::ClientConfig>) -> Result<Daemon, String> {
        let authority = address
            .strip_prefix("tcp+tls://")
            .map(|a| a.trim_end_matches('/'))
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| {
                format!("{address:?} is not a daemon address: use tcp+tls://HOST:PORT")
            })?;
        let (host, port) = authority
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .ok_or_else(|| format!("{address:?}: the port is missing (tcp+tls://HOST:2376)"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("{address:?}: {e}"))?;
        Ok(Daemon {
            socket: None,
            remote: Some(Remote {
                address: format!("{host}:{port}"),
                server_name,
                tls: tokio_rustls::TlsConnector::from(tls),
            }),
            display: address.to_string(),
        })
    }

    /// Whether the daemon runs on this host: its host paths and process are ours to read.
    pub fn is_local(&self) -> bool {
        self.remote.is_none()
    }

    /// Sends `GET path` (unversioned: the daemon's own API version) on a new connection.
    async fn send(
        &self,
        path: &str,
    ) -> Result<hyper::Response<hyper::body::Incoming>, LookupError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            LookupError::Unreachable(self.display.clone(), e.to_string())
        };
        let mut sender = match (&self.socket, &self.remote) {
            (Some(socket), _) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(|e| unreachable(&e))?;
                http1(stream).await.map_err(|e| unreachable(&e))?
            }
            (None, Some(remote)) => {
                let tcp = tokio::net::TcpStream::connect(&remote.address)
                    .await
                    .map_err(|e| unreachable(&e))?;
                let _ = tcp.set_nodelay(true);
                let stream = remote
                    .tls
                    .connect(remote.server_name.clone(), tcp)
                    .await
                    .map_err(|e| unreachable(&format!("TLS: {e}")))?;
                http1(stream).await.map_err(|e| unreachable(&e))?
            }
            (None, None) => return Err(LookupError::NotConfigured),
        };
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, "docker")
            .header(hyper::header::USER_AGENT, "portcullis")
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(&e))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(&e))
    }

    /// `GET path`, unversioned: the daemon's answer, or `None` for a 404. For listing what
    /// the daemon holds (the background audit).
    pub async fn query(&self, path: &str) -> Result<Option<GoJson>, LookupError> {
        self.get(path).await
    }

    /// The address as configured (`unix:///var/run/docker.sock`).
    pub fn address(&self) -> &str {
        &self.display
    }

    /// The pid of the process serving the socket (its peer credentials): dockerd itself.
    pub async fn pid(&self) -> Option<i32> {
        let socket = self.socket.as_ref()?;
        let stream = tokio::net::UnixStream::connect(socket).await.ok()?;
        stream.peer_cred().ok()?.pid()
    }

    /// `GET path` answered with a stream (`/events`): its body, frame by frame.
    async fn stream(&self, path: &str) -> Result<hyper::body::Incoming, LookupError> {
        let response = self.send(path).await?;
        match response.status().as_u16() {
            200 => Ok(response.into_body()),
            status => Err(LookupError::Status(
                status,
                "the event stream was refused".into(),
            )),
        }
    }

    /// `GET path`. `Ok(None)` is a 404: no such object.
    async fn get(&self, path: &str) -> Result<Option<GoJson>, LookupError> {
        let response = self.send(path).await?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| LookupError::Unreachable(self.display.clone(), e.to_string()))?
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

/// An HTTP/1.1 connection over `stream`, served by a task of its own until the response
/// has been read and the sender dropped.
async fn http1<S>(
    stream: S,
) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// The objects one call can be decided by. Each is looked up at most once per call, and
/// answers kept across calls (`Watched`) are used only while the daemon reports no change.
pub struct Lookups<'a> {
    daemon: &'a Daemon,
    deadline: Instant,
    timeout: Duration,
    answers: HashMap<String, Result<Option<GoJson>, LookupError>>,
    /// Answers kept across calls while the daemon reports no change, when the server keeps
    /// them.
    watched: Option<&'a Watched>,
    /// A container left out of the running ones (the one the background audit decides as if
    /// it were being created).
    ignored: Option<String>,
    /// How many questions went to the daemon, and how many the watched answers saved.
    pub asked: usize,
    pub saved: usize,
}

/// A kind of object the daemon can be asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Container,
    Volume,
    Network,
    Service,
    Plugin,
    Image,
}

impl Object {
    pub fn noun(self) -> &'static str {
        match self {
            Object::Container => "container",
            Object::Volume => "volume",
            Object::Network => "network",
            Object::Service => "service",
            Object::Plugin => "plugin",
            Object::Image => "image",
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
            Object::Image => format!("/images/{name}/json"),
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
    pub fn new(daemon: &'a Daemon, timeout: Duration, watched: Option<&'a Watched>) -> Lookups<'a> {
        Lookups {
            daemon,
            deadline: Instant::now() + timeout,
            timeout,
            answers: HashMap::new(),
            watched: watched.filter(|w| w.daemon.display == daemon.display),
            ignored: None,
            asked: 0,
            saved: 0,
        }
    }

    /// Leaves container `id` out of the running containers.
    pub fn ignoring(mut self, id: Option<&str>) -> Self {
        self.ignored = id.map(str::to_string);
        self
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
        let mut running = list.map(|l| l.as_array().to_vec()).unwrap_or_default();
        if let Some(ignored) = &self.ignored {
            running.retain(|c| c.get("Id").as_str() != Some(ignored));
        }
        Ok(running)
    }

    async fn get(&mut self, path: String) -> Result<Option<GoJson>, LookupError> {
        if let Some(answer) = self.answers.get(&path) {
            return answer.clone();
        }
        let watched = self.watched.filter(|_| Watched::keeps(&path));
        let generation = watched.map(Watched::generation);
        if let Some(answer) = watched.and_then(|w| w.answer(&path)) {
            self.saved += 1;
            self.answers.insert(path, Ok(answer.clone()));
            return Ok(answer);
        }
        self.asked += 1;
        let answer = match tokio::time::timeout_at(self.deadline, self.daemon.get(&path)).await {
            Ok(answer) => answer,
            Err(_) => Err(LookupError::Deadline(self.timeout)),
        };
        if let (Some(w), Some(g), Ok(found)) = (watched, generation, &answer) {
            w.keep(path.clone(), g, found.clone());
        }
        self.answers.insert(path, answer.clone());
        answer
    }
}

/// What the daemon said about containers and volumes, kept between calls and kept true by
/// its event stream (`GET /events`): each event drops what it may have changed — the
/// entries of the container or volume it names — and the set of running containers (with
/// their mounts) is maintained from start and die events instead of being asked for at every
/// call. Losing the stream drops everything. Plugins, services and networks are always asked
/// afresh: not every change to them is an event.
pub struct Watched {
    daemon: Daemon,
    /// Bumped by every event handled: an answer fetched meanwhile is not kept.
    generation: AtomicU64,
    /// Whether the stream is connected; without it nothing kept is used.
    live: AtomicBool,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// Inspect answers by the path asked, `None` for "no such object".
    answers: HashMap<String, Option<GoJson>>,
    /// The running containers as `GET /containers/json` lists them, by ID; `None` until
    /// the first list after connecting.
    running: Option<HashMap<String, GoJson>>,
}

/// A bound on what is kept: a call names a handful of objects.
const KEPT: usize = 1024;
const RUNNING: &str = "/containers/json";

impl Watched {
    /// Starts following the daemon's events (on the current tokio runtime).
    pub fn start(daemon: Daemon) -> Arc<Watched> {
        let watched = Arc::new(Watched {
            daemon,
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            kept: Mutex::new(Kept::default()),
        });
        let weak = Arc::downgrade(&watched);
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                let Some(w) = weak.upgrade() else { return };
                match w.follow().await {
                    Ok(()) => delay = Duration::from_millis(200),
                    Err(e) => tracing::debug!("daemon events: {e}; following again"),
                }
                w.live.store(false, Ordering::SeqCst);
                w.generation.fetch_add(1, Ordering::SeqCst);
                *w.kept.lock().expect("not poisoned") = Kept::default();
                drop(w);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        });
        watched
    }

    /// The daemon address followed.
    pub fn address(&self) -> &str {
        &self.daemon.display
    }

    /// Reads the event stream until it ends, keeping what is kept true.
    async fn follow(&self) -> Result<(), LookupError> {
        let filters = r#"{"type":["container","volume"]}"#;
        let path = format!(
            "/events?filters={}",
            percent_encoding::utf8_percent_encode(filters, PATH_SEGMENT)
        );
        let mut body = self.daemon.stream(&path).await?;
        // Subscribed first, listed second: a start between the two is seen in the stream.
        let running = self.running_now().await?;
        {
            let mut kept = self.kept.lock().expect("not poisoned");
            *kept = Kept::default();
            kept.running = Some(running);
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.live.store(true, Ordering::SeqCst);
        let mut pending = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                LookupError::Unreachable(self.daemon.display.clone(), e.to_string())
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            let mut events =
                serde_json::Deserializer::from_slice(&pending).into_iter::<serde_json::Value>();
            let mut used = 0;
            let mut seen = Vec::new();
            while let Some(Ok(event)) = events.next() {
                used = events.byte_offset();
                seen.push(event);
            }
            pending.drain(..used);
            for event in seen {
                self.apply(&event).await;
            }
        }
        Ok(())
    }

    /// Every running container, by ID.
    async fn running_now(&self) -> Result<HashMap<String, GoJson>, LookupError> {
        let list = self.daemon.get(RUNNING).await?;
        Ok(list
            .map(|l| l.as_array().to_vec())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| Some((c.get("Id").as_str()?.to_string(), c)))
            .collect())
    }

    /// Drops what `event` may have changed; a container that starts is inspected (here, not
    /// in a call's path) to add it and its mounts to the running set.
    async fn apply(&self, event: &serde_json::Value) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let kind = event["Type"].as_str().unwrap_or_default();
        let action = event["Action"].as_str().unwrap_or_default();
        let id = event["Actor"]["ID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let attributes = &event["Actor"]["Attributes"];
        let names: Vec<String> = ["name", "oldName"]
            .iter()
            .filter_map(|k| attributes[*k].as_str())
            .map(|n| n.trim_start_matches('/').to_string())
            .chain(Some(id.clone()))
            .filter(|n| !n.is_empty())
            .collect();
        let prefix = match kind {
            "container" => "/containers/",
            "volume" => "/volumes/",
            _ => return,
        };
        {
            let mut kept = self.kept.lock().expect("not poisoned");
            kept.answers.retain(|path, answer| {
                let named = names.iter().any(|n| {
                    let key = Object::Container.path(n);
                    path == &key
                        || path
                            == &format!(
                                "{prefix}{}",
                                percent_encoding::utf8_percent_encode(n, PATH_SEGMENT)
                            )
                });
                let same_object = answer
                    .as_ref()
                    .is_some_and(|a| a.get("Id").as_str() == Some(id.as_str()));
                !(path.starts_with(prefix) && (named || same_object))
            });
            if kind == "container"
                && let Some(running) = kept.running.as_mut()
            {
                match action {
                    "die" | "destroy" => {
                        running.remove(&id);
                    }
                    _ => {}
                }
            }
        }
        if kind == "container" && matches!(action, "start" | "restart" | "unpause" | "rename") {
            // Its mounts, as the list shows them. One that has stopped again is not running;
            // one that cannot be asked about leaves the set unknown until the next list.
            let answer = self.daemon.get(&Object::Container.path(&id)).await;
            let mut kept = self.kept.lock().expect("not poisoned");
            match answer {
                Ok(Some(c)) if c.get("State").get("Running").as_bool() == Some(true) => {
                    // The shape `GET /containers/json` lists it in.
                    let entry = GoJson::Object(vec![
                        ("Id".into(), GoJson::String(id.clone())),
                        ("Names".into(), GoJson::Array(vec![c.get("Name").clone()])),
                        ("Mounts".into(), c.get("Mounts").clone()),
                    ]);
                    if let Some(running) = kept.running.as_mut() {
                        running.insert(id, entry);
                    }
                }
                Ok(_) => {
                    if let Some(running) = kept.running.as_mut() {
                        running.remove(&id);
                    }
                }
                Err(_) => kept.running = None,
            }
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn keeps(path: &str) -> bool {
        path == RUNNING
            || (path.starts_with("/containers/") && path.ends_with("/json"))
            || path.starts_with("/volumes/")
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn answer(&self, path: &str) -> Option<Option<GoJson>> {
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        let kept = self.kept.lock().expect("not poisoned");
        if path == RUNNING {
            let running = kept.running.as_ref()?;
            return Some(Some(GoJson::Array(running.values().cloned().collect())));
        }
        kept.answers.get(path).cloned()
    }

    /// Keeps an answer fetched when the generation was `generation`, unless an event came
    /// in meanwhile. A container is kept only when asked for by its full name or ID (a
    /// prefix may come to name another one without an event about it).
    fn keep(&self, path: String, generation: u64, answer: Option<GoJson>) {
        if path == RUNNING {
            // The set was unknown: this list is it, unless an event came in meanwhile.
            let mut kept = self.kept.lock().expect("not poisoned");
            if self.live.load(Ordering::SeqCst)
                && self.generation() == generation
                && kept.running.is_none()
            {
                kept.running = Some(
                    answer
                        .map(|l| l.as_array().to_vec())
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| Some((c.get("Id").as_str()?.to_string(), c)))
                        .collect(),
                );
            }
            return;
        }
        if path.starts_with("/containers/")
            && let Some(found) = &answer
        {
            let asked = path
                .trim_start_matches("/containers/")
                .trim_end_matches("/json");
            let name = found.get("Name").as_str().unwrap_or_default();
            let id = found.get("Id").as_str().unwrap_or_default();
            let exact = [name.trim_start_matches('/'), id]
                .iter()
                .any(|n| Object::Container.path(n) == path || *n == asked);
            if !exact {
                return;
            }
        }
        let mut kept = self.kept.lock().expect("not poisoned");
        if !self.live.load(Ordering::SeqCst) || self.generation() != generation {
            return;
        }
        if kept.answers.len() >= KEPT {
            kept.answers.clear();
        }
        kept.answers.insert(path, answer);
    }
}
