//! API v1, wire-compatible with Onetime Secret.

use axum::extract::State;

use crate::params::LinkKey;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use once_api::v1::{Burned, Metadata, Secret, Status};
use once_core::{
    CoreError, CreateSecret, Principal, ReceiptView, SecretState, TtlRequest, Unlock, ViewLimit, Visitor,
};
use zeroize::Zeroizing;

use crate::audit::ClientIp;
use crate::auth::{Authenticated, Caller};
use crate::error::ApiError;
use crate::params::V1Params;
use crate::state::AppState;
use once_store::Scope;

pub fn router() -> Router<AppState> {
    let mut r = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/authcheck", get(authcheck).post(authcheck))
        .route("/api/v1/share", post(share))
        .route("/api/v1/create", post(share))
        .route("/api/v1/generate", post(generate))
        .route("/api/v1/secret/{key}", post(reveal));
    for prefix in ["receipt", "private", "metadata"] {
        r = r
            .route(&format!("/api/v1/{prefix}/recent"), get(recent))
            .route(&format!("/api/v1/{prefix}/{{key}}"), get(receipt).post(receipt))
            .route(&format!("/api/v1/{prefix}/{{key}}/burn"), post(burn));
    }
    r
}

async fn status() -> Json<Status> {
    Json(Status { status: "nominal".into(), locale: "en".into() })
}

/// As OTS: the status body when the credentials are good, "Not authorized" otherwise.
async fn authcheck(Authenticated(_): Authenticated) -> Json<Status> {
    status().await
}

/// `fo*****@e*****.com`, as OTS shows recipients.
fn obscure_email(email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return "*****".into();
    };
    let head: String = local.chars().take(2).collect();
    let first: String = domain.chars().take(1).collect();
    let tld = domain.rfind('.').map(|i| &domain[i..]).unwrap_or("");
    format!("{head}*****@{first}*****{tld}")
}

fn metadata(state: &AppState, v: &ReceiptView) -> Metadata {
    let received = v.state == SecretState::Received;
    Metadata {
        custid: v.owner.clone().unwrap_or_else(|| "anon".into()),
        metadata_key: v.receipt_key.as_ref().map(|k| k.expose().to_owned()).unwrap_or_default(),
        secret_key: if received { None } else { v.secret_key.as_ref().map(|k| k.expose().to_owned()) },
        ttl: v.secret_ttl(),
        metadata_ttl: v.receipt_ttl_left(),
        secret_ttl: (!received).then(|| v.secret_ttl_left()),
        state: v.state.as_str().into(),
        updated: v.updated_at,
        created: v.created_at,
        received: if received { v.received_at } else { None },
        recipient: v.recipient.iter().map(|r| obscure_email(r)).collect(),
        metadata_url: v.receipt_key.as_ref().map(|k| format!("{}/receipt/{}", state.base_url, k.expose())),
        share_domain: v.share_domain.clone(),
        passphrase_required: v.has_passphrase,
        value: None,
    }
}

/// Reads the options every create shares: ttl, passphrase, recipient, share_domain.
fn create_request(params: &mut V1Params, caller: &Caller) -> Result<CreateSecret, ApiError> {
    let ttl = TtlRequest::parse(params.get("ttl").unwrap_or("")).map_err(ApiError::BadRequest)?;
    let recipient = params.get("recipient").map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
    if let Some(r) = &recipient
        && (r.len() > 254 || !r.contains('@') || r.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(ApiError::BadRequest("recipient must be an e-mail address".into()));
    }
    let share_domain = params.get("share_domain").unwrap_or("").trim().to_ascii_lowercase();
    if share_domain.len() > 253
        || !share_domain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(ApiError::BadRequest("share_domain must be a host name".into()));
    }
    Ok(CreateSecret {
        plaintext: Zeroizing::new(Vec::new()),
        passphrase: params.take("passphrase"),
        key_proof: None,
        ttl,
        views: ViewLimit::ONCE,
        recipient,
        share_domain,
        only_for: None,
        access: None,
        owner: caller.principal().cloned(),
    })
}

async fn share(
    State(state): State<AppState>,
    caller: Caller,
    mut params: V1Params,
) -> Result<Json<Metadata>, ApiError> {
    caller.require(Scope::Share)?;
    let mut req = create_request(&mut params, &caller)?;
    let secret = params.take("secret").unwrap_or_default();
    if secret.trim().is_empty() {
        return Err(ApiError::BadRequest("You did not provide anything to share".into()));
    }
    req.plaintext = Zeroizing::new(secret.as_bytes().to_vec());
    drop(secret);
    let created = state.core.secrets.create(req).await?;
    Ok(Json(metadata(&state, &created.receipt)))
}

async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    mut params: V1Params,
) -> Result<Json<Metadata>, ApiError> {
    caller.require(Scope::Share)?;
    let req = create_request(&mut params, &caller)?;
    let length = match params.get("length").map(str::trim).filter(|l| !l.is_empty()) {
        None => 12,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::BadRequest("length must be a whole number between 8 and 256".into()))?,
    };
    let generated = state.core.secrets.generate(length, req).await?;
    let mut body = metadata(&state, &generated.created.receipt);
    body.value = Some(generated.value.as_str().to_owned());
    Ok(Json(body))
}

async fn reveal(
    State(state): State<AppState>,
    LinkKey(key): LinkKey,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    caller: Caller,
    mut params: V1Params,
) -> Result<Json<Secret>, ApiError> {
    let unlock = match params.take("passphrase").filter(|p| !p.is_empty()) {
        Some(p) => Unlock::Passphrase(p),
        None => Unlock::Nothing,
    };
    // A recipient-only secret opens for its recipient's API key here too.
    let visitor = Visitor { account: caller.principal().map(Principal::viewer), ip, takes_files: false };
    match state.core.secrets.reveal_with(&key, unlock, &visitor).await {
        Ok(r) => {
            // Text secrets were stored from UTF-8 form fields; anything else is shown lossily.
            let value = String::from_utf8_lossy(&r.plaintext).into_owned();
            Ok(Json(Secret {
                value,
                secret_key: r.secret_key.expose().to_owned(),
                share_domain: state.base_url.to_string(),
            }))
        }
        Err(e) => Err(ApiError::from_core(e, &echo_key(&key))),
    }
}

/// The key as echoed back in "Unknown secret": only if it looks like a key, so the response
/// never reflects arbitrary input.
fn echo_key(key: &str) -> String {
    if key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric()) {
        key.to_ascii_lowercase()
    } else {
        String::new()
    }
}

/// OTS answers an unknown receipt like an unknown secret, echoing the key from the path.
fn receipt_error(e: CoreError, key: &str) -> ApiError {
    ApiError::from_core(e, &echo_key(key))
}

async fn receipt(
    State(state): State<AppState>,
    LinkKey(key): LinkKey,
    caller: Caller,
) -> Result<Json<Metadata>, ApiError> {
    caller.require(Scope::Read)?;
    let view = state.core.secrets.receipt(&key, true).await.map_err(|e| receipt_error(e, &key))?;
    // The core has no audit event for a receipt shown, so it is counted here.
    state.metrics.receipt_viewed();
    Ok(Json(metadata(&state, &view)))
}

async fn burn(
    State(state): State<AppState>,
    LinkKey(key): LinkKey,
    caller: Caller,
    _params: V1Params,
) -> Result<Json<Burned>, ApiError> {
    caller.require(Scope::Burn)?;
    let (view, burned_now) = state.core.secrets.burn(&key).await.map_err(|e| receipt_error(e, &key))?;
    if !burned_now {
        return Err(receipt_error(CoreError::NotFound, &key));
    }
    // OTS sends the first characters of the secret key here; Once keeps no part of it in the clear.
    let secret_shortkey = String::new();
    Ok(Json(Burned { state: metadata(&state, &view), secret_shortkey }))
}

/// Header naming the cursor of the next (older) page of `recent`, when there is one.
const NEXT_CURSOR: &str = "x-once-next-cursor";

async fn recent(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    params: V1Params,
) -> Result<impl IntoResponse, ApiError> {
    crate::auth::require(&who, Scope::Read)?;
    let limit = match params.get("limit").map(str::trim).filter(|l| !l.is_empty()) {
        None => 20,
        Some(l) => {
            l.parse::<u32>().map_err(|_| ApiError::BadRequest("limit must be a whole number".into()))?
        }
    };
    let page = state.core.secrets.recent(&who, params.get("cursor"), limit).await?;
    let items: Vec<Metadata> = page
        .items
        .iter()
        .map(|v| {
            let mut m = metadata(&state, v);
            m.secret_key = None;
            m
        })
        .collect();
    let mut headers = HeaderMap::new();
    if let Some(next) = page.next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(NEXT_CURSOR, next);
    }
    Ok((headers, Json(items)))
}
