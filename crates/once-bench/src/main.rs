//! `once-bench`: drives Once's API v1 over keep-alive HTTP/1.1 and prints throughput, latency,
//! errors and the server's RSS and CPU, one row per scenario × secret size × concurrency. It
//! measures the box's own HTTP ceiling (`GET /healthz`) in the same run, so that the other rows
//! can be read as a fraction of it. It can drive several instances of one deployment at once
//! (`--instances` or a list of `--url`s), spreading the connections over them. The `file`
//! scenario is one streamed round trip of a big file secret instead, with the server's memory
//! sampled throughout (`file_round_trip`).

mod args;
mod bench;
mod client;
mod file_round_trip;
mod procfs;
mod report;
mod stats;
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
    let outcome = tokio::select! {
        r = run_all(&args, &target, &mut rows, &mut files) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Whatever was measured is written, even after a failure or Ctrl-C.
    if let Some(path) = &args.json {
        let json: Vec<_> = rows.iter().map(Row::to_json).chain(files.iter().map(FileTrip::to_json)).collect();
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {} result(s) to {}", json.len(), path.display());
    }
    // Stops spawned servers, removes their data dirs and their Redis keys.
    drop(target);
    outcome
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
        let sizes: Vec<Option<usize>> =
            if scenario.sized() { args.size.iter().copied().map(Some).collect() } else { vec![None] };
        for &size in &sizes {
            for &conc in &args.concurrency {
                let ctx = Arc::new(Ctx::new(
                    target.endpoints.clone(),
                    args.ttl,
                    size.unwrap_or(0),
                    args.timeout,
                    scenario,
                )?);
                eprintln!(
                    "{} {}× {conc} connection(s)…",
                    scenario.name(),
                    size.map_or_else(String::new, |s| format!("{s} B "))
                );
                prepare(&ctx, scenario, conc, args).await?;
                let stats =
                    bench::drive(&ctx, scenario, conc, args.warmup, args.duration, &target.pids).await?;
                let vs_health = rows
                    .iter()
                    .find(|h| h.scenario == Scenario::Health && h.concurrency == conc)
                    .filter(|h| scenario != Scenario::Health && h.stats.rps() > 0.0)
                    .map(|h| stats.rps() / h.stats.rps());
                let row = Row { scenario, size, concurrency: conc, stats, vs_health };
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
                // Let the closed connections drain before the next run.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}

/// Creates the secrets a run will reveal, before it starts (not measured).
async fn prepare(ctx: &Arc<Ctx>, scenario: Scenario, conc: usize, args: &Args) -> anyhow::Result<()> {
    match scenario {
        Scenario::Health | Scenario::Create | Scenario::File => Ok(()),
        // Reveals fall back to creates while the pool is empty; this just lets both halves
        // start at once.
        Scenario::Mixed | Scenario::Passphrase => bench::prefill(ctx, conc).await,
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
