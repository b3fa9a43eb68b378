//! File secrets from the command line: `once share FILE` seals the file here in segments and
//! streams it up; `once get LINK` streams a file secret down, opening it segment by segment into
//! a temporary file that takes the file's name only once the whole file checked out.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use once_api::v2::{CreateSecret, Created};
use once_client::Client;
use once_crypto::zk::FragmentKey;
use once_crypto::zk::file::{FileMeta, FileOpener, Opened, base_name, seal_reader};
use zeroize::Zeroizing;

use super::exit::{Exit, Failure};

/// Transfers shorter than this get no progress bar.
const QUIET_FOR: Duration = Duration::from_secs(1);

/// A progress bar on standard error that shows itself only once a transfer has taken a second,
/// and only on a terminal.
pub(super) struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
    terminal: bool,
}

impl Progress {
    pub(super) fn new(len: u64, verb: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        let template =
            format!("{verb} {{bytes}} / {{total_bytes}} {{wide_bar}} {{binary_bytes_per_sec}} {{eta}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        Progress { bar, started: Instant::now(), shown: false, terminal: std::io::stderr().is_terminal() }
    }

    pub(super) fn advance(&mut self, n: u64) {
        self.bar.inc(n);
        if !self.shown && self.terminal && self.started.elapsed() >= QUIET_FOR {
            self.shown = true;
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    pub(super) fn done(self) {
        if self.shown {
            self.bar.finish_and_clear();
        }
    }
}

/// The file's metadata as sealed: its base name, `content_type`, and size now.
pub(super) fn meta_of(path: &Path, content_type: &str) -> Result<(FileMeta, std::fs::File), Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let info = file.metadata().map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    if !info.is_file() {
        return Err(Failure::usage(format!("{} is not a file", path.display())));
    }
    let name = base_name(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let meta = FileMeta::new(name, content_type, info.len())
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    Ok((meta, file))
}

/// Seals `file` and uploads it as a file secret; the link's fragment key comes back with the
/// answer.
pub(super) async fn upload(
    client: &Client,
    mut options: CreateSecret,
    meta: FileMeta,
    file: std::fs::File,
    passphrase: Option<Zeroizing<String>>,
) -> Result<(Created, Zeroizing<String>), Failure> {
    let key = FragmentKey::generate();
    let fragment = key.to_fragment();
    // PBKDF2 (with a passphrase) and reading the file happen on a blocking thread, which hands
    // the sealed pieces over a small queue to the request body as it is sent.
    let (proof_tx, proof_rx) = tokio::sync::oneshot::channel();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let size = meta.size();
    let sealer = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::with_capacity(256 * 1024, file);
        let parts = match seal_reader(&key, passphrase.as_deref().map(String::as_str), &meta, reader) {
            Ok(parts) => parts,
            Err(e) => {
                let _ = proof_tx.send(Err(e));
                return;
            }
        };
        let _ = proof_tx.send(Ok((parts.key_proof().to_base64url(), parts.sealed_len())));
        for piece in parts {
            if tx.blocking_send(piece).is_err() {
                return;
            }
        }
    });
    let (proof, sealed_len) = proof_rx
        .await
        .map_err(|_| Failure::usage("encryption failed"))?
        .map_err(|e| Failure::usage(format!("encryption failed: {e}")))?;
    options.key_proof = Some(proof);
    let mut progress = Progress::new(sealed_len, "uploading");
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|piece| {
            piece.inspect(|p| {
                if let Ok(bytes) = p {
                    let _ = seen_tx.send(bytes.len() as u64);
                }
            })
        })
    });
    let body = reqwest::Body::wrap_stream(stream);
    let v2 = client.v2();
    let upload = v2.upload_file(&options, body, sealed_len);
    tokio::pin!(upload);
    let created = loop {
        tokio::select! {
            result = &mut upload => break result,
            Some(n) = seen_rx.recv() => progress.advance(n),
        }
    };
    progress.done();
    let _ = sealer.await;
    let created = created.map_err(|e| {
        super::share::create_failed(
            e,
            client.base(),
            "API v2 file secrets",
            "is the server a Once server with file secrets on?",
        )
    })?;
    if size == 0 {
        eprintln!("note: the file is empty");
    }
    Ok((created, fragment))
}

/// Where a downloaded file goes.
pub(super) enum Destination {
    /// Standard output, as it is opened (a failure midway leaves what was written).
    Stdout,
    /// This path, or the sender's file name in the current directory (`None`).
    Path(Option<PathBuf>),
}

/// Reads a revealed file secret (the answer to `reveal_file`) and writes it out; returns where
/// it went and the views left.
pub(super) async fn download(
    mut resp: reqwest::Response,
    fragment: &str,
    passphrase: Option<&str>,
    destination: &Destination,
    force: bool,
) -> Result<(String, u32), Failure> {
    let key = FragmentKey::from_fragment(fragment)
        .map_err(|_| Failure::usage("the key after # in the link is damaged"))?;
    let views_left = resp
        .headers()
        .get("once-views-left")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let len = resp.content_length().unwrap_or(0);
    let mut progress = Progress::new(len, "downloading");
    let mut opener = FileOpener::new(&key, passphrase);
    let mut out: Option<Output> = None;
    let damaged = || Failure::gone(super::get::DAMAGED_FILE);
    loop {
        let piece = match resp.chunk().await {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(e) => {
                discard(out);
                return Err(Failure::new(
                    Exit::Unavailable,
                    format!(
                        "the download broke off ({}); the view is used up",
                        once_client::ClientError::from(e)
                    ),
                ));
            }
        };
        progress.advance(piece.len() as u64);
        let opened = match opener.push(&piece) {
            Ok(o) => o,
            Err(_) => {
                discard(out);
                return Err(damaged());
            }
        };
        for o in opened {
            match o {
                Opened::Meta(meta) => out = Some(Output::open(destination, &meta, force)?),
                Opened::Data(bytes) => {
                    let Some(o) = out.as_mut() else { return Err(damaged()) };
                    if let Err(e) = o.write(&bytes) {
                        discard(out);
                        return Err(e);
                    }
                }
            }
        }
    }
    progress.done();
    if opener.finish().is_err() {
        discard(out);
        return Err(damaged());
    }
    let Some(out) = out else { return Err(damaged()) };
    Ok((out.commit()?, views_left))
}

/// An open destination: standard output, or a temporary file beside the final one.
enum Output {
    Stdout(std::io::StdoutLock<'static>),
    File { temp: PathBuf, target: PathBuf, file: std::io::BufWriter<std::fs::File> },
}

impl Output {
    fn open(destination: &Destination, meta: &FileMeta, force: bool) -> Result<Output, Failure> {
        let target = match destination {
            Destination::Stdout => return Ok(Output::Stdout(std::io::stdout().lock())),
            // Checked before the reveal (`ensure_free`); a file that appeared since is replaced
            // only with --force.
            Destination::Path(Some(p)) if !force && p.exists() => {
                return Err(Failure::usage(format!(
                    "{} appeared meanwhile: nothing was written",
                    p.display()
                )));
            }
            Destination::Path(Some(p)) => p.clone(),
            // The name is the sender's, reduced to a base name by the format's rules (no
            // directories, no `..`): it lands in the current directory, beside (never over) a
            // file of that name unless --force.
            Destination::Path(None) if force => PathBuf::from(meta.name()),
            Destination::Path(None) => free_name(meta.name())?,
        };
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = target.with_file_name(format!(".{name}.once-part"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", temp.display())))?;
        Ok(Output::File { temp, target, file: std::io::BufWriter::new(file) })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let result = match self {
            Output::Stdout(out) => out.write_all(bytes),
            Output::File { file, .. } => file.write_all(bytes),
        };
        result.map_err(|e| Failure::usage(format!("cannot write the file: {e}")))
    }

    /// The whole file checked out: give it its name. Returns where it is.
    fn commit(self) -> Result<String, Failure> {
        match self {
            Output::Stdout(mut out) => {
                out.flush().map_err(|e| Failure::usage(format!("cannot write to standard output: {e}")))?;
                Ok("standard output".into())
            }
            Output::File { temp, target, file } => {
                let file =
                    file.into_inner().map_err(|e| Failure::usage(format!("cannot write the file: {e}")))?;
                file.sync_all().map_err(|e| Failure::usage(format!("cannot write the file: {e}")))?;
                std::fs::rename(&temp, &target)
                    .map_err(|e| Failure::usage(format!("cannot rename {}: {e}", temp.display())))?;
                Ok(target.display().to_string())
            }
        }
    }
}

/// Fails (before anything is revealed) when `--output PATH` names an existing file and
/// `--force` is not given.
pub(super) fn ensure_free(destination: &Destination, force: bool) -> Result<(), Failure> {
    match destination {
        Destination::Path(Some(p)) if !force && p.exists() => {
            Err(Failure::usage(format!("{} exists: nothing was revealed", p.display()))
                .with_hint("give another --output PATH, or --force to replace it"))
        }
        _ => Ok(()),
    }
}

/// `name`, or `stem (2).ext`, `stem (3).ext`, … : the first that does not exist.
fn free_name(name: &str) -> Result<PathBuf, Failure> {
    let first = PathBuf::from(name);
    if !first.exists() {
        return Ok(first);
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    (2..1000).map(|n| PathBuf::from(format!("{stem} ({n}){ext}"))).find(|p| !p.exists()).ok_or_else(|| {
        Failure::usage(format!("{name} and a thousand numbered copies exist: give --output PATH"))
    })
}

/// Removes a temporary file that did not check out.
fn discard(out: Option<Output>) {
    if let Some(Output::File { temp, file, .. }) = out {
        drop(file);
        let _ = std::fs::remove_file(temp);
    }
}
