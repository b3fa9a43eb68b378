//! Reading secrets and passphrases: from standard input, a file or a hidden prompt on the
//! terminal, never from arguments. Every buffer that holds one is wiped when dropped, including
//! the ones left behind as a buffer grows.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use zeroize::Zeroizing;

use super::config::first_line_of;
use super::exit::Failure;

/// The most a secret read from standard input may hold; the server's own limit is far lower.
const MAX_SECRET_BYTES: usize = 64 << 20;
/// The most the links read from standard input may hold (`once combine -`).
const MAX_LINKS_BYTES: usize = 1 << 20;

/// How many times the prompt asks: twice when a typo would lock the recipient out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Once,
    Twice,
}

/// Whether standard input is free for a passphrase, or already holds the secret or the link.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stdin {
    Free,
    Taken,
}

/// Where a passphrase comes from (shared by `share` and `get`).
#[derive(clap::Args)]
pub struct PassphraseArgs {
    /// Ask for a passphrase on the terminal, hidden (asked twice when sharing).
    #[arg(long, conflicts_with = "passphrase_file")]
    pub passphrase_prompt: bool,
    /// Read the passphrase from the first line of this file (`-`: standard input).
    #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    pub passphrase_file: Option<PathBuf>,
}

impl PassphraseArgs {
    pub fn given(&self) -> bool {
        self.passphrase_prompt || self.passphrase_file.is_some()
    }

    /// The passphrase the flags ask for, if any.
    pub fn read(&self, confirm: Confirm, stdin: Stdin) -> Result<Option<Zeroizing<String>>, Failure> {
        if let Some(path) = &self.passphrase_file {
            if stdin == Stdin::Taken && path.as_os_str() == "-" {
                return Err(Failure::usage(
                    "standard input already holds the secret (or link): give --passphrase-file a file",
                ));
            }
            return first_line_of(path, "passphrase").map(Some);
        }
        if self.passphrase_prompt {
            return prompt_passphrase(confirm).map(Some);
        }
        Ok(None)
    }
}

/// A passphrase from a hidden prompt on the terminal.
pub fn prompt_passphrase(confirm: Confirm) -> Result<Zeroizing<String>, Failure> {
    let first = prompt("Passphrase: ")?;
    if first.is_empty() {
        return Err(Failure::usage("empty passphrase"));
    }
    if confirm == Confirm::Twice && prompt("Passphrase again: ")? != first {
        return Err(Failure::usage("the two passphrases differ"));
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<Zeroizing<String>, Failure> {
    rpassword::prompt_password(text).map(Zeroizing::new).map_err(|e| {
        Failure::usage(format!("cannot prompt on the terminal: {e}"))
            .with_hint("use --passphrase-file PATH when there is no terminal")
    })
}

/// The secret: standard input when it is not a terminal (one trailing newline dropped unless
/// `keep_newline`), else one line from a hidden prompt. Refuses an empty secret.
pub fn read_secret(keep_newline: bool) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let secret = if std::io::stdin().is_terminal() {
        eprintln!("Reading the secret from a hidden prompt (one line; pipe longer text in: … | once share).");
        let line = prompt("Secret: ")?;
        Zeroizing::new(line.as_bytes().to_vec())
    } else {
        let mut bytes = read_all(std::io::stdin().lock(), MAX_SECRET_BYTES, "the secret")?;
        if !keep_newline {
            strip_one_newline(&mut bytes);
        }
        bytes
    };
    if secret.iter().all(u8::is_ascii_whitespace) {
        return Err(
            Failure::usage("the secret is empty").with_hint("pipe it in: pass show db/prod | once share")
        );
    }
    Ok(secret)
}

/// Reads everything, growing the buffer by copying into a fresh one, so no copy of the secret
/// is left behind in freed memory.
fn read_all(mut reader: impl Read, limit: usize, what: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut buf = Zeroizing::new(vec![0u8; 8 << 10]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            if buf.len() >= limit {
                return Err(Failure::usage(format!("{what} is larger than {} MiB", limit >> 20)));
            }
            let mut bigger = Zeroizing::new(vec![0u8; (buf.len() * 2).min(limit)]);
            bigger[..len].copy_from_slice(&buf[..len]);
            buf = bigger;
        }
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::usage(format!("cannot read standard input: {e}"))),
        }
    }
    // `truncate` keeps the capacity, which `Zeroizing` wipes whole on drop.
    buf.truncate(len);
    Ok(buf)
}

/// Drops one trailing `\n` or `\r\n`, as `echo` and `pass show` add.
fn strip_one_newline(bytes: &mut Vec<u8>) {
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
}

/// The link from the first line of standard input (for `once get -`, which keeps it out of
/// `ps`).
pub fn link_from_stdin() -> Result<Zeroizing<String>, Failure> {
    first_line_of(std::path::Path::new("-"), "link")
}

/// Links from standard input, one a line, blank lines skipped (for `once combine -`).
pub fn links_from_stdin() -> Result<Vec<Zeroizing<String>>, Failure> {
    let bytes = read_all(std::io::stdin().lock(), MAX_LINKS_BYTES, "standard input")?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Failure::usage("standard input is not text"))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| Zeroizing::new(l.to_owned())).collect())
}

/// The passphrase for a secret that `required` one: from the flags, else a prompt on the
/// terminal; without either, an error before anything is revealed. A passphrase given for a
/// secret without one is pointed out and left unused.
pub fn passphrase_if_required(
    args: &PassphraseArgs,
    required: bool,
    stdin: Stdin,
) -> Result<Option<Zeroizing<String>>, Failure> {
    if !required {
        if args.given() {
            eprintln!("note: this secret has no passphrase; not using the one given");
        }
        return Ok(None);
    }
    match args.read(Confirm::Once, stdin)? {
        Some(p) => Ok(Some(p)),
        None if std::io::stdin().is_terminal() => prompt_passphrase(Confirm::Once).map(Some),
        None => Err(Failure::usage("this secret needs a passphrase")
            .with_hint("pass --passphrase-file PATH, or --passphrase-prompt on a terminal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_newline_is_stripped() {
        for (input, output) in [
            (&b"s3cr3t\n"[..], &b"s3cr3t"[..]),
            (b"s3cr3t\r\n", b"s3cr3t"),
            (b"s3cr3t\n\n", b"s3cr3t\n"),
            (b"s3cr3t", b"s3cr3t"),
            (b"a\nb\n", b"a\nb"),
            (b"\n", b""),
        ] {
            let mut v = input.to_vec();
            strip_one_newline(&mut v);
            assert_eq!(v, output, "{input:?}");
        }
    }

    #[test]
    fn read_all_grows_and_stops_at_the_limit() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(&read_all(&data[..], 1 << 20, "x").expect("read")[..], &data[..]);
        assert!(read_all(&data[..], 16 << 10, "x").is_err());
        assert!(read_all(&b""[..], 1 << 20, "x").expect("read").is_empty());
    }
}
