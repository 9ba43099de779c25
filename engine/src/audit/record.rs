//! What one audit line holds.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::config::Mode;
use crate::decision::{PolicyResult, Verdict};

/// One line of the audit log.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A request decided at a door.
    Decision(Box<AuditRecord>),
    /// A background audit's finding: its `--format json` line (`background::json`).
    Finding(serde_json::Value),
}

impl From<AuditRecord> for Entry {
    fn from(record: AuditRecord) -> Entry {
        Entry::Decision(Box::new(record))
    }
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Entry::Decision(record) => record.serialize(serializer),
            Entry::Finding(line) => {
                // The time first, as decisions have it.
                let mut with_time = serde_json::Map::new();
                with_time.insert("timestamp".into(), timestamp(SystemTime::now()).into());
                if let serde_json::Value::Object(fields) = line {
                    with_time.extend(fields.clone());
                }
                with_time.serialize(serializer)
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// RFC 3339 with microseconds, UTC.
    pub timestamp: String,
    pub uid: String,
    pub source: &'static str,
    pub user: String,
    pub groups: Vec<String>,
    pub operation: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub dry_run: bool,
    /// The endpoint or door that decided: `/validate`, `/mutate/capabilities`, `authz-request`.
    pub endpoint: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub policies: Vec<PolicyRecord>,
    pub patch_operations: usize,
    pub latency_us: u64,
    /// Docker: the HTTP method and normalized path of the API call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Docker `AuthZRes`: the status the daemon answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRecord {
    pub name: String,
    pub mode: Mode,
    pub allowed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub duration_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PolicyRecord {
    pub fn from_result(r: &PolicyResult) -> Self {
        let (message, error) = match &r.outcome {
            Ok(d) => (
                if d.message.is_empty() {
                    d.reasons
                        .iter()
                        .map(|x| x.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    d.message.clone()
                },
                None,
            ),
            Err(e) => (String::new(), Some(e.to_string())),
        };
        PolicyRecord {
            name: r.policy.clone(),
            mode: r.mode,
            allowed: r.allowed(),
            message,
            duration_us: micros(r.duration),
            error,
        }
    }
}

impl AuditRecord {
    /// A record of `verdict` for `request`, stamped now.
    pub fn new(
        request: &crate::abi::Request,
        endpoint: &str,
        verdict: &Verdict,
        latency: Duration,
    ) -> Self {
        AuditRecord {
            timestamp: timestamp(SystemTime::now()),
            uid: request.uid.clone(),
            source: request.source.as_str(),
            user: request.user.clone(),
            groups: request.groups.clone(),
            operation: request.operation.clone(),
            kind: request.kind.clone(),
            namespace: request.namespace.clone(),
            name: request.name.clone(),
            dry_run: request.dry_run,
            endpoint: endpoint.to_string(),
            allowed: verdict.allowed,
            message: verdict.message.clone(),
            policies: verdict
                .results
                .iter()
                .map(PolicyRecord::from_result)
                .collect(),
            patch_operations: verdict.patch.as_ref().map_or(0, |p| p.0.len()),
            latency_us: micros(latency),
            method: request.docker.as_ref().map(|d| d.method.clone()),
            path: request.docker.as_ref().map(|d| d.path.clone()),
            response_status: None,
        }
    }
}

pub fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// `2026-11-29T04:11:55.123456Z`.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}
