//! Connection caps (`http.max_connections`, `http.max_connections_per_ip`) over real sockets:
//! idle keep-alive connections fill a cap, the next connection gets a 503 with `Retry-After` and
//! is closed at once, the connections held keep working, and closing one makes room again.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{Backend, TestApp};

/// How long any one step may take.
const WAIT: Duration = Duration::from_secs(2);
const HOME: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn server(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().expect("server address")
}

/// A connection from `source`, or `None` where that address is not this host's (all of
/// 127.0.0.0/8 is on Linux; elsewhere often only 127.0.0.1).
async fn connect_from(app: &TestApp, source: Ipv4Addr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    let stream = tokio::time::timeout(WAIT, socket.connect(server(app))).await.expect("connect in time");
    Some(stream.expect("connect"))
}

/// An answer: status, head and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends `GET path` on `stream` and reads one answer (framed by `Content-Length`).
async fn get(stream: &mut TcpStream, path: &str) -> Option<Answer> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    tokio::time::timeout(WAIT, read_answer(stream)).await.expect("an answer in time")
}

async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while bytes.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    let body = String::from_utf8_lossy(&bytes[head_end..head_end + length]).into_owned();
    Some(Answer { status, head, body })
}

/// A keep-alive connection from `source` that has been served one request, then left idle.
async fn served(app: &TestApp, source: Ipv4Addr) -> TcpStream {
    let mut stream = connect_from(app, source).await.expect("a source address of this host");
    let answer = get(&mut stream, "/healthz").await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    stream
}

/// Asserts that a new connection from `source` is refused: a 503 with `Retry-After: 1` and
/// `Connection: close`, then closed by the server.
async fn assert_refused(app: &TestApp, source: Ipv4Addr) {
    let mut stream = connect_from(app, source).await.expect("a source address of this host");
    let started = Instant::now();
    let answer = get(&mut stream, "/healthz").await.expect("an answer, not a silent close");
    assert_eq!(answer.status, 503, "{}", answer.head);
    let head = answer.head.to_ascii_lowercase();
    assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
    assert!(answer.body.contains("too many connections"), "{}", answer.body);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "closed by the server, nothing more sent: {closed:?}");
    assert!(started.elapsed() < WAIT, "answered at once");
}

/// Connects from `source` until one is served (the server notices a closed connection a moment
/// after the client closes it); returns it and how many were refused meanwhile.
async fn served_again(app: &TestApp, source: Ipv4Addr) -> (TcpStream, u32) {
    let deadline = Instant::now() + WAIT;
    let mut refused = 0;
    loop {
        let mut stream = connect_from(app, source).await.expect("a source address of this host");
        let answer = get(&mut stream, "/healthz").await.expect("an answer");
        if answer.status == 200 {
            return (stream, refused);
        }
        assert_eq!(answer.status, 503, "{}", answer.head);
        refused += 1;
        assert!(Instant::now() < deadline, "no place came free after a connection closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The value of one series in `/metrics`, read over `stream`.
async fn metric(stream: &mut TcpStream, series: &str) -> f64 {
    let answer = get(stream, "/metrics").await.expect("metrics");
    assert_eq!(answer.status, 200);
    answer
        .body
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} in\n{}", answer.body))
}

#[tokio::test]
async fn the_connection_past_the_per_ip_cap_gets_503_and_is_closed() {
    let app = TestApp::spawn_with(Backend::Memory, |c| c.http.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(served(&app, HOME).await);
    }
    assert_refused(&app, HOME).await;

    // The connections held are untouched, and another address has places of its own.
    let answer = get(&mut held[0], "/healthz").await.expect("still served");
    assert_eq!(answer.status, 200);
    if let Some(mut other) = connect_from(&app, Ipv4Addr::new(127, 0, 0, 2)).await {
        assert_eq!(get(&mut other, "/healthz").await.expect("answer").status, 200);
    }

    drop(held.pop());
    let (mut again, refused_meanwhile) = served_again(&app, HOME).await;
    let per_ip = r#"once_http_connections_refused_total{cap="per_ip"}"#;
    assert_eq!(metric(&mut again, per_ip).await, f64::from(1 + refused_meanwhile));
    assert_eq!(metric(&mut again, r#"once_http_connections_refused_total{cap="global"}"#).await, 0.0);
}

#[tokio::test]
async fn the_connection_past_the_global_cap_gets_503_and_is_closed() {
    let app = TestApp::spawn_with(Backend::Memory, |c| c.http.max_connections = 3).await;
    // From three addresses where the host has them, so that only the global cap can refuse.
    let sources: Vec<Ipv4Addr> = (1..=4).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let distinct = connect_from(&app, sources[3]).await.is_some();
    let source = |i: usize| if distinct { sources[i] } else { HOME };
    // The probe above holds a place until the server sees it closed: retry until served.
    let (mut held, mut refused) = (Vec::new(), 0);
    for i in 0..3 {
        let (stream, refused_meanwhile) = served_again(&app, source(i)).await;
        held.push(stream);
        refused += refused_meanwhile;
    }
    assert_refused(&app, source(3)).await;
    assert_refused(&app, source(0)).await;

    drop(held.remove(1));
    let (mut again, refused_meanwhile) = served_again(&app, source(3)).await;
    let global = r#"once_http_connections_refused_total{cap="global"}"#;
    assert_eq!(metric(&mut again, global).await, f64::from(2 + refused + refused_meanwhile));
    assert_eq!(metric(&mut again, "once_http_connections_open").await, 3.0);
}

#[tokio::test]
async fn a_trusted_proxy_is_exempt_from_the_per_ip_cap_but_not_from_the_global_one() {
    let app = TestApp::spawn_with(Backend::Memory, |c| {
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
        c.http.max_connections_per_ip = 2;
        c.http.max_connections = 4;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(served(&app, HOME).await);
    }
    assert_refused(&app, HOME).await;
    drop(held.pop());
    let (mut again, refused_meanwhile) = served_again(&app, HOME).await;
    let global = r#"once_http_connections_refused_total{cap="global"}"#;
    assert_eq!(metric(&mut again, global).await, f64::from(1 + refused_meanwhile));
    assert_eq!(metric(&mut again, r#"once_http_connections_refused_total{cap="per_ip"}"#).await, 0.0);
}
