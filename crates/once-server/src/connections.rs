//! Connection caps, like vsftpd's `max_clients` and `max_per_ip`: `http.max_connections` open
//! connections at most from everyone, `http.max_connections_per_ip` from one peer.
//!
//! The accept loop asks [`ConnectionCaps::admit`] for every accepted connection. Admitted, the
//! connection's task holds the [`Admitted`] guard, which gives the place back when the task ends
//! however it ends (closed, timed out, panicked, aborted at shutdown): counting is exact, under
//! one lock, and a peer's entry is removed when its count falls to zero, so the map holds only
//! peers with open connections. Refused, the connection gets a fixed `503` with `Retry-After: 1`
//! and `Connection: close` without a byte of its request being parsed, and is closed.
//!
//! The per-peer cap counts the socket's peer, not `X-Forwarded-For` (which is per request, and
//! only read after the connection is accepted): an IPv4 address, or an IPv6 peer by its /64 (one
//! host usually has a whole /64 to pick from), as the rate limits do. Behind a reverse proxy
//! every connection comes from the proxy, so peers in `http.trusted_proxies` are exempt from the
//! per-peer cap; they still count toward the global one.
//!
//! Refusals are counted (`once_http_connections_refused_total{cap}`) and logged at most once per
//! cap every [`LOG_EVERY`], with the peer and the cap only, so a flood cannot flood the log.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::Networks;
use crate::metrics::Metrics;

/// What a refused connection is sent, whole.
pub const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 42\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
Cache-Control: no-store\r\n\
X-Content-Type-Options: nosniff\r\n\
\r\n\
too many connections; try again shortly.\r\n";
/// Refused connections being answered at a time at most. Past it, a refused connection gets
/// one non-blocking write of the answer and is closed at once.
const MAX_ANSWERING: usize = 256;
/// How long answering one refused connection may take, the wait for its close included.
const ANSWER_WAIT: Duration = Duration::from_secs(1);
/// What a refused client sent is read and discarded up to this much while waiting for its close.
const DISCARD_AT_MOST: usize = 64 * 1024;
/// Refusals are logged at most this often per cap.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Which cap a connection met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// `http.max_connections`.
    Global,
    /// `http.max_connections_per_ip`.
    PerIp,
}

impl Cap {
    /// The name in the log and in the metric's `cap` label.
    pub fn label(self) -> &'static str {
        match self {
            Cap::Global => "global",
            Cap::PerIp => "per_ip",
        }
    }
}

/// A peer as the per-peer cap counts it: an IPv4 address, or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    V4(Ipv4Addr),
    /// The first 64 bits of the address.
    V6Net(u64),
}

impl Peer {
    /// The peer of a socket address; an IPv4 address seen on an IPv6 socket is that IPv4 address.
    pub fn of(ip: IpAddr) -> Peer {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Peer::V4(v4),
            IpAddr::V6(v6) => Peer::V6Net((v6.to_bits() >> 64) as u64),
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::V4(v4) => write!(f, "{v4}"),
            Peer::V6Net(net) => {
                let s = |i: u32| (net >> (48 - 16 * i)) & 0xffff;
                write!(f, "{:x}:{:x}:{:x}:{:x}::/64", s(0), s(1), s(2), s(3))
            }
        }
    }
}

/// A connection turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub cap: Cap,
    pub peer: Peer,
}

/// The caps and the connections they count. Cheap to clone.
#[derive(Clone)]
pub struct ConnectionCaps {
    shared: Arc<Shared>,
}

struct Shared {
    /// 0: no cap.
    max_open: usize,
    /// 0: no cap (and no per-peer counting).
    max_per_peer: usize,
    /// Trusted proxies: not held to the per-peer cap.
    exempt: Arc<Networks>,
    metrics: Metrics,
    counts: Mutex<Counts>,
    answering: Arc<Semaphore>,
}

#[derive(Default)]
struct Counts {
    open: usize,
    /// Only peers with at least one connection open.
    by_peer: HashMap<Peer, usize>,
}

impl Shared {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Nothing panics while holding the lock; were it poisoned, the counts are still whole.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An admitted connection's place; dropping it gives the place back.
pub struct Admitted {
    shared: Arc<Shared>,
    /// The peer it counts for, unless the per-peer cap is off or the peer exempt.
    peer: Option<Peer>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut counts = self.shared.counts();
        counts.open = counts.open.saturating_sub(1);
        if let Some(peer) = self.peer
            && let Some(n) = counts.by_peer.get_mut(&peer)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_peer.remove(&peer);
            }
        }
        self.shared.metrics.connections_open(counts.open);
    }
}

impl ConnectionCaps {
    /// Caps of `max_open` connections in all and `max_per_peer` from one peer (0: no cap), with
    /// the peers in `exempt` held to the first only.
    pub fn new(max_open: usize, max_per_peer: usize, exempt: Arc<Networks>, metrics: Metrics) -> Self {
        let shared = Shared {
            max_open,
            max_per_peer,
            exempt,
            metrics,
            counts: Mutex::default(),
            answering: Arc::new(Semaphore::new(MAX_ANSWERING)),
        };
        ConnectionCaps { shared: Arc::new(shared) }
    }

    /// A place for a new connection from `ip`, or which cap it meets (counted in the metrics).
    pub fn admit(&self, ip: IpAddr) -> Result<Admitted, Refusal> {
        let s = &self.shared;
        let peer = Peer::of(ip);
        let counted = (s.max_per_peer > 0 && !s.exempt.contains(ip)).then_some(peer);
        let mut counts = s.counts();
        let refused = if counted.is_some_and(|p| counts.by_peer.get(&p).is_some_and(|n| *n >= s.max_per_peer))
        {
            Some(Cap::PerIp)
        } else if s.max_open > 0 && counts.open >= s.max_open {
            Some(Cap::Global)
        } else {
            None
        };
        if let Some(cap) = refused {
            drop(counts);
            s.metrics.connection_refused(cap);
            return Err(Refusal { cap, peer });
        }
        counts.open += 1;
        if let Some(p) = counted {
            *counts.by_peer.entry(p).or_insert(0) += 1;
        }
        s.metrics.connections_open(counts.open);
        Ok(Admitted { shared: self.shared.clone(), peer: counted })
    }

    /// Connections open, and peers with connections open that the per-peer cap counts.
    pub fn open(&self) -> (usize, usize) {
        let counts = self.shared.counts();
        (counts.open, counts.by_peer.len())
    }

    /// Answers a refused connection with [`REFUSAL`] and closes it, on a task in `tasks` (the
    /// accept loop does not wait). Past [`MAX_ANSWERING`] such tasks, the answer is written once
    /// without waiting and the connection closed at once.
    pub fn refuse(&self, stream: TcpStream, tasks: &mut JoinSet<()>) {
        match self.shared.answering.clone().try_acquire_owned() {
            Ok(permit) => {
                tasks.spawn(async move {
                    let _permit = permit;
                    let _ = tokio::time::timeout(ANSWER_WAIT, answer(stream)).await;
                });
            }
            Err(_) => {
                let _ = stream.try_write(REFUSAL);
            }
        }
    }
}

/// Sends the refusal, then waits for the client to close, discarding what it sent: closing a
/// socket with unread bytes resets the connection, and a reset can destroy the answer before the
/// client has read it.
async fn answer(mut stream: TcpStream) {
    if stream.write_all(REFUSAL).await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let mut discarded = 0;
    while discarded < DISCARD_AT_MOST {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}

/// Logs refusals, at most one line per cap every [`LOG_EVERY`]; each line says how many were not
/// logged since the one before.
#[derive(Debug, Default)]
pub struct RefusalLog {
    last: [Option<Instant>; 2],
    unlogged: [u64; 2],
}

impl RefusalLog {
    pub fn note(&mut self, refusal: &Refusal) {
        self.note_at(refusal, Instant::now());
    }

    /// Whether this refusal was logged.
    fn note_at(&mut self, refusal: &Refusal, now: Instant) -> bool {
        let i = match refusal.cap {
            Cap::Global => 0,
            Cap::PerIp => 1,
        };
        if self.last[i].is_some_and(|at| now.saturating_duration_since(at) < LOG_EVERY) {
            self.unlogged[i] += 1;
            return false;
        }
        self.last[i] = Some(now);
        let unlogged = std::mem::take(&mut self.unlogged[i]);
        tracing::warn!(
            ip = %refusal.peer,
            cap = refusal.cap.label(),
            unlogged,
            "connection cap reached: connection answered 503 and closed"
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn caps(max_open: usize, max_per_peer: usize, exempt: &[&str]) -> ConnectionCaps {
        let exempt = Networks::parse(&exempt.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>(), "t")
            .expect("networks");
        ConnectionCaps::new(max_open, max_per_peer, Arc::new(exempt), Metrics::disabled())
    }

    #[test]
    fn the_refusal_is_a_whole_http_response() {
        let text = std::str::from_utf8(REFUSAL).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        for header in ["Retry-After: 1", "Connection: close"] {
            assert!(head.lines().any(|l| l == header), "{header}");
        }
        let length = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).expect("length");
        assert_eq!(length.parse::<usize>().ok(), Some(body.len()));
    }

    #[test]
    fn the_per_peer_cap_refuses_the_one_past_it_and_frees_a_place_on_drop() {
        let c = caps(0, 2, &[]);
        let a = c.admit(ip("192.0.2.1")).expect("1st");
        let b = c.admit(ip("192.0.2.1")).expect("2nd");
        let refused = c.admit(ip("192.0.2.1")).err().expect("3rd refused");
        assert_eq!(refused, Refusal { cap: Cap::PerIp, peer: Peer::of(ip("192.0.2.1")) });
        let _other = c.admit(ip("192.0.2.2")).expect("another peer has its own count");
        assert_eq!(c.open(), (3, 2));
        drop(a);
        let _c = c.admit(ip("192.0.2.1")).expect("a place again");
        drop(b);
        assert_eq!(c.open(), (2, 2));
    }

    #[test]
    fn a_peer_is_forgotten_when_its_last_connection_closes() {
        let c = caps(0, 5, &[]);
        let held: Vec<_> =
            (0..100u8).map(|i| c.admit(IpAddr::from([198, 51, 100, i])).expect("admit")).collect();
        assert_eq!(c.open(), (100, 100));
        drop(held);
        assert_eq!(c.open(), (0, 0), "no entry left behind");
    }

    #[test]
    fn the_global_cap_counts_everyone_and_trusted_proxies_too() {
        let c = caps(3, 1, &["10.0.0.0/8"]);
        let _p1 = c.admit(ip("10.0.0.1")).expect("proxy");
        let _p2 = c.admit(ip("10.0.0.1")).expect("a proxy is exempt from the per-peer cap");
        let _x = c.admit(ip("192.0.2.1")).expect("a client");
        assert_eq!(c.admit(ip("192.0.2.2")).err().map(|r| r.cap), Some(Cap::Global));
        assert_eq!(c.admit(ip("10.0.0.1")).err().map(|r| r.cap), Some(Cap::Global));
        assert_eq!(c.open(), (3, 1), "the proxy is not in the per-peer map");
    }

    #[test]
    fn zero_means_no_cap() {
        let c = caps(0, 0, &[]);
        let held: Vec<_> = (0..1000).map(|_| c.admit(ip("192.0.2.1")).expect("admit")).collect();
        assert_eq!(c.open(), (1000, 0));
        drop(held);
        assert_eq!(c.open(), (0, 0));
    }

    #[test]
    fn ipv6_peers_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let c = caps(0, 2, &[]);
        let _a = c.admit(ip("2001:db8:1:2::1")).expect("1st");
        let _b = c.admit(ip("2001:db8:1:2:ffff::9")).expect("2nd, same /64");
        let r = c.admit(ip("2001:db8:1:2::abcd")).err().expect("3rd in the /64");
        assert_eq!(r.peer.to_string(), "2001:db8:1:2::/64");
        let _other = c.admit(ip("2001:db8:1:3::1")).expect("the next /64 is another peer");
        let _v4 = c.admit(ip("192.0.2.1")).expect("v4");
        let _mapped = c.admit(ip("::ffff:192.0.2.1")).expect("mapped");
        assert_eq!(c.admit(ip("192.0.2.1")).err().map(|r| r.peer.to_string()), Some("192.0.2.1".into()));
    }

    #[test]
    fn counting_is_exact_under_concurrency() {
        let c = caps(16, 4, &[]);
        let peers = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"];
        std::thread::scope(|s| {
            for t in 0..8 {
                let c = c.clone();
                s.spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..2000 {
                        if let Ok(a) = c.admit(ip(peers[(t + i) % peers.len()])) {
                            held.push(a);
                        }
                        let (open, _) = c.open();
                        assert!(open <= 16, "{open} open");
                        if i % 3 == 0 {
                            held.clear();
                        }
                    }
                });
            }
        });
        assert_eq!(c.open(), (0, 0));
    }

    #[tokio::test]
    async fn a_panicking_or_aborted_connection_task_gives_its_place_back() {
        let c = caps(0, 2, &[]);
        let a = c.admit(ip("192.0.2.1")).expect("admit");
        let panicked = tokio::spawn(async move {
            let _held = a;
            panic!("handler bug");
        });
        assert!(panicked.await.is_err());
        let b = c.admit(ip("192.0.2.1")).expect("admit");
        let (started, running) = tokio::sync::oneshot::channel();
        let stuck = tokio::spawn(async move {
            let _held = b;
            let _ = started.send(());
            std::future::pending::<()>().await;
        });
        running.await.expect("started");
        assert_eq!(c.open(), (1, 1));
        stuck.abort();
        assert!(stuck.await.is_err());
        assert_eq!(c.open(), (0, 0));
    }

    #[test]
    fn refusals_are_logged_at_most_once_per_cap_per_period() {
        let mut log = RefusalLog::default();
        let per_ip = Refusal { cap: Cap::PerIp, peer: Peer::of(ip("192.0.2.1")) };
        let global = Refusal { cap: Cap::Global, peer: Peer::of(ip("192.0.2.1")) };
        let t0 = Instant::now();
        assert!(log.note_at(&per_ip, t0));
        assert!(!log.note_at(&per_ip, t0 + Duration::from_secs(1)));
        assert!(log.note_at(&global, t0 + Duration::from_secs(1)), "each cap has its own period");
        assert!(!log.note_at(&per_ip, t0 + Duration::from_secs(9)));
        assert_eq!(log.unlogged[1], 2);
        assert!(log.note_at(&per_ip, t0 + LOG_EVERY));
        assert_eq!(log.unlogged[1], 0);
    }
}
