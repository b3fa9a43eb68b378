//! `once get`: reveal a secret from its link and print it.
//!
//! A preview first (a GET, which consumes nothing) says whether the secret is there, how it was
//! made and whether it needs a passphrase; only then does a reveal spend a view. A refused
//! reveal is told apart by a second preview: still there means the passphrase (or the link's
//! key) was wrong, and nothing was spent.

use std::path::PathBuf;

use once_api::v2::{Mode, Reveal};
use once_client::link::SecretLink;
use once_client::split::ShareFragment;
use once_client::{Client, zk};
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use super::exit::{Exit, Failure};
use super::input::{Confirm, PassphraseArgs, Stdin, link_from_stdin, passphrase_if_required};
use super::{ServerArgs, Target, output};

pub const EXAMPLES: &str = "\
Examples:
  once get 'https://once.example.com/secret/k3j…#Zm9v…'
  once get --passphrase-file ~/.pw 'https://once.example.com/secret/k3j…#Zm9v…' > secret.txt
  echo \"$LINK\" | once get -          # keeps the link out of `ps`

Quote the link: the part after # is the key. The secret goes to standard output exactly as
shared (a terminal also gets a final newline if it has none); notes go to standard error.
A wrong passphrase reveals nothing and uses no view, but enough wrong tries burn the secret.

Exit codes: 0 ok, 1 usage or input, 2 not found, consumed or wrong passphrase, 3 API key
refused, 4 network or server unavailable (details: once --help).";

pub(super) const GONE: &str =
    "no such secret: it expired, was already viewed or burned, or the link is wrong";
const DAMAGED: &str =
    "the secret was revealed (a view is used up) but does not decrypt with the link's key: it is damaged";
pub(super) const DAMAGED_FILE: &str = "the file was revealed (a view is used up) but does not decrypt with the \
     link's key, or arrived cut short: nothing was kept";

#[derive(clap::Args)]
pub struct GetArgs {
    /// The secret link, quoted, with its #fragment; a bare key (server-side secrets); or `-` to
    /// read the link from standard input.
    #[arg(value_name = "LINK", value_hint = clap::ValueHint::Url)]
    link: String,
    #[command(flatten)]
    passphrase: PassphraseArgs,
    /// Print one JSON object (secret, mode, views_left) instead of the secret alone; for a
    /// file: file, views_left.
    #[arg(long)]
    json: bool,
    /// For a file secret: write it here (`-`: standard output) instead of under the sender's
    /// file name in the current directory.
    #[arg(short, long, value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    output: Option<PathBuf>,
    /// For a file secret: replace an existing file.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// A revealed secret.
struct Got {
    secret: Zeroizing<Vec<u8>>,
    mode: Mode,
    views_left: Option<u32>,
}

/// What `--json` prints: `secret` for text, `secret_base64` (standard alphabet) for anything
/// else.
#[derive(Serialize)]
struct GotJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<Zeroizing<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_base64: Option<Zeroizing<String>>,
    mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    views_left: Option<u32>,
}

pub async fn run(mut args: GetArgs) -> Result<(), Failure> {
    let (text, stdin) = if args.link == "-" {
        (link_from_stdin()?, Stdin::Taken)
    } else {
        (Zeroizing::new(std::mem::take(&mut args.link)), Stdin::Free)
    };
    let link = SecretLink::parse(&text).map_err(|e| Failure::usage(e.to_string()))?;
    drop(text);
    if let Some(share) = link.fragment().and_then(|f| ShareFragment::parse(f).ok()) {
        let t = share.threshold();
        return Err(Failure::usage(format!(
            "this is one of the {} links of a split secret, any {} of which rebuild it: nothing was used up",
            t.shares(),
            t.needed()
        ))
        .with_hint(format!("once combine LINK1 LINK2 … with {} of the links", t.needed())));
    }
    let settings = super::config::resolve(&args.server)?;
    let target = Target::for_link(link.base.as_deref(), &settings)?;
    let client = target.client(&settings)?;
    let got = if settings.v1 {
        get_v1(&client, &link, &args, stdin).await?
    } else {
        match get_v2(&client, &link, &args, stdin).await? {
            Some(got) => got,
            // A file: written out, and said where.
            None => return Ok(()),
        }
    };
    if args.json {
        let (secret, secret_base64) = match std::str::from_utf8(&got.secret) {
            Ok(text) => (Some(Zeroizing::new(text.to_owned())), None),
            Err(_) => (None, Some(Zeroizing::new(data_encoding::BASE64.encode(&got.secret)))),
        };
        output::json(&GotJson { secret, secret_base64, mode: got.mode, views_left: got.views_left })?;
    } else {
        output::secret(&got.secret)?;
    }
    if let Some(n @ 1..) = got.views_left {
        eprintln!("note: the link still works for {}", output::views(n));
    }
    Ok(())
}

/// What `--json` prints for a file.
#[derive(Serialize)]
struct GotFile<'a> {
    file: &'a str,
    views_left: u32,
}

async fn get_v2(
    client: &Client,
    link: &SecretLink,
    args: &GetArgs,
    stdin: Stdin,
) -> Result<Option<Got>, Failure> {
    let base = client.base();
    let v2 = client.v2();
    let preview = v2.preview(&link.key).await.map_err(|e| Failure::from_client(e, base, GONE))?;
    let fragment = match preview.mode {
        Mode::ZeroKnowledge => {
            let f = link.fragment().ok_or_else(|| {
                Failure::usage(
                    "the link has no key: a zero-knowledge secret needs the whole link, with its #part",
                )
                .with_hint("quote the link: once get 'https://…/secret/…#…'")
            })?;
            if !zk::fragment_is_valid(f) {
                return Err(Failure::usage("the key after # in the link is damaged (it has 43 characters)"));
            }
            Some(Zeroizing::new(f.to_owned()))
        }
        Mode::Server => None,
    };
    let passphrase = passphrase_if_required(&args.passphrase, preview.passphrase_required, stdin)?;

    let mut body = match &fragment {
        Some(f) => {
            let (f, p) = (f.clone(), passphrase.clone());
            let proof = blocking(move || zk::key_proof(&f, p.as_deref().map(String::as_str))).await?;
            Reveal {
                key_proof: Some(proof.map_err(|_| Failure::usage("the key after # in the link is damaged"))?),
                passphrase: None,
            }
        }
        None => Reveal { passphrase: passphrase.as_deref().cloned(), key_proof: None },
    };
    if preview.file.is_some() {
        let Some(fragment) = &fragment else {
            return Err(Failure::new(
                Exit::Unavailable,
                "the server says a file secret is not zero-knowledge",
            ));
        };
        let destination = match &args.output {
            Some(p) if p.as_os_str() == "-" => super::file::Destination::Stdout,
            other => super::file::Destination::Path(other.clone()),
        };
        super::file::ensure_free(&destination, args.force)?;
        let resp = match v2.reveal_file(&link.key, &body).await {
            Ok(resp) => resp,
            Err(e) if e.status() == Some(404) => {
                return Err(refused(client, &link.key, preview.passphrase_required, true).await);
            }
            Err(e) => return Err(Failure::from_client(e, base, GONE)),
        };
        let p = passphrase.as_deref().map(String::as_str);
        let (place, views_left) = super::file::download(resp, fragment, p, &destination, args.force).await?;
        if args.json && !matches!(destination, super::file::Destination::Stdout) {
            output::json(&GotFile { file: &place, views_left })?;
        } else {
            eprintln!("saved to {place}");
        }
        if views_left > 0 {
            eprintln!("note: the link still works for {}", output::views(views_left));
        }
        return Ok(None);
    }
    let result = v2.reveal(&link.key, &body).await;
    body.passphrase.zeroize();
    let mut revealed = match result {
        Ok(r) => r,
        Err(e) if e.status() == Some(404) => {
            return Err(refused(client, &link.key, preview.passphrase_required, fragment.is_some()).await);
        }
        Err(e) => return Err(Failure::from_client(e, base, GONE)),
    };
    let secret = match (fragment, revealed.ciphertext.take(), revealed.value.take()) {
        (Some(f), Some(ciphertext), _) => {
            let p = passphrase.clone();
            blocking(move || zk::open(&f, p.as_deref().map(String::as_str), &ciphertext))
                .await?
                .map_err(|_| Failure::gone(DAMAGED))?
        }
        (None, _, Some(value)) => Zeroizing::new(value.into_bytes()),
        _ => return Err(Failure::new(Exit::Unavailable, "the server's answer holds no secret")),
    };
    Ok(Some(Got { secret, mode: revealed.mode, views_left: Some(revealed.views_left) }))
}

/// A reveal answered 404: gone, or still there and the passphrase or the link's key was wrong.
async fn refused(client: &Client, key: &str, passphrase_required: bool, zero_knowledge: bool) -> Failure {
    match client.v2().preview(key).await {
        Ok(_) if passphrase_required => Failure::gone(
            "wrong passphrase: nothing was revealed and the secret is still there \
             (too many wrong tries burn it)",
        ),
        Ok(_) if zero_knowledge => {
            Failure::gone("the link's key (after #) does not open this secret: nothing was revealed")
        }
        _ => Failure::gone(GONE),
    }
}

async fn get_v1(client: &Client, link: &SecretLink, args: &GetArgs, stdin: Stdin) -> Result<Got, Failure> {
    if link.fragment().is_some() {
        return Err(Failure::usage(
            "a link with a #key is a zero-knowledge secret, which API v1 can't open: drop --v1",
        ));
    }
    let passphrase = args.passphrase.read(Confirm::Once, stdin)?;
    let result = client.reveal(&link.key, passphrase.as_deref().map(String::as_str)).await;
    let gone = "no such secret: it expired, was already viewed or burned, the link is wrong, or the \
                passphrase is wrong or missing (API v1 doesn't say which)";
    let mut secret = result.map_err(|e| Failure::from_client(e, client.base(), gone))?;
    let value = Zeroizing::new(std::mem::take(&mut secret.value).into_bytes());
    Ok(Got { secret: value, mode: Mode::Server, views_left: None })
}

/// Runs key derivation (PBKDF2 with a passphrase) off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Failure::usage(format!("key derivation failed: {e}")))
}
