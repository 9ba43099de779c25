//! Runtime errors, classified by type so callers never inspect message text.

use std::time::Duration;

use wasmtime::{Store, Trap};

use super::{Host, Limits};

/// Why a policy could not be loaded. Each names the configured policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot start the wasm engine: {0}")]
    Engine(String),
    #[error("policy {policy:?}: not a valid WebAssembly component: {reason}")]
    Compile { policy: String, reason: String },
    #[error(
        "policy {policy:?}: imports something the sandbox does not provide (only WASI with no \
         capabilities is available): {reason}"
    )]
    Link { policy: String, reason: String },
    #[error(
        "policy {policy:?}: does not implement the {abi} world (build it with the Portcullis \
         SDK): {reason}",
        abi = crate::abi::ABI_VERSION
    )]
    WrongExports { policy: String, reason: String },
    #[error("policy {policy:?}: reading its metadata failed: {error}")]
    Metadata { policy: String, error: PolicyError },
    #[error("policy {policy:?}: its settings schema is not a usable JSON Schema: {reason}")]
    SettingsSchema { policy: String, reason: String },
}

/// Why one evaluation produced no decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("ran out of memory (limit {} MiB)", .0 >> 20)]
    OutOfMemory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("could not be instantiated: {0}")]
    Instantiate(String),
    #[error("returned malformed output: {0}")]
    BadOutput(String),
    #[error("could not decide: {0}")]
    Undecided(String),
}

impl PolicyError {
    /// A short stable label for metrics and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyError::Timeout(_) => "timeout",
            PolicyError::OutOfMemory(_) => "out-of-memory",
            PolicyError::Trap(_) => "trap",
            PolicyError::Instantiate(_) => "instantiate",
            PolicyError::BadOutput(_) => "bad-output",
            PolicyError::Undecided(_) => "undecided",
        }
    }
}

/// Turns a wasmtime error from instantiation or a call into a [`PolicyError`].
pub(super) fn classify(
    error: wasmtime::Error,
    store: &Store<Host>,
    limits: Limits,
    instantiating: bool,
) -> PolicyError {
    if store.data().limiter.exceeded {
        return PolicyError::OutOfMemory(limits.memory_bytes);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PolicyError::Timeout(limits.timeout),
        Some(trap) => PolicyError::Trap(trap_summary(trap, &error)),
        None if instantiating => PolicyError::Instantiate(format!("{error:#}")),
        // Errors lifting results (bad pointers, invalid UTF-8, ...) arrive untyped.
        None => PolicyError::BadOutput(format!("{error:#}")),
    }
}

/// The trap and the innermost guest frame, without the full backtrace.
fn trap_summary(trap: &Trap, error: &wasmtime::Error) -> String {
    let frame = error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .and_then(|bt| {
            bt.frames()
                .first()
                .and_then(|f| f.func_name().map(str::to_string))
        });
    match frame {
        Some(func) => format!("{trap} (in {func})"),
        None => trap.to_string(),
    }
}
