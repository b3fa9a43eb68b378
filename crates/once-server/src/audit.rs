//! The audit trail at the edge: the core's security events, with the client's address added,
//! queued without blocking the request and appended to the store's hash chain in batches by one
//! task per process. On shutdown the queue is drained before the process exits. With
//! `audit.syslog` each event is also copied, best effort, to syslog ([`syslog`]).

pub mod syslog;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use once_core::audit::AuditSink;
use once_store::{AuditEntry, Store};
use tokio::sync::{mpsc, oneshot};

use crate::config::{AuditConfig, Networks};
use crate::metrics::Metrics;

tokio::task_local! {
    /// The client of the request being served (the socket's peer).
    static CLIENT: Option<IpAddr>;
}

/// The client of a request: the TCP peer, or, when the peer is a trusted reverse proxy, the
/// address that proxy (and any trusted proxies before it) reports in `X-Forwarded-For`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// Middleware: works out the request's client ([`ClientIp`], in the request's extensions) and
/// makes it known to the audit events recorded while serving it.
pub async fn with_client(State(proxies): State<Arc<Networks>>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ip = client_ip(peer, req.headers(), &proxies);
    req.extensions_mut().insert(ClientIp(ip));
    CLIENT.scope(ip, next.run(req)).await
}

/// The rightmost address of `X-Forwarded-For` that is not a trusted proxy, when the peer is one;
/// else the peer. A forged header from an untrusted peer changes nothing; a chain of only
/// trusted proxies gives the leftmost address.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &Networks) -> Option<IpAddr> {
    let peer = peer.map(|p| p.to_canonical());
    let Some(p) = peer.filter(|p| proxies.contains(*p)) else { return peer };
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    hops.iter().rev().find(|ip| !proxies.contains(**ip)).or(hops.first()).copied().or(Some(p))
}

/// Entries queued at most; past this (the store has been failing for a long time) new entries
/// are dropped, loudly, rather than growing memory without bound.
const MAX_QUEUED: usize = 100_000;
/// Entries appended in one store call at most.
const BATCH: usize = 512;

/// The sink the server's core records into.
pub struct StoreSink {
    tx: mpsc::UnboundedSender<AuditEntry>,
    queued: Arc<AtomicUsize>,
}

/// Fills in the client of the request being served, if any.
fn add_request_client(entry: &mut AuditEntry) {
    if let Ok(Some(ip)) = CLIENT.try_with(|c| *c) {
        entry.client = ip.to_string();
    }
}

impl AuditSink for StoreSink {
    fn record(&self, mut entry: AuditEntry) {
        add_request_client(&mut entry);
        if self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::error!(event = %entry.event, "audit queue full (the store keeps failing): event dropped");
            return;
        }
        if self.tx.send(entry).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("audit appender stopped: event dropped");
        }
    }
}

/// Hands each event to every sink: the store's trail first, then the copies.
struct Fanout(Vec<Arc<dyn AuditSink>>);

impl AuditSink for Fanout {
    fn record(&self, entry: AuditEntry) {
        for sink in &self.0 {
            sink.record(entry.clone());
        }
    }
}

/// How long the syslog copy may take to send what is queued at shutdown.
const SYSLOG_DRAIN: Duration = Duration::from_secs(2);

/// Stops the appender after it has appended everything queued (and the syslog copy, if any,
/// after it has sent what it can).
pub struct Appender {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    syslog: Option<syslog::Forwarder>,
}

impl Appender {
    /// Appends what is queued, then stops; gives up after `wait` (the rest is logged as lost).
    pub async fn drain(mut self, wait: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(wait, &mut self.task).await.is_err() {
            tracing::error!("audit events still queued at shutdown could not be stored");
            self.task.abort();
        }
        if let Some(syslog) = self.syslog.take() {
            syslog.drain(SYSLOG_DRAIN.min(wait)).await;
        }
    }
}

/// A sink for a core and the task that appends what it records to `store`; with
/// `audit.syslog`, the sink also copies each event to syslog (counted in `metrics`).
pub fn start(
    store: Arc<dyn Store>,
    config: &AuditConfig,
    metrics: &Metrics,
) -> Result<(Arc<dyn AuditSink>, Appender), String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(append(store, rx, queued.clone(), stop_rx));
    let store_sink: Arc<dyn AuditSink> = Arc::new(StoreSink { tx, queued });
    let (sink, syslog) = match config.syslog_target()? {
        None => (store_sink, None),
        Some(target) => {
            let origin = syslog::Origin::this_process(config.syslog_facility);
            let (copy, forwarder) = syslog::start(target, origin, metrics.clone());
            let both: Arc<dyn AuditSink> = Arc::new(Fanout(vec![store_sink, copy]));
            (both, Some(forwarder))
        }
    };
    Ok((sink, Appender { stop: Some(stop_tx), task, syslog }))
}

async fn append(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<AuditEntry>,
    queued: Arc<AtomicUsize>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut stopping = false;
    loop {
        let first = if stopping {
            match rx.try_recv() {
                Ok(e) => e,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                e = rx.recv() => match e {
                    Some(e) => e,
                    None => return,
                },
                _ = &mut stop => {
                    stopping = true;
                    continue;
                }
            }
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        while let Err(e) = store.append_audit(&batch).await {
            tracing::warn!(error = %e, events = batch.len(), "cannot append to the audit trail; will retry");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxies = Networks::parse(&["10.0.0.0/8".into()], "t").expect("networks");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.2".parse().expect("value"));
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("203.0.113.9")),
            "rightmost untrusted"
        );
        assert_eq!(client_ip(Some(ip("192.0.2.5")), &h, &proxies), Some(ip("192.0.2.5")), "forged: ignored");
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &HeaderMap::new(), &proxies), Some(ip("10.0.0.1")));
        let mut only_proxies = HeaderMap::new();
        only_proxies.insert("x-forwarded-for", "10.1.1.1, 10.0.0.2".parse().expect("value"));
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &only_proxies, &proxies), Some(ip("10.1.1.1")));
        let mut garbage = HeaderMap::new();
        garbage.insert("x-forwarded-for", "not an address".parse().expect("value"));
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &garbage, &proxies), Some(ip("10.0.0.1")));
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.1")), &h, &proxies),
            Some(ip("203.0.113.9")),
            "mapped peer"
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &h, &Networks::default()),
            Some(ip("10.0.0.1")),
            "none trusted"
        );
    }
}
