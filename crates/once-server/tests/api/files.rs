//! File secrets over API v2: a multipart upload streamed to the store in chunks, a streamed
//! download on reveal, and what is left behind (nothing) once the last view is read.

use once_crypto::zk::file::{FileMeta, open_all, seal_reader};
use once_crypto::zk::{self, FragmentKey};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

/// Content that is not all one byte, `len` long.
fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// The file sealed as the CLI would: the blob, the link's key and the key proof.
fn seal(name: &str, data: &[u8], passphrase: Option<&str>) -> (Vec<u8>, FragmentKey, String) {
    let key = FragmentKey::generate();
    let meta = FileMeta::new(name, "application/octet-stream", data.len() as u64).expect("meta");
    let parts = seal_reader(&key, passphrase, &meta, data).expect("seal");
    let proof = parts.key_proof().to_base64url();
    let blob: Vec<u8> = parts.map(|p| p.expect("piece")).collect::<Vec<_>>().concat();
    (blob, key, proof)
}

fn form(options: Value, blob: Vec<u8>) -> Form {
    Form::new()
        .part("options", Part::text(options.to_string()).mime_str("application/json").expect("mime"))
        .part("content", Part::bytes(blob).file_name("blob"))
}

async fn upload(app: &TestApp, form: Form) -> reqwest::Response {
    app.http.post(app.url("/api/v2/files")).multipart(form).send().await.expect("upload")
}

async fn reveal_file(app: &TestApp, key: &str, proof: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/v2/secrets/{key}/reveal")))
        .header("accept", "application/octet-stream")
        .json(&json!({ "key_proof": proof }))
        .send()
        .await
        .expect("reveal")
}

fn chunk_rows(app: &TestApp) -> i64 {
    let conn = rusqlite::Connection::open(app.config.data_dir.join("once.db")).expect("db");
    conn.query_row("SELECT count(*) FROM chunks", [], |r| r.get(0)).expect("count")
}

async fn error_code(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.expect("json");
    body["error"]["code"].as_str().expect("code").to_owned()
}

#[tokio::test]
async fn a_file_uploads_in_chunks_reveals_once_and_leaves_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let data = content(3 * 1024 * 1024 + 12_345);
    let (blob, key, proof) = seal("report.pdf", &data, None);
    let resp =
        upload(&app, form(json!({ "key_proof": proof, "ttl": 3600, "max_views": 2 }), blob.clone())).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.expect("json");
    assert_eq!(created["mode"], "zero_knowledge");
    let secret_key = created["secret_key"].as_str().expect("key").to_owned();
    // Head in the envelope, the rest in 1 MiB chunks.
    assert_eq!(
        chunk_rows(&app) as usize,
        (blob.len() - once_core::HEAD_BYTES).div_ceil(once_core::CHUNK_BYTES)
    );

    let preview: Value = app
        .http
        .get(app.url(&format!("/api/v2/secrets/{secret_key}")))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(preview["file"]["size"], blob.len() as u64);
    assert_eq!(preview["views_left"], 2);

    // A client that takes only JSON is told, and nothing is used up.
    let as_text = app
        .http
        .post(app.url(&format!("/api/v2/secrets/{secret_key}/reveal")))
        .json(&json!({ "key_proof": proof }))
        .send()
        .await
        .expect("reveal");
    assert_eq!(error_code(as_text, StatusCode::BAD_REQUEST).await, "bad_request");
    // A wrong key proof is the same 404 as no secret.
    let wrong = zk::key_proof(&FragmentKey::generate(), None).to_base64url();
    assert_eq!(
        error_code(reveal_file(&app, &secret_key, &wrong).await, StatusCode::NOT_FOUND).await,
        "not_found"
    );

    for left in [1, 0] {
        let resp = reveal_file(&app, &secret_key, &proof).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        assert_eq!(resp.headers()["once-views-left"], left.to_string().as_str());
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let got = resp.bytes().await.expect("body");
        assert!(got[..] == blob[..], "the blob comes back byte for byte");
        let (meta, opened) = open_all(&key, None, &got).expect("opens");
        assert_eq!((meta.name(), meta.size()), ("report.pdf", data.len() as u64));
        assert!(opened[..] == data[..]);
    }
    assert_eq!(
        error_code(reveal_file(&app, &secret_key, &proof).await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    // The last download removed the content (right after the body ended).
    for _ in 0..50 {
        if chunk_rows(&app) == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(chunk_rows(&app), 0, "no chunk outlives the last view");
}

#[tokio::test]
async fn bad_uploads_are_refused_and_store_nothing() {
    let limit = 2 * 1024 * 1024;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.secrets.max_file_size = limit).await;
    // The limit is on the file; its encrypted form may be a little larger, not more.
    let (blob, _, proof) = seal("big.bin", &content(once_core::sealed_allowance(limit) as usize + 1), None);
    let options = json!({ "key_proof": proof });
    let resp = upload(&app, form(options.clone(), blob)).await;
    assert_eq!(error_code(resp, StatusCode::PAYLOAD_TOO_LARGE).await, "payload_too_large");
    assert_eq!(chunk_rows(&app), 0, "an upload over the cap leaves no chunk behind");

    let (small, _, proof) = seal("small.txt", b"hello", None);
    // The options first, with a key proof, and without secret or ciphertext.
    let only_content = Form::new().part("content", Part::bytes(small.clone()));
    assert_eq!(error_code(upload(&app, only_content).await, StatusCode::BAD_REQUEST).await, "bad_request");
    for options in [
        json!({}),
        json!({ "key_proof": proof, "ciphertext": "AAAA" }),
        json!({ "key_proof": proof, "ttl": -5 }),
    ] {
        let resp = upload(&app, form(options, small.clone())).await;
        assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "bad_request");
    }
    // Not the zero-knowledge file format.
    let resp = upload(&app, form(json!({ "key_proof": proof }), b"\x01not a file".to_vec())).await;
    assert_eq!(error_code(resp, StatusCode::BAD_REQUEST).await, "bad_request");
    let not_multipart = app.http.post(app.url("/api/v2/files")).json(&json!({})).send().await.expect("post");
    assert_eq!(error_code(not_multipart, StatusCode::UNSUPPORTED_MEDIA_TYPE).await, "unsupported_media_type");
    assert_eq!(chunk_rows(&app), 0);

    // A file of exactly the limit fits (its encrypted form is larger than the limit).
    let (exact, _, exact_proof) = seal("exact.bin", &content(limit as usize), None);
    assert!(exact.len() as u64 > limit);
    let resp = upload(&app, form(json!({ "key_proof": exact_proof }), exact)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(chunk_rows(&app) > 0);

    // And a small one goes through (all of it in the envelope: no chunk).
    let before = chunk_rows(&app);
    let resp = upload(&app, form(json!({ "key_proof": proof }), small)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(chunk_rows(&app), before);
}

/// A multipart body whose content part arrives in `pieces`, `pause` apart, then (unless
/// `stall`) ends properly.
fn slow_form(options: Value, pieces: Vec<Vec<u8>>, pause: std::time::Duration, stall: bool) -> reqwest::Body {
    let boundary = "once-test-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"options\"\r\nContent-Type: application/json\r\n\r\n{options}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"f\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let stream = futures_util::stream::unfold(
        (0usize, Some(head), pieces, Some(tail)),
        move |(i, head, pieces, tail)| async move {
            if let Some(h) = head {
                return Some((Ok::<_, std::io::Error>(h.into_bytes()), (i, None, pieces, tail)));
            }
            if i < pieces.len() {
                tokio::time::sleep(pause).await;
                let piece = pieces[i].clone();
                return Some((Ok(piece), (i + 1, None, pieces, tail)));
            }
            if stall {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            }
            tail.map(|t| (Ok(t.into_bytes()), (i, None, pieces, None)))
        },
    );
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn a_slow_upload_may_outlast_the_request_timeout_but_not_stall() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.http.request_timeout_secs = 1).await;
    let (blob, _, proof) = seal("slow.bin", &content(1024 * 1024 + 100_000), None);
    let pieces: Vec<Vec<u8>> = blob.chunks(blob.len() / 5 + 1).map(<[u8]>::to_vec).collect();
    let pause = std::time::Duration::from_millis(400);
    let content_type = "multipart/form-data; boundary=once-test-boundary";
    // Five pieces 0.4 s apart: two seconds in all, against a one-second request timeout.
    let resp = app
        .http
        .post(app.url("/api/v2/files"))
        .header("content-type", content_type)
        .body(slow_form(json!({ "key_proof": proof }), pieces.clone(), pause, false))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::CREATED, "{:?}", resp.text().await);
    let rows = chunk_rows(&app);
    assert_eq!(rows as usize, (blob.len() - once_core::HEAD_BYTES).div_ceil(once_core::CHUNK_BYTES));

    // One piece, then nothing: 408 after the timeout, and what came is dropped.
    let resp = app
        .http
        .post(app.url("/api/v2/files"))
        .header("content-type", content_type)
        .body(slow_form(json!({ "key_proof": proof }), pieces, std::time::Duration::ZERO, true))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(chunk_rows(&app), rows, "the stalled upload left no chunk");
}
