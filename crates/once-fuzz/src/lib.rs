//! The bodies of Once's fuzz targets (docs/FUZZ.md): each module's `run` feeds one input to the
//! code that reads what a caller sends (sealed envelopes, keys and ids, API v1 parameters, API v2
//! bodies) and panics on a broken property. Each module's documentation gives its input layout
//! and what must hold.
//!
//! Two drivers call them: the cargo-fuzz targets in `fuzz/` (libFuzzer, coverage-guided, with
//! AddressSanitizer), one line each, and this crate's `tests/short_run.rs`, which replays the
//! seeds and a fixed number of deterministic mutations of them in `cargo test`.

pub mod envelope;
pub mod envelope_open;
pub mod token_parse;
pub mod v1_params;
pub mod v2_bodies;
