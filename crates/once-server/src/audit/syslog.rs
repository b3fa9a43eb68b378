//! A copy of the audit trail for syslog (`audit.syslog`): each event as one RFC 5424 message,
//! over UDP (RFC 5426), TCP with octet-counting frames (RFC 6587 §3.4.1) or a Unix datagram
//! socket such as `/dev/log`.
//!
//! Best effort by design. The store's hash chain is the record; syslog is a second, off-host
//! copy for a SIEM. [`SyslogSink::record`] only puts the event on a bounded queue (it never
//! waits), and one task formats and sends. A full queue, an unreachable receiver or a failed send
//! drops the event and counts it (`once_audit_syslog_dropped_total`); the log says when syslog
//! becomes unreachable and when it answers again, not once per event.
//!
//! The formatter is ours (a few dozen lines, pinned by the tests below against RFC 5424's own
//! examples): the message carries only the fields of an [`AuditEntry`], which holds no secret
//! material, and every field is made to fit its place in the grammar: the MSGID printable ASCII
//! of at most 32 characters, the structured-data values escaped (§6.3.3), control characters
//! replaced, the MSG plain ASCII or else prefixed with the BOM that marks UTF-8.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use once_core::audit::AuditSink;
use once_store::AuditEntry;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::metrics::{Metrics, SyslogDrop};

/// Events waiting to be sent at most; past this, new ones are dropped (and counted).
const QUEUE: usize = 4096;
/// The SD-ID of the audit fields. 32473 is the example enterprise number (RFC 5612): Once has
/// none of its own, and this keeps the ID in the `name@number` form RFC 5424 asks of private IDs.
pub const SD_ID: &str = "once@32473";
/// The APP-NAME.
const APP_NAME: &str = "once";
/// Longest structured-data value, in bytes (the fields are short; this bounds a datagram).
const MAX_VALUE: usize = 256;
/// How long connecting (and resolving) may take.
const CONNECT_WAIT: Duration = Duration::from_secs(3);
/// How long one TCP write may take before the connection is given up.
const WRITE_WAIT: Duration = Duration::from_secs(5);
/// Waits between attempts to reach an unreachable receiver: from the first to the last, doubling.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_LAST: Duration = Duration::from_secs(30);
/// Queue-full drops are logged at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Syslog facilities (RFC 5424 §6.2.1), by their usual names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The facility's number.
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// Where the messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Udp { host: String, port: u16 },
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl Target {
    /// Parses `udp://HOST:PORT`, `tcp://HOST:PORT` (an IPv6 host in brackets) or `unix:///PATH`.
    pub fn parse(url: &str) -> Result<Target, String> {
        let bad =
            || format!("audit.syslog must be udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH, not {url:?}");
        let url = url.trim();
        if let Some(path) = url.strip_prefix("unix://") {
            if !path.starts_with('/') || path.len() < 2 {
                return Err(bad());
            }
            if cfg!(not(unix)) {
                return Err("audit.syslog: unix:// sockets need a Unix system".into());
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let (udp, rest) = match (url.strip_prefix("udp://"), url.strip_prefix("tcp://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(bad()),
        };
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']').filter(|h| h.parse::<std::net::Ipv6Addr>().is_ok()),
            None => Some(host).filter(|h| !h.contains(':')),
        }
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c)))
        .ok_or_else(bad)?;
        let port = port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?;
        let host = host.to_owned();
        Ok(if udp { Target::Udp { host, port } } else { Target::Tcp { host, port } })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bracket = |h: &str| if h.contains(':') { format!("[{h}]") } else { h.to_owned() };
        match self {
            Target::Udp { host, port } => write!(f, "udp://{}:{port}", bracket(host)),
            Target::Tcp { host, port } => write!(f, "tcp://{}:{port}", bracket(host)),
            Target::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// What every message says about where it comes from.
#[derive(Clone, Debug)]
pub struct Origin {
    pub facility: Facility,
    /// The HOSTNAME field, already fit for it.
    pub hostname: String,
    pub procid: u32,
}

impl Origin {
    /// This process on this host.
    pub fn this_process(facility: Facility) -> Origin {
        Origin { facility, hostname: local_hostname(), procid: std::process::id() }
    }
}

/// The host's name, from the kernel or `/etc/hostname` (a sandboxed service may see only one of
/// them); `-` (RFC 5424's nil) when neither can be read.
fn local_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|name| header_field(name.trim(), 255))
        .unwrap_or_else(|| "-".into())
}

/// A header field (HOSTNAME, MSGID): printable ASCII without spaces, at most `max` characters;
/// other characters are dropped, and nothing left is the nil value `-`.
fn header_field(value: &str, max: usize) -> String {
    let field: String = value.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if field.is_empty() { "-".into() } else { field }
}

/// The MSGID of an event: its name, fit for the field (RFC 5424: 1 to 32 printable ASCII).
pub fn msgid(event: &str) -> String {
    header_field(event, 32)
}

/// Severity by outcome: `ok` (and `ok:…`) is informational (6); a refusal (`denied:…`), a
/// failure, a lock and a burn by wrong passphrases are warnings (4); anything else (a burn by
/// the sender) is a notice (5).
pub fn severity(outcome: &str) -> u8 {
    let first = outcome.split(':').next().unwrap_or_default();
    match first {
        "ok" => 6,
        "denied" | "failed" | "locked" | "passphrase_failures" => 4,
        _ => 5,
    }
}

/// Appends `value` as a PARAM-VALUE (RFC 5424 §6.3.3): `"`, `\` and `]` escaped with a
/// backslash, control characters replaced by U+FFFD, cut to [`MAX_VALUE`] bytes.
pub fn push_param_value(out: &mut String, value: &str) {
    let mut len = 0;
    for c in value.chars() {
        let c = if c.is_control() { char::REPLACEMENT_CHARACTER } else { c };
        len += c.len_utf8();
        if len > MAX_VALUE {
            break;
        }
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// RFC 3339 in UTC (`2026-11-03T10:15:00Z`), or the nil value for a time out of range.
fn timestamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

/// One event as an RFC 5424 message, e.g.
///
/// ```text
/// <86>1 2026-11-03T10:15:00Z web1 once 4242 secret.created [once@32473 event="secret.created"
///   outcome="ok" actor="anon" ip="192.0.2.7" record="1a2b3c4d"] secret.created ok actor=anon
///   ip=192.0.2.7 record=1a2b3c4d
/// ```
///
/// (one line). Empty fields are left out of both the structured data and the MSG.
pub fn format(origin: &Origin, entry: &AuditEntry) -> String {
    let pri = u16::from(origin.facility.code()) * 8 + u16::from(severity(&entry.outcome));
    let mut out = format!(
        "<{pri}>1 {} {} {APP_NAME} {} {} [{SD_ID}",
        timestamp(entry.time),
        origin.hostname,
        origin.procid,
        msgid(&entry.event),
    );
    let fields = [
        ("event", entry.event.as_str()),
        ("outcome", entry.outcome.as_str()),
        ("actor", entry.actor.as_str()),
        ("ip", entry.client.as_str()),
        ("record", entry.record.as_str()),
        ("detail", entry.detail.as_str()),
    ];
    for (name, value) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = write!(out, " {name}=\"");
        push_param_value(&mut out, value);
        out.push('"');
    }
    out.push(']');
    // The MSG repeats the fields for readers that show only it (a traditional log file).
    let mut msg = String::new();
    for (name, value) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        if !msg.is_empty() {
            msg.push(' ');
        }
        if !matches!(*name, "event" | "outcome") {
            msg.push_str(name);
            msg.push('=');
        }
        let value: String = value.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
        msg.push_str(&value);
    }
    out.push(' ');
    if !msg.is_ascii() {
        // RFC 5424 §6.4: a UTF-8 MSG starts with the byte order mark.
        out.push('\u{FEFF}');
    }
    out.push_str(&msg);
    out
}

/// The sink that copies each event to syslog: queues it for the sending task, never waits.
pub struct SyslogSink {
    tx: mpsc::Sender<AuditEntry>,
    metrics: Metrics,
    /// Dropped for a full queue since the task last said so in the log.
    unreported_full: Arc<AtomicU64>,
}

impl AuditSink for SyslogSink {
    fn record(&self, mut entry: AuditEntry) {
        super::add_request_client(&mut entry);
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.syslog_dropped(SyslogDrop::QueueFull);
                self.unreported_full.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.metrics.syslog_dropped(SyslogDrop::Unreachable),
        }
    }
}

/// The sending task; [`Forwarder::drain`] sends what is queued, then stops it.
pub struct Forwarder {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    /// Sends what is queued (what cannot be sent is dropped), then stops; gives up after `wait`.
    pub async fn drain(mut self, wait: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(wait, &mut self.task).await.is_err() {
            tracing::warn!("audit events still queued for syslog at shutdown were dropped");
            self.task.abort();
        }
    }
}

/// A sink for the core and the task that sends what it records to `target`.
pub fn start(target: Target, origin: Origin, metrics: Metrics) -> (Arc<SyslogSink>, Forwarder) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let unreported_full = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    tracing::info!(target = %target, "audit events are also sent to syslog");
    let sender = Sender {
        target,
        origin,
        metrics: metrics.clone(),
        unreported_full: unreported_full.clone(),
        conn: None,
        retry_at: None,
        retry_wait: RETRY_FIRST,
        lost: 0,
        reported_at: None,
    };
    let task = tokio::spawn(sender.run(rx, stop_rx));
    (Arc::new(SyslogSink { tx, metrics, unreported_full }), Forwarder { stop: Some(stop_tx), task })
}

/// An open way to the receiver.
enum Conn {
    Udp(tokio::net::UdpSocket),
    Tcp(tokio::net::TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixDatagram),
}

struct Sender {
    target: Target,
    origin: Origin,
    metrics: Metrics,
    unreported_full: Arc<AtomicU64>,
    conn: Option<Conn>,
    /// While the receiver is unreachable: no new attempt before this.
    retry_at: Option<Instant>,
    retry_wait: Duration,
    /// Dropped since the receiver became unreachable (said in the log when it answers again).
    lost: u64,
    /// When queue-full drops were last logged.
    reported_at: Option<Instant>,
}

impl Sender {
    async fn run(mut self, mut rx: mpsc::Receiver<AuditEntry>, mut stop: oneshot::Receiver<()>) {
        let mut stopping = false;
        loop {
            let entry = if stopping {
                match rx.try_recv() {
                    Ok(e) => e,
                    Err(_) => break,
                }
            } else {
                tokio::select! {
                    e = rx.recv() => match e {
                        Some(e) => e,
                        None => break,
                    },
                    _ = &mut stop => {
                        stopping = true;
                        continue;
                    }
                }
            };
            self.send(&format(&self.origin, &entry)).await;
            self.report_full(false);
        }
        self.report_full(true);
    }

    /// Sends one message, connecting first if need be; drops it (counted) when that fails.
    async fn send(&mut self, message: &str) {
        if self.conn.is_none() && self.retry_at.is_none_or(|at| Instant::now() >= at) {
            match tokio::time::timeout(CONNECT_WAIT, connect(&self.target)).await {
                Ok(Ok(conn)) => {
                    self.conn = Some(conn);
                    self.retry_at = None;
                    self.retry_wait = RETRY_FIRST;
                    if self.lost > 0 {
                        tracing::info!(target = %self.target, dropped = self.lost, "syslog reachable again");
                        self.lost = 0;
                    }
                }
                Ok(Err(e)) => self.unreachable(Some(&e)),
                Err(_) => self.unreachable(None),
            }
        }
        let Some(conn) = &mut self.conn else {
            self.metrics.syslog_dropped(SyslogDrop::Unreachable);
            self.lost += 1;
            return;
        };
        match deliver(conn, message).await {
            Ok(()) => self.metrics.syslog_sent(),
            Err(e) => {
                self.conn = None;
                self.unreachable(Some(&e));
                self.metrics.syslog_dropped(SyslogDrop::Unreachable);
                self.lost += 1;
            }
        }
    }

    /// Notes a failed attempt: logged when the receiver was reachable until now, and the next
    /// attempt put off.
    fn unreachable(&mut self, error: Option<&std::io::Error>) {
        if self.retry_at.is_none() {
            let error = error.map_or_else(|| "timed out".to_owned(), ToString::to_string);
            tracing::warn!(
                target = %self.target, error = %error,
                "cannot send audit events to syslog; they are dropped until it answers (the store's trail is complete)"
            );
        }
        self.retry_at = Some(Instant::now() + self.retry_wait);
        self.retry_wait = (self.retry_wait * 2).min(RETRY_LAST);
    }

    /// Logs the events dropped for a full queue, at most every [`REPORT_EVERY`] (or now, `last`).
    fn report_full(&mut self, last: bool) {
        let due = last || self.reported_at.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        if !due {
            return;
        }
        let dropped = self.unreported_full.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            self.reported_at = Some(Instant::now());
            tracing::warn!(
                dropped,
                "syslog queue full: audit events dropped (the store's trail is complete)"
            );
        }
    }
}

async fn connect(target: &Target) -> std::io::Result<Conn> {
    match target {
        Target::Udp { host, port } => {
            let addr = tokio::net::lookup_host((host.as_str(), *port))
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other("the host name has no address"))?;
            let local: std::net::SocketAddr =
                if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
            let socket = tokio::net::UdpSocket::bind(local).await?;
            socket.connect(addr).await?;
            Ok(Conn::Udp(socket))
        }
        Target::Tcp { host, port } => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            let _ = stream.set_nodelay(true);
            Ok(Conn::Tcp(stream))
        }
        #[cfg(unix)]
        Target::Unix(path) => {
            let socket = tokio::net::UnixDatagram::unbound()?;
            socket.connect(path)?;
            Ok(Conn::Unix(socket))
        }
        #[cfg(not(unix))]
        Target::Unix(_) => Err(std::io::Error::other("unix:// sockets need a Unix system")),
    }
}

/// Sends one message: a datagram, or an octet-counted frame (`LEN SP MSG`) on TCP.
async fn deliver(conn: &mut Conn, message: &str) -> std::io::Result<()> {
    match conn {
        Conn::Udp(socket) => socket.send(message.as_bytes()).await.map(drop),
        Conn::Tcp(stream) => {
            let frame = format!("{} {message}", message.len());
            tokio::time::timeout(WRITE_WAIT, stream.write_all(frame.as_bytes()))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
        }
        #[cfg(unix)]
        Conn::Unix(socket) => socket.send(message.as_bytes()).await.map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin { facility: Facility::Authpriv, hostname: "mymachine.example.com".into(), procid: 4242 }
    }

    fn entry(event: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            // 2003-10-11T22:14:15Z, the time of RFC 5424's examples.
            time: 1_065_910_455,
            event: event.into(),
            outcome: outcome.into(),
            actor: "anon".into(),
            client: "192.0.2.7".into(),
            record: "1a2b3c4d".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn a_message_has_the_rfc_5424_shape() {
        let m = format(&origin(), &entry("secret.created", "ok"));
        assert_eq!(
            m,
            "<86>1 2003-10-11T22:14:15Z mymachine.example.com once 4242 secret.created \
             [once@32473 event=\"secret.created\" outcome=\"ok\" actor=\"anon\" ip=\"192.0.2.7\" \
             record=\"1a2b3c4d\"] secret.created ok actor=anon ip=192.0.2.7 record=1a2b3c4d"
        );
    }

    #[test]
    fn priority_is_facility_times_eight_plus_severity() {
        // RFC 5424 §6.2.1's example: facility 4 (auth) at severity 2 is <34>; ours are 4 and 6.
        assert_eq!(Facility::Auth.code(), 4);
        let auth = Origin { facility: Facility::Auth, ..origin() };
        assert!(format(&auth, &entry("auth.password", "denied:wrong_password")).starts_with("<36>1 "));
        assert!(format(&auth, &entry("auth.password", "ok")).starts_with("<38>1 "));
        assert!(format(&origin(), &entry("auth.2fa_locked", "locked")).starts_with("<84>1 "));
        let local7 = Origin { facility: Facility::Local7, ..origin() };
        assert!(format(&local7, &entry("auth.password", "ok:second_factor_next")).starts_with("<190>1 "));
        assert_eq!(severity("denied:wrong_passphrase"), 4);
        assert_eq!(severity("passphrase_failures"), 4);
        assert_eq!(severity("sender"), 5);
        assert_eq!(severity("okay"), 5, "only `ok` itself is ok");
    }

    #[test]
    fn param_values_are_escaped_as_section_6_3_3_says() {
        // §6.3.5's example writes the value `10] 11` as `10\] 11`.
        let mut out = String::new();
        push_param_value(&mut out, "10] 11");
        assert_eq!(out, r"10\] 11");
        let mut out = String::new();
        push_param_value(&mut out, r#"a"b\c]d=e'f"#);
        assert_eq!(out, r#"a\"b\\c\]d=e'f"#);
        let mut out = String::new();
        push_param_value(&mut out, "line\r\nbreak\0");
        assert_eq!(out, "line\u{FFFD}\u{FFFD}break\u{FFFD}");
        let mut out = String::new();
        push_param_value(&mut out, &"é".repeat(500));
        assert!(out.len() <= MAX_VALUE && out.chars().all(|c| c == 'é'), "cut on a character boundary");
    }

    #[test]
    fn an_escaped_entry_keeps_its_structured_data_closed() {
        let mut e = entry("admin.account_disabled", "ok");
        e.detail = r#"who="x"] [forged@1 a="b"#.into();
        let m = format(&origin(), &e);
        assert!(m.contains(r#"detail="who=\"x\"\] [forged@1 a=\"b"]"#), "{m}");
        // The only unescaped `]` closes the one SD-ELEMENT.
        let sd_end = m.find("\"] ").expect("end of structured data");
        assert!(!m[..sd_end].replace(r"\]", "").contains(']'), "{m}");
    }

    #[test]
    fn msgid_is_printable_ascii_of_at_most_32() {
        assert_eq!(msgid("secret.created"), "secret.created");
        assert_eq!(msgid("a b\tc\u{e9}d\"e"), "abcd\"e");
        assert_eq!(msgid(&"x".repeat(40)).len(), 32);
        assert_eq!(msgid(""), "-");
        assert_eq!(msgid(" \u{1F511} "), "-");
    }

    #[test]
    fn a_utf8_msg_starts_with_the_bom_and_an_ascii_one_does_not() {
        let mut e = entry("account.created", "ok");
        e.actor = "jürgen@example.com".into();
        let m = format(&origin(), &e);
        assert!(m.contains("] \u{FEFF}account.created ok actor=jürgen@example.com"), "{m}");
        let m = format(&origin(), &entry("account.created", "ok"));
        assert!(!m.contains('\u{FEFF}'));
    }

    #[test]
    fn empty_fields_and_unknown_times_are_left_out() {
        let e = AuditEntry {
            time: i64::MAX,
            event: "secret.expired".into(),
            outcome: "ok".into(),
            ..AuditEntry::default()
        };
        assert_eq!(
            format(&Origin { hostname: "-".into(), ..origin() }, &e),
            "<86>1 - - once 4242 secret.expired [once@32473 event=\"secret.expired\" outcome=\"ok\"] \
             secret.expired ok"
        );
    }

    #[test]
    fn targets_parse_and_bad_ones_are_named() {
        let t = |s: &str| Target::parse(s);
        assert_eq!(t("udp://127.0.0.1:514"), Ok(Target::Udp { host: "127.0.0.1".into(), port: 514 }));
        assert_eq!(
            t("tcp://syslog.internal:6514"),
            Ok(Target::Tcp { host: "syslog.internal".into(), port: 6514 })
        );
        assert_eq!(t("udp://[::1]:514"), Ok(Target::Udp { host: "::1".into(), port: 514 }));
        assert_eq!(t("unix:///dev/log"), Ok(Target::Unix("/dev/log".into())));
        assert_eq!(t("udp://[::1]:514").map(|t| t.to_string()), Ok("udp://[::1]:514".into()));
        for bad in [
            "",
            "127.0.0.1:514",
            "udp://127.0.0.1",
            "udp://:514",
            "udp://host:0",
            "udp://host:65536",
            "udp://::1:514",
            "tcp://host name:514",
            "tcp://host/x:514",
            "unix://dev/log",
            "unix://",
            "syslog://host:514",
        ] {
            let err = t(bad).expect_err(bad);
            assert!(
                err.starts_with("audit.syslog must be udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH"),
                "{err}"
            );
        }
    }

    #[test]
    fn facilities_are_chosen_by_name() {
        #[derive(Deserialize)]
        struct F {
            f: Facility,
        }
        let parse = |s: &str| serde_json::from_str::<F>(&format!("{{\"f\":\"{s}\"}}")).map(|f| f.f.code());
        assert_eq!(parse("authpriv").ok(), Some(10));
        assert_eq!(parse("local0").ok(), Some(16));
        assert_eq!(parse("local7").ok(), Some(23));
        assert!(parse("local8").is_err());
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let metrics = Metrics::prometheus().expect("recorder");
        // A receiver that is never read: the queue fills.
        let (tx, _rx) = mpsc::channel(2);
        let sink = SyslogSink { tx, metrics: metrics.clone(), unreported_full: Arc::default() };
        for _ in 0..5 {
            sink.record(entry("secret.created", "ok"));
        }
        assert_eq!(sink.unreported_full.load(Ordering::Relaxed), 3);
        let text = metrics.render().expect("enabled");
        assert!(text.contains(r#"once_audit_syslog_dropped_total{reason="queue_full"} 3"#), "{text}");
    }

    #[tokio::test]
    async fn an_unreachable_receiver_drops_and_counts_without_a_retry_per_event() {
        let metrics = Metrics::prometheus().expect("recorder");
        // A Unix socket path that does not exist: every connect fails at once.
        let dir = tempfile::tempdir().expect("tempdir");
        let target = Target::Unix(dir.path().join("no-such-socket"));
        let (sink, forwarder) = start(target, origin(), metrics.clone());
        for _ in 0..10 {
            sink.record(entry("secret.created", "ok"));
        }
        forwarder.drain(Duration::from_secs(5)).await;
        let text = metrics.render().expect("enabled");
        assert!(text.contains(r#"once_audit_syslog_dropped_total{reason="unreachable"} 10"#), "{text}");
        assert!(text.contains("once_audit_syslog_sent_total 0"), "{text}");
    }
}
