//! The Once HTTP server: API v1 (Onetime Secret compatible) and health endpoints.
//!
//! Routes are organised by feature under `routes/`; the one error type at the edge is
//! [`error::ApiError`]; everything a handler needs comes from [`state::AppState`]. Prometheus
//! metrics (one recorder per application) are in [`metrics`].

pub mod audit;
pub mod auth;
pub mod config;
pub mod connections;
pub mod error;
pub mod geoip;
pub mod limits;
pub mod metrics;
mod middleware;
pub mod pages;
pub mod params;
mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::{Config, FlagOverrides, LogFormat};
pub use startup::{Application, MasterKeySource, open_store};
