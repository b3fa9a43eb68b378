//! API v2: Once's own JSON API (the web UI's script and the CLI use it). Real status codes, the
//! error envelope `{"error": {"code", "message"}}`, and an OpenAPI 3 document generated from
//! these handlers' annotations and the `once_api::v2` types, served at `/api/v2/openapi.json`.

use axum::extract::{Query, State};

use crate::params::LinkKey;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json, Router};
use data_encoding::BASE64URL_NOPAD;
use once_api::v2::{self, Mode};
use once_core::{
    AccessPolicy, CoreError, CreateSecret, EnvelopeKind, Principal, ReceiptView, RecipientRule, SecretState,
    TtlRequest, Unlock, ViewLimit, Visitor,
};
use serde::Deserialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use crate::audit::ClientIp;
use crate::auth::{Bearer, BearerRequired, require};
use crate::error::{V2Error, V2Json};
use crate::state::AppState;
use once_store::Scope;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Once API v2",
        description = "Once's own API: one-time secrets in server-side or zero-knowledge mode. \
                       Times are Unix seconds; byte strings are base64url without padding.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags((name = "secrets", description = "Create, preview and reveal secrets"),
         (name = "receipts", description = "The sender's side: state, burn, recent"),
         (name = "keys", description = "Your API keys: create with scopes and expiry, list, revoke"),
         (name = "admin", description = "Instance administration: usage statistics (the admin scope)"))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key (`once user add` prints one)"))
                    .build(),
            ),
        );
    }
}

/// The v2 routes and their OpenAPI document (which also serves itself), with this instance's
/// limits written in.
pub fn router(policy: &once_core::Policy) -> Router<AppState> {
    let (router, api) = api_router(policy).split_for_parts();
    // The document is plain data (string keys, no maps keyed by structs): it always serializes.
    let mut doc = serde_json::to_value(&api).unwrap_or_default();
    tighten(&mut doc, policy);
    let doc = std::sync::Arc::new(doc);
    router.route(
        "/api/v2/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

/// What the derived schemas can't say: the instance's TTL and view bounds, which fields go
/// together, and the shapes of keys, proofs and cursors. A request the document allows is then
/// one the handlers take (as far as JSON Schema can tell; network lists, time zones and
/// ciphertexts are still checked only by the handlers).
fn tighten(doc: &mut serde_json::Value, policy: &once_core::Policy) {
    use serde_json::json;
    // Canonical unpadded base64url: the bits past the last whole byte are zero.
    let b64url_32 = json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"});
    let schemas = &mut doc["components"]["schemas"];
    if let Some(create) = schemas.get_mut("CreateSecret") {
        let props = &mut create["properties"];
        props["ttl"]["minimum"] = json!(policy.min_ttl);
        props["ttl"]["maximum"] = json!(policy.max_ttl);
        props["max_views"]["maximum"] = json!(policy.max_views);
        props["secret"]["pattern"] = json!("\\S");
        props["ciphertext"]["minLength"] = json!(1);
        props["ciphertext"]["pattern"] =
            json!("^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$");
        props["key_proof"] = b64url_32.clone();
        create["oneOf"] = json!([
            {"required": ["secret"], "not": {"anyOf": [{"required": ["ciphertext"]}, {"required": ["key_proof"]}]}},
            {"required": ["ciphertext", "key_proof"], "not": {"anyOf": [{"required": ["secret"]}, {"required": ["passphrase"]}]}}
        ]);
    }
    if let Some(reveal) = schemas.get_mut("Reveal") {
        reveal["properties"]["key_proof"] = b64url_32;
        reveal["not"] = json!({"required": ["passphrase", "key_proof"]});
    }
    if let Some(key) = schemas.get_mut("CreateApiKey") {
        let props = &mut key["properties"];
        props["name"]["minLength"] = json!(1);
        props["name"]["maxLength"] = json!(64);
        // Not only spaces, and no control characters (the handler trims, then checks).
        props["name"]["pattern"] =
            json!("^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$");
        props["scopes"]["minItems"] = json!(1);
    }
    if let Some(params) = doc["paths"]["/api/v2/receipts"]["get"]["parameters"].as_array_mut() {
        for p in params {
            match p["name"].as_str() {
                Some("limit") => {
                    p["schema"]["minimum"] = json!(1);
                    p["schema"]["maximum"] = json!(100);
                }
                Some("cursor") => p["schema"]["pattern"] = json!("^[0-9]{1,18}\\.[0-9a-f]{64}$"),
                _ => {}
            }
        }
    }
}

fn api_router(policy: &once_core::Policy) -> OpenApiRouter<AppState> {
    // A file upload streams past `http.max_body_bytes`, up to the file limit (plus room for the
    // options part and the multipart framing).
    let (schemas, paths, upload) = routes!(super::files::upload);
    let file_cap = usize::try_from(once_core::sealed_allowance(policy.max_file_bytes))
        .unwrap_or(usize::MAX)
        .saturating_add(1 << 20);
    let upload = upload.layer(axum::extract::DefaultBodyLimit::max(file_cap));
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create))
        .routes((schemas, paths, upload))
        .routes(routes!(preview))
        .routes(routes!(reveal))
        .routes(routes!(receipt))
        .routes(routes!(burn))
        .routes(routes!(recent));
    super::admin::routes(super::keys::routes(router))
}

/// Who asks, for a secret's conditions: the client's address, and the API key's account or
/// else the browser's session (the web UI's script reveals zero-knowledge secrets through this
/// API).
async fn visitor(
    state: &AppState,
    key: Option<&Principal>,
    headers: &axum::http::HeaderMap,
    ip: ClientIp,
) -> Visitor {
    let account = match key {
        Some(p) => Some(p.viewer()),
        None => crate::pages::web_viewer(state, headers).await,
    };
    Visitor { account, ip: ip.0, takes_files: false }
}

/// An access policy from the wire form.
pub(crate) fn access_policy(a: v2::Access) -> Result<Option<AccessPolicy>, CoreError> {
    let hours = a.hours.as_ref().map(|h| (h.time_zone.as_str(), h.weekly.as_slice()));
    AccessPolicy::new(&a.networks, &a.countries, a.not_before, hours)
}

fn mode(kind: EnvelopeKind) -> Mode {
    match kind {
        EnvelopeKind::ZeroKnowledge { .. } => Mode::ZeroKnowledge,
        EnvelopeKind::Plain | EnvelopeKind::Passphrase => Mode::Server,
    }
}

fn key_proof(b64: &str) -> Result<Zeroizing<[u8; 32]>, V2Error> {
    let bad = || V2Error::bad_request("key_proof must be 32 bytes in base64url without padding");
    let bytes = Zeroizing::new(BASE64URL_NOPAD.decode(b64.trim().as_bytes()).map_err(|_| bad())?);
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(bad());
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Create a secret
///
/// Send `secret` for server-side mode, or `ciphertext` and `key_proof` for zero-knowledge mode
/// (the client encrypted it; the key stays in the link's fragment).
#[utoipa::path(
    post,
    path = "/api/v2/secrets",
    tag = "secrets",
    request_body = v2::CreateSecret,
    responses(
        (status = 201, description = "Created", body = v2::Created),
        (status = 400, description = "Invalid request", body = v2::Error),
        (status = 401, description = "Wrong API key", body = v2::Error),
        (status = 403, description = "The API key lacks the share scope", body = v2::Error),
        (status = 413, description = "Secret too large", body = v2::Error),
        (status = 415, description = "Not JSON", body = v2::Error),
        (status = 503, description = "Storage unavailable", body = v2::Error),
    ),
    security((), ("api_key" = []))
)]
async fn create(
    State(state): State<AppState>,
    Bearer(owner): Bearer,
    headers: axum::http::HeaderMap,
    V2Json(body): V2Json<v2::CreateSecret>,
) -> Result<(StatusCode, Json<v2::Created>), V2Error> {
    if let Some(p) = &owner {
        require(p, Scope::Share)?;
    }
    // Without a key, the browser's session (if any) owns it, so the web UI's zero-knowledge
    // secrets land in the account's list too. The cookie is SameSite=Strict and this route takes
    // only `application/json`, so another site can't make a signed-in browser post here.
    let owner = match owner {
        Some(p) => Some(p),
        None => crate::pages::web_principal(&state, &headers).await,
    };
    let (req, zero_knowledge) = create_request(&state, owner, body, false)?;
    let created = state.core.secrets.create(req).await?;
    Ok((StatusCode::CREATED, Json(created_body(&state, &created, zero_knowledge))))
}

/// The service's create request for a v2 create body, and whether it is zero-knowledge. For a
/// file (`file`), the body has only the key proof and options: the content comes apart.
pub(crate) fn create_request(
    state: &AppState,
    owner: Option<Principal>,
    body: v2::CreateSecret,
    file: bool,
) -> Result<(CreateSecret, bool), V2Error> {
    let policy = state.core.secrets.policy();
    let ttl = match body.ttl {
        None => TtlRequest::Default,
        Some(t) if (policy.min_ttl..=policy.max_ttl).contains(&t) => TtlRequest::Seconds(t),
        Some(_) => {
            return Err(V2Error::bad_request(format!(
                "ttl must be between {} and {} seconds",
                policy.min_ttl, policy.max_ttl
            )));
        }
    };
    let views = ViewLimit::new(body.max_views.unwrap_or(1), policy).map_err(V2Error::bad_request)?;
    let (plaintext, key_proof) = match (body.secret, body.ciphertext, body.key_proof) {
        (None, None, Some(proof)) if file => (Zeroizing::new(Vec::new()), Some(key_proof(&proof)?)),
        (_, _, _) if file => {
            return Err(V2Error::bad_request(
                "a file secret's options have its key_proof, and neither secret nor ciphertext",
            ));
        }
        (Some(text), None, None) => {
            if text.trim().is_empty() {
                return Err(V2Error::bad_request("secret is empty"));
            }
            (Zeroizing::new(text.into_bytes()), None)
        }
        (None, Some(ct), Some(proof)) => {
            let blob = BASE64URL_NOPAD
                .decode(ct.trim().as_bytes())
                .map_err(|_| V2Error::bad_request("ciphertext must be base64url without padding"))?;
            (Zeroizing::new(blob), Some(key_proof(&proof)?))
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(V2Error::bad_request("zero-knowledge mode needs both ciphertext and key_proof"));
        }
        (None, None, None) => return Err(V2Error::bad_request("send secret (or ciphertext and key_proof)")),
        (Some(_), _, _) => {
            return Err(V2Error::bad_request("send either secret or ciphertext and key_proof, not both"));
        }
    };
    let passphrase = body.passphrase.filter(|p| !p.is_empty()).map(Zeroizing::new);
    let zero_knowledge = key_proof.is_some();
    let only_for = match body.only_for {
        Some(o) => Some(RecipientRule::new(o.email.as_deref(), o.second_factor).map_err(V2Error::from)?),
        None => None,
    };
    let access = match body.access {
        Some(a) => access_policy(a).map_err(V2Error::from)?,
        None => None,
    };
    let req = CreateSecret {
        plaintext,
        passphrase,
        key_proof,
        ttl,
        views,
        recipient: None,
        share_domain: String::new(),
        owner,
        only_for,
        access,
    };
    Ok((req, zero_knowledge))
}

/// The answer to a create.
pub(crate) fn created_body(
    state: &AppState,
    created: &once_core::Created,
    zero_knowledge: bool,
) -> v2::Created {
    let r = &created.receipt;
    let secret_key = created.secret_key.expose().to_owned();
    let receipt_key = created.receipt_key.expose().to_owned();
    v2::Created {
        secret_url: format!("{}/secret/{secret_key}", state.base_url),
        receipt_url: format!("{}/receipt/{receipt_key}", state.base_url),
        secret_key,
        receipt_key,
        mode: if zero_knowledge { Mode::ZeroKnowledge } else { Mode::Server },
        passphrase_required: r.has_passphrase,
        max_views: r.max_views,
        created_at: r.created_at,
        expires_at: r.secret_expires_at,
        receipt_expires_at: r.expires_at,
    }
}

/// Preview a secret
///
/// What the link leads to: whether a passphrase is needed and which mode it was made in.
/// Consumes nothing. Unknown, expired and already revealed secrets are all 404.
#[utoipa::path(
    get,
    path = "/api/v2/secrets/{key}",
    tag = "secrets",
    params(("key" = String, Path, description = "The secret key from the link")),
    responses(
        (status = 200, description = "The secret can be revealed", body = v2::Preview),
        (status = 401, description = "Wrong API key", body = v2::Error),
        (status = 403, description = "Only for a signed-in recipient, and the caller is not them; or outside the secret's access policy", body = v2::Error),
        (status = 404, description = "No such secret (any more)", body = v2::Error),
    ),
    security((), ("api_key" = []))
)]
async fn preview(
    State(state): State<AppState>,
    Bearer(who): Bearer,
    headers: axum::http::HeaderMap,
    Extension(ip): Extension<ClientIp>,
    LinkKey(key): LinkKey,
) -> Result<Json<v2::Preview>, V2Error> {
    let visitor = visitor(&state, who.as_ref(), &headers, ip).await;
    let p = state.core.secrets.preview(&key, &visitor).await?;
    let passphrase_required = match p.kind {
        EnvelopeKind::Plain => false,
        EnvelopeKind::Passphrase => true,
        EnvelopeKind::ZeroKnowledge { client_passphrase } => client_passphrase,
    };
    Ok(Json(v2::Preview {
        mode: mode(p.kind),
        passphrase_required,
        views_left: p.views_left,
        expires_at: p.expires_at,
        file: p.file.map(|f| v2::FileSummary { size: f.size }),
    }))
}

/// Reveal a secret
///
/// Consumes one view. Server-side mode: send the `passphrase` if it has one; the answer has
/// `value`. Zero-knowledge mode: send the `key_proof`; the answer has `ciphertext`. A wrong
/// passphrase or key proof consumes nothing (but enough of them burn the secret) and is 404
/// like an unknown secret.
#[utoipa::path(
    post,
    path = "/api/v2/secrets/{key}/reveal",
    tag = "secrets",
    params(("key" = String, Path, description = "The secret key from the link")),
    request_body(content = Option<v2::Reveal>, description = "May be empty for a secret without passphrase"),
    responses(
        (status = 200, description = "The secret (now consumed); for a file secret asked for with `Accept: application/octet-stream`, the encrypted file as a stream", body = v2::Revealed),
        (status = 400, description = "Malformed body or key proof; both a passphrase and a key proof", body = v2::Error),
        (status = 401, description = "Wrong API key", body = v2::Error),
        (status = 403, description = "Only for a signed-in recipient, and the caller is not them; or outside the secret's access policy (nothing consumed)", body = v2::Error),
        (status = 404, description = "Unknown, gone, or wrong passphrase / key proof", body = v2::Error),
        (status = 415, description = "A body that is not JSON", body = v2::Error),
    ),
    security((), ("api_key" = []))
)]
async fn reveal(
    State(state): State<AppState>,
    Bearer(who): Bearer,
    headers: axum::http::HeaderMap,
    Extension(ip): Extension<ClientIp>,
    LinkKey(key): LinkKey,
    body: Option<V2Json<Option<v2::Reveal>>>,
) -> Result<axum::response::Response, V2Error> {
    // No body, an empty one and JSON `null` all mean "nothing to present".
    let body = body.and_then(|V2Json(b)| b).unwrap_or_default();
    let unlock = match (body.passphrase.filter(|p| !p.is_empty()), body.key_proof) {
        (None, None) => Unlock::Nothing,
        (Some(p), None) => Unlock::Passphrase(Zeroizing::new(p)),
        (None, Some(k)) => Unlock::KeyProof(key_proof(&k)?),
        (Some(_), Some(_)) => return Err(V2Error::bad_request("send either passphrase or key_proof")),
    };
    let mut visitor = visitor(&state, who.as_ref(), &headers, ip).await;
    visitor.takes_files = accepts_octet_stream(&headers);
    let r = state.core.secrets.reveal_with(&key, unlock, &visitor).await?;
    if let Some(file) = r.file {
        return Ok(super::files::download(&state, r, file));
    }
    let mode = mode(r.kind);
    let (value, ciphertext) = match mode {
        // Text secrets were stored from UTF-8 strings; anything else is shown lossily.
        Mode::Server => (Some(String::from_utf8_lossy(&r.plaintext).into_owned()), None),
        Mode::ZeroKnowledge => (None, Some(BASE64URL_NOPAD.encode(&r.plaintext))),
    };
    Ok(Json(v2::Revealed { mode, value, ciphertext, views_left: r.views_left }).into_response())
}

/// The request's `Accept` names `application/octet-stream` (a client that takes a file).
fn accepts_octet_stream(headers: &axum::http::HeaderMap) -> bool {
    headers.get_all(axum::http::header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|t| {
            t.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/octet-stream")
        })
    })
}

pub(crate) fn receipt_body(state: &AppState, v: &ReceiptView) -> v2::Receipt {
    let receipt_key = v.receipt_key.as_ref().map(|k| k.expose().to_owned()).unwrap_or_default();
    v2::Receipt {
        receipt_url: format!("{}/receipt/{receipt_key}", state.base_url),
        receipt_key,
        state: match v.state {
            SecretState::New => v2::State::New,
            SecretState::Viewed => v2::State::Viewed,
            SecretState::Received => v2::State::Received,
            SecretState::Burned => v2::State::Burned,
            SecretState::Expired => v2::State::Expired,
        },
        burn_reason: v.burn_reason.map(|b| b.as_str().to_owned()),
        passphrase_required: v.has_passphrase,
        max_views: v.max_views,
        views: v.views,
        views_left: v.views_left(),
        failures: v.failures,
        created_at: v.created_at,
        updated_at: v.updated_at,
        received_at: v.received_at,
        secret_expires_at: v.secret_expires_at,
        expires_at: v.expires_at,
        view_log: v.view_log.iter().map(|n| v2::ViewEvent { at: n.at, network: n.client.clone() }).collect(),
    }
}

/// Read a receipt
///
/// The sender's view of a secret: its state, views and times. Never the secret or its link.
#[utoipa::path(
    get,
    path = "/api/v2/receipts/{key}",
    tag = "receipts",
    params(("key" = String, Path, description = "The receipt key from the receipt link")),
    responses(
        (status = 200, description = "The receipt", body = v2::Receipt),
        (status = 401, description = "Wrong API key", body = v2::Error),
        (status = 403, description = "The API key lacks the read scope", body = v2::Error),
        (status = 404, description = "No such receipt", body = v2::Error),
    ),
    security((), ("api_key" = []))
)]
async fn receipt(
    State(state): State<AppState>,
    Bearer(who): Bearer,
    LinkKey(key): LinkKey,
) -> Result<Json<v2::Receipt>, V2Error> {
    if let Some(p) = &who {
        require(p, Scope::Read)?;
    }
    let view = state.core.secrets.receipt(&key, false).await?;
    state.metrics.receipt_viewed();
    Ok(Json(receipt_body(&state, &view)))
}

/// Burn a secret
///
/// Destroys the secret now, so its link reveals nothing. 409 when it is already revealed,
/// burned or expired.
#[utoipa::path(
    post,
    path = "/api/v2/receipts/{key}/burn",
    tag = "receipts",
    params(("key" = String, Path, description = "The receipt key from the receipt link")),
    responses(
        (status = 200, description = "Burned; the receipt as it is now", body = v2::Receipt),
        (status = 401, description = "Wrong API key", body = v2::Error),
        (status = 403, description = "The API key lacks the burn scope", body = v2::Error),
        (status = 404, description = "No such receipt", body = v2::Error),
        (status = 409, description = "Already revealed, burned or expired", body = v2::Error),
    ),
    security((), ("api_key" = []))
)]
async fn burn(
    State(state): State<AppState>,
    Bearer(who): Bearer,
    LinkKey(key): LinkKey,
) -> Result<Json<v2::Receipt>, V2Error> {
    if let Some(p) = &who {
        require(p, Scope::Burn)?;
    }
    let (view, burned_now) = state.core.secrets.burn(&key).await?;
    if !burned_now {
        return Err(V2Error::conflict(format!(
            "the secret can no longer be burned: it is {}",
            view.state.as_str()
        )));
    }
    Ok(Json(receipt_body(&state, &view)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RecentQuery {
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
    /// Receipts per page (1–100, default 20).
    limit: Option<u32>,
}

/// List your recent secrets
///
/// The receipts of the authenticated account's secrets, newest first, paginated by cursor.
#[utoipa::path(
    get,
    path = "/api/v2/receipts",
    tag = "receipts",
    params(RecentQuery),
    responses(
        (status = 200, description = "One page, newest first", body = v2::ReceiptPage),
        (status = 400, description = "Bad cursor or limit", body = v2::Error),
        (status = 401, description = "No or wrong API key", body = v2::Error),
        (status = 403, description = "The API key lacks the read scope", body = v2::Error),
    ),
    security(("api_key" = []))
)]
async fn recent(
    State(state): State<AppState>,
    BearerRequired(who): BearerRequired,
    query: Result<Query<RecentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<v2::ReceiptPage>, V2Error> {
    require(&who, Scope::Read)?;
    let Query(q) = query.map_err(|_| V2Error::bad_request("limit must be a whole number from 1 to 100"))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(V2Error::bad_request("limit must be a whole number from 1 to 100"));
    }
    let page = state.core.secrets.recent(&who, q.cursor.as_deref(), limit).await?;
    let items = page.items.iter().map(|v| receipt_body(&state, v)).collect();
    Ok(Json(v2::ReceiptPage { items, next: page.next }))
}
