//! The admin pages: usage statistics with the key ring and the current second-factor locks
//! (`/admin`), and the users list with search, keyset pages and disable/enable (`/admin/users`).
//!
//! Every request passes three gates, in this order: the peer address must be in
//! `admin.allow_cidrs` (403 otherwise, before anything else is looked at); a browser session
//! (signed out: to `/signin`); and the core's admin check on every call (`CoreError::NotAdmin`:
//! 403, audited). The forms post with a CSRF token like every other page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use once_core::{CoreError, SignedInSession, UsageDay, UsageReport};
use once_store::UsageState;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::{Chrome, CsrfToken, Loc, chrome, error_message, error_page, page};
use crate::auth::PeerAddr as Peer;
use crate::state::AppState;

/// Users per page of the list.
const USERS_PER_PAGE: u32 = 50;
/// Locked subjects the overview lists at most.
const LOCKED_SHOWN: u32 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/users", get(users))
        .route("/admin/audit", get(audit))
        .route("/admin/users/disable", post(disable))
        .route("/admin/users/enable", post(enable))
}

/// The first gate: the peer address must be in `admin.allow_cidrs`. The 403 page if it is not.
fn network_refusal(state: &AppState, l: Loc, csrf: &CsrfToken, peer: &Peer) -> Option<Response> {
    (!peer.may_administer(state)).then(|| {
        error_message(state, l, csrf, StatusCode::FORBIDDEN, l.t("admin-network-denied"), "/".into())
    })
}

/// The second gate: a browser session (signed out: to `/signin`) and, when the instance
/// requires it, a second factor set up. The admin check itself is the core's, on every call.
async fn session_gate(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    headers: &HeaderMap,
) -> Result<SignedInSession, Response> {
    let who = super::account::require_session(state, l, csrf, headers).await?;
    let accounts = &state.core.accounts;
    if accounts.second_factor_required() {
        match accounts.second_factor_status(&who.account.id).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(Redirect::to("/account/2fa").into_response()),
            Err(e) => return Err(error_page(state, l, csrf, e)),
        }
    }
    Ok(who)
}

/// Both gates, for the pages.
async fn gate(
    state: &AppState,
    l: Loc,
    csrf: &CsrfToken,
    headers: &HeaderMap,
    peer: &Peer,
) -> Result<SignedInSession, Response> {
    if let Some(refused) = network_refusal(state, l, csrf, peer) {
        return Err(refused);
    }
    session_gate(state, l, csrf, headers).await
}

fn encoded(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

// ---------------------------------------------------------------- overview

/// One row of the usage table: the day (or the totals' label), the count in each state, all
/// receipts, and the live secrets' bytes (exact, and in binary units).
struct UsageLine {
    label: String,
    /// The day as `YYYY-MM-DD` (not for the totals).
    iso: Option<String>,
    /// (state, receipts) in `UsageState::ALL` order.
    counts: Vec<(&'static str, u64)>,
    total: u64,
    bytes: u64,
    size: String,
}

fn usage_line(d: &UsageDay, label: String, iso: Option<String>) -> UsageLine {
    UsageLine {
        label,
        iso,
        counts: UsageState::ALL.iter().map(|s| (s.as_str(), d.count(*s))).collect(),
        total: d.total(),
        bytes: d.secret_bytes,
        size: size(d.secret_bytes),
    }
}

/// A byte count in binary units, one decimal ("512 B", "1.5 KiB", "3.0 GiB").
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Display only: the f64 rounding of huge counts does not matter.
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[derive(Template)]
#[template(path = "admin_overview.html")]
struct OverviewPage {
    c: Chrome,
    as_of: String,
    as_of_iso: String,
    /// Column headings: the states' labels.
    states: Vec<String>,
    days: Vec<UsageLine>,
    totals: UsageLine,
    /// (id, state, created, created ISO)
    keys: Vec<(String, &'static str, String, String)>,
    /// (subject, until, until ISO)
    locked: Vec<(String, String, String)>,
}

/// A usage table column's heading (the receipt page's state names say "not read yet" for both
/// `new` and `viewed`; here they must differ).
fn state_heading(l: Loc, s: UsageState) -> String {
    l.t(match s {
        UsageState::New => "admin-state-new",
        UsageState::Viewed => "admin-state-viewed",
        UsageState::Received => "admin-state-received",
        UsageState::Burned => "admin-state-burned",
        UsageState::Expired => "admin-state-expired",
    })
}

fn overview_page(
    l: Loc,
    csrf: &CsrfToken,
    report: &UsageReport,
    keys: Vec<once_crypto::KeyInfo>,
    locked: Vec<once_core::LockedSubject>,
) -> OverviewPage {
    let days = report.days().iter().map(|d| usage_line(d, l.date(d.day), Some(l.iso_date(d.day)))).collect();
    OverviewPage {
        c: chrome(l, csrf, "/admin".into(), l.t("admin-title")),
        as_of: l.t_s("admin-usage-as-of", "time", &l.datetime(report.now)),
        as_of_iso: l.iso(report.now),
        states: UsageState::ALL.iter().map(|s| state_heading(l, *s)).collect(),
        totals: usage_line(&report.totals(), l.t("admin-usage-total"), None),
        days,
        keys: keys
            .into_iter()
            .map(|k| {
                (k.id.as_str().to_owned(), k.state.as_str(), l.datetime(k.created_at), l.iso(k.created_at))
            })
            .collect(),
        locked: locked.into_iter().map(|s| (s.subject, l.datetime(s.until), l.iso(s.until))).collect(),
    }
}

async fn overview(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    peer: Peer,
) -> Response {
    let who = match gate(&state, l, &csrf, &headers, &peer).await {
        Ok(who) => who,
        Err(resp) => return resp,
    };
    let admin = &state.core.admin;
    let report = match admin.usage(&who.account).await {
        Ok(r) => r,
        Err(e) => return error_page(&state, l, &csrf, e),
    };
    let (keys, locked) =
        match tokio::try_join!(admin.key_ring(&who.account), admin.locked(&who.account, LOCKED_SHOWN)) {
            Ok(both) => both,
            Err(e) => return error_page(&state, l, &csrf, e),
        };
    let p = overview_page(l, &csrf, &report, keys, locked);
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

// ---------------------------------------------------------------- users

#[derive(Deserialize, Default)]
struct UsersQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
}

/// One user in the list.
struct UserLine {
    email: String,
    role: &'static str,
    disabled: bool,
    second_factor: bool,
    created: String,
    created_iso: String,
    /// The acting admin's own account (no disable button).
    me: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPageView {
    c: Chrome,
    q: String,
    after: String,
    users: Vec<UserLine>,
    /// The next page's link, if there may be one.
    next: Option<String>,
    /// The first page's link, when this is not it.
    first: Option<String>,
}

fn users_link(q: &str, after: Option<&str>) -> String {
    let mut link = format!("/admin/users?q={}", encoded(q));
    if let Some(a) = after {
        link.push_str("&after=");
        link.push_str(&encoded(a));
    }
    link
}

async fn users(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    peer: Peer,
    Query(query): Query<UsersQuery>,
) -> Response {
    let who = match gate(&state, l, &csrf, &headers, &peer).await {
        Ok(who) => who,
        Err(resp) => return resp,
    };
    let q: String = query.q.trim().chars().take(254).collect();
    let after = (!query.after.is_empty()).then(|| query.after.chars().take(254).collect::<String>());
    let listed = state.core.admin.users(&who.account, Some(&q), after.as_deref(), USERS_PER_PAGE).await;
    let listed = match listed {
        Ok(p) => p,
        Err(e) => return error_page(&state, l, &csrf, e),
    };
    let p = UsersPageView {
        c: chrome(l, &csrf, "/admin/users".into(), l.t("admin-users-title")),
        users: listed
            .users
            .into_iter()
            .map(|u| UserLine {
                me: u.account.id == who.account.id,
                role: u.account.role.as_str(),
                disabled: u.account.disabled,
                second_factor: u.second_factor,
                created: l.datetime(u.account.created_at),
                created_iso: l.iso(u.account.created_at),
                email: u.account.email,
            })
            .collect(),
        next: listed.next.as_deref().map(|n| users_link(&q, Some(n))),
        first: after.is_some().then(|| users_link(&q, None)),
        after: after.unwrap_or_default(),
        q,
    };
    page(&state, StatusCode::OK, &csrf, l, p.render())
}

#[derive(Deserialize, Default)]
struct StatusForm {
    #[serde(default)]
    email: String,
    /// Where the list was, to go back to it.
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

async fn set_status(
    state: AppState,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    peer: Peer,
    form: StatusForm,
    disabled: bool,
) -> Response {
    if let Some(refused) = network_refusal(&state, l, &csrf, &peer) {
        return refused;
    }
    let back = users_link(&form.q, (!form.after.is_empty()).then_some(form.after.as_str()));
    if !csrf.accepts(&headers, &form.csrf) {
        return error_message(&state, l, &csrf, StatusCode::FORBIDDEN, l.t("error-csrf"), back);
    }
    let who = match session_gate(&state, l, &csrf, &headers).await {
        Ok(who) => who,
        Err(resp) => return resp,
    };
    match state.core.admin.set_disabled(&who.account, &form.email, disabled).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(CoreError::Invalid(_)) => {
            error_message(&state, l, &csrf, StatusCode::BAD_REQUEST, l.t("admin-user-invalid"), back)
        }
        Err(e) => error_page(&state, l, &csrf, e),
    }
}

async fn disable(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    peer: Peer,
    form: Result<Form<StatusForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    set_status(state, l, csrf, headers, peer, form, true).await
}

async fn enable(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    peer: Peer,
    form: Result<Form<StatusForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    set_status(state, l, csrf, headers, peer, form, false).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_are_shown_in_binary_units() {
        for (bytes, shown) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (3 << 30, "3.0 GiB"),
            (u64::MAX, "16384.0 PiB"),
        ] {
            assert_eq!(super::size(bytes), shown, "{bytes}");
        }
    }
}

// ---------------------------------------------------------------- audit trail

/// Records per page of the audit trail.
const AUDIT_PER_PAGE: u32 = 100;

struct AuditLine {
    seq: u64,
    time: String,
    time_iso: String,
    event: String,
    outcome: String,
    actor: String,
    client: String,
    record: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPageView {
    c: Chrome,
    records: Vec<AuditLine>,
    /// The `before` of the next (older) page.
    older: Option<u64>,
    first_page: bool,
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    #[serde(default)]
    before: Option<u64>,
}

/// The audit trail, newest first (`once audit verify` checks the chain; this only reads).
async fn audit(
    State(state): State<AppState>,
    l: Loc,
    csrf: CsrfToken,
    headers: HeaderMap,
    peer: Peer,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let who = match gate(&state, l, &csrf, &headers, &peer).await {
        Ok(who) => who,
        Err(resp) => return resp,
    };
    let before = query.ok().and_then(|Query(q)| q.before);
    let records = match state.core.admin.audit(&who.account, before.unwrap_or(u64::MAX), AUDIT_PER_PAGE).await
    {
        Ok(r) => r,
        Err(e) => return error_page(&state, l, &csrf, e),
    };
    let older = (records.len() == AUDIT_PER_PAGE as usize).then(|| records.last().map(|r| r.seq)).flatten();
    let p = AuditPageView {
        c: chrome(l, &csrf, "/admin/audit".into(), l.t("admin-audit-title")),
        records: records
            .into_iter()
            .map(|r| AuditLine {
                seq: r.seq,
                time: l.datetime(r.entry.time),
                time_iso: l.iso(r.entry.time),
                event: r.entry.event,
                outcome: r.entry.outcome,
                actor: r.entry.actor,
                client: r.entry.client,
                record: r.entry.record,
                detail: r.entry.detail,
            })
            .collect(),
        older,
        first_page: before.is_none(),
    };
    page(&state, StatusCode::OK, &csrf, l, p.render())
}
