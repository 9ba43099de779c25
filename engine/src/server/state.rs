//! What every request handler shares.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::audit::AuditSink;
use crate::matching::NamespaceLabels;
use crate::metrics::Metrics;
use crate::policy_set::PolicySet;
use crate::runtime::Runtime;

pub struct AppState {
    /// The current policy set; a reload swaps it, requests in flight keep the old one.
    pub policies: ArcSwap<PolicySet>,
    pub runtime: Arc<Runtime>,
    pub config_path: Option<PathBuf>,
    pub metrics: Metrics,
    pub audit: AuditSink,
    pub namespaces: Arc<dyn NamespaceLabels>,
    /// Persistent volume claims and the volumes they are bound to.
    pub claims: Arc<dyn crate::kubernetes::claims::Claims>,
    /// Why namespace selectors cannot match, when they cannot (shown by `/readyz`).
    pub namespace_labels_note: Option<String>,
    pub own_namespace: Option<String>,
    pub body_limit: usize,
    /// Name of this authorization plugin, which the Docker API may not disable.
    pub docker_plugin_name: String,
    /// Policies run here: a whole evaluation on one worker, its policies forking onto idle
    /// workers (see docs/performance.md).
    pub pool: Arc<rayon::ThreadPool>,
    /// Set when the engine registers its own webhook configurations: the API client and the
    /// CA bundle they carry, to register again after a reload.
    pub registrar: Option<Registrar>,
    /// The config sections a reload cannot apply, as the server started with them
    /// (`Config::restart_sections`).
    pub running_sections: Vec<(&'static str, String)>,
    /// The daemon the Docker door asks, with what it keeps between calls; started on the
    /// first call that needs it, and again when a reload names another daemon.
    pub watched: std::sync::Mutex<Option<Arc<crate::docker::daemon::Watched>>>,
    /// Containers created through the Docker door, so their start needs no inspect.
    pub created: crate::docker::references::Created,
}

pub struct Registrar {
    pub client: kube::Client,
    pub ca: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the evaluation was lost (an internal error; see the log)")]
pub struct EvaluationLost;

impl AppState {
    /// What is kept of the answers of the daemon at `address` (started on first use).
    pub fn watched_daemon(&self, address: &str) -> Option<Arc<crate::docker::daemon::Watched>> {
        let daemon = crate::docker::daemon::Daemon::new(address).ok()?;
        if address.is_empty() {
            return None;
        }
        let mut watched = self.watched.lock().expect("not poisoned");
        match watched.as_ref() {
            Some(w) if w.address() == address => Some(w.clone()),
            _ => {
                let w = crate::docker::daemon::Watched::start(daemon);
                *watched = Some(w.clone());
                Some(w)
            }
        }
    }

    /// Runs `f` on the policy pool and waits for it without blocking the async workers.
    pub async fn on_pool<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, EvaluationLost> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let _ = tx.send(f());
        });
        rx.await.map_err(|_| EvaluationLost)
    }
}

/// Runs `f` here, on the thread that read the request (`placement`: only for decisions that
/// have been cheap). A panic is caught, as the pool catches it: the request gets a 500 and
/// the server keeps serving.
pub fn on_this_thread<R>(f: impl FnOnce() -> R) -> Result<R, EvaluationLost> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|_| {
        tracing::error!("a policy evaluation panicked; its request gets a 500");
        EvaluationLost
    })
}

/// Tracks one request in the in-flight gauge.
pub struct InFlight(Metrics);

impl InFlight {
    pub fn start(metrics: &Metrics) -> Self {
        metrics.in_flight.inc();
        InFlight(metrics.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}
