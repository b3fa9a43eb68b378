//! API v2 over real HTTP: statuses, the error envelope, preview without consumption, both modes.

use once_crypto::zk;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

async fn body(resp: reqwest::Response) -> Value {
    resp.json().await.expect("json body")
}

async fn create(app: &TestApp, req: Value) -> Value {
    let resp = app.http.post(app.url("/api/v2/secrets")).json(&req).send().await.expect("create");
    assert_eq!(resp.status(), StatusCode::CREATED, "{req}");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    body(resp).await
}

async fn reveal(app: &TestApp, key: &str, req: Option<Value>) -> reqwest::Response {
    let r = app.http.post(app.url(&format!("/api/v2/secrets/{key}/reveal")));
    let r = match req {
        Some(v) => r.json(&v),
        None => r,
    };
    r.send().await.expect("reveal")
}

/// Asserts the v2 error envelope with `code` and returns its message.
async fn error(resp: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let e = body(resp).await;
    assert_eq!(e["error"]["code"], code, "{e}");
    e["error"]["message"].as_str().expect("message").to_owned()
}

async fn receipt(app: &TestApp, key: &str) -> Value {
    let resp = app.http.get(app.url(&format!("/api/v2/receipts/{key}"))).send().await.expect("receipt");
    assert_eq!(resp.status(), StatusCode::OK);
    body(resp).await
}

#[tokio::test]
async fn server_side_secret_previews_without_being_consumed_then_reveals_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = create(&app, json!({"secret": "hunter2", "ttl": 600})).await;
    assert_eq!(c["mode"], "server");
    assert_eq!(c["passphrase_required"], false);
    assert_eq!(c["max_views"], 1);
    assert_eq!(c["expires_at"].as_i64().expect("int") - c["created_at"].as_i64().expect("int"), 600);
    let key = c["secret_key"].as_str().expect("key");
    assert_eq!(c["secret_url"], format!("{}/secret/{key}", app.base));

    for _ in 0..5 {
        let resp = app.http.get(app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("preview");
        assert_eq!(resp.status(), StatusCode::OK);
        let p = body(resp).await;
        assert_eq!(p["mode"], "server");
        assert_eq!(p["views_left"], 1);
        let head = app.http.head(app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("head");
        assert_eq!(head.status(), StatusCode::OK);
    }
    let r = receipt(&app, c["receipt_key"].as_str().expect("receipt key")).await;
    assert_eq!(r["state"], "new");
    assert_eq!(r["views"], 0);

    let resp = reveal(&app, key, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let v = body(resp).await;
    assert_eq!(v["value"], "hunter2");
    assert_eq!(v["views_left"], 0);
    assert!(v.get("ciphertext").is_none());

    error(reveal(&app, key, None).await, StatusCode::NOT_FOUND, "not_found").await;
    // A JSON `null` body is "nothing to present", like no body.
    let other = create(&app, json!({"secret": "null body"})).await;
    let null = app
        .http
        .post(app.url(&format!("/api/v2/secrets/{}/reveal", other["secret_key"].as_str().expect("key"))))
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .expect("null body");
    assert_eq!(null.status(), StatusCode::OK);
    assert_eq!(body(null).await["value"], "null body");
    let resp = app.http.get(app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("preview");
    error(resp, StatusCode::NOT_FOUND, "not_found").await;
    let r = receipt(&app, c["receipt_key"].as_str().expect("receipt key")).await;
    assert_eq!(r["state"], "received");
    assert!(r["received_at"].is_i64());
    assert!(r.get("secret_key").is_none() && r.get("secret_url").is_none());
}

#[tokio::test]
async fn wrong_passphrase_consumes_nothing_and_views_count_down() {
    let app = TestApp::spawn(Backend::Memory).await;
    let c = create(&app, json!({"secret": "s", "passphrase": "correct horse", "max_views": 2})).await;
    let key = c["secret_key"].as_str().expect("key");
    assert_eq!(c["passphrase_required"], true);
    let p = body(app.http.get(app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("p")).await;
    assert_eq!(p["passphrase_required"], true);
    assert_eq!(p["views_left"], 2);

    error(reveal(&app, key, None).await, StatusCode::NOT_FOUND, "not_found").await;
    let wrong = reveal(&app, key, Some(json!({"passphrase": "wrong"}))).await;
    error(wrong, StatusCode::NOT_FOUND, "not_found").await;
    let r = receipt(&app, c["receipt_key"].as_str().expect("rk")).await;
    assert_eq!(
        (r["state"].as_str(), r["failures"].as_u64(), r["views_left"].as_u64()),
        (Some("new"), Some(1), Some(2))
    );

    let v = body(reveal(&app, key, Some(json!({"passphrase": "correct horse"}))).await).await;
    assert_eq!((v["value"].as_str(), v["views_left"].as_u64()), (Some("s"), Some(1)));
    let v = body(reveal(&app, key, Some(json!({"passphrase": "correct horse"}))).await).await;
    assert_eq!((v["value"].as_str(), v["views_left"].as_u64()), (Some("s"), Some(0)));
    error(
        reveal(&app, key, Some(json!({"passphrase": "correct horse"}))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn zero_knowledge_secret_needs_the_key_proof_and_the_server_never_sees_the_plaintext() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let plaintext = "ZK-CANARY-7f3a 비밀";
    let fragment_key = zk::FragmentKey::generate();
    let (blob, proof) = zk::seal(&fragment_key, None, plaintext.as_bytes()).expect("seal");
    let ct = data_encoding::BASE64URL_NOPAD.encode(&blob);
    let c = create(&app, json!({"ciphertext": ct, "key_proof": proof.to_base64url()})).await;
    assert_eq!(
        (c["mode"].as_str(), c["passphrase_required"].as_bool()),
        (Some("zero_knowledge"), Some(false))
    );
    let key = c["secret_key"].as_str().expect("key");
    let p = body(app.http.get(app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("p")).await;
    assert_eq!(p["mode"], "zero_knowledge");

    // A bare link (a bot, or API v1 without the proof) gets nothing and burns nothing.
    error(reveal(&app, key, None).await, StatusCode::NOT_FOUND, "not_found").await;
    let v1 = app.http.post(app.url(&format!("/api/v1/secret/{key}"))).send().await.expect("v1");
    assert_eq!(v1.status(), StatusCode::NOT_FOUND);
    let other = zk::key_proof(&zk::FragmentKey::generate(), None);
    let wrong = reveal(&app, key, Some(json!({"key_proof": other.to_base64url()}))).await;
    error(wrong, StatusCode::NOT_FOUND, "not_found").await;
    let r = receipt(&app, c["receipt_key"].as_str().expect("rk")).await;
    assert_eq!((r["state"].as_str(), r["failures"].as_u64()), (Some("new"), Some(1)));

    // The recipient derives the proof from the fragment alone.
    let recipient_key = zk::FragmentKey::from_fragment(&fragment_key.to_fragment()).expect("fragment");
    let proof = zk::key_proof(&recipient_key, None);
    let v = body(reveal(&app, key, Some(json!({"key_proof": proof.to_base64url()}))).await).await;
    assert_eq!(v["mode"], "zero_knowledge");
    assert!(v.get("value").is_none());
    let blob = data_encoding::BASE64URL_NOPAD
        .decode(v["ciphertext"].as_str().expect("ciphertext").as_bytes())
        .expect("base64url");
    assert_eq!(&zk::open(&recipient_key, None, &blob).expect("open")[..], plaintext.as_bytes());
    error(
        reveal(&app, key, Some(json!({"key_proof": proof.to_base64url()}))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Neither the plaintext nor the fragment key was ever in the database.
    let mut db = Vec::new();
    for entry in std::fs::read_dir(app._dir.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("once.db")) {
            db.extend(std::fs::read(&path).expect("read"));
        }
    }
    assert!(!db.is_empty());
    for needle in ["ZK-CANARY-7f3a".as_bytes(), fragment_key.to_fragment().as_bytes()] {
        assert!(!db.windows(needle.len()).any(|w| w == needle), "found in the database");
    }
}

#[tokio::test]
async fn zero_knowledge_passphrase_is_announced_by_the_preview() {
    let app = TestApp::spawn(Backend::Memory).await;
    let k = zk::FragmentKey::generate();
    let (blob, proof) = zk::seal(&k, Some("열려라 참깨"), b"x").expect("seal");
    let ct = data_encoding::BASE64URL_NOPAD.encode(&blob);
    let c = create(&app, json!({"ciphertext": ct, "key_proof": proof.to_base64url(), "ttl": 60})).await;
    assert_eq!(c["passphrase_required"], true);
    let key = c["secret_key"].as_str().expect("key");
    let p = body(app.http.get(app.url(&format!("/api/v2/secrets/{key}"))).send().await.expect("p")).await;
    assert_eq!(
        (p["mode"].as_str(), p["passphrase_required"].as_bool()),
        (Some("zero_knowledge"), Some(true))
    );
    // The proof without the passphrase is a wrong proof.
    let bare = zk::key_proof(&k, None);
    error(
        reveal(&app, key, Some(json!({"key_proof": bare.to_base64url()}))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let good = zk::key_proof(&k, Some("열려라 참깨"));
    let v = body(reveal(&app, key, Some(json!({"key_proof": good.to_base64url()}))).await).await;
    let blob =
        data_encoding::BASE64URL_NOPAD.decode(v["ciphertext"].as_str().expect("ct").as_bytes()).expect("b64");
    assert_eq!(&zk::open(&k, Some("열려라 참깨"), &blob).expect("open")[..], b"x");
}

#[tokio::test]
async fn burn_then_conflict_and_unknown_receipts() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = create(&app, json!({"secret": "to burn"})).await;
    let rk = c["receipt_key"].as_str().expect("rk");
    let resp = app.http.post(app.url(&format!("/api/v2/receipts/{rk}/burn"))).send().await.expect("burn");
    assert_eq!(resp.status(), StatusCode::OK);
    let r = body(resp).await;
    assert_eq!((r["state"].as_str(), r["burn_reason"].as_str()), (Some("burned"), Some("sender")));
    let again = app.http.post(app.url(&format!("/api/v2/receipts/{rk}/burn"))).send().await.expect("again");
    let m = error(again, StatusCode::CONFLICT, "conflict").await;
    assert!(m.contains("burned"), "{m}");
    error(reveal(&app, c["secret_key"].as_str().expect("k"), None).await, StatusCode::NOT_FOUND, "not_found")
        .await;

    for bad in ["nope", "0123456789abcdefghij0123456789abcdefghij0123456789", "%00", "..%2F..%2Fetc"] {
        let resp = app.http.get(app.url(&format!("/api/v2/receipts/{bad}"))).send().await.expect("get");
        error(resp, StatusCode::NOT_FOUND, "not_found").await;
        let resp =
            app.http.post(app.url(&format!("/api/v2/receipts/{bad}/burn"))).send().await.expect("burn");
        error(resp, StatusCode::NOT_FOUND, "not_found").await;
        error(reveal(&app, bad, None).await, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn bad_requests_get_clear_errors_in_the_envelope() {
    let app = TestApp::spawn(Backend::Memory).await;
    let post = |body: &'static str, ct: Option<&'static str>| {
        let mut r = app.http.post(app.url("/api/v2/secrets")).body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    let json_ct = Some("application/json");
    for (b, ct, status, code, says) in [
        ("secret=hi", Some("application/x-www-form-urlencoded"), 415, "unsupported_media_type", "JSON"),
        ("{\"secret\": \"hi\"}", None, 415, "unsupported_media_type", "JSON"),
        ("{\"secret\": ", json_ct, 400, "bad_request", "not valid JSON"),
        ("{\"secret\": 5}", json_ct, 400, "bad_request", "invalid type"),
        ("{\"secret\": \"hi\", \"colour\": 1}", json_ct, 400, "bad_request", "unknown field"),
        ("{}", json_ct, 400, "bad_request", "send secret"),
        ("{\"secret\": \"  \"}", json_ct, 400, "bad_request", "empty"),
        ("{\"secret\": \"hi\", \"ttl\": -1}", json_ct, 400, "bad_request", "ttl must be between 60 and"),
        ("{\"secret\": \"hi\", \"ttl\": 1e309}", json_ct, 400, "bad_request", ""),
        ("{\"secret\": \"hi\", \"ttl\": 9223372036854775808}", json_ct, 400, "bad_request", ""),
        ("{\"secret\": \"hi\", \"ttl\": 99999999}", json_ct, 400, "bad_request", "ttl must be between"),
        (
            "{\"secret\": \"hi\", \"max_views\": 0}",
            json_ct,
            400,
            "bad_request",
            "views must be between 1 and",
        ),
        (
            "{\"secret\": \"hi\", \"ciphertext\": \"AQA\", \"key_proof\": \"AA\"}",
            json_ct,
            400,
            "bad_request",
            "not both",
        ),
        ("{\"ciphertext\": \"AQA\"}", json_ct, 400, "bad_request", "both ciphertext and key_proof"),
        ("{\"ciphertext\": \"!!\", \"key_proof\": \"AA\"}", json_ct, 400, "bad_request", "base64url"),
        (
            "{\"ciphertext\": \"AQA\", \"key_proof\": \"AA\"}",
            json_ct,
            400,
            "bad_request",
            "key_proof must be 32 bytes",
        ),
        (
            "{\"ciphertext\": \"CQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"key_proof\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
            json_ct,
            400,
            "bad_request",
            "zero-knowledge format",
        ),
    ] {
        let resp = post(b, ct).await.expect("post");
        let m = error(resp, StatusCode::from_u16(status).expect("status"), code).await;
        assert!(m.contains(says), "{b}: {m}");
    }
    let big = "x".repeat(app.config.http.max_body_bytes + 1);
    let resp =
        app.http.post(app.url("/api/v2/secrets")).json(&json!({"secret": big})).send().await.expect("big");
    error(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let resp = app
        .http
        .post(app.url("/api/v2/secrets/abc/reveal"))
        .json(&json!({"passphrase": "a", "key_proof": "b"}))
        .send()
        .await
        .expect("both");
    error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn bearer_api_keys_own_secrets_and_list_them() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = app.add_user("alice@example.com").await;
    let auth = format!("Bearer {key}");
    for wrong in ["Bearer once_nope", "Bearer ", "Basic YTpi", "Bearer\u{7f}x"] {
        let Ok(resp) = app
            .http
            .post(app.url("/api/v2/secrets"))
            .header("authorization", wrong)
            .json(&json!({"secret": "x"}))
            .send()
            .await
        else {
            continue; // reqwest refuses some invalid header values itself.
        };
        assert_eq!(resp.headers()["www-authenticate"], "Bearer realm=\"Once API\"");
        error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    error(
        app.http.get(app.url("/api/v2/receipts")).send().await.expect("anon"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let mut made = Vec::new();
    for i in 0..3 {
        let resp = app
            .http
            .post(app.url("/api/v2/secrets"))
            .header("authorization", &auth)
            .json(&json!({"secret": format!("s{i}")}))
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status(), StatusCode::CREATED);
        made.push(body(resp).await["receipt_key"].as_str().expect("rk").to_owned());
    }
    create(&app, json!({"secret": "anonymous"})).await;
    let page = |cursor: Option<String>| {
        let mut url = app.url("/api/v2/receipts?limit=2");
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        app.http.get(url).header("authorization", &auth).send()
    };
    let first = body(page(None).await.expect("page 1")).await;
    let second = body(page(first["next"].as_str().map(str::to_owned)).await.expect("page 2")).await;
    let items: Vec<&Value> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .chain(second["items"].as_array().expect("items"))
        .collect();
    // Newest first by creation time (secrets made within one second come in id order).
    let times: Vec<i64> = items.iter().map(|r| r["created_at"].as_i64().expect("created_at")).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let mut keys: Vec<&str> = items.iter().map(|r| r["receipt_key"].as_str().expect("rk")).collect();
    keys.sort_unstable();
    made.sort_unstable();
    assert_eq!(keys, made, "all of them, each once, only the owner's");
    assert!(second.get("next").is_none());
    let resp = app
        .http
        .get(app.url("/api/v2/receipts?limit=0"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("0");
    error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
    let resp = app
        .http
        .get(app.url("/api/v2/receipts?cursor=zz"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("c");
    error(resp, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test]
async fn openapi_document_lists_every_v2_route() {
    let app = TestApp::spawn(Backend::Memory).await;
    let resp = app.http.get(app.url("/api/v2/openapi.json")).send().await.expect("openapi");
    assert_eq!(resp.status(), StatusCode::OK);
    let doc = body(resp).await;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    // The OpenAPI Initiative's JSON Schema for 3.1 documents (tests/fixtures, Apache-2.0).
    let schema: Value =
        serde_json::from_str(include_str!("../fixtures/openapi-3.1-schema.json")).expect("schema json");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let errors: Vec<String> =
        validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "the OpenAPI document is invalid: {errors:#?}");
    // Every operation documents its answers, and every error answer is the envelope.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|c| c.starts_with('2')), "{method} {path}: no success answer");
            for (code, r) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/Error", "{method} {path} {code}");
                }
            }
        }
    }
    let mut routes: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            routes.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    routes.sort();
    assert_eq!(
        routes,
        [
            "DELETE /api/v2/keys/{id}",
            "GET /api/v2/admin/usage",
            "GET /api/v2/keys",
            "GET /api/v2/receipts",
            "GET /api/v2/receipts/{key}",
            "GET /api/v2/secrets/{key}",
            "POST /api/v2/files",
            "POST /api/v2/keys",
            "POST /api/v2/receipts/{key}/burn",
            "POST /api/v2/secrets",
            "POST /api/v2/secrets/{key}/reveal",
        ]
    );
    for schema in [
        "CreateSecret",
        "Created",
        "Preview",
        "Reveal",
        "Revealed",
        "Receipt",
        "ReceiptPage",
        "Error",
        "CreateApiKey",
        "CreatedApiKey",
        "Usage",
        "UsageRow",
        "ApiKeyList",
    ] {
        assert!(doc["components"]["schemas"].get(schema).is_some(), "schema {schema}");
    }
}

#[tokio::test]
async fn the_browser_script_is_served_cacheable_with_an_etag() {
    let app = TestApp::spawn(Backend::Memory).await;
    let resp = app.http.get(app.url("/assets/js/zk.js")).send().await.expect("zk.js");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(resp.headers()["cache-control"].to_str().expect("ascii").starts_with("public"));
    let etag = resp.headers()["etag"].clone();
    assert!(resp.text().await.expect("text").contains("export async function seal"));
    let again =
        app.http.get(app.url("/assets/js/zk.js")).header("if-none-match", etag).send().await.expect("304");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    for missing in ["/assets/nope.js", "/assets/../Cargo.toml", "/assets/%2e%2e/Cargo.toml"] {
        let resp = app.http.get(app.url(missing)).send().await.expect("missing");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn every_cipher_serves_secrets_and_reads_the_others() {
    use once_crypto::AeadAlgorithm;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = app.config.data_dir.clone();
    // Secrets sealed by an AES instance ...
    let aes = create(&app, json!({"secret": "sealed with aes", "passphrase": "pw"})).await;
    // (`app` keeps the temp dir alive; the others share its SQLite file and key ring.)
    for alg in [AeadAlgorithm::Aria256Gcm, AeadAlgorithm::XChaCha20Poly1305] {
        let app = TestApp::spawn_with(Backend::Sqlite, |c| {
            c.crypto.algorithm = alg;
            c.data_dir = dir.clone();
            c.store = Some(format!("sqlite://{}", dir.join("once.db").display()));
        })
        .await;
        let c = create(&app, json!({"secret": "시크릿 with this cipher", "passphrase": "pw"})).await;
        let key = c["secret_key"].as_str().expect("key");
        // The newest envelope's header names the cipher (byte 1: 2 ARIA, 3 XChaCha).
        let db = rusqlite::Connection::open(dir.join("once.db")).expect("db");
        let header: Vec<u8> = db
            .query_row("SELECT envelope FROM secrets ORDER BY created_at DESC, id DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .expect("envelope");
        let want = if alg == AeadAlgorithm::Aria256Gcm { 2 } else { 3 };
        assert_eq!(header[1], want, "{alg:?}");
        let r = reveal(&app, key, Some(json!({"passphrase": "pw"}))).await;
        assert_eq!(r.status(), StatusCode::OK, "{alg:?}");
        assert_eq!(body(r).await["value"], "시크릿 with this cipher");
    }
    // ... open after the setting changed.
    let aria = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.crypto.algorithm = AeadAlgorithm::Aria256Gcm;
        c.data_dir = dir.clone();
        c.store = Some(format!("sqlite://{}", dir.join("once.db").display()));
    })
    .await;
    let r = reveal(&aria, aes["secret_key"].as_str().expect("key"), Some(json!({"passphrase": "pw"}))).await;
    assert_eq!(body(r).await["value"], "sealed with aes");
}
