//! `/metrics`: Prometheus text exposition of this application's metrics (docs/METRICS.md).
//!
//! Not behind authentication, as is usual for a scrape target: it holds counts only, never a key,
//! token or record id. Turn it off with `metrics.enabled = false`, or keep it off the public
//! side at the reverse proxy.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Some(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        // Not routed when disabled; kept total all the same.
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
