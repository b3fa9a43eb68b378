//! Layers every response goes through: security headers, request logging by route template
//! (never the raw path: secret and receipt keys in paths are capabilities), timeouts, body caps,
//! and request metrics by route template (outermost, so they see every status the others set).

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::metrics::Metrics;

fn span_for(req: &Request) -> tracing::Span {
    let route = req.extensions().get::<MatchedPath>().map_or("<unmatched>", |p| p.as_str());
    tracing::info_span!("request", method = %req.method(), route = %route)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The panic payload is not echoed: it could name internal state.
    tracing::error!("request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"message":"Internal error"}"#,
    )
        .into_response()
}

/// Wraps every route in the layers, outermost first: metrics, the security headers, the
/// client's address for the audit trail, the declared-size check, caught panics, sensitive
/// headers, the request log, the timeout, then the body cap. The security headers sit outside
/// everything that can answer on its own (a 413, a 408, a caught panic's 500), so every answer
/// has them.
///
/// One `Router::layer` call with the whole stack: axum boxes each route's service once per call,
/// and every boxed level is cloned again for each request, so ten calls cost about a hundred
/// allocations a request where one call costs a few (docs/BENCHMARKS.md, 2026-11-30).
pub fn apply(
    router: Router,
    metrics: &Metrics,
    max_body: usize,
    timeout: Duration,
    proxies: std::sync::Arc<crate::config::Networks>,
) -> Router {
    let security_header =
        |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    router.layer(
        ServiceBuilder::new()
            // Passes requests straight through when metrics are off.
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), crate::metrics::track))
            .layer(security_header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
            ))
            .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
            .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
            .layer(security_header(header::CACHE_CONTROL, "no-store"))
            .layer(axum::middleware::from_fn_with_state(proxies, crate::audit::with_client))
            .layer(axum::middleware::from_fn_with_state(max_body, refuse_declared_oversize))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(span_for)
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(axum::middleware::from_fn_with_state(timeout, request_timeout))
            // Enforced while the body streams in (a chunked body is cut off at the cap), and
            // answered by the extractors in our JSON error shape.
            .layer(DefaultBodyLimit::max(max_body)),
    )
}

/// The file upload route (`routes/files.rs`): its body may be far larger than `max_body` and
/// take far longer than the request timeout; the route applies its own limits.
const FILE_UPLOAD_PATH: &str = "/api/v2/files";

/// Answers 408 when a request takes longer than `timeout`, except a file upload: it streams for
/// as long as its size needs, and its route limits the wait for each piece instead.
async fn request_timeout(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if req.uri().path() == FILE_UPLOAD_PATH {
        return next.run(req).await;
    }
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// A request that declares a body larger than the cap gets 413 at once, instead of the server
/// reading (or waiting for) a body it will refuse anyway. Bodies without a length (chunked) are
/// cut off at the cap while they stream in (`DefaultBodyLimit`).
async fn refuse_declared_oversize(
    axum::extract::State(max_body): axum::extract::State<usize>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // A file upload has its own, larger cap, applied by its route while the body streams in.
    if declared.is_none_or(|n| n <= max_body as u64) || req.uri().path() == FILE_UPLOAD_PATH {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let too_large = crate::error::ApiError::TooLarge("request body is too large".into());
    let mut resp = if path.starts_with("/api/v2/") {
        crate::error::V2Error::from(too_large).into_response()
    } else if path.starts_with("/api/") {
        too_large.into_response()
    } else {
        // A bare page: the body, which would say what language to answer in, is not read.
        let html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Too large · Once</title>\
                    </head><body><h1>Too large</h1><p>The request is larger than this server accepts.</p>\
                    <p><a href=\"/\">Once</a></p></body></html>";
        (StatusCode::PAYLOAD_TOO_LARGE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html)
            .into_response()
    };
    // The body is not read: close the connection rather than parse it as the next request.
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}
