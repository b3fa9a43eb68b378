//! API v2's key management: an account's API keys, created (with scopes and an expiry), listed
//! and revoked with an API key of the same account.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use once_api::v2;
use once_store::{ApiKeyRecord, Scope, Scopes};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::BearerRequired;
use crate::error::{ApiError, V2Error, V2Json};
use crate::state::AppState;

pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router.routes(routes!(create_key, list_keys)).routes(routes!(revoke_key))
}

fn wire_scope(s: Scope) -> v2::Scope {
    match s {
        Scope::Share => v2::Scope::Share,
        Scope::Read => v2::Scope::Read,
        Scope::Burn => v2::Scope::Burn,
        Scope::Admin => v2::Scope::Admin,
    }
}

fn store_scope(s: v2::Scope) -> Scope {
    match s {
        v2::Scope::Share => Scope::Share,
        v2::Scope::Read => Scope::Read,
        v2::Scope::Burn => Scope::Burn,
        v2::Scope::Admin => Scope::Admin,
    }
}

fn info(k: &ApiKeyRecord) -> v2::ApiKeyInfo {
    v2::ApiKeyInfo {
        id: data_encoding::HEXLOWER.encode(&k.hash),
        name: k.name.clone(),
        scopes: k.scopes.iter().map(wire_scope).collect(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
    }
}

/// Create an API key
///
/// A new key for the caller's account, with a name, scopes (among the calling key's own; `admin`
/// for admins only) and an optional lifetime. The key is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v2/keys",
    tag = "keys",
    request_body = v2::CreateApiKey,
    responses(
        (status = 201, description = "Created; the key is shown this once", body = v2::CreatedApiKey),
        (status = 400, description = "Invalid name, scopes or lifetime", body = v2::Error),
        (status = 401, description = "No or wrong API key", body = v2::Error),
        (status = 415, description = "Not JSON", body = v2::Error),
    ),
    security(("api_key" = []))
)]
async fn create_key(
    State(state): State<AppState>,
    BearerRequired(who): BearerRequired,
    V2Json(body): V2Json<v2::CreateApiKey>,
) -> Result<(StatusCode, Json<v2::CreatedApiKey>), V2Error> {
    let scopes = Scopes::of(&body.scopes.iter().map(|s| store_scope(*s)).collect::<Vec<_>>());
    let expires_at = match body.expires_in {
        None => None,
        Some(n) if n > 0 => Some(state.core.accounts.now().saturating_add(n)),
        Some(_) => return Err(V2Error::bad_request("expires_in must be a positive number of seconds")),
    };
    let new = state.core.accounts.create_api_key(&who, &body.name, scopes, expires_at).await?;
    let created = v2::CreatedApiKey { key: new.key.expose().to_owned(), info: info(&new.record) };
    Ok((StatusCode::CREATED, Json(created)))
}

/// List your API keys
///
/// The caller's account's keys, newest first, revoked and expired ones included. Never the keys
/// themselves.
#[utoipa::path(
    get,
    path = "/api/v2/keys",
    tag = "keys",
    responses(
        (status = 200, description = "The keys", body = v2::ApiKeyList),
        (status = 401, description = "No or wrong API key", body = v2::Error),
    ),
    security(("api_key" = []))
)]
async fn list_keys(
    State(state): State<AppState>,
    BearerRequired(who): BearerRequired,
) -> Result<Json<v2::ApiKeyList>, V2Error> {
    let keys = state.core.accounts.api_keys_of(&who.account.id).await?;
    Ok(Json(v2::ApiKeyList { items: keys.iter().map(info).collect() }))
}

/// Revoke an API key
///
/// Revokes one of the caller's account's keys for good (the calling key too, if named). A key
/// may revoke only keys whose scopes it has itself.
#[utoipa::path(
    delete,
    path = "/api/v2/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's `id` from the list")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No or wrong API key", body = v2::Error),
        (status = 403, description = "The key to revoke has scopes the calling key lacks", body = v2::Error),
        (status = 404, description = "No such live key on this account", body = v2::Error),
    ),
    security(("api_key" = []))
)]
async fn revoke_key(
    State(state): State<AppState>,
    BearerRequired(who): BearerRequired,
    Path(id): Path<String>,
) -> Result<StatusCode, V2Error> {
    let not_found = || V2Error::not_found("no such live API key on this account");
    let hash: [u8; 32] = data_encoding::HEXLOWER_PERMISSIVE
        .decode(id.trim().as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(not_found)?;
    let keys = state.core.accounts.api_keys_of(&who.account.id).await?;
    let target = keys.iter().find(|k| k.hash == hash && k.revoked_at.is_none()).ok_or_else(not_found)?;
    if target.scopes.iter().any(|s| !who.may(s)) {
        return Err(ApiError::Forbidden("this API key can't revoke a key with scopes it lacks".into()).into());
    }
    if state.core.accounts.revoke_api_key(&who.account.id, &hash).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
