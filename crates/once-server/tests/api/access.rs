//! Access policies over HTTP: networks, countries (a real .mmdb file), not-before and weekly
//! hours. Every test client connects from 127.0.0.1; a trusted proxy's `X-Forwarded-For` stands
//! in for other addresses.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

async fn create(app: &TestApp, body: Value) -> reqwest::Response {
    app.http.post(app.url("/api/v2/secrets")).json(&body).send().await.expect("create")
}

async fn created(app: &TestApp, body: Value) -> (String, String) {
    let resp = create(app, body).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let c: Value = resp.json().await.expect("json");
    (
        c["secret_key"].as_str().expect("key").to_owned(),
        c["receipt_key"].as_str().expect("receipt").to_owned(),
    )
}

async fn reveal(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut r = app.http.post(app.url(&format!("/api/v2/secrets/{key}/reveal")));
    if let Some(ip) = forwarded_for {
        r = r.header("x-forwarded-for", ip);
    }
    r.send().await.expect("reveal")
}

async fn refused(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let e: Value = resp.json().await.expect("json");
    assert_eq!(e["error"]["code"], "forbidden", "{e}");
    let m = e["error"]["message"].as_str().expect("message");
    assert!(m.contains("can't be opened from this network or at this time"), "neutral: {m}");
}

async fn views_used(app: &TestApp, receipt: &str) -> i64 {
    let resp = app.http.get(app.url(&format!("/api/v2/receipts/{receipt}"))).send().await.expect("receipt");
    let r: Value = resp.json().await.expect("json");
    r["views"].as_i64().expect("views")
}

#[tokio::test]
async fn a_network_allow_list_refuses_other_addresses_and_consumes_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (office, office_receipt) =
        created(&app, json!({"secret": "office", "access": {"networks": ["10.0.0.0/8"]}})).await;
    for _ in 0..3 {
        refused(reveal(&app, &office, None).await).await;
        let preview =
            app.http.get(app.url(&format!("/api/v2/secrets/{office}"))).send().await.expect("preview");
        assert_eq!(preview.status(), StatusCode::FORBIDDEN);
    }
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    refused(reveal(&app, &office, Some("10.1.2.3")).await).await;
    // API v1 answers the OTS way (404 with a message), and consumes nothing either.
    let v1 = app.http.post(app.url(&format!("/api/v1/secret/{office}"))).send().await.expect("v1");
    assert_eq!(v1.status(), StatusCode::NOT_FOUND);
    assert_eq!(views_used(&app, &office_receipt).await, 0, "nothing consumed");

    let (local, _) =
        created(&app, json!({"secret": "local", "access": {"networks": ["127.0.0.1", "::1"]}})).await;
    let resp = reveal(&app, &local, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json")["value"], "local");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_visitor() {
    let app =
        TestApp::spawn_with(Backend::Memory, |c| c.http.trusted_proxies = vec!["127.0.0.1/32".into()]).await;
    let (office, _) =
        created(&app, json!({"secret": "office", "access": {"networks": ["10.0.0.0/8"]}})).await;
    refused(reveal(&app, &office, Some("192.0.2.1")).await).await;
    refused(reveal(&app, &office, None).await).await;
    let resp = reveal(&app, &office, Some("10.1.2.3")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json")["value"], "office");
}

/// A country database where 127.0.0.0/8 is Korea and 10.0.0.0/8 the United States.
fn country_db(dir: &std::path::Path) -> std::path::PathBuf {
    let mut writer = mmdb_writer::Writer::new("Once-Test-Country");
    let record = |code: &str| json!({"country": {"iso_code": code, "names": {"en": code}}});
    writer.insert("127.0.0.0/8".parse::<ipnet::IpNet>().expect("net"), &record("KR")).expect("insert");
    writer.insert("10.0.0.0/8".parse::<ipnet::IpNet>().expect("net"), &record("US")).expect("insert");
    let path = dir.join("country.mmdb");
    std::fs::write(&path, writer.to_bytes().expect("mmdb")).expect("write");
    path
}

#[tokio::test]
async fn countries_are_looked_up_in_the_geoip_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = country_db(dir.path());
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.access.geoip_db = Some(db.clone());
        c.http.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let (korea, korea_receipt) =
        created(&app, json!({"secret": "kr", "access": {"countries": ["kr"]}})).await;
    refused(reveal(&app, &korea, Some("10.9.9.9")).await).await;
    refused(reveal(&app, &korea, Some("192.0.2.1")).await).await;
    assert_eq!(views_used(&app, &korea_receipt).await, 0);
    let resp = reveal(&app, &korea, None).await;
    assert_eq!(resp.status(), StatusCode::OK, "127.0.0.1 is in Korea in this database");

    // Both conditions must hold.
    let (both, _) = created(
        &app,
        json!({"secret": "both", "access": {"countries": ["US"], "networks": ["10.1.0.0/16"]}}),
    )
    .await;
    refused(reveal(&app, &both, Some("10.9.9.9")).await).await;
    assert_eq!(reveal(&app, &both, Some("10.1.2.3")).await.status(), StatusCode::OK);

    // Without a database, countries can't be asked for.
    let plain = TestApp::spawn(Backend::Memory).await;
    let resp = create(&plain, json!({"secret": "kr", "access": {"countries": ["KR"]}})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let e: Value = resp.json().await.expect("json");
    assert!(e["error"]["message"].as_str().expect("message").contains("GeoIP"), "{e}");
}

#[tokio::test]
async fn not_before_and_weekly_hours_open_a_secret_only_then() {
    let app = TestApp::spawn(Backend::Memory).await;
    let now = once_core::Clock::now(&once_core::SystemClock);
    let (later, _) = created(&app, json!({"secret": "later", "access": {"not_before": now + 3600}})).await;
    refused(reveal(&app, &later, None).await).await;
    let (now_open, _) = created(&app, json!({"secret": "now", "access": {"not_before": now - 5}})).await;
    assert_eq!(reveal(&app, &now_open, None).await.status(), StatusCode::OK);

    // Yesterday, today and tomorrow (UTC) all day, so the test does not care what time it is;
    // closed: the other four days.
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    // 1970-01-01 was a Thursday.
    let today = usize::try_from((now / 86_400 + 3) % 7).expect("day");
    let near: Vec<String> =
        [6, 0, 1].iter().map(|d| format!("{} 00:00-24:00", days[(today + d) % 7])).collect();
    let far: Vec<String> = (2..6).map(|d| format!("{} 00:00-24:00", days[(today + d) % 7])).collect();
    let (closed, _) =
        created(&app, json!({"secret": "closed", "access": {"hours": {"time_zone": "UTC", "weekly": far}}}))
            .await;
    refused(reveal(&app, &closed, None).await).await;
    let (open, _) =
        created(&app, json!({"secret": "open", "access": {"hours": {"time_zone": "UTC", "weekly": near}}}))
            .await;
    assert_eq!(reveal(&app, &open, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_policies_are_refused_with_the_reason() {
    let app = TestApp::spawn(Backend::Memory).await;
    let cases = [
        (json!({"networks": ["10.0.0.0/33"]}), "not a network"),
        (json!({"networks": ["intranet"]}), "not a network"),
        (json!({"hours": {"time_zone": "Mars/Olympus", "weekly": ["mon 09:00-10:00"]}}), "unknown time zone"),
        (json!({"hours": {"time_zone": "UTC", "weekly": ["someday 09:00-10:00"]}}), "not opening hours"),
        (json!({"hours": {"time_zone": "UTC", "weekly": ["mon 25:00-26:00"]}}), "not opening hours"),
        (json!({"networks": vec!["10.0.0.0/8"; 65]}), "at most 64 networks"),
        (json!({"colour": "blue"}), "unknown field"),
    ];
    for (access, reason) in cases {
        let resp = create(&app, json!({"secret": "s", "access": access})).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{access}");
        let e: Value = resp.json().await.expect("json");
        assert!(e["error"]["message"].as_str().expect("message").contains(reason), "{access}: {e}");
    }
}

#[tokio::test]
async fn the_web_form_sets_limits_and_the_recipient_sees_a_neutral_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let home = http.get(app.url("/")).send().await.expect("home");
    let cookie =
        home.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_owned();
    let token = cookie.trim_start_matches("once_csrf=").to_owned();
    let body = home.text().await.expect("body");
    assert!(
        body.contains("id=\"access_networks\"") && !body.contains("id=\"access_countries\""),
        "no GeoIP here"
    );

    let post = |networks: &'static str, hours: &'static str, tz: &'static str| {
        let form = [
            ("secret", "FORM-ACCESS-CANARY"),
            ("ttl", "3600"),
            ("views", "1"),
            ("access_networks", networks),
            ("access_hours", hours),
            ("access_tz", tz),
            ("_csrf", token.as_str()),
        ];
        http.post(app.url("/")).header("cookie", &cookie).form(&form).send()
    };
    let bad = post("10.0.0.0/8", "mon 09:00", "Asia/Seoul").await.expect("create");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body = bad.text().await.expect("body");
    assert!(
        body.contains("Check the access limits") && body.contains("value=\"10.0.0.0/8\""),
        "kept: {body}"
    );

    let resp = post("10.0.0.0/8, 192.168.0.0/16", "", "Asia/Seoul").await.expect("create");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let receipt = resp.headers()["location"].to_str().expect("location").to_owned();
    let body = http.get(app.url(&receipt)).send().await.expect("receipt").text().await.expect("body");
    let at = body.find("/secret/").expect("secret link");
    let secret_path: String =
        body[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '/').collect();

    let preview = http.get(app.url(&secret_path)).send().await.expect("preview");
    assert_eq!(preview.status(), StatusCode::FORBIDDEN);
    let body = preview.text().await.expect("body");
    assert!(body.contains("Not available here or now") && !body.contains("10.0.0.0"), "neutral: {body}");
    let form = [("_csrf", token.as_str())];
    let resp =
        http.post(app.url(&secret_path)).header("cookie", &cookie).form(&form).send().await.expect("reveal");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(!resp.text().await.expect("body").contains("FORM-ACCESS-CANARY"));
    let body = http.get(app.url(&receipt)).send().await.expect("receipt").text().await.expect("body");
    let state = body.split("class=\"state state-").nth(1).expect("state").split('"').next().expect("class");
    assert!(state == "new" || state == "viewed", "nothing consumed: {state}");
}
