//! API v2's administration: the usage statistics, for an API key with the `admin` scope whose
//! account is an admin. (The admin web pages are `pages/admin.rs`.)

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use once_api::v2;
use once_core::Principal;
use once_store::{Scope, UsageState};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{BearerRequired, PeerAddr, require};
use crate::error::{ApiError, V2Error};
use crate::state::AppState;

pub fn routes(router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    router.routes(routes!(usage))
}

/// An admin API caller: from a network in `admin.allow_cidrs` (checked first, before the key is
/// even looked at), with an API key that has the `admin` scope. Whether its account is an admin
/// is the core's check, on every call.
struct AdminCaller(Principal);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Ok(peer) = PeerAddr::from_request_parts(parts, state).await;
        if !peer.may_administer(state) {
            return Err(ApiError::Forbidden("the admin API can't be reached from this network".into()).into());
        }
        let BearerRequired(who) = BearerRequired::from_request_parts(parts, state).await?;
        require(&who, Scope::Admin)?;
        Ok(AdminCaller(who))
    }
}

fn wire_state(s: UsageState) -> v2::State {
    match s {
        UsageState::New => v2::State::New,
        UsageState::Viewed => v2::State::Viewed,
        UsageState::Received => v2::State::Received,
        UsageState::Burned => v2::State::Burned,
        UsageState::Expired => v2::State::Expired,
    }
}

/// Usage statistics
///
/// What the store holds now: receipts (not purged yet) by UTC day of creation and state, with the
/// envelope bytes of their live secrets. Reads every receipt; meant for dashboards, not for
/// polling every second. Needs the `admin` scope, on an admin's key, from a network in
/// `admin.allow_cidrs` (when that is set).
#[utoipa::path(
    get,
    path = "/api/v2/admin/usage",
    tag = "admin",
    responses(
        (status = 200, description = "The statistics", body = v2::Usage),
        (status = 401, description = "No or wrong API key", body = v2::Error),
        (status = 403, description = "The key lacks the admin scope, its account is not an admin, or the network is not allowed", body = v2::Error),
        (status = 503, description = "Storage is unavailable", body = v2::Error),
    ),
    security(("api_key" = []))
)]
async fn usage(
    State(state): State<AppState>,
    AdminCaller(who): AdminCaller,
) -> Result<Json<v2::Usage>, V2Error> {
    let report = state.core.admin.usage(&who.account).await?;
    let rows = report
        .rows
        .iter()
        .map(|r| v2::UsageRow {
            day: r.day,
            state: wire_state(r.state),
            receipts: r.receipts,
            secret_bytes: r.secret_bytes,
        })
        .collect();
    Ok(Json(v2::Usage { now: report.now, rows }))
}
