//! End-to-end tests of the `portcullis` engine: the real binary, the real wasm policies built
//! from source, and the conformance corpora in `tests/corpora/`.
//!
//! - `authoring`: `portcullis new`, `inspect`, and settings checked against the schema a
//!   module exports: a policy project scaffolded, built from the packaged SDK and tested.
//! - `abi_compat`: a policy built against ABI 1.0 loads and decides on this engine.
//! - `audit_docker`: `portcullis audit docker` against a real dockerd.
//! - `audit_kubernetes`: `portcullis audit kubernetes` against a real API server;
//!   `audit_report`: its HTML report rendered by a headless Chromium; `audit_periodic`: the
//!   background audit inside `serve`, one replica at a time.
//! - `chart`: the Helm chart rendered and linted by Helm's own engine.
//! - `conformance`: Pod Security Admission's own fixtures and the Docker authz samples,
//!   decided by the default policy set exactly as upstream decides them.
//! - `decision_path`: one table of cases through both doors, decided alike.
//! - `docker`: a real dockerd with Portcullis as its authorization plugin; `docker_bodies`:
//!   crafted calls; `docker_references`: calls decided by the objects they name.
//! - `kubernetes`: a real kube-apiserver calling Portcullis, driven with kubectl.
//! - `image`: the container image built and run with a real dockerd.
//! - `hostile`: misbehaving policy modules are contained and the engine keeps serving.
//! - `moby_oracle`: the Docker door reads request bodies exactly as dockerd does, checked
//!   against a Go program built from moby's own types on 100,000 generated bodies per run.
//! - `eval`: the `portcullis eval` command as a user runs it.
//! - `published_modules`: a policy made with `portcullis new`, pushed to a real registry,
//!   loaded from `oci://` verified and kept, refused when replaced or tampered with, and
//!   enforced through the real API server and dockerd.
//! - `mutation`: mutating policies and the patches they produce.
//! - `suites`: `portcullis test` as a policy author runs it, every built-in's documented
//!   examples run as written, and `docker:` command lines checked against the real CLI.
//! - `supply_chain`: signed images only, checked against a real registry
//!   (`registry_harness`: Debian's `docker-registry`, skopeo, cosign-format signatures).
//! - `server`, `server_lifecycle`: `portcullis serve` over HTTPS with a real TLS client:
//!   decisions, bad input, certificate rotation, reloads, shutdown and the audit log.

mod abi_compat;
mod audit_docker;
mod audit_kubernetes;
mod audit_periodic;
mod audit_report;
mod authoring;
mod chart;
mod conformance;
mod decision_path;
mod docker;
mod docker_bodies;
mod docker_harness;
mod docker_references;
mod eval;
mod hostile;
mod image;
mod kubernetes;
mod moby_oracle;
mod mutation;
mod published_modules;
mod registry_harness;
mod server;
mod server_harness;
mod server_lifecycle;
mod suites;
mod supply_chain;
mod support;
