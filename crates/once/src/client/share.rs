//! `once share`: read a secret, encrypt it here (zero-knowledge, API v2) or hand it to the
//! server (`--v1`), and print its link.

use std::io::IsTerminal;

use once_api::v2::{CreateSecret, Mode, OnlyFor};
use once_client::split::Threshold;
use once_client::{Client, ClientError, ShareOptions};
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use super::exit::Failure;
use super::input::{Confirm, PassphraseArgs, Stdin, read_secret};
use super::{ServerArgs, Target, output};

pub const EXAMPLES: &str = "\
Examples:
  pass show db/prod | once share --ttl 1h --views 1
  once share --passphrase-prompt < notes.txt
  once share --json < token.txt | jq -r .secret_url
  once share --split 3-of-5 < root-token.txt   # five links; any three rebuild the secret

The secret is read from standard input when it is not a terminal (one trailing newline is
dropped: --keep-newline keeps it), else from a hidden prompt; never from the command line.
Standard output gets the link alone; the receipt link and notes go to standard error.
With --split K-of-N it gets the N links, one a line, and standard error their receipts.

Exit codes: 0 ok, 1 usage or input, 2 not found, consumed or wrong passphrase, 3 API key
refused, 4 network or server unavailable (details: once --help).";

#[derive(clap::Args)]
pub struct ShareArgs {
    /// Share this file instead (streamed, encrypted here in pieces, with its name; at most the
    /// server's limit, 100 MiB by default). The recipient's `once get` saves it under its name.
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    file: Option<std::path::PathBuf>,
    /// A file's media type, sealed with it [default: application/octet-stream].
    #[arg(long = "type", value_name = "MIME", requires = "file")]
    content_type: Option<String>,
    /// How long the link works: 30m, 1h, 7d, 2w, 1h30m or seconds [default: the server's].
    #[arg(long, value_name = "DURATION", value_parser = parse_ttl)]
    pub(super) ttl: Option<i64>,
    /// How many times the secret can be revealed [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    views: Option<u32>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
    /// Only this account may reveal it, signed in (in the browser, or `once get` with its API key).
    #[arg(long, value_name = "EMAIL")]
    pub(super) only_for: Option<String>,
    /// Keep the trailing newline of standard input (one `\n` or `\r\n` is dropped by default).
    #[arg(long)]
    keep_newline: bool,
    /// Also draw the link as a QR code on standard error.
    #[arg(long)]
    pub(super) qr: bool,
    /// Split it into N links, any K of which rebuild it (`once combine`); fewer reveal nothing.
    /// 2 ≤ K ≤ N ≤ 16; each link works once; at most 64 KiB.
    #[arg(long, value_name = "K-of-N", value_parser = parse_split)]
    split: Option<Threshold>,
    /// Print one JSON object (secret_url, receipt_url, expires_at, max_views, mode) instead;
    /// with --split: threshold, shares, links (secret_url, receipt_url each), expires_at.
    #[arg(long)]
    pub(super) json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Shared {
    /// The link to hand out (with its `#fragment` in zero-knowledge mode).
    secret_url: String,
    receipt_url: String,
    expires_at: i64,
    max_views: u32,
    mode: Mode,
    passphrase_required: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.secret_url.zeroize();
    }
}

pub async fn run(args: ShareArgs) -> Result<(), Failure> {
    let settings = super::config::resolve(&args.server)?;
    let server = settings.server()?.to_owned();
    if settings.v1 && args.only_for.is_some() {
        return Err(Failure::usage("--only-for needs API v2: drop --v1"));
    }
    if args.split.is_some() {
        if settings.v1 {
            return Err(Failure::usage("--split makes zero-knowledge links, which need API v2: drop --v1"));
        }
        if args.views.is_some_and(|v| v != 1) {
            return Err(Failure::usage("each link of a split secret works once: drop --views"));
        }
    }
    if let Some(path) = &args.file {
        return share_file(&settings, server, &args, path).await;
    }
    let secret = read_secret(args.keep_newline)?;
    // Piped in, the secret has taken standard input; typed at the prompt, it has not.
    let stdin = if std::io::stdin().is_terminal() { Stdin::Free } else { Stdin::Taken };
    let passphrase = args.passphrase.read(Confirm::Twice, stdin)?;
    let client = Target { server, credentials: true }.client(&settings)?;
    if let Some(threshold) = args.split {
        return super::split::share(&client, &args, threshold, secret, passphrase).await;
    }
    let shared = if settings.v1 {
        share_v1(&client, &args, secret, passphrase).await?
    } else {
        share_v2(&client, &args, secret, passphrase).await?
    };

    report(&args, &shared)
}

/// Prints a shared secret's links (and QR code).
fn report(args: &ShareArgs, shared: &Shared) -> Result<(), Failure> {
    if args.json {
        output::json(shared)?;
    } else {
        output::line(&shared.secret_url)?;
        eprintln!("receipt: {}", shared.receipt_url);
        let how = match shared.mode {
            Mode::ZeroKnowledge => "encrypted here; the key is only in the link's #fragment",
            Mode::Server => "encrypted by the server (API v1)",
        };
        let pass = if shared.passphrase_required { ", passphrase needed" } else { "" };
        eprintln!(
            "{}, until {}{pass}; {how}",
            output::views(shared.max_views),
            output::time(shared.expires_at)
        );
    }
    if args.qr {
        eprintln!("{}", output::qr(&shared.secret_url)?);
    }
    Ok(())
}

/// `once share FILE`.
async fn share_file(
    settings: &super::config::Settings,
    server: String,
    args: &ShareArgs,
    path: &std::path::Path,
) -> Result<(), Failure> {
    if settings.v1 {
        return Err(Failure::usage("file secrets need API v2 (zero-knowledge): drop --v1"));
    }
    if args.split.is_some() {
        return Err(Failure::usage("--split works on text secrets of up to 64 KiB, not on files"));
    }
    let content_type = args.content_type.as_deref().unwrap_or("application/octet-stream");
    let (meta, file) = super::file::meta_of(path, content_type)?;
    // The secret is the file: standard input is free for a passphrase.
    let passphrase = args.passphrase.read(Confirm::Twice, Stdin::Free)?;
    let passphrase_required = passphrase.is_some();
    let client = Target { server, credentials: true }.client(settings)?;
    let options = CreateSecret {
        ttl: args.ttl,
        max_views: args.views,
        only_for: args.only_for.clone().map(|email| OnlyFor { email: Some(email), second_factor: false }),
        ..CreateSecret::default()
    };
    let (created, fragment) = super::file::upload(&client, options, meta, file, passphrase).await?;
    let shared = Shared {
        secret_url: format!("{}#{}", created.secret_url, fragment.as_str()),
        receipt_url: created.receipt_url.clone(),
        expires_at: created.expires_at,
        max_views: created.max_views,
        mode: Mode::ZeroKnowledge,
        passphrase_required,
    };
    report(args, &shared)
}

async fn share_v2(
    client: &Client,
    args: &ShareArgs,
    secret: Zeroizing<Vec<u8>>,
    passphrase: Option<Zeroizing<String>>,
) -> Result<Shared, Failure> {
    let passphrase_required = passphrase.is_some();
    // PBKDF2 with a passphrase takes a moment: off the async threads.
    let sealed = tokio::task::spawn_blocking(move || {
        once_client::zk::seal(&secret, passphrase.as_deref().map(String::as_str))
    })
    .await
    .map_err(|e| Failure::usage(format!("encryption failed: {e}")))?
    .map_err(|e| Failure::usage(format!("encryption failed: {e}")))?;
    let body = CreateSecret {
        ciphertext: Some(sealed.ciphertext.clone()),
        key_proof: Some(sealed.key_proof.clone()),
        ttl: args.ttl,
        max_views: args.views,
        only_for: args.only_for.clone().map(|email| OnlyFor { email: Some(email), second_factor: false }),
        ..CreateSecret::default()
    };
    let created =
        client.v2().create(&body).await.map_err(|e| {
            create_failed(e, client.base(), "API v2", "for an Onetime Secret server, add --v1")
        })?;
    Ok(Shared {
        secret_url: format!("{}#{}", created.secret_url, sealed.fragment.as_str()),
        receipt_url: created.receipt_url.clone(),
        expires_at: created.expires_at,
        max_views: created.max_views,
        mode: Mode::ZeroKnowledge,
        passphrase_required,
    })
}

async fn share_v1(
    client: &Client,
    args: &ShareArgs,
    secret: Zeroizing<Vec<u8>>,
    passphrase: Option<Zeroizing<String>>,
) -> Result<Shared, Failure> {
    if args.views.is_some_and(|v| v != 1) {
        return Err(Failure::usage("API v1 secrets are revealed once: drop --views or --v1"));
    }
    let text = std::str::from_utf8(&secret)
        .map_err(|_| Failure::usage("API v1 takes text only: the secret is not UTF-8"))?;
    let mut opts =
        ShareOptions { ttl: args.ttl, passphrase: passphrase.as_deref().cloned(), recipient: None };
    let result = client.share(text, &opts).await;
    opts.passphrase.zeroize();
    let m = result.map_err(|e| create_failed(e, client.base(), "API v1", "check the server address"))?;
    let base = client.base();
    let Some(secret_key) = m.secret_key.as_deref() else {
        return Err(Failure::new(super::exit::Exit::Unavailable, "the server's answer has no secret key"));
    };
    Ok(Shared {
        secret_url: format!("{base}/secret/{secret_key}"),
        receipt_url: m.metadata_url.clone().unwrap_or_else(|| format!("{base}/receipt/{}", m.metadata_key)),
        expires_at: m.created + m.secret_ttl.unwrap_or(m.ttl),
        max_views: 1,
        mode: Mode::Server,
        passphrase_required: m.passphrase_required,
    })
}

/// A failed create. A 404 there means the server lacks the route: the wrong server or API.
pub(super) fn create_failed(e: ClientError, server: &str, api: &str, hint: &str) -> Failure {
    if e.status() == Some(404) {
        return Failure::usage(format!("{server} does not offer {api}'s create route: is it a Once server?"))
            .with_hint(hint);
    }
    Failure::from_client(e, server, "not found")
}

/// `K-of-N`, e.g. `3-of-5`.
fn parse_split(text: &str) -> Result<Threshold, String> {
    text.parse::<Threshold>()
        .map_err(|e| format!("{text:?}: {e} (e.g. 3-of-5: five links, any three rebuild it)"))
}

/// `30m`, `1h`, `7d`, `2w`, `1h30m` or plain seconds.
pub fn parse_ttl(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration: use e.g. 30m, 1h, 7d, 2w, 1h30m or seconds");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = t.parse::<i64>() {
        return if seconds > 0 { Ok(seconds) } else { Err("the duration must be positive".into()) };
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: i64 = number.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn durations() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        assert_eq!(parse_ttl("2w"), Ok(1_209_600));
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl(" 1H "), Ok(3600));
        for bad in ["", "0", "-5", "h", "1x", "1h30", "1.5h", "0m", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }
}
