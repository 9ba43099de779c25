//! A guest's stdout and stderr: kept up to a cap, the rest counted and dropped, then logged
//! under the policy's name. Writes never fail, so a chatty policy is not turned into a
//! failing one.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Clone)]
pub(super) struct CappedPipe(Arc<Mutex<Captured>>);

struct Captured {
    kept: Vec<u8>,
    cap: usize,
    dropped: usize,
}

impl CappedPipe {
    pub(super) fn new(cap: usize) -> Self {
        CappedPipe(Arc::new(Mutex::new(Captured {
            kept: Vec::new(),
            cap,
            dropped: 0,
        })))
    }

    fn write_capped(&self, bytes: &[u8]) {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = c.cap - c.kept.len();
        let n = room.min(bytes.len());
        c.kept.extend_from_slice(&bytes[..n]);
        c.dropped += bytes.len() - n;
    }

    /// Logs what the guest wrote, if anything.
    pub(super) fn log(&self, policy: &str, stream: &'static str) {
        let c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if c.kept.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&c.kept);
        tracing::info!(
            policy,
            stream,
            dropped_bytes = c.dropped,
            "policy output: {}",
            text.trim_end()
        );
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.write_capped(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_capped(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
