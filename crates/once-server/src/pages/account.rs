//! Account pages: sign up, sign in (password, then the second factor when the account has one),
//! sign out here or everywhere, the account page with its sessions, and two-factor enrolment with
//! recovery codes.
//!
//! The session cookie holds the session token (only its hash is stored). Between the password and
//! the code step the browser holds a sealed ticket in the code form, not a session: nothing but
//! the code form accepts it.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use once_core::{CoreError, SignInStep, SignedIn, SignedInSession, SignupMode};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{Chrome, CsrfToken, Loc, PlainForm, chrome, error_message, error_page, i18n, page, qr_svg};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin_form).post(signin))
        .route("/signin/code", post(signin_code))
        .route("/signup", get(signup_form).post(signup))
        .route("/signout", post(signout))
        .route("/account", get(account))
        .route("/account/signout-everywhere", post(signout_everywhere))
        .route("/account/2fa", get(totp_form).post(totp_confirm))
        .route("/account/2fa/recovery-codes", post(new_recovery_codes))
        .route("/account/2fa/disable", post(totp_disable))
        .route("/account/password", post(change_password))
}

/// The browser session's cookie: the session token (only its hash is stored).
pub const SESSION_COOKIE: &str = "once_session";

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if state.base_url.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// A coarse description of the client for the sessions list ("Firefox on Linux"), never the
/// whole User-Agent.
fn client_of(headers: &HeaderMap) -> String {
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map_or("Browser", |(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match os {
        Some(os) => format!("{browser} · {os}"),
        None => browser.to_owned(),
    }
}

pub(super) fn session_token(headers: &HeaderMap) -> Option<String> {
    i18n::request_cookie(headers, SESSION_COOKIE).map(str::to_owned)
}

/// The signed-in account of this request as an API caller (for secrets created in the browser:
/// they go to the account's list). `None` when signed out, or on any error (the secret is then
/// simply anonymous).
pub(crate) async fn web_principal(state: &AppState, headers: &HeaderMap) -> Option<once_core::Principal> {
    signed_in(state, headers).await.ok().flatten().and_then(|s| s.principal())
}

/// The signed-in account of this request as the viewer of a secret only for a signed-in
/// recipient.
pub(crate) async fn web_viewer(state: &AppState, headers: &HeaderMap) -> Option<once_core::Viewer> {
    signed_in(state, headers).await.ok().flatten().map(|s| s.viewer())
}

/// The signed-in session of this request, if any.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<SignedInSession>, CoreError> {
    match session_token(headers) {
        Some(t) => state.core.accounts.session(&t).await,
        None => Ok(None),
    }
}

/// Where a fresh session goes: two-factor enrolment first when the instance requires it, else
/// `next` (a page of this site the browser came from, such as a secret only for a signed-in
/// recipient), else the account page.
async fn landing(state: &AppState, s: &SignedIn, next: &str) -> String {
    if state.core.accounts.second_factor_required()
        && matches!(state.core.accounts.second_factor_status(&s.account.id).await, Ok(None))
    {
        "/account/2fa".into()
    } else {
        safe_next(next).unwrap_or("/account").to_owned()
    }
}

/// `next` if it is a path on this site (no scheme, no host, no `//`, nothing but path
/// characters), so a sign-in link can't send the browser elsewhere.
fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 200
        && next.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b));
    ok.then_some(next)
}

/// A redirect that sets the session cookie.
async fn start_session(state: &AppState, s: SignedIn, next: &str) -> Response {
    let mut resp = Redirect::to(&landing(state, &s, next).await).into_response();
    let max_age = state.core.accounts.session_max_secs();
    if let Some(c) = session_cookie(state, s.token.expose(), max_age) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn signup_open(state: &AppState) -> bool {
    state.core.accounts.signup_mode() != &SignupMode::Closed
}

// ---------------------------------------------------------------- sign in

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    c: Chrome,
    email: String,
    error: Option<String>,
    signup: bool,
    /// Where to go once signed in.
    next: String,
}

#[derive(Deserialize, Default)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    next: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

#[derive(Deserialize, Default)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn signin_form(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    query: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.ok().and_then(|Query(q)| safe_next(&q.next).map(str::to_owned)).unwrap_or_default();
    if matches!(signed_in(&state, &headers).await, Ok(Some(_))) && next.is_empty() {
        return Redirect::to("/account").into_response();
    }
    let p = SignInPage {
        c: chrome(l, &csrf, "/signin".into(), l.t("signin-title")),
        email: String::new(),
        error: None,
        signup: signup_open(&state),
        next,
    };
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

async fn signin(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let email: String = form.email.trim().chars().take(254).collect();
    let next = safe_next(&form.next).unwrap_or_default().to_owned();
    let again = |status: StatusCode, msg: String| {
        let p = SignInPage {
            c: chrome(l, &csrf, "/signin".into(), l.t("signin-title")),
            email: email.clone(),
            error: Some(msg),
            signup: signup_open(&state),
            next: next.clone(),
        };
        page(&state, status, &csrf, l, p.render())
    };
    if !csrf.accepts(&headers, &form.csrf) {
        return again(StatusCode::FORBIDDEN, l.t("error-csrf"));
    }
    match state.core.accounts.sign_in(&email, form.password, &client_of(&headers)).await {
        Ok(SignInStep::Done(signed)) => start_session(&state, signed, &next).await,
        Ok(SignInStep::SecondFactor { ticket }) => {
            code_page(&state, l, &csrf, StatusCode::OK, ticket, next.clone(), None)
        }
        Err(CoreError::Unauthorized) => again(StatusCode::UNAUTHORIZED, l.t("signin-error")),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

#[derive(Template)]
#[template(path = "signin_code.html")]
struct CodePage {
    c: Chrome,
    ticket: String,
    next: String,
    error: Option<String>,
}

fn code_page(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    status: StatusCode,
    ticket: String,
    next: String,
    error: Option<String>,
) -> Response {
    let p = CodePage { c: chrome(l, csrf, "/signin".into(), l.t("code-title")), ticket, next, error };
    page(state, status, csrf, l, p.render())
}

#[derive(Deserialize, Default)]
struct CodeForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    code: Zeroizing<String>,
    #[serde(default)]
    next: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

async fn signin_code(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<CodeForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let next = safe_next(&form.next).unwrap_or_default().to_owned();
    if !csrf.accepts(&headers, &form.csrf) {
        return code_page(
            &state,
            l,
            &csrf,
            StatusCode::FORBIDDEN,
            form.ticket,
            next,
            Some(l.t("error-csrf")),
        );
    }
    match state.core.accounts.second_factor(&form.ticket, &form.code, &client_of(&headers)).await {
        Ok(signed) => start_session(&state, signed, &next).await,
        Err(CoreError::Unauthorized) => {
            code_page(&state, l, &csrf, StatusCode::UNAUTHORIZED, form.ticket, next, Some(l.t("code-error")))
        }
        Err(CoreError::Locked { until }) => {
            let msg = l.t_s("code-locked", "time", &l.datetime(until));
            error_message(&state, l, &csrf, StatusCode::TOO_MANY_REQUESTS, msg, "/signin".into())
        }
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

// ---------------------------------------------------------------- sign up

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    c: Chrome,
    email: String,
    error: Option<String>,
    /// Domains sign-up is limited to (empty: any).
    domains: String,
}

#[derive(Deserialize, Default)]
struct SignUpForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    password_again: Zeroizing<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

fn signup_page(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    status: StatusCode,
    email: String,
    error: Option<String>,
) -> Response {
    let domains = match state.core.accounts.signup_mode() {
        SignupMode::Domains(d) => d.join(", "),
        _ => String::new(),
    };
    let p = SignUpPage { c: chrome(l, csrf, "/signup".into(), l.t("signup-title")), email, error, domains };
    page(state, status, csrf, l, p.render())
}

async fn signup_form(State(state): State<AppState>, l: Loc, csrf: CsrfToken) -> Response {
    if !signup_open(&state) {
        return error_message(
            &state,
            l,
            &csrf,
            StatusCode::FORBIDDEN,
            l.t("signup-closed"),
            "/signin".into(),
        );
    }
    signup_page(&state, l, &csrf, StatusCode::OK, String::new(), None)
}

async fn signup(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<SignUpForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let email: String = form.email.trim().chars().take(254).collect();
    if !csrf.accepts(&headers, &form.csrf) {
        return signup_page(&state, l, &csrf, StatusCode::FORBIDDEN, email, Some(l.t("error-csrf")));
    }
    if *form.password != *form.password_again {
        return signup_page(&state, l, &csrf, StatusCode::BAD_REQUEST, email, Some(l.t("signup-mismatch")));
    }
    match state.core.accounts.sign_up(&email, form.password, &client_of(&headers)).await {
        Ok(signed) => start_session(&state, signed, "").await,
        Err(CoreError::SignupRefused) => {
            signup_page(&state, l, &csrf, StatusCode::FORBIDDEN, email, Some(l.t("signup-refused")))
        }
        Err(CoreError::Conflict(_)) => {
            signup_page(&state, l, &csrf, StatusCode::CONFLICT, email, Some(l.t("signup-taken")))
        }
        Err(CoreError::WeakPassword(w)) => {
            let msg = super::weak_password_message(l, &w);
            signup_page(&state, l, &csrf, StatusCode::BAD_REQUEST, email, Some(msg))
        }
        Err(CoreError::Invalid(_)) => {
            signup_page(&state, l, &csrf, StatusCode::BAD_REQUEST, email, Some(l.t("signup-bad-email")))
        }
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

// ---------------------------------------------------------------- the account page

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    email: String,
    role: &'static str,
    /// (client, signed in, last used, this one)
    sessions: Vec<(String, String, String, bool)>,
    /// (enabled since, recovery codes left) when two-factor sign-in is on.
    second_factor: Option<(String, i64)>,
    required: bool,
    keys: Vec<super::dashboard::KeyRow>,
    admin: bool,
    expiry_days: Vec<(i64, String)>,
    password_changed: bool,
}

/// A form that carries a CSRF token.
pub(super) trait CsrfForm: Default {
    fn csrf(&self) -> &str;
}

impl CsrfForm for PlainForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A signed-in user's form post: the form and the session, once the CSRF token and the session
/// check out; otherwise the response to send (an error page leading `back`, or to sign-in).
pub(super) async fn signed_in_post<F: CsrfForm>(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    headers: &HeaderMap,
    form: Result<Form<F>, axum::extract::rejection::FormRejection>,
    back: &str,
) -> Result<(F, SignedInSession), Response> {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !csrf.accepts(headers, form.csrf()) {
        return Err(error_message(state, l, csrf, StatusCode::FORBIDDEN, l.t("error-csrf"), back.to_owned()));
    }
    let who = require_session(state, l, csrf, headers).await?;
    Ok((form, who))
}

/// The signed-in session, or a response that sends the browser to sign in (or shows an error).
pub(super) async fn require_session(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    headers: &HeaderMap,
) -> Result<SignedInSession, Response> {
    match signed_in(state, headers).await {
        Ok(Some(who)) => Ok(who),
        Ok(None) => Err(Redirect::to("/signin").into_response()),
        Err(e) => Err(error_page(state, l, csrf, e)),
    }
}

#[derive(Deserialize, Default)]
struct AccountQuery {
    password: Option<String>,
}

async fn account(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    query: Result<Query<AccountQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let who = match require_session(&state, l, &csrf, &headers).await {
        Ok(who) => who,
        Err(resp) => return resp,
    };
    let accounts = &state.core.accounts;
    let (sessions, second_factor, keys) = match tokio::try_join!(
        accounts.sessions_of(&who.account.id),
        accounts.second_factor_status(&who.account.id),
        super::dashboard::key_rows(&state, l, &who.account)
    ) {
        Ok(all) => all,
        Err(e) => return error_page(&state, l, &csrf, e),
    };
    if second_factor.is_none() && accounts.second_factor_required() {
        return Redirect::to("/account/2fa").into_response();
    }
    let p = AccountPage {
        c: chrome(l, &csrf, "/account".into(), l.t("account-title")),
        email: who.account.email.clone(),
        role: who.account.role.as_str(),
        sessions: sessions
            .iter()
            .map(|s| {
                (
                    s.client.clone(),
                    l.datetime(s.created_at),
                    l.datetime(s.last_seen_at),
                    s.hash == who.session.hash,
                )
            })
            .collect(),
        second_factor: second_factor.map(|s| (l.datetime(s.enabled_at), i64::from(s.recovery_codes_left))),
        required: accounts.second_factor_required(),
        keys,
        admin: who.account.role == once_store::Role::Admin,
        expiry_days: super::dashboard::KEY_EXPIRY_DAYS
            .iter()
            .map(|&d| (d, if d == 0 { l.t("key-never") } else { l.duration(d * 86_400) }))
            .collect(),
        password_changed: query.is_ok_and(|Query(q)| q.password.as_deref() == Some("changed")),
    };
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

/// Clears the session cookie on a redirect.
pub(super) fn signed_out(state: &AppState, to: &str) -> Response {
    let mut resp = Redirect::to(to).into_response();
    if let Some(c) = session_cookie(state, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

async fn signout(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<PlainForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if !csrf.accepts(&headers, &form.csrf) {
        return error_message(&state, l, &csrf, StatusCode::FORBIDDEN, l.t("error-csrf"), "/".into());
    }
    if let Some(t) = session_token(&headers)
        && let Err(e) = state.core.accounts.sign_out(&t).await
    {
        return error_page(&state, l, &csrf, e);
    }
    signed_out(&state, "/")
}

async fn signout_everywhere(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<PlainForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let who = match signed_in_post(&state, l, &csrf, &headers, form, "/").await {
        Ok((_, who)) => who,
        Err(resp) => return resp,
    };
    match state.core.accounts.sign_out_everywhere(&who.account.id).await {
        Ok(_) => signed_out(&state, "/signin"),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

// ---------------------------------------------------------------- two-factor sign-in

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage {
    c: Chrome,
    /// The key in groups of four, for typing into an app by hand.
    key_groups: Zeroizing<String>,
    qr: String,
    ticket: String,
    error: Option<String>,
    /// Replacing an existing second factor.
    replacing: bool,
}

/// The enrolment page's form: the first code, and the password when replacing a second factor.
#[derive(Deserialize, Default)]
struct EnrolForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    code: Zeroizing<String>,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    c: Chrome,
    codes: Vec<Zeroizing<String>>,
}

fn grouped(key: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(key.len() + key.len() / 4));
    for (i, ch) in key.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

fn totp_page(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    status: StatusCode,
    enrolment: &once_core::TotpEnrolment,
    error: Option<String>,
    replacing: bool,
) -> Response {
    let p = TotpPage {
        c: chrome(l, csrf, "/account/2fa".into(), l.t("totp-title")),
        key_groups: grouped(&enrolment.secret_base32),
        qr: qr_svg(&enrolment.otpauth_uri).unwrap_or_default(),
        ticket: enrolment.ticket.clone(),
        error,
        replacing,
    };
    page(state, status, csrf, l, p.render())
}

async fn totp_form(State(state): State<AppState>, l: Loc, csrf: CsrfToken, headers: HeaderMap) -> Response {
    let who = match require_session(&state, l, &csrf, &headers).await {
        Ok(who) => who,
        Err(resp) => return resp,
    };
    let replacing = matches!(state.core.accounts.second_factor_status(&who.account.id).await, Ok(Some(_)));
    match state.core.accounts.begin_totp(&who.account.id, &who.account.email) {
        Ok(e) => totp_page(&state, l, &csrf, StatusCode::OK, &e, None, replacing),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

async fn totp_confirm(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<EnrolForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let who = match require_session(&state, l, &csrf, &headers).await {
        Ok(who) => who,
        Err(resp) => return resp,
    };
    let accounts = &state.core.accounts;
    let replacing = match accounts.second_factor_status(&who.account.id).await {
        Ok(s) => s.is_some(),
        Err(e) => return error_page(&state, l, &csrf, e),
    };
    let resumed = accounts.resume_totp(&who.account.id, &who.account.email, &form.ticket);
    let Some(enrolment) = resumed else {
        return error_message(
            &state,
            l,
            &csrf,
            StatusCode::BAD_REQUEST,
            l.t("totp-expired"),
            "/account/2fa".into(),
        );
    };
    if !csrf.accepts(&headers, &form.csrf) {
        return totp_page(
            &state,
            l,
            &csrf,
            StatusCode::FORBIDDEN,
            &enrolment,
            Some(l.t("error-csrf")),
            replacing,
        );
    }
    // Replacing a second factor takes the password too: a borrowed session alone must not be
    // able to move the account to the borrower's phone.
    if replacing {
        match accounts.check_password(&who.account, form.password).await {
            Ok(()) => {}
            Err(CoreError::Unauthorized) => {
                let msg = Some(l.t("totp-replace-wrong-password"));
                return totp_page(&state, l, &csrf, StatusCode::UNAUTHORIZED, &enrolment, msg, true);
            }
            Err(e) => return error_page(&state, l, &csrf, e),
        }
    }
    match accounts.confirm_totp(&who.account.id, &form.ticket, &form.code).await {
        Ok(codes) => {
            let p =
                RecoveryCodesPage { c: chrome(l, &csrf, "/account".into(), l.t("recovery-title")), codes };
            page(&state, StatusCode::OK, &csrf, l, p.render())
        }
        Err(CoreError::Invalid(_)) => totp_page(
            &state,
            l,
            &csrf,
            StatusCode::BAD_REQUEST,
            &enrolment,
            Some(l.t("totp-wrong-code")),
            replacing,
        ),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

async fn new_recovery_codes(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<PlainForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let who = match signed_in_post(&state, l, &csrf, &headers, form, "/account").await {
        Ok((_, who)) => who,
        Err(resp) => return resp,
    };
    match state.core.accounts.new_recovery_codes(&who.account.id).await {
        Ok(codes) => {
            let p =
                RecoveryCodesPage { c: chrome(l, &csrf, "/account".into(), l.t("recovery-title")), codes };
            page(&state, StatusCode::OK, &csrf, l, p.render())
        }
        Err(CoreError::NotFound) => Redirect::to("/account/2fa").into_response(),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

#[derive(Deserialize, Default)]
struct DisableForm {
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

impl CsrfForm for DisableForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Turns two-factor sign-in off after the password is given again (unless the instance requires
/// it).
async fn totp_disable(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<DisableForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (form, who) = match signed_in_post(&state, l, &csrf, &headers, form, "/account").await {
        Ok(both) => both,
        Err(resp) => return resp,
    };
    let accounts = &state.core.accounts;
    if accounts.second_factor_required() {
        return error_message(
            &state,
            l,
            &csrf,
            StatusCode::FORBIDDEN,
            l.t("totp-required"),
            "/account".into(),
        );
    }
    match accounts.check_password(&who.account, form.password).await {
        Ok(()) => {}
        Err(CoreError::Unauthorized) => {
            return error_message(
                &state,
                l,
                &csrf,
                StatusCode::UNAUTHORIZED,
                l.t("totp-disable-wrong-password"),
                "/account".into(),
            );
        }
        Err(e) => return error_page(&state, l, &csrf, e),
    }
    match accounts.disable_totp(&who.account.id).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    current: Zeroizing<String>,
    #[serde(default)]
    password: Zeroizing<String>,
    #[serde(default)]
    password_again: Zeroizing<String>,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

impl CsrfForm for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Changes the password (the current one first); every session ends, this browser gets a new one.
async fn change_password(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let back = || "/account#password".to_owned();
    let (form, who) = match signed_in_post(&state, l, &csrf, &headers, form, &back()).await {
        Ok(both) => both,
        Err(resp) => return resp,
    };
    if *form.password != *form.password_again {
        return error_message(&state, l, &csrf, StatusCode::BAD_REQUEST, l.t("signup-mismatch"), back());
    }
    match state.core.accounts.change_password(&who, form.current, form.password, &client_of(&headers)).await {
        Ok(signed) => {
            let mut resp = Redirect::to("/account?password=changed").into_response();
            if let Some(c) =
                session_cookie(&state, signed.token.expose(), state.core.accounts.session_max_secs())
            {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Err(CoreError::Unauthorized) => {
            error_message(&state, l, &csrf, StatusCode::UNAUTHORIZED, l.t("password-wrong-current"), back())
        }
        Err(CoreError::WeakPassword(w)) => {
            let msg = super::weak_password_message(l, &w);
            error_message(&state, l, &csrf, StatusCode::BAD_REQUEST, msg, back())
        }
        Err(e) => error_page(&state, l, &csrf, e),
    }
}
