//! Zero-knowledge format v1 in the browser: `/assets/js/zk.js` (WebCrypto, as served) against the
//! shared vectors and against the Rust implementation (`once_crypto::zk`, used by the CLI), both
//! ways through API v2.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use once_crypto::zk::{self, FragmentKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::flows::{ZkLink, api_preview, create_zk};
use crate::harness::{Browser, Catalog, Opts, Site, tag, within};

const VECTORS: &str = include_str!("../../../once-crypto/tests/zk-vectors.json");

/// Runs `body` (an async function body with `zk` = the imported module and `args` = the given
/// value) in the page and returns its result; a thrown error fails the test with its text.
async fn run_zk(b: &Browser, args: Value, body: &str) -> Value {
    let script = format!(
        r#"const args = arguments[0];
const done = arguments[arguments.length - 1];
(async () => {{
  const zk = await import(new URL("/assets/js/zk.js", location.origin).href);
  const hex = (h) => Uint8Array.from((h.match(/../g) || []).map((x) => parseInt(x, 16)));
  const utf8 = (s) => new TextEncoder().encode(s);
  const text = (b) => new TextDecoder("utf-8", {{ fatal: true }}).decode(b);
  const codeOf = async (p) => {{ try {{ await p; return "ok"; }} catch (e) {{ return e.code || e.name; }} }};
  {body}
}})().then((ok) => done({{ ok }}), (e) => done({{ err: String((e && e.stack) || e) }}));"#
    );
    let out = b.execute_async(&script, vec![args]).await.expect("execute_async");
    if let Some(err) = out.get("err") {
        panic!("script failed: {err}");
    }
    out["ok"].clone()
}

#[tokio::test]
async fn zk_js_matches_the_shared_vectors() {
    within(async {
        let site = Site::spawn().await;
        let file: Value = serde_json::from_str(VECTORS).expect("vectors parse");
        let vectors = file["vectors"].as_array().expect("vectors");
        assert!(vectors.len() >= 5);

        let b = Browser::open(Opts::default()).await;
        // A page of our origin (its CSP: script-src 'self', which allows importing zk.js).
        b.goto(&site.url("/about")).await.expect("about");
        let out = run_zk(
            &b,
            json!({ "vectors": vectors }),
            r#"
  const results = [];
  for (const v of args.vectors) {
    const sealed = await zk.sealWithNonce(v.fragment, v.passphrase, utf8(v.plaintext_utf8), hex(v.nonce_hex));
    const blob = zk.b64urlDecode(v.blob_b64url);
    const opened = text(await zk.open(v.fragment, v.passphrase, blob));
    const tampered = blob.slice();
    tampered[tampered.length - 1] ^= 1;
    results.push({
      name: v.name,
      blob: zk.b64urlEncode(sealed.blob),
      seal_proof: sealed.keyProof,
      proof: await zk.keyProof(v.fragment, v.passphrase),
      opened,
      needs_passphrase: zk.blobNeedsPassphrase(blob),
      // Without the passphrase (or with one it was not sealed with), and with a flipped bit: no.
      other_passphrase: await codeOf(zk.open(v.fragment, v.passphrase === null ? "x" : null, blob)),
      tampered: await codeOf(zk.open(v.fragment, v.passphrase, tampered)),
    });
  }
  return { iterations: zk.PBKDF2_ITERATIONS, results };"#,
        )
        .await;
        b.close().await;

        assert_eq!(out["iterations"], file["pbkdf2_iterations"]);
        let results = out["results"].as_array().expect("results");
        assert_eq!(results.len(), vectors.len());
        for (v, r) in vectors.iter().zip(results) {
            let name = v["name"].as_str().expect("name");
            assert_eq!(r["name"], v["name"]);
            assert_eq!(r["blob"], v["blob_b64url"], "{name}: sealWithNonce");
            assert_eq!(r["seal_proof"], v["key_proof_b64url"], "{name}: seal's key proof");
            assert_eq!(r["proof"], v["key_proof_b64url"], "{name}: keyProof");
            assert_eq!(r["opened"], v["plaintext_utf8"], "{name}: open");
            assert_eq!(r["needs_passphrase"], !v["passphrase"].is_null(), "{name}");
            assert_eq!(r["other_passphrase"], "failed", "{name}");
            assert_eq!(r["tampered"], "failed", "{name}");
        }
    })
    .await;
}

#[tokio::test]
async fn zk_js_and_rust_agree_on_fresh_inputs() {
    within(async {
        // Beyond the fixed vectors: random keys, nonces and texts, sealed by both sides; and a
        // passphrase typed in decomposed form (NFD), which zk.js normalises to NFC as Rust expects.
        let site = Site::spawn().await;
        let mut cases = Vec::new();
        for (passphrase, plaintext) in [
            (None, format!("fresh {} 🙂", tag())),
            (Some("\u{1112}\u{1161}\u{11ab}\u{1100}\u{116e}\u{11a8} pass"), format!("{} 한국어", tag())),
            (Some("plain ascii"), "x".repeat(3000)),
        ] {
            let key = FragmentKey::generate();
            let nonce: [u8; 12] = rand::random();
            let nfc = passphrase.map(|p| {
                p.replace("\u{1112}\u{1161}\u{11ab}", "한").replace("\u{1100}\u{116e}\u{11a8}", "국")
            });
            let (blob, proof) =
                zk::seal_with_nonce(&key, nfc.as_deref(), plaintext.as_bytes(), nonce).expect("seal");
            cases.push(json!({
                "fragment": key.to_fragment().as_str(),
                "passphrase": passphrase,
                "nonce_hex": HEXLOWER.encode(&nonce),
                "plaintext": plaintext,
                "blob": BASE64URL_NOPAD.encode(&blob),
                "proof": proof.to_base64url(),
            }));
        }

        let b = Browser::open(Opts::default()).await;
        b.goto(&site.url("/about")).await.expect("about");
        let out = run_zk(
            &b,
            json!({ "cases": cases }),
            r#"
  const results = [];
  for (const c of args.cases) {
    const sealed = await zk.sealWithNonce(c.fragment, c.passphrase, utf8(c.plaintext), hex(c.nonce_hex));
    results.push({
      blob: zk.b64urlEncode(sealed.blob),
      proof: sealed.keyProof,
      opened: text(await zk.open(c.fragment, c.passphrase, zk.b64urlDecode(c.blob))),
    });
  }
  // A fresh key and seal (random nonce) for Rust to open.
  const fragment = zk.generateKey();
  const own = await zk.seal(fragment, "한국 pass", utf8("made in the browser 🙂"));
  results.push({ fragment, blob: zk.b64urlEncode(own.blob), proof: own.keyProof });
  return results;"#,
        )
        .await;
        b.close().await;

        let results = out.as_array().expect("results");
        for (c, r) in cases.iter().zip(results) {
            assert_eq!(r["blob"], c["blob"], "same blob from both sides");
            assert_eq!(r["proof"], c["proof"], "same key proof from both sides");
            assert_eq!(r["opened"], c["plaintext"], "zk.js opens Rust's blob");
        }
        let own = results.last().expect("own");
        let key = FragmentKey::from_fragment(own["fragment"].as_str().expect("fragment"))
            .expect("a valid fragment");
        let blob = BASE64URL_NOPAD.decode(own["blob"].as_str().expect("blob").as_bytes()).expect("base64url");
        let opened = zk::open(&key, Some("한국 pass"), &blob).expect("Rust opens the browser's blob");
        assert_eq!(opened.as_slice(), "made in the browser 🙂".as_bytes());
        assert_eq!(
            own["proof"].as_str(),
            Some(zk::key_proof(&key, Some("한국 pass")).to_base64url().as_str())
        );
    })
    .await;
}

/// `POST /api/v2/secrets/{key}/reveal` with a key proof, straight to the server.
async fn api_reveal(site: &Site, key: &str, proof: &str) -> (StatusCode, Value) {
    let resp = site
        .app
        .http
        .post(site.app.url(&format!("/api/v2/secrets/{key}/reveal")))
        .json(&json!({ "key_proof": proof }))
        .send()
        .await
        .expect("reveal");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn browser_made_link_opens_with_rust() {
    within(async {
        let site = Site::spawn().await;
        let secret = format!("BROWSER-TO-RUST-{} 브라우저에서 만든 비밀", tag());
        let passphrase = "열려라 참깨";

        let b = Browser::open(Opts::default()).await;
        let (link, _) = create_zk(&b, &site, &secret, Some(passphrase)).await;
        b.close().await;

        // What the CLI does with such a link: the fragment is the key; the proof unlocks the blob.
        let key = FragmentKey::from_fragment(&link.fragment).expect("a valid fragment key");
        let (status, _) = api_reveal(&site, &link.key, &zk::key_proof(&key, None).to_base64url()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the passphrase is part of the key");
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::OK, "a wrong proof consumed nothing");
        let (status, body) =
            api_reveal(&site, &link.key, &zk::key_proof(&key, Some(passphrase)).to_base64url()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["mode"], "zero_knowledge");
        assert!(body.get("value").is_none(), "the server has no plaintext to give: {body}");
        let blob =
            BASE64URL_NOPAD.decode(body["ciphertext"].as_str().expect("ciphertext").as_bytes()).expect("b64");
        assert_eq!(zk::blob_needs_passphrase(&blob), Ok(true));
        let opened = zk::open(&key, Some(passphrase), &blob).expect("open");
        assert_eq!(opened.as_slice(), secret.as_bytes());
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn rust_made_link_opens_in_the_browser() {
    within(async {
        let site = Site::spawn().await;
        let t = Catalog::get("en");
        let secret = format!("RUST-TO-BROWSER-{} 러스트에서 만든 비밀 🙂", tag());
        let passphrase = "한국어 암호";

        // As the CLI creates one: sealed locally, only the ciphertext and the key proof uploaded.
        let key = FragmentKey::generate();
        let (blob, proof) = zk::seal(&key, Some(passphrase), secret.as_bytes()).expect("seal");
        let resp = site
            .app
            .http
            .post(site.app.url("/api/v2/secrets"))
            .json(&json!({ "ciphertext": BASE64URL_NOPAD.encode(&blob), "key_proof": proof.to_base64url() }))
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: Value = resp.json().await.expect("json");
        let url =
            format!("{}#{}", created["secret_url"].as_str().expect("secret_url"), key.to_fragment().as_str());
        let link = ZkLink::parse(&site, &url);

        let b = Browser::open(Opts::default()).await;
        b.goto(&link.url).await.expect("open link");
        b.wait_css("form#zk-reveal #passphrase").await;
        assert_eq!(b.text("h1").await, t.t("preview-title"));
        b.type_into("#passphrase", passphrase).await;
        b.click("#zk-reveal button[type=submit]").await;
        let value = b.wait_css("#zk-revealed:not([hidden]) #zk-value").await;
        assert_eq!(value.prop("value").await.expect("value").as_deref(), Some(secret.as_str()));
        b.close().await;
        assert_eq!(api_preview(&site, &link.key).await, StatusCode::NOT_FOUND);
    })
    .await;
}
