//! `once audit verify|export`: the audit trail from the command line.

use std::io::Write;

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use once_server::Config;
use once_store::audit::verify_chain;
use once_store::{AuditRecord, Store};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and name the first record that breaks it (exit status 1).
    Verify,
    /// Write the records to standard output, oldest first.
    Export {
        /// Only records at or after this time: Unix seconds, a date (2026-11-01) or an RFC 3339
        /// time (2026-11-01T09:00:00+09:00).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object per line (for a SIEM).
    Jsonl,
}

/// Records read per store call.
const PAGE: u32 = 1000;

pub async fn run(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let store_url = config.store_url();
    if store_url.starts_with("memory:") {
        bail!("the audit trail of a memory:// store lives only inside its server process");
    }
    let store = once_server::open_store(&store_url, &config.redis).await?;
    match command {
        AuditCommand::Verify => verify(store.as_ref()).await,
        AuditCommand::Export { since, format: Format::Jsonl } => {
            let since = since.as_deref().map(parse_time).transpose()?.unwrap_or(i64::MIN);
            export(store.as_ref(), since).await
        }
    }
}

async fn verify(store: &dyn Store) -> anyhow::Result<()> {
    let anchor = store.audit_anchor().await.context("cannot read the audit trail")?;
    let mut at = anchor;
    let mut count = 0u64;
    loop {
        let page = store.audit_after(at.seq, PAGE).await.context("cannot read the audit trail")?;
        if page.is_empty() {
            break;
        }
        match verify_chain(at, &page) {
            Ok(next) => {
                count += page.len() as u64;
                at = next;
            }
            Err(broken) => {
                println!("BROKEN at record {}: {broken}", broken.seq());
                eprintln!("the audit trail was altered: records from {} on can't be trusted", broken.seq());
                std::process::exit(1);
            }
        }
    }
    if count == 0 {
        println!("ok: no records after {}", describe_anchor(anchor.seq));
    } else {
        println!(
            "ok: {count} records, {} to {}, chain intact from {}",
            anchor.seq + 1,
            at.seq,
            describe_anchor(anchor.seq)
        );
    }
    Ok(())
}

fn describe_anchor(seq: u64) -> String {
    if seq == 0 { "the start".into() } else { format!("the anchor after pruned record {seq}") }
}

async fn export(store: &dyn Store, since: i64) -> anyhow::Result<()> {
    let mut after = store.audit_anchor().await.context("cannot read the audit trail")?.seq;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    loop {
        let page = store.audit_after(after, PAGE).await.context("cannot read the audit trail")?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page.iter().filter(|r| r.entry.time >= since) {
            writeln!(out, "{}", json_line(r))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn json_line(r: &AuditRecord) -> String {
    let e = &r.entry;
    let time = time::OffsetDateTime::from_unix_timestamp(e.time)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    serde_json::json!({
        "seq": r.seq,
        "time": time,
        "unix": e.time,
        "event": e.event,
        "outcome": e.outcome,
        "actor": e.actor,
        "client": e.client,
        "record": e.record,
        "detail": e.detail,
        "prev": hex(&r.prev),
        "hash": hex(&r.hash),
    })
    .to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Unix seconds, `YYYY-MM-DD` (UTC midnight) or RFC 3339.
fn parse_time(text: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    let rfc3339 = time::format_description::well_known::Rfc3339;
    if let Ok(dt) = time::OffsetDateTime::parse(t, &rfc3339) {
        return Ok(dt.unix_timestamp());
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(t, &date_format) {
        return Ok(d.midnight().assume_utc().unix_timestamp());
    }
    bail!("--since takes Unix seconds, a date like 2026-11-01 or an RFC 3339 time, not {t:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_seconds_dates_and_rfc3339() {
        assert_eq!(parse_time("1700000000").ok(), Some(1_700_000_000));
        assert_eq!(parse_time("2026-11-01").ok(), Some(1_793_491_200));
        assert_eq!(parse_time("2026-11-01T09:00:00+09:00").ok(), Some(1_793_491_200));
        assert!(parse_time("yesterday").is_err());
    }
}
