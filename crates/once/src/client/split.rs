//! Split secrets: `once share --split K-of-N` makes N one-time links, any K of which rebuild the
//! secret; `once combine` rebuilds it from them ([`once_client::split`] has the format).
//!
//! Every share link's `#fragment` names K, N and its split after the link's key, so `combine`
//! checks, before it uses any link up, that it was given K links of one split that still work
//! (a preview each, which consumes nothing); then it reveals exactly K of them.

use once_api::v2::{CreateSecret, Created, Mode, OnlyFor, Reveal};
use once_client::Client;
use once_client::link::{SecretLink, same_server};
use once_client::split::{self, FragmentError, OpenError, Share, ShareFragment, SplitError, Threshold};
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use super::exit::Failure;
use super::get::{GONE, blocking};
use super::input::{PassphraseArgs, Stdin, links_from_stdin, passphrase_if_required};
use super::share::{ShareArgs, create_failed};
use super::{ServerArgs, Target, output};

pub const COMBINE_EXAMPLES: &str = "\
Examples:
  once combine 'https://once.example.com/secret/k3j…#Zm9v….3of5.…' 'https://…' 'https://…'
  once combine - < links.txt > secret.txt      # one link a line; keeps them out of `ps`

Each link of a split secret says after its key how many of its links rebuild it (3of5: any 3 of
5). Before using anything up, combine checks that it was given that many links of one split
and that they still work; if not, it stops with nothing used up. Then it reveals exactly as
many as needed (each link works once) and prints the secret as `once get` does; links given
beyond that are left unused.

Exit codes: 0 ok, 1 usage or input (too few links, links of different splits), 2 not found,
consumed or wrong passphrase, 3 API key refused, 4 network or server unavailable (details:
once --help).";

#[derive(clap::Args)]
pub struct CombineArgs {
    /// The links of one split secret, quoted, with their #part; `-` reads them from standard
    /// input, one a line.
    #[arg(value_name = "LINK", required = true, value_hint = clap::ValueHint::Url)]
    links: Vec<String>,
    #[command(flatten)]
    passphrase: PassphraseArgs,
    /// Print one JSON object (secret, mode, threshold, shares) instead of the secret alone.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// One link of a split secret (`share --split --json` prints the list).
#[derive(Serialize)]
struct SplitLink {
    secret_url: String,
    receipt_url: String,
}

impl Drop for SplitLink {
    fn drop(&mut self) {
        self.secret_url.zeroize();
    }
}

/// What `share --split --json` prints.
#[derive(Serialize)]
struct SplitShared {
    /// K: how many of the links rebuild the secret.
    threshold: u8,
    /// N: how many links there are.
    shares: u8,
    links: Vec<SplitLink>,
    expires_at: i64,
    mode: Mode,
    passphrase_required: bool,
}

/// `once share --split K-of-N`: seals the shares, creates one secret for each, prints the links.
pub async fn share(
    client: &Client,
    args: &ShareArgs,
    threshold: Threshold,
    secret: Zeroizing<Vec<u8>>,
    passphrase: Option<Zeroizing<String>>,
) -> Result<(), Failure> {
    if secret.len() > split::MAX_PLAINTEXT {
        return Err(Failure::usage(SplitError::TooLarge.to_string())
            .with_hint("share it whole, without --split; or split the key of a file encrypted elsewhere"));
    }
    let passphrase_required = passphrase.is_some();
    // PBKDF2 once per link with a passphrase: off the async threads.
    let sealed = blocking(move || split::seal(&secret, threshold, passphrase.as_deref().map(String::as_str)))
        .await?
        .map_err(|e| Failure::usage(format!("cannot split the secret: {e}")))?;

    let mut made: Vec<(Created, SplitLink)> = Vec::with_capacity(sealed.len());
    for s in &sealed {
        let body = CreateSecret {
            ciphertext: Some(s.ciphertext.clone()),
            key_proof: Some(s.key_proof.clone()),
            ttl: args.ttl,
            max_views: Some(1),
            only_for: args.only_for.clone().map(|email| OnlyFor { email: Some(email), second_factor: false }),
            ..CreateSecret::default()
        };
        match client.v2().create(&body).await {
            Ok(created) => {
                let link = SplitLink {
                    secret_url: format!("{}#{}", created.secret_url, s.fragment.as_str()),
                    receipt_url: created.receipt_url.clone(),
                };
                made.push((created, link));
            }
            Err(e) => {
                let failure = create_failed(e, client.base(), "API v2", "check the server address");
                return Err(burn_made(client, &made, failure).await);
            }
        }
    }

    let expires_at = made.iter().map(|(c, _)| c.expires_at).min().unwrap_or_default();
    let links: Vec<SplitLink> = made.into_iter().map(|(_, link)| link).collect();
    let (k, n) = (threshold.needed(), threshold.shares());
    if args.json {
        output::json(&SplitShared {
            threshold: k,
            shares: n,
            links,
            expires_at,
            mode: Mode::ZeroKnowledge,
            passphrase_required,
        })?;
        return Ok(());
    }
    for link in &links {
        output::line(&link.secret_url)?;
    }
    for (i, link) in links.iter().enumerate() {
        eprintln!("receipt {}: {}", i + 1, link.receipt_url);
    }
    eprintln!("any {k} of these {n} links rebuild the secret (once combine); each works once");
    let pass = if passphrase_required { ", passphrase needed" } else { "" };
    eprintln!(
        "until {}{pass}; encrypted here; the keys are only in the links' #fragments",
        output::time(expires_at)
    );
    if args.qr {
        for (i, link) in links.iter().enumerate() {
            eprintln!("link {} of {n}:\n{}", i + 1, output::qr(&link.secret_url)?);
        }
    }
    Ok(())
}

/// A create failed part-way: the links already made are burned (they were never shown), and
/// the failure says so.
async fn burn_made(client: &Client, made: &[(Created, SplitLink)], failure: Failure) -> Failure {
    if made.is_empty() {
        return failure;
    }
    let mut burned = 0;
    for (created, _) in made {
        if client.v2().burn(&created.receipt_key).await.is_ok() {
            burned += 1;
        }
    }
    let note = if burned == made.len() {
        format!("nothing was shared: the {} already made {} burned", count(burned, "link"), was(burned))
    } else {
        format!(
            "nothing was shared: {burned} of the {} already made {} burned, and none was shown",
            count(made.len(), "link"),
            was(burned)
        )
    };
    let hint = match failure.hint {
        Some(ref h) => format!("{h}; {note}"),
        None => note,
    };
    Failure { hint: Some(hint), ..failure }
}

/// One link given to `combine`.
struct Given {
    /// Its place among the links given, from 1 (messages name links by it, never by key).
    position: usize,
    link: SecretLink,
    fragment: ShareFragment,
    target: Target,
}

/// `once combine LINK…`.
pub async fn combine(mut args: CombineArgs) -> Result<(), Failure> {
    let (texts, stdin) = link_texts(&mut args.links)?;
    let settings = super::config::resolve(&args.server)?;
    if settings.v1 {
        return Err(Failure::usage("split secrets are zero-knowledge links, which need API v2: drop --v1"));
    }
    let given = parse_links(&texts, &settings)?;
    drop(texts);

    // Before any request: one split, and at least K different links of it.
    let first = given.first().ok_or_else(|| Failure::usage("no links given"))?;
    let (threshold, split_id) = (first.fragment.threshold(), first.fragment.split_id());
    if given.iter().any(|g| g.fragment.split_id() != split_id || g.fragment.threshold() != threshold) {
        return Err(Failure::usage("these links belong to different splits: nothing was used up")
            .with_hint("give links made by one `once share --split`"));
    }
    let (k, n) = (usize::from(threshold.needed()), threshold.shares());
    if given.len() < k {
        return Err(Failure::usage(format!(
            "the secret needs {k} of its {n} links and only {} {} given: nothing was used up",
            given.len(),
            was(given.len()),
        ))
        .with_hint(format!("give {k} different links of the split (any {k} of the {n})")));
    }

    // Then a preview of each (consumes nothing): at least K must still be there.
    let mut live = Vec::with_capacity(given.len());
    let mut gone = Vec::new();
    let mut passphrase_required = false;
    for g in &given {
        let client = g.target.client(&settings)?;
        match client.v2().preview(&g.link.key).await {
            Ok(preview) if preview.mode != Mode::ZeroKnowledge => {
                return Err(Failure::usage(format!(
                    "link {} is not a zero-knowledge secret, so not a link of a split secret",
                    g.position
                )));
            }
            Ok(preview) => {
                passphrase_required |= preview.passphrase_required;
                live.push((g, client));
            }
            Err(e) if e.status() == Some(404) => gone.push(g.position),
            Err(e) => return Err(Failure::from_client(e, client.base(), GONE)),
        }
    }
    if live.len() < k {
        let which = if gone.is_empty() { String::new() } else { format!(" ({} gone)", positions(&gone)) };
        return Err(Failure::gone(format!(
            "{} of the {} links given still {}{which}; the secret needs {k}: nothing was used up",
            if live.is_empty() { "none".to_owned() } else { format!("only {}", live.len()) },
            given.len(),
            if live.len() == 1 { "works" } else { "work" },
        ))
        .with_hint("a link stops working once it is used, burned or expired"));
    }
    let passphrase = passphrase_if_required(&args.passphrase, passphrase_required, stdin)?;

    // Reveal K of them, one after another.
    let mut shares: Vec<Share> = Vec::with_capacity(k);
    let mut used: Vec<usize> = Vec::new();
    let mut tried = 0;
    for (g, client) in &live {
        if shares.len() == k {
            break;
        }
        tried += 1;
        let (fragment, p) = (g.fragment.clone(), passphrase.clone());
        let proof = blocking(move || fragment.key_proof(p.as_deref().map(String::as_str)))
            .await?
            .map_err(|_| Failure::usage(format!("link {}: the part after # is damaged", g.position)))?;
        let body = Reveal { key_proof: Some(proof), passphrase: None };
        let mut revealed = match client.v2().reveal(&g.link.key, &body).await {
            Ok(r) => r,
            Err(e) if e.status() == Some(404) => {
                // Still there: the passphrase (or the link's key) was wrong, and nothing was
                // spent. Gone: used by someone else since the preview; try the next one.
                if client.v2().preview(&g.link.key).await.is_ok() {
                    if passphrase_required {
                        return Err(with_used(
                            Failure::gone(
                                "wrong passphrase: nothing was revealed and the link is still there \
                                 (too many wrong tries burn it)",
                            ),
                            &used,
                        ));
                    }
                    eprintln!("note: the key in link {} does not open it; skipping it", g.position);
                } else {
                    eprintln!("note: link {} was used up since it was checked; skipping it", g.position);
                }
                continue;
            }
            Err(e) => return Err(with_used(Failure::from_client(e, client.base(), GONE), &used)),
        };
        used.push(g.position);
        let Some(ciphertext) = revealed.ciphertext.take() else {
            eprintln!("note: link {} held no ciphertext; skipping it", g.position);
            continue;
        };
        let (fragment, p) = (g.fragment.clone(), passphrase.clone());
        match blocking(move || fragment.open(p.as_deref().map(String::as_str), &ciphertext)).await? {
            Ok(share) => shares.push(share),
            Err(e) => eprintln!("note: link {}: {}; skipping it", g.position, open_error(e)),
        }
    }
    if shares.len() < k {
        return Err(with_used(
            Failure::gone(format!(
                "only {} of the {k} shares needed could be revealed: the secret can't be rebuilt",
                shares.len()
            )),
            &used,
        ));
    }

    let secret = blocking(move || split::combine(&shares)).await?.map_err(|e| {
        let failure = match e {
            SplitError::MixedSplits => Failure::usage("these links belong to different splits"),
            other => Failure::gone(format!("the links were revealed but {other}")),
        };
        with_used(failure, &used)
    })?;
    if args.json {
        let (text, base64) = match std::str::from_utf8(&secret) {
            Ok(text) => (Some(Zeroizing::new(text.to_owned())), None),
            Err(_) => (None, Some(Zeroizing::new(data_encoding::BASE64.encode(&secret)))),
        };
        output::json(&Combined {
            secret: text,
            secret_base64: base64,
            mode: Mode::ZeroKnowledge,
            threshold: threshold.needed(),
            shares: n,
        })?;
    } else {
        output::secret(&secret)?;
    }
    let unused = live.len() - tried;
    if unused > 0 {
        eprintln!(
            "note: {} given {} not needed and still {}",
            count(unused, "link"),
            was(unused),
            works(unused)
        );
    }
    Ok(())
}

/// What `combine --json` prints: `secret` for text, `secret_base64` (standard alphabet) for
/// anything else, as `get --json` does.
#[derive(Serialize)]
struct Combined {
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<Zeroizing<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_base64: Option<Zeroizing<String>>,
    mode: Mode,
    threshold: u8,
    shares: u8,
}

/// The link arguments, with `-` replaced by the links on standard input.
fn link_texts(args: &mut Vec<String>) -> Result<(Vec<Zeroizing<String>>, Stdin), Failure> {
    let mut texts = Vec::with_capacity(args.len());
    let mut stdin = Stdin::Free;
    for arg in args.drain(..) {
        let arg = Zeroizing::new(arg);
        if arg.as_str() != "-" {
            texts.push(arg);
        } else if stdin == Stdin::Taken {
            return Err(Failure::usage("`-` (standard input) can be given once"));
        } else {
            texts.extend(links_from_stdin()?);
            stdin = Stdin::Taken;
        }
    }
    if texts.is_empty() {
        return Err(Failure::usage("no links given (standard input was empty)"));
    }
    Ok((texts, stdin))
}

/// Parses the links: each must be a link of a split secret; the same link twice counts once.
fn parse_links(
    texts: &[Zeroizing<String>],
    settings: &super::config::Settings,
) -> Result<Vec<Given>, Failure> {
    let mut given: Vec<Given> = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let position = i + 1;
        let link = SecretLink::parse(text).map_err(|e| Failure::usage(format!("link {position}: {e}")))?;
        let Some(f) = link.fragment() else {
            return Err(Failure::usage(format!(
                "link {position} has no key: a link of a split secret needs its whole #part"
            ))
            .with_hint("quote the links: once combine 'https://…/secret/…#…' …"));
        };
        let fragment = ShareFragment::parse(f).map_err(|e| match e {
            FragmentError::NotAShare => {
                Failure::usage(format!("link {position} is an ordinary secret, not a link of a split secret"))
                    .with_hint("open it with once get")
            }
            FragmentError::Damaged => Failure::usage(format!("link {position}: the part after # is damaged")),
        })?;
        let target = Target::for_link(link.base.as_deref(), settings)?;
        if let Some(earlier) =
            given.iter().find(|g| g.link.key == link.key && same_server(&g.target.server, &target.server))
        {
            if earlier.link.fragment() != link.fragment() {
                return Err(Failure::usage(format!(
                    "links {} and {position} lead to the same secret with different #parts",
                    earlier.position
                )));
            }
            eprintln!("note: link {position} repeats link {}; using it once", earlier.position);
            continue;
        }
        given.push(Given { position, link, fragment, target });
    }
    Ok(given)
}

/// Adds which links were used up to a failure after some were revealed.
fn with_used(failure: Failure, used: &[usize]) -> Failure {
    if used.is_empty() {
        return failure;
    }
    let note = format!("{} {} used up and {} gone now", positions(used), was(used.len()), is(used.len()));
    let hint = match &failure.hint {
        Some(h) => format!("{h}; {note}"),
        None => note,
    };
    Failure { hint: Some(hint), ..failure }
}

fn open_error(e: OpenError) -> &'static str {
    match e {
        OpenError::Undecryptable => "it does not decrypt with its key (damaged)",
        OpenError::NotAShare => "it holds no share of a split secret",
        OpenError::Mismatch => "its share is not the one its #part names",
    }
}

/// `link 2`, `links 1, 3 and 4`.
fn positions(list: &[usize]) -> String {
    let numbers: Vec<String> = list.iter().map(usize::to_string).collect();
    match numbers.as_slice() {
        [one] => format!("link {one}"),
        [rest @ .., last] => format!("links {} and {last}", rest.join(", ")),
        [] => "no link".to_owned(),
    }
}

/// `1 link`, `2 links`.
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn was(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

fn is(n: usize) -> &'static str {
    if n == 1 { "is" } else { "are" }
}

fn works(n: usize) -> &'static str {
    if n == 1 { "works" } else { "work" }
}

#[cfg(test)]
mod tests {
    use super::super::exit::Exit;
    use super::*;

    #[test]
    fn lists_of_links() {
        assert_eq!(positions(&[2]), "link 2");
        assert_eq!(positions(&[1, 3]), "links 1 and 3");
        assert_eq!(positions(&[1, 3, 4]), "links 1, 3 and 4");
        assert_eq!(count(1, "link"), "1 link");
        assert_eq!(count(2, "link"), "2 links");
    }

    #[test]
    fn failures_name_the_links_used_up() {
        let f = with_used(Failure::gone("x"), &[1, 2]);
        assert_eq!(f.hint.as_deref(), Some("links 1 and 2 were used up and are gone now"));
        assert_eq!(f.exit, Exit::Gone);
        assert!(with_used(Failure::gone("x"), &[]).hint.is_none());
    }
}
