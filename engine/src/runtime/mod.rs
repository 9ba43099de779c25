//! The only user of wasmtime. Owns the engine (pooling allocator, epoch ticker), compiles
//! policy components once (with an on-disk cache of compiled artifacts), and runs each
//! evaluation in a fresh instance from a pre-linked `PolicyPre`.
//!
//! Invariants:
//! - no state survives between evaluations: every call gets a new `Store` and instance;
//! - a guest gets WASI with no capabilities: no preopened directories, no environment, no
//!   arguments, no sockets or name lookups; its stdout and stderr are captured, capped, and
//!   logged;
//! - every call has a deadline (epoch interruption, 1 ms ticks) and a memory cap, and every
//!   failure comes back as a typed [`PolicyError`], never a panic of the host;
//! - what the host does for a guest beyond that (registry questions) it does only when the
//!   policy's [`Grants`] say so, and the time a guest waits on the host is added to its
//!   deadline, not taken from it.

mod cache;
mod error;
mod host_registry;
mod output;
pub mod precompiled;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::abi::{Decision, Metadata, PolicyPre, Request, SettingsError};
use crate::settings_schema::SettingsSchema;
pub use error::{LoadError, PolicyError};
use output::CappedPipe;

/// The largest memory cap a policy may be given.
pub const MAX_MEMORY_LIMIT: usize = 1 << 30;
/// Bytes of a guest's stdout and stderr kept per evaluation; the rest is dropped.
const OUTPUT_CAP: usize = 16 * 1024;
/// The most a decision may weigh (messages, reasons, warnings, patch, annotations).
pub const MAX_DECISION_SIZE: usize = 1 << 20;
const EPOCH_TICK: Duration = Duration::from_millis(1);
/// The most time waited on the host that one evaluation is given back: an admission
/// webhook is never waited for longer than this.
const MAX_HOST_WAIT: Duration = Duration::from_secs(30);
/// Bytes of each linear memory and table kept resident between instances.
const KEEP_RESIDENT: usize = 8 << 20;

/// Per-policy bounds for one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_millis(100),
            memory_bytes: 64 << 20,
        }
    }
}

/// How the runtime is built.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled artifacts are cached; `None` compiles at every start.
    pub cache_dir: Option<PathBuf>,
    /// Built-ins compiled ahead of time (`portcullis precompile`), read-only.
    pub precompiled_dir: Option<PathBuf>,
    /// Instances that may exist at once; evaluations beyond it wait for a slot.
    pub max_concurrent_instances: u32,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache_dir: default_cache_dir(),
            precompiled_dir: precompiled::default_dir(),
            max_concurrent_instances: 64,
        }
    }
}

/// `$XDG_CACHE_HOME/portcullis` or `~/.cache/portcullis`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("portcullis"))
}

/// How many components were loaded from each source, since the runtime was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loads {
    /// Compiled ahead of time and shipped beside the binary.
    pub precompiled: usize,
    /// From the on-disk compile cache.
    pub cached: usize,
    /// Compiled here.
    pub compiled: usize,
}

/// The wasm engine shared by every policy.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Host>,
    precompiled: Option<precompiled::Precompiled>,
    cache: Option<cache::ArtifactCache>,
    loads: [AtomicUsize; 3],
    slots: Arc<Slots>,
    _ticker: EpochTicker,
}

impl Runtime {
    pub fn new(options: &RuntimeOptions) -> Result<Self, LoadError> {
        let instances = options.max_concurrent_instances.max(1);
        let config = engine_config(instances);
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        host_registry::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(e.to_string()))?;

        let cache = options
            .cache_dir
            .clone()
            .map(|dir| cache::ArtifactCache::new(dir, &engine));
        let precompiled = options
            .precompiled_dir
            .clone()
            .and_then(precompiled::Precompiled::new);
        let slots = Arc::new(Slots::new(instances as usize));
        let ticker = EpochTicker::start(engine.clone(), slots.clone());
        Ok(Runtime {
            engine,
            linker,
            precompiled,
            cache,
            loads: Default::default(),
            slots,
            _ticker: ticker,
        })
    }

    /// Compiles (or loads from the cache) a policy component, links it, and reads its
    /// metadata. `name` is the configured policy name, used in errors.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<PolicyModule, LoadError> {
        let loaded = match (&self.precompiled, &self.cache) {
            (Some(precompiled), _) if let Some(c) = precompiled.load(&self.engine, wasm) => {
                Ok((c, Source::Precompiled))
            }
            (_, Some(cache)) => cache.load_or_compile(&self.engine, wasm),
            (_, None) => Component::from_binary(&self.engine, wasm).map(|c| (c, Source::Compiled)),
        };
        let (component, source) = loaded.map_err(|e| LoadError::Compile {
            policy: name.to_string(),
            reason: format!("{e:#}"),
        })?;
        self.loads[source as usize].fetch_add(1, Ordering::Relaxed);

        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Link {
                    policy: name.to_string(),
                    reason: format!("{e:#}"),
                })?;
        let pre = PolicyPre::new(instance_pre).map_err(|e| LoadError::WrongExports {
            policy: name.to_string(),
            reason: format!("{e:#}"),
        })?;
        let imports: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let mut module = PolicyModule {
            name: name.to_string(),
            engine: self.engine.clone(),
            pre,
            slots: self.slots.clone(),
            described: Arc::default(),
        };
        let metadata = module
            .call(Limits::default(), &Grants::NONE, |policy, store| {
                policy.call_metadata(store)
            })
            .map_err(|error| LoadError::Metadata {
                policy: name.to_string(),
                error,
            })?;
        let mut settings_schema = None;
        if component
            .get_export_index(None, crate::abi::SETTINGS_SCHEMA_EXPORT)
            .is_some()
        {
            let schema = module
                .call_settings_schema()
                .map_err(|error| LoadError::Metadata {
                    policy: name.to_string(),
                    error,
                })?;
            if let Some(text) = schema {
                let schema =
                    SettingsSchema::compile(&text).map_err(|reason| LoadError::SettingsSchema {
                        policy: name.to_string(),
                        reason,
                    })?;
                settings_schema = Some(schema);
            }
        }
        module.described = Arc::new(Described {
            metadata: Some(metadata),
            settings_schema,
            imports,
        });
        Ok(module)
    }
}

/// The engine's configuration: what every artifact is compiled for, here or ahead of time.
fn engine_config(instances: u32) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    // A Rust policy component holds a handful of core instances (its module plus the
    // canonical-ABI shims) and one memory; leave generous room per component.
    pool.total_component_instances(instances)
        .total_core_instances(instances * 16)
        .total_memories(instances * 2)
        .total_tables(instances * 8)
        .max_memory_size(MAX_MEMORY_LIMIT)
        .max_core_instances_per_component(16)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .max_unused_warm_slots(instances.min(16));
    // Resetting a memory for its next instance is the largest cost of a short call: by
    // default the pages are dropped (madvise, TLB shootdowns) and fault back in. Where the
    // kernel can tell which pages were touched (PAGEMAP_SCAN, Linux 6.7), only those are
    // cleared in place and stay resident: one evaluation went from 43 µs to 21 µs.
    // Without it, keeping pages resident would mean clearing all of them every time.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(wasmtime::Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
    }
    // Batch the page drops that remain, so one TLB shootdown serves several instances.
    pool.decommit_batch_size(16);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// Compiles every built-in ahead of time into `dir` (what `portcullis precompile` does), for
/// an engine made with `options`.
pub fn precompile_builtins(
    options: &RuntimeOptions,
    dir: &std::path::Path,
) -> wasmtime::Result<Vec<PathBuf>> {
    let mut config = engine_config(options.max_concurrent_instances.max(1));
    precompiled::write(&mut config, dir, crate::builtin::components())
}

impl Runtime {
    /// Where the components loaded so far came from.
    pub fn loads(&self) -> Loads {
        let n = |s: Source| self.loads[s as usize].load(Ordering::Relaxed);
        Loads {
            precompiled: n(Source::Precompiled),
            cached: n(Source::Cached),
            compiled: n(Source::Compiled),
        }
    }
}

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Precompiled = 0,
    Cached = 1,
    Compiled = 2,
}

/// What the host does for one policy beyond running it, as its config grants.
#[derive(Clone, Default)]
pub struct Grants {
    /// Answers the guest's `registry` questions; `None` answers each with `not-granted`.
    pub registry: Option<Arc<crate::registry::Registry>>,
    /// What the request tells the host: the Docker door's local images (answered before the
    /// registry is asked), the Kubernetes door's pull secrets.
    pub registry_context: Option<Arc<crate::registry::Context>>,
}

impl Grants {
    pub const NONE: Grants = Grants {
        registry: None,
        registry_context: None,
    };
}

/// A compiled, linked policy component, ready to instantiate.
#[derive(Clone)]
pub struct PolicyModule {
    name: String,
    engine: Engine,
    pre: PolicyPre<Host>,
    slots: Arc<Slots>,
    described: Arc<Described>,
}

/// What a component says of itself, read once at load.
#[derive(Default)]
struct Described {
    metadata: Option<Metadata>,
    settings_schema: Option<SettingsSchema>,
    imports: Vec<String>,
}

impl PolicyModule {
    /// What the policy says of itself.
    pub fn metadata(&self) -> &Metadata {
        self.described
            .metadata
            .as_ref()
            .expect("metadata is read at load")
    }

    /// The JSON Schema its settings must match, when the component exports one (ABI 1.2).
    pub fn settings_schema(&self) -> Option<&SettingsSchema> {
        self.described.settings_schema.as_ref()
    }

    /// The instances the component imports (`portcullis:policy/registry@1.1.0`,
    /// `wasi:cli/stdout@0.2.0`, ...): what it may ask the host for.
    pub fn imports(&self) -> &[String] {
        &self.described.imports
    }

    /// Asks the policy whether `settings` (JSON text) are acceptable.
    pub fn validate_settings(
        &self,
        settings: &str,
        limits: Limits,
    ) -> Result<Result<(), SettingsError>, PolicyError> {
        self.call(limits, &Grants::NONE, |policy, store| {
            policy.call_validate_settings(store, settings)
        })
    }

    /// Decides one request in a fresh instance.
    pub fn validate(
        &self,
        request: &Request,
        settings: &str,
        limits: Limits,
        grants: &Grants,
    ) -> Result<Decision, PolicyError> {
        let decision = self
            .call(limits, grants, |policy, store| {
                policy.call_validate(store, request, settings)
            })?
            .map_err(PolicyError::Undecided)?;
        self.check_output(&decision)?;
        Ok(decision)
    }

    fn check_output(&self, decision: &Decision) -> Result<(), PolicyError> {
        let size = decision.output_size();
        if size > MAX_DECISION_SIZE {
            return Err(PolicyError::BadOutput(format!(
                "decision is {size} bytes, more than the {MAX_DECISION_SIZE} byte limit"
            )));
        }
        if let Some(patch) = &decision.patch {
            if !self.metadata().mutating {
                return Err(PolicyError::BadOutput(
                    "returned a patch but its metadata says it does not mutate".into(),
                ));
            }
            if let Err(e) = serde_json::from_str::<json_patch::Patch>(patch) {
                return Err(PolicyError::BadOutput(format!(
                    "patch is not an RFC 6902 JSON Patch: {e}"
                )));
            }
        }
        Ok(())
    }

    /// Runs `f` on a fresh instance with `limits`, turning every failure into a
    /// [`PolicyError`].
    fn call<R>(
        &self,
        limits: Limits,
        grants: &Grants,
        f: impl FnOnce(&crate::abi::Policy, &mut Store<Host>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyError> {
        self.call_with(limits, grants, |pre, store| pre.instantiate(store), f)
    }

    /// Calls the optional `settings-schema` export (ABI 1.2) on a fresh instance.
    fn call_settings_schema(&self) -> Result<Option<String>, PolicyError> {
        self.call_with(
            Limits::default(),
            &Grants::NONE,
            |pre, store| pre.instance_pre().instantiate(store),
            |instance, store| {
                let schema = instance.get_typed_func::<(), (Option<String>,)>(
                    &mut *store,
                    crate::abi::SETTINGS_SCHEMA_EXPORT,
                )?;
                Ok(schema.call(&mut *store, ())?.0)
            },
        )
    }

    /// Runs `f` on what `instantiate` makes of a fresh instance, with `limits`, turning
    /// every failure into a [`PolicyError`].
    fn call_with<I, R>(
        &self,
        limits: Limits,
        grants: &Grants,
        instantiate: impl FnOnce(&PolicyPre<Host>, &mut Store<Host>) -> wasmtime::Result<I>,
        f: impl FnOnce(&I, &mut Store<Host>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyError> {
        let _slot = self.slots.acquire();
        let stdout = CappedPipe::new(OUTPUT_CAP);
        let stderr = CappedPipe::new(OUTPUT_CAP);
        let mut host = Host::new(limits.memory_bytes, stdout.clone(), stderr.clone());
        host.grants = grants.clone();
        let waits_on_host = host.grants.registry.is_some();
        let mut store = Store::new(&self.engine, host);
        store.limiter(|host| &mut host.limiter);
        // One extra tick: the ticker may advance right after the deadline is set.
        let ticks = (limits.timeout.as_millis() as u64).max(1) + 1;
        store.set_epoch_deadline(ticks);
        if waits_on_host {
            // The deadline bounds the guest's own time: ticks spent waiting on a registry
            // call are given back when the deadline is reached (the registry call has its
            // own deadline).
            store.epoch_deadline_callback(|mut store| {
                let credit = store.data_mut().take_waited_ticks();
                if credit > 0 {
                    Ok(wasmtime::UpdateDeadline::Continue(credit))
                } else {
                    Err(wasmtime::Trap::Interrupt.into())
                }
            });
        } else {
            store.epoch_deadline_trap();
        }

        let result = instantiate(&self.pre, &mut store)
            .map_err(|e| error::classify(e, &store, limits, true))
            .and_then(|policy| {
                f(&policy, &mut store).map_err(|e| error::classify(e, &store, limits, false))
            });
        stdout.log(&self.name, "stdout");
        stderr.log(&self.name, "stderr");
        result
    }
}

/// Per-store state: the guest's WASI context, its memory limiter, and what the host does
/// for it.
pub(crate) struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    grants: Grants,
    /// Time spent in host calls not yet added back to the deadline.
    waited: Duration,
    /// Time added back so far.
    credited: Duration,
}

impl Host {
    fn new(memory_bytes: usize, stdout: CappedPipe, stderr: CappedPipe) -> Self {
        // The builder starts with nothing: no preopens, no environment, no arguments, and a
        // socket check that denies every address. Sockets are switched off explicitly too, so
        // a change of defaults upstream cannot open them.
        let wasi = WasiCtx::builder()
            .stdout(stdout)
            .stderr(stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Host {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: memory_bytes,
                exceeded: false,
            },
            grants: Grants::NONE,
            waited: Duration::ZERO,
            credited: Duration::ZERO,
        }
    }

    /// The whole epoch ticks waited on the host since the last call, within what is left
    /// of [`MAX_HOST_WAIT`]. Rounded down and capped: a guest that calls the host in a loop
    /// must still reach its deadline.
    fn take_waited_ticks(&mut self) -> u64 {
        let allowed = MAX_HOST_WAIT.saturating_sub(self.credited);
        let credit = self.waited.min(allowed);
        let ticks = (credit.as_micros() / EPOCH_TICK.as_micros()) as u64;
        let given = EPOCH_TICK * ticks as u32;
        self.waited -= given;
        self.credited += given;
        ticks
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past the cap and remembers that it did, so the resulting trap is
/// reported as memory exhaustion rather than a generic trap.
struct MemoryLimiter {
    max_bytes: usize,
    exceeded: bool,
}

const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Bounds live instances to the pool's size, so a burst waits instead of failing to
/// instantiate; and knows when none is live, so the epoch ticker can sleep.
struct Slots {
    state: Mutex<SlotState>,
    released: Condvar,
    /// The epoch ticker, woken when an instance goes live on an idle runtime.
    ticker: OnceLock<std::thread::Thread>,
}

struct SlotState {
    free: usize,
    capacity: usize,
    /// Callers waiting for a slot: a release signals the condition variable only for them
    /// (a signal nobody waits for is still a system call).
    waiting: usize,
}

struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn new(n: usize) -> Self {
        Slots {
            state: Mutex::new(SlotState {
                free: n,
                capacity: n,
                waiting: 0,
            }),
            released: Condvar::new(),
            ticker: OnceLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut state = self.lock();
        while state.free == 0 {
            state.waiting += 1;
            state = self.released.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
        if state.free == state.capacity
            && let Some(ticker) = self.ticker.get()
        {
            // Deadlines count the ticker's ticks: it must run while anything is live.
            ticker.unpark();
        }
        state.free -= 1;
        SlotGuard(self)
    }

    fn idle(&self) -> bool {
        let state = self.lock();
        state.free == state.capacity
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.free += 1;
        if state.waiting > 0 {
            self.0.released.notify_one();
        }
    }
}

/// Advances the engine's epoch every millisecond while an instance is live; deadlines are
/// counted in these ticks. With nothing live it sleeps until the next instance wakes it: an
/// idle server is not woken a thousand times a second. Stops and joins its thread on drop.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, slots: Arc<Slots>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let live = slots.clone();
        let thread = std::thread::Builder::new()
            .name("portcullis-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                    if live.idle() {
                        // An instance going live after this check unparks us, and an unpark
                        // that comes before the park is not lost: the park returns at once.
                        std::thread::park();
                    }
                }
            })
            .expect("spawning the epoch thread");
        let _ = slots.ticker.set(thread.thread().clone());
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
