//! The machinery of the browser tests: one chromedriver per test binary, fresh Chromium sessions,
//! and a server behind a recording TCP proxy.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream as TokioStream};

use crate::helpers::{Backend, TestApp};
use once_server::config::Config;

/// Debian's Chromium (`apt-get install chromium chromium-driver`, see `.ci/run`).
const CHROMIUM: &str = "/usr/bin/chromium";
/// The most one test may take: past it the test fails (closing its browsers) rather than hang CI.
pub const TEST_LIMIT: Duration = Duration::from_secs(240);
/// How long any one wait for the page may take (generous: two cores, shared with builds).
pub const WAIT: Duration = Duration::from_secs(30);

/// Runs a test's body within [`TEST_LIMIT`] (WebDriver commands have no time limit of their own).
pub async fn within<T>(body: impl Future<Output = T>) -> T {
    match tokio::time::timeout(TEST_LIMIT, body).await {
        Ok(v) => v,
        Err(_) => panic!("the test took over {TEST_LIMIT:?}"),
    }
}

// ---------------------------------------------------------------- chromedriver

/// A chromedriver process, killed when the last test using it lets go.
pub struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Driver {
    fn spawn() -> Driver {
        let mut last_error = String::new();
        // A free port, then chromedriver on it; retried in case another process took it between.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut cmd = Command::new("chromedriver");
            cmd.arg(format!("--port={port}")).arg("--allowed-ips=127.0.0.1");
            // ONCE_CHROMEDRIVER_LOG=FILE: chromedriver's verbose log (with Chromium's), for debugging.
            if let Some(log) = std::env::var_os("ONCE_CHROMEDRIVER_LOG") {
                cmd.arg("--verbose").arg(format!("--log-path={}", log.to_string_lossy()));
            }
            // Its own process group, with the Chromiums it starts: killed together on drop.
            cmd.process_group(0);
            let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
            let mut child = match child {
                Ok(c) => c,
                Err(e) => panic!(
                    "cannot start chromedriver ({e}): install Debian's `chromium` and `chromium-driver` (see .ci/run)"
                ),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("chromedriver exited: {status}");
                    break;
                }
                if http_request(addr, "GET", "/status").is_some_and(|r| r.contains("\"ready\":true")) {
                    return Driver { child, addr };
                }
                // Process start-up, not page state: there is no WebDriver to wait on yet.
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            if last_error.is_empty() {
                last_error = "chromedriver did not become ready".into();
            }
        }
        panic!("{last_error}");
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Driver {
    /// Sessions end with their tests; this also ends any Chromium a stuck session left behind
    /// (killing chromedriver alone would orphan them).
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The chromedriver shared by the tests running now; started by the first, killed after the last.
fn driver() -> Arc<Driver> {
    static DRIVER: Mutex<Weak<Driver>> = Mutex::new(Weak::new());
    let mut slot = DRIVER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(d) = slot.upgrade() {
        return d;
    }
    let d = Arc::new(Driver::spawn());
    *slot = Arc::downgrade(&d);
    d
}

/// A minimal blocking HTTP/1.1 request to chromedriver (for start-up and clean-up, where no async
/// runtime may be at hand). Returns the whole response, or None if it could not be made.
fn http_request(addr: SocketAddr, method: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8(out).ok()
}

// ---------------------------------------------------------------- browser sessions

/// How a session's browser is set up.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    pub js: bool,
    /// The UI language Chromium runs in and asks for (Accept-Language).
    pub lang: &'static str,
    pub width: u32,
    pub height: u32,
}

pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (360, 800);

impl Default for Opts {
    fn default() -> Self {
        Opts { js: true, lang: "en", width: DESKTOP.0, height: DESKTOP.1 }
    }
}

impl Opts {
    pub fn no_js() -> Self {
        Opts { js: false, ..Opts::default() }
    }

    pub fn lang(lang: &'static str) -> Self {
        Opts { lang, ..Opts::default() }
    }

    fn capabilities(&self) -> serde_json::Map<String, Value> {
        let mut prefs = json!({ "intl.accept_languages": self.lang });
        if !self.js {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={},{}", self.width, self.height),
            "--force-device-scale-factor=1".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--lang={}", self.lang),
            // Nothing but the test server: no first-run, sync, updates, phishing lists, …, and
            // every non-loopback request goes to a proxy address where nothing listens.
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-default-apps".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-client-side-phishing-detection".to_owned(),
            "--disable-domain-reliability".to_owned(),
            "--metrics-recording-only".to_owned(),
            "--no-pings".to_owned(),
            "--proxy-server=http://127.0.0.1:9".to_owned(),
            "--password-store=basic".to_owned(),
            "--use-mock-keychain".to_owned(),
        ];
        let mut options = json!({ "binary": CHROMIUM, "args": args, "prefs": prefs });
        // Chromium keeps windows at least 500 px wide, so narrower (phone) viewports are emulated.
        if self.width < 500 {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": self.width, "height": self.height, "pixelRatio": 1.0, "mobile": true, "touch": true }
            });
        }
        let caps = json!({ "browserName": "chrome", "goog:chromeOptions": options });
        match caps {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }
}

/// A fresh Chromium (its own profile) driven over WebDriver; closed by `close`, or on drop.
pub struct Browser {
    client: Client,
    session: Option<String>,
    driver: Arc<Driver>,
    pub opts: Opts,
}

impl Browser {
    pub async fn open(opts: Opts) -> Browser {
        let driver = driver();
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(opts.capabilities());
        let client = match builder.connect(&driver.url()).await {
            Ok(c) => c,
            Err(e) => panic!("cannot open a Chromium session ({CHROMIUM}): {e}"),
        };
        let session = client.session_id().await.expect("session id");
        Browser { client, session, driver, opts }
    }

    /// Ends the session (Chromium quits).
    pub async fn close(mut self) {
        if self.session.take().is_some() {
            let _ = self.client.clone().close().await;
        }
    }

    pub async fn wait_css(&self, css: &str) -> Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("waiting for `{css}` on {}: {e}", self.where_am_i().await),
        }
    }

    pub async fn wait_xpath(&self, xpath: &str) -> Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::XPath(xpath)).await {
            Ok(e) => e,
            Err(e) => panic!("waiting for `{xpath}` on {}: {e}", self.where_am_i().await),
        }
    }

    /// Waits until `#id`'s text (whitespace-normalised) is `text`.
    pub async fn wait_text(&self, id: &str, text: &str) -> Element {
        self.wait_xpath(&format!("//*[@id={}][normalize-space(.)={}]", xpath_str(id), xpath_str(text))).await
    }

    /// Waits until an element matching `css` has the text `text` (whitespace-normalised).
    pub async fn wait_text_in(&self, css: &str, text: &str) -> Element {
        let want = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let deadline = Instant::now() + WAIT;
        loop {
            for e in self.client.find_all(Locator::Css(css)).await.unwrap_or_default() {
                let got = e.text().await.unwrap_or_default();
                if got.split_whitespace().collect::<Vec<_>>().join(" ") == want {
                    return e;
                }
            }
            if Instant::now() > deadline {
                panic!("waiting for `{css}` to say {want:?} on {}", self.where_am_i().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn css(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!("no `{css}` on {}: {e}", self.where_am_i().await),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.css(css).await.text().await.expect("text")
    }

    /// A form field's current value.
    pub async fn value(&self, css: &str) -> String {
        self.css(css).await.prop("value").await.expect("value").unwrap_or_default()
    }

    pub async fn html_lang(&self) -> String {
        self.css("html").await.attr("lang").await.expect("lang").unwrap_or_default()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.css(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        let e = self.css(css).await;
        if self.opts.js || self.opts.width >= 500 {
            e.click().await.unwrap_or_else(|e| panic!("click `{css}`: {e}"));
        } else {
            // chromedriver's emulated tap waits on a page timer, and pages without JavaScript run
            // none: it would never return. A keyboard press does the same to a button.
            e.send_keys(&fantoccini::key::Key::Enter).await.unwrap_or_else(|e| panic!("press `{css}`: {e}"));
        }
    }

    /// Opens `url` as a new navigation (even if only its #fragment differs from the current one).
    pub async fn visit(&self, url: &str) {
        self.client.goto("about:blank").await.expect("about:blank");
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// A Chrome DevTools Protocol command, through chromedriver's `goog/cdp/execute`.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client.issue_cmd(Cdp { cmd, params }).await.unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// A PNG of the whole page (not only the viewport).
    pub async fn full_page_png(&self) -> Vec<u8> {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let (w, h) = (size["width"].as_f64().expect("width"), size["height"].as_f64().expect("height"));
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": w.ceil(), "height": h.ceil(), "scale": 1 },
                }),
            )
            .await;
        let data = shot["data"].as_str().expect("data");
        data_encoding::BASE64.decode(data.as_bytes()).expect("base64 png")
    }

    /// Asserts that the page needs no sideways scrolling (nothing sticks out of the viewport).
    pub async fn assert_fits_width(&self, what: &str) {
        let v = self
            .execute(
                "const d = document.documentElement;
                 const wide = [...document.querySelectorAll('body *')]
                   .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > d.clientWidth + 0.5)
                   .slice(0, 5)
                   .map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''));
                 return { scroll: d.scrollWidth, client: d.clientWidth, wide };",
                vec![],
            )
            .await
            .expect("measure");
        let (scroll, client) = (v["scroll"].as_f64().unwrap_or(0.0), v["client"].as_f64().unwrap_or(0.0));
        assert!(
            scroll <= client && v["wide"].as_array().is_some_and(Vec::is_empty),
            "{what}: wider than the viewport ({scroll} > {client}): {}",
            v["wide"]
        );
    }

    async fn where_am_i(&self) -> String {
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let mut body = match self.client.find(Locator::Css("main")).await {
            Ok(m) => m.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if let Some((cut, _)) = body.char_indices().nth(300) {
            body.truncate(cut);
            body.push('…');
        }
        format!("{url} (main: {body:?})")
    }
}

impl Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Browser {
    /// A test that panicked never reached `close`: end the session anyway, synchronously (the
    /// runtime may be going away), so no Chromium outlives the test.
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = http_request(self.driver.addr, "DELETE", &format!("/session/{id}"));
        }
    }
}

/// `POST /session/{id}/goog/cdp/execute` (a chromedriver extension).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

/// `url::ParseError`, named through reqwest's re-export of `url::Url`.
type UrlError = <reqwest::Url as std::str::FromStr>::Err;

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &reqwest::Url, session: Option<&str>) -> Result<reqwest::Url, UrlError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &reqwest::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}

/// An XPath string literal for any text (XPath 1.0 has no escapes: concat() around quotes).
pub fn xpath_str(s: &str) -> String {
    if !s.contains('\'') {
        return format!("'{s}'");
    }
    if !s.contains('"') {
        return format!("\"{s}\"");
    }
    let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
    format!("concat({})", parts.join(", \"'\", "))
}

// ---------------------------------------------------------------- the server behind a recorder

/// A test server (SQLite, temp data dir) that the browser reaches only through a TCP proxy which
/// records every byte the browser sends.
pub struct Site {
    pub app: TestApp,
    /// The proxy's base URL (`http://127.0.0.1:PORT`), where browsers go.
    pub base: String,
    /// The server's public base URL, which its links name: `base`, or another for screenshots.
    pub public: String,
    recorded: Arc<Mutex<Vec<u8>>>,
}

impl Site {
    pub async fn spawn() -> Site {
        Site::spawn_as(None).await
    }

    /// With `public`, the server names that base URL in its links (which `local` maps back).
    pub async fn spawn_as(public: Option<&str>) -> Site {
        Site::spawn_with(public, |_| {}).await
    }

    /// As [`Site::spawn_as`], with the config changed by `tweak` first.
    pub async fn spawn_with(public: Option<&str>, tweak: impl FnOnce(&mut Config) + Send + 'static) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy listener");
        let base = format!("http://{}", listener.local_addr().expect("proxy addr"));
        let public = public.map_or_else(|| base.clone(), str::to_owned);
        let configured = public.clone();
        let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
            c.base_url = Some(configured);
            tweak(c);
        })
        .await;
        let server: SocketAddr = app.base.trim_start_matches("http://").parse().expect("server addr");
        let recorded = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(proxy(listener, server, recorded.clone()));
        Site { app, base, public, recorded }
    }

    /// `path` on the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` as the server's links name it.
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    /// A link the server made, for a browser here (on the proxy).
    pub fn local(&self, link: &str) -> String {
        match link.strip_prefix(&self.public) {
            Some(path) if path.starts_with('/') => self.url(path),
            _ => panic!("not a link of this server ({}): {link}", self.public),
        }
    }

    /// Everything browsers sent to the server so far (requests, headers, bodies), in order.
    pub fn recorded(&self) -> Vec<u8> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn recorded_text(&self) -> String {
        String::from_utf8_lossy(&self.recorded()).into_owned()
    }

    /// The bytes of the SQLite database and its side files (`once.db`, `-wal`, `-shm`, …).
    pub fn db_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut files = 0;
        for entry in std::fs::read_dir(&self.app.config.data_dir).expect("data dir") {
            let entry = entry.expect("entry");
            if entry.file_name().to_string_lossy().starts_with("once.db") {
                out.extend(std::fs::read(entry.path()).expect("read db file"));
                files += 1;
            }
        }
        assert!(files > 0 && !out.is_empty(), "no SQLite files in {}", self.app.config.data_dir.display());
        out
    }
}

async fn proxy(listener: TcpListener, server: SocketAddr, recorded: Arc<Mutex<Vec<u8>>>) {
    while let Ok((client, _)) = listener.accept().await {
        let recorded = recorded.clone();
        tokio::spawn(async move {
            let Ok(upstream) = TokioStream::connect(server).await else { return };
            let (mut client_r, mut client_w) = client.into_split();
            let (mut up_r, mut up_w) = upstream.into_split();
            let to_server = async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match client_r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    recorded.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(&buf[..n]);
                    if up_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = up_w.shutdown().await;
            };
            let to_client = async move {
                let _ = tokio::io::copy(&mut up_r, &mut client_w).await;
                let _ = client_w.shutdown().await;
            };
            tokio::join!(to_server, to_client);
        });
    }
}

// ---------------------------------------------------------------- texts and checks

/// The single-line messages of a UI catalog (`key = value`), to expect the texts users see.
pub struct Catalog(Vec<(String, String)>);

impl Catalog {
    pub fn get(lang: &str) -> Catalog {
        let src = match lang {
            "en" => include_str!("../../locales/en/main.ftl"),
            "ko" => include_str!("../../locales/ko/main.ftl"),
            other => panic!("no catalog {other}"),
        };
        let mut entries = Vec::new();
        for line in src.lines() {
            if line.starts_with([' ', '#', '*', '[']) {
                continue;
            }
            if let Some((k, v)) = line.split_once(" = ") {
                entries.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        Catalog(entries)
    }

    pub fn t(&self, key: &str) -> &str {
        match self.0.iter().find(|(k, _)| k == key) {
            Some((_, v)) if !v.is_empty() && !v.contains('{') => v,
            _ => panic!("no single-line message `{key}`"),
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The forms a text can take on the wire or on disk: raw UTF-8, JSON with non-ASCII escaped
/// (`\uXXXX`, lower and upper case), percent-encoded (form posts: `+` or `%20` for spaces), and
/// UTF-16LE.
pub fn encodings(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut json_lower = String::new();
    for u in text.encode_utf16() {
        if u < 0x80 {
            json_lower.push(char::from(u as u8));
        } else {
            json_lower.push_str(&format!("\\u{u:04x}"));
        }
    }
    let json_upper = json_lower.replace("\\u", "\\U").to_uppercase().replace("\\U", "\\u");
    let pct = percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    vec![
        ("utf-8", text.as_bytes().to_vec()),
        ("json \\u (lower)", json_lower.into_bytes()),
        ("json \\u (upper)", json_upper.into_bytes()),
        ("percent-encoded", pct.into_bytes()),
        ("form-encoded", form_encoded(text).into_bytes()),
        ("utf-16le", utf16),
    ]
}

/// `application/x-www-form-urlencoded`, as browsers post forms (spaces as `+`).
pub fn form_encoded(text: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_').remove(b' ');
    percent_encoding::utf8_percent_encode(text, KEEP).to_string().replace(' ', "+")
}

/// Asserts that none of the forms of `text` occurs in `bytes`.
pub fn assert_absent(what: &str, bytes: &[u8], text: &str) {
    for (enc, needle) in encodings(text) {
        assert!(!contains(bytes, &needle), "{what} contains the text ({enc}): {text:?}");
    }
}

/// A random tag, so that each test's canary is its own.
pub fn tag() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("{n:016X}")
}
