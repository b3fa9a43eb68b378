//! The signed-in web pages over real HTTP: sign-up, the list of one's secrets (both modes, paged,
//! burn from the list), API keys made in the browser, password change.

use std::collections::BTreeSet;

use once_server::config::Signup;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const PASSWORD: &str = "correct horse battery staple";

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

/// A signed-up browser: its cookies and CSRF token.
struct Web {
    http: reqwest::Client,
    cookies: String,
    csrf: String,
}

impl Web {
    async fn sign_up(app: &TestApp, email: &str) -> Web {
        let http = client();
        let form = http.get(app.url("/signup")).send().await.expect("form");
        assert_eq!(form.status(), StatusCode::OK);
        let csrf = cookie(&form, "once_csrf").expect("csrf cookie");
        let resp = http
            .post(app.url("/signup"))
            .header("cookie", format!("once_csrf={csrf}"))
            .form(&[("email", email), ("password", PASSWORD), ("password_again", PASSWORD), ("_csrf", &csrf)])
            .send()
            .await
            .expect("sign up");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "/account");
        let session = cookie(&resp, "once_session").expect("signed in");
        Web { http, cookies: format!("once_csrf={csrf}; once_session={session}"), csrf }
    }

    async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.http.get(app.url(path)).header("cookie", &self.cookies).send().await.expect("get")
    }

    async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
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

/// The receipt keys a dashboard page links to, in order, and its "older" cursor.
fn listed(body: &str) -> (Vec<String>, Option<String>) {
    let keys = body
        .split("href=\"/receipt/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_owned)
        .collect();
    let next =
        body.split("href=\"/dashboard?cursor=").nth(1).and_then(|s| s.split('"').next()).map(str::to_owned);
    (keys, next)
}

#[tokio::test]
async fn sign_up_closed_by_default() {
    let app = TestApp::spawn(Backend::Memory).await;
    let resp = client().get(app.url("/signup")).send().await.expect("signup");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = client().get(app.url("/signin")).send().await.expect("signin").text().await.expect("body");
    assert!(!body.contains("href=\"/signup\""), "no sign-up link when closed");
}

#[tokio::test]
async fn the_dashboard_lists_both_modes_pages_and_burns() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.auth.signup = Signup::Open).await;
    let web = Web::sign_up(&app, "alice@example.com").await;

    // Server-side mode through the form, zero-knowledge through API v2 with the session cookie.
    let resp = web.post(&app, "/", &[("secret", "from the form"), ("ttl", "3600"), ("views", "1")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let form_receipt =
        resp.headers()["location"].to_str().expect("loc").trim_start_matches("/receipt/").to_owned();
    let zk: Value = web
        .http
        .post(app.url("/api/v2/secrets"))
        .header("cookie", &web.cookies)
        .json(&{
            let k = once_crypto::zk::FragmentKey::generate();
            let (blob, proof) = once_crypto::zk::seal(&k, None, b"zk").expect("seal");
            json!({ "ciphertext": data_encoding::BASE64URL_NOPAD.encode(&blob), "key_proof": proof.to_base64url() })
        })
        .send()
        .await
        .expect("zk create")
        .json()
        .await
        .expect("json");
    let zk_receipt = zk["receipt_key"].as_str().expect("receipt").to_owned();
    // Someone else's secret does not show.
    app.http.post(app.url("/api/v2/secrets")).json(&json!({ "secret": "anon" })).send().await.expect("anon");

    let body = web.get(&app, "/dashboard").await.text().await.expect("body");
    let (keys, next) = listed(&body);
    assert_eq!(keys, vec![zk_receipt.clone(), form_receipt.clone()], "newest first");
    assert!(next.is_none());

    // Burn from the list.
    let resp = web.post(&app, &format!("/dashboard/burn/{form_receipt}"), &[]).await;
    assert_eq!(resp.headers()["location"], "/dashboard");
    let body = web.get(&app, "/dashboard").await.text().await.expect("body");
    assert!(body.contains("state-burned"), "{body}");
    let gone =
        app.http.get(app.url(&format!("/api/v2/receipts/{form_receipt}"))).send().await.expect("receipt");
    let gone: Value = gone.json().await.expect("json");
    assert_eq!(gone["state"], "burned");

    // Signed out, the list sends you to sign in.
    let resp = client().get(app.url("/dashboard")).send().await.expect("dashboard");
    assert_eq!(resp.headers()["location"], "/signin");
}

#[tokio::test]
async fn paging_returns_every_secret_once_while_new_ones_arrive() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.auth.signup = Signup::Open).await;
    let web = Web::sign_up(&app, "alice@example.com").await;
    let mut before = BTreeSet::new();
    for i in 0..45 {
        let resp =
            web.post(&app, "/", &[("secret", &format!("s{i}")), ("ttl", "3600"), ("views", "1")]).await;
        before.insert(
            resp.headers()["location"].to_str().expect("loc").trim_start_matches("/receipt/").to_owned(),
        );
    }
    // A writer keeps adding secrets while the reader pages through.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, http, url, cookies, csrf) =
            (stop.clone(), web.http.clone(), app.url("/"), web.cookies.clone(), web.csrf.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let form = [("secret", "new"), ("ttl", "3600"), ("views", "1"), ("_csrf", csrf.as_str())];
                http.post(&url).header("cookie", &cookies).form(&form).send().await.expect("create");
                n += 1;
            }
            n
        })
    };
    let mut seen = Vec::new();
    let mut path = "/dashboard".to_owned();
    loop {
        let body = web.get(&app, &path).await.text().await.expect("body");
        let (keys, next) = listed(&body);
        seen.extend(keys);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        match next {
            Some(c) => path = format!("/dashboard?cursor={c}"),
            None => break,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let added = writer.await.expect("writer");
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "nothing listed twice");
    assert!(before.is_subset(&unique), "every earlier secret listed once ({added} added meanwhile)");
}

#[tokio::test]
async fn api_keys_made_in_the_browser_work_and_revoke_and_the_password_changes() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.auth.signup = Signup::Open).await;
    let web = Web::sign_up(&app, "alice@example.com").await;
    let resp = web
        .post(
            &app,
            "/account/keys",
            &[("name", "deploy"), ("scope_share", "on"), ("scope_read", "on"), ("expires_days", "30")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.expect("body");
    let key = body
        .split("id=\"new-key\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("key")
        .to_owned();
    assert!(key.starts_with("once_"), "{key}");
    // The key shares into the same list as the browser, and reads it.
    let made: Value = app
        .http
        .post(app.url("/api/v2/secrets"))
        .bearer_auth(&key)
        .json(&json!({ "secret": "via key" }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let listed_by_key: Value = app
        .http
        .get(app.url("/api/v2/receipts"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("recent")
        .json()
        .await
        .expect("json");
    assert_eq!(listed_by_key["items"][0]["receipt_key"], made["receipt_key"]);
    let page = web.get(&app, "/dashboard").await.text().await.expect("body");
    assert!(page.contains(made["receipt_key"].as_str().expect("key")), "the browser's list has it");
    // Admin scope is for admins only.
    let resp = web.post(&app, "/account/keys", &[("name", "boss"), ("scope_admin", "on")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Revoke from the account page.
    let account = web.get(&app, "/account").await.text().await.expect("body");
    assert!(account.contains("deploy") && !account.contains(&key), "listed, never shown again");
    let id = account
        .split("action=\"/account/keys/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("id")
        .to_owned();
    let resp = web.post(&app, &format!("/account/keys/{id}/revoke"), &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let r = app.http.get(app.url("/api/v2/receipts")).bearer_auth(&key).send().await.expect("recent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "revoked");

    // Change the password: wrong current one refused; then the old session is over, the new one works.
    let new = "another fine long passphrase";
    let resp = web
        .post(
            &app,
            "/account/password",
            &[("current", "wrong one here!"), ("password", new), ("password_again", new)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = web
        .post(&app, "/account/password", &[("current", PASSWORD), ("password", new), ("password_again", new)])
        .await;
    assert_eq!(resp.headers()["location"], "/account?password=changed");
    let session = cookie(&resp, "once_session").expect("new session");
    assert_eq!(web.get(&app, "/dashboard").await.headers()["location"], "/signin", "old session ended");
    let renewed = Web {
        http: web.http.clone(),
        cookies: format!("once_csrf={}; once_session={session}", web.csrf),
        csrf: web.csrf.clone(),
    };
    let page = renewed.get(&app, "/dashboard").await.text().await.expect("body");
    assert!(page.contains(made["receipt_key"].as_str().expect("key")), "the same vault after the change");
}

impl Web {
    /// Signs in (no second factor) with `next`, returning the browser and where it was sent.
    async fn sign_in(app: &TestApp, email: &str, next: &str) -> (Web, String) {
        let http = client();
        let form = http.get(app.url(&format!("/signin?next={next}"))).send().await.expect("form");
        let csrf = cookie(&form, "once_csrf").expect("csrf cookie");
        let body = form.text().await.expect("body");
        let carried = body.contains(&format!("name=\"next\" value=\"{next}\""));
        let resp = http
            .post(app.url("/signin"))
            .header("cookie", format!("once_csrf={csrf}"))
            .form(&[("email", email), ("password", PASSWORD), ("next", next), ("_csrf", &csrf)])
            .send()
            .await
            .expect("sign in");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let to = resp.headers()["location"].to_str().expect("location").to_owned();
        assert_eq!(carried, to == next, "the form carries a safe next, and only that");
        let session = cookie(&resp, "once_session").expect("signed in");
        (Web { http, cookies: format!("once_csrf={csrf}; once_session={session}"), csrf }, to)
    }
}

#[tokio::test]
async fn a_secret_only_for_bob_waits_for_bob_and_consumes_nothing_before() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.auth.signup = Signup::Open).await;
    let alice = Web::sign_up(&app, "alice@example.com").await;
    Web::sign_up(&app, "bob@example.com").await;

    // Through the form: only for bob.
    let resp = alice
        .post(
            &app,
            "/",
            &[
                ("secret", "for bob"),
                ("ttl", "3600"),
                ("views", "1"),
                ("only_signed_in", "on"),
                ("only_email", "Bob@Example.com"),
            ],
        )
        .await;
    let receipt = resp.headers()["location"].to_str().expect("loc").to_owned();
    let page = alice.get(&app, &receipt).await.text().await.expect("receipt");
    let key =
        page.split("/secret/").nth(1).and_then(|s| s.split('"').next()).expect("secret link").to_owned();
    let path = format!("/secret/{key}");

    // Anonymous, and alice: "sign in to view", for GET and POST, and nothing is used up.
    let anon = client();
    for _ in 0..2 {
        let resp = anon.get(app.url(&path)).send().await.expect("preview");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.expect("body").contains(&format!("/signin?next={path}")));
        let resp = alice.post(&app, &path, &[]).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let r = app.http.post(app.url(&format!("/api/v2/secrets/{key}/reveal"))).send().await.expect("v2");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = app.http.post(app.url(&format!("/api/v1/secret/{key}"))).send().await.expect("v1");
        assert_eq!(r.headers()["x-ots-intended-status"], "403");
    }
    // Bob signs in from the link and comes back to it; then it reveals, once.
    let (bob, to) = Web::sign_in(&app, "bob@example.com", &path).await;
    assert_eq!(to, path);
    assert_eq!(bob.get(&app, &path).await.status(), StatusCode::OK);
    let shown = bob.post(&app, &path, &[]).await.text().await.expect("revealed");
    assert!(shown.contains("for bob"), "{shown}");
    assert_eq!(bob.get(&app, &path).await.status(), StatusCode::NOT_FOUND, "once");

    // Through API v2 with bob's API key; a rule asking for two-factor sign-in refuses keys.
    let made = bob.post(&app, "/account/keys", &[("name", "cli"), ("scope_read", "on")]).await;
    let body = made.text().await.expect("body");
    let bob_key = body
        .split("id=\"new-key\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("key")
        .to_owned();
    for (second_factor, want) in [(false, StatusCode::OK), (true, StatusCode::FORBIDDEN)] {
        let c: Value = app
            .http
            .post(app.url("/api/v2/secrets"))
            .json(&json!({ "secret": "api", "only_for": { "email": "bob@example.com", "second_factor": second_factor } }))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let key = c["secret_key"].as_str().expect("key");
        let reveal = |k: Option<&str>| {
            let r = app.http.post(app.url(&format!("/api/v2/secrets/{key}/reveal")));
            match k {
                Some(k) => r.bearer_auth(k),
                None => r,
            }
            .send()
        };
        assert_eq!(reveal(None).await.expect("anon").status(), StatusCode::FORBIDDEN);
        assert_eq!(
            reveal(Some(&bob_key)).await.expect("bob").status(),
            want,
            "second factor {second_factor}"
        );
    }

    // A sign-in link can't send the browser elsewhere.
    let (_, to) = Web::sign_in(&app, "alice@example.com", "//evil.example/x").await;
    assert_eq!(to, "/account");
}

fn hidden(body: &str, name: &str) -> String {
    body.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect(name)
        .to_owned()
}

#[tokio::test]
async fn fifty_concurrent_submissions_of_one_totp_code_sign_in_once() {
    use once_core::Clock;
    use once_crypto::totp::{TotpPolicy, TotpSecret};
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.auth.signup = Signup::Open).await;
    let web = Web::sign_up(&app, "alice@example.com").await;
    let page = web.get(&app, "/account/2fa").await.text().await.expect("enrol page");
    let key: String = page
        .split("id=\"totp-key\" class=\"key\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("key")
        .split_whitespace()
        .collect();
    let secret = TotpSecret::from_base32(&key).expect("base32");
    let now = || u64::try_from(once_core::SystemClock.now()).expect("after 1970");
    let code = TotpPolicy::default().code_at(&secret, now()).expect("code");
    let resp = web.post(&app, "/account/2fa", &[("ticket", &hidden(&page, "ticket")), ("code", &code)]).await;
    assert!(resp.text().await.expect("codes").contains("id=\"recovery-codes\""), "enrolled");

    // Password step in a fresh browser, then 50 submissions of the next step's code at once.
    let http = client();
    let form = http.get(app.url("/signin")).send().await.expect("form");
    let csrf = cookie(&form, "once_csrf").expect("csrf");
    let step = http
        .post(app.url("/signin"))
        .header("cookie", format!("once_csrf={csrf}"))
        .form(&[("email", "alice@example.com"), ("password", PASSWORD), ("_csrf", &csrf)])
        .send()
        .await
        .expect("password");
    let ticket = hidden(&step.text().await.expect("code page"), "ticket");
    let code = TotpPolicy::default().code_at(&secret, now() + 30).expect("code");
    let tries: Vec<_> = (0..50)
        .map(|_| {
            let (http, url, csrf, ticket, code) =
                (http.clone(), app.url("/signin/code"), csrf.clone(), ticket.clone(), code.clone());
            tokio::spawn(async move {
                let resp = http
                    .post(url)
                    .header("cookie", format!("once_csrf={csrf}"))
                    .form(&[("ticket", ticket.as_str()), ("code", code.as_str()), ("_csrf", csrf.as_str())])
                    .send()
                    .await
                    .expect("code");
                cookie(&resp, "once_session").is_some()
            })
        })
        .collect();
    let mut signed_in = 0;
    for t in tries {
        signed_in += usize::from(t.await.expect("join"));
    }
    assert_eq!(signed_in, 1, "one code, one sign-in");
}

#[tokio::test]
async fn replacing_the_authenticator_app_takes_the_password() {
    use once_core::Clock;
    use once_crypto::totp::{TotpPolicy, TotpSecret};
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.auth.signup = Signup::Open).await;
    let web = Web::sign_up(&app, "alice@example.com").await;
    let now = || u64::try_from(once_core::SystemClock.now()).expect("after 1970");
    let enrol = |page: String, extra: Option<&'static str>| {
        let web = &web;
        let app = &app;
        async move {
            let key: String = page
                .split("id=\"totp-key\" class=\"key\">")
                .nth(1)
                .and_then(|s| s.split('<').next())
                .expect("key")
                .split_whitespace()
                .collect();
            let secret = TotpSecret::from_base32(&key).expect("base32");
            let code = TotpPolicy::default().code_at(&secret, now()).expect("code");
            let ticket = hidden(&page, "ticket");
            let mut form = vec![("ticket", ticket.as_str()), ("code", code.as_str())];
            if let Some(p) = extra {
                form.push(("password", p));
            }
            web.post(app, "/account/2fa", &form).await
        }
    };
    let first = web.get(&app, "/account/2fa").await.text().await.expect("page");
    assert!(!first.contains("name=\"password\""), "the first enrolment needs no password");
    assert_eq!(enrol(first, None).await.status(), StatusCode::OK);
    let again = web.get(&app, "/account/2fa").await.text().await.expect("page");
    assert!(again.contains("name=\"password\""), "replacing asks for it");
    assert_eq!(enrol(again.clone(), Some("not my password!")).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(enrol(again, Some(PASSWORD)).await.status(), StatusCode::OK);
}
