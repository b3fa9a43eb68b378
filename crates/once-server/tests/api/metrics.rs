//! `/metrics`: counters move with API v1 traffic, requests are labelled by route template, and no
//! secret, passphrase or key ever shows up in the exposition.

use std::time::Duration;

use once_client::ShareOptions;
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};

/// The value of one series (`name{labels}` exactly as rendered), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn assert_series(text: &str, series: &str, expected: f64) {
    assert_eq!(value(text, series), Some(expected), "{series} in\n{text}");
}

#[tokio::test]
async fn secret_lifecycle_is_counted_by_route_without_leaking_anything() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let secret = "canary-secret-value-7f3a91";
    let passphrase = "canary-passphrase-c0ffee";
    let wrong = "canary-wrong-passphrase-d00d";
    let opts = ShareOptions { passphrase: Some(passphrase.into()), ..ShareOptions::default() };

    // Created, a wrong passphrase, then revealed.
    let m = app.client.share(secret, &opts).await.expect("share");
    let key = m.secret_key.clone().expect("secret key");
    assert!(app.client.reveal(&key, Some(wrong)).await.is_err());
    assert_eq!(app.client.reveal(&key, Some(passphrase)).await.expect("reveal").value, secret);

    // Created, receipt viewed, burned by the sender.
    let other = app.client.share("canary-burned-value-55aa", &ShareOptions::default()).await.expect("share");
    let other_key = other.secret_key.clone().expect("secret key");
    app.client.receipt(&other.metadata_key).await.expect("receipt");
    app.client.burn(&other.metadata_key).await.expect("burn");

    // A generated password.
    let generated = app.client.generate(Some(24), &ShareOptions::default()).await.expect("generate");
    let generated_value = generated.value.clone().expect("generated value");

    // A path no route matches, with a token-like segment.
    let resp = app.http.get(app.url("/api/v1/nowhere/canarytokenzz9")).send().await.expect("unmatched");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let resp = app.http.get(app.url("/metrics")).send().await.expect("metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain; version=0.0.4"));
    let text = resp.text().await.expect("body");

    assert_series(&text, "once_secrets_created_total", 3.0);
    assert_series(&text, "once_secrets_revealed_total", 1.0);
    assert_series(&text, "once_passphrase_failures_total", 1.0);
    assert_series(&text, r#"once_secrets_burned_total{reason="sender"}"#, 1.0);
    assert_series(&text, r#"once_secrets_burned_total{reason="passphrase_failures"}"#, 0.0);
    assert_series(&text, "once_receipts_viewed_total", 1.0);
    assert_series(&text, r#"once_store_errors_total{source="request"}"#, 0.0);

    let requests = |method: &str, route: &str, status: u16| {
        value(
            &text,
            &format!(r#"once_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#),
        )
    };
    assert_eq!(requests("POST", "/api/v1/share", 200), Some(2.0), "{text}");
    assert_eq!(requests("POST", "/api/v1/generate", 200), Some(1.0), "{text}");
    // The wrong passphrase is OTS's 404 "Unknown secret".
    assert_eq!(requests("POST", "/api/v1/secret/{key}", 404), Some(1.0), "{text}");
    assert_eq!(requests("POST", "/api/v1/secret/{key}", 200), Some(1.0), "{text}");
    assert_eq!(requests("GET", "/api/v1/receipt/{key}", 200), Some(1.0), "{text}");
    assert_eq!(requests("POST", "/api/v1/receipt/{key}/burn", 200), Some(1.0), "{text}");
    assert_eq!(requests("GET", "unmatched", 404), Some(1.0), "{text}");
    assert!(
        text.contains(
            r#"once_http_request_duration_seconds_bucket{method="POST",route="/api/v1/secret/{key}",status="200",le="+Inf"} 1"#
        ),
        "{text}"
    );

    for canary in [
        secret,
        passphrase,
        wrong,
        "canary",
        key.as_str(),
        m.metadata_key.as_str(),
        other_key.as_str(),
        other.metadata_key.as_str(),
        generated.metadata_key.as_str(),
        generated_value.as_str(),
    ] {
        assert!(!text.contains(canary), "{canary:?} leaked into /metrics:\n{text}");
    }
}

#[tokio::test]
async fn the_passphrase_cap_counts_a_burn_and_every_failure() {
    let app = TestApp::spawn_with(Backend::Memory, |c| c.secrets.max_passphrase_failures = 2).await;
    let opts = ShareOptions { passphrase: Some("right".into()), ..ShareOptions::default() };
    let m = app.client.share("s", &opts).await.expect("share");
    let key = m.secret_key.expect("secret key");
    for _ in 0..2 {
        assert!(app.client.reveal(&key, Some("wrong")).await.is_err());
    }
    let text = app.metrics().await;
    assert_series(&text, "once_passphrase_failures_total", 2.0);
    assert_series(&text, r#"once_secrets_burned_total{reason="passphrase_failures"}"#, 1.0);
    assert_series(&text, r#"once_secrets_burned_total{reason="sender"}"#, 0.0);
    assert_series(&text, "once_secrets_revealed_total", 0.0);
}

#[tokio::test]
async fn applications_in_one_process_keep_separate_counts() {
    let busy = TestApp::spawn(Backend::Memory).await;
    let idle = TestApp::spawn(Backend::Memory).await;
    busy.client.share("s", &ShareOptions::default()).await.expect("share");
    assert_series(&busy.metrics().await, "once_secrets_created_total", 1.0);
    assert_series(&idle.metrics().await, "once_secrets_created_total", 0.0);
}

#[tokio::test]
async fn the_sweeper_counts_expired_rows() {
    let app = TestApp::spawn_with(Backend::Memory, |c| {
        c.secrets.min_ttl = 1;
        c.sweeper.interval_secs = 1;
    })
    .await;
    let opts = ShareOptions { ttl: Some(1), ..ShareOptions::default() };
    app.client.share("s", &opts).await.expect("share");
    // The secret expires after 1 s and its receipt after 2 s; the sweeper runs every second.
    let mut purged = 0.0;
    for _ in 0..50 {
        purged = value(&app.metrics().await, "once_expired_rows_purged_total").expect("series");
        if purged >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(purged, 2.0, "the secret and its receipt");
}

#[tokio::test]
async fn disabled_metrics_are_not_served() {
    let app = TestApp::spawn_with(Backend::Memory, |c| c.metrics.enabled = false).await;
    let resp = app.http.get(app.url("/metrics")).send().await.expect("metrics");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Everything else works as before.
    app.client.share("s", &ShareOptions::default()).await.expect("share");
}
