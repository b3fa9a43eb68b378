//! `--sweep N`: what the server's expiry sweeper costs for N expired secrets. N secrets with a
//! TTL of `--sweep-ttl` are created through the API, and once they have expired the server is
//! watched until its `once_expired_rows_purged_total` (docs/METRICS.md) has grown by 2N: each
//! secret and its receipt, which expires `secrets.receipt_ttl_factor` (2) times later. Reported:
//! how many sweeps purged something, and the server CPU of the polls during which they ran,
//! beyond the idle rate measured while the secrets were waiting to expire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::Method;
use serde_json::{Value, json};

use crate::args::{Args, Scenario};
use crate::bench::{self, Ctx};
use crate::client::{self, Endpoint};
use crate::procfs;
use crate::target::Target;

/// How often the counter and the server's CPU are read (each read is one `GET /metrics`, whose
/// own cost is in the idle rate that is subtracted).
const POLL: Duration = Duration::from_millis(50);
/// Give up waiting for the purge after this long past the receipts' expiry.
const GIVE_UP: Duration = Duration::from_secs(300);
/// A secret's receipt expires this many times its TTL after its creation (the server's
/// `secrets.receipt_ttl_factor`, default).
const RECEIPT_TTL_FACTOR: u32 = 2;
/// The counter, one per instance (their sweepers run side by side).
const PURGED: &str = "once_expired_rows_purged_total";

pub struct Sweep {
    /// Secrets created to expire.
    pub secrets: usize,
    pub create_rps: f64,
    /// Rows the counter grew by after the expiry (a secret and its receipt are two rows, and
    /// expire at different times).
    pub purged: u64,
    /// Rows purged before the expiry (secrets of earlier runs; should be 0).
    pub purged_early: u64,
    /// Counter changes seen: sweeps that purged something (two close together may look as one).
    pub sweeps: usize,
    /// From the first secret's expiry to the last change of the counter.
    pub wall_s: f64,
    /// Time covered by the polls during which the counter changed (and the one before each).
    pub purging_s: f64,
    /// Server CPU over `purging_s`, and the same minus the idle rate over that time.
    pub cpu_s: Option<f64>,
    pub cpu_net_s: Option<f64>,
    /// Idle server CPU, % of a core (the `/metrics` polls included).
    pub idle_pct: Option<f64>,
}

impl Sweep {
    pub fn report(&self) -> String {
        let per_row = |cpu: Option<f64>| {
            cpu.filter(|_| self.purged > 0)
                .map_or_else(|| "-".into(), |c| format!("{:.2}", 1e6 * c / self.purged as f64))
        };
        format!(
            "sweep: {} secrets created ({:.0}/s), {} rows purged in {} sweep(s) over {:.1} s from the \
             secrets' expiry; polls with a purge: {:.2} s, server CPU {} s, {} s above idle ({}%): {} µs per row{}",
            self.secrets,
            self.create_rps,
            self.purged,
            self.sweeps,
            self.wall_s,
            self.purging_s,
            self.cpu_s.map_or_else(|| "-".into(), |c| format!("{c:.2}")),
            self.cpu_net_s.map_or_else(|| "-".into(), |c| format!("{c:.2}")),
            self.idle_pct.map_or_else(|| "-".into(), |c| format!("{c:.1}")),
            per_row(self.cpu_net_s),
            if self.purged_early > 0 {
                format!(" ({} rows purged before the expiry: not counted)", self.purged_early)
            } else {
                String::new()
            },
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "scenario": "sweep",
            "secrets": self.secrets,
            "create_rps": self.create_rps,
            "rows_purged": self.purged,
            "rows_purged_before_expiry": self.purged_early,
            "sweeps": self.sweeps,
            "wall_s": self.wall_s,
            "purging_s": self.purging_s,
            "server_cpu_s": self.cpu_s,
            "server_cpu_above_idle_s": self.cpu_net_s,
            "server_idle_cpu_pct": self.idle_pct,
            "cpu_us_per_row": self.cpu_net_s.filter(|_| self.purged > 0).map(|c| 1e6 * c / self.purged as f64),
        })
    }
}

/// The sum of every instance's purge counter.
async fn purged(endpoints: &[Arc<Endpoint>]) -> anyhow::Result<u64> {
    let mut sum = 0;
    for ep in endpoints {
        let mut conn = client::connect(ep).await?;
        let r = client::request(&mut conn, ep, Method::GET, "/metrics", None).await?;
        if !r.status.is_success() {
            bail!("GET /metrics answered {} (is metrics.enabled off?)", r.status);
        }
        sum += parse_counter(&String::from_utf8_lossy(&r.body), PURGED).unwrap_or(0);
    }
    Ok(sum)
}

/// The value of an unlabelled counter in Prometheus text; `None` if it is not there (yet).
fn parse_counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        // Counters may be printed as floats.
        rest.trim().parse::<f64>().ok().map(|v| v as u64)
    })
}

/// The CPU seconds of all instances together.
fn cpu(pids: &[u32]) -> Option<f64> {
    bench::sum_over(pids, procfs::cpu_seconds)
}

pub async fn run(target: &Target, n: usize, args: &Args) -> anyhow::Result<Sweep> {
    let ttl = Duration::from_secs(args.sweep_ttl);
    let ctx = Arc::new(Ctx::new(
        target.endpoints.clone(),
        args.sweep_ttl,
        args.size[0],
        args.timeout,
        Scenario::Create,
    )?);
    let before = purged(&target.endpoints).await.context("cannot read the purge counter")?;
    eprintln!("sweep: creating {n} secrets with a TTL of {} s…", args.sweep_ttl);
    let start = Instant::now();
    let create_rps = bench::fill_store(&ctx, n, "sweep").await?;
    let filled = Instant::now();
    if filled - start >= ttl {
        bail!(
            "creating {n} secrets took {:.1} s, longer than --sweep-ttl {} s: some expired before the \
             rest existed; give a longer --sweep-ttl",
            (filled - start).as_secs_f64(),
            args.sweep_ttl
        );
    }
    // The server keeps times in whole seconds: a secret created at `start` may expire up to a
    // second before `start + ttl`.
    let expiry = start + ttl - Duration::from_secs(1);
    let receipts_expiry = start + ttl * RECEIPT_TTL_FACTOR;
    let want = 2 * n as u64;
    eprintln!(
        "sweep: waiting {:.0} s for the secrets to expire, {:.0} s for their receipts, and for the purge…",
        (expiry - filled).as_secs_f64(),
        (receipts_expiry - filled).as_secs_f64()
    );
    // The idle rate: from a second after the fill (its writes settle) to the expiry.
    let idle_from = filled + Duration::from_secs(1);
    let mut idle_start: Option<(Instant, Option<f64>)> = None;
    let mut at_expiry: Option<(Instant, Option<f64>, u64)> = None;
    let mut last = before;
    // The last two polls: a sweep that shows at one may have started during the one before.
    let mut polls: [(Instant, Option<f64>); 2] = [(filled, cpu(&target.pids)); 2];
    // Counted so far: up to this poll (so that no interval is counted twice).
    let mut counted_to = filled;
    let (mut purging_s, mut purging_cpu) = (0.0, Some(0.0));
    let mut last_change = None;
    let mut sweeps = 0;
    loop {
        tokio::time::sleep(POLL).await;
        let now = Instant::now();
        let count = purged(&target.endpoints).await?;
        let cpu_now = cpu(&target.pids);
        if idle_start.is_none() && now >= idle_from {
            idle_start = Some((now, cpu_now));
        }
        match at_expiry {
            None if now >= expiry => at_expiry = Some((now, cpu_now, count)),
            None => {}
            Some((_, _, at)) => {
                if count != last {
                    sweeps += 1;
                    last_change = Some(now);
                    // From the older of the last two polls, or where the last count ended.
                    let (from, cpu_from) = if polls[0].0 >= counted_to { polls[0] } else { polls[1] };
                    purging_s += (now - from).as_secs_f64();
                    purging_cpu = purging_cpu.zip(cpu_from.zip(cpu_now)).map(|(sum, (a, b))| sum + b - a);
                    counted_to = now;
                }
                if count - at >= want {
                    last = count;
                    break;
                }
                if now > receipts_expiry + GIVE_UP {
                    bail!(
                        "{} of {want} rows ({n} secrets and their receipts) purged {} s after the receipts \
                         expired; giving up",
                        count - at,
                        GIVE_UP.as_secs()
                    );
                }
            }
        }
        polls = [polls[1], (now, cpu_now)];
        last = count;
    }
    let Some((t_exp, cpu_exp, at)) = at_expiry else { bail!("the expiry was never reached") };
    let idle_rate = idle_start
        .filter(|(t, _)| (t_exp - *t) >= Duration::from_secs(2))
        .and_then(|(t, c)| Some((cpu_exp? - c?) / (t_exp - t).as_secs_f64()));
    let wall_s = last_change.map_or(0.0, |t| (t - t_exp).as_secs_f64());
    Ok(Sweep {
        secrets: n,
        create_rps,
        purged: last.max(at) - at,
        purged_early: at - before,
        sweeps,
        wall_s,
        purging_s,
        cpu_s: purging_cpu,
        cpu_net_s: purging_cpu.zip(idle_rate).map(|(c, r)| (c - r * purging_s).max(0.0)),
        idle_pct: idle_rate.map(|r| 100.0 * r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_counter() {
        let text = "# HELP once_expired_rows_purged_total rows\n# TYPE once_expired_rows_purged_total counter\n\
                    once_expired_rows_purged_total_x 9\nonce_expired_rows_purged_total 1234\n";
        assert_eq!(parse_counter(text, PURGED), Some(1234));
        assert_eq!(parse_counter("once_expired_rows_purged_total 5e3\n", PURGED), Some(5000));
        assert_eq!(parse_counter("other 1\n", PURGED), None);
    }
}
