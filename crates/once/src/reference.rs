//! `once completions SHELL` and `once man`: shell completion scripts and man pages, generated
//! from the command definitions so they never drift from `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ReferenceCommand {
    /// Print a shell completion script to standard output.
    #[command(after_help = "Examples:\n  \
        once completions bash > ~/.local/share/bash-completion/completions/once\n  \
        once completions zsh > ~/.zfunc/_once      # with fpath+=~/.zfunc before compinit\n  \
        once completions fish > ~/.config/fish/completions/once.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output, or write one page per command to a directory.
    #[command(after_help = "Examples:\n  once man | man -l -\n  once man --dir /usr/local/share/man/man1")]
    Man {
        /// Write once.1, once-share.1, … into this directory instead.
        #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
}

/// Runs `command` for the whole command line interface `cli`.
pub fn run(command: ReferenceCommand, mut cli: clap::Command) -> ExitCode {
    let result = match command {
        ReferenceCommand::Completions { shell } => {
            let name = cli.get_name().to_owned();
            clap_complete::generate(shell, &mut cli, name, &mut std::io::stdout());
            Ok(())
        }
        ReferenceCommand::Man { dir: None } => clap_mangen::Man::new(cli).render(&mut std::io::stdout()),
        ReferenceCommand::Man { dir: Some(dir) } => {
            std::fs::create_dir_all(&dir).and_then(|()| clap_mangen::generate_to(cli, &dir)).map(|()| {
                eprintln!("wrote the man pages to {}", dir.display());
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
