//! The scenarios: workers that each own one keep-alive connection and send requests back to back.
//! With several instances, connection `i` goes to instance `i % N`, and the secrets they create
//! go into one pool, so that most reveals go through another instance than the create did.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hyper::{Method, StatusCode};
use serde_json::Value;

use crate::args::Scenario;
use crate::client::{self, Conn, Endpoint, Response};
use crate::procfs;
use crate::stats::Latencies;

/// The passphrase of the `passphrase` scenario.
const PASSPHRASE: &str = "correct horse battery staple";

/// Connections used to pre-create secrets (not measured).
const PREFILL_CONNECTIONS: usize = 32;

/// A created, not yet revealed secret.
struct Pooled {
    secret_key: String,
    /// The id its value was made from. Only the id is kept so that big values don't pile up in
    /// memory; the value is made again to check it.
    id: u64,
    /// The instance it was created through.
    instance: usize,
}

/// Everything the workers of one scenario × size share.
pub struct Ctx {
    /// The instances; never empty.
    endpoints: Vec<Arc<Endpoint>>,
    ttl: u64,
    size: usize,
    timeout: Duration,
    passphrase: Option<&'static str>,
    next_id: AtomicU64,
    /// Created, not yet revealed secrets, oldest first.
    pool: Mutex<VecDeque<Pooled>>,
    /// The first failure seen in the current run, to show the user what went wrong.
    first_error: Mutex<Option<String>>,
}

impl Ctx {
    /// `endpoints` must not be empty.
    pub fn new(
        endpoints: Vec<Arc<Endpoint>>,
        ttl: u64,
        size: usize,
        timeout: Duration,
        scenario: Scenario,
    ) -> anyhow::Result<Self> {
        if endpoints.is_empty() {
            anyhow::bail!("no server to send requests to");
        }
        Ok(Ctx {
            endpoints,
            ttl,
            size,
            timeout,
            passphrase: (scenario == Scenario::Passphrase).then_some(PASSPHRASE),
            // Different values in every run, so that nothing can be served from an earlier one.
            next_id: AtomicU64::new(crate::target::random_u64() >> 1),
            pool: Mutex::new(VecDeque::new()),
            first_error: Mutex::new(None),
        })
    }

    /// The instance that connection `index` talks to: round robin.
    fn instance(&self, index: usize) -> usize {
        index % self.endpoints.len()
    }

    fn endpoint(&self, instance: usize) -> &Endpoint {
        &self.endpoints[instance % self.endpoints.len()]
    }

    fn pool(&self) -> MutexGuard<'_, VecDeque<Pooled>> {
        // A poisoned lock means a worker panicked mid-push/pop; the queue itself is still valid.
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn pool_len(&self) -> usize {
        self.pool().len()
    }

    fn note_error(&self, what: &str) {
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(what.to_owned());
        }
    }

    fn take_first_error(&self) -> Option<String> {
        self.first_error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The secret made from `id`: `size` URL-safe bytes, starting with the id in hex so that
/// values are distinct, then filler that depends on the id.
pub fn secret_value(id: u64, size: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let hex = format!("{id:016x}");
    let mut v = String::with_capacity(size);
    v.push_str(&hex[16usize.saturating_sub(size)..]);
    let mut x = id ^ 0x9E37_79B9_7F4A_7C15;
    while v.len() < size {
        // xorshift64: cheap, and never stuck at 0 because x starts non-zero for every id but one
        // (and that one just gives a run of 'A's).
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(char::from(ALPHABET[(x % 62) as usize]));
    }
    v
}

/// What one request came to. Transport failures are the `Err` of the functions below.
enum Outcome {
    Ok,
    /// A reveal that got the right value; `elsewhere` if the secret was created through
    /// another instance.
    Revealed {
        elsewhere: bool,
    },
    /// A non-2xx answer: its status, a line for the user, and its `Retry-After`.
    Status(StatusCode, String, Option<Duration>),
    /// A 2xx answer that is wrong: unparsable, missing a field, or the wrong secret.
    Invalid(String),
    /// `reveal` found nothing left to reveal.
    Dry,
}

fn status_error(r: &Response) -> Outcome {
    let body = String::from_utf8_lossy(&r.body[..r.body.len().min(200)]).into_owned();
    Outcome::Status(r.status, format!("HTTP {}: {}", r.status, body.trim()), r.retry_after)
}

async fn health(conn: &mut Conn, ctx: &Ctx, instance: usize) -> anyhow::Result<Outcome> {
    let r = client::request(conn, ctx.endpoint(instance), Method::GET, "/healthz", None).await?;
    Ok(if r.status.is_success() { Outcome::Ok } else { status_error(&r) })
}

/// Creates one secret through `instance`; on success, puts it in the pool if `keep`.
async fn create(conn: &mut Conn, ctx: &Ctx, instance: usize, keep: bool) -> anyhow::Result<Outcome> {
    let id = ctx.next_id.fetch_add(1, Ordering::Relaxed);
    let mut form = format!("secret={}&ttl={}", client::form_encode(&secret_value(id, ctx.size)), ctx.ttl);
    if let Some(p) = ctx.passphrase {
        form.push_str("&passphrase=");
        form.push_str(&client::form_encode(p));
    }
    let r = client::request(conn, ctx.endpoint(instance), Method::POST, "/api/v1/share", Some(form)).await?;
    if !r.status.is_success() {
        return Ok(status_error(&r));
    }
    let json: Value = match serde_json::from_slice(&r.body) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::Invalid(format!("share answered {} with bad JSON: {e}", r.status))),
    };
    let (Some(key), Some(_)) = (json["secret_key"].as_str(), json["metadata_key"].as_str()) else {
        return Ok(Outcome::Invalid("share answer has no secret_key or metadata_key".into()));
    };
    if keep {
        ctx.pool().push_back(Pooled { secret_key: key.to_owned(), id, instance });
    }
    Ok(Outcome::Ok)
}

/// Reveals one pooled secret through `instance` (each key is popped, so it is never asked for
/// twice, whatever instance it goes to) and checks its value. With an empty pool: `Dry`, or a
/// create instead if `or_create`.
async fn reveal(conn: &mut Conn, ctx: &Ctx, instance: usize, or_create: bool) -> anyhow::Result<Outcome> {
    let next = ctx.pool().pop_front();
    let Some(Pooled { secret_key: key, id, instance: created_through }) = next else {
        return if or_create { create(conn, ctx, instance, true).await } else { Ok(Outcome::Dry) };
    };
    let form = ctx.passphrase.map(|p| format!("passphrase={}", client::form_encode(p))).unwrap_or_default();
    let path = format!("/api/v1/secret/{key}");
    let r = client::request(conn, ctx.endpoint(instance), Method::POST, &path, Some(form)).await?;
    if !r.status.is_success() {
        return Ok(status_error(&r));
    }
    let json: Value = match serde_json::from_slice(&r.body) {
        Ok(v) => v,
        Err(e) => return Ok(Outcome::Invalid(format!("reveal answered {} with bad JSON: {e}", r.status))),
    };
    Ok(match json["value"].as_str() {
        Some(v) if v == secret_value(id, ctx.size) => {
            Outcome::Revealed { elsewhere: created_through != instance }
        }
        Some(_) => Outcome::Invalid(format!("secret {key} revealed a different value")),
        None => Outcome::Invalid(format!("reveal of {key} has no value")),
    })
}

/// The `n`th request of a worker in `scenario`, through `instance`.
async fn step(
    conn: &mut Conn,
    ctx: &Ctx,
    instance: usize,
    scenario: Scenario,
    n: u64,
) -> anyhow::Result<Outcome> {
    match scenario {
        Scenario::Health => health(conn, ctx, instance).await,
        Scenario::Create => create(conn, ctx, instance, false).await,
        Scenario::Reveal => reveal(conn, ctx, instance, false).await,
        // `isolation`'s measured half is `mixed`.
        Scenario::Mixed | Scenario::Passphrase | Scenario::Isolation if n.is_multiple_of(2) => {
            create(conn, ctx, instance, true).await
        }
        Scenario::Mixed | Scenario::Passphrase | Scenario::Isolation => {
            reveal(conn, ctx, instance, true).await
        }
        // One round trip, run by `file_round_trip`, never as a load run (`Scenario::is_load`).
        Scenario::File => Err(anyhow!("the file scenario is not a load run")),
    }
}

/// Counts of one run (or one worker's share of it).
#[derive(Default)]
pub struct Measured {
    /// Latencies of requests that got an HTTP answer (any status).
    pub lat: Latencies,
    /// Successful (and verified) requests.
    pub ok: u64,
    pub non_2xx: u64,
    /// `503` answers (part of `non_2xx`): a full Argon2id queue answers so, with `Retry-After: 1`.
    pub unavailable: u64,
    /// Connect, I/O and protocol errors, and timeouts.
    pub transport: u64,
    /// 2xx answers that were wrong (bad JSON, wrong secret value).
    pub invalid: u64,
    /// Verified reveals (part of `ok`).
    pub revealed: u64,
    /// Verified reveals of secrets created through another instance (part of `revealed`).
    pub revealed_elsewhere: u64,
    /// `reveal` ran out of secrets before the end.
    pub dry: bool,
    /// When the last measured request finished.
    last_end: Option<Instant>,
}

impl Measured {
    fn merge(&mut self, o: Measured) {
        self.lat.merge(o.lat);
        self.ok += o.ok;
        self.non_2xx += o.non_2xx;
        self.unavailable += o.unavailable;
        self.transport += o.transport;
        self.invalid += o.invalid;
        self.revealed += o.revealed;
        self.revealed_elsewhere += o.revealed_elsewhere;
        self.dry |= o.dry;
        self.last_end = self.last_end.max(o.last_end);
    }
}

async fn worker(
    ctx: Arc<Ctx>,
    scenario: Scenario,
    index: usize,
    measure_from: Instant,
    deadline: Instant,
) -> Measured {
    let mut m = Measured::default();
    let instance = ctx.instance(index);
    let ep = ctx.endpoint(instance);
    let mut conn: Option<Conn> = None;
    // Workers start on alternating halves of mixed scenarios, so creates and reveals interleave.
    let mut n = index as u64;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let measured = now >= measure_from;
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            conn = match tokio::time::timeout(ctx.timeout, client::connect(ep)).await {
                Ok(Ok(c)) => Some(c),
                failed => {
                    let e = match failed {
                        Ok(Err(e)) => format!("connect: {e:#}"),
                        _ => "connect: timed out".into(),
                    };
                    ctx.note_error(&e);
                    if measured {
                        m.transport += 1;
                    }
                    // Don't spin on a refusing server.
                    tokio::time::sleep(Duration::from_millis(20).min(deadline - now)).await;
                    continue;
                }
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        let t0 = Instant::now();
        let result = tokio::time::timeout(ctx.timeout, step(c, &ctx, instance, scenario, n)).await;
        let t1 = Instant::now();
        n += 1;
        let outcome = match result {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(_) => Err(format!("request timed out after {:?}", ctx.timeout)),
        };
        if let Ok(Outcome::Dry) = outcome {
            m.dry = true;
            break;
        }
        match &outcome {
            Ok(Outcome::Ok | Outcome::Revealed { .. } | Outcome::Dry) => {}
            Ok(Outcome::Status(_, e, _) | Outcome::Invalid(e)) => ctx.note_error(e),
            Err(e) => {
                ctx.note_error(e);
                conn = None;
            }
        }
        // As a well-behaved client does (`503` from a full Argon2id queue says 1 s): without
        // this, a refused connection asks again at once and its refusals become load of their own.
        if let Ok(Outcome::Status(_, _, Some(wait))) = &outcome {
            tokio::time::sleep((*wait).min(deadline.saturating_duration_since(Instant::now()))).await;
        }
        if t0 < measure_from {
            continue;
        }
        m.last_end = Some(t1);
        match outcome {
            Ok(o) => {
                m.lat.record(t1 - t0);
                match o {
                    Outcome::Ok | Outcome::Dry => m.ok += 1,
                    Outcome::Revealed { elsewhere } => {
                        m.ok += 1;
                        m.revealed += 1;
                        m.revealed_elsewhere += u64::from(elsewhere);
                    }
                    Outcome::Status(status, _, _) => {
                        m.non_2xx += 1;
                        m.unavailable += u64::from(status == StatusCode::SERVICE_UNAVAILABLE);
                    }
                    Outcome::Invalid(_) => m.invalid += 1,
                }
            }
            Err(_) => m.transport += 1,
        }
    }
    m
}

/// The result of one run.
pub struct RunStats {
    pub m: Measured,
    /// Seconds the counts cover.
    pub elapsed: f64,
    /// CPU seconds of all instances together over the measured part.
    pub server_cpu_s: Option<f64>,
    /// The same per wall second, 100 = one core.
    pub server_cpu_pct: Option<f64>,
    /// RSS of all instances together at the end.
    pub server_rss_mib: Option<f64>,
    /// RSS of each instance at the end, in instance order (empty when the pids are unknown).
    pub server_rss_mib_per_instance: Vec<Option<f64>>,
    pub first_error: Option<String>,
}

impl RunStats {
    pub fn rps(&self) -> f64 {
        if self.elapsed > 0.0 { self.m.ok as f64 / self.elapsed } else { 0.0 }
    }
}

/// The sum of `f` over all `pids`; `None` if there are none or one can't be read (a server
/// that died makes the sum meaningless).
pub fn sum_over(pids: &[u32], f: fn(u32) -> Option<f64>) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| f(p)).sum()
}

/// Runs `conc` workers for `warmup` (not counted) then `duration` (counted). Requests started
/// in the measured window are counted even if they finish after it, and the time they cover
/// is then the window plus that tail. Server CPU and RSS are summed over `pids`.
pub async fn drive(
    ctx: &Arc<Ctx>,
    scenario: Scenario,
    conc: usize,
    warmup: Duration,
    duration: Duration,
    pids: &[u32],
) -> anyhow::Result<RunStats> {
    ctx.take_first_error();
    let measure_from = Instant::now() + warmup;
    let deadline = measure_from + duration;
    let workers: Vec<_> =
        (0..conc).map(|i| tokio::spawn(worker(ctx.clone(), scenario, i, measure_from, deadline))).collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_start = (Instant::now(), sum_over(pids, procfs::cpu_seconds));
    let mut m = Measured::default();
    for w in workers {
        m.merge(w.await.context("a load worker panicked")?);
    }
    let cpu_end = sum_over(pids, procfs::cpu_seconds);
    let cpu_wall = cpu_start.0.elapsed().as_secs_f64();
    m.lat.finish();
    let window = m.last_end.map_or(0.0, |end| end.saturating_duration_since(measure_from).as_secs_f64());
    let elapsed = if m.dry { window } else { window.max(duration.as_secs_f64()) };
    let server_cpu_s = match (cpu_start.1, cpu_end) {
        (Some(a), Some(b)) => Some((b - a).max(0.0)),
        _ => None,
    };
    Ok(RunStats {
        elapsed,
        server_cpu_pct: server_cpu_s.filter(|_| cpu_wall > 0.0).map(|s| 100.0 * s / cpu_wall),
        server_cpu_s,
        server_rss_mib: sum_over(pids, procfs::rss_mib),
        server_rss_mib_per_instance: pids.iter().map(|&p| procfs::rss_mib(p)).collect(),
        first_error: ctx.take_first_error(),
        m,
    })
}

/// Creates `n` secrets into the pool as fast as possible (not measured). Fails on the first
/// refusal, since every later measurement would be meaningless.
pub async fn prefill(ctx: &Arc<Ctx>, n: usize) -> anyhow::Result<()> {
    create_many(ctx, n, true).await
}

/// Creates `n` secrets that stay in the store (not pooled: nobody reveals them), as fast as
/// possible, with a progress line on stderr every second; returns the creates per second.
pub async fn fill_store(ctx: &Arc<Ctx>, n: usize, what: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let created = ctx.next_id.load(Ordering::Relaxed);
    let progress = async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let done = ctx.next_id.load(Ordering::Relaxed).wrapping_sub(created).min(n as u64);
            eprintln!(
                "  {what}: {done} of {n} created ({:.0}/s)",
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    };
    tokio::select! {
        r = create_many(ctx, n, false) => r?,
        () = progress => {}
    }
    Ok(n as f64 / started.elapsed().as_secs_f64().max(1e-3))
}

async fn create_many(ctx: &Arc<Ctx>, n: usize, keep: bool) -> anyhow::Result<()> {
    if n == 0 {
        return Ok(());
    }
    let remaining = Arc::new(AtomicUsize::new(n));
    let tasks: Vec<_> = (0..PREFILL_CONNECTIONS.min(n))
        .map(|index| {
            let (ctx, remaining) = (ctx.clone(), remaining.clone());
            let instance = ctx.instance(index);
            tokio::spawn(async move {
                let ep = ctx.endpoint(instance);
                let mut conn: Option<Conn> = None;
                let mut failures = 0;
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1))
                    .is_ok()
                {
                    let result = tokio::time::timeout(ctx.timeout, async {
                        let c = match &mut conn {
                            Some(c) if !c.is_closed() => c,
                            slot => slot.insert(client::connect(ep).await?),
                        };
                        create(c, &ctx, instance, keep).await
                    })
                    .await
                    .unwrap_or_else(|_| Err(anyhow!("timed out after {:?}", ctx.timeout)));
                    match result {
                        Ok(Outcome::Ok | Outcome::Revealed { .. }) => failures = 0,
                        Ok(Outcome::Status(_, e, _) | Outcome::Invalid(e)) => {
                            anyhow::bail!("creating a secret failed: {e}")
                        }
                        Ok(Outcome::Dry) => {}
                        Err(e) => {
                            conn = None;
                            failures += 1;
                            if failures >= 5 {
                                anyhow::bail!("creating secrets failed 5 times in a row: {e:#}");
                            }
                            // Put the request back; it didn't happen.
                            remaining.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await.context("a prefill task panicked")??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_the_size_and_are_distinct() {
        for size in [1, 15, 16, 17, 64, 8192] {
            let a = secret_value(1, size);
            let b = secret_value(2, size);
            assert_eq!(a.len(), size);
            assert_eq!(a, secret_value(1, size), "deterministic");
            assert_ne!(a, b);
            assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(client::form_encode(&a), a, "needs no encoding");
        }
        assert!(secret_value(0xabc, 64).starts_with("0000000000000abc"));
        assert_eq!(secret_value(0xabc, 3), "abc");
    }
}
