//! The Korean UI: chosen by the browser's language (Accept-Language), or by the switcher.

use crate::flows::create_zk;
use crate::harness::{Browser, Catalog, Opts, Site, tag, within, xpath_str};

#[tokio::test]
async fn korean_browser_gets_the_korean_ui() {
    within(async {
        let site = Site::spawn().await;
        let ko = Catalog::get("ko");
        let secret = format!("KO-BROWSER-{} 안녕하세요", tag());

        let sender = Browser::open(Opts::lang("ko")).await;
        sender.goto(&site.url("/")).await.expect("home");
        assert_eq!(sender.html_lang().await, "ko");
        assert_eq!(sender.text("h1").await, ko.t("home-title"));
        assert_eq!(sender.text("#create button[type=submit]").await, ko.t("create-button"));
        // Chromium asked for Korean: the server saw it.
        let sent = site.recorded_text().to_ascii_lowercase();
        assert!(sent.contains("\r\naccept-language: ko\r\n"), "Accept-Language ko was sent");
        let (link, _) = create_zk(&sender, &site, &secret, None).await; // checks the Korean texts too
        sender.close().await;

        let recipient = Browser::open(Opts::lang("ko")).await;
        recipient.goto(&link.url).await.expect("open link");
        recipient.wait_css("form#zk-reveal").await;
        assert_eq!(recipient.html_lang().await, "ko");
        assert_eq!(recipient.text("h1").await, ko.t("preview-title"));
        assert_eq!(recipient.text("#zk-reveal button[type=submit]").await, ko.t("reveal-button"));
        recipient.click("#zk-reveal button[type=submit]").await;
        let value = recipient.wait_css("#zk-revealed:not([hidden]) #zk-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(secret.as_str()));
        assert_eq!(recipient.text("#zk-revealed h2").await, ko.t("revealed-title"));
        recipient.refresh().await.expect("reload");
        assert_eq!(recipient.text("h1").await, ko.t("gone-title"));
        assert_eq!(ko.t("gone-title"), "비밀을 찾을 수 없습니다");
        recipient.goto(&site.url("/about")).await.expect("about");
        assert_eq!(recipient.text("h1").await, ko.t("about-title"));
        recipient.close().await;

        // The server-side revealed page (JavaScript off) in Korean.
        let sender = Browser::open(Opts { js: false, ..Opts::lang("ko") }).await;
        sender.goto(&site.url("/")).await.expect("home");
        assert_eq!(sender.text("#mode").await, ko.t("mode-server"));
        sender.type_into("#secret", &secret).await;
        sender.click("#create button[type=submit]").await;
        let link =
            sender.wait_css("#secret-url").await.prop("value").await.expect("value").unwrap_or_default();
        assert_eq!(sender.text("h1").await, ko.t("receipt-title"));
        sender.goto(&site.local(&link)).await.expect("open link");
        assert_eq!(sender.text("h1").await, ko.t("preview-title"));
        sender.click("main form button[type=submit]").await;
        sender.wait_css("textarea#value").await;
        assert_eq!(sender.html_lang().await, "ko");
        assert_eq!(sender.text("h1").await, ko.t("revealed-title"));
        sender.close().await;
    })
    .await;
}

#[tokio::test]
async fn language_switcher_remembers_the_choice() {
    within(async {
        let site = Site::spawn().await;
        let (en, ko) = (Catalog::get("en"), Catalog::get("ko"));
        let b = Browser::open(Opts::default()).await;
        b.goto(&site.url("/about")).await.expect("about");
        assert_eq!(b.html_lang().await, "en");
        assert_eq!(b.text("h1").await, en.t("about-title"));

        b.click("nav.langs a[hreflang=ko]").await;
        b.wait_css("html[lang=ko]").await;
        assert_eq!(b.current_url().await.expect("url").path(), "/about", "back on the same page");
        assert_eq!(b.text("h1").await, ko.t("about-title"));
        // Remembered (a cookie) over the browser's English.
        b.goto(&site.url("/")).await.expect("home");
        assert_eq!(b.html_lang().await, "ko");
        b.wait_xpath(&format!("//p[@id='mode'][.={}]", xpath_str(ko.t("mode-zk")))).await;

        b.click("nav.langs a[hreflang=en]").await;
        b.wait_css("html[lang=en]").await;
        assert_eq!(b.text("h1").await, en.t("home-title"));
        b.close().await;
    })
    .await;
}
