//! The writer task and its queue.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use super::Entry;
use crate::metrics::Metrics;

/// Where and how audit records are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AuditConfig {
    /// File to append to; rotated by size.
    pub file: Option<PathBuf>,
    /// Also (or only) write to standard output.
    pub stdout: bool,
    /// Rotate when the file would grow past this size.
    #[serde(rename = "maxSizeMiB")]
    pub max_size_mib: u64,
    /// Rotated files kept (`audit.log.1` … `audit.log.N`).
    pub max_files: u32,
    /// Records that may wait for the writer before requests wait.
    pub queue_size: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            file: None,
            stdout: true,
            max_size_mib: 100,
            max_files: 5,
            queue_size: 4096,
        }
    }
}

/// The sending side, cloned into every request handler.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Entry>,
    metrics: Metrics,
}

impl AuditSink {
    /// Queues a record; waits (and counts the wait) when the queue is full.
    pub async fn record(&self, record: impl Into<Entry>) {
        let record = record.into();
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                self.metrics.audit_waits.inc();
                if self.tx.send(record).await.is_err() {
                    tracing::error!("audit writer has stopped; a record could not be written");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("audit writer has stopped; a record could not be written");
            }
        }
    }
}

/// The running audit log: drop every [`AuditSink`] and call [`AuditLog::close`] to drain it.
pub struct AuditLog {
    task: tokio::task::JoinHandle<()>,
}

impl AuditLog {
    pub fn start(config: &AuditConfig, metrics: Metrics) -> std::io::Result<(AuditLog, AuditSink)> {
        let (tx, rx) = mpsc::channel(config.queue_size.max(1));
        let file = match &config.file {
            Some(path) => Some(RotatingFile::open(
                path,
                config.max_size_mib << 20,
                config.max_files,
            )?),
            None => None,
        };
        let mut writer = Writer {
            file,
            stdout: config.stdout,
            metrics: metrics.clone(),
        };
        let task = tokio::task::spawn_blocking(move || writer.run(rx));
        Ok((AuditLog { task }, AuditSink { tx, metrics }))
    }

    /// Waits until every queued record is written, flushed and fsynced. Every sink must be
    /// dropped first, or this waits for them.
    pub async fn close(self) {
        let _ = self.task.await;
    }
}

/// After each flush the writer waits this long before it looks at the queue again. Records
/// that arrive meanwhile are written together, and their senders find the writer awake
/// instead of each waking it (a futex wake on the request's own thread, and the writer
/// parking again: 6 % of an admission's CPU at saturation). Lines reach the file at most this
/// much later; an idle writer still sleeps on the queue, woken by the next record.
const LINGER: Duration = Duration::from_millis(2);

struct Writer {
    file: Option<RotatingFile>,
    stdout: bool,
    metrics: Metrics,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Entry>) {
        let mut line = Vec::with_capacity(1024);
        while let Some(record) = rx.blocking_recv() {
            self.write(&record, &mut line);
            // Write what else is queued, then flush once.
            while let Ok(record) = rx.try_recv() {
                self.write(&record, &mut line);
            }
            self.flush(false);
            std::thread::sleep(LINGER);
        }
        self.flush(true);
    }

    fn write(&mut self, record: &Entry, line: &mut Vec<u8>) {
        line.clear();
        serde_json::to_writer(&mut *line, record).expect("audit records serialize");
        line.push(b'\n');
        if let Some(file) = &mut self.file
            && let Err(e) = file.write_line(line)
        {
            self.metrics.audit_errors.inc();
            tracing::error!(path = %file.path.display(), "cannot write the audit log: {e}");
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            if out.write_all(line).is_err() {
                self.metrics.audit_errors.inc();
            }
        }
        self.metrics.audit_records.inc();
    }

    fn flush(&mut self, sync: bool) {
        if let Some(file) = &mut self.file
            && let Err(e) = file.flush(sync)
        {
            self.metrics.audit_errors.inc();
            tracing::error!(path = %file.path.display(), "cannot flush the audit log: {e}");
        }
        if self.stdout {
            let _ = std::io::stdout().flush();
        }
    }
}

/// An append-only file rotated by size: `log` → `log.1` → … → `log.N`.
struct RotatingFile {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl RotatingFile {
    fn open(path: &Path, max_size: u64, max_files: u32) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            size,
            max_size: max_size.max(1),
            max_files,
        })
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.out.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn flush(&mut self, sync: bool) -> std::io::Result<()> {
        self.out.flush()?;
        if sync {
            self.out.get_ref().sync_all()?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.flush(true)?;
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.max_files == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.max_files));
            for n in (1..self.max_files).rev() {
                let from = numbered(n);
                if from.exists() {
                    std::fs::rename(&from, numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.out = BufWriter::new(file);
        self.size = 0;
        Ok(())
    }
}
