//! The admin pages and API v2's admin route over real HTTP: usage statistics against a seeded
//! dataset, the users list paged while users are added, disable/enable, who gets a 403, and the
//! network allow-list.

use std::collections::BTreeMap;
use std::sync::Arc;

use once_core::{Clock, Core, SystemClock};
use once_crypto::KeyRing;
use once_store::conformance::pair;
use once_store::{Account, AccountId, Receipt, Role, SecretRecord, Store, TotpRecord, utc_day};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::pages::html;

const ADMIN: &str = "root@example.com";
const PASSWORD: &str = "correct horse battery staple";
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().expect("client")
}

fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| Some(c.strip_prefix(name)?.strip_prefix('=')?.split(';').next()?.to_owned()))
}

/// A browser: its cookies (CSRF, and a session once signed in) and CSRF token.
struct Browser {
    http: reqwest::Client,
    cookies: String,
    csrf: String,
}

impl Browser {
    /// A browser that has the CSRF cookie but is not signed in.
    async fn anonymous(app: &TestApp) -> Browser {
        let http = client();
        let resp = http.get(app.url("/signin")).send().await.expect("sign-in form");
        let csrf = cookie(&resp, "once_csrf").expect("csrf cookie");
        Browser { http, cookies: format!("once_csrf={csrf}"), csrf }
    }

    /// Signs in over HTTP, as a person would.
    async fn sign_in(app: &TestApp, email: &str) -> Browser {
        let mut b = Browser::anonymous(app).await;
        let resp = b
            .http
            .post(app.url("/signin"))
            .header("cookie", &b.cookies)
            .form(&[("email", email), ("password", PASSWORD), ("_csrf", b.csrf.as_str())])
            .send()
            .await
            .expect("sign in");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "signed in");
        let session = cookie(&resp, "once_session").expect("session cookie");
        b.cookies = format!("{}; once_session={session}", b.cookies);
        b
    }

    async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.http.get(app.url(path)).header("cookie", &self.cookies).send().await.expect("get")
    }

    async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = form.to_vec();
        fields.push(("_csrf", &self.csrf));
        self.http
            .post(app.url(path))
            .header("cookie", &self.cookies)
            .form(&fields)
            .send()
            .await
            .expect("post")
    }
}

async fn store(app: &TestApp) -> Arc<dyn Store> {
    once_server::open_store(&app.config.store_url(), &app.config.redis).await.expect("store")
}

/// A core on the app's store and key ring (as the `once` command line has).
async fn core(app: &TestApp) -> Core {
    let keys = KeyRing::load(&app.config.keyring_path()).expect("keyring");
    Core::new(store(app).await, Arc::new(keys), Arc::new(SystemClock) as Arc<dyn Clock>, app.config.policy())
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("selector")
}

/// A page's text, entities decoded.
fn text(body: &str) -> String {
    Html::parse_document(body).root_element().text().collect()
}

fn iso_day(t: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(t).expect("time");
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

async fn usage_api(app: &TestApp, key: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/api/v2/admin/usage"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.expect("usage")
}

async fn error_code(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    let v: Value = resp.json().await.expect("json");
    v["error"]["code"].as_str().expect("code").to_owned()
}

/// A secret of `len` envelope bytes created at `created_at`, its secret expiring at
/// `secret_expires_at`, its receipt a day after that or after `now`, whichever is later (so the
/// sweeper never takes one during the test).
async fn seed(
    store: &Arc<dyn Store>,
    now: i64,
    views: u32,
    created_at: i64,
    secret_expires_at: i64,
    len: usize,
    passphrase: bool,
) -> (SecretRecord, Receipt) {
    let (mut s, mut r) = pair(views, secret_expires_at - created_at, None, created_at);
    s.envelope = vec![0xa5; len];
    s.has_passphrase = passphrase;
    r.has_passphrase = passphrase;
    r.expires_at = secret_expires_at.max(now) + DAY;
    store.create(s.clone(), r.clone()).await.expect("seed");
    (s, r)
}

#[tokio::test]
async fn usage_page_and_api_show_a_seeded_dataset_exactly() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.sweeper.interval_secs = 3600).await;
    let admin_key = app.add_admin(ADMIN, PASSWORD).await;
    let store = store(&app).await;
    let now = SystemClock.now();
    let today = utc_day(now);
    let (d3, d2, d1) = (today - 3 * DAY, today - 2 * DAY, today - DAY);

    // Three days ago: live with a passphrase; expired unrevealed.
    seed(&store, now, 1, d3 + 100, now + DAY, 111, true).await;
    seed(&store, now, 1, d3 + 200, d3 + 300, 50, false).await;
    // Two days ago: revealed; burned by the sender; burned by a wrong passphrase.
    let (c, _) = seed(&store, now, 1, d2 + 300, now + DAY, 70, false).await;
    assert!(store.take(&c.id, now).await.expect("take").is_some());
    let (_, dr) = seed(&store, now, 1, d2 + 400, now + DAY, 80, false).await;
    assert!(store.burn(&dr.id, now).await.expect("burn").is_some());
    let (g, _) = seed(&store, now, 1, d2 + 500, now + DAY, 90, true).await;
    store.record_failure(&g.id, 1, now).await.expect("fail");
    // Yesterday: opened and one of two views taken; opened after it expired.
    let (e, er) = seed(&store, now, 2, d1 + 500, now + DAY, 222, false).await;
    assert!(store.open_receipt(&er.id, now).await.expect("open").is_some());
    assert!(store.take(&e.id, now).await.expect("take").is_some());
    let (_, fr) = seed(&store, now, 1, d1 + 600, d1 + 700, 60, false).await;
    assert!(store.open_receipt(&fr.id, now).await.expect("open").is_some());
    // Today: one of three views taken; live with a passphrase.
    let (h, _) = seed(&store, now, 3, today, now + HOUR, 333, false).await;
    assert!(store.take(&h.id, now).await.expect("take").is_some());
    seed(&store, now, 1, today, now + HOUR, 44, true).await;
    // A locked second factor.
    store.lockout_failure("2fa:locked@example.com", 1, 60, 600, now).await.expect("lock");

    // API v2.
    let resp = usage_api(&app, Some(&admin_key)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.expect("json");
    assert!((now..now + 60).contains(&v["now"].as_i64().expect("now")));
    let row = |day: i64, state: &str, receipts: u64, bytes: u64| json!({"day": day, "state": state, "receipts": receipts, "secret_bytes": bytes});
    assert_eq!(
        v["rows"],
        json!([
            row(d3, "new", 1, 111),
            row(d3, "expired", 1, 0),
            row(d2, "received", 1, 0),
            row(d2, "burned", 2, 0),
            row(d1, "viewed", 1, 222),
            row(d1, "expired", 1, 0),
            row(today, "new", 2, 377),
        ])
    );

    // The page: a day × state table, newest day first, with totals.
    let admin = Browser::sign_in(&app, ADMIN).await;
    let body = html(admin.get(&app, "/admin").await, StatusCode::OK).await;
    let doc = Html::parse_document(&body);
    let mut table: Vec<(String, BTreeMap<String, u64>)> = Vec::new();
    for tr in doc.select(&sel("#usage-table tr[data-day]")) {
        let mut cells = BTreeMap::new();
        for td in tr.select(&sel("td[data-state]")) {
            let state = td.value().attr("data-state").expect("state").to_owned();
            let n = match td.select(&sel("data")).next() {
                Some(data) => data.value().attr("value").expect("value").parse().expect("bytes"),
                None => td.text().collect::<String>().trim().parse().expect("count"),
            };
            cells.insert(state, n);
        }
        table.push((tr.value().attr("data-day").expect("day").to_owned(), cells));
    }
    let line = |new, viewed, received, burned, expired, bytes| -> BTreeMap<String, u64> {
        [
            ("new", new),
            ("viewed", viewed),
            ("received", received),
            ("burned", burned),
            ("expired", expired),
            ("all", new + viewed + received + burned + expired),
            ("bytes", bytes),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect()
    };
    assert_eq!(
        table,
        vec![
            (iso_day(today), line(2, 0, 0, 0, 0, 377)),
            (iso_day(d1), line(0, 1, 0, 0, 1, 222)),
            (iso_day(d2), line(0, 0, 1, 2, 0, 0)),
            (iso_day(d3), line(1, 0, 0, 0, 1, 111)),
            ("total".to_owned(), line(3, 1, 1, 2, 2, 710)),
        ]
    );
    assert!(body.contains("710 B") && body.contains("Receipt opened"));
    // The key ring: one active key, by id, never its material.
    assert_eq!(doc.select(&sel("#keys-table td[data-key-state=\"active\"]")).count(), 1);
    let ring: Value =
        serde_json::from_str(&std::fs::read_to_string(app.config.keyring_path()).expect("ring"))
            .expect("json");
    for k in ring["keys"].as_array().expect("keys") {
        assert!(body.contains(k["id"].as_str().expect("id")));
        let material = k["material"].as_str().expect("material");
        assert!(!body.contains(material), "key material on the page");
    }
    // The locks.
    assert!(
        doc.select(&sel("#locked li"))
            .any(|li| li.text().collect::<String>().contains("2fa:locked@example.com"))
    );

    // In Korean too.
    let resp = admin
        .http
        .get(app.url("/admin"))
        .header("cookie", format!("{}; lang=ko", admin.cookies))
        .send()
        .await
        .expect("ko");
    let body = html(resp, StatusCode::OK).await;
    assert!(body.contains("사용량") && body.contains("영수증 열람됨") && body.contains("합계"));
}

/// Follows the users list's "next" links from `start`; returns every e-mail listed and the
/// number of pages.
async fn walk_users(app: &TestApp, b: &Browser, start: &str) -> (Vec<String>, usize) {
    let mut path = start.to_owned();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let body = html(b.get(app, &path).await, StatusCode::OK).await;
        let doc = Html::parse_document(&body);
        let emails: Vec<String> = doc
            .select(&sel("#users tr[data-email]"))
            .map(|tr| tr.value().attr("data-email").expect("email").to_owned())
            .collect();
        assert!(emails.len() <= 50, "50 per page");
        seen.extend(emails);
        pages += 1;
        match doc.select(&sel("a[rel=next]")).next() {
            Some(a) => path = a.value().attr("href").expect("href").to_owned(),
            None => return (seen, pages),
        }
    }
}

fn account(email: &str, created_at: i64) -> Account {
    Account {
        id: AccountId(email.to_owned()),
        email: email.to_owned(),
        role: Role::User,
        created_at,
        disabled: false,
    }
}

#[tokio::test]
async fn users_pages_list_everyone_once_while_users_are_added() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.add_admin(ADMIN, PASSWORD).await;
    let store = store(&app).await;
    let now = SystemClock.now();
    let mut before: Vec<String> = vec![ADMIN.to_owned()];
    for i in 0..120 {
        let email = format!("u{:03}@example.org", (i * 7) % 120);
        store.add_account(account(&email, now), None).await.expect("add");
        before.push(email);
    }
    let admin = Browser::sign_in(&app, ADMIN).await;

    // Users sign up while the admin pages through: sorting before, among and after the others.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..90 {
                let email = format!("{}{i:03}@during.example", ["a", "u05", "z"][i % 3]);
                store.add_account(account(&email, now), None).await.expect("add during");
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    let (seen, pages) = walk_users(&app, &admin, "/admin/users").await;
    writer.await.expect("writer");
    assert!(pages >= 3, "{pages} pages");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in e-mail order, nobody twice");
    for e in &before {
        assert!(seen.contains(e), "{e} was there all along");
    }

    // Afterwards: everyone, once.
    let (all, pages) = walk_users(&app, &admin, "/admin/users").await;
    let mut want: Vec<String> =
        store.accounts().await.expect("accounts").into_iter().map(|a| a.email).collect();
    want.sort();
    assert_eq!((all.len(), pages), (211, 5));
    assert_eq!(all, want);

    // Search: part of the address, any case; its pages keep the search.
    let (found, _) = walk_users(&app, &admin, "/admin/users?q=DURING.example").await;
    assert_eq!(found.len(), 90);
    assert!(found.iter().all(|e| e.ends_with("@during.example")));
    let (found, _) = walk_users(&app, &admin, "/admin/users?q=u05").await;
    assert_eq!(found.len(), 10 + 30, "u050 to u059, and the u05… sign-ups");
    let body = html(admin.get(&app, "/admin/users?q=nobody-at-all").await, StatusCode::OK).await;
    assert!(body.contains("No users found."));
}

#[tokio::test]
async fn admins_disable_and_enable_users_and_see_their_second_factor() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.add_admin(ADMIN, PASSWORD).await;
    let key = app.add_user("victim@example.com").await;
    let store = store(&app).await;
    let totp =
        TotpRecord { sealed_secret: vec![1, 2, 3], enabled_at: SystemClock.now(), recovery_codes_left: 0 };
    assert!(store.set_totp(&AccountId("victim@example.com".into()), Some(totp), &[]).await.expect("2fa"));
    let admin = Browser::sign_in(&app, ADMIN).await;
    let row = |body: &str, attr: &str| -> String {
        let doc = Html::parse_document(body);
        let cell = sel(&format!("tr[data-email=\"victim@example.com\"] td[{attr}]"));
        let found = doc.select(&cell).next().map(|td| td.value().attr(attr).expect("attr").to_owned());
        found.expect("the row")
    };
    let body = html(admin.get(&app, "/admin/users?q=victim").await, StatusCode::OK).await;
    assert_eq!(
        (row(&body, "data-disabled"), row(&body, "data-2fa"), row(&body, "data-role")),
        ("false".into(), "true".into(), "user".into())
    );
    let keys = |k: String| app.http.get(app.url("/api/v2/keys")).bearer_auth(k).send();
    assert_eq!(keys(key.clone()).await.expect("keys").status(), StatusCode::OK);

    // Refused without the form's token, or from another site.
    let resp = admin
        .http
        .post(app.url("/admin/users/disable"))
        .header("cookie", &admin.cookies)
        .form(&[("email", "victim@example.com")])
        .send()
        .await
        .expect("no token");
    html(resp, StatusCode::FORBIDDEN).await;
    let resp = admin
        .http
        .post(app.url("/admin/users/disable"))
        .header("cookie", &admin.cookies)
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "victim@example.com"), ("_csrf", admin.csrf.as_str())])
        .send()
        .await
        .expect("cross-site");
    html(resp, StatusCode::FORBIDDEN).await;
    assert_eq!(keys(key.clone()).await.expect("keys").status(), StatusCode::OK, "nothing changed");

    // Disabled: back to where the list was, shown as disabled, and the API key stops working.
    let resp = admin
        .post(
            &app,
            "/admin/users/disable",
            &[("email", "victim@example.com"), ("q", "victim"), ("after", "")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/admin/users?q=victim");
    let body = html(admin.get(&app, "/admin/users?q=victim").await, StatusCode::OK).await;
    assert_eq!(row(&body, "data-disabled"), "true");
    assert!(body.contains("action=\"/admin/users/enable\""));
    assert_eq!(keys(key.clone()).await.expect("keys").status(), StatusCode::UNAUTHORIZED);

    let resp = admin.post(&app, "/admin/users/enable", &[("email", "victim@example.com")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(keys(key.clone()).await.expect("keys").status(), StatusCode::OK);

    // Not oneself, not someone who does not exist; one's own row has no button.
    let resp = admin.post(&app, "/admin/users/disable", &[("email", ADMIN)]).await;
    html(resp, StatusCode::BAD_REQUEST).await;
    let resp = admin.post(&app, "/admin/users/disable", &[("email", "ghost@example.com")]).await;
    html(resp, StatusCode::BAD_REQUEST).await;
    let body = html(admin.get(&app, "/admin/users?q=root").await, StatusCode::OK).await;
    assert!(!body.contains("/admin/users/disable") && body.contains("This is you"));
}

#[tokio::test]
async fn only_signed_in_admins_and_admin_keys_get_in() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin_key = app.add_admin(ADMIN, PASSWORD).await;
    let user_key = app.add_user("user@example.com").await;
    app.set_password("user@example.com", PASSWORD).await;

    // Signed out: to the sign-in page.
    let anon = Browser::anonymous(&app).await;
    for path in ["/admin", "/admin/users", "/admin/users?q=x&after=a"] {
        let resp = anon.get(&app, path).await;
        assert_eq!(
            (resp.status(), resp.headers()["location"].to_str().ok()),
            (StatusCode::SEE_OTHER, Some("/signin")),
            "{path}"
        );
    }
    let resp = anon.post(&app, "/admin/users/disable", &[("email", "user@example.com")]).await;
    assert_eq!(resp.headers()["location"], "/signin");

    // A signed-in user who is not an admin: 403.
    let user = Browser::sign_in(&app, "user@example.com").await;
    for path in ["/admin", "/admin/users"] {
        let body = html(user.get(&app, path).await, StatusCode::FORBIDDEN).await;
        assert!(body.contains("Only administrators can open this page."), "{path}");
    }
    let resp = user.post(&app, "/admin/users/disable", &[("email", ADMIN)]).await;
    html(resp, StatusCode::FORBIDDEN).await;
    let admin = Browser::sign_in(&app, ADMIN).await;
    let body = html(admin.get(&app, "/admin/users?q=root").await, StatusCode::OK).await;
    assert!(body.contains("data-disabled=\"false\""), "the admin was not disabled");

    // API v2: a key, with the admin scope, of an admin.
    assert_eq!(error_code(usage_api(&app, None).await, StatusCode::UNAUTHORIZED).await, "unauthorized");
    assert_eq!(
        error_code(usage_api(&app, Some("once_nonsense")).await, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    assert_eq!(error_code(usage_api(&app, Some(&user_key)).await, StatusCode::FORBIDDEN).await, "forbidden");
    assert_eq!(usage_api(&app, Some(&admin_key)).await.status(), StatusCode::OK);
    let mut scoped = Vec::new();
    for scopes in [json!(["read", "share", "burn"]), json!(["admin"])] {
        let resp = app
            .http
            .post(app.url("/api/v2/keys"))
            .bearer_auth(&admin_key)
            .json(&json!({"name": "scoped", "scopes": scopes}))
            .send()
            .await
            .expect("create key");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let v: Value = resp.json().await.expect("json");
        scoped.push(v["key"].as_str().expect("key").to_owned());
    }
    assert_eq!(error_code(usage_api(&app, Some(&scoped[0])).await, StatusCode::FORBIDDEN).await, "forbidden");
    assert_eq!(usage_api(&app, Some(&scoped[1])).await.status(), StatusCode::OK);

    // An admin's key with the admin scope stops working there once the account is no admin.
    core(&app).await.accounts.set_role(ADMIN, Role::User).await.expect("demote");
    assert_eq!(error_code(usage_api(&app, Some(&scoped[1])).await, StatusCode::FORBIDDEN).await, "forbidden");
    html(admin.get(&app, "/admin").await, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn the_network_allow_list_guards_pages_and_api() {
    // Only 10.0.0.0/8 may: the test's 127.0.0.1 may not, signed in or not, with a key or not.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.admin.allow_cidrs = vec!["10.0.0.0/8".into()]).await;
    let admin_key = app.add_admin(ADMIN, PASSWORD).await;
    let anon = Browser::anonymous(&app).await;
    let body = html(anon.get(&app, "/admin").await, StatusCode::FORBIDDEN).await;
    assert!(text(&body).contains("The admin pages can't be reached from this network."));
    let admin = Browser::sign_in(&app, ADMIN).await;
    for path in ["/admin", "/admin/users"] {
        let body = html(admin.get(&app, path).await, StatusCode::FORBIDDEN).await;
        assert!(text(&body).contains("can't be reached from this network"), "{path}");
    }
    let resp = admin.post(&app, "/admin/users/disable", &[("email", "someone@example.com")]).await;
    html(resp, StatusCode::FORBIDDEN).await;
    assert_eq!(error_code(usage_api(&app, Some(&admin_key)).await, StatusCode::FORBIDDEN).await, "forbidden");
    // The rest of the site is not affected.
    html(admin.get(&app, "/account").await, StatusCode::OK).await;

    // Listed, it answers.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.admin.allow_cidrs = vec!["::1".into(), "127.0.0.0/8".into()]
    })
    .await;
    let admin_key = app.add_admin(ADMIN, PASSWORD).await;
    let admin = Browser::sign_in(&app, ADMIN).await;
    html(admin.get(&app, "/admin").await, StatusCode::OK).await;
    html(admin.get(&app, "/admin/users").await, StatusCode::OK).await;
    assert_eq!(usage_api(&app, Some(&admin_key)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn admins_browse_the_audit_trail_newest_first() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.add_admin(ADMIN, PASSWORD).await;
    app.add_user("user@example.com").await;
    app.set_password("user@example.com", PASSWORD).await;
    let made =
        app.http.post(app.url("/api/v2/secrets")).json(&serde_json::json!({"secret": "s"})).send().await;
    assert_eq!(made.expect("create").status(), StatusCode::CREATED);
    let admin = Browser::sign_in(&app, ADMIN).await;
    // The appender writes in the background: wait for both the create and the admin's
    // sign-in to reach the trail.
    let mut body = String::new();
    for _ in 0..100 {
        let resp = admin.get(&app, "/admin/audit").await;
        assert_eq!(resp.status(), StatusCode::OK);
        body = resp.text().await.expect("body");
        if body.contains("secret.created") && body.contains("auth.password") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(body.contains("<code>secret.created</code>") && body.contains("127.0.0.1"), "{body}");
    let first_row = body.split("<tbody>").nth(1).expect("rows");
    assert!(
        first_row.find("auth.password").expect("the admin's sign-in")
            < first_row.find("secret.created").expect("create"),
        "newest first"
    );

    let user = Browser::sign_in(&app, "user@example.com").await;
    assert_eq!(user.get(&app, "/admin/audit").await.status(), StatusCode::FORBIDDEN);
}
