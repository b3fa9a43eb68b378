//! The receipt's reveal log: when each view happened and from which (coarse) network, through
//! API v2 and the receipt page.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

#[tokio::test]
async fn the_receipt_lists_each_reveal_with_a_coarse_network() {
    let app =
        TestApp::spawn_with(Backend::Sqlite, |c| c.http.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let resp = app
        .http
        .post(app.url("/api/v2/secrets"))
        .json(&json!({"secret": "three views", "max_views": 3}))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let c: Value = resp.json().await.expect("json");
    let (key, receipt) =
        (c["secret_key"].as_str().expect("key"), c["receipt_key"].as_str().expect("receipt"));

    for client in ["203.0.113.77", "2001:db8:abcd:12::1"] {
        let r = app
            .http
            .post(app.url(&format!("/api/v2/secrets/{key}/reveal")))
            .header("x-forwarded-for", client)
            .send()
            .await
            .expect("reveal");
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Through API v1, from the proxy itself (no X-Forwarded-For): noted as its network.
    let r = app.http.post(app.url(&format!("/api/v1/secret/{key}"))).send().await.expect("v1 reveal");
    assert_eq!(r.status(), StatusCode::OK);

    let r: Value = app
        .http
        .get(app.url(&format!("/api/v2/receipts/{receipt}")))
        .send()
        .await
        .expect("receipt")
        .json()
        .await
        .expect("json");
    assert_eq!(r["state"], "received");
    let networks: Vec<&str> = r["view_log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|e| e["network"].as_str().expect("network"))
        .collect();
    assert_eq!(networks, ["203.0.113.0/24", "2001:db8:abcd::/48", "127.0.0.0/24"]);
    assert!(r["view_log"].as_array().expect("log").iter().all(|e| e["at"].as_i64().is_some()));
    let all = r.to_string();
    assert!(!all.contains("203.0.113.77") && !all.contains("abcd:12"), "never the full address: {all}");

    let page = app.http.get(app.url(&format!("/receipt/{receipt}"))).send().await.expect("page");
    let body = page.text().await.expect("body");
    assert!(body.contains("<code>203.0.113.0/24</code>") && body.contains("<code>2001:db8:abcd::/48</code>"));
    assert!(!body.contains("203.0.113.77"));
}
