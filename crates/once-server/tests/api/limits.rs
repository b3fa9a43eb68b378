//! Per-client rate limits over real HTTP: exactly the quota passes, then 429 with `Retry-After`,
//! in each API's shape; previews are not counted.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

async fn app(create: u32, reveal: u32, signin: u32) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        c.limits.enabled = true;
        c.limits.create_per_minute = create;
        c.limits.reveal_per_minute = reveal;
        c.limits.signin_per_minute = signin;
    })
    .await
}

#[tokio::test]
async fn exactly_the_quota_passes_then_429_with_retry_after() {
    let app = app(5, 3, 2).await;
    let v1 =
        |secret: &'static str| app.http.post(app.url("/api/v1/share")).form(&[("secret", secret)]).send();
    let mut keys = Vec::new();
    for _ in 0..4 {
        let m: Value = v1("s").await.expect("share").json().await.expect("json");
        keys.push(m["secret_key"].as_str().expect("key").to_owned());
    }
    let created: Value = app
        .http
        .post(app.url("/api/v2/secrets"))
        .json(&json!({"secret": "s"}))
        .send()
        .await
        .expect("v2")
        .json()
        .await
        .expect("json");
    keys.push(created["secret_key"].as_str().expect("key").to_owned());

    // The sixth create, whatever the API: refused, with the wait (60 s / 5 = 12 s).
    let r = v1("s").await.expect("share");
    assert_eq!(
        (r.status(), r.headers()["x-ots-intended-status"].to_str().ok()),
        (StatusCode::NOT_FOUND, Some("429"))
    );
    assert_eq!(r.headers()["retry-after"], "12");
    let r = app.http.post(app.url("/api/v2/secrets")).json(&json!({"secret": "s"})).send().await.expect("v2");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "12");
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "rate_limited");
    let r = app
        .http
        .post(app.url("/"))
        .header("accept-language", "ko")
        .form(&[("secret", "s"), ("ttl", "3600"), ("views", "1")])
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "12");
    assert!(
        r.text().await.expect("body").contains("요청이 너무 많습니다"),
        "the page in the asker's language"
    );

    // Reveals count separately; previews not at all.
    for k in &keys[..3] {
        let p = app.http.get(app.url(&format!("/api/v2/secrets/{k}"))).send().await.expect("preview");
        assert_eq!(p.status(), StatusCode::OK);
        let r = app.http.post(app.url(&format!("/api/v1/secret/{k}"))).send().await.expect("reveal");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app.http.post(app.url(&format!("/api/v1/secret/{}", keys[3]))).send().await.expect("reveal");
    assert_eq!(r.headers()["x-ots-intended-status"], "429", "the fourth reveal");
    assert_eq!(r.headers()["retry-after"], "20");
    let p = app.http.get(app.url(&format!("/api/v2/secrets/{}", keys[3]))).send().await.expect("preview");
    assert_eq!(p.status(), StatusCode::OK, "a refused reveal consumed nothing");

    // Sign-in attempts: two, then refused before any password is checked.
    for _ in 0..2 {
        let r = app
            .http
            .post(app.url("/signin"))
            .form(&[("email", "a@example.com"), ("password", "x")])
            .send()
            .await;
        assert_ne!(r.expect("signin").status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let r =
        app.http.post(app.url("/signin")).form(&[("email", "a@example.com"), ("password", "x")]).send().await;
    assert_eq!(r.expect("signin").status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn past_the_key_derivation_queue_a_passphrase_check_gets_503_at_once() {
    // One derivation at a time, one waiting, each slow enough to overlap (Argon2id, 64 MiB).
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.crypto.kdf_concurrency = 1;
        c.crypto.kdf_queue = 1;
        c.crypto.passphrase_m_cost_kib = 64 * 1024;
        c.crypto.passphrase_t_cost = 3;
    })
    .await;
    let created: Value = app
        .http
        .post(app.url("/api/v1/share"))
        .form(&[("secret", "behind a passphrase"), ("passphrase", "right")])
        .send()
        .await
        .expect("share")
        .json()
        .await
        .expect("json");
    let key = created["secret_key"].as_str().expect("key").to_owned();
    let guesses = (0..12).map(|i| {
        let (http, url) = (app.http.clone(), app.url(&format!("/api/v2/secrets/{key}/reveal")));
        async move {
            let resp = http
                .post(url)
                .json(&json!({ "passphrase": format!("wrong {i}") }))
                .send()
                .await
                .expect("reveal");
            let retry = resp.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
            let status = resp.status();
            let body: Value = resp.json().await.expect("json");
            (status, retry, body["error"]["code"].as_str().map(str::to_owned))
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!busy.is_empty(), "twelve at once against room for two: {answers:?}");
    for (_, retry, code) in &busy {
        assert_eq!((retry.as_deref(), code.as_deref()), (Some("1"), Some("unavailable")));
    }
    for (status, _, _) in &answers {
        assert!(
            *status == StatusCode::NOT_FOUND || *status == StatusCode::SERVICE_UNAVAILABLE,
            "a wrong passphrase or busy, nothing else: {answers:?}"
        );
    }
    // Busy answers count no failure: the secret (cap 5) is still there for the right passphrase
    // unless five wrong ones were actually checked.
    let checked = answers.iter().filter(|(s, _, _)| *s == StatusCode::NOT_FOUND).count();
    let right = app
        .http
        .post(app.url(&format!("/api/v2/secrets/{key}/reveal")))
        .json(&json!({ "passphrase": "right" }))
        .send()
        .await
        .expect("reveal");
    if checked < 5 {
        assert_eq!(right.status(), StatusCode::OK, "{checked} wrong passphrases were checked");
    }
}
