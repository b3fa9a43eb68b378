use std::sync::Arc;

use once_core::Core;

use crate::metrics::Metrics;

/// Shared by every request. Holds everything handlers need; there is no global state.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    /// Public base URL without a trailing slash, for links in responses.
    pub base_url: Arc<str>,
    pub store: Arc<dyn once_store::Store>,
    /// This application's metrics (a no-op when `metrics.enabled = false`).
    pub metrics: Metrics,
    /// Where the admin pages may be reached from (`admin.allow_cidrs`).
    pub admin_networks: Arc<crate::config::CidrAllowList>,
    /// Per-client rate limits.
    pub limits: Arc<crate::config::LimitsConfig>,
    /// How long a request may take (`http.request_timeout_secs`); a file upload, which streams
    /// for as long as its size needs, may instead wait this long for each piece.
    pub request_timeout: std::time::Duration,
}
