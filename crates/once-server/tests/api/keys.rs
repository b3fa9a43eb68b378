//! API keys over real HTTP: scopes decide which routes a key may use (API v1 and v2), keys expire
//! and can be revoked, and a listed key never shows the key itself.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

async fn new_key(app: &TestApp, with: &str, scopes: &[&str], expires_in: Option<i64>) -> (String, String) {
    let mut req = json!({ "name": format!("{scopes:?}"), "scopes": scopes });
    if let Some(n) = expires_in {
        req["expires_in"] = json!(n);
    }
    let resp =
        app.http.post(app.url("/api/v2/keys")).bearer_auth(with).json(&req).send().await.expect("new key");
    assert_eq!(resp.status(), StatusCode::CREATED, "{req}");
    let made: Value = resp.json().await.expect("json");
    assert_eq!(made["info"]["scopes"], json!(scopes));
    (made["key"].as_str().expect("key").to_owned(), made["info"]["id"].as_str().expect("id").to_owned())
}

/// A fresh secret made without a key; returns its receipt key.
async fn receipt_key(app: &TestApp) -> String {
    let resp = app
        .http
        .post(app.url("/api/v2/secrets"))
        .json(&json!({ "secret": "s" }))
        .send()
        .await
        .expect("create");
    let c: Value = resp.json().await.expect("json");
    c["receipt_key"].as_str().expect("receipt key").to_owned()
}

/// What each route answers to `key`, API v2 then v1: (route, status).
async fn matrix(app: &TestApp, email: &str, key: &str) -> Vec<(&'static str, u16)> {
    let h = &app.http;
    let mut out = Vec::new();
    let r = h.post(app.url("/api/v2/secrets")).bearer_auth(key).json(&json!({ "secret": "x" })).send().await;
    out.push(("v2 create", r.expect("v2 create").status().as_u16()));
    let r = h.get(app.url("/api/v2/receipts")).bearer_auth(key).send().await;
    out.push(("v2 recent", r.expect("v2 recent").status().as_u16()));
    let rk = receipt_key(app).await;
    let r = h.get(app.url(&format!("/api/v2/receipts/{rk}"))).bearer_auth(key).send().await;
    out.push(("v2 receipt", r.expect("v2 receipt").status().as_u16()));
    let r = h.post(app.url(&format!("/api/v2/receipts/{rk}/burn"))).bearer_auth(key).send().await;
    out.push(("v2 burn", r.expect("v2 burn").status().as_u16()));
    // API v1 keeps OTS's 404-for-everything; the status meant is in X-OTS-Intended-Status.
    let v1 = |r: reqwest::Response| {
        r.headers()
            .get("x-ots-intended-status")
            .map_or(r.status().as_u16(), |v| v.to_str().expect("ascii").parse().expect("a status"))
    };
    let r =
        h.post(app.url("/api/v1/share")).basic_auth(email, Some(key)).form(&[("secret", "x")]).send().await;
    out.push(("v1 share", v1(r.expect("v1 share"))));
    let r = h.get(app.url("/api/v1/private/recent")).basic_auth(email, Some(key)).send().await;
    out.push(("v1 recent", v1(r.expect("v1 recent"))));
    let rk = receipt_key(app).await;
    let r = h.post(app.url(&format!("/api/v1/private/{rk}"))).basic_auth(email, Some(key)).send().await;
    out.push(("v1 receipt", v1(r.expect("v1 receipt"))));
    let r = h.post(app.url(&format!("/api/v1/private/{rk}/burn"))).basic_auth(email, Some(key)).send().await;
    out.push(("v1 burn", v1(r.expect("v1 burn"))));
    out
}

fn expect(allowed: &[&str]) -> Vec<(&'static str, u16)> {
    let ok = |route: &str, code: u16| if allowed.iter().any(|a| route.ends_with(a)) { code } else { 403 };
    vec![
        ("v2 create", ok("share", 201)),
        ("v2 recent", ok("read", 200)),
        ("v2 receipt", ok("read", 200)),
        ("v2 burn", ok("burn", 200)),
        ("v1 share", ok("share", 200)),
        ("v1 recent", ok("read", 200)),
        ("v1 receipt", ok("read", 200)),
        ("v1 burn", ok("burn", 200)),
    ]
}

#[tokio::test]
async fn each_scope_allows_only_its_routes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let email = "alice@example.com";
    let first = app.add_user(email).await;
    assert_eq!(matrix(&app, email, &first).await, expect(&["share", "read", "burn"]), "the first key");
    for scope in ["share", "read", "burn"] {
        let (key, _) = new_key(&app, &first, &[scope], None).await;
        let want: Vec<(&str, u16)> = expect(&[scope])
            .into_iter()
            .map(|(route, code)| {
                // "recent" and "receipt" are both the read scope.
                let allowed = match scope {
                    "share" => route.ends_with("create") || route.ends_with("share"),
                    "read" => route.ends_with("recent") || route.ends_with("receipt"),
                    _ => route.ends_with("burn"),
                };
                (route, if allowed { code } else { 403 })
            })
            .collect();
        assert_eq!(matrix(&app, email, &key).await, want, "a {scope}-only key");
    }
    // Revealing needs no scope at all; a 403 body is the v2 envelope and names the scope.
    let (read_only, _) = new_key(&app, &first, &["read"], None).await;
    let resp = app
        .http
        .post(app.url("/api/v2/secrets"))
        .bearer_auth(&read_only)
        .json(&json!({"secret": "x"}))
        .send()
        .await;
    let e: Value = resp.expect("create").json().await.expect("json");
    assert_eq!(e["error"]["code"], "forbidden");
    assert!(e["error"]["message"].as_str().expect("message").contains("share"), "{e}");

    // No wider keys than the caller's, and no admin scope for a user.
    for scopes in [json!(["admin"]), json!(["share", "read"]), json!([])] {
        let resp = app
            .http
            .post(app.url("/api/v2/keys"))
            .bearer_auth(&read_only)
            .json(&json!({ "name": "wider", "scopes": scopes }))
            .send()
            .await
            .expect("new key");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{scopes}");
    }
}

#[tokio::test]
async fn expired_and_revoked_keys_fail_and_lists_never_show_keys() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let email = "alice@example.com";
    let first = app.add_user(email).await;
    // Expiry is in whole seconds: this key may be expired by the next second already.
    let (short, _) = new_key(&app, &first, &["share"], Some(1)).await;
    let (share_only, _) = new_key(&app, &first, &["share"], None).await;
    let (revocable, id) = new_key(&app, &first, &["share", "read"], None).await;
    let share = |key: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/api/v2/secrets"))
                .bearer_auth(key)
                .json(&json!({ "secret": "x" }))
                .send()
                .await
                .expect("create")
                .status()
        }
    };
    assert_eq!(share(revocable.clone()).await, StatusCode::CREATED);

    let listed = app.http.get(app.url("/api/v2/keys")).bearer_auth(&first).send().await.expect("list");
    assert_eq!(listed.status(), StatusCode::OK);
    let text = listed.text().await.expect("text");
    for k in [&first, &short, &share_only, &revocable] {
        assert!(!text.contains(k.as_str()), "a listed key shows itself");
    }
    let list: Value = serde_json::from_str(&text).expect("json");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i.get("key").is_none()));
    let used = items.iter().filter(|i| i["last_used_at"].is_i64()).count();
    assert_eq!(used, 2, "the first key and the one that shared have a last-used time: {list}");

    // A share-only key can't revoke a key that can also read; the first key can.
    let resp = app.http.delete(app.url(&format!("/api/v2/keys/{id}"))).bearer_auth(&share_only).send().await;
    assert_eq!(resp.expect("revoke").status(), StatusCode::FORBIDDEN);
    let resp = app.http.delete(app.url(&format!("/api/v2/keys/{id}"))).bearer_auth(&first).send().await;
    assert_eq!(resp.expect("revoke").status(), StatusCode::NO_CONTENT);
    let resp = app.http.delete(app.url(&format!("/api/v2/keys/{id}"))).bearer_auth(&first).send().await;
    assert_eq!(resp.expect("revoke again").status(), StatusCode::NOT_FOUND);
    assert_eq!(share(revocable.clone()).await, StatusCode::UNAUTHORIZED, "revoked");
    let v1 =
        app.http.post(app.url("/api/v1/share")).basic_auth(email, Some(&revocable)).form(&[("secret", "x")]);
    let v1 = v1.send().await.expect("v1");
    assert_eq!(v1.headers()["x-ots-intended-status"], "401", "revoked on v1 too");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(share(short).await, StatusCode::UNAUTHORIZED, "expired");
    assert_eq!(share(first).await, StatusCode::CREATED);
}
