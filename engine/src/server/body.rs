//! Reading a request body up to the configured limit.
//!
//! A body over the limit is refused, but only after the rest of it has been read and dropped,
//! up to a bound. Answering early and closing the connection with unread bytes in its receive
//! buffer makes the kernel send a reset, and the reset can reach the client before the client
//! reads the answer: it then sees "connection reset" instead of the 413 that says why. This is
//! the lingering close web servers do for the same reason.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use hyper::body::Body as _;

/// How much of an oversized body is read and dropped before answering; a client that declares
/// more than this is answered at once.
const DRAIN_BYTES: u64 = 64 << 20;
/// How long an oversized body may take to drain.
const DRAIN_TIME: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum BodyError {
    TooLarge { limit: usize },
    Unreadable(String),
}

/// The whole body if it is at most `limit` bytes.
pub async fn read_limited(
    body: Body,
    declared_length: Option<u64>,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if let Some(declared) = declared_length.filter(|&n| n > limit as u64) {
        if declared <= limit as u64 + DRAIN_BYTES {
            drain(body).await;
        }
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = body;
    let mut read = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if read.len() + data.len() > limit {
            drain(body).await;
            return Err(BodyError::TooLarge { limit });
        }
        if read.is_empty() && body.is_end_stream() {
            return Ok(data); // one frame: no copy
        }
        read.extend_from_slice(&data);
    }
    Ok(Bytes::from(read))
}

/// Reads and drops what is left of a body, up to [`DRAIN_BYTES`] and [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut dropped = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                dropped += data.len() as u64;
                if dropped > DRAIN_BYTES {
                    return;
                }
            }
        }
    })
    .await;
}

/// The `Content-Length` a request declares, if any.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
