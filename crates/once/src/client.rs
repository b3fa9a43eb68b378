//! The command-line client: `once share`, `get`, `status`, `burn` and `combine`, against a Once
//! server (API v2, zero-knowledge: the secret is encrypted here and its key travels only in the
//! link's `#fragment`) or any Onetime Secret–compatible server (`--v1`, server-side encryption).
//!
//! Made for scripts: standard output carries only the result (the link, the secret, or one JSON
//! object with `--json`); everything else goes to standard error; the exit code says what kind
//! of failure it was ([`exit::Exit`]). Secrets and passphrases come from standard input, a file
//! or a hidden prompt, never from arguments, and are wiped from memory after use.

mod config;
mod exit;
mod file;
mod get;
mod input;
mod output;
mod receipt;
mod share;
mod split;

use std::process::ExitCode;
use std::time::Duration;

use once_client::Client;
use once_client::link::same_server;

pub use exit::EXIT_CODES_HELP;
use exit::Failure;

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Share a secret: encrypt it here, upload it, print its one-time link.
    #[command(after_help = share::EXAMPLES)]
    Share(share::ShareArgs),
    /// Reveal a secret from its link (uses up one view) and print it.
    #[command(after_help = get::EXAMPLES)]
    Get(get::GetArgs),
    /// Show a secret's receipt: state, views, times.
    #[command(after_help = receipt::STATUS_EXAMPLES)]
    Status(receipt::StatusArgs),
    /// Burn a secret through its receipt, so its link reveals nothing.
    #[command(after_help = receipt::BURN_EXAMPLES)]
    Burn(receipt::BurnArgs),
    /// Rebuild a split secret (share --split) from enough of its links, and print it.
    #[command(after_help = split::COMBINE_EXAMPLES)]
    Combine(split::CombineArgs),
}

/// Which server, and who we are there (every client command takes these).
#[derive(clap::Args)]
#[command(next_help_heading = "Server")]
pub struct ServerArgs {
    /// The server's address, e.g. https://once.example.com [default: the profile's].
    #[arg(long, env = "ONCE_SERVER", value_name = "URL", value_hint = clap::ValueHint::Url)]
    server: Option<String>,
    /// API key; also ONCE_API_KEY. On the command line others can see it in `ps`: prefer the
    /// environment, --api-key-file or the profile file.
    #[arg(long, value_name = "KEY", conflicts_with = "api_key_file")]
    api_key: Option<String>,
    /// Read the API key from the first line of this file.
    #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    api_key_file: Option<std::path::PathBuf>,
    /// Use [profiles.NAME] of ~/.config/once/config.toml instead of [default].
    #[arg(long, env = "ONCE_PROFILE", value_name = "NAME")]
    profile: Option<String>,
    /// Speak Onetime Secret's API v1 (any compatible server; the server encrypts).
    #[arg(long)]
    v1: bool,
    /// API v1: the account's e-mail, for HTTP Basic with the API key (else anonymous).
    #[arg(long, env = "ONCE_USER", value_name = "EMAIL")]
    user: Option<String>,
}

/// Runs a client command; failures are reported on standard error.
pub async fn run(command: ClientCommand) -> ExitCode {
    let result = match command {
        ClientCommand::Share(args) => share::run(args).await,
        ClientCommand::Get(args) => get::run(args).await,
        ClientCommand::Status(args) => receipt::status(args).await,
        ClientCommand::Burn(args) => receipt::burn(args).await,
        ClientCommand::Combine(args) => split::combine(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// The HTTP client: rustls, time-outs, our user agent, and no redirects (a redirected POST
/// would lose its body, and credentials must not follow a redirect elsewhere).
fn http_client() -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .user_agent(concat!("once-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Failure::new(exit::Exit::Unavailable, format!("cannot set up HTTP: {e}")))
}

/// The server a link leads to, and whether the configured credentials belong to it.
struct Target {
    server: String,
    /// The link's server is the configured one (or the link was a bare key): the API key may be
    /// sent. A link to another server never gets it.
    credentials: bool,
}

impl Target {
    fn for_link(link_base: Option<&str>, settings: &config::Settings) -> Result<Self, Failure> {
        Ok(match (link_base, settings.configured_server()) {
            (Some(base), Some(configured)) => {
                Target { server: base.to_owned(), credentials: same_server(base, configured) }
            }
            (Some(base), None) => Target { server: base.to_owned(), credentials: false },
            (None, _) => Target { server: settings.server()?.to_owned(), credentials: true },
        })
    }

    fn client(&self, settings: &config::Settings) -> Result<Client, Failure> {
        let http = http_client()?;
        if !self.credentials {
            return Ok(Client::with_http(http, &self.server));
        }
        if settings.v1 {
            v1_client(http, &self.server, settings)
        } else {
            let client = Client::with_http(http, &self.server);
            Ok(match &settings.api_key {
                Some(key) => client.with_api_key(key),
                None => client,
            })
        }
    }
}

/// An API v1 client: HTTP Basic with `--user` and the API key, or anonymous without `--user`.
fn v1_client(http: reqwest::Client, server: &str, settings: &config::Settings) -> Result<Client, Failure> {
    let client = Client::with_http(http, server);
    match (&settings.user, &settings.api_key) {
        (Some(user), Some(key)) => Ok(client.with_auth(user, key)),
        (Some(_), None) => {
            Err(Failure::usage("--user needs an API key (--api-key-file, ONCE_API_KEY or the profile)"))
        }
        (None, _) => Ok(client),
    }
}
