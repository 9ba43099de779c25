//! What one admission decision costs: normalizing a realistic Pod, one evaluation of one
//! policy (a fresh instance plus the call), and the five core policies together.
//!
//! Run with `cargo bench -p portcullis --bench evaluate`; figures are in docs/performance.md.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::config::Config;
use portcullis::kubernetes::AdmissionReview;
use portcullis::policy_set::PolicySet;
use portcullis::runtime::{Limits, Runtime, RuntimeOptions};

const POD: &str = include_str!("pod.json");

fn request() -> portcullis::abi::Request {
    let review = AdmissionReview::for_object(serde_json::from_str(POD).unwrap());
    review.request.unwrap().to_request()
}

fn benches(c: &mut Criterion) {
    let request = request();
    let options = RuntimeOptions {
        cache_dir: None,
        max_concurrent_instances: 64,
    };
    let runtime = Arc::new(Runtime::new(&options).unwrap());

    c.bench_function("normalize pod (AdmissionRequest -> Request)", |b| {
        let review = AdmissionReview::for_object(serde_json::from_str(POD).unwrap());
        let admission = review.request.unwrap();
        b.iter(|| admission.to_request())
    });

    for name in portcullis::builtin::names() {
        let module = runtime
            .load(name, portcullis::builtin::find(name).unwrap())
            .unwrap();
        c.bench_function(
            &format!("one policy: {name} (instantiate + validate)"),
            |b| b.iter(|| module.validate(&request, "{}", Limits::default()).unwrap()),
        );
    }

    let mut config = Config::default_config();
    config.runtime.disable_cache = true;
    let set = PolicySet::load_with(runtime.clone(), &config).unwrap();
    c.bench_function("five policies: default set (concurrent)", |b| {
        b.iter(|| {
            let verdict = set.evaluate(&request, None);
            assert!(verdict.allowed);
            verdict
        })
    });
    let sequential = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    c.bench_function("five policies: default set (one thread)", |b| {
        b.iter(|| sequential.install(|| set.evaluate(&request, None)))
    });
}

criterion_group!(evaluate, benches);
criterion_main!(evaluate);
