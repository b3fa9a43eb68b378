//! Access limits set on the zero-knowledge form: the "not before" time is read in the time zone
//! typed next to it (not the browser's own), and a visit outside a network limit sees the
//! neutral page.

use reqwest::StatusCode;
use serde_json::json;

use crate::flows::{ZkLink, api_preview};
use crate::harness::{Browser, Catalog, Opts, Site, within};

/// `YYYY-MM-DDTHH:MM` of Unix time `t`, on the wall clock of `zone`.
fn wall_clock(t: i64, zone: &str) -> String {
    let tz = jiff::tz::TimeZone::get(zone).expect("zone");
    jiff::Timestamp::from_second(t).expect("time").to_zoned(tz).strftime("%Y-%m-%dT%H:%M").to_string()
}

/// Creates a zero-knowledge secret with the access fields set as given (`(id, value)` pairs).
async fn create_limited(b: &Browser, site: &Site, fields: &[(&str, &str)]) -> ZkLink {
    let t = Catalog::get(b.opts.lang);
    b.goto(&site.url("/")).await.expect("home");
    b.wait_text("mode", t.t("mode-zk")).await;
    b.type_into("#secret", "ACCESS-LIMITED").await;
    b.click("details.access summary").await;
    for (id, value) in fields {
        // Set directly: typing into a datetime-local field depends on the browser's locale.
        b.execute(
            "document.getElementById(arguments[0]).value = arguments[1];",
            vec![json!(id), json!(value)],
        )
        .await
        .expect("set field");
    }
    b.click("#create button[type=submit]").await;
    b.wait_css("#zk-result:not([hidden]) #zk-secret-url").await;
    ZkLink::parse(site, &b.value("#zk-secret-url").await)
}

#[tokio::test]
async fn not_before_is_read_in_the_time_zone_typed_and_networks_show_the_neutral_page() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let b = Browser::open(Opts::default()).await;
        // The browser lives in New York: neither UTC nor Seoul.
        b.cdp("Emulation.setTimezoneOverride", json!({"timezoneId": "America/New_York"})).await;
        b.goto(&site.url("/")).await.expect("home");
        b.wait_text("mode", t.t("mode-zk")).await;
        assert_eq!(b.value("#access_tz").await, "America/New_York", "the browser's own zone by default");

        let now = once_core::Clock::now(&once_core::SystemClock);
        // Two minutes ago in Seoul: open now; read as New York or UTC time it would be hours away.
        let past = wall_clock(now - 120, "Asia/Seoul");
        let open =
            create_limited(&b, &site, &[("access_tz", "Asia/Seoul"), ("access_not_before", &past)]).await;
        assert_eq!(api_preview(&site, &open.key).await, StatusCode::OK, "not before {past} Seoul time");
        let future = wall_clock(now + 7200, "Asia/Seoul");
        let later =
            create_limited(&b, &site, &[("access_tz", "Asia/Seoul"), ("access_not_before", &future)]).await;
        assert_eq!(api_preview(&site, &later.key).await, StatusCode::FORBIDDEN, "not before {future}");

        let office = create_limited(&b, &site, &[("access_networks", "10.0.0.0/8, 192.168.0.0/16")]).await;
        assert_eq!(api_preview(&site, &office.key).await, StatusCode::FORBIDDEN);
        b.visit(&office.url).await;
        b.wait_text_in("h1", t.t("access-denied-title")).await;
        assert_eq!(
            api_preview(&site, &office.key).await,
            StatusCode::FORBIDDEN,
            "still there, still refused"
        );
        b.close().await;
    })
    .await;
}
