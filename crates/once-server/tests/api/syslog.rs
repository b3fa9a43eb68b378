//! The audit trail's syslog copy (`audit.syslog`): what a UDP, TCP or Unix-socket receiver gets
//! is one RFC 5424 message per event, parsed here strictly (PRI, version 1, header fields,
//! structured data with its escapes), and none of it holds a secret, a passphrase or a link token.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use once_client::ShareOptions;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

use crate::helpers::{Backend, TestApp};

const WAIT: Duration = Duration::from_secs(5);
/// `authpriv`, the default facility.
const AUTHPRIV: u16 = 10;

/// One message, as RFC 5424 §6 lays it out.
#[derive(Debug)]
struct Message {
    pri: u16,
    hostname: String,
    app: String,
    procid: String,
    msgid: String,
    sd_id: String,
    params: BTreeMap<String, String>,
    msg: String,
}

/// A header field: 1 to `max` printable ASCII characters (or the nil value `-`).
fn header_field(field: Option<&str>, name: &str, max: usize) -> Result<String, String> {
    let f = field.ok_or(format!("no {name}"))?;
    if f.is_empty() || f.len() > max || !f.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("bad {name} {f:?}"));
    }
    Ok(f.to_owned())
}

/// Parses one message with one SD-ELEMENT; an unescaped `"` or `]` inside a value, or a value
/// left open, is an error.
fn parse(text: &str) -> Result<Message, String> {
    let rest = text.strip_prefix('<').ok_or("no PRI")?;
    let (pri, rest) = rest.split_once('>').ok_or("PRI not closed")?;
    if !(1..=3).contains(&pri.len()) || !pri.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad PRI {pri:?}"));
    }
    let pri: u16 = pri.parse().map_err(|_| "PRI")?;
    if pri > 191 {
        return Err(format!("PRI {pri} out of range"));
    }
    let rest = rest.strip_prefix("1 ").ok_or("VERSION is not 1")?;
    let mut fields = rest.splitn(6, ' ');
    let timestamp = header_field(fields.next(), "TIMESTAMP", 64)?;
    time::OffsetDateTime::parse(&timestamp, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("TIMESTAMP {timestamp:?}: {e}"))?;
    let hostname = header_field(fields.next(), "HOSTNAME", 255)?;
    let app = header_field(fields.next(), "APP-NAME", 48)?;
    let procid = header_field(fields.next(), "PROCID", 128)?;
    let msgid = header_field(fields.next(), "MSGID", 32)?;
    let sd = fields.next().ok_or("no STRUCTURED-DATA")?;

    let mut chars = sd.chars().peekable();
    if chars.next() != Some('[') {
        return Err("STRUCTURED-DATA does not open with [".into());
    }
    let mut sd_id = String::new();
    while let Some(c) = chars.next_if(|c| !matches!(c, ' ' | ']')) {
        if matches!(c, '=' | '"') || !c.is_ascii_graphic() {
            return Err(format!("bad SD-ID character {c:?}"));
        }
        sd_id.push(c);
    }
    let mut params = BTreeMap::new();
    loop {
        match chars.next() {
            Some(']') => break,
            Some(' ') => {}
            other => return Err(format!("expected a parameter or ], got {other:?}")),
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=') {
            if matches!(c, ' ' | ']' | '"') || !c.is_ascii_graphic() {
                return Err(format!("bad PARAM-NAME character {c:?}"));
            }
            name.push(c);
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("parameter {name} has no =\"value\""));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(format!("value of {name} left open")),
                Some('"') => break,
                Some(']') => return Err(format!("unescaped ] in the value of {name}")),
                Some('\\') => match chars.next() {
                    Some(c @ ('"' | '\\' | ']')) => value.push(c),
                    Some(c) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("value of {name} left open")),
                },
                Some(c) => value.push(c),
            }
        }
        if params.insert(name.clone(), value).is_some() {
            return Err(format!("parameter {name} twice"));
        }
    }
    let msg: String = chars.collect();
    let msg = match msg.strip_prefix(' ') {
        Some(m) => m.strip_prefix('\u{FEFF}').unwrap_or(m).to_owned(),
        None if msg.is_empty() => String::new(),
        None => return Err(format!("no space before the MSG: {msg:?}")),
    };
    Ok(Message { pri, hostname, app, procid, msgid, sd_id, params, msg })
}

/// What the test sends that must never reach syslog.
struct Canaries(Vec<String>);

/// Creates a secret with a passphrase, tries a wrong passphrase, then reveals it.
async fn exercise(app: &TestApp) -> Canaries {
    let secret = "canary-syslog-secret-4b1d93";
    let passphrase = "canary-syslog-passphrase-77e2";
    let wrong = "canary-syslog-wrong-passphrase-0c0a";
    let opts = ShareOptions { passphrase: Some(passphrase.into()), ..ShareOptions::default() };
    let m = app.client.share(secret, &opts).await.expect("share");
    let key = m.secret_key.clone().expect("secret key");
    assert!(app.client.reveal(&key, Some(wrong)).await.is_err());
    assert_eq!(app.client.reveal(&key, Some(passphrase)).await.expect("reveal").value, secret);
    Canaries(vec![secret.into(), passphrase.into(), wrong.into(), key, m.metadata_key])
}

/// The events `exercise` causes, with the severity each is sent at.
const EXPECTED: [(&str, &str, u16); 3] = [
    ("secret.created", "ok", 6),
    ("secret.reveal", "denied:wrong_passphrase", 4),
    ("secret.revealed", "ok", 6),
];

fn complete(messages: &[String]) -> bool {
    EXPECTED.iter().all(|(event, _, _)| messages.iter().any(|m| m.contains(&format!(" {event} ["))))
}

/// Every message parses and is what its event says; the expected ones came, once each, in order;
/// no canary is in any of them.
fn check(messages: &[String], canaries: &Canaries) {
    let parsed: Vec<Message> =
        messages.iter().map(|m| parse(m).unwrap_or_else(|e| panic!("not RFC 5424 ({e}): {m:?}"))).collect();
    for m in &parsed {
        assert_eq!(m.app, "once");
        assert_eq!(m.procid, std::process::id().to_string(), "the server runs in this test process");
        assert!(!m.hostname.is_empty());
        assert_eq!(m.sd_id, "once@32473");
        assert_eq!(m.params.get("event"), Some(&m.msgid), "MSGID is the event");
        assert!(m.msg.starts_with(&m.msgid), "{}", m.msg);
    }
    let seen: Vec<(&str, &str, u16)> = parsed
        .iter()
        .map(|m| (m.msgid.as_str(), m.params.get("outcome").map_or("", String::as_str), m.pri))
        .collect();
    let expected: Vec<(&str, &str, u16)> =
        EXPECTED.iter().map(|(e, o, severity)| (*e, *o, AUTHPRIV * 8 + severity)).collect();
    assert_eq!(seen, expected, "{messages:#?}");
    for m in &parsed {
        assert_eq!(m.params.get("actor").map(String::as_str), Some("anon"), "{m:?}");
        assert_eq!(m.params.get("ip").map(String::as_str), Some("127.0.0.1"), "{m:?}");
        assert_eq!(m.params.get("record").map(String::len), Some(8), "{m:?}");
    }
    for message in messages {
        for canary in &canaries.0 {
            assert!(!message.contains(canary.as_str()), "{canary:?} reached syslog: {message:?}");
        }
    }
}

#[tokio::test]
async fn audit_events_reach_a_udp_receiver_as_rfc_5424_messages() {
    let receiver = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let to = format!("udp://{}", receiver.local_addr().expect("address"));
    let app = TestApp::spawn_with(Backend::Memory, |c| c.audit.syslog = Some(to)).await;
    let canaries = exercise(&app).await;

    let deadline = Instant::now() + WAIT;
    let mut messages = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !complete(&messages) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, receiver.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("not every event arrived: {messages:#?}"))
            .expect("recv");
        messages.push(String::from_utf8(buf[..n].to_vec()).expect("UTF-8"));
    }
    check(&messages, &canaries);
}

#[cfg(unix)]
#[tokio::test]
async fn audit_events_reach_a_unix_datagram_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log");
    let receiver = tokio::net::UnixDatagram::bind(&path).expect("bind");
    let to = format!("unix://{}", path.display());
    let app = TestApp::spawn_with(Backend::Memory, |c| c.audit.syslog = Some(to)).await;
    let canaries = exercise(&app).await;

    let deadline = Instant::now() + WAIT;
    let mut messages = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !complete(&messages) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, receiver.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("not every event arrived: {messages:#?}"))
            .expect("recv");
        messages.push(String::from_utf8(buf[..n].to_vec()).expect("UTF-8"));
    }
    check(&messages, &canaries);
}

#[tokio::test]
async fn audit_events_reach_a_tcp_receiver_in_octet_counted_frames() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let to = format!("tcp://{}", listener.local_addr().expect("address"));
    let app = TestApp::spawn_with(Backend::Memory, |c| c.audit.syslog = Some(to)).await;
    let canaries = exercise(&app).await;

    let deadline = Instant::now() + WAIT;
    let (mut conn, _) =
        tokio::time::timeout(WAIT, listener.accept()).await.expect("connected").expect("accept");
    let mut bytes = Vec::new();
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    while !complete(&messages) {
        // RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG, MSG-LEN a decimal without leading zeros.
        if let Some(space) = bytes.iter().position(|b| *b == b' ') {
            let len = std::str::from_utf8(&bytes[..space]).expect("ASCII length");
            assert!(
                !len.is_empty() && !len.starts_with('0') && len.bytes().all(|b| b.is_ascii_digit()),
                "bad MSG-LEN {len:?}"
            );
            let len: usize = len.parse().expect("length");
            if bytes.len() >= space + 1 + len {
                let frame: Vec<u8> = bytes.drain(..space + 1 + len).skip(space + 1).collect();
                messages.push(String::from_utf8(frame).expect("UTF-8"));
                continue;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, conn.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("not every event arrived: {messages:#?}"))
            .expect("read");
        assert!(n > 0, "the sender closed the connection");
        bytes.extend_from_slice(&buf[..n]);
    }
    check(&messages, &canaries);
    assert!(bytes.is_empty(), "nothing between or after the frames: {bytes:?}");
}

#[test]
fn the_test_parser_reads_rfc_5424s_own_examples() {
    // RFC 5424 §6.5, examples 1 and 3 (without the BOM).
    let m = parse(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
    );
    assert!(m.is_err(), "we always send structured data; the parser insists on it");
    let m = parse(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
         [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry...",
    )
    .expect("parses");
    assert_eq!((m.pri, m.msgid.as_str(), m.sd_id.as_str()), (165, "ID47", "exampleSDID@32473"));
    assert_eq!(m.params.get("eventSource").map(String::as_str), Some("Application"));
    assert_eq!(m.msg, "An application event log entry...");
    let escaped =
        parse(r#"<86>1 2003-10-11T22:14:15Z h once 1 x [a@1 v="10\] \"11\" \\ 12"]"#).expect("parses");
    assert_eq!(escaped.params.get("v").map(String::as_str), Some(r#"10] "11" \ 12"#));
    assert!(parse(r#"<86>1 2003-10-11T22:14:15Z h once 1 x [a@1 v="10] 11"]"#).is_err(), "unescaped ]");
    assert!(parse(r#"<86>2 2003-10-11T22:14:15Z h once 1 x [a@1 v="1"]"#).is_err(), "version 2");
}
