//! `once status` and `once burn`: the sender's side, through the receipt link.

use once_api::{v1, v2};
use once_client::Client;
use once_client::link::ReceiptLink;

use super::exit::Failure;
use super::{ServerArgs, Target, output};

const NO_RECEIPT: &str = "no such receipt: it expired, or the link is wrong";

pub const STATUS_EXAMPLES: &str = "\
Examples:
  once status 'https://once.example.com/receipt/9xq…'
  once status --json 9xq… | jq -r .state      # new, viewed, received, burned or expired

Exit codes: 0 ok, 1 usage or input, 2 not found, consumed or wrong passphrase, 3 API key
refused, 4 network or server unavailable (details: once --help).";

pub const BURN_EXAMPLES: &str = "\
Examples:
  once burn 'https://once.example.com/receipt/9xq…'

Exits 2 when the secret is already received, burned or expired (nothing left to burn).

Exit codes: 0 ok, 1 usage or input, 2 not found, consumed or wrong passphrase, 3 API key
refused, 4 network or server unavailable (details: once --help).";

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The receipt link (or its key).
    #[arg(value_name = "RECEIPT", value_hint = clap::ValueHint::Url)]
    receipt: String,
    /// Print the receipt as one JSON object instead.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args)]
pub struct BurnArgs {
    /// The receipt link (or its key).
    #[arg(value_name = "RECEIPT", value_hint = clap::ValueHint::Url)]
    receipt: String,
    /// Print the receipt after the burn as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// The receipt's key and a client for its server.
fn open(receipt: &str, server: &ServerArgs) -> Result<(String, Client, bool), Failure> {
    let link = ReceiptLink::parse(receipt).map_err(|e| Failure::usage(e.to_string()))?;
    let settings = super::config::resolve(server)?;
    let target = Target::for_link(link.base.as_deref(), &settings)?;
    Ok((link.key, target.client(&settings)?, settings.v1))
}

pub async fn status(args: StatusArgs) -> Result<(), Failure> {
    let (key, client, v1) = open(&args.receipt, &args.server)?;
    let fail = |e| Failure::from_client(e, client.base(), NO_RECEIPT);
    if v1 {
        let m = client.receipt(&key).await.map_err(fail)?;
        return if args.json { output::json(&m) } else { print_v1(&m) };
    }
    let r = client.v2().receipt(&key).await.map_err(fail)?;
    if args.json { output::json(&r) } else { print_v2(&r) }
}

pub async fn burn(args: BurnArgs) -> Result<(), Failure> {
    let (key, client, v1) = open(&args.receipt, &args.server)?;
    let fail = |e| Failure::from_client(e, client.base(), NO_RECEIPT);
    if v1 {
        let b = client.burn(&key).await.map_err(fail)?;
        if args.json {
            output::json(&b.state)?;
        }
    } else {
        let r = client.v2().burn(&key).await.map_err(fail)?;
        if args.json {
            output::json(&r)?;
        }
    }
    eprintln!("burned: the secret link reveals nothing now");
    Ok(())
}

fn row(name: &str, value: &str) -> Result<(), Failure> {
    output::line(&format!("{name:<16} {value}"))
}

fn print_v2(r: &v2::Receipt) -> Result<(), Failure> {
    let state =
        serde_json::to_value(r.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    match &r.burn_reason {
        Some(why) => row("state", &format!("{state} ({})", why.replace('_', " ")))?,
        None => row("state", &state)?,
    }
    row("views", &format!("{} of {} ({} left)", r.views, r.max_views, r.views_left))?;
    if r.passphrase_required {
        row(
            "passphrase",
            &format!("yes, {} wrong {}", r.failures, if r.failures == 1 { "try" } else { "tries" }),
        )?;
    } else if r.failures > 0 {
        row("wrong keys", &r.failures.to_string())?;
    }
    row("created", &output::time(r.created_at))?;
    if let Some(t) = r.received_at {
        row("received", &output::time(t))?;
    }
    row("secret expires", &output::time(r.secret_expires_at))?;
    row("receipt expires", &output::time(r.expires_at))
}

fn print_v1(m: &v1::Metadata) -> Result<(), Failure> {
    row("state", &m.state)?;
    row("passphrase", if m.passphrase_required { "yes" } else { "no" })?;
    row("created", &output::time(m.created))?;
    if let Some(t) = m.received {
        row("received", &output::time(t))?;
    }
    if let Some(left) = m.secret_ttl {
        row("secret expires", &format!("in {left} s"))?;
    }
    row("receipt expires", &format!("in {} s", m.metadata_ttl))
}
