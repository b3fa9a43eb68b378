//! The two ways a person shares a secret, end to end in real browsers: zero-knowledge (JavaScript
//! on) and server-side (JavaScript off); and a zero-knowledge passphrase typed wrong, then right.

use reqwest::StatusCode;

use crate::harness::{
    Browser, Catalog, Opts, Site, assert_absent, contains, form_encoded, tag, within, xpath_str,
};

/// A zero-knowledge link split into the secret key (path) and the fragment key (after `#`).
pub struct ZkLink {
    /// Where a browser here opens the link (on the proxy).
    pub url: String,
    pub key: String,
    pub fragment: String,
}

impl ZkLink {
    pub fn parse(site: &Site, url: &str) -> ZkLink {
        let rest = url
            .strip_prefix(&site.public_url("/secret/"))
            .unwrap_or_else(|| panic!("a secret link on the server's public address: {url}"));
        let (key, fragment) = rest.split_once('#').unwrap_or_else(|| panic!("a #fragment: {url}"));
        assert!(!key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric()), "key {key:?}");
        assert_eq!(fragment.len(), 43, "fragment {fragment:?}");
        assert!(
            fragment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{fragment:?}"
        );
        ZkLink { url: site.local(url), key: key.to_owned(), fragment: fragment.to_owned() }
    }
}

/// On the home page (JavaScript on): waits for zero-knowledge mode, creates a secret, and returns
/// the secret link and the receipt link the page shows.
pub async fn create_zk(b: &Browser, site: &Site, secret: &str, passphrase: Option<&str>) -> (ZkLink, String) {
    let t = Catalog::get(b.opts.lang);
    b.goto(&site.url("/")).await.expect("home");
    // app.js switches the mode text once it runs (and has hooked the form's submit).
    b.wait_text("mode", t.t("mode-zk")).await;
    b.type_into("#secret", secret).await;
    if let Some(p) = passphrase {
        b.type_into("#passphrase", p).await;
    }
    b.click("#create button[type=submit]").await;
    b.wait_css("#zk-result:not([hidden]) #zk-secret-url").await;
    assert_eq!(b.text("#zk-result h2").await, t.t("created-title"));
    assert!(!b.css("#create").await.is_displayed().await.expect("displayed"), "the form is hidden");
    assert_eq!(b.value("#secret").await, "", "the secret is cleared from the form");
    let link = ZkLink::parse(site, &b.value("#zk-secret-url").await);
    let receipt = b.value("#zk-receipt-url").await;
    assert!(receipt.starts_with(&site.public_url("/receipt/")), "{receipt}");
    (link, receipt)
}

/// `GET /api/v2/secrets/{key}` straight to the server (not through the recorder): the status.
pub async fn api_preview(site: &Site, key: &str) -> StatusCode {
    let resp =
        site.app.http.get(site.app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("preview");
    resp.status()
}

/// How many times the recorder saw `GET {path} `.
fn gets(site: &Site, path: &str) -> usize {
    site.recorded_text().matches(&format!("GET {path} HTTP/1.1\r\n")).count()
}

#[tokio::test]
async fn zero_knowledge_flow_keeps_the_secret_and_the_key_from_the_server() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let token = format!("ZK-BROWSER-CANARY-{}", tag());
        let canary = format!("{token} 비밀번호 “quoted” & <b>");

        let sender = Browser::open(Opts::default()).await;
        let (link, _receipt) = create_zk(&sender, &site, &canary, None).await;
        sender.close().await;

        // The recipient, in a browser of their own: the preview consumes nothing, however often.
        let recipient = Browser::open(Opts::default()).await;
        recipient.goto(&link.url).await.expect("open link");
        for load in 0..3 {
            if load > 0 {
                recipient.refresh().await.expect("reload");
            }
            recipient.wait_css("form#zk-reveal").await;
            assert_eq!(recipient.text("h1").await, t.t("preview-title"));
            assert!(recipient.find_all(fantoccini::Locator::Id("zk-error")).await.expect("find").is_empty());
            assert_eq!(api_preview(&site, &link.key).await, StatusCode::OK, "load {load}");
        }
        assert_eq!(gets(&site, &format!("/secret/{}", link.key)), 3);

        recipient.click("#zk-reveal button[type=submit]").await;
        let value = recipient.wait_css("#zk-revealed:not([hidden]) #zk-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(canary.as_str()));
        assert_eq!(recipient.text("#zk-revealed h2").await, t.t("revealed-title"));
        // The key leaves the address bar (and this history entry) once used.
        let here = recipient.current_url().await.expect("url");
        assert_eq!(here.fragment(), None, "{here}");
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::NOT_FOUND);

        // Reloading shows the gone page.
        recipient.refresh().await.expect("reload");
        assert_eq!(recipient.text("h1").await, t.t("gone-title"));
        recipient.close().await;

        // What the server was sent: the create and the reveal, with key proofs, and never the
        // plaintext (in any encoding) or the fragment key.
        let sent = site.recorded();
        assert!(
            contains(&sent, b"POST /api/v2/secrets HTTP/1.1\r\n"),
            "the create went through the recorder"
        );
        assert!(contains(&sent, format!("POST /api/v2/secrets/{}/reveal HTTP/1.1\r\n", link.key).as_bytes()));
        assert!(contains(&sent, b"\"key_proof\"") && contains(&sent, b"\"ciphertext\""));
        assert_absent("the bytes sent to the server", &sent, &canary);
        assert_absent("the bytes sent to the server", &sent, &token);
        assert_absent("the bytes sent to the server", &sent, &link.fragment);
        // Nor is it stored.
        let db = site.db_bytes();
        assert_absent("the SQLite files", &db, &canary);
        assert_absent("the SQLite files", &db, &token);
        assert_absent("the SQLite files", &db, &link.fragment);
    })
    .await;
}

#[tokio::test]
async fn a_zero_knowledge_secret_for_two_views_says_it_works_once_more() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let secret = format!("two views {}", tag());

        let sender = Browser::open(Opts::default()).await;
        sender.goto(&site.url("/")).await.expect("home");
        sender.wait_text("mode", t.t("mode-zk")).await;
        sender.type_into("#secret", &secret).await;
        sender.type_into("#views", "2").await;
        sender.click("#create button[type=submit]").await;
        sender.wait_css("#zk-result:not([hidden]) #zk-secret-url").await;
        let link = ZkLink::parse(&site, &sender.value("#zk-secret-url").await);
        sender.close().await;

        let recipient = Browser::open(Opts::default()).await;
        for (view, note) in [(1, "The link works 1 more time."), (2, t.t("revealed-gone"))] {
            // The page drops the key from the address bar once used: open the whole link again.
            recipient.visit(&link.url).await;
            recipient.wait_css("form#zk-reveal").await;
            recipient.click("#zk-reveal button[type=submit]").await;
            let value = recipient.wait_css("#zk-revealed:not([hidden]) #zk-value").await;
            assert_eq!(
                value.prop("value").await.expect("value").as_deref(),
                Some(secret.as_str()),
                "view {view}"
            );
            assert_eq!(recipient.text("#zk-revealed-note").await, note, "view {view}");
        }
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::NOT_FOUND);
        recipient.close().await;
    })
    .await;
}

#[tokio::test]
async fn server_side_flow_without_javascript() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let token = format!("SERVER-BROWSER-CANARY-{}", tag());
        let canary = format!("{token} 비밀 & <i>");

        let sender = Browser::open(Opts::no_js()).await;
        sender.goto(&site.url("/")).await.expect("home");
        // Without JavaScript the page says so: the server will encrypt.
        assert_eq!(sender.text("#mode").await, t.t("mode-server"));
        sender.type_into("#secret", &canary).await;
        sender.click("#create button[type=submit]").await;
        // POST / → 303 → the receipt, which shows the secret link this once.
        let url_field = sender.wait_css("#secret-url").await;
        assert_eq!(sender.text("h1").await, t.t("receipt-title"));
        let link = url_field.prop("value").await.expect("value").unwrap_or_default();
        let key = link
            .strip_prefix(&site.public_url("/secret/"))
            .unwrap_or_else(|| panic!("a secret link on the server's public address: {link}"))
            .to_owned();
        assert!(!key.is_empty() && !key.contains('#'), "{link}");
        let receipt = sender.value("#receipt-url").await;
        assert_eq!(sender.current_url().await.expect("url").as_str(), site.local(&receipt));
        // Shown once: the receipt, reloaded, no longer has the link.
        sender.refresh().await.expect("reload");
        sender.wait_xpath(&format!("//h1[.={}]", xpath_str(t.t("receipt-title")))).await;
        assert!(sender.find_all(fantoccini::Locator::Id("secret-url")).await.expect("find").is_empty());
        sender.close().await;

        let recipient = Browser::open(Opts::no_js()).await;
        recipient.goto(&site.local(&link)).await.expect("open link");
        assert_eq!(recipient.text("h1").await, t.t("preview-title"));
        assert!(recipient.find_all(fantoccini::Locator::Id("zk-reveal")).await.expect("find").is_empty());
        assert_eq!(api_preview(&site, &key).await, StatusCode::OK);
        recipient.click(&format!("form[action='/secret/{key}'] button[type=submit]")).await;
        let value = recipient.wait_css("textarea#value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(canary.as_str()));
        assert_eq!(recipient.text("h1").await, t.t("revealed-title"));
        // Opening the link again: gone.
        recipient.visit(&site.local(&link)).await;
        assert_eq!(recipient.text("h1").await, t.t("gone-title"));
        assert_eq!(api_preview(&site, &key).await, StatusCode::NOT_FOUND);
        recipient.close().await;

        // In this mode the browser sends the plaintext (a form post): the recorder sees it, which
        // also shows that the checks of the zero-knowledge test would catch it.
        let sent = site.recorded();
        assert!(contains(&sent, form_encoded(&canary).as_bytes()), "the form post carries the secret");
        // The server stores it encrypted.
        let db = site.db_bytes();
        assert_absent("the SQLite files", &db, &canary);
        assert_absent("the SQLite files", &db, &token);
    })
    .await;
}

#[tokio::test]
async fn zero_knowledge_wrong_passphrase_then_right() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let secret = format!("PASS-BROWSER-{} 암호로 보호된 비밀", tag());
        let passphrase = format!("right horse 정답 {}", tag());
        let wrong = format!("wrong horse {}", tag());

        let sender = Browser::open(Opts::default()).await;
        let (link, _) = create_zk(&sender, &site, &secret, Some(&passphrase)).await;
        sender.close().await;
        let preview: serde_json::Value = site
            .app
            .http
            .get(site.app.url(&format!("/api/v2/secrets/{}", link.key)))
            .send()
            .await
            .expect("preview")
            .json()
            .await
            .expect("json");
        assert_eq!(preview["passphrase_required"], true, "{preview}");
        assert_eq!(preview["mode"], "zero_knowledge", "{preview}");

        let recipient = Browser::open(Opts::default()).await;
        recipient.goto(&link.url).await.expect("open link");
        recipient.wait_css("form#zk-reveal #passphrase").await;
        recipient.type_into("#passphrase", &wrong).await;
        recipient.click("#zk-reveal button[type=submit]").await;
        recipient.wait_text("zk-error", t.t("zk-error-failed")).await;
        assert!(!recipient.css("#zk-revealed").await.is_displayed().await.expect("displayed"));
        assert!(recipient.css("#zk-reveal button[type=submit]").await.is_enabled().await.expect("enabled"));
        // A wrong passphrase consumed nothing.
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::OK);

        recipient.type_into("#passphrase", &passphrase).await;
        recipient.click("#zk-reveal button[type=submit]").await;
        let value = recipient.wait_css("#zk-revealed:not([hidden]) #zk-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(secret.as_str()));
        assert!(
            !recipient.css("#zk-error").await.is_displayed().await.expect("displayed"),
            "the alert is hidden"
        );
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::NOT_FOUND);
        recipient.close().await;

        // Only key proofs went to the server: not the passphrases, the fragment or the secret.
        let sent = site.recorded();
        assert_eq!(
            site.recorded_text().matches(&format!("POST /api/v2/secrets/{}/reveal ", link.key)).count(),
            2,
            "one wrong reveal, one right"
        );
        for text in [&passphrase, &wrong, &link.fragment, &secret] {
            assert_absent("the bytes sent to the server", &sent, text);
        }
        assert_absent("the SQLite files", &site.db_bytes(), &secret);
    })
    .await;
}
