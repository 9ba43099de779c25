//! Portcullis: an admission policy engine with one set of WebAssembly policies for two doors,
//! the Kubernetes admission webhook and the Docker authorization plugin.
//!
//! Data flows one way: a door (`kubernetes`, `docker`) turns its request into an
//! `admission::Admission` — the policy envelope with a normalized `workload`, and what only
//! that door knows; `admission::evaluate` has the `policy_set` run the policies the scope
//! picks in the `runtime`; `decision` combines their answers into a verdict; the door renders
//! it.

#![deny(unsafe_code)]

pub mod abi;
pub mod admission;
pub mod audit;
pub mod background;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod decision;
pub mod docker;
pub mod eval;
pub mod inspect;
pub mod kubernetes;
pub mod markup;
pub mod matching;
pub mod metrics;
pub mod modules;
pub mod placement;
pub mod policy_set;
pub mod registry;
pub mod runtime;
pub mod scaffold;
pub mod server;
pub mod settings_schema;
pub mod suite;
pub mod testing;
pub mod workload;
