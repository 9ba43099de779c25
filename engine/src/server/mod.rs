//! `portcullis serve`: the Kubernetes webhook over HTTPS and, optionally, the Docker
//! authorization plugin on a unix socket, in one process with one policy set, one audit log
//! and one set of metrics.
//!
//! Lifecycle: the config is loaded and every policy compiled before any port is bound (a bad
//! config exits without serving). SIGHUP or a change of the config file builds a new policy
//! set in the background and swaps it in; a set that fails to load is reported and the old one
//! stays. SIGTERM (or Ctrl-C) stops accepting, lets requests in flight finish within
//! `server.shutdownTimeoutSeconds`, then drains, flushes and fsyncs the audit log.

mod body;
mod docker;
pub mod state;
pub mod tls;
mod webhook;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::audit::AuditLog;
use crate::config::{Config, NamespaceLabelsSource};
use crate::matching::{NamespaceLabels, NoCluster};
use crate::metrics::{Metrics, ResultLabels};
use crate::policy_set::PolicySet;
use crate::runtime::Runtime;
use state::AppState;

/// How often certificate and config files are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What `serve` needs besides the config.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub config_path: Option<PathBuf>,
    /// Told the bound address once the listener is up (tests bind port 0).
    pub bound: Option<tokio::sync::mpsc::UnboundedSender<SocketAddr>>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Policies(#[from] crate::policy_set::SetError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::LoadError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("self-registration: {0}")]
    Registration(#[from] crate::kubernetes::registration::RegistrationError),
    #[error("self-registration: cannot reach the API server: {0}")]
    Cluster(kube::Error),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot open the audit log: {0}")]
    Audit(std::io::Error),
}

/// Serves until SIGTERM or Ctrl-C.
pub async fn serve(config: Config, options: ServeOptions) -> Result<(), ServeError> {
    let started = std::time::Instant::now();
    let runtime = Arc::new(Runtime::new(&config.runtime.options())?);
    let policies = {
        let runtime = runtime.clone();
        let config = config.clone();
        tokio::task::spawn_blocking(move || PolicySet::load_with(runtime, &config))
            .await
            .expect("loading policies panicked")?
    };
    let loads = runtime.loads();
    tracing::info!(
        policies = ?policies.policies().iter().map(|p| p.config.name.as_str()).collect::<Vec<_>>(),
        precompiled = loads.precompiled,
        cached = loads.cached,
        compiled = loads.compiled,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "policies loaded"
    );

    let mut registrar = None;
    let cert = match (&config.server.tls.cert_file, &config.server.tls.key_file) {
        // Self-registration serves the certificate whose CA it registers.
        _ if config.kubernetes.registration.is_some() => {
            let registration = config.kubernetes.registration.as_ref().expect("checked");
            let client = kube::Client::try_default()
                .await
                .map_err(ServeError::Cluster)?;
            let shared = crate::kubernetes::registration::shared_certificate(
                &client,
                registration,
                config.kubernetes.own_namespace().as_deref(),
            )
            .await?;
            let key = tls::from_pem(&shared.cert, &shared.key, "the registration Secret")?;
            registrar = Some(state::Registrar {
                client,
                ca: shared.ca,
            });
            tls::ReloadingCert::new(key)
        }
        (Some(cert_path), Some(key_path)) => {
            let cert = tls::ReloadingCert::new(tls::load_files(cert_path, key_path)?);
            tokio::spawn(tls::watch_files(
                cert.clone(),
                cert_path.clone(),
                key_path.clone(),
                WATCH_INTERVAL,
            ));
            cert
        }
        _ => {
            let (key, ca_pem) = tls::self_signed(&config.server.tls)?;
            let ca_path = config
                .server
                .tls
                .ca_bundle_file
                .clone()
                .unwrap_or_else(default_ca_path);
            tls::write_ca_bundle(&ca_path, &ca_pem)?;
            tracing::info!(
                ca_bundle = %ca_path.display(),
                names = ?config.server.tls.dns_names,
                ips = ?config.server.tls.ip_addresses,
                "serving with a self-signed certificate; point a webhook configuration at it with caBundle: $(base64 -w0 {})",
                ca_path.display()
            );
            tls::ReloadingCert::new(key)
        }
    };

    let metrics = Metrics::new();
    let (audit_log, audit) =
        AuditLog::start(&config.audit, metrics.clone()).map_err(ServeError::Audit)?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("portcullis-policy-{i}"))
        .panic_handler(|_| tracing::error!("a policy evaluation panicked; its request gets a 500"))
        .build()
        .expect("starting the policy pool");
    let (namespaces, note) = namespace_labels(&config).await;
    let claims = claim_volumes(note.is_none()).await;
    let state = Arc::new(AppState {
        policies: ArcSwap::from_pointee(policies),
        runtime,
        config_path: options.config_path.clone(),
        metrics,
        audit,
        namespaces,
        claims,
        namespace_labels_note: note,
        own_namespace: config.kubernetes.own_namespace(),
        body_limit: config.server.body_limit_bytes,
        docker_plugin_name: config.docker_plugin_name(),
        pool: Arc::new(pool),
        registrar,
        running_sections: config.restart_sections(),
        watched: std::sync::Mutex::new(None),
        created: Default::default(),
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let graceful = Arc::new(GracefulShutdown::new());

    let listener = TcpListener::bind(config.server.address)
        .await
        .map_err(|source| ServeError::Bind {
            address: config.server.address.to_string(),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ServeError::Bind {
        address: config.server.address.to_string(),
        source,
    })?;
    tracing::info!(%address, "kubernetes webhook listening (HTTPS)");
    if let Some(tx) = &options.bound {
        let _ = tx.send(address);
    }
    let tls_acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(cert));
    let mut docker_tcp = None;
    if let Some(address) = config.server.docker_address {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| ServeError::Bind {
                address: address.to_string(),
                source,
            })?;
        tracing::info!(address = %listener.local_addr().unwrap_or(address), "docker authorization plugin listening (HTTPS)");
        docker_tcp = Some(listener);
    }
    let webhook = webhook::router(state.clone());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(accept_tls(
        listener,
        tls_acceptor.clone(),
        webhook,
        stop_rx.clone(),
        graceful.clone(),
    ));

    if let Some(listener) = docker_tcp {
        tasks.spawn(accept_tls(
            listener,
            tls_acceptor.clone(),
            docker::router(state.clone()),
            stop_rx.clone(),
            graceful.clone(),
        ));
    }
    if let Some(socket) = &config.server.docker_socket {
        let _ = std::fs::remove_file(socket);
        if let Some(dir) = socket.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let unix = UnixListener::bind(socket).map_err(|source| ServeError::Bind {
            address: socket.display().to_string(),
            source,
        })?;
        tracing::info!(socket = %socket.display(), "docker authorization plugin listening");
        tasks.spawn(accept_unix(
            unix,
            docker::router(state.clone()),
            stop_rx.clone(),
            graceful.clone(),
        ));
    }

    // Registered once the listener is up, so the API server's first call finds it.
    if let Some(registration) = config.kubernetes.registration.clone() {
        tokio::spawn(register(state.clone(), registration));
    }

    if let Some(background) = config.background_audit.clone() {
        tracing::info!(
            every = %humantime::format_duration(background.interval),
            "background audit on"
        );
        tasks.spawn(crate::background::periodic::run(
            state.clone(),
            background,
            stop_rx.clone(),
        ));
    }

    tasks.spawn(reload_loop(
        state.clone(),
        options.config_path.clone(),
        stop_rx.clone(),
    ));

    shutdown_signal().await;
    tracing::info!("shutting down: no new connections; finishing requests in flight");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    let timeout = Duration::from_secs(config.server.shutdown_timeout_seconds);
    // The accept loops have ended, so this is the last reference.
    let graceful = Arc::try_unwrap(graceful)
        .unwrap_or_else(|_| unreachable!("accept loops hold no watcher source"));
    if tokio::time::timeout(timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {timeout:?}; closing them");
    }
    if let Some(socket) = &config.server.docker_socket {
        let _ = std::fs::remove_file(socket);
    }
    drop(state);
    if tokio::time::timeout(Duration::from_secs(10), audit_log.close())
        .await
        .is_err()
    {
        tracing::error!("the audit log did not drain in time");
    } else {
        tracing::info!("audit log flushed; bye");
    }
    Ok(())
}

/// Namespace labels for selectors: a watch on the cluster, or nothing (said once, and shown
/// by `/readyz`).
async fn namespace_labels(config: &Config) -> (Arc<dyn NamespaceLabels>, Option<String>) {
    let why = match config.kubernetes.namespace_labels {
        NamespaceLabelsSource::Off => {
            "namespace labels are off (kubernetes.namespaceLabels)".to_string()
        }
        NamespaceLabelsSource::Auto => {
            let connect = crate::kubernetes::namespaces::connect();
            match tokio::time::timeout(Duration::from_secs(15), connect).await {
                Ok(Ok(cache)) => {
                    tracing::info!("watching namespace labels for namespaceSelector rules");
                    return (cache, None);
                }
                Ok(Err(e)) => format!("no cluster reachable ({e})"),
                Err(_) => "no cluster reachable (no answer within 15 s)".to_string(),
            }
        }
    };
    let note = format!("{why}: policies with a namespaceSelector cannot match");
    tracing::warn!("{note}");
    (Arc::new(NoCluster), Some(note))
}

/// Claims and the volumes they are bound to, watched when the cluster is (`connected`).
async fn claim_volumes(connected: bool) -> Arc<dyn crate::kubernetes::claims::Claims> {
    if connected {
        match crate::kubernetes::claims::connect().await {
            Ok(cache) => {
                tracing::info!("watching persistent volume claims and volumes");
                return cache;
            }
            Err(e) => tracing::warn!(
                "cannot watch persistent volume claims ({e}): claims bound to host paths are decided as claims"
            ),
        }
    }
    Arc::new(NoCluster)
}

fn default_ca_path() -> PathBuf {
    crate::runtime::default_cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ca.pem")
}

/// Accepts TLS connections until told to stop; each connection is served by hyper (HTTP/1.1
/// or HTTP/2) and watched for graceful shutdown.
async fn accept_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
    graceful: Arc<GracefulShutdown>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // A response goes out in several small writes (TLS records, HTTP head and body); with
        // Nagle's algorithm the last waits for the client's delayed ACK, about 40 ms, on every
        // new connection.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
        }
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, "connection ended with an error: {e}");
            }
        });
    }
}

/// Accepts connections from dockerd on the plugin socket until told to stop.
async fn accept_unix(
    listener: UnixListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
    graceful: Arc<GracefulShutdown>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("accept on the plugin socket failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!("plugin connection ended with an error: {e}");
            }
        });
    }
}

/// Reloads the policy set on SIGHUP or when the config file changes.
async fn reload_loop(state: Arc<AppState>, path: Option<PathBuf>, mut stop: watch::Receiver<bool>) {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .expect("installing the SIGHUP handler");
    let stamp = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last: Option<SystemTime> = path.as_deref().and_then(stamp);
    let mut ticker = tokio::time::interval(WATCH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let why = tokio::select! {
            _ = hangup.recv() => "SIGHUP",
            _ = ticker.tick() => {
                let now = path.as_deref().and_then(stamp);
                if now == last { continue; }
                last = now;
                "config file changed"
            }
            _ = stop.changed() => return,
        };
        let Some(path) = path.clone() else {
            tracing::info!("{why}: no config file to reload (running the built-in default)");
            continue;
        };
        reload(&state, path, why).await;
    }
}

/// Registers the webhook configurations for the current policy set, retrying while the API
/// server cannot be reached. An object someone else owns is reported, not retried.
async fn register(state: Arc<AppState>, registration: crate::config::RegistrationConfig) {
    use crate::kubernetes::registration::{RegistrationError, sync};
    let Some(registrar) = &state.registrar else {
        tracing::warn!(
            "kubernetes.registration was added by a reload; restart to register (the serving certificate is chosen at start)"
        );
        return;
    };
    let mut delay = Duration::from_millis(500);
    for attempt in 1.. {
        let set = state.policies.load_full();
        let problems = sync(&registrar.client, &registration, &set, &registrar.ca).await;
        let (retry, final_): (Vec<_>, Vec<_>) = problems
            .into_iter()
            .partition(|p| matches!(p, RegistrationError::Api { .. }));
        for problem in &final_ {
            tracing::error!("{problem}");
        }
        if retry.is_empty() {
            if final_.is_empty() {
                tracing::info!(name = %registration.name, "webhook configurations registered");
            }
            return;
        }
        for problem in &retry {
            tracing::warn!(
                attempt,
                "registering the webhook configurations: {problem}; retrying"
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Builds the new set beside the old one and swaps it in; requests in flight finish on the
/// set they started with.
async fn reload(state: &Arc<AppState>, path: PathBuf, why: &str) {
    let runtime = state.runtime.clone();
    // Compiling can take a second; keep it off the policy pool, which serves requests.
    let loaded = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let config = Config::load(&path).map_err(|e| e.to_string())?;
        let set = PolicySet::load_with(runtime, &config).map_err(|e| e.to_string())?;
        let sections = config.restart_sections();
        Ok((set, config.kubernetes.registration, sections))
    })
    .await;
    match loaded {
        Ok(Ok((set, registration, sections))) => {
            let names: Vec<String> = set
                .policies()
                .iter()
                .map(|p| p.config.name.clone())
                .collect();
            state.policies.store(Arc::new(set));
            state
                .metrics
                .reloads
                .get_or_create(&ResultLabels { result: "success" })
                .inc();
            tracing::info!(policies = ?names, "{why}: policies reloaded");
            let waiting: Vec<&str> = sections
                .iter()
                .zip(&state.running_sections)
                .filter(|(new, running)| new != running)
                .map(|((name, _), _)| *name)
                .collect();
            if !waiting.is_empty() {
                tracing::warn!(
                    sections = ?waiting,
                    "{why}: the policies, podSecurity, docker and kubernetes.registration \
                     sections were applied; {} changed too and take effect after a restart",
                    waiting.join(", ")
                );
            }
            // The webhook rules follow the policies' match rules.
            if let Some(registration) = registration {
                tokio::spawn(register(state.clone(), registration));
            }
        }
        Ok(Err(e)) => {
            state
                .metrics
                .reloads
                .get_or_create(&ResultLabels { result: "failure" })
                .inc();
            tracing::error!("{why}: reload failed, keeping the current policies: {e}");
        }
        Err(e) => tracing::error!("{why}: reload failed: {e}"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
