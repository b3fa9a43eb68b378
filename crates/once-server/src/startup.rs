//! Building and running the server: `Application::build` → `port()` → `run_until_stopped()`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use once_core::{Clock, Core, SystemClock};
use once_crypto::{KeyRing, MasterKey};
use once_store::Store;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::config::{Config, RedisConfig};
use crate::connections::{ConnectionCaps, RefusalLog};
use crate::metrics::{AuditMetricsLayer, Metrics};
use crate::routes;
use crate::state::AppState;

/// Where the master key comes from, besides the key ring file.
pub enum MasterKeySource {
    /// The key ring file in the data dir (created on first run).
    KeyRingFile,
    /// One key given from outside (`ONCE_MASTER_KEY` / `ONCE_MASTER_KEY_FILE`).
    Given(MasterKey),
}

impl MasterKeySource {
    /// Reads `ONCE_MASTER_KEY` or `ONCE_MASTER_KEY_FILE` (base64 of 32 bytes).
    pub fn from_env() -> anyhow::Result<Self> {
        let inline = std::env::var("ONCE_MASTER_KEY").ok().map(Zeroizing::new);
        let file = std::env::var_os("ONCE_MASTER_KEY_FILE").map(PathBuf::from);
        let text = match (inline, file) {
            (Some(_), Some(_)) => bail!("set ONCE_MASTER_KEY or ONCE_MASTER_KEY_FILE, not both"),
            (None, None) => return Ok(MasterKeySource::KeyRingFile),
            (Some(t), None) => t,
            (None, Some(path)) => Zeroizing::new(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read ONCE_MASTER_KEY_FILE {}", path.display()))?,
            ),
        };
        let key = MasterKey::from_base64(&text)
            .context("the master key must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")?;
        Ok(MasterKeySource::Given(key))
    }
}

/// Opens the store named by a `--store` URL.
pub async fn open_store(url: &str, redis: &RedisConfig) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        let (store, report) = once_store_redis::RedisStore::open(url, redis.options()).await?;
        if report.maxmemory_policy != "noeviction" {
            tracing::warn!(
                policy = %report.maxmemory_policy,
                "Redis may EVICT keys (redis.danger_allow_eviction is on): secrets, receipts and accounts can vanish"
            );
        }
        if !report.aof_enabled {
            tracing::warn!(
                "Redis has no append-only file (appendonly no): after a Redis restart, secrets that were already \
                 revealed or burned can come back and be revealed again. Turn on `appendonly yes` (docs/DEPLOY.md)"
            );
        }
        tracing::info!(version = %report.version, aof = report.aof_enabled, "connected to Redis");
        return Ok(Arc::new(store));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            bail!("store URL {url:?} has no path; use sqlite://PATH, e.g. sqlite://./once-data/once.db");
        }
        let store = once_store_sqlite::SqliteStore::open(std::path::Path::new(path))
            .with_context(|| format!("cannot open SQLite database {path}"))?;
        return Ok(Arc::new(store));
    }
    if url == "memory://" || url == "memory:" {
        return Ok(Arc::new(once_store::memory::MemoryStore::new()));
    }
    bail!(
        "unknown store URL {:?}: valid forms are sqlite://PATH, redis://HOST[:PORT][/DB], rediss://… and memory://",
        redact_store_url(url)
    )
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    sweep_every: Duration,
    sweep_batch: u32,
    /// Audit records older than this many seconds are pruned.
    audit_retention: i64,
    /// How long a connection may take to send a request's head (slowloris).
    header_timeout: Duration,
    /// `http.max_connections` and `http.max_connections_per_ip`.
    caps: ConnectionCaps,
    appender: crate::audit::Appender,
}

impl Application {
    /// Opens the store and the key ring, binds the listener. Nothing is served until `run`.
    pub async fn build(config: Config, master: MasterKeySource) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store_url = config.store_url();
        let ephemeral = store_url.starts_with("memory:");
        if !ephemeral {
            create_private_dir(&config.data_dir)?;
        }
        let store = open_store(&store_url, &config.redis).await?;
        let keys = match master {
            MasterKeySource::Given(key) => KeyRing::from_single_key(key),
            MasterKeySource::KeyRingFile if ephemeral => {
                tracing::warn!("memory store: a fresh master key was generated; everything is lost on exit");
                KeyRing::generate_new(clock.now())
            }
            MasterKeySource::KeyRingFile => {
                let path = config.keyring_path();
                let (ring, created) = KeyRing::load_or_create(&path, clock.now())?;
                if created {
                    tracing::warn!(
                        path = %path.display(),
                        "generated a new master key ring; BACK THIS FILE UP: without it no stored secret can ever be opened"
                    );
                } else {
                    tracing::info!(path = %path.display(), "loaded master key ring");
                }
                ring
            }
        };
        let keys = keys.with_algorithm(config.crypto.algorithm);
        let Some(active) = keys.active_id() else {
            bail!("the key ring has no active key: run `once keys generate` and `once keys activate ID`");
        };
        check_key_registry(store.as_ref(), &keys).await?;
        tracing::info!(store = %redact_store_url(&store_url), active_key = %active, "storage ready");

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        // Without a configured base URL, links name the address actually bound (port 0 resolved).
        let base_url = match &config.base_url {
            Some(_) => config.base_url(),
            None => format!("http://{}", listener.local_addr().unwrap_or(config.listen)),
        };
        let metrics = if config.metrics.enabled {
            if !audit_counting_installed() {
                tracing::warn!(
                    "metrics: the tracing subscriber has no AuditMetricsLayer, so the secret counters stay at 0 \
                     (once_server::telemetry::init installs it)"
                );
            }
            Metrics::prometheus().context("cannot set up the metrics recorder")?
        } else {
            Metrics::disabled()
        };
        let (sink, appender) =
            crate::audit::start(store.clone(), &config.audit, &metrics).map_err(anyhow::Error::msg)?;
        let mut core = Core::with_audit(store.clone(), Arc::new(keys), clock, config.policy(), sink);
        if let Some(path) = &config.access.geoip_db {
            core = core.with_geoip(Arc::new(crate::geoip::MaxMind::open(path)?));
        }
        let core = Arc::new(core);
        let admin_networks = Arc::new(config.admin.allow_list().map_err(anyhow::Error::msg)?);
        let limits = Arc::new(config.limits.clone());
        let proxies = Arc::new(config.http.proxies().map_err(anyhow::Error::msg)?);
        let caps = ConnectionCaps::new(
            config.http.max_connections,
            config.http.max_connections_per_ip,
            proxies.clone(),
            metrics.clone(),
        );
        let request_timeout = Duration::from_secs(config.http.request_timeout_secs);
        let state = AppState {
            core,
            base_url: base_url.into(),
            store,
            metrics,
            admin_networks,
            limits,
            request_timeout,
        };
        let router = crate::middleware::apply(
            routes::router(state.clone()),
            &state.metrics,
            config.http.max_body_bytes,
            request_timeout,
            proxies,
        );
        Ok(Application {
            listener,
            router,
            state,
            sweep_every: Duration::from_secs(config.sweeper.interval_secs),
            sweep_batch: config.sweeper.batch,
            audit_retention: config.audit.retention_days.saturating_mul(86_400),
            header_timeout: Duration::from_secs(config.http.header_timeout_secs),
            caps,
            appender,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then finishes the requests in flight.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let sweeper =
            tokio::spawn(sweep(self.state.clone(), self.sweep_every, self.sweep_batch, self.audit_retention));
        let metrics_upkeep = tokio::spawn(self.state.metrics.clone().upkeep());
        tracing::info!(addr = %self.local_addr(), "listening");
        let result = serve(self.listener, self.router, self.header_timeout, self.caps, signal).await;
        sweeper.abort();
        metrics_upkeep.abort();
        // Every event of the requests served goes into the trail before the process ends.
        self.appender.drain(Duration::from_secs(10)).await;
        tracing::info!("stopped");
        result
    }
}

/// Refuses a store whose records are sealed under keys this instance lacks (another instance's
/// key ring, a lost key ring): serving it would consume secrets this instance cannot open. Checks
/// before recording this instance's sealing key, so a misconfigured instance leaves no trace.
async fn check_key_registry(store: &dyn Store, keys: &KeyRing) -> anyhow::Result<()> {
    let recorded = store.register_keys(&[]).await.context("cannot read the store's master-key registry")?;
    keys.check_registry(&recorded)?;
    if let Some(mine) = keys.sealing_fingerprint() {
        // Checked again: another instance may have recorded its key in between.
        let recorded =
            store.register_keys(&[mine]).await.context("cannot record the master key in the store")?;
        keys.check_registry(&recorded)?;
    }
    Ok(())
}

/// Creates the data dir (owner-only on Unix) if it does not exist yet; an existing one is left as
/// the operator set it up.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("cannot create data directory {}", dir.display()))
}

/// Whether the current subscriber counts audit events ([`AuditMetricsLayer`], which
/// [`crate::telemetry::init`] installs). An embedder with a subscriber of its own is warned.
fn audit_counting_installed() -> bool {
    tracing::dispatcher::get_default(|d| d.downcast_ref::<AuditMetricsLayer>().is_some())
}

/// The store URL without credentials, for the log.
fn redact_store_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://[redacted]@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

async fn sweep(state: AppState, every: Duration, batch: u32, audit_retention: i64) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.core.secrets.purge_expired(batch).await {
            Ok(0) => {}
            Ok(n) => {
                state.metrics.expired_purged(n);
                tracing::info!(rows = n, "purged expired secrets and receipts");
            }
            Err(e) => {
                state.metrics.sweep_failed();
                tracing::warn!(error = %e, "expiry sweep failed; will retry");
            }
        }
        match state.core.accounts.purge_sessions(batch).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "purged ended sessions"),
            Err(e) => {
                state.metrics.sweep_failed();
                tracing::warn!(error = %e, "session sweep failed; will retry");
            }
        }
        let before = SystemClock.now().saturating_sub(audit_retention);
        match state.store.prune_audit(before, batch).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned audit records past their retention"),
            Err(e) => {
                state.metrics.sweep_failed();
                tracing::warn!(error = %e, "audit pruning failed; will retry");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Serves HTTP/1.1 on `listener` until `signal`, then lets the requests in flight finish.
///
/// Like `axum::serve`, plus what it lacks: a connection that does not send a complete request
/// head within `header_timeout` (a slowloris client, or an idle keep-alive connection) is closed,
/// and one past the connection caps is answered 503 and closed at once (`crate::connections`).
/// Each request carries its peer's address (`ConnectInfo`), which the client-address logic reads.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    header_timeout: Duration,
    caps: ConnectionCaps,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut refusals = tokio::task::JoinSet::new();
    let mut refusal_log = RefusalLog::default();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // Answers are small and whole: send them at once rather than wait to fill a packet.
        let _ = stream.set_nodelay(true);
        // Reap finished connection tasks now and then, so the sets do not grow.
        while connections.try_join_next().is_some() {}
        while refusals.try_join_next().is_some() {}
        // Held by the connection's task: dropped when it ends, however it ends.
        let admitted = match caps.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                refusal_log.note(&refusal);
                caps.refuse(stream, &mut refusals);
                continue;
            }
        };
        let router = router.clone();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _admitted = admitted;
            let service =
                hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    router.clone().oneshot(req.map(axum::body::Body::new))
                });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            let stopped = async move {
                loop {
                    // Copied out, so the watch's guard is gone before any await.
                    let stopping = *stop.borrow_and_update();
                    if stopping || stop.changed().await.is_err() {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopped => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_url_credentials_are_redacted() {
        assert_eq!(super::redact_store_url("redis://u:p@host:6379/0"), "redis://[redacted]@host:6379/0");
        assert_eq!(super::redact_store_url("sqlite://./x.db"), "sqlite://./x.db");
    }

    #[test]
    fn the_audit_counting_layer_is_found_behind_its_filter() {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;

        let filtered = tracing_subscriber::filter::Targets::new()
            .with_target(crate::metrics::AUDIT_TARGET, tracing::Level::INFO);
        let with_layer =
            tracing_subscriber::registry().with(crate::metrics::AuditMetricsLayer.with_filter(filtered));
        assert!(tracing::subscriber::with_default(with_layer, super::audit_counting_installed));
        let without = tracing_subscriber::registry();
        assert!(!tracing::subscriber::with_default(without, super::audit_counting_installed));
    }
}
