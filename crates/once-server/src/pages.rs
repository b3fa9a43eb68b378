//! The web UI: server-rendered pages (askama templates compiled into the binary), in English and
//! Korean. Everything works without JavaScript (server-side mode); with it, `assets/js/app.js`
//! encrypts in the browser (zero-knowledge mode) and adds copy buttons.
//!
//! Page rules: a GET never consumes a secret (the preview only peeks); every form POST carries a
//! CSRF token; pages get a CSP with no inline script or style.

mod account;
mod admin;
mod csrf;
mod dashboard;
mod i18n;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use once_core::{
    AccessPolicy, CoreError, CreateSecret, EnvelopeKind, Preview, ReceiptView, RecipientRule, SecretState,
    TtlRequest, Unlock, ViewLimit, Visitor,
};
use serde::Deserialize;
use zeroize::Zeroizing;

pub(crate) use account::{web_principal, web_viewer};
pub use csrf::{CSRF_COOKIE, CsrfToken};
pub use i18n::{LANG_COOKIE, Lang, Loc};

use crate::audit::ClientIp;
use crate::params::LinkKey;
use crate::state::AppState;

/// Pages may load our own script, styles and images, and post forms only to us.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                        connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home).post(create))
        .route("/secret/{key}", get(preview).post(reveal))
        .route("/receipt/{key}", get(receipt))
        .route("/private/{key}", get(receipt))
        .route("/receipt/{key}/burn", axum::routing::post(burn))
        .route("/about", get(about))
        .route("/combine", get(combine))
        .route("/lang/{code}", get(switch_language))
        .merge(account::router())
        .merge(admin::router())
        .merge(dashboard::router())
}

/// What every page's frame needs.
pub struct Chrome {
    pub l: Loc,
    pub csrf: String,
    /// This page's path, for the language switcher to come back to.
    pub path: String,
    pub title: String,
}

impl Chrome {
    pub fn langs(&self) -> Vec<(&'static str, &'static str, bool)> {
        Lang::ALL.iter().map(|l| (l.code(), l.native_name(), *l == self.l.lang)).collect()
    }
}

/// Renders a page with the page headers (and the CSRF cookie when it is new).
pub(crate) fn page(
    state: &AppState,
    status: StatusCode,
    csrf: &CsrfToken,
    l: Loc,
    html: Result<String, askama::Error>,
) -> Response {
    let body = match html {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response();
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(l.lang.code()));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Language, Cookie"));
    if let Some(c) = csrf.set_cookie(state.base_url.starts_with("https://"))
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        headers.insert(header::SET_COOKIE, v);
    }
    (status, headers, body).into_response()
}

pub(crate) fn chrome(l: Loc, csrf: &CsrfToken, path: String, title: String) -> Chrome {
    Chrome { l, csrf: csrf.value.clone(), path, title }
}

// ---------------------------------------------------------------- home / create

/// Expiry presets offered on the create form, in seconds.
const TTL_PRESETS: [i64; 10] =
    [300, 1800, 3600, 4 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400];

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    /// (seconds, label, selected)
    ttls: Vec<(i64, String, bool)>,
    custom_selected: bool,
    custom_value: String,
    custom_unit: String,
    max_views: u32,
    views: u32,
    error: Option<String>,
    /// The secret as typed, kept when the form comes back with an error.
    secret: Zeroizing<String>,
    only_signed_in: bool,
    only_email: String,
    only_2fa: bool,
    /// Country lists can be offered (the server has a GeoIP database).
    has_geoip: bool,
    access_open: bool,
    access_networks: String,
    access_countries: String,
    access_not_before: String,
    access_hours: String,
    access_tz: String,
    /// No time zone was typed: the page's script may put the browser's own.
    access_tz_default: bool,
    /// The largest file the page's script may upload (bytes of the encrypted file); 0: file
    /// secrets are off, and the page offers none.
    max_file_bytes: u64,
    /// "Up to N" under the file picker.
    file_help: String,
    /// The message for a file over the limit, with `{size}` for the script to fill in.
    file_too_large: String,
}

#[derive(Deserialize, Default)]
struct CreateForm {
    #[serde(default)]
    secret: Zeroizing<String>,
    #[serde(default)]
    passphrase: Zeroizing<String>,
    #[serde(default)]
    ttl: String,
    #[serde(default)]
    ttl_custom: String,
    #[serde(default)]
    ttl_unit: String,
    #[serde(default)]
    views: String,
    /// "on": only a signed-in recipient may reveal it.
    #[serde(default)]
    only_signed_in: Option<String>,
    /// With `only_signed_in`: only this account.
    #[serde(default)]
    only_email: String,
    /// With `only_signed_in`: only after two-factor sign-in.
    #[serde(default)]
    only_2fa: Option<String>,
    /// Access policy: networks (CIDR), separated by commas or spaces.
    #[serde(default)]
    access_networks: String,
    /// Access policy: two-letter country codes, separated by commas or spaces.
    #[serde(default)]
    access_countries: String,
    /// Access policy: not before this wall-clock time (`datetime-local`) in `access_tz`.
    #[serde(default)]
    access_not_before: String,
    /// Access policy: weekly hours, spans separated by `;` (`mon-fri 09:00-18:00`).
    #[serde(default)]
    access_hours: String,
    /// The time zone of `access_not_before` and `access_hours`.
    #[serde(default)]
    access_tz: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// At most this many characters of a typed access field are kept or read.
const ACCESS_FIELD_MAX: usize = 2000;

fn field(text: &str) -> String {
    text.trim().chars().take(ACCESS_FIELD_MAX).collect()
}

fn words(text: &str) -> Vec<String> {
    field(text)
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The time zone typed for the access limits; UTC when none was.
fn form_tz(form: &CreateForm) -> String {
    match field(&form.access_tz) {
        tz if tz.is_empty() => "UTC".to_owned(),
        tz => tz,
    }
}

/// The create form's access policy; `None` when no field is filled in.
fn form_access(form: &CreateForm) -> Result<Option<AccessPolicy>, CoreError> {
    let tz = form_tz(form);
    let not_before = match field(&form.access_not_before) {
        t if t.is_empty() => None,
        t => Some(once_core::local_time_to_unix(&t, &tz)?),
    };
    let spans: Vec<String> = field(&form.access_hours)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    AccessPolicy::new(
        &words(&form.access_networks),
        &words(&form.access_countries),
        not_before,
        Some((&tz, &spans)),
    )
}

fn home_page(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    form: &CreateForm,
    error: Option<String>,
) -> HomePage {
    let policy = state.core.secrets.policy();
    let wanted: i64 = form.ttl.parse().unwrap_or(policy.default_ttl);
    let custom_selected = form.ttl == "custom";
    let ttls = TTL_PRESETS
        .iter()
        .filter(|&&s| s >= policy.min_ttl && s <= policy.max_ttl)
        .map(|&s| (s, l.duration(s), !custom_selected && s == wanted))
        .collect();
    HomePage {
        c: chrome(l, csrf, "/".into(), l.t("home-title")),
        ttls,
        custom_selected,
        custom_value: form.ttl_custom.chars().filter(char::is_ascii_digit).take(6).collect(),
        custom_unit: if ["minutes", "hours", "days"].contains(&form.ttl_unit.as_str()) {
            form.ttl_unit.clone()
        } else {
            "hours".into()
        },
        max_views: policy.max_views,
        views: form.views.parse().unwrap_or(1).clamp(1, policy.max_views),
        error,
        secret: form.secret.clone(),
        only_signed_in: form.only_signed_in.is_some(),
        only_email: form.only_email.trim().chars().take(254).collect(),
        only_2fa: form.only_2fa.is_some(),
        has_geoip: state.core.secrets.has_geoip(),
        access_open: [
            &form.access_networks,
            &form.access_countries,
            &form.access_not_before,
            &form.access_hours,
        ]
        .iter()
        .any(|f| !f.trim().is_empty()),
        access_networks: field(&form.access_networks),
        access_countries: field(&form.access_countries),
        access_not_before: field(&form.access_not_before),
        access_hours: field(&form.access_hours),
        access_tz: form_tz(form),
        access_tz_default: form.access_tz.trim().is_empty(),
        max_file_bytes: policy.max_file_bytes,
        file_help: l.t_s("file-help", "max", &file_size(l, policy.max_file_bytes)),
        file_too_large: l.t_with(
            "file-too-large",
            &[("size", "{size}".into()), ("max", file_size(l, policy.max_file_bytes).into())],
        ),
    }
}

/// A file size as people read it, in KB below 1 MB (rounded up, so only an empty file is 0 KB),
/// else in MB or GB to one decimal (units of 1024). `app.js` `sizeLabel` is the same for sizes
/// it learns in the browser.
fn file_size(l: Loc, bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = KB * KB;
    const GB: u64 = MB * KB;
    if bytes < MB {
        return l.t_s("size-kb", "n", &bytes.div_ceil(KB).to_string());
    }
    let (unit, key) = if bytes < GB { (MB, "size-mb") } else { (GB, "size-gb") };
    // Rounded half up, in u128: `bytes * 10` may not fit in a u64.
    let tenths = (u128::from(bytes) * 10 + u128::from(unit / 2)) / u128::from(unit);
    let n = if tenths % 10 == 0 {
        format!("{}", tenths / 10)
    } else {
        format!("{}.{}", tenths / 10, tenths % 10)
    };
    l.t_s(key, "n", &n)
}

async fn home(State(state): State<AppState>, l: Loc, csrf: CsrfToken) -> Response {
    let p = home_page(&state, l, &csrf, &CreateForm::default(), None);
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

/// The form's expiry in seconds, or the message to show.
fn form_ttl(l: Loc, form: &CreateForm, min: i64, max: i64) -> Result<i64, String> {
    let secs = if form.ttl == "custom" {
        let n: i64 = form.ttl_custom.trim().parse().map_err(|_| l.t("error-ttl-number"))?;
        let unit = match form.ttl_unit.as_str() {
            "minutes" => 60,
            "days" => 86_400,
            _ => 3600,
        };
        n.checked_mul(unit).ok_or_else(|| l.t("error-ttl-number"))?
    } else {
        form.ttl.trim().parse().map_err(|_| l.t("error-ttl-number"))?
    };
    if secs < min || secs > max {
        return Err(
            l.t_with("error-ttl-range", &[("min", l.duration(min).into()), ("max", l.duration(max).into())])
        );
    }
    Ok(secs)
}

async fn create(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<crate::params::Utf8Form<CreateForm>, crate::params::FormProblem>,
) -> Response {
    let form = match form {
        Ok(crate::params::Utf8Form(f)) => f,
        Err(e) => {
            let msg = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                l.t("error-too-large")
            } else {
                l.t("error-form")
            };
            let p = home_page(&state, l, &csrf, &CreateForm::default(), Some(msg));
            return page(&state, e.status(), &csrf, l, p.render());
        }
    };
    let fail = |status: StatusCode, msg: String| {
        let p = home_page(&state, l, &csrf, &form, Some(msg));
        page(&state, status, &csrf, l, p.render())
    };
    if !csrf.accepts(&headers, &form.csrf) {
        return fail(StatusCode::FORBIDDEN, l.t("error-csrf"));
    }
    if form.secret.trim().is_empty() {
        return fail(StatusCode::BAD_REQUEST, l.t("error-empty"));
    }
    let policy = state.core.secrets.policy();
    let ttl = match form_ttl(l, &form, policy.min_ttl, policy.max_ttl) {
        Ok(t) => t,
        Err(m) => return fail(StatusCode::BAD_REQUEST, m),
    };
    let views = match form.views.trim().parse::<u32>().ok().and_then(|n| ViewLimit::new(n, policy).ok()) {
        Some(v) => v,
        None => {
            return fail(StatusCode::BAD_REQUEST, l.t_n("error-views", "max", i64::from(policy.max_views)));
        }
    };
    let passphrase = (!form.passphrase.is_empty()).then(|| form.passphrase.clone());
    let only_for = match &form.only_signed_in {
        None => None,
        Some(_) => match RecipientRule::new(Some(&form.only_email), form.only_2fa.is_some()) {
            Ok(rule) => Some(rule),
            Err(_) => return fail(StatusCode::BAD_REQUEST, l.t("error-only-email")),
        },
    };
    let access = match form_access(&form) {
        Ok(a) => a,
        Err(e) => {
            let detail = match e {
                CoreError::Invalid(m) => m,
                _ => String::new(),
            };
            return fail(StatusCode::BAD_REQUEST, format!("{} {detail}", l.t("error-access")));
        }
    };
    if access.as_ref().is_some_and(|a| !a.countries.is_empty()) && !state.core.secrets.has_geoip() {
        return fail(StatusCode::BAD_REQUEST, l.t("error-access-countries"));
    }
    let req = CreateSecret {
        plaintext: Zeroizing::new(form.secret.as_bytes().to_vec()),
        passphrase,
        key_proof: None,
        ttl: TtlRequest::Seconds(ttl),
        views,
        recipient: None,
        share_domain: String::new(),
        owner: account::web_principal(&state, &headers).await,
        only_for,
        access,
    };
    match state.core.secrets.create(req).await {
        // The receipt page shows the secret link this once (as Onetime Secret's private page).
        Ok(created) => Redirect::to(&format!("/receipt/{}", created.receipt_key.expose())).into_response(),
        Err(CoreError::TooLarge { .. }) => fail(StatusCode::PAYLOAD_TOO_LARGE, l.t("error-too-large")),
        Err(CoreError::Invalid(_)) => fail(StatusCode::BAD_REQUEST, l.t("error-form")),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

// ---------------------------------------------------------------- recipient: preview → reveal

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    c: Chrome,
    key: String,
    zero_knowledge: bool,
    passphrase_required: bool,
    views_left: i64,
    expires: String,
    expires_iso: String,
    error: Option<String>,
    /// A file secret: the size of its encrypted file, for people ("300 KB").
    file_size: Option<String>,
}

fn preview_page(l: Loc, csrf: &CsrfToken, key: &str, p: Preview, error: Option<String>) -> PreviewPage {
    let (zero_knowledge, passphrase_required) = match p.kind {
        EnvelopeKind::Plain => (false, false),
        EnvelopeKind::Passphrase => (false, true),
        EnvelopeKind::ZeroKnowledge { client_passphrase } => (true, client_passphrase),
    };
    PreviewPage {
        c: chrome(
            l,
            csrf,
            format!("/secret/{key}"),
            if p.file.is_some() { l.t("preview-file-title") } else { l.t("preview-title") },
        ),
        key: key.to_owned(),
        zero_knowledge,
        passphrase_required,
        views_left: i64::from(p.views_left),
        expires: l.datetime(p.expires_at),
        expires_iso: l.iso(p.expires_at),
        error,
        file_size: p.file.map(|f| file_size(l, f.size)),
    }
}

/// A link's key, if it looks like one (so nothing else is ever echoed into a page).
fn link_key(key: &str) -> Option<&str> {
    (key.len() <= 64 && !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(key)
}

async fn preview(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    LinkKey(key): LinkKey,
) -> Response {
    let Some(key) = link_key(&key) else {
        return gone_page(&state, l, &csrf);
    };
    let visitor = Visitor { account: web_viewer(&state, &headers).await, ip, takes_files: false };
    match state.core.secrets.preview(key, &visitor).await {
        Ok(p) => page(&state, StatusCode::OK, &csrf, l, preview_page(l, &csrf, key, p, None).render()),
        Err(CoreError::SignInRequired) => sign_in_to_view(&state, l, &csrf, key, visitor.account.is_some()),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

/// "Sign in to view": a secret only for a signed-in recipient, asked for by someone else. Nothing
/// was consumed.
fn sign_in_to_view(state: &AppState, l: Loc, csrf: &CsrfToken, key: &str, signed_in: bool) -> Response {
    let p = SignInToViewPage {
        c: chrome(l, csrf, format!("/secret/{key}"), l.t("recipient-only-title")),
        next: format!("/secret/{key}"),
        key: key.to_owned(),
        signed_in,
    };
    page(state, StatusCode::FORBIDDEN, csrf, l, p.render())
}

#[derive(Template)]
#[template(path = "recipient_only.html")]
struct SignInToViewPage {
    c: Chrome,
    next: String,
    key: String,
    signed_in: bool,
}

#[derive(Template)]
#[template(path = "revealed.html")]
struct RevealedPage {
    c: Chrome,
    value: Zeroizing<String>,
    views_left: i64,
}

#[derive(Deserialize, Default)]
struct RevealForm {
    #[serde(default)]
    passphrase: Zeroizing<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

async fn reveal(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    LinkKey(key): LinkKey,
    form: Result<Form<RevealForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(key) = link_key(&key) else {
        return gone_page(&state, l, &csrf);
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let visitor = Visitor { account: web_viewer(&state, &headers).await, ip, takes_files: false };
    if !csrf.accepts(&headers, &form.csrf) {
        // Nothing consumed: show the preview again with the reason.
        return match state.core.secrets.preview(key, &visitor).await {
            Ok(p) => page(
                &state,
                StatusCode::FORBIDDEN,
                &csrf,
                l,
                preview_page(l, &csrf, key, p, Some(l.t("error-csrf"))).render(),
            ),
            Err(e) => error_page(&state, l, &csrf, e),
        };
    }
    let tried_passphrase = !form.passphrase.is_empty();
    let unlock = if tried_passphrase { Unlock::Passphrase(form.passphrase.clone()) } else { Unlock::Nothing };
    match state.core.secrets.reveal_with(key, unlock, &visitor).await {
        Ok(r) if matches!(r.kind, EnvelopeKind::ZeroKnowledge { .. }) => {
            // Not reachable through `reveal` (a zero-knowledge secret needs its key proof), but
            // never show client ciphertext as if it were the secret.
            gone_page(&state, l, &csrf)
        }
        Ok(r) => {
            let value = Zeroizing::new(String::from_utf8_lossy(&r.plaintext).into_owned());
            let p = RevealedPage {
                c: chrome(l, &csrf, "/".into(), l.t("revealed-title")),
                value,
                views_left: i64::from(r.views_left),
            };
            page(&state, StatusCode::OK, &csrf, l, p.render())
        }
        Err(CoreError::SignInRequired) => sign_in_to_view(&state, l, &csrf, key, visitor.account.is_some()),
        Err(CoreError::NotFound) => match state.core.secrets.preview(key, &visitor).await {
            // Still there: the passphrase was missing or wrong.
            Ok(p) => {
                let msg =
                    if tried_passphrase { l.t("error-passphrase") } else { l.t("error-passphrase-missing") };
                page(&state, StatusCode::OK, &csrf, l, preview_page(l, &csrf, key, p, Some(msg)).render())
            }
            Err(e) => error_page(&state, l, &csrf, e),
        },
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

// ---------------------------------------------------------------- sender: receipt, burn

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage {
    c: Chrome,
    receipt_key: String,
    receipt_url: String,
    /// The secret link, the first time the receipt is opened.
    secret_url: Option<String>,
    qr_svg: Option<String>,
    state: &'static str,
    state_label: String,
    burnable: bool,
    passphrase_required: bool,
    views: u32,
    max_views: u32,
    views_left: i64,
    created: String,
    created_iso: String,
    expires: String,
    expires_iso: String,
    received: Option<(String, String)>,
    burn_note: Option<String>,
    /// The reveals: (time, ISO time, network).
    view_log: Vec<(String, String, String)>,
}

fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(qrcode::render::svg::Color("#111111"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    // Inline in HTML: without the XML declaration the renderer starts with.
    svg.find("<svg").map(|at| svg[at..].to_owned())
}

fn receipt_page(state: &AppState, l: Loc, csrf: &CsrfToken, v: &ReceiptView) -> ReceiptPage {
    let receipt_key = v.receipt_key.as_ref().map(|k| k.expose().to_owned()).unwrap_or_default();
    let secret_url = v.secret_key.as_ref().map(|k| format!("{}/secret/{}", state.base_url, k.expose()));
    let qr = secret_url.as_deref().and_then(qr_svg);
    let state_str = v.state.as_str();
    ReceiptPage {
        c: chrome(l, csrf, format!("/receipt/{receipt_key}"), l.t("receipt-title")),
        receipt_url: format!("{}/receipt/{receipt_key}", state.base_url),
        receipt_key,
        secret_url,
        qr_svg: qr,
        state: state_str,
        state_label: l.t(&format!("state-{state_str}")),
        burnable: matches!(v.state, SecretState::New | SecretState::Viewed),
        passphrase_required: v.has_passphrase,
        views: v.views,
        max_views: v.max_views,
        views_left: i64::from(v.views_left()),
        created: l.datetime(v.created_at),
        created_iso: l.iso(v.created_at),
        expires: l.datetime(v.secret_expires_at),
        expires_iso: l.iso(v.secret_expires_at),
        received: v.received_at.map(|t| (l.datetime(t), l.iso(t))),
        burn_note: v.burn_reason.map(|b| l.t(&format!("burn-reason-{}", b.as_str().replace('_', "-")))),
        view_log: v.view_log.iter().map(|n| (l.datetime(n.at), l.iso(n.at), n.client.clone())).collect(),
    }
}

async fn receipt(State(state): State<AppState>, l: Loc, csrf: CsrfToken, LinkKey(key): LinkKey) -> Response {
    let Some(key) = link_key(&key) else {
        return gone_page(&state, l, &csrf);
    };
    match state.core.secrets.receipt(key, true).await {
        Ok(v) => {
            state.metrics.receipt_viewed();
            page(&state, StatusCode::OK, &csrf, l, receipt_page(&state, l, &csrf, &v).render())
        }
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

async fn burn(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    LinkKey(key): LinkKey,
    form: Result<Form<PlainForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(key) = link_key(&key) else {
        return gone_page(&state, l, &csrf);
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !csrf.accepts(&headers, &form.csrf) {
        let back = format!("/receipt/{key}");
        return error_message(&state, l, &csrf, StatusCode::FORBIDDEN, l.t("error-csrf"), back);
    }
    match state.core.secrets.burn(key).await {
        Ok(_) => Redirect::to(&format!("/receipt/{key}")).into_response(),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

// ---------------------------------------------------------------- split secrets: combine

#[derive(Template)]
#[template(path = "combine.html")]
struct CombinePage {
    c: Chrome,
}

/// Where the links of a split secret are put back together (`once combine` in the browser). Only
/// the page's script (`assets/js/combine.js`) handles the links: their keys (the `#fragment`s)
/// never reach the server, which sees a preview of each and then K reveals with key proofs, as for
/// any zero-knowledge link.
async fn combine(State(state): State<AppState>, l: Loc, csrf: CsrfToken) -> Response {
    let p = CombinePage { c: chrome(l, &csrf, "/combine".into(), l.t("combine-title")) };
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

// ---------------------------------------------------------------- about, language, errors

#[derive(Template)]
#[template(path = "about.html")]
struct AboutPage {
    c: Chrome,
}

async fn about(State(state): State<AppState>, l: Loc, csrf: CsrfToken) -> Response {
    let p = AboutPage { c: chrome(l, &csrf, "/about".into(), l.t("about-title")) };
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Remembers the chosen language (a year) and goes back to the page it was chosen on.
async fn switch_language(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<Next>,
) -> Response {
    // Only local paths: never an open redirect.
    let next = q
        .next
        .filter(|n| {
            n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
        })
        .unwrap_or_else(|| "/".into());
    let mut resp = Redirect::to(&next).into_response();
    if let Some(lang) = Lang::from_code(&code) {
        let secure = if state.base_url.starts_with("https://") { "; Secure" } else { "" };
        let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}", lang.code());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    c: Chrome,
    heading: String,
    message: String,
    back: Option<String>,
}

/// "This secret is not here": unknown, expired, already revealed and burned look the same.
fn gone_page(state: &AppState, l: Loc, csrf: &CsrfToken) -> Response {
    let p = MessagePage {
        c: chrome(l, csrf, "/".into(), l.t("gone-title")),
        heading: l.t("gone-title"),
        message: l.t("gone-body"),
        back: Some("/".into()),
    };
    page(state, StatusCode::NOT_FOUND, csrf, l, p.render())
}

pub(crate) fn error_page(state: &AppState, l: Loc, csrf: &CsrfToken, e: CoreError) -> Response {
    let (status, message) = match e {
        CoreError::NotFound => return gone_page(state, l, csrf),
        CoreError::Unavailable(source) => {
            tracing::error!(error = %source, "store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, l.t("error-unavailable"))
        }
        CoreError::Busy => (StatusCode::SERVICE_UNAVAILABLE, l.t("error-unavailable")),
        CoreError::Crypto(m) => {
            tracing::error!(error = %m, "encryption unavailable");
            (StatusCode::INTERNAL_SERVER_ERROR, l.t("error-internal"))
        }
        CoreError::Locked { until } => {
            (StatusCode::TOO_MANY_REQUESTS, l.t_s("code-locked", "time", &l.datetime(until)))
        }
        CoreError::SignupRefused => (StatusCode::FORBIDDEN, l.t("signup-refused")),
        CoreError::SignInRequired => (StatusCode::FORBIDDEN, l.t("recipient-only-body")),
        CoreError::AccessDenied => {
            // Neutral: which condition failed is for the audit trail, not the visitor.
            let p = MessagePage {
                c: chrome(l, csrf, "/".into(), l.t("access-denied-title")),
                heading: l.t("access-denied-title"),
                message: l.t("access-denied-body"),
                back: None,
            };
            return page(state, StatusCode::FORBIDDEN, csrf, l, p.render());
        }
        CoreError::NotAdmin => (StatusCode::FORBIDDEN, l.t("admin-forbidden")),
        CoreError::Invalid(_)
        | CoreError::TooLarge { .. }
        | CoreError::FileTooLarge { .. }
        | CoreError::IsAFile
        | CoreError::Unauthorized
        | CoreError::Conflict(_)
        | CoreError::WeakPassword(_) => (StatusCode::BAD_REQUEST, l.t("error-form")),
    };
    let p = MessagePage {
        c: chrome(l, csrf, "/".into(), l.t("error-title")),
        heading: l.t("error-title"),
        message,
        back: Some("/".into()),
    };
    let mut resp = page(state, status, csrf, l, p.render());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.extensions_mut().insert(crate::metrics::StoreFailure);
    }
    resp
}

/// Unknown paths: an HTML page for browsers, a bare 404 for everyone else.
pub async fn not_found(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
) -> Response {
    let wants_html =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return StatusCode::NOT_FOUND.into_response();
    }
    let p = MessagePage {
        c: chrome(l, &csrf, "/".into(), l.t("notfound-title")),
        heading: l.t("notfound-title"),
        message: l.t("notfound-body"),
        back: Some("/".into()),
    };
    page(&state, StatusCode::NOT_FOUND, &csrf, l, p.render())
}

/// "Too many requests": a page for a browser that reached a rate limit (`Retry-After` is set by
/// the caller).
pub(crate) fn too_many_requests_page(state: &AppState, request: &HeaderMap, secs: i64) -> Response {
    let l = Loc::for_headers(request);
    let csrf = CsrfToken::for_headers(request);
    let p = MessagePage {
        c: chrome(l, &csrf, "/".into(), l.t("error-rate-limited-title")),
        heading: l.t("error-rate-limited-title"),
        message: l.t_n("error-rate-limited", "secs", secs),
        back: Some("/".into()),
    };
    page(state, StatusCode::TOO_MANY_REQUESTS, &csrf, l, p.render())
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize, Default)]
struct PlainForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

/// Why a new password was refused, in the page's language.
fn weak_password_message(l: Loc, w: &once_crypto::password::Weak) -> String {
    use once_crypto::password::Weak;
    match w {
        Weak::TooShort { min } => l.t_n("password-too-short", "min", *min as i64),
        Weak::TooLong { max } => l.t_n("password-too-long", "max", *max as i64),
        Weak::ContainsContext => l.t("password-context"),
        Weak::Repetitive => l.t("password-repetitive"),
        Weak::Common => l.t("password-common"),
    }
}

/// An error page with a message and a way back to `back`.
pub(crate) fn error_message(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    status: StatusCode,
    message: String,
    back: String,
) -> Response {
    let p = MessagePage {
        c: chrome(l, csrf, back.clone(), l.t("error-title")),
        heading: l.t("error-title"),
        message,
        back: Some(back),
    };
    page(state, status, csrf, l, p.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sizes_read_as_people_read_them() {
        const MB: u64 = 1024 * 1024;
        let (en, ko) = (Loc::new(Lang::En), Loc::new(Lang::Ko));
        for (bytes, want) in [
            (0, "0 KB"),
            (1, "1 KB"),
            (1024, "1 KB"),
            (1025, "2 KB"),
            (300 * 1024 + 123, "301 KB"),
            (MB - 1, "1024 KB"),
            (MB, "1 MB"),
            (MB + MB / 10, "1.1 MB"),
            // Half a tenth rounds up.
            (MB + MB / 4, "1.3 MB"),
            (100 * MB, "100 MB"),
            (1536 * MB, "1.5 GB"),
            (u64::MAX, "17179869184 GB"),
        ] {
            assert_eq!(file_size(en, bytes), want, "{bytes}");
        }
        assert_eq!(file_size(ko, 100 * MB), "100MB");
        assert_eq!(file_size(ko, 2048), "2KB");
    }
}
