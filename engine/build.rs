//! Builds the built-in policies, and the test fixture policies, to `wasm32-wasip2` components
//! with a nested cargo, so that building the engine is all a fresh machine needs. The
//! components land in `<target>/wasm/` (shared by every profile of the engine), are copied to
//! this build's `OUT_DIR` with their SHA-256, and the built-ins are embedded from there with
//! `include_bytes!` (see `src/builtin.rs`).

use std::path::PathBuf;

use sha2::Digest as _;
use std::process::{Command, Stdio};

/// Packages built to wasm: the built-in policies, then the fixtures the tests load.
const PACKAGES: &[&str] = &[
    "portcullis-policy-privileged",
    "portcullis-policy-host-namespaces",
    "portcullis-policy-capabilities",
    "portcullis-policy-host-mounts",
    "portcullis-policy-registries",
    "portcullis-policy-pss",
    "portcullis-policy-seccomp",
    "portcullis-policy-privilege-escalation",
    "portcullis-policy-read-only-root-fs",
    "portcullis-policy-run-as-non-root",
    "portcullis-policy-host-ports",
    "portcullis-policy-resource-limits",
    "portcullis-policy-apparmor",
    "portcullis-policy-selinux",
    "portcullis-policy-devices",
    "portcullis-policy-proc-mount",
    "portcullis-policy-sysctls",
    "portcullis-policy-windows-host-process",
    "portcullis-policy-volume-types",
    "portcullis-policy-runtime-class",
    "portcullis-policy-healthcheck",
    "portcullis-policy-restart-policy",
    "portcullis-policy-image-signatures",
    "portcullis-policy-cis-docker",
    "portcullis-policy-docker-escapes",
    "portcullis-fixture-hostile",
    "portcullis-fixture-wrong-exports",
    "portcullis-fixture-registry-facts",
    "portcullis-fixture-echo-request",
];

const WASM_TARGET: &str = "wasm32-wasip2";
const WASM_PROFILE: &str = "policy";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for watched in [
        "policies-wasm",
        "tests/fixtures/policies",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    ensure_wasm_target();
    let target_dir = wasm_target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--target", WASM_TARGET, "--profile", WASM_PROFILE])
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        // Cargo's stdout is ours to speak to cargo with; the nested build must not write there.
        .stdout(Stdio::from(std::io::stderr()));
    for package in PACKAGES {
        command.args(["-p", package]);
    }
    // Flags meant for the host build (lints, wrappers, coverage) must not reach the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .expect("failed to run cargo for the wasm policies");
    if !status.success() {
        panic!(
            "building the policies for {WASM_TARGET} failed (see above). If the target is \
             missing, install it with `rustup target add {WASM_TARGET}` — rust-toolchain.toml \
             lists it, so rustup normally adds it by itself"
        );
    }

    let built = target_dir.join(WASM_TARGET).join(WASM_PROFILE);
    // The components are embedded from this build script's own copy: the shared wasm target
    // directory can be rebuilt by another build of the engine (another profile, another
    // checkout's settings) between hashing here and `include_bytes!`, and a digest that is not
    // that of the embedded bytes would find another component's precompiled code.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for package in PACKAGES {
        let stem = package.replace('-', "_");
        let file = built.join(format!("{stem}.wasm"));
        let bytes = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("expected {} after the wasm build: {e}", file.display()));
        let copy = out.join(format!("{stem}.wasm"));
        std::fs::write(&copy, &bytes)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", copy.display()));
        // The digest names the component's ahead-of-time and cached artifacts: known here, a
        // built-in's embedded bytes need not be read (nor made resident) to find them.
        let digest: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!("cargo:rustc-env=PORTCULLIS_SHA256_{stem}={digest}");
    }
    println!("cargo:rustc-env=PORTCULLIS_WASM_DIR={}", out.display());
    // The triple this engine runs on: ahead-of-time artifacts are compiled for it, without
    // the build machine's CPU features (runtime/precompiled.rs).
    println!(
        "cargo:rustc-env=PORTCULLIS_TARGET={}",
        std::env::var("TARGET").unwrap()
    );
}

/// rustup adds the targets `rust-toolchain.toml` lists only when it installs the toolchain
/// itself, so a machine that already had the pinned toolchain lacks the wasm target and the
/// policies would fail with "can't find crate for `core`". Add it, and say so.
fn ensure_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib").join(WASM_TARGET).exists() {
        return;
    }
    println!(
        "cargo:warning=the {WASM_TARGET} target the policies build for is missing; adding it \
         with `rustup target add {WASM_TARGET}`"
    );
    let added = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .stdout(Stdio::from(std::io::stderr()))
        .status();
    if !matches!(added, Ok(status) if status.success()) {
        println!(
            "cargo:warning=could not add {WASM_TARGET} with rustup; install it for this \
             toolchain by hand"
        );
    }
}

/// `<target>/wasm`, beside the engine's own build directories. OUT_DIR lies inside the
/// target directory, whose root cargo marks with `CACHEDIR.TAG`.
fn wasm_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let target = out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap());
    target.join("wasm")
}
