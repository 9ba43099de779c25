//! The audit log: one JSON line per decision, from both doors, and one per finding of the
//! background audit (`"source": "audit"`). Records are written by one
//! task behind a bounded queue, to a file with size-based rotation and/or stdout. Nothing is
//! dropped: when the queue is full the request waits (and the wait is counted), and on
//! shutdown the queue is drained, flushed and fsynced.

pub mod record;
mod writer;

pub use record::{AuditRecord, Entry, PolicyRecord};
pub use writer::{AuditConfig, AuditLog, AuditSink};
