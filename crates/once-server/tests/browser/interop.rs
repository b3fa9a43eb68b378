//! Zero-knowledge format v1 in the browser: `/assets/js/zk.js` (WebCrypto, as served) against the
//! shared vectors and against the Rust implementation (`once_crypto::zk`, used by the CLI), both
//! ways through API v2; and the file format (`zk::file`, `sealFile` / `openFile`) against its
//! vectors and Rust, both ways.

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use once_crypto::zk::file::{self as zk_file, FileMeta, FileOpener, Opened};
use once_crypto::zk::{self, FragmentKey};
use rand::RngCore;
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

#[tokio::test]
async fn zk_js_matches_the_shared_file_vectors() {
    within(async {
        let site = Site::spawn().await;
        let file: Value = serde_json::from_str(VECTORS).expect("vectors parse");
        assert_eq!(file["file_format"], "once-zk-file-v1");
        let vectors = file["file_vectors"].as_array().expect("file_vectors");
        assert!(vectors.len() >= 4);
        // A text blob, which openFile must tell apart from a file blob.
        let text_blob = &file["vectors"][0]["blob_b64url"];

        let b = Browser::open(Opts::default()).await;
        b.goto(&site.url("/about")).await.expect("about");
        // One script per vector: each stays well inside WebDriver's 30 s script limit.
        for v in vectors {
            let name = v["name"].as_str().expect("name");
            let out = run_zk(
                &b,
                json!({ "v": v, "text_blob": text_blob }),
                r#"
  const v = args.v;
  const tohex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const bytesOf = async (blob) => new Uint8Array(await blob.arrayBuffer());
  // The blob arrives as a stream in odd-sized pieces, as a download would.
  const streamOf = (bytes, sizes) => {
    let pos = 0, i = 0;
    return new ReadableStream({ pull(c) {
      if (pos >= bytes.length) { c.close(); return; }
      const n = sizes[i++ % sizes.length];
      c.enqueue(bytes.slice(pos, pos + n));
      pos += n;
    } });
  };
  const file = new File([hex(v.content_hex)], "ignored.name", { type: "ignored/type" });
  const sealed = await zk.sealFileWithNoncePrefix(v.fragment, file, {
    passphrase: v.passphrase, name: v.meta.name, type: v.meta.type,
    chunkLog: v.chunk_log, noncePrefix: hex(v.nonce_prefix_hex),
  });
  const blob = hex(v.blob_hex);
  const progress = [];
  const opened = await zk.openFile(streamOf(blob, [7, 4093, 1, 65537]), v.fragment, v.passphrase,
    (done, total) => progress.push([done, total]));
  const changed = (f) => { const t = blob.slice(); f(t); return t; };
  const last = blob.length - 1;
  return {
    blob: tohex(await bytesOf(sealed.blob)),
    size: sealed.size,
    proof: sealed.keyProof,
    key_proof: await zk.keyProof(v.fragment, v.passphrase),
    meta: opened.meta,
    content: tohex(await bytesOf(opened.blob)),
    blob_type: opened.blob.type,
    progress,
    needs_passphrase: zk.fileNeedsPassphrase(blob.subarray(0, 10)),
    refusals: {
      other_passphrase: await codeOf(zk.openFile(blob, v.fragment, v.passphrase === null ? "x" : null)),
      last_bit: await codeOf(zk.openFile(changed((t) => { t[last] ^= 1; }), v.fragment, v.passphrase)),
      meta_bit: await codeOf(zk.openFile(changed((t) => { t[20] ^= 0x80; }), v.fragment, v.passphrase)),
      header_bit: await codeOf(zk.openFile(changed((t) => { t[3] ^= 1; }), v.fragment, v.passphrase)),
      meta_len: await codeOf(zk.openFile(changed((t) => { t[13] ^= 1; }), v.fragment, v.passphrase)),
      chunk_log: await codeOf(zk.openFile(changed((t) => { t[2] = 23; }), v.fragment, v.passphrase)),
      cut_by_one: await codeOf(zk.openFile(blob.slice(0, last), v.fragment, v.passphrase)),
      // Cut at a segment boundary: the last segment (with the final flag) missing.
      cut_segment: await codeOf(zk.openFile(blob.slice(0, blob.length - 16 - (v.meta.size % 4096 || 4096)),
        v.fragment, v.passphrase)),
      extra_byte: await codeOf(zk.openFile(new Blob([blob, new Uint8Array(1)]), v.fragment, v.passphrase)),
      text_blob: await codeOf(zk.openFile(zk.b64urlDecode(args.text_blob), v.fragment, v.passphrase)),
    },
  };"#,
            )
            .await;

            assert_eq!(out["blob"], v["blob_hex"], "{name}: sealFileWithNoncePrefix");
            let blob_len = v["blob_hex"].as_str().expect("hex").len() / 2;
            assert_eq!(out["size"], json!(blob_len), "{name}: size");
            assert_eq!(out["proof"], v["key_proof_b64url"], "{name}: sealFile's key proof");
            assert_eq!(out["key_proof"], v["key_proof_b64url"], "{name}: keyProof");
            assert_eq!(out["meta"], v["meta"], "{name}: openFile's meta");
            assert_eq!(out["content"], v["content_hex"], "{name}: openFile's content");
            assert_eq!(out["blob_type"], "application/octet-stream", "{name}: never the sender's type");
            assert_eq!(out["needs_passphrase"], !v["passphrase"].is_null(), "{name}");
            let size = v["meta"]["size"].as_u64().expect("size");
            let progress = out["progress"].as_array().expect("progress");
            assert_eq!(progress.first(), Some(&json!([0, size])), "{name}: progress starts at 0");
            assert_eq!(progress.last(), Some(&json!([size, size])), "{name}: progress ends at the size");
            for (what, code) in out["refusals"].as_object().expect("refusals") {
                let expected = if what == "text_blob" { "unsupported-version" } else { "failed" };
                // An empty file has no content segment to cut.
                if what == "cut_segment" && size == 0 {
                    continue;
                }
                assert_eq!(code, expected, "{name}: {what}");
            }
        }

        // fileBaseName and Rust's base_name make the same names.
        let raw = [
            "/home/me/report.pdf",
            "C:\\Users\\me\\보고서.hwp",
            "dir/sub/",
            "a\u{0}b\nc\u{7f}d\u{85}.txt",
            "",
            "..",
            "x/..",
            "say \"hi\".txt",
            &format!("{}.tar.gz", "가".repeat(100)),
            &"x".repeat(300),
            &format!("{}.{}", "y".repeat(250), "z".repeat(20)),
        ];
        let out = run_zk(&b, json!({ "raw": raw }), "return args.raw.map((r) => zk.fileBaseName(r));").await;
        b.close().await;
        let rust: Vec<String> = raw.iter().map(|r| zk_file::base_name(r)).collect();
        assert_eq!(out, json!(rust), "fileBaseName = base_name");
    })
    .await;
}

/// Opens a file blob with the push parser, fed in odd-sized pieces as a download arrives.
fn open_streamed(key: &FragmentKey, passphrase: Option<&str>, blob: &[u8]) -> (FileMeta, Vec<u8>) {
    let mut opener = FileOpener::new(key, passphrase);
    let (mut meta, mut content) = (None, Vec::new());
    for piece in blob.chunks(65_537) {
        for opened in opener.push(piece).expect("push") {
            match opened {
                Opened::Meta(m) => meta = Some(m),
                Opened::Data(d) => content.extend_from_slice(&d),
            }
        }
    }
    opener.finish().expect("complete");
    (meta.expect("metadata"), content)
}

#[tokio::test]
async fn files_sealed_in_rust_open_in_js_and_back() {
    within(async {
        let site = Site::spawn().await;

        // Rust → JS: 1 MiB and a little, at the writers' 256 KiB chunks, as the CLI uploads it.
        let mut content = vec![0u8; (1 << 20) + 7];
        rand::thread_rng().fill_bytes(&mut content);
        let key = FragmentKey::generate();
        let meta = FileMeta::new("러스트 파일 (1).bin", "application/x-once-test", content.len() as u64)
            .expect("meta");
        let parts = zk_file::seal_reader(&key, None, &meta, &content[..]).expect("seal");
        let proof = parts.key_proof().to_base64url();
        let sealed_len = parts.sealed_len();
        let blob = parts.collect::<std::io::Result<Vec<_>>>().expect("sealed").concat();
        assert_eq!(blob.len() as u64, sealed_len);

        let b = Browser::open(Opts::default()).await;
        b.goto(&site.url("/about")).await.expect("about");
        let out = run_zk(
            &b,
            json!({ "fragment": key.to_fragment().as_str(), "blob": BASE64URL_NOPAD.encode(&blob) }),
            r#"
  const opened = await zk.openFile(new Blob([zk.b64urlDecode(args.blob)]).stream(), args.fragment, null);
  return {
    meta: opened.meta,
    content: zk.b64urlEncode(new Uint8Array(await opened.blob.arrayBuffer())),
    proof: await zk.keyProof(args.fragment, null),
    wrong: await codeOf(zk.openFile(zk.b64urlDecode(args.blob), zk.generateKey(), null)),
  };"#,
        )
        .await;
        assert_eq!(
            out["meta"],
            json!({ "name": meta.name(), "type": meta.content_type(), "size": meta.size() }),
            "zk.js reads Rust's metadata"
        );
        let opened =
            BASE64URL_NOPAD.decode(out["content"].as_str().expect("content").as_bytes()).expect("b64");
        assert!(opened == content, "zk.js opens Rust's file");
        assert_eq!(out["proof"].as_str(), Some(proof.as_str()), "one key proof for both");
        assert_eq!(out["wrong"], "failed");

        // JS → Rust: a 1 MiB File with a passphrase (typed decomposed: zk.js normalises it to NFC).
        let out = run_zk(
            &b,
            json!({}),
            r#"
  const content = new Uint8Array(1 << 20);
  for (let i = 0; i < content.length; i += 65536) crypto.getRandomValues(content.subarray(i, i + 65536));
  const file = new File([content], "브라우저 파일.dat", { type: "application/x-once-test" });
  const progress = [];
  const sealed = await zk.sealFile(file, {
    passphrase: "\u1112\u1161\u11ab\u1100\u116e\u11a8 pass",
    onProgress: (done, total) => progress.push([done, total]),
  });
  return {
    fragment: sealed.fragment,
    proof: sealed.keyProof,
    size: sealed.size,
    progress,
    blob: zk.b64urlEncode(new Uint8Array(await sealed.blob.arrayBuffer())),
    content: zk.b64urlEncode(content),
  };"#,
        )
        .await;
        b.close().await;

        let key = FragmentKey::from_fragment(out["fragment"].as_str().expect("fragment")).expect("fragment");
        let blob = BASE64URL_NOPAD.decode(out["blob"].as_str().expect("blob").as_bytes()).expect("b64");
        let content =
            BASE64URL_NOPAD.decode(out["content"].as_str().expect("content").as_bytes()).expect("b64");
        assert_eq!(out["size"], json!(blob.len()), "sealFile's size is the blob's length");
        assert_eq!(blob[2], zk_file::CHUNK_LOG, "the writers' chunk size");
        assert_eq!(zk_file::needs_passphrase(&blob), Ok(true));
        let progress = out["progress"].as_array().expect("progress");
        assert_eq!(progress.len(), 1 + 4, "0, then each 256 KiB chunk");
        assert_eq!(progress.last(), Some(&json!([1 << 20, 1 << 20])));

        let pass = "한국 pass";
        assert_eq!(out["proof"].as_str(), Some(zk::key_proof(&key, Some(pass)).to_base64url().as_str()));
        let (meta, opened) = open_streamed(&key, Some(pass), &blob);
        assert_eq!(
            (meta.name(), meta.content_type(), meta.size()),
            ("브라우저 파일.dat", "application/x-once-test", 1 << 20)
        );
        assert!(opened == content, "Rust opens the browser's file");
        assert_eq!(
            blob.len() as u64,
            zk_file::sealed_len(meta.size(), zk_file::CHUNK_LOG, meta.to_json().len()),
            "sealed_len agrees with the browser"
        );
        assert_eq!(zk_file::open_all(&key, None, &blob).err(), Some(zk::ZkError::Failed));
    })
    .await;
}
