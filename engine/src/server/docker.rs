//! The Docker authorization plugin endpoints, served on a unix socket as dockerd's plugin
//! client expects them: `POST /Plugin.Activate`, `/AuthZPlugin.AuthZReq`,
//! `/AuthZPlugin.AuthZRes`, with `application/vnd.docker.plugins.v1+json` answers.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::body::{BodyError, declared_length, read_limited};
use super::state::{AppState, InFlight};
use crate::audit::{AuditRecord, record::timestamp};
use crate::decision::Verdict;
use crate::docker::route;
use crate::docker::{self, AuthzRequest};
use crate::metrics::ResultLabels;

const PLUGIN_JSON: &str = "application/vnd.docker.plugins.v1+json";

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/Plugin.Activate", post(activate))
        .route("/AuthZPlugin.AuthZReq", post(authz_request))
        .route("/AuthZPlugin.AuthZRes", post(authz_response))
        .with_state(state)
}

fn plugin_json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, PLUGIN_JSON)],
        body.to_string(),
    )
        .into_response()
}

async fn activate() -> Response {
    plugin_json(StatusCode::OK, json!({"Implements": ["authz"]}))
}

/// dockerd sends a call's body only when it is under 1 MiB, so the limit is at least 8 MiB
/// whatever the webhook's is.
async fn read_call(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let limit = state.body_limit.max(8 << 20);
    read_limited(body, declared_length(headers), limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit } => {
                tracing::info!("refused authz call: body over the {limit} byte limit");
                plugin_json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"Allow": false, "Msg": "", "Err": format!("call body is larger than the {limit} byte limit")}),
                )
            }
            BodyError::Unreadable(e) => plugin_error(format!("cannot read the call body: {e}")),
        })
}

/// An unreadable plugin call: dockerd shows `Err` to the client and fails the request.
fn plugin_error(message: String) -> Response {
    tracing::info!("refused authz call: {message}");
    plugin_json(
        StatusCode::BAD_REQUEST,
        json!({"Allow": false, "Msg": "", "Err": message}),
    )
}

async fn authz_request(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const ENDPOINT: &str = "authz-request";
    let started = Instant::now();
    let _in_flight = InFlight::start(&state.metrics);
    let body = match read_call(&state, &headers, body).await {
        Ok(body) => body,
        Err(refused) => {
            state.metrics.count(ENDPOINT, "invalid");
            return refused;
        }
    };
    let authz: AuthzRequest = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            state.metrics.count(ENDPOINT, "invalid");
            return plugin_error(format!("not an authorization request: {e}"));
        }
    };

    let route = route::parse(&authz.request_method, &authz.request_uri);
    let policies = state.policies.load_full();
    let plugin_name = state.docker_plugin_name.clone();
    // Read and, when the call refers to nothing, decide it in one trip to the pool; a call
    // that refers to other objects is looked up here, between two trips.
    let set = policies.clone();
    let read = state
        .on_pool(move || match docker::prepare(&set, &authz, &plugin_name) {
            Ok(pending) if pending.needs_lookups() => Err(Box::new(pending)),
            Ok(pending) => Ok(docker::decide(&set, pending)),
            Err(done) => Ok(*done),
        })
        .await;
    let decided = match read {
        Ok(Ok(authorized)) => Ok(authorized),
        Ok(Err(mut pending)) => {
            let config = policies.docker_config();
            let watched = state.watched_daemon(&config.daemon);
            let (asked, kept) = pending
                .look_up(config, watched.as_deref(), Some(&state.created))
                .await;
            let count = |result, n: usize| {
                state
                    .metrics
                    .docker_lookups
                    .get_or_create(&ResultLabels { result })
                    .inc_by(n as u64);
            };
            count("asked", asked);
            count("kept", kept);
            state
                .on_pool(move || docker::decide(&policies, *pending))
                .await
        }
        Err(e) => Err(e),
    };
    let authorized = match decided {
        Ok(a) => a,
        Err(e) => {
            return plugin_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"Err": e.to_string()}),
            );
        }
    };

    state.metrics.observe(ENDPOINT, &authorized.verdict);
    let record = match &authorized.request {
        Some(request) => {
            AuditRecord::new(request, ENDPOINT, &authorized.verdict, started.elapsed())
        }
        None => unreadable_record(ENDPOINT, &route, &authorized.verdict, started),
    };
    state.audit.record(record).await;
    plugin_json(
        StatusCode::OK,
        serde_json::to_value(&authorized.response).expect("serializable"),
    )
}

/// `AuthZRes` comes after the daemon has acted; it is allowed and recorded.
async fn authz_response(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const ENDPOINT: &str = "authz-response";
    let started = Instant::now();
    let body = match read_call(&state, &headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let authz: AuthzRequest = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return plugin_error(format!("not an authorization response call: {e}")),
    };
    let route = route::parse(&authz.request_method, &authz.request_uri);
    state.created.record(&authz);
    let verdict = Verdict::allow();
    let mut record = unreadable_record(ENDPOINT, &route, &verdict, started);
    record.user = authz.user.clone();
    record.response_status = authz.response_status_code;
    state.metrics.count(ENDPOINT, "allowed");
    state.audit.record(record).await;
    plugin_json(StatusCode::OK, json!({"Allow": true, "Msg": "", "Err": ""}))
}

/// A record for a call whose body could not be turned into a request.
fn unreadable_record(
    endpoint: &str,
    route: &route::Route,
    verdict: &Verdict,
    started: Instant,
) -> AuditRecord {
    AuditRecord {
        timestamp: timestamp(SystemTime::now()),
        uid: String::new(),
        source: "docker",
        user: String::new(),
        groups: Vec::new(),
        operation: route.operation.name().to_string(),
        kind: route.operation.name().to_string(),
        namespace: None,
        name: None,
        dry_run: false,
        endpoint: endpoint.into(),
        allowed: verdict.allowed,
        message: verdict.message.clone(),
        policies: Vec::new(),
        patch_operations: 0,
        latency_us: crate::audit::record::micros(started.elapsed()),
        method: Some(route.method.clone()),
        path: Some(route.path.clone()),
        response_status: None,
    }
}
