//! `once-bench`: drives Once's API v1 over keep-alive HTTP/1.1 and prints throughput, latency,
//! errors and the server's RSS and CPU, one row per scenario × secret size × concurrency. It
//! measures the box's own HTTP ceiling (`GET /healthz`) in the same run, so that the other rows
//! can be read as a fraction of it. It can drive several instances of one deployment at once
//! (`--instances` or a list of `--url`s), spreading the connections over them. The `file`
//! scenario is one streamed round trip of a big file secret instead, with the server's memory
//! sampled throughout (`file_round_trip`). It also times a spawned server's start, compares
//! plain traffic's p99 beside Argon2id load with its p99 alone (`isolation`), reruns the load on
//! a store pre-filled with `--prefill` live secrets, and measures the expiry sweeper (`sweep`).

mod args;
mod bench;
mod client;
mod file_round_trip;
mod procfs;
mod report;
mod stats;
mod sweep;
mod target;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser};

use crate::args::{Args, Scenario};
use crate::bench::Ctx;
use crate::file_round_trip::FileTrip;
use crate::report::Row;
use crate::target::Target;

/// How long the reveal probe runs to estimate how many secrets a measured run needs.
const REVEAL_PROBE: Duration = Duration::from_millis(1500);
/// Head room on that estimate: the probe starts cold (new connections, right after a burst of
/// writes), and measured rates were seen to be up to twice the probe's.
const REVEAL_MARGIN: f64 = 2.5;

fn main() -> ExitCode {
    let args = Args::parse()
        .validate()
        .unwrap_or_else(|e| Args::command().error(clap::error::ErrorKind::ValueValidation, e).exit());
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
        .and_then(|rt| rt.block_on(async_main(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line with the causes; no backtrace even if RUST_BACKTRACE is set.
            eprintln!("once-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn async_main(args: Args) -> anyhow::Result<()> {
    // Ctrl-C while servers start still stops them and removes what they wrote (dropping the
    // half-built target does that).
    let target = tokio::select! {
        t = target::open(&args) => t?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    };
    let runs = if args.scenarios.iter().any(|s| s.is_load()) {
        format!(
            "{} s warm-up + {} s measured per run",
            args.warmup.as_secs_f64(),
            args.duration.as_secs_f64()
        )
    } else {
        format!("one round trip of a {}-byte file", args.file_size)
    };
    eprintln!(
        "once-bench: {}; store: {}; {runs}, {} generator thread(s)",
        describe_instances(&target, args.spawn.is_some()),
        target.store,
        args.threads,
    );
    let rss: Vec<Option<f64>> = target.pids.iter().map(|&p| procfs::rss_mib(p)).collect();
    if let [Some(one)] = rss[..] {
        eprintln!("server RSS before the first run: {one:.1} MiB");
    } else if !rss.is_empty() && rss.iter().all(Option::is_some) {
        let each: Vec<String> = rss.iter().flatten().map(|r| format!("{r:.1}")).collect();
        let sum: f64 = rss.iter().flatten().sum();
        eprintln!("server RSS before the first run: {sum:.1} MiB ({} MiB)", each.join(" + "));
    }

    let mut rows = Vec::new();
    let mut files = Vec::new();
    let mut sweeps = Vec::new();
    let outcome = tokio::select! {
        r = run_all(&args, &target, &mut rows, &mut files, &mut sweeps) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let server = server_summary(&target);
    if let Some(line) = server.as_ref().map(|(line, _)| line) {
        println!("{line}");
    }
    // Whatever was measured is written, even after a failure or Ctrl-C.
    if let Some(path) = &args.json {
        let json: Vec<_> = rows
            .iter()
            .map(Row::to_json)
            .chain(files.iter().map(FileTrip::to_json))
            .chain(sweeps.iter().map(sweep::Sweep::to_json))
            .chain(server.map(|(_, json)| json))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {} result(s) to {}", json.len(), path.display());
    }
    // Stops spawned servers, removes their data dirs and their Redis keys.
    drop(target);
    outcome
}

/// For spawned servers: each one's start time (spawn to first `200` from `/healthz`), its RSS
/// right then, and its peak RSS so far (`VmHWM`: over everything this invocation ran); a line
/// for stdout and a JSON object.
fn server_summary(target: &Target) -> Option<(String, serde_json::Value)> {
    if target.started.is_empty() {
        return None;
    }
    let peak: Vec<Option<f64>> =
        target.pids.iter().map(|&p| procfs::memory(p).map(|m| m.hwm_kib / 1024.0)).collect();
    let mib = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.1}"));
    let each: Vec<String> = target
        .started
        .iter()
        .zip(&peak)
        .map(|(&(ms, idle), &peak)| {
            format!("started in {ms:.1} ms, RSS {} MiB idle then, peak {} MiB (VmHWM)", mib(idle), mib(peak))
        })
        .collect();
    let json = serde_json::json!({
        "scenario": "server",
        "start_ms": target.started.iter().map(|s| s.0).collect::<Vec<_>>(),
        "idle_rss_mib": target.started.iter().map(|s| s.1).collect::<Vec<_>>(),
        "peak_rss_mib": peak,
    });
    Some((format!("server: {}", each.join("; ")), json))
}

/// `URL (server pid P, spawned)` for one instance; `N instances: URL (pid P), …` for several.
fn describe_instances(target: &Target, spawned: bool) -> String {
    let pid = |i: usize| target.pids.get(i).map(u32::to_string);
    match &target.endpoints[..] {
        [one] => format!(
            "{} (server pid {}{})",
            one.url(),
            pid(0).unwrap_or_else(|| "unknown: no RSS/CPU".into()),
            if spawned { ", spawned" } else { "" }
        ),
        all => {
            let list: Vec<String> = all
                .iter()
                .enumerate()
                .map(|(i, ep)| match pid(i) {
                    Some(p) => format!("{} (pid {p})", ep.url()),
                    None => ep.url(),
                })
                .collect();
            format!(
                "{} instances{}, connections round-robin: {}{}",
                all.len(),
                if spawned { " spawned" } else { "" },
                list.join(", "),
                if target.pids.is_empty() { " (pids unknown: no RSS/CPU)" } else { " (RSS/CPU summed)" }
            )
        }
    }
}

async fn run_all(
    args: &Args,
    target: &Target,
    rows: &mut Vec<Row>,
    files: &mut Vec<FileTrip>,
    sweeps: &mut Vec<sweep::Sweep>,
) -> anyhow::Result<()> {
    let summed = target.endpoints.len() > 1;
    if args.scenarios.iter().any(|s| s.is_load()) {
        println!("{}", report::header(summed));
    }
    for &scenario in &args.scenarios {
        if !scenario.is_load() {
            eprintln!(
                "file: uploading and revealing one {}-byte file, RSS sampled every {} ms…",
                args.file_size,
                file_round_trip::SAMPLE_EVERY.as_millis()
            );
            let trip = file_round_trip::run(&target.endpoints, &target.pids, args.file_size as u64, args.ttl)
                .await?;
            println!("{}", trip.report());
            let _ = std::io::stdout().flush();
            files.push(trip);
            continue;
        }
        run_scenario(args, target, rows, scenario, 0).await?;
    }
    // `--prefill`: the same load runs again on a store holding N more live secrets.
    let again: Vec<Scenario> =
        args.scenarios.iter().copied().filter(|s| s.is_load() && *s != Scenario::Health).collect();
    if let Some(n) = args.prefill
        && !again.is_empty()
    {
        let ctx = Arc::new(Ctx::new(
            target.endpoints.clone(),
            args.ttl,
            args.size[0],
            args.timeout,
            Scenario::Create,
        )?);
        eprintln!("prefill: creating {n} live secrets of {} B (TTL {} s)…", args.size[0], args.ttl);
        let rate = bench::fill_store(&ctx, n, "prefill").await?;
        println!("— after pre-filling {n} live secrets ({rate:.0} creates/s over 32 connections) —");
        let _ = std::io::stdout().flush();
        for scenario in again {
            run_scenario(args, target, rows, scenario, n).await?;
        }
        for line in prefill_comparison(rows, n) {
            println!("{line}");
        }
    }
    for &n in &args.sweep {
        let s = sweep::run(target, n, args).await?;
        println!("{}", s.report());
        let _ = std::io::stdout().flush();
        sweeps.push(s);
    }
    Ok(())
}

/// One scenario × every size × every concurrency, after `prefilled` secrets were pre-filled.
async fn run_scenario(
    args: &Args,
    target: &Target,
    rows: &mut Vec<Row>,
    scenario: Scenario,
    prefilled: usize,
) -> anyhow::Result<()> {
    let summed = target.endpoints.len() > 1;
    let sizes: Vec<Option<usize>> =
        if scenario.sized() { args.size.iter().copied().map(Some).collect() } else { vec![None] };
    for &size in &sizes {
        for &conc in &args.concurrency {
            let new_ctx = |scenario| {
                Ctx::new(target.endpoints.clone(), args.ttl, size.unwrap_or(0), args.timeout, scenario)
                    .map(Arc::new)
            };
            let ctx = new_ctx(scenario)?;
            eprintln!(
                "{} {}× {conc} connection(s)…",
                scenario.name(),
                size.map_or_else(String::new, |s| format!("{s} B "))
            );
            prepare(&ctx, scenario, conc, args).await?;
            let row = |scenario, stats, isolation| Row {
                scenario,
                size,
                concurrency: conc,
                stats,
                vs_health: None,
                prefilled,
                isolation,
            };
            let (stats, isolation) = if scenario == Scenario::Isolation {
                // The plain traffic alone first (a row of its own), then the same beside the
                // Argon2id load.
                eprintln!("  mixed alone…");
                let alone =
                    bench::drive(&ctx, Scenario::Mixed, conc, args.warmup, args.duration, &target.pids)
                        .await?;
                let alone_p99_ms = alone.m.lat.percentile_ms(99.0);
                emit(rows, row(Scenario::Mixed, alone, None), summed).await;
                eprintln!("  mixed beside {} passphrase connection(s)…", args.kdf_connections);
                let kdf_ctx = new_ctx(Scenario::Passphrase)?;
                bench::prefill(&kdf_ctx, args.kdf_connections).await?;
                let (loaded, kdf) = tokio::join!(
                    bench::drive(&ctx, Scenario::Isolation, conc, args.warmup, args.duration, &target.pids),
                    bench::drive(
                        &kdf_ctx,
                        Scenario::Passphrase,
                        args.kdf_connections,
                        args.warmup,
                        args.duration,
                        &[]
                    ),
                );
                let isolation =
                    report::Isolation { alone_p99_ms, kdf: kdf?, kdf_connections: args.kdf_connections };
                (loaded?, Some(isolation))
            } else {
                (bench::drive(&ctx, scenario, conc, args.warmup, args.duration, &target.pids).await?, None)
            };
            let vs_health = rows
                .iter()
                .find(|h| h.scenario == Scenario::Health && h.concurrency == conc)
                .filter(|h| scenario != Scenario::Health && h.stats.rps() > 0.0)
                .map(|h| stats.rps() / h.stats.rps());
            emit(rows, Row { vs_health, ..row(scenario, stats, isolation) }, summed).await;
        }
    }
    Ok(())
}

/// Prints a measured row (with its first error and, over several instances, how many reveals
/// crossed instances), keeps it, and lets the closed connections drain before the next run.
async fn emit(rows: &mut Vec<Row>, row: Row, summed: bool) {
    println!("{}", row.table_line(summed));
    // Rows show up as they are measured even when stdout is a pipe.
    let _ = std::io::stdout().flush();
    if let Some(e) = &row.stats.first_error {
        eprintln!("  first error: {e}");
    }
    if summed && row.stats.m.revealed > 0 {
        eprintln!(
            "  {} of {} verified reveals were of secrets created through another instance",
            row.stats.m.revealed_elsewhere, row.stats.m.revealed
        );
    }
    rows.push(row);
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// `create 64 B × 64: 28000 req/s with 1000000 pre-filled vs 30000 before (93%), p99 …` for
/// every row measured both before and after `--prefill`.
fn prefill_comparison(rows: &[Row], n: usize) -> Vec<String> {
    let after = rows.iter().filter(|r| r.prefilled == n);
    after
        .filter_map(|a| {
            let b = rows.iter().find(|b| {
                b.prefilled == 0 && (b.scenario, b.size, b.concurrency) == (a.scenario, a.size, a.concurrency)
            })?;
            let p99 = |r: &Row| r.stats.m.lat.percentile_ms(99.0);
            Some(format!(
                "prefill: {} {}× {}: {:.0} req/s with {n} pre-filled vs {:.0} before ({:.0}%), p99 {:.2} vs {:.2} ms",
                a.scenario.name(),
                a.size.map_or_else(String::new, |s| format!("{s} B ")),
                a.concurrency,
                a.stats.rps(),
                b.stats.rps(),
                100.0 * a.stats.rps() / b.stats.rps().max(1e-9),
                p99(a),
                p99(b),
            ))
        })
        .collect()
}

/// Creates the secrets a run will reveal, before it starts (not measured).
async fn prepare(ctx: &Arc<Ctx>, scenario: Scenario, conc: usize, args: &Args) -> anyhow::Result<()> {
    match scenario {
        Scenario::Health | Scenario::Create | Scenario::File => Ok(()),
        // Reveals fall back to creates while the pool is empty; this just lets both halves
        // start at once.
        Scenario::Mixed | Scenario::Passphrase | Scenario::Isolation => bench::prefill(ctx, conc).await,
        Scenario::Reveal => {
            if let Some(n) = args.reveal_pool {
                eprintln!("  pre-creating {n} secrets to reveal (--reveal-pool)");
                return bench::prefill(ctx, n).await;
            }
            // Probe: reveal a pool flat out to learn the rate, then create enough for
            // warm-up + duration at that rate, with head room.
            let probe_pool = (conc * 50).clamp(2000, 20_000);
            let t = Instant::now();
            bench::prefill(ctx, probe_pool).await?;
            let create_rate = probe_pool as f64 / t.elapsed().as_secs_f64().max(1e-3);
            let probe = bench::drive(ctx, Scenario::Reveal, conc, Duration::ZERO, REVEAL_PROBE, &[]).await?;
            if probe.m.ok == 0 {
                bail!(
                    "could not reveal any secret: {}",
                    probe.first_error.as_deref().unwrap_or("no successful answer")
                );
            }
            let total = (args.warmup + args.duration).as_secs_f64();
            let need = (probe.rps() * total * REVEAL_MARGIN).ceil() as usize + conc * 4;
            let missing = need.saturating_sub(ctx.pool_len());
            eprintln!(
                "  pre-creating {missing} secrets to reveal (probe: {:.0} reveals/s, {create_rate:.0} creates/s: ~{:.0} s)",
                probe.rps(),
                missing as f64 / create_rate
            );
            bench::prefill(ctx, missing).await
        }
    }
}
