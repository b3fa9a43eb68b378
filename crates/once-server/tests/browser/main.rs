//! Browser tests: Debian's Chromium, driven over WebDriver (a chromedriver per test binary), against
//! an in-process server that the browser reaches only through a recording TCP proxy, so a test can
//! check every byte the server was sent. Needs `chromium` and `chromium-driver` (see `.ci/run`).
//!
//! `ONCE_SCREENSHOTS=1 cargo test -p once-server --test browser` also writes `docs/screenshots/`.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod access;
mod accounts;
mod combine;
mod files;
mod flows;
mod harness;
mod interop;
mod korean;
mod screenshots;
