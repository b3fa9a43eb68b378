//! Routes by feature.

mod health;
mod v1;

use axum::Router;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().merge(health::router()).merge(v1::router()).with_state(state)
}
