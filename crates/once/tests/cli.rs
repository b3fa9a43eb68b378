//! The command-line client as people and scripts use it: `once share | get | status | burn |
//! combine` against a spawned `once serve`, with exit codes, standard output and standard error
//! checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{Server, free_port, once, once_command};

/// A client command, isolated from the caller's environment: no `ONCE_*` client settings, and
/// `HOME` and `XDG_CONFIG_HOME` in `home` (so no real profile file is read).
fn client(home: &Path) -> assert_cmd::Command {
    let mut cmd = once_command();
    for var in ["ONCE_SERVER", "ONCE_API_KEY", "ONCE_PROFILE", "ONCE_USER"] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home).env("XDG_CONFIG_HOME", home.join(".config"));
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(Duration::from_secs(60));
    cmd
}

/// A client command pointed at `server` through `ONCE_SERVER`.
fn at(server: &Server, home: &Path) -> assert_cmd::Command {
    let mut cmd = client(home);
    cmd.env("ONCE_SERVER", server.base());
    cmd
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut assert_cmd::Command) -> Out {
    let out = cmd.output().expect("run once");
    Out {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `once share ARGS` with `secret` on standard input; returns the link (standard output's one
/// line) and standard error.
fn share(server: &Server, home: &Path, secret: &str, args: &[&str]) -> (String, String) {
    let out = run(at(server, home).arg("share").args(args).write_stdin(secret));
    assert_eq!(out.code, 0, "share failed: {}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "the link alone on stdout: {:?}", out.stdout);
    (out.stdout.trim_end().to_owned(), out.stderr)
}

fn receipt_of(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("receipt: "))
        .unwrap_or_else(|| panic!("no receipt line in {stderr:?}"))
        .to_owned()
}

fn get(server: &Server, home: &Path, link: &str, args: &[&str]) -> Out {
    run(at(server, home).arg("get").args(args).arg(link))
}

/// Two passphrase files in `home`: the right one ("correct horse") and a wrong one.
fn passphrase_files(home: &Path) -> (String, String) {
    let (right, wrong) = (home.join("right"), home.join("wrong"));
    std::fs::write(&right, "correct horse\n").expect("write");
    std::fs::write(&wrong, "battery staple\n").expect("write");
    let path = |p: std::path::PathBuf| p.to_str().expect("utf-8 path").to_owned();
    (path(right), path(wrong))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {text:?}"))
}

#[test]
fn the_issue_transcript_share_from_stdin_then_get_once() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let (link, stderr) = share(&server, home.path(), "s3cr3t\n", &["--ttl", "1h", "--views", "1"]);
    assert!(link.starts_with(&format!("{}/secret/", server.base())), "{link}");
    let fragment = link.split_once('#').expect("a zero-knowledge link has a #fragment").1;
    assert_eq!(fragment.len(), 43);
    assert!(receipt_of(&stderr).starts_with(&format!("{}/receipt/", server.base())), "{stderr}");
    assert!(!stderr.contains(fragment), "the key goes to stdout only: {stderr}");

    let first = get(&server, home.path(), &link, &[]);
    assert_eq!((first.code, first.stdout.as_str()), (0, "s3cr3t"), "{}", first.stderr);
    let again = get(&server, home.path(), &link, &[]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stdout.is_empty());
    assert!(again.stderr.contains("no such secret"), "{}", again.stderr);
}

#[test]
fn views_newlines_empty_secrets_and_links_on_stdin() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();

    let (link, _) = share(&server, h, "two\nlines\r\n", &["--views", "2"]);
    let first = get(&server, h, &link, &[]);
    assert_eq!((first.code, first.stdout.as_str()), (0, "two\nlines"), "one \\r\\n dropped");
    assert!(first.stderr.contains("still works for 1 view"), "{}", first.stderr);
    // The link on standard input keeps it out of `ps`.
    let second = run(at(&server, h).args(["get", "-"]).write_stdin(format!("{link}\n")));
    assert_eq!((second.code, second.stdout.as_str()), (0, "two\nlines"), "{}", second.stderr);
    assert_eq!(get(&server, h, &link, &[]).code, 2, "two views, then gone");

    let (kept, _) = share(&server, h, "kept\n", &["--keep-newline"]);
    assert_eq!(get(&server, h, &kept, &[]).stdout, "kept\n");

    for empty in ["", "\n", "  \n"] {
        let out = run(at(&server, h).arg("share").write_stdin(empty));
        assert_eq!(out.code, 1, "{empty:?}: {}", out.stderr);
        assert!(out.stderr.contains("the secret is empty"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn passphrase_files_wrong_then_right() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();
    let (right, wrong) = passphrase_files(h);
    let (right, wrong) = (right.as_str(), wrong.as_str());

    let (link, stderr) = share(&server, h, "behind a passphrase", &["--passphrase-file", right]);
    assert!(stderr.contains("passphrase needed"), "{stderr}");

    let none = get(&server, h, &link, &[]);
    assert_eq!(none.code, 1, "no terminal to ask on: {}", none.stderr);
    assert!(none.stderr.contains("needs a passphrase"), "{}", none.stderr);

    let bad = get(&server, h, &link, &["--passphrase-file", wrong]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("wrong passphrase"), "{}", bad.stderr);
    assert!(bad.stderr.contains("still there"), "{}", bad.stderr);
    assert!(bad.stdout.is_empty());

    let good = get(&server, h, &link, &["--passphrase-file", right]);
    assert_eq!((good.code, good.stdout.as_str()), (0, "behind a passphrase"), "{}", good.stderr);

    // `-` reads the passphrase from standard input, unless the secret is coming from there.
    let out = run(at(&server, h).args(["share", "--passphrase-file", "-"]).write_stdin("secret"));
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[test]
fn json_status_and_burn() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();

    let out = run(at(&server, h).args(["share", "--json", "--views", "3", "--ttl", "30m"]).write_stdin("j"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let created = json(&out.stdout);
    assert_eq!(created["mode"], "zero_knowledge");
    assert_eq!(created["max_views"], 3);
    assert_eq!(created["passphrase_required"], false);
    assert!(created["expires_at"].as_i64().expect("expires_at") > 0);
    let link = created["secret_url"].as_str().expect("secret_url");
    assert!(link.contains('#'));
    let receipt = created["receipt_url"].as_str().expect("receipt_url");

    let status = run(at(&server, h).args(["status", receipt]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.lines().any(|l| l.starts_with("state") && l.ends_with("new")), "{}", status.stdout);
    assert!(status.stdout.contains("0 of 3"), "{}", status.stdout);

    let got = get(&server, h, link, &["--json"]);
    assert_eq!(got.code, 0, "{}", got.stderr);
    let got = json(&got.stdout);
    assert_eq!((got["secret"].as_str(), got["views_left"].as_u64()), (Some("j"), Some(2)));

    // A bare receipt key works with the configured server.
    let key = receipt.rsplit('/').next().expect("key");
    let status = run(at(&server, h).args(["status", "--json", key]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(json(&status.stdout)["views"], 1);

    let burned = run(at(&server, h).args(["burn", receipt]));
    assert_eq!(burned.code, 0, "{}", burned.stderr);
    assert!(burned.stdout.is_empty() && burned.stderr.contains("burned"), "{}", burned.stderr);
    assert_eq!(get(&server, h, link, &[]).code, 2, "burned: nothing to get");
    let twice = run(at(&server, h).args(["burn", receipt]));
    assert_eq!(twice.code, 2, "nothing left to burn: {}", twice.stderr);
    let status = run(at(&server, h).args(["status", "--json", receipt]));
    assert_eq!(json(&status.stdout)["state"], "burned");

    let unknown = run(at(&server, h).args(["status", &format!("{}/receipt/nosuchreceipt", server.base())]));
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
}

#[test]
fn exit_codes_for_configuration_network_and_auth() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let h = home.path();

    let out = run(client(h).arg("share").write_stdin("x"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("no server: pass --server URL or set ONCE_SERVER"), "{}", out.stderr);

    let down = format!("http://127.0.0.1:{}", free_port());
    let out = run(client(h).args(["share", "--server", &down]).write_stdin("x"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    let out = run(client(h).args(["get", &format!("{down}/secret/abc#{}", "A".repeat(43))]));
    assert_eq!(out.code, 4, "{}", out.stderr);

    let out = run(client(h).args(["share", "--server", "once.example.com"]).write_stdin("x"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    for usage in
        [&["get"][..], &["share", "--views", "0"], &["share", "--ttl", "soon"], &["get", "not a link"]]
    {
        let out = run(client(h).args(usage).write_stdin("x"));
        assert_eq!(out.code, 1, "{usage:?}: {}", out.stderr);
    }

    let server = Server::start(dir.path(), "serve", &[]);
    let out = run(at(&server, h).args(["share", "--api-key", "once_wrong"]).write_stdin("x"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(!out.stderr.contains("once_wrong"), "keys are never printed: {}", out.stderr);
    let out = run(at(&server, h).arg("share").env("ONCE_API_KEY", "once_wrong").write_stdin("x"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let key_file = h.join("key");
    std::fs::write(&key_file, "once_wrong\n").expect("write");
    let out = run(at(&server, h).arg("share").arg("--api-key-file").arg(&key_file).write_stdin("x"));
    assert_eq!(out.code, 3, "{}", out.stderr);

    // A real key works.
    let (ok, api_key, _) = once(&["user", "add", "cli@example.com"], dir.path());
    assert!(ok);
    let out = run(at(&server, h).arg("share").env("ONCE_API_KEY", api_key.trim()).write_stdin("x"));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn rate_limits_exit_4_with_the_wait() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(
        dir.path(),
        "serve",
        &[("ONCE_LIMITS__ENABLED", "true"), ("ONCE_LIMITS__CREATE_PER_MINUTE", "1")],
    );
    share(&server, home.path(), "first", &[]);
    let out = run(at(&server, home.path()).arg("share").write_stdin("second"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("rate limited") && out.stderr.contains("retry in"), "{}", out.stderr);
}

#[test]
fn profile_file_in_xdg_config_home() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();
    let down = format!("http://127.0.0.1:{}", free_port());
    let config = h.join(".config").join("once");
    std::fs::create_dir_all(&config).expect("mkdir");
    let file = config.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[default]\nserver = \"{}\"\n\n[profiles.down]\nserver = \"{down}\"\n\n\
             [profiles.badkey]\nserver = \"{}\"\napi_key = \"once_wrong\"\n",
            server.base(),
            server.base()
        ),
    )
    .expect("write config");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // [default] gives the server.
    let out = run(client(h).arg("share").write_stdin("from the profile"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with(&server.base()), "{}", out.stdout);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    // A named profile.
    assert_eq!(run(client(h).args(["share", "--profile", "down"]).write_stdin("x")).code, 4);
    assert_eq!(run(client(h).arg("share").env("ONCE_PROFILE", "down").write_stdin("x")).code, 4);
    let out = run(client(h).args(["share", "--profile", "badkey"]).write_stdin("x"));
    assert_eq!(out.code, 3, "the profile's API key is used: {}", out.stderr);
    let out = run(client(h).args(["share", "--profile", "nosuch"]).write_stdin("x"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("[profiles.nosuch]"), "{}", out.stderr);
    // The environment beats the profile, and a flag beats both.
    assert_eq!(run(client(h).arg("share").env("ONCE_SERVER", &down).write_stdin("x")).code, 4);
    let out =
        run(client(h).args(["share", "--server", &server.base()]).env("ONCE_SERVER", &down).write_stdin("x"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A key in a file others can read is pointed out.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(client(h).arg("share").write_stdin("x"));
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    // A typo is refused rather than ignored.
    std::fs::write(&file, "[default]\nsevrer = \"http://x\"\n").expect("write config");
    let out = run(client(h).arg("share").write_stdin("x"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not a valid profile file"), "{}", out.stderr);
}

#[test]
fn the_server_never_sees_the_plaintext_passphrase_or_key() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "canary", &[("RUST_LOG", "trace"), ("ONCE_LOG_FORMAT", "json")]);
    let h = home.path();
    let secret = "CANARY-CLI-SECRET-5b1e0c";
    let pass = "CANARY-CLI-PASS-93ad1f";
    let (pass_file, wrong_file) = (h.join("pass"), h.join("wrong"));
    std::fs::write(&pass_file, pass).expect("write");
    std::fs::write(&wrong_file, "CANARY-CLI-WRONG-77").expect("write");
    let pass_path = pass_file.to_str().expect("utf-8 path");

    let (link, stderr) = share(&server, h, secret, &["--passphrase-file", pass_path, "--views", "2"]);
    for text in [&link, &stderr] {
        assert!(!text.contains(secret) && !text.contains(pass), "{text}");
    }
    let fragment = link.split_once('#').expect("fragment").1.to_owned();
    let wrong = get(&server, h, &link, &["--passphrase-file", wrong_file.to_str().expect("utf-8")]);
    assert_eq!(wrong.code, 2);
    assert_eq!(get(&server, h, &link, &["--passphrase-file", pass_path]).stdout, secret);
    let status = run(at(&server, h).args(["status", &receipt_of(&stderr)]));
    assert_eq!(status.code, 0);

    let log = server.stop();
    assert!(log.contains("once::audit"), "the log is there to search");
    for needle in [secret, pass, "CANARY-CLI-WRONG", fragment.as_str()] {
        assert!(!log.contains(needle), "the server log holds {needle}");
    }
    for name in ["once.db", "once.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            let text = String::from_utf8_lossy(&bytes);
            for needle in [secret, pass, fragment.as_str()] {
                assert!(!text.contains(needle), "{name} holds {needle}");
            }
        }
    }
}

#[tokio::test]
async fn links_are_in_the_browsers_format_both_ways() {
    use data_encoding::BASE64URL_NOPAD;
    use once_crypto::zk;
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let http = reqwest::Client::new();

    // Made by the CLI, opened with once_crypto::zk directly (what zk.js mirrors).
    let (link, _) = share(&server, home.path(), "made by the CLI", &[]);
    let (url, fragment) = link.split_once('#').expect("fragment");
    let key = url.rsplit('/').next().expect("key");
    let fk = zk::FragmentKey::from_fragment(fragment).expect("a fragment key");
    let revealed: Value = http
        .post(format!("{}/api/v2/secrets/{key}/reveal", server.base()))
        .json(&serde_json::json!({ "key_proof": zk::key_proof(&fk, None).to_base64url() }))
        .send()
        .await
        .expect("reveal")
        .json()
        .await
        .expect("json");
    let blob =
        BASE64URL_NOPAD.decode(revealed["ciphertext"].as_str().expect("ciphertext").as_bytes()).expect("b64");
    assert_eq!(&zk::open(&fk, None, &blob).expect("opens")[..], b"made by the CLI");

    // Made as the browser makes it, opened by the CLI; with a passphrase.
    let fk = zk::FragmentKey::generate();
    let (blob, proof) = zk::seal(&fk, Some("pw"), "made by the browser".as_bytes()).expect("seal");
    let created: Value = http
        .post(format!("{}/api/v2/secrets", server.base()))
        .json(&serde_json::json!({
            "ciphertext": BASE64URL_NOPAD.encode(&blob),
            "key_proof": proof.to_base64url(),
        }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let link = format!("{}#{}", created["secret_url"].as_str().expect("secret_url"), &*fk.to_fragment());
    let pw = home.path().join("pw");
    std::fs::write(&pw, "pw").expect("write");
    let out = get(&server, home.path(), &link, &["--passphrase-file", pw.to_str().expect("utf-8")]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "made by the browser"), "{}", out.stderr);
}

#[test]
fn api_v1_round_trips() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();

    let (link, stderr) = share(&server, h, "over v1\n", &["--v1", "--ttl", "1h"]);
    assert!(!link.contains('#'), "server-side: no fragment: {link}");
    assert!(stderr.contains("API v1"), "{stderr}");
    let got = get(&server, h, &link, &["--v1"]);
    assert_eq!((got.code, got.stdout.as_str()), (0, "over v1"), "{}", got.stderr);
    assert_eq!(get(&server, h, &link, &["--v1"]).code, 2);

    // A server-side secret with a passphrase, read back through API v2 with a bare key.
    let pw = h.join("pw");
    std::fs::write(&pw, "v1 pass\n").expect("write");
    let pw = pw.to_str().expect("utf-8");
    let (link, stderr) = share(&server, h, "v1 with a passphrase", &["--v1", "--passphrase-file", pw]);
    let key = link.rsplit('/').next().expect("key");
    let got = get(&server, h, key, &["--passphrase-file", pw]);
    assert_eq!((got.code, got.stdout.as_str()), (0, "v1 with a passphrase"), "{}", got.stderr);
    let status = run(at(&server, h).args(["status", "--v1", "--json", &receipt_of(&stderr)]));
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(json(&status.stdout)["state"], "received");

    // HTTP Basic with --user and the key.
    let (ok, api_key, _) = once(&["user", "add", "v1@example.com"], dir.path());
    assert!(ok);
    let authed = ["share", "--v1", "--user", "v1@example.com"];
    let out = run(at(&server, h).args(authed).env("ONCE_API_KEY", api_key.trim()).write_stdin("authed"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(at(&server, h).args(authed).env("ONCE_API_KEY", "wrong").write_stdin("authed"));
    assert_eq!(out.code, 3, "{}", out.stderr);

    // A zero-knowledge link can't be opened through API v1, and nothing is spent trying.
    let (zk_link, _) = share(&server, h, "zk", &[]);
    assert_eq!(get(&server, h, &zk_link, &["--v1"]).code, 1);
    assert_eq!(get(&server, h, &zk_link, &[]).stdout, "zk");
}

/// A one-route HTTP server that answers every request 404 (API v2's envelope) and keeps the
/// request heads it got.
fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            while reader.read_line(&mut head).map(|n| n > 2).unwrap_or(false) {}
            record.lock().expect("lock").push(head.to_ascii_lowercase());
            let body = r#"{"error":{"code":"not_found","message":"unknown secret"}}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

#[test]
fn the_api_key_goes_only_to_the_configured_server() {
    let home = tempfile::tempdir().expect("tempdir");
    let (fake, seen) = recording_server();
    let link = format!("{fake}/secret/abc#{}", "A".repeat(43));
    let key = "once_CANARYKEY";

    // The link leads to the configured server: the key goes along.
    let out =
        run(client(home.path()).args(["get", &link]).env("ONCE_SERVER", &fake).env("ONCE_API_KEY", key));
    assert_eq!(out.code, 2, "{}", out.stderr);
    // The link leads elsewhere: it does not.
    let elsewhere = format!("http://127.0.0.1:{}", free_port());
    let out =
        run(client(home.path()).args(["get", &link]).env("ONCE_SERVER", &elsewhere).env("ONCE_API_KEY", key));
    assert_eq!(out.code, 2, "{}", out.stderr);

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].contains(&format!("authorization: bearer {}", key.to_ascii_lowercase())), "{}", seen[0]);
    assert!(seen[0].contains("user-agent: once-cli/"), "{}", seen[0]);
    assert!(!seen[1].contains("authorization"), "{}", seen[1]);
    for head in &seen {
        assert!(!head.contains(&"a".repeat(43)), "the fragment is never sent: {head}");
    }
}

#[test]
fn completions_and_man_pages() {
    let home = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(client(home.path()).args(["completions", shell]));
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.len() > 500 && out.stdout.contains("share"), "{shell}");
    }
    let out = run(client(home.path()).arg("man"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with(".ie") || out.stdout.contains(".TH"), "roff");
    assert!(out.stdout.contains("share"));
    let dir = home.path().join("man1");
    let out = run(client(home.path()).arg("man").arg("--dir").arg(&dir));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for page in [
        "once.1",
        "once-share.1",
        "once-get.1",
        "once-status.1",
        "once-burn.1",
        "once-combine.1",
        "once-serve.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
    let share_page = std::fs::read_to_string(dir.join("once-share.1")).expect("page");
    assert!(share_page.contains("passphrase"), "flags are documented");

    let help = run(client(home.path()).arg("--help"));
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes"), "{}", help.stdout);
}

/// Runs `once ARGS` in a pseudo-terminal (util-linux `script`), answering each prompt when it
/// appears; returns everything the terminal showed. `None` when `script` is missing.
fn in_terminal(
    args: &[&str],
    envs: &[(&str, &str)],
    home: &Path,
    answers: &[(&str, &str)],
) -> Option<String> {
    let quoted: Vec<String> = std::iter::once(common::BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &quoted.join(" "), "/dev/null"])
        .env_remove("ONCE_SERVER")
        .env_remove("ONCE_API_KEY")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().ok()?;
    let mut stdout = child.stdout.take().expect("stdout");
    let shown = Arc::new(Mutex::new(String::new()));
    let sink = shown.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            sink.lock().expect("lock").push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().expect("stdin");
    let mut from = 0;
    for (prompt, answer) in answers {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = shown.lock().expect("lock").clone();
            if let Some(at) = text[from..].find(prompt) {
                from += at + prompt.len();
                break;
            }
            assert!(Instant::now() < deadline, "no prompt {prompt:?} in {text:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The prompt is printed just before echo is turned off: give that a moment.
        std::thread::sleep(Duration::from_millis(500));
        stdin.write_all(format!("{answer}\r").as_bytes()).expect("type");
        stdin.flush().expect("flush");
    }
    let status = child.wait().expect("wait");
    drop(stdin);
    reader.join().expect("reader");
    let text = shown.lock().expect("lock").clone();
    assert!(status.success(), "{text}");
    Some(text)
}

#[test]
fn hidden_prompts_on_a_terminal() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let env = [("ONCE_SERVER", server.base())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answers =
        [("Secret: ", "typed-s3cr3t"), ("Passphrase: ", "typed-pass"), ("Passphrase again: ", "typed-pass")];
    let Some(shown) = in_terminal(&["share", "--passphrase-prompt"], &env, home.path(), &answers) else {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    };
    assert!(shown.contains("hidden prompt"), "says where it reads from: {shown}");
    assert!(!shown.contains("typed-s3cr3t") && !shown.contains("typed-pass"), "nothing echoed: {shown}");
    let link = shown
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{}/secret/", server.base())))
        .expect("the link")
        .to_owned();

    let shown =
        in_terminal(&["get", &link], &env, home.path(), &[("Passphrase: ", "typed-pass")]).expect("script");
    assert!(shown.contains("typed-s3cr3t\r\n"), "the secret, and a newline for the terminal: {shown:?}");
    assert!(!shown.contains("typed-pass"), "{shown}");

    // The transcript's `once share ./id_ed25519 --passphrase-prompt`: a file, a typed passphrase.
    let data = file_bytes(2 * 1024 * 1024 + 5);
    std::fs::write(home.path().join("id_ed25519"), &data).expect("write");
    let answers = [("Passphrase: ", "file-pass"), ("Passphrase again: ", "file-pass")];
    let key = home.path().join("id_ed25519");
    let shown = in_terminal(
        &["share", key.to_str().expect("utf-8"), "--passphrase-prompt"],
        &env,
        home.path(),
        &answers,
    )
    .expect("script");
    assert!(!shown.contains("file-pass"), "nothing echoed: {shown}");
    let link = shown
        .split_whitespace()
        .find(|w| w.starts_with(&format!("{}/secret/", server.base())))
        .expect("the link")
        .to_owned();
    let saved = home.path().join("received");
    let args = ["get", &link, "-o", saved.to_str().expect("utf-8")];
    in_terminal(&args, &env, home.path(), &[("Passphrase: ", "file-pass")]).expect("script");
    assert!(std::fs::read(&saved).expect("saved") == data);
}

#[test]
fn the_clients_environment_leaves_the_server_alone() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let client_env = [
        ("ONCE_SERVER", "http://elsewhere"),
        ("ONCE_API_KEY", "k"),
        ("ONCE_PROFILE", "p"),
        ("ONCE_USER", "u"),
    ];
    let server = Server::start(dir.path(), "serve", &client_env);
    let (link, _) = share(&server, home.path(), "still serving", &[]);
    assert_eq!(get(&server, home.path(), &link, &[]).stdout, "still serving");
}

/// `once share --split K-of-N ARGS` with `secret` on standard input; returns the links (standard
/// output, one a line) and standard error.
fn share_split(
    server: &Server,
    home: &Path,
    secret: &str,
    split: &str,
    args: &[&str],
) -> (Vec<String>, String) {
    let out = run(at(server, home).args(["share", "--split", split]).args(args).write_stdin(secret));
    assert_eq!(out.code, 0, "share --split failed: {}", out.stderr);
    (out.stdout.lines().map(str::to_owned).collect(), out.stderr)
}

fn combine(server: &Server, home: &Path, links: &[&str], args: &[&str]) -> Out {
    run(at(server, home).arg("combine").args(args).args(links))
}

/// The state of the secret behind a receipt (`new`, `received`, …).
fn state(server: &Server, home: &Path, receipt: &str) -> String {
    let out = run(at(server, home).args(["status", "--json", receipt]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    json(&out.stdout)["state"].as_str().expect("state").to_owned()
}

#[test]
fn split_three_of_five_any_three_rebuild_two_do_not_each_works_once() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[("RUST_LOG", "trace"), ("ONCE_LOG_FORMAT", "json")]);
    let h = home.path();
    let secret = "CANARY-ROOT-TOKEN-41c7";
    let (links, stderr) = share_split(&server, h, &format!("{secret}\n"), "3-of-5", &["--ttl", "1h"]);
    assert_eq!(links.len(), 5, "five links, nothing else on stdout: {links:?}");
    let fragments: Vec<&str> = links.iter().map(|l| l.split_once('#').expect("a #fragment").1).collect();
    for (link, fragment) in links.iter().zip(&fragments) {
        assert!(link.starts_with(&format!("{}/secret/", server.base())), "{link}");
        assert_eq!(fragment.split('.').nth(1), Some("3of5"), "K and N after the key: {link}");
        assert!(!stderr.contains(fragment), "keys go to stdout only: {stderr}");
    }
    let mut distinct = links.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5);
    let receipts: Vec<String> = (1..=5)
        .map(|i| {
            let prefix = format!("receipt {i}: ");
            stderr.lines().find_map(|l| l.strip_prefix(&prefix)).expect("a receipt line").to_owned()
        })
        .collect();
    assert!(stderr.contains("any 3 of these 5 links rebuild the secret"), "{stderr}");
    assert!(stderr.contains("each works once"), "{stderr}");
    let l: Vec<&str> = links.iter().map(String::as_str).collect();

    // Two links are refused before anything is used.
    let two = combine(&server, h, &[l[0], l[1]], &[]);
    assert_eq!(two.code, 1, "{}", two.stderr);
    assert!(two.stdout.is_empty());
    assert!(
        two.stderr.contains("needs 3 of its 5 links") && two.stderr.contains("nothing was used up"),
        "{}",
        two.stderr
    );
    // So is one link given twice, and `once get` on a share link.
    let repeated = combine(&server, h, &[l[0], l[0], l[1]], &[]);
    assert_eq!(repeated.code, 1, "{}", repeated.stderr);
    assert!(repeated.stderr.contains("link 2 repeats link 1"), "{}", repeated.stderr);
    let got = get(&server, h, l[0], &[]);
    assert_eq!(got.code, 1, "{}", got.stderr);
    assert!(
        got.stderr.contains("one of the 5 links of a split secret") && got.stderr.contains("once combine"),
        "{}",
        got.stderr
    );
    for receipt in &receipts {
        assert_eq!(state(&server, h, receipt), "new", "nothing was used up");
    }

    // Any three rebuild it, byte for byte, as `once get` prints.
    let three = combine(&server, h, &[l[4], l[0], l[2]], &[]);
    assert_eq!((three.code, three.stdout.as_str()), (0, secret), "{}", three.stderr);
    assert!(!three.stderr.contains(secret));
    // Each link works once: the same three again are gone.
    let again = combine(&server, h, &[l[4], l[0], l[2]], &[]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stdout.is_empty());
    assert!(again.stderr.contains("none of the 3 links given still work"), "{}", again.stderr);
    // Two live links and a used one: refused before the live ones are used.
    let short = combine(&server, h, &[l[1], l[0], l[3]], &[]);
    assert_eq!(short.code, 2, "{}", short.stderr);
    assert!(
        short.stderr.contains("only 2 of the 3 links given still work (link 2 gone)"),
        "{}",
        short.stderr
    );
    assert!(short.stderr.contains("nothing was used up"), "{}", short.stderr);
    let states: Vec<String> = receipts.iter().map(|r| state(&server, h, r)).collect();
    assert_eq!(states, ["received", "new", "received", "new", "received"]);

    let log = server.stop();
    assert!(log.contains("once::audit"), "the log is there to search");
    for needle in fragments.iter().copied().chain([secret]) {
        assert!(!log.contains(needle), "the server log holds {needle}");
    }
}

#[test]
fn split_with_passphrase_json_stdin_and_mixed_splits() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();
    let (right, wrong) = passphrase_files(h);
    let (right, wrong) = (right.as_str(), wrong.as_str());

    let out = run(at(&server, h)
        .args(["share", "--split", "2-of-3", "--json", "--passphrase-file", right])
        .write_stdin("two\nlines\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let made = json(&out.stdout);
    assert_eq!((made["threshold"].as_u64(), made["shares"].as_u64()), (Some(2), Some(3)));
    assert_eq!(made["passphrase_required"], true);
    let pairs = made["links"].as_array().expect("links");
    assert_eq!(pairs.len(), 3);
    let a: Vec<String> =
        pairs.iter().map(|p| p["secret_url"].as_str().expect("secret_url").to_owned()).collect();
    let a_receipts: Vec<String> =
        pairs.iter().map(|p| p["receipt_url"].as_str().expect("receipt_url").to_owned()).collect();
    let (b, _) = share_split(&server, h, "other", "2-of-3", &[]);

    // Links of two splits: refused, nothing used.
    let mixed = combine(&server, h, &[&a[0], &b[1]], &[]);
    assert_eq!(mixed.code, 1, "{}", mixed.stderr);
    assert!(mixed.stderr.contains("these links belong to different splits"), "{}", mixed.stderr);
    // An ordinary link is not a share.
    let (plain, _) = share(&server, h, "plain", &[]);
    let out = combine(&server, h, &[&a[0], &plain], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("link 2 is an ordinary secret"), "{}", out.stderr);
    // The passphrase: needed, and checked by the server before a link is used.
    let none = combine(&server, h, &[&a[0], &a[1]], &[]);
    assert_eq!(none.code, 1, "no terminal to ask on: {}", none.stderr);
    assert!(none.stderr.contains("needs a passphrase"), "{}", none.stderr);
    let bad = combine(&server, h, &[&a[0], &a[1]], &["--passphrase-file", wrong]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("wrong passphrase"), "{}", bad.stderr);
    for receipt in &a_receipts {
        assert_eq!(state(&server, h, receipt), "new", "nothing was used up");
    }

    // Links on standard input, one given twice and one more than needed.
    let stdin = format!("{}\n{}\n\n  {}\n{}\n", a[2], a[2], a[0], a[1]);
    let out = run(at(&server, h).args(["combine", "--passphrase-file", right, "-"]).write_stdin(stdin));
    assert_eq!((out.code, out.stdout.as_str()), (0, "two\nlines"), "{}", out.stderr);
    assert!(out.stderr.contains("link 2 repeats link 1"), "{}", out.stderr);
    assert!(out.stderr.contains("1 link given was not needed and still works"), "{}", out.stderr);
    let states: Vec<String> = a_receipts.iter().map(|r| state(&server, h, r)).collect();
    assert_eq!(states, ["received", "new", "received"], "exactly K were used");

    let out = combine(&server, h, &[&b[2], &b[0]], &["--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let combined = json(&out.stdout);
    assert_eq!(combined["secret"], "other");
    assert_eq!((combined["threshold"].as_u64(), combined["shares"].as_u64()), (Some(2), Some(3)));
    assert_eq!(combined["mode"], "zero_knowledge");
}

#[test]
fn split_usage_errors() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();
    for (args, says) in [
        (&["--split", "1-of-3"][..], "at least 2"),
        (&["--split", "4-of-3"], "can't be more than N"),
        (&["--split", "3-of-17"], "at most 16"),
        (&["--split", "three"], "K-of-N"),
        (&["--split", "2-of-3", "--views", "2"], "drop --views"),
        (&["--split", "2-of-3", "--v1"], "drop --v1"),
    ] {
        let out = run(at(&server, h).arg("share").args(args).write_stdin("x"));
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let big = "x".repeat(64 * 1024 + 1);
    let out = run(at(&server, h).args(["share", "--split", "2-of-2"]).write_stdin(big));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("at most 64 KiB"), "{}", out.stderr);
    let (links, _) = share_split(&server, h, &"y".repeat(64 * 1024), "2-of-2", &["--views", "1"]);
    assert_eq!(links.len(), 2);

    for args in [&[][..], &["not a link"], &["-", "-"]] {
        let out = run(at(&server, h).arg("combine").args(args).write_stdin(""));
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
    }
    // A damaged #part is refused before anything is sent.
    let damaged = format!("{}.2of2", links[0].rsplit_once('.').expect("dot").0);
    let out = combine(&server, h, &[&damaged, &links[1]], &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("link 1: the part after # is damaged"), "{}", out.stderr);
}

#[test]
fn a_split_cut_short_burns_the_links_already_made() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(
        dir.path(),
        "serve",
        &[("ONCE_LIMITS__ENABLED", "true"), ("ONCE_LIMITS__CREATE_PER_MINUTE", "1")],
    );
    let out = run(at(&server, home.path()).args(["share", "--split", "2-of-3"]).write_stdin("x"));
    assert_eq!(out.code, 4, "rate limited: {}", out.stderr);
    assert!(out.stdout.is_empty(), "no link is printed: {}", out.stdout);
    assert!(out.stderr.contains("nothing was shared"), "{}", out.stderr);
    assert!(out.stderr.contains("the 1 link already made was burned"), "{}", out.stderr);
}

/// Bytes that are not all one value.
fn file_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect()
}

#[test]
fn files_share_and_get_streamed_with_their_names() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[]);
    let h = home.path();
    let data = file_bytes(3 * 1024 * 1024 + 77);
    let source = h.join("id_ed25519 copy.key");
    std::fs::write(&source, &data).expect("write");
    let source = source.to_str().expect("utf-8 path");

    let out = run(at(&server, h).args(["share", source, "--views", "3", "--type", "application/x-pem-file"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let link = out.stdout.trim_end().to_owned();
    assert!(link.contains('#'), "a zero-knowledge link: {link}");

    // Saved under the sender's name in the current directory, then beside it, never over it.
    let cwd = tempfile::tempdir().expect("tempdir");
    let first = run(at(&server, h).current_dir(cwd.path()).args(["get", &link]));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stdout.is_empty(), "a file goes to a file, not stdout: {:?}", first.stdout);
    assert!(first.stderr.contains("saved to id_ed25519 copy.key"), "{}", first.stderr);
    assert!(std::fs::read(cwd.path().join("id_ed25519 copy.key")).expect("saved") == data);
    let second = run(at(&server, h).current_dir(cwd.path()).args(["get", "--json", &link]));
    assert_eq!(second.code, 0, "{}", second.stderr);
    let got = json(&second.stdout);
    assert_eq!(
        (got["file"].as_str(), got["views_left"].as_u64()),
        (Some("id_ed25519 copy (2).key"), Some(1))
    );
    assert!(std::fs::read(cwd.path().join("id_ed25519 copy (2).key")).expect("saved") == data);

    // An --output that exists is refused before anything is revealed.
    let taken = cwd.path().join("taken");
    std::fs::write(&taken, b"mine").expect("write");
    let refused = run(at(&server, h).args(["get", "-o", taken.to_str().expect("utf-8"), &link]));
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("nothing was revealed"), "{}", refused.stderr);
    assert_eq!(std::fs::read(&taken).expect("kept"), b"mine");
    // `-o -` writes the file to standard output: the third and last view.
    let out = at(&server, h).args(["get", "-o", "-", &link]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == data, "the file on stdout byte for byte");
    assert_eq!(get(&server, h, &link, &[]).code, 2, "three views, then gone");
    let leftovers: Vec<_> = std::fs::read_dir(cwd.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".once-part"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");

    // With a passphrase: wrong reveals nothing, right opens it.
    let (right, wrong) = passphrase_files(h);
    let out = run(at(&server, h).args(["share", source, "--passphrase-file", &right]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("passphrase needed"), "{}", out.stderr);
    let link = out.stdout.trim_end().to_owned();
    let target = cwd.path().join("with-passphrase.bin");
    let target = target.to_str().expect("utf-8");
    let bad = get(&server, h, &link, &["--passphrase-file", &wrong, "-o", target]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("wrong passphrase"), "{}", bad.stderr);
    assert!(!Path::new(target).exists());
    let good = get(&server, h, &link, &["--passphrase-file", &right, "-o", target]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(std::fs::read(target).expect("saved") == data);

    // Files need API v2 and are not split; a directory is not a file.
    let v1 = run(at(&server, h).args(["share", "--v1", source]));
    assert_eq!(v1.code, 1, "{}", v1.stderr);
    let split = run(at(&server, h).args(["share", "--split", "2-of-3", source]));
    assert_eq!(split.code, 1, "{}", split.stderr);
    let folder = run(at(&server, h).args(["share", h.to_str().expect("utf-8")]));
    assert_eq!(folder.code, 1, "{}", folder.stderr);
    assert!(folder.stderr.contains("not a file"), "{}", folder.stderr);
}

#[test]
fn a_file_over_the_servers_limit_is_refused_and_leaves_nothing() {
    let (dir, home) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let server = Server::start(dir.path(), "serve", &[("ONCE_SECRETS__MAX_FILE_SIZE", "1048576")]);
    let h = home.path();
    let source = h.join("big.bin");
    std::fs::write(&source, file_bytes(2 * 1024 * 1024)).expect("write");
    let out = run(at(&server, h).args(["share", source.to_str().expect("utf-8")]));
    assert_ne!(out.code, 0);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("larger than the limit"), "{}", out.stderr);
}
