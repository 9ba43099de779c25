//! `docker-escapes`: ways to the host through a Docker request that the CIS benchmark has no
//! number for. Each control is numbered `E.n` and decided by a built-in, like the benchmark's
//! own.

use portcullis_bundle::{Bundle, Control, check, control};
use portcullis_sdk::Source;

// The single-check policies, compiled from their own sources rather than linked as crates:
// cargo builds a dependency's every crate type, and each would be a component with nothing
// to export.
#[path = "../../proc-mount/src/lib.rs"]
pub mod proc_mount;

use proc_mount::ProcMount;

pub const DOCKER_ESCAPES: Bundle = Bundle {
    name: "docker-escapes",
    version: env!("CARGO_PKG_VERSION"),
    summary: "opens a way to the host",
    sources: &[Source::Docker],
    controls: CONTROLS,
};

const CONTROLS: &[Control] = &[
    // `MaskedPaths: []` / `ReadonlyPaths: []` (`--security-opt systempaths=unconfined`): a
    // writable /proc/sys and /proc/sysrq-trigger, the host's kernel settings.
    control(
        "E.1",
        "unmasked proc",
        "proc-mount",
        check::<ProcMount>(),
        "{}",
    ),
];

portcullis_bundle::bundle!(DockerEscapes, DOCKER_ESCAPES);
