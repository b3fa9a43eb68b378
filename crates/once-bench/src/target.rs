//! The server under test: one already running (`--url`) or one started here (`--spawn`).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::{Method, StatusCode};

use crate::args::Args;
use crate::client::{self, Endpoint};

/// How long a spawned server may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Target {
    pub endpoint: Arc<Endpoint>,
    pub pid: Option<u32>,
    child: Option<Child>,
    tmp: Option<PathBuf>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_dir_all(tmp);
        }
    }
}

/// A random number, different in every process and every call (std's hash keys are seeded from
/// the OS). Good enough for names and value prefixes; not for anything secret.
pub fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

/// One `GET /healthz`, with a timeout; `Ok` only on 200.
async fn check_health(ep: &Endpoint, timeout: Duration) -> anyhow::Result<()> {
    let res = tokio::time::timeout(timeout, async {
        let mut conn = client::connect(ep).await?;
        client::request(&mut conn, ep, Method::GET, "/healthz", None).await
    })
    .await
    .context("no answer")??;
    if res.status != StatusCode::OK {
        bail!("GET /healthz answered {}", res.status);
    }
    Ok(())
}

pub async fn open(args: &Args) -> anyhow::Result<Target> {
    let Some(bin) = &args.spawn else {
        let endpoint = Arc::new(Endpoint::from_url(&args.url, args.auth.as_deref())?);
        check_health(&endpoint, Duration::from_secs(5)).await.with_context(|| {
            format!("cannot reach a Once server at {} (start one, or use --spawn PATH_TO_ONCE)", args.url)
        })?;
        if let Some(pid) = args.pid
            && crate::procfs::cpu_seconds(pid).is_none()
        {
            bail!("--pid {pid}: no such process readable in /proc");
        }
        return Ok(Target { endpoint, pid: args.pid, child: None, tmp: None });
    };

    // A free port: bind to 0, note the port, let it go. Another process could grab it in
    // between; the server would then fail to start and that is reported below.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("cannot find a free local port")?
        .port();
    let tmp = std::env::temp_dir().join(format!("once-bench-{}-{:016x}", std::process::id(), random_u64()));
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut target = Target {
        endpoint: Arc::new(Endpoint::from_url(&format!("http://127.0.0.1:{port}"), args.auth.as_deref())?),
        pid: None,
        child: None,
        tmp: Some(tmp.clone()),
    };
    let data_dir = tmp.join("data");
    let log_path = tmp.join("server.log");
    let log = std::fs::File::create(&log_path).context("cannot create the server log")?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("cannot share the server log")?)
        .stderr(log);
    if let Some(store) = &args.store {
        cmd.arg("--store").arg(store);
    }
    let child = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
    target.pid = Some(child.id());
    target.child = Some(child);

    let started = Instant::now();
    loop {
        if let Some(child) = target.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("{} serve exited ({status}) before answering:\n{}", bin.display(), log_tail(&log_path));
        }
        match check_health(&target.endpoint, Duration::from_secs(1)).await {
            Ok(()) => break,
            Err(e) if started.elapsed() > START_TIMEOUT => bail!(
                "{} serve did not answer GET /healthz within {} s ({e:#}):\n{}",
                bin.display(),
                START_TIMEOUT.as_secs(),
                log_tail(&log_path)
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Ok(target)
}

/// The end of the spawned server's output, for error messages.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() { "(no output)".into() } else { tail }
}
