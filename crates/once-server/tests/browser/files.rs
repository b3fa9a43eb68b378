//! File secrets in real browsers: a file chosen on the home page is sealed in the browser,
//! uploaded, then decrypted in another browser and offered for saving, once; a slow upload shows
//! how far it has got; a file over the server's limit is refused before anything is sent; and a
//! file the Rust client sealed opens in the browser (a wrong passphrase first).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use once_crypto::zk::FragmentKey;
use once_crypto::zk::file::{FileMeta, seal_reader};
use rand::RngCore;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::flows::{ZkLink, api_preview};
use crate::harness::{
    Browser, Catalog, Opts, PHONE, Site, WAIT, assert_absent, contains, tag, within, xpath_str,
};

/// `len` random bytes: no run or pattern that could be found by chance.
fn content(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut data);
    data
}

/// `bytes` saved as `name` in a fresh temporary directory (removed when the guard drops).
fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write the file");
    (dir, path)
}

/// On the home page: waits for the script to show the file picker, and chooses `path` in it.
async fn choose_file(b: &Browser, path: &Path) {
    let input = b.wait_css("#file-choice:not([hidden]) input#file").await;
    let path = path.to_str().expect("a UTF-8 path");
    input.send_keys(path).await.expect("choose the file");
}

/// Saves the page's download link as a person does (a click), into a fresh directory: the name the
/// browser saved the file under, and its bytes. (Reading the blob: URL from a script instead would
/// need `connect-src blob:`, which the pages' CSP rightly does not allow.)
async fn save_download(b: &Browser) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("download dir");
    let to = dir.path().to_str().expect("a UTF-8 path");
    b.cdp("Browser.setDownloadBehavior", json!({ "behavior": "allow", "downloadPath": to })).await;
    b.click("#zk-file a#zk-file-link").await;
    // Chromium writes `*.crdownload` and gives the file its name once it is complete.
    let deadline = Instant::now() + WAIT;
    loop {
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("download dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        if let [name] = &names[..]
            && !name.ends_with(".crdownload")
            && !name.starts_with('.')
        {
            let bytes = std::fs::read(dir.path().join(name)).expect("read the saved file");
            return (name.clone(), bytes);
        }
        assert!(Instant::now() < deadline, "no download finished in {WAIT:?}: {names:?}");
        // Files on disk, not page state: there is no WebDriver wait for them.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /api/v2/secrets/{key}` straight to the server: the preview's JSON.
async fn api_preview_json(site: &Site, key: &str) -> Value {
    let resp =
        site.app.http.get(site.app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("preview");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

/// With a passphrase, which the recipient types.
#[tokio::test]
async fn a_file_goes_from_one_browser_to_another_once() {
    within(async {
        let site = Site::spawn().await;
        let (en, ko) = (Catalog::get("en"), Catalog::get("ko"));
        let name = "보고서 final.bin";
        // Two segments of the format (256 KiB each), the last one partial.
        let data = content(300 * 1024 + 123);
        let (_dir, path) = temp_file(name, &data);
        let passphrase = format!("파일 암호 {}", tag());

        let sender = Browser::open(Opts::default()).await;
        sender.goto(&site.url("/")).await.expect("home");
        sender.wait_text("mode", en.t("mode-zk")).await;
        choose_file(&sender, &path).await;
        sender.wait_text("file-chosen-name", &format!("{name} (301 KB)")).await;
        assert!(
            !sender.css("#secret").await.is_displayed().await.expect("displayed"),
            "the file takes the text box's place"
        );
        sender.type_into("#passphrase", &passphrase).await;
        sender.click("#create button[type=submit]").await;
        sender.wait_css("#zk-result:not([hidden]) #zk-secret-url").await;
        assert_eq!(sender.text("#zk-result h2").await, en.t("created-title"));
        let link = ZkLink::parse(&site, &sender.value("#zk-secret-url").await);
        let receipt = sender.value("#zk-receipt-url").await;
        assert!(receipt.starts_with(&site.public_url("/receipt/")), "{receipt}");
        sender.close().await;

        // The server holds a zero-knowledge file a little larger than the content.
        let preview = api_preview_json(&site, &link.key).await;
        assert_eq!(preview["mode"], "zero_knowledge", "{preview}");
        assert_eq!(preview["passphrase_required"], true, "{preview}");
        let sealed = preview["file"]["size"].as_u64().expect("a file secret");
        assert!(sealed > data.len() as u64 && sealed < data.len() as u64 + 1024, "{sealed}");

        // The recipient, in a Korean browser of their own, on a phone.
        let recipient = Browser::open(Opts { width: PHONE.0, height: PHONE.1, ..Opts::lang("ko") }).await;
        recipient.goto(&link.url).await.expect("open link");
        recipient.wait_css("form#zk-reveal[data-file='true'] #passphrase").await;
        assert_eq!(recipient.text("h1").await, ko.t("preview-file-title"));
        let lead = recipient.text("p.lead").await;
        // The size the server knows: the encrypted file's, in KB rounded up.
        let said = format!("{}KB 크기의 파일이 공유되었습니다.", sealed.div_ceil(1024));
        assert!(lead.starts_with(&said), "{lead}");
        assert_eq!(recipient.text("#zk-reveal button[type=submit]").await, ko.t("reveal-file-button"));
        recipient.assert_fits_width("file preview, ko, phone").await;
        recipient.type_into("#passphrase", &passphrase).await;
        recipient.click("#zk-reveal button[type=submit]").await;
        let a = recipient.wait_css("#zk-file:not([hidden]) a#zk-file-link[href^='blob:']").await;
        assert_eq!(a.attr("download").await.expect("download").as_deref(), Some(name));
        assert_eq!(a.text().await.expect("text"), format!("{name} (301KB)"));
        assert_eq!(recipient.text("#zk-file h2").await, ko.t("file-ready-title"));
        assert_eq!(recipient.text("#zk-file-note").await, ko.t("file-gone"));
        recipient.assert_fits_width("file ready, ko, phone").await;
        let (saved, got) = save_download(&recipient).await;
        assert_eq!(saved, name, "saved under its own name");
        assert!(got == data, "the file comes back byte for byte ({} of {} bytes)", got.len(), data.len());
        // The key leaves the address bar once used; the secret is gone.
        let here = recipient.current_url().await.expect("url");
        assert_eq!(here.fragment(), None, "{here}");
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::NOT_FOUND);
        recipient.visit(&link.url).await;
        assert_eq!(recipient.text("h1").await, ko.t("gone-title"));
        recipient.close().await;

        // What the server was sent: the upload (the options with the key proof, then a part named
        // "blob"), never the file's name, its content, the key or the passphrase.
        let sent = site.recorded();
        assert!(contains(&sent, b"POST /api/v2/files HTTP/1.1\r\n"), "the upload went through the recorder");
        assert!(contains(&sent, b"name=\"options\"") && contains(&sent, b"\"key_proof\""));
        assert!(contains(&sent, b"name=\"content\"; filename=\"blob\""));
        assert!(contains(&sent, format!("POST /api/v2/secrets/{}/reveal HTTP/1.1\r\n", link.key).as_bytes()));
        for text in [name, "보고서", &link.fragment, &passphrase] {
            assert_absent("the bytes sent to the server", &sent, text);
        }
        let db = site.db_bytes();
        assert_absent("the SQLite files", &db, name);
        for at in [0, 100_000, data.len() - 64] {
            let piece = &data[at..at + 64];
            assert!(!contains(&sent, piece), "the content (at {at}) was sent");
            assert!(!contains(&db, piece), "the content (at {at}) is stored");
        }
    })
    .await;
}

/// The upload counts up on the button and the bar while the body goes, on a link slow enough to
/// watch it (Chromium's own network throttling).
#[tokio::test]
async fn a_slow_upload_shows_how_far_it_has_got() {
    within(async {
        let site = Site::spawn().await;
        let en = Catalog::get("en");
        let data = content(3 << 20);
        let (_dir, path) = temp_file("large.bin", &data);

        let b = Browser::open(Opts::default()).await;
        b.goto(&site.url("/")).await.expect("home");
        b.wait_text("mode", en.t("mode-zk")).await;
        choose_file(&b, &path).await;
        let throttle = |bytes_per_s: i64| {
            json!({ "offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_s })
        };
        b.cdp("Network.enable", json!({})).await;
        // About a megabyte a second: three seconds of upload.
        b.cdp("Network.emulateNetworkConditions", throttle(1_000_000)).await;
        b.click("#create button[type=submit]").await;

        // Part of the way there: neither 0% nor 100% on the button…
        let label = format!("{} ", en.t("file-uploading"));
        let partway = format!(
            "//form[@id='create']//button[@type='submit'][starts-with(normalize-space(.), {})\
             and not(contains(., ' 0%')) and not(contains(., '100%'))]",
            xpath_str(&label)
        );
        let button = b.wait_xpath(&partway).await;
        let said = button.text().await.expect("text");
        let pct: u32 = said.trim_start_matches(label.trim_end()).trim().trim_end_matches('%').parse().expect("a %");
        assert!((1..100).contains(&pct), "{said}");
        // …and a bar that has a value (not the indeterminate one).
        let bar = b.css("#create-progress").await;
        assert!(bar.is_displayed().await.expect("displayed"), "the bar shows");
        // `value` reflects to the attribute; the indeterminate bar has none.
        let value: f64 = bar.attr("value").await.expect("value").unwrap_or_default().parse().expect("a number");
        assert!(value >= 1.0, "bar at {value}");

        b.cdp("Network.emulateNetworkConditions", throttle(-1)).await;
        b.wait_css("#zk-result:not([hidden]) #zk-secret-url").await;
        assert!(!b.css("#create-progress").await.is_displayed().await.expect("displayed"), "the bar is gone");
        let link = ZkLink::parse(&site, &b.value("#zk-secret-url").await);
        let sealed = api_preview_json(&site, &link.key).await["file"]["size"].as_u64().expect("a file secret");
        assert!(sealed > data.len() as u64, "the whole file arrived: {sealed} bytes");
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_before_anything_is_sent() {
    within(async {
        let site = Site::spawn_with(None, |c| c.secrets.max_file_size = 64 * 1024).await;
        let en = Catalog::get("en");
        let (_big_dir, big) = temp_file("big.bin", &content(100 * 1024));
        // The limit is on the file itself: one byte over is refused.
        let (_edge_dir, edge) = temp_file("edge.bin", &content(64 * 1024 + 1));
        let (_small_dir, small) = temp_file("small.bin", &content(1000));

        let b = Browser::open(Opts { width: PHONE.0, height: PHONE.1, ..Opts::default() }).await;
        b.goto(&site.url("/")).await.expect("home");
        b.wait_text("mode", en.t("mode-zk")).await;
        let help = b.text("#file-help").await;
        assert!(help.starts_with("Up to 64 KB."), "{help}");
        for (path, size) in [(&big, "100 KB"), (&edge, "65 KB")] {
            choose_file(&b, path).await;
            let says = format!("This file is too large ({size}). Files can be up to 64 KB.");
            b.wait_text("file-error", &says).await;
            assert_eq!(b.value("#file").await, "", "the choice is undone");
            assert!(b.css("#secret").await.is_displayed().await.expect("displayed"), "the text box is back");
            assert!(!b.css("#file-chosen").await.is_displayed().await.expect("displayed"));
            b.assert_fits_width("home, file refused, en, phone").await;
        }
        assert!(!contains(&site.recorded(), b"POST /api/v2/files "), "nothing was uploaded");

        // A file under the limit is taken, and the alert goes.
        choose_file(&b, &small).await;
        b.wait_text("file-chosen-name", "small.bin (1 KB)").await;
        assert!(!b.css("#file-error").await.is_displayed().await.expect("displayed"));
        b.assert_fits_width("home, file chosen, en, phone").await;
        b.click("#create button[type=submit]").await;
        b.wait_css("#zk-result:not([hidden]) #zk-secret-url").await;
        let posts = site.recorded_text().matches("POST /api/v2/files HTTP/1.1\r\n").count();
        assert_eq!(posts, 1, "only the small file was uploaded");
        b.close().await;

        // Without JavaScript there is no file picker: files are zero-knowledge only.
        let b = Browser::open(Opts::no_js()).await;
        b.goto(&site.url("/")).await.expect("home");
        assert_eq!(b.text("#mode").await, en.t("mode-server"));
        assert!(!b.css("#file").await.is_displayed().await.expect("displayed"));
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_file_sealed_by_the_rust_client_opens_in_the_browser() {
    within(async {
        let site = Site::spawn().await;
        let en = Catalog::get("en");
        let name = "계약서 v2.pdf";
        // Three segments, the last one partial.
        let data = content(600 * 1024 - 7);
        let passphrase = format!("파일 암호 {}", tag());
        let wrong = format!("wrong {}", tag());

        // Sealed and uploaded as the command-line client does, with a type that must not matter.
        let key = FragmentKey::generate();
        let meta = FileMeta::new(name, "text/html", data.len() as u64).expect("meta");
        let parts = seal_reader(&key, Some(&passphrase), &meta, &data[..]).expect("seal");
        let proof = parts.key_proof().to_base64url();
        let blob: Vec<u8> = parts.map(|p| p.expect("piece")).collect::<Vec<_>>().concat();
        let options = json!({ "key_proof": proof, "max_views": 2 }).to_string();
        let form = Form::new()
            .part("options", Part::text(options).mime_str("application/json").expect("mime"))
            .part("content", Part::bytes(blob).file_name("blob"));
        let resp =
            site.app.http.post(site.app.url("/api/v2/files")).multipart(form).send().await.expect("upload");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: Value = resp.json().await.expect("json");
        let url = format!("{}#{}", created["secret_url"].as_str().expect("secret_url"), *key.to_fragment());
        let link = ZkLink::parse(&site, &url);

        // The page, without JavaScript's help: clean HTML5, no inline script or style.
        let page =
            site.app.http.get(site.app.url(&format!("/secret/{}", link.key))).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("html");
        let doc = scraper::Html::parse_document(&html);
        assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
        assert!(!html.contains(" style=") && !html.contains("<style"), "inline style");
        assert!(html.contains("data-file=\"true\"") && !html.contains(name), "{html}");

        let recipient = Browser::open(Opts::default()).await;
        recipient.goto(&link.url).await.expect("open link");
        recipient.wait_css("form#zk-reveal[data-file='true'] #passphrase").await;
        assert_eq!(recipient.text("h1").await, en.t("preview-file-title"));
        recipient.type_into("#passphrase", &wrong).await;
        recipient.click("#zk-reveal button[type=submit]").await;
        recipient.wait_text("zk-error", en.t("zk-error-failed")).await;
        assert!(!recipient.css("#zk-file").await.is_displayed().await.expect("displayed"));
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::OK, "a wrong passphrase uses nothing");

        recipient.type_into("#passphrase", &passphrase).await;
        recipient.click("#zk-reveal button[type=submit]").await;
        let a = recipient.wait_css("#zk-file:not([hidden]) a#zk-file-link[href^='blob:']").await;
        assert_eq!(a.attr("download").await.expect("download").as_deref(), Some(name));
        assert_eq!(a.text().await.expect("text"), format!("{name} (600 KB)"));
        assert_eq!(recipient.text("#zk-file-note").await, "The link works 1 more time.");
        let (saved, got) = save_download(&recipient).await;
        assert_eq!(saved, name, "saved under its own name");
        assert!(got == data, "the file comes back byte for byte ({} of {} bytes)", got.len(), data.len());
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::OK, "one view is left");
        recipient.close().await;

        let sent = site.recorded();
        for text in [&passphrase, &wrong, &link.fragment] {
            assert_absent("the bytes sent to the server", &sent, text);
        }
    })
    .await;
}
