use std::sync::Arc;

use once_client::{ClientError, ShareOptions};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

fn intended(resp: &reqwest::Response) -> Option<u16> {
    resp.headers().get("x-ots-intended-status")?.to_str().ok()?.parse().ok()
}

async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("json body")
}

#[tokio::test]
async fn share_then_reveal_once_with_ots_shapes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp =
        app.http.post(app.url("/api/v1/share")).body("secret=hi&ttl=3600").send().await.expect("share");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let m = json(resp).await;
    assert_eq!(m["custid"], "anon");
    assert_eq!(m["state"], "new");
    assert_eq!(m["ttl"], 3600);
    assert_eq!(m["secret_ttl"], 3600);
    assert_eq!(m["metadata_ttl"], 7200);
    assert!(m["created"].is_i64() && m["updated"].is_i64());
    assert_eq!(m["passphrase_required"], false);
    assert_eq!(m["recipient"], Value::Array(vec![]));
    assert!(m.get("received").is_none());
    let key = m["secret_key"].as_str().expect("secret_key").to_owned();
    let mkey = m["metadata_key"].as_str().expect("metadata_key").to_owned();
    assert_eq!(key.len(), 50);
    assert!(m["metadata_url"].as_str().expect("metadata_url").ends_with(&format!("/receipt/{mkey}")));

    let resp = app.http.post(app.url(&format!("/api/v1/secret/{key}"))).send().await.expect("reveal");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let s = json(resp).await;
    assert_eq!(s["value"], "hi");
    assert_eq!(s["secret_key"], key.as_str());
    assert_eq!(s["share_domain"], app.base.as_str(), "the origin, as OTS ≥ 0.19");

    let resp = app.http.post(app.url(&format!("/api/v1/secret/{key}"))).send().await.expect("again");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(intended(&resp), Some(404));
    let e = json(resp).await;
    assert_eq!(e["message"], "Unknown secret");
    assert_eq!(e["secret_key"], key.as_str());

    let r = app.client.receipt(&mkey).await.expect("receipt");
    assert_eq!(r.state, "received");
    assert!(r.received.is_some());
    assert!(r.secret_key.is_none() && r.secret_ttl.is_none());
}

#[tokio::test]
async fn parameters_come_from_query_json_and_multipart_too() {
    let app = TestApp::spawn(Backend::Memory).await;
    let via_query = app.http.post(app.url("/api/v1/share?secret=q&ttl=600")).send().await.expect("query");
    let via_json = app
        .http
        .post(app.url("/api/v1/create"))
        .json(&serde_json::json!({"secret": "j", "ttl": 600}))
        .send()
        .await
        .expect("json");
    let form = reqwest::multipart::Form::new().text("secret", "m").text("ttl", "600");
    let via_multipart =
        app.http.post(app.url("/api/v1/share")).multipart(form).send().await.expect("multipart");
    for (resp, value) in [(via_query, "q"), (via_json, "j"), (via_multipart, "m")] {
        assert_eq!(resp.status(), StatusCode::OK);
        let m = json(resp).await;
        assert_eq!(m["ttl"], 600);
        let key = m["secret_key"].as_str().expect("key");
        assert_eq!(app.client.reveal(key, None).await.expect("reveal").value, value);
    }
}

#[tokio::test]
async fn generate_returns_a_password_that_reveals_once() {
    let app = TestApp::spawn(Backend::Memory).await;
    let m = app.client.generate(None, &ShareOptions::default()).await.expect("generate");
    let value = m.value.clone().expect("value");
    assert_eq!(value.chars().count(), 12);
    let key = m.secret_key.expect("secret_key");
    assert_eq!(app.client.reveal(&key, None).await.expect("reveal").value, value);
    let m = app.client.generate(Some(32), &ShareOptions::default()).await.expect("generate 32");
    assert_eq!(m.value.expect("value").chars().count(), 32);
    let err = app.client.generate(Some(3), &ShareOptions::default()).await.expect_err("too short");
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn receipt_shows_the_link_once_and_burn_destroys() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let m = app.client.share("hi", &ShareOptions::default()).await.expect("share");
    let key = m.secret_key.clone().expect("key");
    for prefix in ["private", "metadata", "receipt"] {
        let resp =
            app.http.get(app.url(&format!("/api/v1/{prefix}/{}", m.metadata_key))).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::OK, "{prefix}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let r = json(resp).await;
        assert_eq!(r["state"], "viewed", "the first open reports the state it leaves behind (OTS ≥ 0.20)");
        if prefix == "private" {
            assert_eq!(r["secret_key"], key.as_str());
        } else {
            assert!(r.get("secret_key").is_none());
        }
    }
    let b = app.client.burn(&m.metadata_key).await.expect("burn");
    assert_eq!(b.state.state, "burned");
    assert!(matches!(app.client.reveal(&key, None).await, Err(ClientError::Api { status: 404, .. })));
    assert_eq!(app.client.receipt(&m.metadata_key).await.expect("receipt").state, "burned");
    let resp = app
        .http
        .post(app.url(&format!("/api/v1/private/{}/burn", m.metadata_key)))
        .send()
        .await
        .expect("burn");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let e = json(resp).await;
    assert_eq!(e["message"], "Unknown secret");
    assert_eq!(e["secret_key"], m.metadata_key.as_str(), "OTS echoes the key from the path");
}

#[tokio::test]
async fn wrong_passphrase_never_consumes_and_the_cap_burns() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let opts = ShareOptions { passphrase: Some("tr0ub4dor".into()), ..ShareOptions::default() };
    let m = app.client.share("guarded", &opts).await.expect("share");
    assert!(m.passphrase_required);
    let key = m.secret_key.clone().expect("key");
    for _ in 0..4 {
        let e = app.client.reveal(&key, Some("wrong")).await.expect_err("wrong");
        assert!(
            matches!(e, ClientError::Api { status: 404, http_status: 404, ref message } if message == "Unknown secret")
        );
    }
    assert_eq!(app.client.reveal(&key, Some("tr0ub4dor")).await.expect("right").value, "guarded");

    let m = app.client.share("guarded", &opts).await.expect("share");
    let key = m.secret_key.clone().expect("key");
    for _ in 0..5 {
        app.client.reveal(&key, Some("wrong")).await.expect_err("wrong");
    }
    app.client.reveal(&key, Some("tr0ub4dor")).await.expect_err("burned by the cap");
    assert_eq!(app.client.receipt(&m.metadata_key).await.expect("receipt").state, "burned");
}

#[tokio::test]
async fn basic_auth_accounts_and_recent() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let api_key = app.add_user("alice@example.com").await;
    let alice = app.client.clone().with_auth("alice@example.com", &api_key);
    assert_eq!(alice.authcheck().await.expect("authcheck").status, "nominal");
    let anon = app.client.authcheck().await.expect_err("anonymous authcheck");
    assert_eq!(anon.status(), Some(401));
    let wrong = app.client.clone().with_auth("alice@example.com", "once_wrong");
    // Wrong credentials are refused even where anonymous callers are allowed.
    assert_eq!(wrong.share("x", &ShareOptions::default()).await.expect_err("wrong key").status(), Some(401));
    let mut made = Vec::new();
    for i in 0..3 {
        let m = alice.share(&format!("s{i}"), &ShareOptions::default()).await.expect("share");
        assert_eq!(m.custid, "alice@example.com");
        made.push(m.metadata_key);
    }
    app.client.share("anon", &ShareOptions::default()).await.expect("anon share");
    let recent = alice.recent().await.expect("recent");
    let keys: Vec<String> = recent.iter().map(|m| m.metadata_key.clone()).collect();
    let mut expected = made.clone();
    expected.sort();
    let mut got = keys.clone();
    got.sort();
    assert_eq!(got, expected);
    assert!(recent.iter().all(|m| m.secret_key.is_none()));
    assert!(recent.windows(2).all(|w| w[0].created >= w[1].created));
    assert_eq!(app.client.recent().await.expect_err("anonymous recent").status(), Some(401));

    // Pages of 2 walk all three, newest first, with the cursor header.
    let page1 = app
        .http
        .get(app.url("/api/v1/private/recent?limit=2"))
        .basic_auth("alice@example.com", Some(&api_key))
        .send()
        .await
        .expect("page 1");
    let cursor = page1.headers()["x-once-next-cursor"].to_str().expect("cursor").to_owned();
    let page1: Vec<Value> = page1.json().await.expect("json");
    let page2 = app
        .http
        .get(app.url("/api/v1/private/recent"))
        .query(&[("limit", "2"), ("cursor", cursor.as_str())])
        .basic_auth("alice@example.com", Some(&api_key))
        .send()
        .await
        .expect("page 2");
    assert!(page2.headers().get("x-once-next-cursor").is_none());
    let page2: Vec<Value> = page2.json().await.expect("json");
    let walked: Vec<String> =
        page1.iter().chain(&page2).map(|m| m["metadata_key"].as_str().expect("key").to_owned()).collect();
    assert_eq!(walked, keys);
}

#[tokio::test]
async fn hostile_input_gets_a_clear_4xx() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.secrets.max_size = 1000;
        c.http.max_body_bytes = 4000;
    })
    .await;
    let post = |path: &str, body: Vec<u8>, ctype: &str| {
        app.http.post(app.url(path)).header("content-type", ctype.to_owned()).body(body).send()
    };
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, Vec<u8>, &str, u16)> = vec![
        ("/api/v1/share", b"secret=".to_vec(), form, 400),
        ("/api/v1/share", b"ttl=60".to_vec(), form, 400),
        ("/api/v1/share", b"secret=x&ttl=-1".to_vec(), form, 400),
        ("/api/v1/share", b"secret=x&ttl=1e309".to_vec(), form, 400),
        ("/api/v1/share", b"secret=x&ttl=abc".to_vec(), form, 400),
        ("/api/v1/share", b"secret=x&ttl=9223372036854775808".to_vec(), form, 400),
        ("/api/v1/share", b"secret=x&ttl=1.5".to_vec(), form, 400),
        ("/api/v1/share", b"secret=%ff%fe".to_vec(), form, 400),
        ("/api/v1/share", b"secret=\xff\xfe".to_vec(), form, 400),
        ("/api/v1/share", br#"{"secret": "\ud800"}"#.to_vec(), "application/json", 400),
        ("/api/v1/share", br#"{"secret": ["a"]}"#.to_vec(), "application/json", 400),
        ("/api/v1/share", b"[1,2".to_vec(), "application/json", 400),
        ("/api/v1/share", b"secret=x".to_vec(), "text/xml", 415),
        ("/api/v1/share", format!("secret={}", "x".repeat(1001)).into_bytes(), form, 413),
        ("/api/v1/share", format!("secret={}", "x".repeat(5000)).into_bytes(), form, 413),
        ("/api/v1/share", b"secret=x&recipient=not-an-email".to_vec(), form, 400),
        ("/api/v1/generate", b"length=abc".to_vec(), form, 400),
        ("/api/v1/generate", b"length=100000".to_vec(), form, 400),
    ];
    for (path, body, ctype, want) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        let resp = post(path, body, ctype).await.expect("send");
        let code = intended(&resp).unwrap_or(resp.status().as_u16());
        assert_eq!(code, want, "{path} {shown:?} → {}", resp.status());
        assert!(resp.status().is_client_error(), "{shown:?}");
        let body: Value = resp.json().await.expect("JSON error body");
        assert!(body["message"].is_string(), "{shown:?}");
    }
    // Recipients are recorded and shown obscured.
    let m = app
        .http
        .post(app.url("/api/v1/share"))
        .body("secret=x&recipient=alice%40example.com")
        .send()
        .await
        .expect("r");
    assert_eq!(json(m).await["recipient"], serde_json::json!(["al*****@e*****.com"]));
    // TTL out of range is clamped silently.
    let m = app.http.post(app.url("/api/v1/share")).body("secret=x&ttl=1").send().await.expect("ttl 1");
    assert_eq!(json(m).await["ttl"], 60);
    let m =
        app.http.post(app.url("/api/v1/share")).body("secret=x&ttl=99999999999").send().await.expect("big");
    assert_eq!(json(m).await["ttl"], app.config.secrets.max_ttl);

    // Malformed keys: the same "Unknown secret" as a consumed one, never a 5xx.
    for key in ["%00", "..", "%2e%2e%2f", "a", &"k".repeat(8192), "%ff", "abc%0d%0aX-Injected:%201"] {
        let resp = app.http.post(app.url(&format!("/api/v1/secret/{key}"))).send().await.expect("reveal");
        assert!(resp.status().is_client_error(), "{key}: {}", resp.status());
        let resp = app.http.get(app.url(&format!("/api/v1/receipt/{key}"))).send().await.expect("receipt");
        assert!(resp.status().is_client_error(), "{key}: {}", resp.status());
        assert!(resp.headers().get("x-injected").is_none());
    }
    // Bad Basic headers.
    for h in ["Basic", "Basic !!!", "Bearer x", "Basic Zm9v", "Basic OmtleQ=="] {
        let resp = app
            .http
            .post(app.url("/api/v1/share"))
            .header("authorization", h)
            .body("secret=x")
            .send()
            .await
            .expect("send");
        assert_eq!(intended(&resp), Some(401), "{h}");
    }
    // Still healthy afterwards.
    assert_eq!(app.http.get(app.url("/healthz")).send().await.expect("health").status(), StatusCode::OK);
}

#[tokio::test]
async fn security_headers_and_health() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for path in ["/healthz", "/readyz", "/api/v1/status"] {
        let resp = app.http.get(app.url(path)).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let h = resp.headers();
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-security-policy"].to_str().expect("csp").contains("frame-ancestors 'none'"));
    }
    let status = app.client.status().await.expect("status");
    assert_eq!(status.status, "nominal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_reveals_one_winner() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let m =
        json(app.http.post(app.url("/api/v1/share")).body("secret=only-once").send().await.expect("share"))
            .await;
    let key = m["secret_key"].as_str().expect("key").to_owned();
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (http, url, barrier) =
            (app.http.clone(), app.url(&format!("/api/v1/secret/{key}")), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let resp = http.post(url).send().await.expect("reveal");
            let status = resp.status();
            let body: Value = resp.json().await.expect("json");
            (status, body)
        }));
    }
    let mut winners = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert!(!status.is_server_error(), "{status}");
        if status == StatusCode::OK {
            assert_eq!(body["value"], "only-once");
            winners += 1;
        } else {
            assert_eq!(body["message"], "Unknown secret");
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn the_sweeper_removes_expired_rows_on_its_timer() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.secrets.min_ttl = 1;
        c.sweeper.interval_secs = 1;
    })
    .await;
    let m = app
        .client
        .share("short-lived", &ShareOptions { ttl: Some(1), ..ShareOptions::default() })
        .await
        .expect("share");
    let db = rusqlite::Connection::open(app.config.data_dir.join("once.db")).expect("open db");
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("count")
    };
    assert_eq!((count("secrets"), count("receipts")), (1, 1));
    // The secret (ttl 1 s) and then its receipt (2 × ttl) are deleted by the timer, no request needed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count("receipts") > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!((count("secrets"), count("receipts")), (0, 0));
    assert_eq!(app.client.receipt(&m.metadata_key).await.expect_err("gone").status(), Some(404));
}

#[tokio::test]
async fn a_slow_body_times_out_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(Backend::Memory, |c| c.http.request_timeout_secs = 1).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    // Promise 100 bytes, send 7, then stall.
    stream
        .write_all(b"POST /api/v1/share HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nsecret=")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut response = Vec::new();
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server must not wait forever for a body");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Nothing was stored from the half-sent request, and the server still serves.
    assert_eq!(app.http.get(app.url("/healthz")).send().await.expect("health").status(), StatusCode::OK);
}
