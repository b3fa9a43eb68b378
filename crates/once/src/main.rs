//! `once`: share secrets from the command line; run the server, manage keys and users.

mod audit;
mod client;
mod reference;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use once_core::{Clock, Core, SystemClock};
use once_crypto::KeyRing;
use once_server::{Application, Config, FlagOverrides, LogFormat, MasterKeySource};

#[derive(Parser)]
#[command(
    name = "once",
    version,
    about = "Once: share a secret through a link that works exactly once",
    long_about = "Once: self-hosted one-time secret sharing, compatible with Onetime Secret's API v1.\n\n\
        Share and read secrets from anywhere with `once share`, `once get`, `once status` and\n\
        `once burn` (the secret is encrypted on this machine; set ONCE_SERVER or a profile in\n\
        ~/.config/once/config.toml to say which server). `once share --split 3-of-5` makes five\n\
        links, any three of which rebuild the secret with `once combine`.\n\n\
        On the server's machine: start it with `once serve`; it keeps its database and master key\n\
        in ./once-data unless told otherwise. Manage master keys with `once keys`, API users with\n\
        `once user`, the audit trail with `once audit`.",
    after_help = client::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: TopCommand,
}

/// Client commands first, then the server's, then the generated references.
#[derive(Subcommand)]
enum TopCommand {
    #[command(flatten)]
    Client(client::ClientCommand),
    #[command(flatten)]
    Server(Command),
    #[command(flatten)]
    Reference(reference::ReferenceCommand),
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage the master-key ring (generate, activate, retire, destroy).
    Keys {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage API users.
    User {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Check or export the hash-chained audit trail.
    Audit {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
}

/// Where the config, data and store are (shared by every subcommand).
#[derive(Args)]
struct CommonArgs {
    /// TOML config file.
    #[arg(long, env = "ONCE_CONFIG", global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the database and the key ring [default: ./once-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Store URL: sqlite://PATH, redis://[USER:PASSWORD@]HOST[:PORT][/DB] (also Valkey; rediss:// for
    /// TLS) or memory:// [default: sqlite://<data-dir>/once.db].
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Address to listen on [default: 127.0.0.1:7143].
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Public base URL used in links [default: http://<listen>].
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormatArg>,
    /// A MaxMind-format country database (.mmdb), for secrets limited to countries.
    #[arg(long, value_name = "PATH")]
    geoip_db: Option<std::path::PathBuf>,
    /// Print a commented example config file and exit.
    #[arg(long)]
    print_config_example: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List the keys with their ids and states (never the key material).
    List,
    /// Generate a new key (pending; active if the ring has none).
    Generate {
        /// Activate it at once (the current active key becomes decrypt-only).
        #[arg(long)]
        activate: bool,
    },
    /// Make a pending key the one that seals new secrets; the old one becomes decrypt-only.
    Activate { id: String },
    /// Stop a pending key from ever sealing (it becomes decrypt-only).
    Retire { id: String },
    /// Erase a decrypt-only key: secrets sealed under it can never be opened again.
    Destroy {
        id: String,
        /// Confirm that the secrets sealed under this key become unreadable.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user and print their API key (shown once; only a hash is stored).
    Add {
        email: String,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List,
    /// Set a user's password for signing in to the web UI. Read from a hidden prompt (asked twice),
    /// or from the first line of standard input when it is not a terminal; never from arguments.
    Password { email: String },
    /// Disable a user: they can't sign in or use their API keys, and their sessions end now.
    Disable { email: String },
    /// Enable a disabled user again.
    Enable { email: String },
    /// Give a user a role.
    SetRole {
        email: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
    /// Turn off a user's two-factor sign-in (when they lost their authenticator app and their
    /// recovery codes). They sign in with their password alone until they set it up again.
    Reset2fa { email: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    User,
    Admin,
}

/// A new password from a hidden prompt (twice) or the first line of a non-terminal stdin.
fn read_new_password() -> anyhow::Result<zeroize::Zeroizing<String>> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = zeroize::Zeroizing::new(rpassword::prompt_password("New password: ")?);
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("Again: ")?);
        if first != again {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let trimmed = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.is_empty() {
        bail!("no password on standard input");
    }
    Ok(trimmed)
}

fn load_config(common: &CommonArgs, extra: FlagOverrides) -> anyhow::Result<Config> {
    let flags = FlagOverrides { data_dir: common.data_dir.clone(), store: common.store.clone(), ..extra };
    Config::load(common.config.as_deref(), &flags).map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; usage errors exit 1 (clap's default is 2,
            // which the client commands use for "not found").
            let _ = e.print();
            return if e.use_stderr() {
                std::process::ExitCode::from(1)
            } else {
                std::process::ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        TopCommand::Client(command) => return runtime.block_on(client::run(command)),
        TopCommand::Server(command) => command,
        TopCommand::Reference(command) => return reference::run(command, Cli::command()),
    };
    match runtime.block_on(run(command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Keys { common, command } => keys(&common, command),
        Command::User { common, command } => user(&common, command).await,
        Command::Audit { common, command } => {
            audit::run(load_config(&common, FlagOverrides::default())?, command).await
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.print_config_example {
        print!("{}", Config::example_toml());
        return Ok(());
    }
    let config = load_config(
        &args.common,
        FlagOverrides {
            listen: args.listen,
            base_url: args.base_url,
            log_format: args.log_format.map(|f| match f {
                LogFormatArg::Pretty => LogFormat::Pretty,
                LogFormatArg::Json => LogFormat::Json,
            }),
            access: args.geoip_db.map(|geoip_db| once_server::config::AccessFlags { geoip_db }),
            ..FlagOverrides::default()
        },
    )?;
    once_server::telemetry::init(config.log_format, &config.log_level);
    let master = MasterKeySource::from_env()?;
    let app = Application::build(config, master).await?;
    app.run_until_stopped().await.context("server failed")
}

fn keys(common: &CommonArgs, command: KeysCommand) -> anyhow::Result<()> {
    let config = load_config(common, FlagOverrides::default())?;
    let path = config.keyring_path();
    let now = SystemClock.now();
    let mut ring = match &command {
        KeysCommand::Generate { .. } => KeyRing::load_or_create(&path, now)?.0,
        _ => KeyRing::load(&path)?,
    };
    match command {
        KeysCommand::List => {
            println!("{:<16} {:<13} CREATED", "ID", "STATE");
            for k in ring.list() {
                println!("{:<16} {:<13} {}", k.id, k.state.as_str(), k.created_at);
            }
            return Ok(());
        }
        KeysCommand::Generate { activate } => {
            let id = ring.generate(now);
            if activate {
                ring.activate(id.as_str())?;
            }
            ring.save(&path)?;
            let state = ring.list().into_iter().find(|k| k.id == id).map(|k| k.state.as_str()).unwrap_or("?");
            println!("{id}");
            eprintln!("generated key {id} ({state}) in {}; restart servers to use it", path.display());
        }
        KeysCommand::Activate { id } => {
            ring.activate(&id)?;
            ring.save(&path)?;
            eprintln!("key {id} is now active; restart servers to use it");
        }
        KeysCommand::Retire { id } => {
            ring.retire(&id)?;
            ring.save(&path)?;
            eprintln!("key {id} is now decrypt-only");
        }
        KeysCommand::Destroy { id, yes } => {
            if !yes {
                bail!(
                    "destroying key {id} makes every secret sealed under it unreadable forever; add --yes to confirm"
                );
            }
            ring.destroy(&id)?;
            ring.save(&path)?;
            eprintln!("key {id} destroyed; restart servers so they drop it from memory");
        }
    }
    Ok(())
}

async fn user(common: &CommonArgs, command: UserCommand) -> anyhow::Result<()> {
    let config = load_config(common, FlagOverrides::default())?;
    let store_url = config.store_url();
    if store_url.starts_with("memory:") {
        bail!("users of a memory:// store live only inside its server process");
    }
    let store = once_server::open_store(&store_url, &config.redis).await?;
    let keys = match MasterKeySource::from_env()? {
        MasterKeySource::Given(k) => KeyRing::from_single_key(k),
        MasterKeySource::KeyRingFile => KeyRing::load_or_create(&config.keyring_path(), SystemClock.now())?.0,
    };
    let keys = keys.with_algorithm(config.crypto.algorithm);
    // What the commands do is recorded in the audit trail, as from the web UI.
    let (sink, appender) =
        once_server::audit::start(store.clone(), &config.audit, &once_server::metrics::Metrics::disabled())
            .map_err(anyhow::Error::msg)?;
    let core = Core::with_audit(store, Arc::new(keys), Arc::new(SystemClock), config.policy(), sink);
    let result = user_command(&core, command).await;
    appender.drain(std::time::Duration::from_secs(10)).await;
    result
}

async fn user_command(core: &Core, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { email, admin } => {
            let role = if admin { once_store::Role::Admin } else { once_store::Role::User };
            let new = core.accounts.add_user(&email, role).await?;
            println!("{}", new.api_key.expose());
            eprintln!(
                "added {} ({}). The line above is their API key: it is shown only now.\n\
                 Use it with HTTP Basic auth: curl -u '{}:KEY' …",
                new.account.email,
                new.account.role.as_str(),
                new.account.email
            );
        }
        UserCommand::Password { email } => {
            let password = read_new_password()?;
            match core.accounts.set_password(&email, password).await {
                Ok(()) => eprintln!("password set for {email}"),
                Err(once_core::CoreError::NotFound) => {
                    bail!("no user {email} (add one with `once user add`)")
                }
                Err(once_core::CoreError::WeakPassword(why)) => bail!("password refused: {why}"),
                Err(e) => return Err(e.into()),
            }
        }
        UserCommand::Disable { email } => {
            let a = core.accounts.set_disabled(&email, true).await?;
            eprintln!("disabled {}; their sessions ended", a.email);
        }
        UserCommand::Enable { email } => {
            let a = core.accounts.set_disabled(&email, false).await?;
            eprintln!("enabled {}", a.email);
        }
        UserCommand::SetRole { email, role } => {
            let role = match role {
                RoleArg::User => once_store::Role::User,
                RoleArg::Admin => once_store::Role::Admin,
            };
            let a = core.accounts.set_role(&email, role).await?;
            eprintln!("{} is now {}", a.email, a.role.as_str());
        }
        UserCommand::Reset2fa { email } => {
            let a = core.accounts.reset_second_factor(&email).await?;
            eprintln!("two-factor sign-in is off for {}", a.email);
        }
        UserCommand::List => {
            println!("{:<40} {:<6} {:<8} {:<4} CREATED", "EMAIL", "ROLE", "STATUS", "2FA");
            for a in core.accounts.users().await? {
                let status = if a.disabled { "disabled" } else { "active" };
                let two_factor =
                    if core.accounts.second_factor_status(&a.id).await?.is_some() { "on" } else { "off" };
                println!(
                    "{:<40} {:<6} {:<8} {:<4} {}",
                    a.email,
                    a.role.as_str(),
                    status,
                    two_factor,
                    a.created_at
                );
            }
        }
    }
    Ok(())
}
