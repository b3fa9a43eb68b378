//! API v1 through real HTTP against a server spawned on port 0.

mod admin;
mod dashboard;
mod helpers;
mod hostile;
mod keys;
mod limits;
mod metrics;
mod pages;
mod v1;
mod v2;
