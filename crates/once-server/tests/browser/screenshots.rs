//! Every page, in English and Korean, at desktop and phone width: each must fit the viewport's
//! width; with `ONCE_SCREENSHOTS=1` the pages are also saved as `docs/screenshots/PAGE-LANG-DEVICE.png`.

use std::path::PathBuf;

use crate::flows::create_zk;
use crate::harness::{Browser, Catalog, DESKTOP, Opts, PHONE, Site, tag, within};

struct Shots {
    lang: &'static str,
    device: &'static str,
    save: bool,
    taken: Vec<String>,
}

impl Shots {
    async fn page(&mut self, b: &Browser, page: &str) {
        let what = format!("{page}-{}-{}", self.lang, self.device);
        b.assert_fits_width(&what).await;
        if self.save {
            let png = b.full_page_png().await;
            assert!(png.starts_with(b"\x89PNG"), "{what}: a PNG");
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            std::fs::write(dir.join(format!("{what}.png")), png).expect("write screenshot");
        }
        self.taken.push(what);
    }
}

async fn pages(lang: &'static str) {
    // Links as a real deployment shows them (the browser still goes to the local proxy).
    let site = Site::spawn_as(Some("https://once.example")).await;
    let t = Catalog::get(lang);
    let save = std::env::var("ONCE_SCREENSHOTS").is_ok_and(|v| v == "1");
    for (device, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
        let mut shots = Shots { lang, device, save, taken: Vec::new() };
        let opts = Opts { lang, width, height, js: true };

        let b = Browser::open(opts).await;
        b.goto(&site.url("/")).await.expect("home");
        let viewport = b.execute("return innerWidth", vec![]).await.expect("innerWidth");
        assert_eq!(viewport.as_u64(), Some(u64::from(width)), "the viewport is {width} px wide");
        b.wait_text("mode", t.t("mode-zk")).await;
        shots.page(&b, "home").await;

        let secret = match lang {
            "ko" => format!("서버 비밀번호: correct-horse-{}\n내일까지 바꿔 주세요.", tag()),
            _ => format!("Server password: correct-horse-{}\nPlease change it by tomorrow.", tag()),
        };
        let (link, _) = create_zk(&b, &site, &secret, None).await;
        shots.page(&b, "created").await;

        b.visit(&link.url).await;
        b.wait_css("form#zk-reveal").await;
        assert_eq!(b.text("h1").await, t.t("preview-title"));
        shots.page(&b, "preview").await;

        b.click("#zk-reveal button[type=submit]").await;
        b.wait_css("#zk-revealed:not([hidden]) #zk-value").await;
        shots.page(&b, "revealed").await;

        b.refresh().await.expect("reload");
        assert_eq!(b.text("h1").await, t.t("gone-title"));
        shots.page(&b, "gone").await;

        b.goto(&site.url("/about")).await.expect("about");
        assert_eq!(b.text("h1").await, t.t("about-title"));
        shots.page(&b, "about").await;
        b.close().await;

        // The receipt with the secret link and its QR code: the server-side flow (JavaScript off).
        let b = Browser::open(Opts { js: false, ..opts }).await;
        b.goto(&site.url("/")).await.expect("home");
        b.type_into("#secret", &secret).await;
        b.click("#create button[type=submit]").await;
        b.wait_css("#secret-url").await;
        assert_eq!(b.text("h1").await, t.t("receipt-title"));
        shots.page(&b, "receipt").await;
        b.close().await;

        assert_eq!(shots.taken.len(), 7, "{:?}", shots.taken);
    }
}

#[tokio::test]
async fn pages_fit_and_screenshots_english() {
    within(async {
        pages("en").await;
    })
    .await;
}

#[tokio::test]
async fn pages_fit_and_screenshots_korean() {
    within(async {
        pages("ko").await;
    })
    .await;
}
