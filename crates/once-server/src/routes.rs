//! Routes by feature.

mod admin;
mod assets;
mod files;
mod health;
mod keys;
mod metrics;
mod v1;
mod v2;

use axum::Router;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .merge(health::router())
        .merge(v1::router())
        .merge(v2::router(state.core.secrets.policy()))
        .merge(assets::router())
        .merge(crate::pages::router())
        .fallback(crate::pages::not_found);
    // Disabled, `/metrics` is not routed at all: a 404 like any unknown path.
    if state.metrics.is_enabled() {
        router = router.merge(metrics::router());
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::limits::check))
        .with_state(state)
}
