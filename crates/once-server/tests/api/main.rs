//! API v1 through real HTTP against a server spawned on port 0.

mod access;
mod admin;
mod connections;
mod dashboard;
mod files;
mod helpers;
mod hostile;
mod keys;
mod limits;
mod metrics;
mod pages;
mod syslog;
mod v1;
mod v2;
mod view_log;
