//! The signed-in pages that act for the account: the list of its recent secrets (newest first,
//! paginated by cursor, burn from the list), and its API keys (create with scopes and expiry, shown
//! once; revoke).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use once_core::{CoreError, Principal, SecretState, SignedInSession};
use once_store::{Role, Scope, Scopes};
use serde::Deserialize;

use super::account::{CsrfForm, require_session, signed_in_post, signed_out};
use super::{Chrome, CsrfToken, Loc, PlainForm, chrome, error_message, error_page, page};
use crate::params::LinkKey;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(dashboard))
        .route("/dashboard/burn/{key}", post(burn))
        .route("/account/keys", post(create_key))
        .route("/account/keys/{id}/revoke", post(revoke_key))
}

/// The signed-in account as an API caller (its vault opened with the session), or the response
/// that sends the browser to sign in again (sessions from before vaults had no copy).
async fn principal(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    headers: &HeaderMap,
) -> Result<Principal, Response> {
    let who = require_session(state, l, csrf, headers).await?;
    principal_of(state, headers, &who).await
}

async fn principal_of(
    state: &AppState,
    headers: &HeaderMap,
    who: &SignedInSession,
) -> Result<Principal, Response> {
    match who.principal() {
        Some(p) => Ok(p),
        None => {
            if let Some(t) = super::account::session_token(headers) {
                let _ = state.core.accounts.sign_out(&t).await;
            }
            Err(signed_out(state, "/signin"))
        }
    }
}

// ---------------------------------------------------------------- recent secrets

/// One row of the list.
struct Row {
    created: String,
    created_iso: String,
    state: &'static str,
    state_label: String,
    views: u32,
    max_views: u32,
    expires: String,
    /// The receipt's key, when this vault can open its link.
    receipt_key: Option<String>,
    burnable: bool,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    rows: Vec<Row>,
    next: Option<String>,
    first_page: bool,
}

#[derive(Deserialize, Default)]
struct PageQuery {
    cursor: Option<String>,
}

const PAGE_SIZE: u32 = 20;

async fn dashboard(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let who = match principal(&state, l, &csrf, &headers).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let cursor = query.ok().and_then(|Query(q)| q.cursor).filter(|c| !c.is_empty());
    let recent = match state.core.secrets.recent(&who, cursor.as_deref(), PAGE_SIZE).await {
        Ok(p) => p,
        Err(CoreError::Invalid(_)) => return Redirect::to("/dashboard").into_response(),
        Err(e) => return error_page(&state, l, &csrf, e),
    };
    let rows = recent
        .items
        .iter()
        .map(|v| {
            let s = v.state.as_str();
            Row {
                created: l.datetime(v.created_at),
                created_iso: l.iso(v.created_at),
                state: s,
                state_label: l.t(&format!("state-{s}")),
                views: v.views,
                max_views: v.max_views,
                expires: l.datetime(v.secret_expires_at),
                receipt_key: v.receipt_key.as_ref().map(|k| k.expose().to_owned()),
                burnable: matches!(v.state, SecretState::New | SecretState::Viewed),
            }
        })
        .collect();
    let p = DashboardPage {
        c: chrome(l, &csrf, "/dashboard".into(), l.t("dashboard-title")),
        rows,
        next: recent.next,
        first_page: cursor.is_none(),
    };
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

async fn burn(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    LinkKey(key): LinkKey,
    form: Result<Form<PlainForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let who = match signed_in_post(&state, l, &csrf, &headers, form, "/dashboard").await {
        Ok((_, who)) => who,
        Err(resp) => return resp,
    };
    if let Err(resp) = principal_of(&state, &headers, &who).await {
        return resp;
    }
    match state.core.secrets.burn(&key).await {
        // Burned now, or gone meanwhile: either way the list shows the state as it is.
        Ok(_) | Err(CoreError::NotFound) => Redirect::to("/dashboard").into_response(),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

// ---------------------------------------------------------------- API keys

/// The account page's list of API keys: (id, name, scopes, created, last used, expires, state).
pub(super) struct KeyRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created: String,
    pub last_used: Option<String>,
    pub expires: Option<String>,
    pub live: bool,
    pub status: String,
}

pub(super) async fn key_rows(
    state: &AppState,
    l: Loc,
    who: &once_store::Account,
) -> Result<Vec<KeyRow>, CoreError> {
    let now = state.core.accounts.now();
    Ok(state
        .core
        .accounts
        .api_keys_of(&who.id)
        .await?
        .iter()
        .map(|k| {
            let (live, status) = if k.revoked_at.is_some() {
                (false, l.t("key-revoked"))
            } else if !k.usable_at(now) {
                (false, l.t("key-expired"))
            } else {
                (true, l.t("key-active"))
            };
            KeyRow {
                id: data_encoding::HEXLOWER.encode(&k.hash),
                name: k.name.clone(),
                scopes: k.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(", "),
                created: l.datetime(k.created_at),
                last_used: k.last_used_at.map(|t| l.datetime(t)),
                expires: k.expires_at.map(|t| l.datetime(t)),
                live,
                status,
            }
        })
        .collect())
}

#[derive(Deserialize, Default)]
struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope_share: Option<String>,
    #[serde(default)]
    scope_read: Option<String>,
    #[serde(default)]
    scope_burn: Option<String>,
    #[serde(default)]
    scope_admin: Option<String>,
    /// Days until it expires; empty or 0 for never.
    #[serde(default)]
    expires_days: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

impl CsrfForm for KeyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Template)]
#[template(path = "new_key.html")]
struct NewKeyPage {
    c: Chrome,
    key: zeroize::Zeroizing<String>,
    name: String,
    scopes: String,
}

/// Expiry choices offered on the form, in days (0 = never).
pub(super) const KEY_EXPIRY_DAYS: [i64; 5] = [0, 7, 30, 90, 365];

async fn create_key(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<KeyForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let back = || "/account#api-keys".to_owned();
    let (form, who) = match signed_in_post(&state, l, &csrf, &headers, form, &back()).await {
        Ok((form, session)) => match principal_of(&state, &headers, &session).await {
            Ok(p) => (form, p),
            Err(resp) => return resp,
        },
        Err(resp) => return resp,
    };
    let picked: Vec<Scope> = [
        (Scope::Share, &form.scope_share),
        (Scope::Read, &form.scope_read),
        (Scope::Burn, &form.scope_burn),
        (Scope::Admin, &form.scope_admin),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(s, _)| s)
    .collect();
    let days = match form.expires_days.trim() {
        "" | "0" => None,
        d => match d.parse::<i64>() {
            Ok(n) if KEY_EXPIRY_DAYS.contains(&n) => Some(n),
            _ => return error_message(&state, l, &csrf, StatusCode::BAD_REQUEST, l.t("error-form"), back()),
        },
    };
    let expires_at = days.map(|d| state.core.accounts.now() + d * 86_400);
    let scopes = Scopes::of(&picked);
    if scopes.contains(Scope::Admin) && who.account.role != Role::Admin {
        return error_message(&state, l, &csrf, StatusCode::FORBIDDEN, l.t("key-admin-only"), back());
    }
    match state.core.accounts.create_api_key(&who, &form.name, scopes, expires_at).await {
        Ok(new) => {
            let p = NewKeyPage {
                c: chrome(l, &csrf, "/account".into(), l.t("key-new-title")),
                key: zeroize::Zeroizing::new(new.key.expose().to_owned()),
                name: new.record.name.clone(),
                scopes: new.record.scopes.iter().map(Scope::as_str).collect::<Vec<_>>().join(", "),
            };
            page(&state, StatusCode::OK, &csrf, l, p.render())
        }
        Err(CoreError::Invalid(_)) => {
            error_message(&state, l, &csrf, StatusCode::BAD_REQUEST, l.t("key-invalid"), back())
        }
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

async fn revoke_key(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<PlainForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let who = match signed_in_post(&state, l, &csrf, &headers, form, "/account").await {
        Ok((_, who)) => who,
        Err(resp) => return resp,
    };
    let Some(hash) =
        data_encoding::HEXLOWER.decode(id.as_bytes()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok())
    else {
        return Redirect::to("/account#api-keys").into_response();
    };
    match state.core.accounts.revoke_api_key(&who.account.id, &hash).await {
        Ok(_) => Redirect::to("/account#api-keys").into_response(),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}
