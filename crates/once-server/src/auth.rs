//! Authentication: HTTP Basic for API v1 (the account's e-mail as user name, an API key as
//! password) and `Bearer <API key>` for API v2.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use data_encoding::BASE64;
use once_core::Principal;
use once_store::Scope;
use zeroize::Zeroizing;

use crate::error::{ApiError, V2Error};
use crate::state::AppState;

/// The caller: anonymous (no `Authorization` header) or an account. A header that is present but
/// wrong is rejected, even on routes that allow anonymous callers.
#[derive(Debug)]
pub enum Caller {
    Anonymous,
    Account(Principal),
}

impl Caller {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Anonymous => None,
            Caller::Account(p) => Some(p),
        }
    }

    /// Refuses an authenticated caller whose key lacks `scope` ([`ApiError::Forbidden`]).
    /// Anonymous callers pass: routes that allow them decide for themselves.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Caller::Account(p) => require(p, scope),
            Caller::Anonymous => Ok(()),
        }
    }

    /// `custid` as OTS shows it.
    pub fn custid(&self) -> String {
        self.principal().map_or_else(|| "anon".to_owned(), |p| p.account.email.clone())
    }
}

/// Refuses a principal whose key lacks `scope`.
pub fn require(p: &Principal, scope: Scope) -> Result<(), ApiError> {
    if p.may(scope) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("this API key does not have the {} scope", scope.as_str())))
    }
}

/// An authenticated account (for routes that need one).
#[derive(Debug)]
pub struct Authenticated(pub Principal);

/// The request's one `Authorization` header: two or more are refused (a proxy or client that
/// adds its own must not have it silently ignored, nor pick which one counts).
fn authorization(parts: &Parts) -> Result<Option<&axum::http::HeaderValue>, ()> {
    let mut all = parts.headers.get_all(AUTHORIZATION).iter();
    match (all.next(), all.next()) {
        (first, None) => Ok(first),
        _ => Err(()),
    }
}

fn basic_credentials(parts: &Parts) -> Result<Option<(String, Zeroizing<String>)>, ApiError> {
    let Some(value) = authorization(parts).map_err(|()| ApiError::Unauthorized)? else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ApiError::Unauthorized)?;
    let (scheme, encoded) = text.trim().split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::Unauthorized);
    }
    let decoded =
        Zeroizing::new(BASE64.decode(encoded.trim().as_bytes()).map_err(|_| ApiError::Unauthorized)?);
    let text = std::str::from_utf8(&decoded).map_err(|_| ApiError::Unauthorized)?;
    let (user, key) = text.split_once(':').ok_or(ApiError::Unauthorized)?;
    if user.is_empty() || key.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    Ok(Some((user.to_owned(), Zeroizing::new(key.to_owned()))))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match basic_credentials(parts)? {
            None => Ok(Caller::Anonymous),
            Some((user, key)) => Ok(Caller::Account(state.core.accounts.authenticate(&user, &key).await?)),
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Account(p) => Ok(Authenticated(p)),
            Caller::Anonymous => Err(ApiError::Unauthorized),
        }
    }
}

/// API v2's caller: `Authorization: Bearer <API key>`, or anonymous without the header. A header
/// that is present but wrong is rejected.
#[derive(Debug)]
pub struct Bearer(pub Option<Principal>);

/// An API v2 route that needs an account.
#[derive(Debug)]
pub struct BearerRequired(pub Principal);

fn bearer_key(parts: &Parts) -> Result<Option<Zeroizing<String>>, V2Error> {
    let unauthorized = || V2Error::from(ApiError::Unauthorized);
    let Some(value) = authorization(parts).map_err(|()| unauthorized())? else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| unauthorized())?;
    let (scheme, key) = text.trim().split_once(' ').ok_or_else(unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || key.trim().is_empty() {
        return Err(unauthorized());
    }
    Ok(Some(Zeroizing::new(key.trim().to_owned())))
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer_key(parts)? {
            None => Ok(Bearer(None)),
            Some(key) => Ok(Bearer(Some(state.core.accounts.authenticate_key(None, &key).await?))),
        }
    }
}

impl FromRequestParts<AppState> for BearerRequired {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Bearer::from_request_parts(parts, state).await? {
            Bearer(Some(p)) => Ok(BearerRequired(p)),
            Bearer(None) => Err(ApiError::Unauthorized.into()),
        }
    }
}

/// The connection's peer address, when the server provides it (`ConnectInfo`, which
/// `Application::run_until` serves with). Never a forwarded header: those are the client's to
/// write.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The client as `audit::with_client` worked it out (through trusted proxies), else the
        // socket's peer.
        let client = parts.extensions.get::<crate::audit::ClientIp>().copied();
        let peer =
            parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(PeerAddr(client.map_or(peer, |c| c.0)))
    }
}

impl PeerAddr {
    /// Whether the admin pages and API answer this peer (`admin.allow_cidrs`). Without a known
    /// address only an empty list (anywhere) lets it through.
    pub fn may_administer(&self, state: &AppState) -> bool {
        let networks = &state.admin_networks;
        let allowed = networks.allows_anywhere() || self.0.is_some_and(|ip| networks.permits(ip));
        if !allowed {
            state.core.audit().event("admin.denied", "denied:network", None, "anon");
        }
        allowed
    }
}
