//! Per-client rate limits (GCRA, counted in the store so instances on one Redis share them) for
//! the routes worth abusing: creating secrets, reveal attempts, password sign-in and sign-up, and
//! second-factor codes. A refused request gets 429 with `Retry-After`, in the shape of the API or
//! page it was for, and reaches no handler.

use std::net::IpAddr;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use once_core::Clock;

use crate::config::LimitsConfig;
use crate::error::{ApiError, V2Error};
use crate::state::AppState;

/// What a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Create,
    Reveal,
    SignIn,
    SecondFactor,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Create => "create",
            Class::Reveal => "reveal",
            Class::SignIn => "signin",
            Class::SecondFactor => "2fa",
        }
    }

    /// The class of a request, by method and route template.
    pub fn of(method: &Method, route: &str) -> Option<Class> {
        if method != Method::POST {
            return None;
        }
        Some(match route {
            "/api/v1/share" | "/api/v1/create" | "/api/v1/generate" | "/api/v2/secrets" | "/" => {
                Class::Create
            }
            "/api/v1/secret/{key}" | "/api/v2/secrets/{key}/reveal" | "/secret/{key}" => Class::Reveal,
            "/signin" | "/signup" => Class::SignIn,
            "/signin/code" => Class::SecondFactor,
            _ => return None,
        })
    }

    fn per_minute(self, limits: &LimitsConfig) -> u32 {
        match self {
            Class::Create => limits.create_per_minute,
            Class::Reveal => limits.reveal_per_minute,
            Class::SignIn => limits.signin_per_minute,
            Class::SecondFactor => limits.second_factor_per_minute,
        }
    }
}

/// Middleware (a route layer, so the route template is known): counts the request against its
/// class's limit for its client.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limits = &state.limits;
    // `MatchedPath` clones as a reference count, not a string.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let class = route.as_ref().and_then(|r| Class::of(req.method(), r.as_str()));
    let (Some(class), true) = (class, limits.enabled) else {
        return next.run(req).await;
    };
    let client = req.extensions().get::<crate::audit::ClientIp>().and_then(|c| c.0);
    let key = format!("{}:{}", class.name(), client_key(client));
    let now_ms = once_core::SystemClock.now_ms();
    match state.store.rate_hit(&key, class.per_minute(limits), 60_000, now_ms).await {
        Ok(None) => next.run(req).await,
        Ok(Some(wait_ms)) => {
            tracing::info!(class = class.name(), "rate limit reached");
            too_many(&state, req.headers(), route.as_ref().map_or("", |r| r.as_str()), wait_ms)
        }
        Err(e) => {
            tracing::error!(error = %e, "rate-limit store unavailable");
            if route.as_ref().is_some_and(|r| r.as_str().starts_with("/api/v2/")) {
                V2Error::from(ApiError::Unavailable).into_response()
            } else {
                ApiError::Unavailable.into_response()
            }
        }
    }
}

/// IPv6 clients are counted by their /64 (one host usually has a whole /64 to pick from).
fn client_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".into(),
    }
}

/// 429 with `Retry-After` (whole seconds, rounded up), shaped like the API or page asked.
fn too_many(state: &AppState, request: &axum::http::HeaderMap, route: &str, wait_ms: i64) -> Response {
    let secs = (wait_ms.max(1) + 999) / 1000;
    let message = format!("too many requests from your address; try again in {secs} s");
    let mut resp = if route.starts_with("/api/v2/") {
        V2Error::too_many_requests(message).into_response()
    } else if route.starts_with("/api/") {
        ApiError::TooManyRequests(message).into_response()
    } else {
        crate::pages::too_many_requests_page(state, request, secs)
    };
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    *resp.status_mut() = match resp.status() {
        // API v1 keeps OTS's 404-for-errors; its intended status says 429.
        StatusCode::NOT_FOUND => StatusCode::NOT_FOUND,
        _ => StatusCode::TOO_MANY_REQUESTS,
    };
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_classed() {
        assert_eq!(Class::of(&Method::POST, "/api/v1/share"), Some(Class::Create));
        assert_eq!(Class::of(&Method::POST, "/secret/{key}"), Some(Class::Reveal));
        assert_eq!(Class::of(&Method::GET, "/secret/{key}"), None, "previews are free");
        assert_eq!(Class::of(&Method::POST, "/signin/code"), Some(Class::SecondFactor));
        assert_eq!(Class::of(&Method::POST, "/api/v1/private/{key}/burn"), None);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(client_key(Some(a)), client_key(Some(b)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(client_key(Some(mapped)), "192.0.2.7");
    }
}
