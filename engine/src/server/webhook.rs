//! The Kubernetes admission webhook endpoints. A decision, even a denial or a failed policy,
//! is an HTTP 200 `AdmissionReview`; HTTP errors are only for requests that cannot be read.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::body::{BodyError, declared_length, read_limited};
use super::state::{AppState, InFlight, on_this_thread};
use crate::audit::AuditRecord;
use crate::kubernetes::{self, ReviewError, ReviewOptions};
use crate::placement::Placement;
use crate::policy_set::Phase;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate_all))
        .route("/mutate", post(mutate_all))
        .route("/validate/{policy}", post(validate_one))
        .route("/mutate/{policy}", post(mutate_one))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A request that cannot be read: a 4xx with a JSON body saying why.
pub struct BadRequest {
    status: StatusCode,
    message: String,
}

impl BadRequest {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        BadRequest {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": self.message}))).into_response()
    }
}

async fn validate_all(state: State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    decide(
        state,
        "/validate".into(),
        Phase::Validate,
        None,
        headers,
        body,
    )
    .await
}

async fn mutate_all(state: State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    decide(state, "/mutate".into(), Phase::Mutate, None, headers, body).await
}

async fn validate_one(
    state: State<Arc<AppState>>,
    Path(policy): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    decide(
        state,
        format!("/validate/{policy}"),
        Phase::Validate,
        Some(policy),
        headers,
        body,
    )
    .await
}

async fn mutate_one(
    state: State<Arc<AppState>>,
    Path(policy): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    decide(
        state,
        format!("/mutate/{policy}"),
        Phase::Mutate,
        Some(policy),
        headers,
        body,
    )
    .await
}

async fn decide(
    State(state): State<Arc<AppState>>,
    endpoint: String,
    phase: Phase,
    only: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::start(&state.metrics);
    match decide_inner(&state, &endpoint, phase, only, &headers, body, started).await {
        Ok(response) => response,
        Err(bad) => {
            state.metrics.count(&endpoint, "invalid");
            tracing::info!(
                endpoint,
                status = bad.status.as_u16(),
                "refused request: {}",
                bad.message
            );
            bad.into_response()
        }
    }
}

async fn decide_inner(
    state: &Arc<AppState>,
    endpoint: &str,
    phase: Phase,
    only: Option<String>,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> Result<Response, BadRequest> {
    let body = read_limited(body, declared_length(headers), state.body_limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit } => BadRequest::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body is larger than the {limit} byte limit (server.bodyLimitBytes)"
                ),
            ),
            BodyError::Unreadable(e) => BadRequest::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            ),
        })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(BadRequest::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected Content-Type: application/json, got {content_type:?}"),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        BadRequest::new(
            StatusCode::BAD_REQUEST,
            format!("request body is not JSON: {e}"),
        )
    })?;

    let policies = state.policies.load_full();
    if let Some(name) = &only {
        let Some(policy) = policies.policies().iter().find(|p| &p.config.name == name) else {
            return Err(BadRequest::new(
                StatusCode::NOT_FOUND,
                format!("no policy named {name:?} is loaded"),
            ));
        };
        let mutating = policy.config.allowed_to_mutate && policy.metadata().mutating;
        if mutating != (phase == Phase::Mutate) {
            let (is, other) = if mutating {
                ("mutating", "mutate")
            } else {
                ("validating", "validate")
            };
            return Err(BadRequest::new(
                StatusCode::NOT_FOUND,
                format!("policy {name:?} is a {is} policy: call /{other}/{name}"),
            ));
        }
    }

    // The review is read and made an admission here; its policies then run here too when
    // they have been cheap, else on the pool (`placement`).
    let options = ReviewOptions {
        phase,
        only: only.as_deref(),
        namespaces: state.namespaces.as_ref(),
        claims: state.claims.as_ref(),
        own_namespace: state.own_namespace.as_deref(),
        placement: Placement::Sequential,
    };
    let prepared = kubernetes::Prepared::new(&policies, value, &options)
        .map_err(|e: ReviewError| BadRequest::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let reviewed = match prepared.placement(&policies, &options) {
        Placement::Sequential => on_this_thread(|| prepared.decide(&policies, &options)),
        Placement::Concurrent => {
            let namespaces = state.namespaces.clone();
            let claims = state.claims.clone();
            let own_namespace = state.own_namespace.clone();
            state
                .on_pool(move || {
                    let options = ReviewOptions {
                        phase,
                        only: only.as_deref(),
                        namespaces: namespaces.as_ref(),
                        claims: claims.as_ref(),
                        own_namespace: own_namespace.as_deref(),
                        placement: Placement::Concurrent,
                    };
                    prepared.decide(&policies, &options)
                })
                .await
        }
    }
    .map_err(|e| BadRequest::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;

    state.metrics.observe(endpoint, &reviewed.verdict);
    let record = AuditRecord::new(
        &reviewed.request,
        endpoint,
        &reviewed.verdict,
        started.elapsed(),
    );
    state.audit.record(record).await;
    Ok(axum::Json(reviewed.response).into_response())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let policies = state.policies.load();
    let body = json!({
        "ready": true,
        "policies": policies.policies().iter().map(|p| p.config.name.clone()).collect::<Vec<_>>(),
        "namespaceLabels": state.namespace_labels_note.clone().unwrap_or_else(|| "available".into()),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
