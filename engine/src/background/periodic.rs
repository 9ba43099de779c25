//! The background audit inside `serve` (`backgroundAudit` in the config): every `interval`
//! the doors it names are audited with the policies in force, each finding written to the
//! audit log (`"source": "audit"`), the counts exported as metrics, and on Kubernetes the
//! PolicyReports written when asked. With several replicas only the holder of a `Lease` (in
//! the engine's own namespace) audits; another takes over when it goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{ObjectReport, Outcome, Output, Summary};
use crate::audit::AuditSink;
use crate::config::{BackgroundAuditConfig, BackgroundDoor};
use crate::metrics::Metrics;
use crate::server::state::AppState;

/// Each finding as an audit log line, as it comes.
struct ToAuditLog {
    sink: AuditSink,
    runtime: tokio::runtime::Handle,
}

impl Output for ToAuditLog {
    fn object(&mut self, report: &ObjectReport) -> std::io::Result<()> {
        for outcome in report.outcomes.iter().filter(|o| o.result != Outcome::Pass) {
            let line = super::json::line(report, outcome);
            self.runtime
                .block_on(self.sink.record(crate::audit::Entry::Finding(line)));
        }
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the audit every `config.interval` until `stop`.
pub async fn run(
    state: Arc<AppState>,
    config: BackgroundAuditConfig,
    mut stop: watch::Receiver<bool>,
) {
    let kubernetes = config.doors.contains(&BackgroundDoor::Kubernetes);
    let client = if kubernetes {
        match kube::Client::try_default().await {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::warn!("background audit: no cluster ({e}); Kubernetes is not audited");
                None
            }
        }
    } else {
        None
    };
    // The lease: one replica audits. Without a cluster (a Docker host), every server audits
    // its own daemon.
    let leader = Arc::new(AtomicBool::new(client.is_none()));
    if let (Some(client), Some(namespace)) = (&client, state.own_namespace.clone()) {
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "portcullis".into());
        let identity = format!("{identity}_{}", std::process::id());
        let lock = Arc::new(super::lease::LeaseLock::new(
            client.clone(),
            &namespace,
            &config.lease.name,
            &identity,
            Duration::from_secs(config.lease.duration_seconds),
        ));
        tokio::spawn(hold_lease(lock, leader.clone(), stop.clone()));
    } else if client.is_some() {
        tracing::info!(
            "background audit: the engine's namespace is unknown (kubernetes.ownNamespace), so \
             no lease is held: every replica audits"
        );
        leader.store(true, Ordering::Relaxed);
    }
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        if !leader.load(Ordering::Relaxed) {
            tracing::debug!("background audit: another replica holds the lease");
            continue;
        }
        let started = Instant::now();
        let job = (state.clone(), client.clone(), config.clone());
        let result = tokio::task::spawn_blocking(move || {
            let (state, client, config) = job;
            audit_once(&state, client, &config)
        })
        .await;
        let summary = match result {
            Ok(Ok(summary)) => summary,
            Ok(Err(e)) => {
                tracing::warn!("background audit failed: {e:#}");
                continue;
            }
            Err(e) => {
                tracing::error!("background audit stopped: {e}");
                continue;
            }
        };
        let elapsed = started.elapsed();
        record_metrics(&state.metrics, &summary, elapsed);
        tracing::info!(
            objects = summary.objects_total(),
            would_deny = summary.objects_denied,
            elapsed_ms = elapsed.as_millis() as u64,
            "background audit done"
        );
    }
}

/// Renews the lease every third of its duration (tries to take it when another holds it),
/// and gives it up at shutdown.
async fn hold_lease(
    lock: Arc<super::lease::LeaseLock>,
    leader: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    let period = Duration::from_secs(1).max(lock.duration() / 3);
    loop {
        let held = match lock.hold().await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!("background audit lease: {e}");
                false
            }
        };
        if held != leader.swap(held, Ordering::Relaxed) {
            tracing::info!(
                identity = lock.identity(),
                "background audit lease {}",
                if held {
                    "taken: this replica audits"
                } else {
                    "lost"
                }
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => {
                if leader.load(Ordering::Relaxed) {
                    lock.release().await;
                }
                return;
            }
        }
    }
}

/// One audit of every door configured, with the policies in force now.
fn audit_once(
    state: &AppState,
    client: Option<kube::Client>,
    config: &BackgroundAuditConfig,
) -> anyhow::Result<Summary> {
    let runtime = tokio::runtime::Handle::current();
    let policies = state.policies.load_full();
    let mut log = ToAuditLog {
        sink: state.audit.clone(),
        runtime: runtime.clone(),
    };
    let mut summary = Summary::default();
    let progress = indicatif::ProgressBar::hidden();
    if let Some(client) = client {
        let mut reports = config.write_reports.then(|| {
            super::policy_report::PolicyReports::new(
                &runtime,
                client.clone(),
                super::policy_report::Cleanup::All,
            )
        });
        let mut outputs = super::Outputs(vec![&mut log]);
        if let Some(reports) = reports.as_mut() {
            outputs.0.push(reports);
        }
        let review = crate::kubernetes::ReviewOptions {
            namespaces: &*state.namespaces,
            claims: &*state.claims,
            own_namespace: state.own_namespace.as_deref(),
            ..Default::default()
        };
        let (found, skipped) = super::kubernetes::run(
            &runtime,
            &client,
            &policies,
            &super::kubernetes::Options::default(),
            &review,
            &mut outputs,
            &progress,
        )?;
        outputs.finish(&found)?;
        for s in skipped {
            tracing::warn!("background audit: not audited: {s}");
        }
        summary.merge(found);
    }
    if config.doors.contains(&BackgroundDoor::Docker) {
        let daemon = crate::docker::daemon::Daemon::new(&policies.docker_config().daemon)
            .map_err(|e| anyhow::anyhow!("docker.daemon: {e}"))?;
        let found = super::docker::run(
            &runtime,
            &daemon,
            &policies,
            &state.docker_plugin_name,
            &super::docker::Options::default(),
            &mut log,
            &progress,
        )?;
        summary.merge(found);
    }
    Ok(summary)
}

/// The last run's counts, time and duration.
fn record_metrics(metrics: &Metrics, summary: &Summary, elapsed: Duration) {
    metrics.audit_findings.clear();
    for (policy, places) in &summary.by_policy {
        for (place, counts) in places {
            metrics
                .audit_findings
                .get_or_create(&crate::metrics::FindingLabels {
                    policy: policy.clone(),
                    namespace: place.clone(),
                })
                .set((counts.fail + counts.warn + counts.error) as i64);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    metrics.audit_last_run.set(now.as_secs() as i64);
    metrics.audit_last_duration.set(elapsed.as_secs_f64());
}
