//! Split secrets in the browser: the combine page (`/combine`, `assets/js/combine.js`) against
//! links made by Rust (`once_client::split`, as `once share --split` makes them), a share link
//! opened on its own, and the vendored Shamir library (`assets/js/vendor/shamir-secret-sharing-*`)
//! against vsss-rs, which cut the keys.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use once_api::v2::CreateSecret;
use once_client::split::{self, Threshold};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::flows::api_preview;
use crate::harness::{Browser, Catalog, Opts, PHONE, Site, assert_absent, tag, within};

/// One link of a split secret.
struct ShareLink {
    /// Where a browser here opens it (on the proxy).
    url: String,
    /// The secret's key (in the path).
    key: String,
    /// `KEY.{K}of{N}.{SPLIT ID}`, never to be sent to the server.
    fragment: String,
}

/// Splits `secret` as `once share --split` does: sealed here, one zero-knowledge secret per share.
async fn split_links(site: &Site, secret: &str, threshold: &str, passphrase: Option<&str>) -> Vec<ShareLink> {
    let threshold: Threshold = threshold.parse().expect("a threshold");
    let sealed = split::seal(secret.as_bytes(), threshold, passphrase).expect("seal the shares");
    let mut links = Vec::with_capacity(sealed.len());
    for s in &sealed {
        let body = CreateSecret {
            ciphertext: Some(s.ciphertext.clone()),
            key_proof: Some(s.key_proof.clone()),
            max_views: Some(1),
            ..CreateSecret::default()
        };
        let created = site.app.client.v2().create(&body).await.expect("create a share's secret");
        let url = format!("{}#{}", created.secret_url, s.fragment.as_str());
        links.push(ShareLink {
            url: site.local(&url),
            key: created.secret_key,
            fragment: s.fragment.to_string(),
        });
    }
    links
}

/// A catalog message with its `{ $name }` arguments filled in.
fn message(lang: &str, key: &str, args: &[(&str, &str)]) -> String {
    let src = match lang {
        "en" => include_str!("../../locales/en/main.ftl"),
        "ko" => include_str!("../../locales/ko/main.ftl"),
        other => panic!("no catalog {other}"),
    };
    let prefix = format!("{key} = ");
    let line = src.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no message `{key}`"));
    let mut text = line[prefix.len()..].trim().to_owned();
    for (name, value) in args {
        text = text.replace(&format!("{{ ${name} }}"), value);
    }
    assert!(!text.contains("{ $"), "`{key}`: an argument is missing: {text}");
    text
}

/// Replaces what the combine page's text box holds, as a paste does.
async fn paste(b: &Browser, links: &[&ShareLink]) {
    let text: Vec<&str> = links.iter().map(|l| l.url.as_str()).collect();
    b.execute(
        "const t = document.getElementById('combine-links');
         t.value = arguments[0];
         t.dispatchEvent(new Event('input', { bubbles: true }));",
        vec![json!(text.join("\n"))],
    )
    .await
    .expect("paste");
}

async fn press_combine(b: &Browser) {
    b.click("#combine button[type=submit]").await;
}

/// The statuses of the links' previews (which consume nothing).
async fn previews(site: &Site, links: &[&ShareLink]) -> Vec<StatusCode> {
    let mut out = Vec::with_capacity(links.len());
    for l in links {
        out.push(api_preview(site, &l.key).await);
    }
    out
}

fn reveals(site: &Site) -> usize {
    site.recorded_text().matches("/reveal HTTP/1.1\r\n").count()
}

/// Neither the links' keys (their #fragments) nor `also` ever reached the server.
fn assert_kept_from_the_server(site: &Site, links: &[ShareLink], also: &[&str]) {
    let sent = site.recorded();
    for l in links {
        assert_absent("the bytes sent to the server", &sent, &l.fragment);
        let key = l.fragment.split('.').next().expect("the link's key");
        assert_absent("the bytes sent to the server", &sent, key);
    }
    for text in also {
        assert_absent("the bytes sent to the server", &sent, text);
    }
}

const OK: StatusCode = StatusCode::OK;
const GONE: StatusCode = StatusCode::NOT_FOUND;

#[tokio::test]
async fn links_are_checked_before_anything_is_used_then_three_rebuild_the_secret() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let secret = format!("SPLIT-BROWSER-{} 나눠 둔 비밀 “quoted” & <b>", tag());
        let links = split_links(&site, &secret, "3-of-5", None).await;
        let other = split_links(&site, &format!("OTHER-{}", tag()), "3-of-5", None).await;
        let all: Vec<&ShareLink> = links.iter().collect();

        let b = Browser::open(Opts::default()).await;
        b.goto(&site.url("/combine")).await.expect("combine page");
        b.wait_css("form#combine:not([hidden])").await;
        assert_eq!(b.text("h1").await, t.t("combine-title"));
        assert!(!b.css("#combine-passphrase").await.is_displayed().await.expect("displayed"));

        // Two links of a 3-of-5: refused before any request.
        paste(&b, &[&links[0], &links[1]]).await;
        press_combine(&b).await;
        let too_few = message("en", "combine-error-too-few", &[("k", "3"), ("n", "5"), ("have", "2")]);
        b.wait_text("combine-error", &too_few).await;
        // The same link twice counts once.
        paste(&b, &[&links[0], &links[1], &links[0]]).await;
        press_combine(&b).await;
        b.wait_text("combine-error", &too_few).await;
        assert_eq!(previews(&site, &all).await, [OK; 5], "nothing was used up");

        // Links of two different splits: refused, nothing used up.
        paste(&b, &[&links[0], &links[1], &other[2]]).await;
        press_combine(&b).await;
        b.wait_text("combine-error", &message("en", "combine-error-mixed", &[])).await;
        assert_eq!(previews(&site, &all).await, [OK; 5]);
        assert_eq!(api_preview(&site, &other[2].key).await, OK);
        assert_eq!(reveals(&site), 0, "no reveal was even tried");

        // Three links: the secret, and exactly those three are gone.
        paste(&b, &[&links[1], &links[3], &links[4]]).await;
        press_combine(&b).await;
        let value = b.wait_css("#combine-revealed:not([hidden]) #combine-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(secret.as_str()));
        assert_eq!(b.text("#combine-revealed h2").await, t.t("revealed-title"));
        assert_eq!(
            b.text("#combine-used").await,
            message("en", "combine-used", &[("list", "line 1, line 2, and line 3")])
        );
        assert!(!b.css("#combine").await.is_displayed().await.expect("displayed"), "the form is hidden");
        assert!(!b.css("#combine-unused").await.is_displayed().await.expect("displayed"), "none unused");
        assert_eq!(previews(&site, &all).await, [OK, GONE, OK, GONE, GONE]);
        assert_eq!(reveals(&site), 3, "exactly K reveals");
        // The list is forgotten once the secret is shown.
        b.refresh().await.expect("reload");
        b.wait_css("form#combine:not([hidden])").await;
        assert_eq!(b.value("#combine-links").await, "");
        b.close().await;

        assert_kept_from_the_server(&site, &links, &[&secret]);
        assert_kept_from_the_server(&site, &other, &[]);
        assert_absent("the SQLite files", &site.db_bytes(), &secret);
    })
    .await;
}

#[tokio::test]
async fn a_share_link_opened_alone_offers_the_combine_page() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let secret = format!("ONE-BY-ONE-{}", tag());
        let links = split_links(&site, &secret, "3-of-5", None).await;
        let all: Vec<&ShareLink> = links.iter().collect();

        let b = Browser::open(Opts::default()).await;
        b.goto(&links[2].url).await.expect("open a share link");
        b.wait_css("#zk-split:not([hidden])").await;
        assert_eq!(b.text("#zk-split h2").await, t.t("split-link-title"));
        assert_eq!(
            b.text("#zk-split-body").await,
            message("en", "split-link-body", &[("n", "5"), ("k", "3")])
        );
        assert!(!b.css("form#zk-reveal").await.is_displayed().await.expect("displayed"), "no reveal here");
        assert!(b.find_all(fantoccini::Locator::Id("zk-error")).await.expect("find").is_empty());
        assert_eq!(previews(&site, &all).await, [OK; 5], "opening it used nothing up");

        // "Combine links": the combine page, with this link in the text box (it travelled in the
        // #fragment, which then leaves the address bar).
        b.click("#zk-split-combine").await;
        b.wait_css("form#combine:not([hidden])").await;
        assert_eq!(b.value("#combine-links").await, format!("{}\n", links[2].url));
        let here = b.current_url().await.expect("url");
        assert_eq!((here.path(), here.fragment()), ("/combine", None), "{here}");

        // A second link opened in the same tab adds up; the third is pasted.
        b.visit(&links[0].url).await;
        b.wait_css("#zk-split:not([hidden])").await;
        b.click("#zk-split-combine").await;
        b.wait_css("form#combine:not([hidden])").await;
        assert_eq!(b.value("#combine-links").await, format!("{}\n{}\n", links[2].url, links[0].url));
        assert_eq!(previews(&site, &all).await, [OK; 5]);
        let text = format!("{}\n{}\n{}\n{}", links[2].url, links[0].url, links[4].url, links[3].url);
        b.execute("document.getElementById('combine-links').value = arguments[0];", vec![json!(text)])
            .await
            .expect("paste");
        press_combine(&b).await;
        let value = b.wait_css("#combine-revealed:not([hidden]) #combine-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(secret.as_str()));
        // The fourth link was not needed.
        assert_eq!(b.text("#combine-unused").await, message("en", "combine-unused", &[("list", "line 4")]));
        assert_eq!(previews(&site, &all).await, [GONE, OK, GONE, OK, GONE]);
        b.close().await;

        assert_kept_from_the_server(&site, &links, &[&secret]);
    })
    .await;
}

#[tokio::test]
async fn with_a_passphrase_a_wrong_one_uses_nothing_up() {
    within(async {
        // In Korean, to see that page's texts too.
        let site = Site::spawn().await;
        let ko = Catalog::get("ko");
        let secret = format!("SPLIT-PASS-{} 한국어 비밀", tag());
        let passphrase = format!("열려라 참깨 {}", tag());
        let wrong = format!("틀린 암호 {}", tag());
        let links = split_links(&site, &secret, "3-of-5", Some(&passphrase)).await;
        let all: Vec<&ShareLink> = links.iter().collect();

        let b = Browser::open(Opts::lang("ko")).await;
        b.goto(&site.url("/combine")).await.expect("combine page");
        b.wait_css("form#combine:not([hidden])").await;
        assert_eq!(b.text("h1").await, ko.t("combine-title"));
        paste(&b, &[&links[0], &links[2], &links[4]]).await;
        press_combine(&b).await;
        // The previews said a passphrase is needed: asked for, nothing revealed.
        b.wait_text("combine-error", &message("ko", "combine-need-passphrase", &[])).await;
        assert!(b.css("#combine-passphrase").await.is_displayed().await.expect("displayed"));
        assert_eq!(reveals(&site), 0);

        b.type_into("#combine-passphrase", &wrong).await;
        press_combine(&b).await;
        b.wait_text("combine-error", &message("ko", "combine-error-passphrase", &[])).await;
        assert_eq!(previews(&site, &all).await, [OK; 5], "a wrong passphrase used nothing up");
        assert_eq!(reveals(&site), 1, "refused by the server at the first link");

        b.type_into("#combine-passphrase", &passphrase).await;
        press_combine(&b).await;
        let value = b.wait_css("#combine-revealed:not([hidden]) #combine-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(secret.as_str()));
        assert_eq!(b.text("#combine-revealed h2").await, ko.t("revealed-title"));
        assert_eq!(previews(&site, &all).await, [GONE, OK, GONE, OK, GONE]);
        b.close().await;

        assert_kept_from_the_server(&site, &links, &[&secret, &passphrase, &wrong]);
    })
    .await;
}

#[tokio::test]
async fn the_page_without_javascript_and_on_a_phone() {
    within(async {
        let site = Site::spawn().await;
        let served = site.app.http.get(site.app.url("/assets/js/combine.js")).send().await.expect("script");
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(served.headers()["content-type"], "text/javascript; charset=utf-8");

        // Without JavaScript: why, and the command line instead; no form.
        let t = Catalog::get("en");
        let b = Browser::open(Opts::no_js()).await;
        b.goto(&site.url("/combine")).await.expect("combine page");
        assert_eq!(b.text("main .alert").await, t.t("combine-needs-js"));
        assert!(!b.css("#combine").await.is_displayed().await.expect("displayed"));
        assert!(b.text("#combine-cli pre.command").await.starts_with("once combine "));
        b.close().await;

        // At 360 px, in both languages: the page, an error on it, and a share link's page.
        let links = split_links(&site, &format!("PHONE-{}", tag()), "2-of-3", None).await;
        for lang in ["en", "ko"] {
            let b = Browser::open(Opts { width: PHONE.0, height: PHONE.1, ..Opts::lang(lang) }).await;
            b.goto(&site.url("/combine")).await.expect("combine page");
            b.wait_css("form#combine:not([hidden])").await;
            b.assert_fits_width(&format!("combine, {lang}, phone")).await;
            paste(&b, &[&links[0]]).await;
            press_combine(&b).await;
            let too_few = message(lang, "combine-error-too-few", &[("k", "2"), ("n", "3"), ("have", "1")]);
            b.wait_text("combine-error", &too_few).await;
            b.assert_fits_width(&format!("combine with an error, {lang}, phone")).await;
            b.visit(&links[1].url).await;
            b.wait_css("#zk-split:not([hidden])").await;
            b.assert_fits_width(&format!("a share link, {lang}, phone")).await;
            b.close().await;
        }
        let all: Vec<&ShareLink> = links.iter().collect();
        assert_eq!(previews(&site, &all).await, [OK; 3]);
    })
    .await;
}

/// Every `size`-element subset of `0..n`.
fn subsets(n: usize, size: usize) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|m| m.count_ones() as usize == size)
        .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
        .collect()
}

/// Multiplication in GF(256) with the AES polynomial x⁸ + x⁴ + x³ + x + 1 (vsss-rs `Gf256`).
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

#[tokio::test]
async fn the_vendored_shamir_library_rebuilds_what_vsss_rs_split() {
    within(async {
        // Format v1: "once/split" ‖ version ‖ K ‖ N ‖ x ‖ split id (16) ‖ y (32) ‖ blob.
        const X: usize = 13;
        const Y: std::ops::Range<usize> = 30..62;
        let mut splits = Vec::new();
        for threshold in ["2-of-2", "3-of-5", "16-of-16"] {
            let plaintext = format!("VSSS-{threshold}-{} 🙂", tag());
            let t: Threshold = threshold.parse().expect("threshold");
            let size = usize::from(t.needed());
            // The very function `once share --split` uses (vsss-rs `Gf256::split_bytes`).
            let shares = once_crypto::zk::split::split(plaintext.as_bytes(), t).expect("split");
            let points: Vec<Value> = shares
                .iter()
                .map(|s| {
                    let bytes = s.to_bytes();
                    assert_eq!(bytes[X], s.index());
                    let blob = BASE64URL_NOPAD.encode(&bytes[Y.end..]);
                    json!({ "x": bytes[X], "y": HEXLOWER.encode(&bytes[Y]), "blob": blob })
                })
                .collect();
            let n = shares.len();
            // K − 1 shares (at least two: the library refuses to interpolate one).
            let below = if size > 2 { subsets(n, size - 1) } else { Vec::new() };
            splits.push(json!({
                "plaintext": plaintext,
                "points": points,
                "enough": subsets(n, size),
                "too_few": below,
            }));
        }
        // And a polynomial worked out by hand (as once-crypto's own test pins vsss-rs to it):
        // f(x) = key + c·x + d·x² at x = 1, 2, 3.
        let key: Vec<u8> = (0..32).collect();
        let (c, d) = (0xa5u8, 0x3cu8);
        let by_hand: Vec<Value> = (1..=3u8)
            .map(|x| {
                let y: Vec<u8> = key.iter().map(|k| k ^ gf_mul(c, x) ^ gf_mul(d, gf_mul(x, x))).collect();
                json!({ "x": x, "y": HEXLOWER.encode(&y) })
            })
            .collect();

        let site = Site::spawn().await;
        let b = Browser::open(Opts::default()).await;
        b.goto(&site.url("/combine")).await.expect("combine page");
        let script = r#"const args = arguments[0];
const done = arguments[arguments.length - 1];
(async () => {
  const vendored = "/assets/js/vendor/shamir-secret-sharing-0.0.4.mjs";
  const sss = await import(new URL(vendored, location.origin).href);
  const zk = await import(new URL("/assets/js/zk.js", location.origin).href);
  const hex = (h) => Uint8Array.from(h.match(/../g).map((x) => parseInt(x, 16)));
  const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  // The library's points: y ‖ x (x last).
  const point = (p) => { const out = new Uint8Array(33); out.set(hex(p.y)); out[32] = p.x; return out; };
  const openWith = async (points, blob) => {
    const key = await sss.combine(points.map(point));
    try {
      return new TextDecoder().decode(await zk.open(zk.b64urlEncode(key), null, zk.b64urlDecode(blob)));
    } catch (e) {
      return "refused: " + (e.code || e.name);
    }
  };
  const results = [];
  for (const s of args.splits) {
    const blob = s.points[0].blob;
    const enough = [];
    for (const subset of s.enough) enough.push(await openWith(subset.map((i) => s.points[i]), blob));
    const tooFew = [];
    for (const subset of s.too_few) tooFew.push(await openWith(subset.map((i) => s.points[i]), blob));
    results.push({ enough, tooFew });
  }
  const p = args.by_hand;
  const byHand = [
    toHex(await sss.combine([p[0], p[1], p[2]].map(point))),
    toHex(await sss.combine([p[2], p[0], p[1]].map(point))),
  ];
  return { results, byHand };
})().then((ok) => done({ ok }), (e) => done({ err: String((e && e.stack) || e) }));"#;
        let out = b
            .execute_async(script, vec![json!({ "splits": splits, "by_hand": by_hand })])
            .await
            .expect("execute_async");
        b.close().await;
        if let Some(err) = out.get("err") {
            panic!("script failed: {err}");
        }
        let out = &out["ok"];

        let key_hex = HEXLOWER.encode(&key);
        assert_eq!(out["byHand"], json!([key_hex, key_hex]), "the same field, x and y as vsss-rs");
        for (s, r) in splits.iter().zip(out["results"].as_array().expect("results")) {
            let plaintext = s["plaintext"].as_str().expect("plaintext");
            let enough = r["enough"].as_array().expect("enough");
            assert_eq!(enough.len(), s["enough"].as_array().expect("subsets").len());
            for opened in enough {
                assert_eq!(opened.as_str(), Some(plaintext), "any K shares rebuild the key");
            }
            let too_few = r["tooFew"].as_array().expect("too few");
            assert_eq!(too_few.len(), s["too_few"].as_array().expect("subsets").len());
            for refused in too_few {
                assert!(refused.as_str().is_some_and(|t| t.starts_with("refused: ")), "{refused}");
            }
        }
    })
    .await;
}
