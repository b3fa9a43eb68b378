//! Prometheus metrics, rendered as text by our own `GET /metrics` (docs/METRICS.md lists them).
//!
//! # One recorder per application
//!
//! Each [`Application`](crate::Application) builds its own `PrometheusRecorder`
//! (`PrometheusBuilder::build_recorder`) and keeps it in [`AppState`](crate::state::AppState).
//! Nothing is installed as the process-wide `metrics` recorder: that keeps the "no global state"
//! invariant, and lets one test process run many applications side by side, each with exact,
//! independent counts (a global recorder can be installed only once per process, and would
//! mix every application's numbers). So recording never goes through the global recorder: the
//! fixed series are registered once at startup and kept as handles, and the request series,
//! whose labels vary, are recorded under `metrics::with_local_recorder`, which points the macros
//! at this application's recorder for the length of one synchronous call.
//!
//! # Where the numbers come from
//!
//! - Requests: [`track`], a middleware that runs after routing, labels each request by its
//!   matched route template (never the raw path: keys in paths are capabilities), its method
//!   (folded to a fixed set) and its status code.
//! - Secrets created, revealed and burned, wrong passphrases: only `once-core` knows these (at
//!   the HTTP edge a wrong passphrase looks like an unknown secret, on purpose). The core already
//!   reports each as an audit event (target `once::audit`), so [`AuditMetricsLayer`] counts those
//!   events by name, and `once-core` needs no metrics dependency.
//! - Receipts viewed, expired rows purged, store errors, readiness failures: counted where the
//!   server sees them; connections open and refused by [`crate::connections`], audit events sent
//!   to or dropped for syslog by [`crate::audit::syslog`].
//!
//! No label carries a key, token, record id, account or any other value taken from a request,
//! besides the folded method and the route template.

mod audit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::metrics::{
    Counter, Gauge, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
    with_local_recorder,
};
pub use audit::{AUDIT_TARGET, AuditMetricsLayer};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Requests answered, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: &str = "once_http_requests_total";
/// Time to the response head, by `method`, `route` and `status`.
pub const HTTP_REQUEST_DURATION: &str = "once_http_request_duration_seconds";
pub const SECRETS_CREATED: &str = "once_secrets_created_total";
pub const SECRETS_REVEALED: &str = "once_secrets_revealed_total";
/// By `reason`: `sender` or `passphrase_failures`.
pub const SECRETS_BURNED: &str = "once_secrets_burned_total";
pub const PASSPHRASE_FAILURES: &str = "once_passphrase_failures_total";
pub const RECEIPTS_VIEWED: &str = "once_receipts_viewed_total";
pub const EXPIRED_PURGED: &str = "once_expired_rows_purged_total";
/// By `source`: `request` or `sweeper`.
pub const STORE_ERRORS: &str = "once_store_errors_total";
pub const READINESS_FAILURES: &str = "once_readiness_failures_total";
/// Connections open now.
pub const CONNECTIONS_OPEN: &str = "once_http_connections_open";
/// By `cap`: `global` or `per_ip`.
pub const CONNECTIONS_REFUSED: &str = "once_http_connections_refused_total";
pub const SYSLOG_SENT: &str = "once_audit_syslog_sent_total";
/// By `reason`: `queue_full` or `unreachable`.
pub const SYSLOG_DROPPED: &str = "once_audit_syslog_dropped_total";
/// Always 1, labelled with the `version`.
pub const BUILD_INFO: &str = "once_build_info";

/// The `route` label of requests that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency buckets, in seconds. A reveal with a passphrase spends tens of
/// milliseconds in Argon2id; a request timeout is 30 s by default.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How often latency samples are folded into the histogram buckets when no one scrapes
/// (rendering folds them too); without it they would pile up.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

tokio::task_local! {
    /// The metrics of the application serving the current request, set by [`track`] around the
    /// request. [`AuditMetricsLayer`] finds the counters for an audit event through it.
    static REQUEST_METRICS: Arc<Inner>;
}

/// Marks a response that failed because the store did (set by [`crate::error::ApiError`]);
/// [`track`] counts it under `once_store_errors_total{source="request"}`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoreFailure;

/// This application's metrics. Cheap to clone; when metrics are disabled every method does
/// nothing and [`Metrics::render`] gives `None`.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("enabled", &self.is_enabled()).finish()
    }
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    counters: Counters,
}

/// The series without request labels, registered once at startup.
struct Counters {
    secrets_created: Counter,
    secrets_revealed: Counter,
    burned_by_sender: Counter,
    burned_by_passphrase_failures: Counter,
    passphrase_failures: Counter,
    receipts_viewed: Counter,
    expired_purged: Counter,
    store_errors_request: Counter,
    store_errors_sweeper: Counter,
    readiness_failures: Counter,
    connections_open: Gauge,
    refused_global: Counter,
    refused_per_ip: Counter,
    syslog_sent: Counter,
    syslog_queue_full: Counter,
    syslog_unreachable: Counter,
}

/// Why an audit event was not sent to syslog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogDrop {
    /// More events were waiting than the queue holds.
    QueueFull,
    /// The receiver could not be reached, or a send failed.
    Unreachable,
}

impl Metrics {
    /// Metrics kept in a new Prometheus recorder of this application's own.
    pub fn prometheus() -> Result<Self, BuildError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), LATENCY_BUCKETS)?
            .build_recorder();
        let handle = recorder.handle();
        let counters = with_local_recorder(&recorder, || {
            describe_counter!(
                HTTP_REQUESTS,
                "HTTP requests answered, by method, route template and status code."
            );
            describe_histogram!(
                HTTP_REQUEST_DURATION,
                Unit::Seconds,
                "Time from the request to the response head, by method, route template and status code."
            );
            describe_counter!(SECRETS_CREATED, "Secrets created (including generated passwords).");
            describe_counter!(SECRETS_REVEALED, "Secrets revealed (one per view).");
            describe_counter!(SECRETS_BURNED, "Secrets burned before being revealed, by reason.");
            describe_counter!(
                PASSPHRASE_FAILURES,
                "Reveals refused for a wrong passphrase (including the one that burns the secret)."
            );
            describe_counter!(RECEIPTS_VIEWED, "Receipts (metadata) shown to their sender.");
            describe_counter!(
                EXPIRED_PURGED,
                "Expired rows deleted by the sweeper; a secret and its receipt are two rows, purged at different times."
            );
            describe_counter!(
                STORE_ERRORS,
                "Store failures, by where they surfaced: request (503) or sweeper."
            );
            describe_counter!(
                READINESS_FAILURES,
                "Readiness checks (/readyz) that found the store unavailable."
            );
            describe_gauge!(CONNECTIONS_OPEN, "HTTP connections open now.");
            describe_counter!(
                CONNECTIONS_REFUSED,
                "Connections answered 503 and closed at once, by the cap they met: global or per_ip."
            );
            describe_counter!(SYSLOG_SENT, "Audit events sent to syslog.");
            describe_counter!(
                SYSLOG_DROPPED,
                "Audit events not sent to syslog (they are in the store's trail), by reason: queue_full or unreachable."
            );
            describe_gauge!(BUILD_INFO, "Always 1; the version is a label.");
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Counters {
                secrets_created: counter!(SECRETS_CREATED),
                secrets_revealed: counter!(SECRETS_REVEALED),
                burned_by_sender: counter!(SECRETS_BURNED, "reason" => "sender"),
                burned_by_passphrase_failures: counter!(SECRETS_BURNED, "reason" => "passphrase_failures"),
                passphrase_failures: counter!(PASSPHRASE_FAILURES),
                receipts_viewed: counter!(RECEIPTS_VIEWED),
                expired_purged: counter!(EXPIRED_PURGED),
                store_errors_request: counter!(STORE_ERRORS, "source" => "request"),
                store_errors_sweeper: counter!(STORE_ERRORS, "source" => "sweeper"),
                readiness_failures: counter!(READINESS_FAILURES),
                connections_open: gauge!(CONNECTIONS_OPEN),
                refused_global: counter!(CONNECTIONS_REFUSED, "cap" => "global"),
                refused_per_ip: counter!(CONNECTIONS_REFUSED, "cap" => "per_ip"),
                syslog_sent: counter!(SYSLOG_SENT),
                syslog_queue_full: counter!(SYSLOG_DROPPED, "reason" => "queue_full"),
                syslog_unreachable: counter!(SYSLOG_DROPPED, "reason" => "unreachable"),
            }
        });
        Ok(Metrics { inner: Some(Arc::new(Inner { recorder, handle, counters })) })
    }

    /// No metrics: nothing is recorded and `/metrics` is not routed.
    pub fn disabled() -> Self {
        Metrics { inner: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The Prometheus text exposition of everything recorded so far.
    pub fn render(&self) -> Option<String> {
        self.inner.as_ref().map(|i| i.handle.render())
    }

    pub fn receipt_viewed(&self) {
        if let Some(i) = &self.inner {
            i.counters.receipts_viewed.increment(1);
        }
    }

    pub fn expired_purged(&self, rows: u64) {
        if let Some(i) = &self.inner {
            i.counters.expired_purged.increment(rows);
        }
    }

    pub fn sweep_failed(&self) {
        if let Some(i) = &self.inner {
            i.counters.store_errors_sweeper.increment(1);
        }
    }

    pub fn readiness_failed(&self) {
        if let Some(i) = &self.inner {
            i.counters.readiness_failures.increment(1);
        }
    }

    pub(crate) fn connections_open(&self, open: usize) {
        if let Some(i) = &self.inner {
            i.counters.connections_open.set(open as f64);
        }
    }

    pub(crate) fn connection_refused(&self, cap: crate::connections::Cap) {
        if let Some(i) = &self.inner {
            match cap {
                crate::connections::Cap::Global => i.counters.refused_global.increment(1),
                crate::connections::Cap::PerIp => i.counters.refused_per_ip.increment(1),
            }
        }
    }

    pub(crate) fn syslog_sent(&self) {
        if let Some(i) = &self.inner {
            i.counters.syslog_sent.increment(1);
        }
    }

    pub(crate) fn syslog_dropped(&self, why: SyslogDrop) {
        if let Some(i) = &self.inner {
            match why {
                SyslogDrop::QueueFull => i.counters.syslog_queue_full.increment(1),
                SyslogDrop::Unreachable => i.counters.syslog_unreachable.increment(1),
            }
        }
    }

    /// Folds latency samples into their buckets every few seconds, for as long as it runs.
    pub(crate) async fn upkeep(self) {
        let Some(inner) = self.inner else { return };
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            inner.handle.run_upkeep();
        }
    }
}

impl Inner {
    fn count(&self, what: audit::Counted) {
        let c = &self.counters;
        match what {
            audit::Counted::Created => c.secrets_created.increment(1),
            audit::Counted::Revealed => c.secrets_revealed.increment(1),
            audit::Counted::BurnedBySender => c.burned_by_sender.increment(1),
            audit::Counted::BurnedByPassphraseFailures => {
                // The wrong passphrase that reached the cap is a failure too.
                c.passphrase_failures.increment(1);
                c.burned_by_passphrase_failures.increment(1);
            }
            audit::Counted::PassphraseFailure => c.passphrase_failures.increment(1),
        }
    }

    fn record_request(&self, method: &'static str, route: String, status: String, seconds: f64) {
        with_local_recorder(&self.recorder, || {
            counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.clone())
                .increment(1);
            histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route, "status" => status)
                .record(seconds);
        });
    }
}

/// Middleware (after routing, outside every other layer so that timeouts, body limits and caught
/// panics are counted with their real status): counts and times each request, and makes this
/// application's metrics the ones audit events of the request count into.
pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let Some(inner) = metrics.inner else {
        return next.run(req).await;
    };
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_owned();
    let method = method_label(req.method().as_str());
    let started = Instant::now();
    let response = REQUEST_METRICS.scope(inner.clone(), next.run(req)).await;
    let seconds = started.elapsed().as_secs_f64();
    if response.extensions().get::<StoreFailure>().is_some() {
        inner.counters.store_errors_request.increment(1);
    }
    inner.record_request(method, route, response.status().as_str().to_owned(), seconds);
    response
}

/// The method as a label: any method outside the standard set is `other`, so that clients
/// cannot create series at will.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::error::ApiError;

    fn app(metrics: &Metrics) -> Router {
        let unavailable = || async {
            ApiError::from(once_core::CoreError::Unavailable(once_store::StoreError::backend(
                std::io::Error::other("disk on fire"),
            )))
        };
        Router::new()
            .route("/ok/{key}", get(|| async { "ok" }))
            .route("/down", get(unavailable))
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), track))
    }

    async fn call(app: &Router, path: &str) -> StatusCode {
        let req = Request::builder().uri(path).body(Body::empty()).expect("request");
        app.clone().oneshot(req).await.expect("infallible").status()
    }

    #[tokio::test]
    async fn requests_are_labelled_by_route_template_and_store_failures_counted() {
        let metrics = Metrics::prometheus().expect("recorder");
        let app = app(&metrics);
        assert_eq!(call(&app, "/ok/canarytoken123").await, StatusCode::OK);
        assert_eq!(call(&app, "/down").await, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(call(&app, "/nowhere/canarytoken456").await, StatusCode::NOT_FOUND);
        let text = metrics.render().expect("enabled");
        assert!(
            text.contains(r#"once_http_requests_total{method="GET",route="/ok/{key}",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"route="unmatched",status="404"} 1"#), "{text}");
        assert!(text.contains(r#"once_store_errors_total{source="request"} 1"#), "{text}");
        assert!(text.contains(r#"once_store_errors_total{source="sweeper"} 0"#), "{text}");
        assert!(
            text.contains("once_http_request_duration_seconds_bucket{"),
            "a histogram, not a summary: {text}"
        );
        assert!(!text.contains("canarytoken"), "{text}");
    }

    #[test]
    fn odd_methods_fold_into_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("get"), "other");
    }

    #[test]
    fn disabled_metrics_record_and_render_nothing() {
        let m = Metrics::disabled();
        m.receipt_viewed();
        m.expired_purged(3);
        assert!(!m.is_enabled());
        assert_eq!(m.render(), None);
    }
}
