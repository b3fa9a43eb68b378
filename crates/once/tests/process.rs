//! The `once` binary as users run it: real processes, a real SQLite file, real signals.

use std::process::Command;
use std::time::Duration;

use once_client::ShareOptions;

mod common;

use common::{Server, once, once_with_input, reveal_race};

#[tokio::test]
async fn first_run_generates_a_0600_key_and_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), "first", &[]);
    let m = server.client().share("hi", &ShareOptions::default()).await.expect("share");
    assert_eq!(
        server.client().reveal(m.secret_key.as_deref().expect("key"), None).await.expect("reveal").value,
        "hi"
    );
    let log = server.stop();
    let keyring = dir.path().join("keyring.json");
    assert!(log.contains(&keyring.display().to_string()), "{log}");
    assert!(log.contains("BACK THIS FILE UP"), "{log}");
    assert!(dir.path().join("once.db").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&keyring).expect("keyring").permissions().mode() & 0o777, 0o600);
    assert!(!log.contains("\u{1b}["), "no colour codes when stderr is not a terminal");
}

#[test]
fn a_new_data_dir_is_private() {
    let (parent, logs) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let data = parent.path().join("fresh").join("once-data");
    drop(Server::spawn(&data, logs.path().join("serve.log"), &[], &[]));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&data).expect("data dir").permissions().mode() & 0o777, 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_after_acknowledged_creates_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), "a", &[]);
    let client = server.client();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let m = client.share(&format!("secret-{i}"), &ShareOptions::default()).await.expect("share");
            (i, m.secret_key.expect("key"))
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.expect("task"));
    }
    // Every create above was acknowledged; kill -9 at once.
    server.kill_9();
    let server = Server::start(dir.path(), "b", &[]);
    let client = server.client();
    for (i, key) in &acked {
        assert_eq!(client.reveal(key, None).await.expect("survived kill -9").value, format!("secret-{i}"));
        assert_eq!(client.reveal(key, None).await.expect_err("once").status(), Some(404));
    }
    // And what was revealed stays revealed across another kill -9.
    server.kill_9();
    let server = Server::start(dir.path(), "c", &[]);
    for (_, key) in &acked {
        assert_eq!(server.client().reveal(key, None).await.expect_err("no resurrection").status(), Some(404));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_sqlite_file_reveal_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Server::start(dir.path(), "a", &[]);
    let b = Server::start(dir.path(), "b", &[]);
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    for round in 0..5 {
        let m = a.client().share(&format!("round-{round}"), &ShareOptions::default()).await.expect("share");
        let key = m.secret_key.expect("key");
        let winners = reveal_race(&http, &[a.base(), b.base()], &key, 200, &format!("round-{round}")).await;
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn a_lost_key_ring_stops_startup_instead_of_burning_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), "first", &[]);
    let m = server.client().share("sealed", &ShareOptions::default()).await.expect("share");
    server.stop();
    let ring = dir.path().join("keyring.json");
    std::fs::rename(&ring, dir.path().join("keyring.json.bak")).expect("lose the key ring");

    let out = common::once_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run once serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must refuse: {stderr}");
    assert!(stderr.contains("restore it from backup"), "{stderr}");

    // Restored from backup: the secret is still there.
    std::fs::rename(dir.path().join("keyring.json.bak"), &ring).expect("restore");
    let server = Server::start(dir.path(), "restored", &[]);
    let secret = server.client().reveal(&m.secret_key.expect("key"), None).await.expect("reveal");
    assert_eq!(secret.value, "sealed");
}

#[tokio::test]
async fn canaries_never_reach_logs_or_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), "canary", &[("RUST_LOG", "trace"), ("ONCE_LOG_FORMAT", "json")]);
    let client = server.client();
    let secret = "CANARY-SECRET-7f1c2e9a";
    let pass = "CANARY-PASS-41d0b7";
    let opts = ShareOptions { passphrase: Some(pass.into()), ..ShareOptions::default() };
    let m = client.share(secret, &opts).await.expect("share");
    let key = m.secret_key.clone().expect("key");
    client.reveal(&key, Some("CANARY-WRONG-9e2f")).await.expect_err("wrong passphrase");
    client.receipt(&m.metadata_key).await.expect("receipt");
    assert_eq!(client.reveal(&key, Some(pass)).await.expect("reveal").value, secret);
    let m2 = client.share(secret, &ShareOptions::default()).await.expect("share 2");
    client.burn(&m2.metadata_key).await.expect("burn");
    let (ok, api_key, _) = once(&["user", "add", "canary@example.com"], dir.path());
    assert!(ok);
    let api_key = api_key.trim().to_owned();
    let authed = client.clone().with_auth("canary@example.com", &api_key);
    authed.share(secret, &ShareOptions::default()).await.expect("authed share");
    authed.recent().await.expect("recent");
    // A second key made through API v2, used, then revoked.
    let http = reqwest::Client::new();
    let made: serde_json::Value = http
        .post(format!("{}/api/v2/keys", server.base()))
        .bearer_auth(&api_key)
        .json(&serde_json::json!({ "name": "ci", "scopes": ["share"], "expires_in": 3600 }))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("json");
    let second_key = made["key"].as_str().expect("key").to_owned();
    let used = http
        .post(format!("{}/api/v2/secrets", server.base()))
        .bearer_auth(&second_key)
        .json(&serde_json::json!({ "secret": secret }))
        .send()
        .await
        .expect("share with the new key");
    assert_eq!(used.status(), reqwest::StatusCode::CREATED);
    let id = made["info"]["id"].as_str().expect("id");
    let revoked = http
        .delete(format!("{}/api/v2/keys/{id}", server.base()))
        .bearer_auth(&api_key)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), reqwest::StatusCode::NO_CONTENT);
    let log = server.stop();
    assert!(log.contains("once::audit"), "audit events are logged");
    let forbidden = [
        secret.to_owned(),
        pass.to_owned(),
        "CANARY-WRONG".to_owned(),
        key.clone(),
        m.metadata_key.clone(),
        m2.metadata_key.clone(),
        api_key.clone(),
        second_key.clone(),
        data_encoding_b64(secret),
        hex(secret),
    ];
    for needle in &forbidden {
        assert!(!log.contains(needle.as_str()), "log leaks {needle}");
    }
    for name in ["once.db", "once.db-wal"] {
        let path = dir.path().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            for needle in [secret, pass, key.as_str(), api_key.as_str(), second_key.as_str()] {
                assert!(!text.contains(needle), "{name} holds {needle}");
            }
        }
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn data_encoding_b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn destroyed_key_makes_its_secrets_unopenable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), "a", &[]);
    let old = server.client().share("under the old key", &ShareOptions::default()).await.expect("share");
    let kept = server.client().share("also old", &ShareOptions::default()).await.expect("share");
    server.stop();

    let (ok, list, _) = once(&["keys", "list"], dir.path());
    assert!(ok);
    let old_id = list.lines().nth(1).and_then(|l| l.split_whitespace().next()).expect("old id").to_owned();
    let (ok, new_id, err) = once(&["keys", "generate", "--activate"], dir.path());
    assert!(ok, "{err}");
    let new_id = new_id.trim().to_owned();
    let (_, list, _) = once(&["keys", "list"], dir.path());
    assert!(list.contains(&format!("{old_id:<16} decrypt-only")), "{list}");
    assert!(list.contains(&format!("{new_id:<16} active")), "{list}");
    assert!(!list.contains("material"));

    // Decrypt-only: old secrets still open; new ones use the new key.
    let server = Server::start(dir.path(), "b", &[]);
    assert_eq!(
        server
            .client()
            .reveal(kept.secret_key.as_deref().expect("key"), None)
            .await
            .expect("old key opens")
            .value,
        "also old"
    );
    let fresh = server.client().share("under the new key", &ShareOptions::default()).await.expect("share");
    server.stop();

    let (ok, _, err) = once(&["keys", "destroy", &old_id], dir.path());
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, _, err) = once(&["keys", "destroy", &new_id, "--yes"], dir.path());
    assert!(!ok && err.contains("active"), "the active key can't be destroyed: {err}");
    let (ok, _, err) = once(&["keys", "destroy", &old_id, "--yes"], dir.path());
    assert!(ok, "{err}");

    let server = Server::start(dir.path(), "c", &[]);
    let e =
        server.client().reveal(old.secret_key.as_deref().expect("key"), None).await.expect_err("shredded");
    assert_eq!(e.status(), Some(404));
    assert_eq!(
        server.client().reveal(fresh.secret_key.as_deref().expect("key"), None).await.expect("new key").value,
        "under the new key"
    );
    let log = server.stop();
    assert!(log.contains("master_key_destroyed"), "the audit log records the real reason");
}

#[tokio::test]
async fn user_add_prints_a_key_that_authenticates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, key, err) = once(&["user", "add", "Bob@Example.com", "--admin"], dir.path());
    assert!(ok, "{err}");
    assert!(key.trim().starts_with("once_"));
    assert!(err.contains("shown only now"));
    let (ok, _, err) = once(&["user", "add", "bob@example.com"], dir.path());
    assert!(!ok && err.contains("already"), "{err}");
    let (ok, list, _) = once(&["user", "list"], dir.path());
    assert!(ok && list.contains("bob@example.com") && list.contains("admin"));
    assert!(!list.contains(key.trim()));
    let server = Server::start(dir.path(), "a", &[]);
    let check = server.client().with_auth("bob@example.com", key.trim()).authcheck().await.expect("auth");
    assert_eq!(check.status, "nominal");
    let wrong =
        server.client().with_auth("bob@example.com", "once_wrong").authcheck().await.expect_err("wrong");
    assert_eq!(wrong.status(), Some(401));
}

#[test]
fn user_password_reads_stdin_and_applies_the_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, err) = once(&["user", "add", "carol@example.com"], dir.path());
    assert!(ok, "{err}");
    let (ok, _, err) =
        once_with_input(&["user", "password", "carol@example.com"], dir.path(), "carol-1234-5678\n");
    assert!(!ok && err.contains("password refused") && err.contains("e-mail"), "{err}");
    let (ok, _, err) = once_with_input(&["user", "password", "dave@example.com"], dir.path(), "x\n");
    assert!(!ok, "{err}");
    let (ok, _, err) = once_with_input(&["user", "password", "carol@example.com"], dir.path(), "");
    assert!(!ok && err.contains("no password"), "{err}");
    let (ok, out, err) = once_with_input(
        &["user", "password", "carol@example.com"],
        dir.path(),
        "correct horse battery staple\n",
    );
    assert!(ok && err.contains("password set"), "{err}");
    assert!(!out.contains("correct horse") && !err.contains("correct horse"));
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrase_load_keeps_memory_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Real Argon2id cost (19 MiB per derivation).
    let server = Server::start(dir.path(), "kdf", &[("ONCE_CRYPTO__PASSPHRASE_M_COST_KIB", "19456")]);
    let client = server.client();
    let opts = ShareOptions { passphrase: Some("correct horse".into()), ..ShareOptions::default() };
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (client, opts) = (client.clone(), opts.clone());
        tasks.push(tokio::spawn(async move {
            for j in 0..5 {
                let m = client.share(&format!("s{i}-{j}"), &opts).await.expect("share");
                let key = m.secret_key.expect("key");
                client.reveal(&key, Some("wrong")).await.expect_err("wrong passphrase");
                assert_eq!(
                    client.reveal(&key, Some("correct horse")).await.expect("reveal").value,
                    format!("s{i}-{j}")
                );
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    // 360 derivations of 19 MiB each, 24 at a time: memory stays near (KDF concurrency × 19 MiB).
    let rss = rss_mib(server.child.id());
    assert!(rss < 300.0, "server RSS {rss:.0} MiB after passphrase load");
}

#[tokio::test]
async fn memory_store_writes_nothing_to_disk() {
    let (parent, logs) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let data = parent.path().join("never-created");
    let server = Server::spawn(&data, logs.path().join("serve.log"), &["--store", "memory://"], &[]);
    let client = server.client();
    let m = client.share("ephemeral", &ShareOptions::default()).await.expect("share");
    assert_eq!(
        client.reveal(m.secret_key.as_deref().expect("key"), None).await.expect("reveal").value,
        "ephemeral"
    );
    server.kill_9();
    assert!(!data.exists(), "memory:// created {}", data.display());
    assert_eq!(std::fs::read_dir(parent.path()).expect("list").count(), 0);
}

#[test]
fn sigterm_finishes_the_request_in_flight() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start(dir.path(), "term", &[]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let body = b"secret=in-flight&ttl=600";
    write!(
        stream,
        "POST /api/v1/share HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("headers");
    stream.write_all(&body[..7]).expect("first part");
    std::thread::sleep(Duration::from_millis(200));
    let term = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("kill");
    assert!(term.success());
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[7..]).expect("rest of the body");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"secret_key\""), "{response}");
    let status = server.child.wait().expect("wait");
    assert!(status.success(), "exit after draining: {status}");
}

#[test]
fn help_and_bad_config_are_clear() {
    let out = common::once_command().arg("--help").output().expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("serve") && text.contains("keys") && text.contains("user"));
    let out = common::once_command().args(["serve", "--help"]).output().expect("serve help");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--listen", "--store", "--data-dir", "--config", "ONCE_CONFIG"] {
        assert!(text.contains(flag), "serve --help mentions {flag}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::once_command()
        .args(["serve", "--store", "postgres://x", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("bad store");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("sqlite://") && err.contains("memory://"), "{err}");
    let out = common::once_command().args(["serve", "--print-config-example"]).output().expect("example");
    assert!(String::from_utf8_lossy(&out.stdout).contains("[secrets]"));
}

#[tokio::test]
async fn the_audit_trail_records_what_happened_and_verify_catches_tampering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), "audit", &[]);
    let client = server.client();
    let opts = ShareOptions { passphrase: Some("right".into()), ..ShareOptions::default() };
    let m = client.share("AUDITED-SECRET", &opts).await.expect("share");
    let key = m.secret_key.clone().expect("key");
    client.reveal(&key, Some("wrong")).await.expect_err("wrong passphrase");
    client.reveal(&key, Some("right")).await.expect("reveal");
    // A graceful stop appends everything still queued.
    server.stop();
    let (ok, _, err) = once(&["user", "add", "auditor@example.com"], dir.path());
    assert!(ok, "{err}");

    let (ok, out, err) = once(&["audit", "verify"], dir.path());
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("ok: 4 records, 1 to 4"), "{out}");
    let (ok, out, _) = once(&["audit", "export"], dir.path());
    assert!(ok);
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let what: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().expect("event"),
                l["outcome"].as_str().expect("outcome"),
                l["client"].as_str().expect("client"),
            )
        })
        .collect();
    assert_eq!(
        what,
        [
            ("secret.created", "ok", "127.0.0.1"),
            ("secret.reveal", "denied:wrong_passphrase", "127.0.0.1"),
            ("secret.revealed", "ok", "127.0.0.1"),
            ("account.created", "ok", ""),
        ]
    );
    assert!(!out.contains("AUDITED-SECRET") && !out.contains(&key) && !out.contains("wrong\""));
    let (_, later, _) = once(&["audit", "export", "--since", "2999-01-01"], dir.path());
    assert!(later.is_empty(), "{later}");

    // Changing, then deleting, one record: verify names it and fails.
    let db = rusqlite::Connection::open(dir.path().join("once.db")).expect("open");
    db.execute("UPDATE audit SET outcome = 'ok' WHERE seq = 2", []).expect("tamper");
    let (ok, out, _) = once(&["audit", "verify"], dir.path());
    assert!(!ok && out.contains("BROKEN at record 2"), "{out}");
    db.execute("DELETE FROM audit WHERE seq = 2", []).expect("delete");
    let (ok, out, _) = once(&["audit", "verify"], dir.path());
    assert!(!ok && out.contains("BROKEN at record 3"), "{out}");
}

/// The value of cookie `name` that a response sets.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| Some(c.strip_prefix(name)?.strip_prefix('=')?.split(';').next()?.to_owned()))
}

/// A form's hidden field.
fn hidden_field(body: &str, name: &str) -> String {
    body.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect(name)
        .to_owned()
}

/// A password, a TOTP seed, recovery codes, a session, a secret and its passphrase go through the
/// web flows (sign-up, 2FA enrolment, sign-in with a code and with a recovery code, create,
/// reveal); none of them shows up in the logs (at trace level), `/metrics`, `once audit export`,
/// or the raw database and WAL files.
#[tokio::test]
async fn web_flow_canaries_never_reach_logs_metrics_the_audit_export_or_files() {
    use once_core::Clock;
    use once_crypto::totp::{TotpPolicy, TotpSecret};

    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        "web-canary",
        &[("RUST_LOG", "trace"), ("ONCE_LOG_FORMAT", "json"), ("ONCE_AUTH__SIGNUP", "open")],
    );
    let base = server.base();
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let (email, password) = ("web-user@example.com", "CANARY-PASSWORD-5be1c9");
    let (secret, pass) = ("CANARY-WEB-SECRET-83a0", "CANARY-WEB-PASS-2c77");

    let form = http.get(format!("{base}/signup")).send().await.expect("signup form");
    let csrf = set_cookie(&form, "once_csrf").expect("csrf");
    let fields = [("email", email), ("password", password), ("password_again", password), ("_csrf", &csrf)];
    let resp = http
        .post(format!("{base}/signup"))
        .header("cookie", format!("once_csrf={csrf}"))
        .form(&fields)
        .send()
        .await
        .expect("sign up");
    let Some(session) = set_cookie(&resp, "once_session") else {
        panic!("not signed up: {}", resp.text().await.unwrap_or_default());
    };
    let cookies = format!("once_csrf={csrf}; once_session={session}");

    // Enrol an authenticator: the key is read off the page, as a person would.
    let page = http.get(format!("{base}/account/2fa")).header("cookie", &cookies).send().await.expect("2fa");
    let page = page.text().await.expect("page");
    let seed: String = page
        .split("id=\"totp-key\" class=\"key\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("key")
        .split_whitespace()
        .collect();
    let totp = TotpSecret::from_base32(&seed).expect("base32");
    let now = || u64::try_from(once_core::SystemClock.now()).expect("after 1970");
    let code = TotpPolicy::default().code_at(&totp, now()).expect("code");
    let fields = [("ticket", hidden_field(&page, "ticket")), ("code", code), ("_csrf", csrf.clone())];
    let resp = http
        .post(format!("{base}/account/2fa"))
        .header("cookie", &cookies)
        .form(&fields)
        .send()
        .await
        .expect("confirm");
    let body = resp.text().await.expect("codes");
    let codes: Vec<String> = body
        .split("id=\"recovery-codes\"")
        .nth(1)
        .expect("recovery codes")
        .split("<code>")
        .skip(1)
        .filter_map(|c| c.split('<').next())
        .map(str::to_owned)
        .take(10)
        .collect();
    assert_eq!(codes.len(), 10);

    // A secret with a passphrase through the web form, then revealed through the page.
    let fields =
        [("secret", secret), ("passphrase", pass), ("ttl", "3600"), ("views", "1"), ("_csrf", &csrf)];
    let resp =
        http.post(format!("{base}/")).header("cookie", &cookies).form(&fields).send().await.expect("create");
    let receipt = resp.headers()["location"].to_str().expect("receipt").to_owned();
    let page = http.get(format!("{base}{receipt}")).header("cookie", &cookies).send().await.expect("receipt");
    let page = page.text().await.expect("receipt page");
    let link =
        page.split("id=\"secret-url\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("link");
    let secret_key = link.rsplit('/').next().expect("key").to_owned();
    let fields = [("passphrase", pass), ("_csrf", &csrf)];
    let resp = http
        .post(link)
        .header("cookie", format!("once_csrf={csrf}"))
        .form(&fields)
        .send()
        .await
        .expect("reveal");
    assert!(resp.text().await.expect("revealed").contains(secret));

    // Sign in again: password + a code, then password + a recovery code.
    let sign_in = |second: String| {
        let (http, base, csrf) = (http.clone(), base.clone(), csrf.clone());
        async move {
            let fields = [("email", email), ("password", password), ("_csrf", csrf.as_str())];
            let step = http
                .post(format!("{base}/signin"))
                .header("cookie", format!("once_csrf={csrf}"))
                .form(&fields)
                .send()
                .await
                .expect("password");
            let ticket = hidden_field(&step.text().await.expect("code page"), "ticket");
            let fields = [("ticket", ticket.as_str()), ("code", second.as_str()), ("_csrf", csrf.as_str())];
            let resp = http
                .post(format!("{base}/signin/code"))
                .header("cookie", format!("once_csrf={csrf}"))
                .form(&fields)
                .send()
                .await
                .expect("code");
            set_cookie(&resp, "once_session").expect("signed in")
        }
    };
    let later = TotpPolicy::default().code_at(&totp, now() + 30).expect("code");
    let session2 = sign_in(later).await;
    let session3 = sign_in(codes[0].clone()).await;

    let metrics =
        http.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("once_"), "metrics are served");
    let log = server.stop();
    let (ok, export, _) = once(&["audit", "export"], dir.path());
    assert!(ok && export.contains("auth.2fa"), "the export holds the sign-ins: {export}");

    let seed_hex = hex_bytes(totp.expose());
    let mut needles = vec![
        password.to_owned(),
        secret.to_owned(),
        pass.to_owned(),
        secret_key,
        seed.clone(),
        seed.to_lowercase(),
        seed_hex,
        session,
        session2,
        session3,
    ];
    needles.extend(codes);
    for (what, text) in
        [("log", log.as_str()), ("metrics", metrics.as_str()), ("audit export", export.as_str())]
    {
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "{what} leaks {needle}");
        }
    }
    for name in ["once.db", "once.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            let text = String::from_utf8_lossy(&bytes);
            for needle in &needles {
                assert!(!text.contains(needle.as_str()), "{name} holds {needle}");
            }
            assert!(!bytes.windows(totp.expose().len()).any(|w| w == totp.expose()), "{name} holds the seed");
        }
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
