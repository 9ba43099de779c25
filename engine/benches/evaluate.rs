//! What one admission decision costs: normalizing a realistic Pod, one evaluation of one
//! policy (a fresh instance plus the call), the default set on that Pod, and the Docker door's
//! whole decision on a `docker run` (the `cis-docker` bundle's controls).
//!
//! Run with `cargo bench -p portcullis --bench evaluate`; figures are in docs/performance.md.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::admission::{self, Admission, Scope};
use portcullis::config::Config;
use portcullis::kubernetes::AdmissionReview;
use portcullis::policy_set::PolicySet;
use portcullis::runtime::{Grants, Limits, Runtime, RuntimeOptions};

const POD: &str = include_str!("pod.json");
/// A hardened `docker run` as dockerd posts it to the plugin: every control passes. It names
/// nothing the door must look up (no bind, no other container): a lookup is a round trip to
/// the daemon, measured with one by tests/load/docker-latency.sh, not here.
const DOCKER_CREATE: &str = include_str!("docker-create.json");
/// `cis-docker`'s controls, to leave all but one out.
const CIS_CONTROLS: &[&str] = &[
    "5.2", "5.3", "5.4", "5.5", "5.6", "5.8", "5.10", "5.11", "5.12", "5.13", "5.14", "5.15",
    "5.16", "5.17", "5.18", "5.20", "5.21", "5.22", "5.23", "5.24", "5.25", "5.26", "5.27", "5.29",
    "5.31", "5.32",
];

fn request() -> portcullis::abi::Request {
    let review = AdmissionReview::for_object(serde_json::from_str(POD).unwrap());
    review.request.unwrap().to_request()
}

fn benches(c: &mut Criterion) {
    let request = request();
    let admission = Admission::of(request.clone());
    let cache = std::env::temp_dir().join("portcullis-bench-cache");
    let options = RuntimeOptions {
        cache_dir: Some(cache.clone()),
        precompiled_dir: None,
        max_concurrent_instances: 64,
    };
    let runtime = Arc::new(Runtime::new(&options).unwrap());

    c.bench_function("normalize pod (AdmissionRequest -> Request)", |b| {
        let review = AdmissionReview::for_object(serde_json::from_str(POD).unwrap());
        let admission = review.request.unwrap();
        b.iter(|| admission.to_request())
    });

    for name in [
        "privileged",
        "host-namespaces",
        "capabilities",
        "host-mounts",
        "registries",
        "pss-baseline",
        "pss-restricted",
    ] {
        let module = runtime
            .load(
                name,
                portcullis::builtin::find(name).unwrap().component.wasm,
            )
            .unwrap();
        c.bench_function(
            &format!("one policy: {name} (instantiate + validate)"),
            |b| {
                b.iter(|| {
                    module
                        .validate(&request, "{}", Limits::default(), &Grants::NONE)
                        .unwrap()
                })
            },
        );
    }

    let mut config = Config::default_config();
    config.runtime.cache_dir = Some(cache.clone());
    let set = PolicySet::load_with(runtime.clone(), &config).unwrap();
    let all_controls = Config::parse(
        "policies:\n  - name: cis-docker\n    module: builtin:cis-docker\n",
        "bench",
        cache.clone(),
    )
    .unwrap();
    let cis = PolicySet::load_with(runtime.clone(), &all_controls).unwrap();
    // What a bundle's decision costs beyond its controls: reading the call and one instance.
    let one_control = Config::parse(
        &format!(
            "policies:\n  - name: cis-docker\n    module: builtin:cis-docker\n    settings:\n      exclude: [{}]\n",
            CIS_CONTROLS
                .iter()
                .filter(|id| **id != "5.5")
                .map(|id| format!("\"{id}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "bench",
        cache.clone(),
    )
    .unwrap();
    let one = PolicySet::load_with(runtime.clone(), &one_control).unwrap();
    c.bench_function("docker run: normalize", |b| {
        b.iter(|| {
            let portcullis::eval::Input::Docker(authz) =
                portcullis::eval::Input::parse(DOCKER_CREATE).unwrap()
            else {
                unreachable!("a Docker request")
            };
            assert!(portcullis::docker::prepare(&one, &authz, "portcullis").is_ok());
        })
    });
    // Run as the server runs it: the whole evaluation on a worker of the policy pool, so the
    // policies of the request fork onto idle workers without a hand-off per request.
    for workers in [2, 1] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .unwrap();
        for (what, set) in [
            ("default set", &set),
            ("cis-docker, every control", &cis),
            ("cis-docker, one control (5.5)", &one),
        ] {
            c.bench_function(
                &format!("docker run, {what}: normalize + decide ({workers} workers)"),
                |b| {
                    b.iter_custom(|iters| {
                        pool.install(|| {
                            let started = std::time::Instant::now();
                            for _ in 0..iters {
                                let input = portcullis::eval::Input::parse(DOCKER_CREATE).unwrap();
                                let response = portcullis::eval::evaluate(set, input).unwrap();
                                assert_eq!(response["Allow"], true, "{response}");
                            }
                            started.elapsed()
                        })
                    })
                },
            );
        }
        c.bench_function(
            &format!("pod, default set (pss-baseline) ({workers} workers)"),
            |b| {
                b.iter_custom(|iters| {
                    pool.install(|| {
                        let started = std::time::Instant::now();
                        for _ in 0..iters {
                            let verdict =
                                admission::evaluate(&set, &admission, &Scope::ADMISSION, None);
                            assert!(verdict.allowed);
                        }
                        started.elapsed()
                    })
                })
            },
        );
    }
}

criterion_group!(evaluate, benches);
criterion_main!(evaluate);
