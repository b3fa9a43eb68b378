//! The `file` scenario: one file secret of `--file-size` up (`POST /api/v2/files`) and down (its
//! reveal with `Accept: application/octet-stream`), both streamed, while a thread samples the
//! servers' resident memory every [`SAMPLE_EVERY`]. It answers "how much memory does a server
//! need to pass a big file through", not "how fast": one transfer, no concurrency.
//!
//! Neither side of the generator holds the file: the content comes from [`PseudoRandom`] (bytes
//! that are a function of their position), is sealed piece by piece (`zk::file::seal_reader`) on
//! a thread of its own and fed to the request body through a small channel; the download is
//! opened piece by piece with a `FileOpener` and every piece compared with the same bytes made
//! again. The generator's own RSS stays near one segment per stage whatever the file size.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use once_crypto::zk::FragmentKey;
use once_crypto::zk::file::{self as zk_file, FileMeta, FileOpener, Opened};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::{self, Endpoint};
use crate::procfs::{self, Memory};

/// How often the servers' `/proc/<pid>/status` is read.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// Idle sampling before the upload starts (the idle figure is the last reading of it).
const IDLE_FOR: Duration = Duration::from_millis(500);
/// How long after the download the "after" reading is taken.
const AFTER_FOR: Duration = Duration::from_secs(1);
/// One transfer may take this long (the load runs' `--timeout` is per small request).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);
/// Sealed pieces (256 KiB each) waiting to be sent: enough to keep the connection busy.
const PIECES_IN_FLIGHT: usize = 8;
/// The file's name and type, inside the sealed metadata.
const FILE_NAME: &str = "once-bench.bin";
const FILE_TYPE: &str = "application/octet-stream";
/// The seed of the content; the blob still differs in every run (a new key and nonce prefix).
const CONTENT_SEED: u64 = 0x6f6e_6365_2d62_656e;
/// `secrets.max_file_size` when the server's configuration doesn't set it (docs/CONFIG.md). It
/// counts the file; the sealed blob may be a little larger.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 100 * 1024 * 1024;

/// The length of the blob a file of `file_size` bytes seals to (what the server counts).
pub fn sealed_size(file_size: u64) -> anyhow::Result<u64> {
    let meta = FileMeta::new(FILE_NAME, FILE_TYPE, file_size)?;
    Ok(zk_file::sealed_len(file_size, zk_file::CHUNK_LOG, meta.to_json().len()))
}

/// Bytes that depend only on their position in the stream and the seed: byte `p` is byte
/// `p % 8` (little-endian) of SplitMix64's output for counter `p / 8 + 1`. Reading them again
/// with any read sizes gives the same bytes; `len` of them, then end of file.
pub struct PseudoRandom {
    seed: u64,
    pos: u64,
    len: u64,
}

impl PseudoRandom {
    pub fn new(seed: u64, len: u64) -> Self {
        PseudoRandom { seed, pos: 0, len }
    }

    fn word(&self, index: u64) -> [u8; 8] {
        // SplitMix64 (Steele, Lea, Flood 2014), indexed: its state after `index` steps is
        // seed + index × γ, so any word can be made without the ones before it.
        let mut z = self.seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }
}

impl Read for PseudoRandom {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX).min(buf.len());
        let mut done = 0;
        while done < n {
            let p = self.pos + done as u64;
            let word = self.word(p / 8);
            // `p % 8` is below 8.
            let skip = (p % 8) as usize;
            let take = (8 - skip).min(n - done);
            buf[done..done + take].copy_from_slice(&word[skip..skip + take]);
            done += take;
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A request body fed by a channel, of a length known in advance (sent as `Content-Length`).
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                self.remaining = self.remaining.saturating_sub(bytes.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            // The sender is gone: hyper reports a body shorter than its Content-Length.
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// What the servers' memory did during one round trip; one per instance.
#[derive(Clone, Debug, Default)]
pub struct ServerMemory {
    pub pid: u32,
    /// Just before the upload, after [`IDLE_FOR`] of sampling.
    pub idle: Option<Memory>,
    /// The sample with the highest `VmRSS` during the upload, and during the download (each
    /// counting a reading taken at its end).
    pub peak_upload: Option<Memory>,
    pub peak_download: Option<Memory>,
    /// `VmHWM` read right after the download, and whether it counts from the upload's start
    /// (reset through `clear_refs`) or from the server's start. The kernel updates it lazily
    /// (per-thread counters are batched), so it can be a little below a sampled `VmRSS`.
    pub hwm_kib: Option<f64>,
    pub hwm_reset: bool,
    /// [`AFTER_FOR`] after the download.
    pub after: Option<Memory>,
    /// CPU seconds during the upload and during the download.
    pub cpu_upload_s: Option<f64>,
    pub cpu_download_s: Option<f64>,
}

impl ServerMemory {
    /// The higher of the two phases' sampled peaks.
    pub fn peak(&self) -> Option<Memory> {
        higher(self.peak_upload, self.peak_download)
    }

    /// Sampled peak − idle, MiB.
    pub fn growth_mib(&self) -> Option<f64> {
        Some(self.peak()?.rss_mib() - self.idle?.rss_mib())
    }

    /// `VmHWM` − idle, MiB: the true peak, which a 20 ms sample can miss.
    pub fn hwm_growth_mib(&self) -> Option<f64> {
        Some(self.hwm_kib? / 1024.0 - self.idle?.rss_mib())
    }
}

/// The result of one round trip.
pub struct FileTrip {
    pub file_size: u64,
    pub sealed_size: u64,
    pub upload_instance: usize,
    pub reveal_instance: usize,
    pub upload: Duration,
    pub download: Duration,
    /// Readings of `/proc` taken by the sampler (over every pid).
    pub samples: u64,
    pub servers: Vec<ServerMemory>,
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64().max(1e-9)
}

fn mib(m: Option<Memory>) -> String {
    m.map_or_else(|| "-".into(), |m| format!("{:.1}", m.rss_mib()))
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

impl FileTrip {
    /// The lines for stdout.
    pub fn report(&self) -> String {
        let mut out = format!(
            "file: {} B file sealed to {} B; upload {:.2} s ({:.1} MB/s), download {:.2} s ({:.1} MB/s), \
             content verified\n",
            self.file_size,
            self.sealed_size,
            self.upload.as_secs_f64(),
            mb_per_s(self.sealed_size, self.upload),
            self.download.as_secs_f64(),
            mb_per_s(self.sealed_size, self.download),
        );
        for (i, s) in self.servers.iter().enumerate() {
            let role = match (i == self.upload_instance, i == self.reveal_instance) {
                (true, true) => "upload + reveal",
                (true, false) => "upload",
                (false, true) => "reveal",
                (false, false) => "idle",
            };
            let at_peak = s.peak().map_or_else(String::new, |p| {
                format!(" (anon {:.1} + file {:.1})", p.anon_kib / 1024.0, p.file_kib / 1024.0)
            });
            out.push_str(&format!(
                "  server pid {} ({role}): RSS MiB idle {}, peak {} during upload / {} during download{at_peak}, \
                 VmHWM {} (since {}); peak − idle {} (VmHWM − idle {}); {} s later {}; cpu s {} up / {} down\n",
                s.pid,
                mib(s.idle),
                mib(s.peak_upload),
                mib(s.peak_download),
                opt(s.hwm_kib.map(|k| k / 1024.0), 1),
                if s.hwm_reset { "the upload" } else { "the server's start" },
                opt(s.growth_mib(), 1),
                opt(s.hwm_growth_mib(), 1),
                AFTER_FOR.as_secs(),
                mib(s.after),
                opt(s.cpu_upload_s, 2),
                opt(s.cpu_download_s, 2),
            ));
        }
        out.push_str(&format!("  {} RSS samples, every {} ms", self.samples, SAMPLE_EVERY.as_millis()));
        out
    }

    pub fn to_json(&self) -> Value {
        let mem = |m: Option<Memory>| {
            m.map(|m| {
                json!({
                    "rss_mib": m.rss_kib / 1024.0,
                    "anon_mib": m.anon_kib / 1024.0,
                    "file_mib": m.file_kib / 1024.0,
                })
            })
        };
        json!({
            "scenario": "file",
            "file_size": self.file_size,
            "sealed_size": self.sealed_size,
            "upload_s": self.upload.as_secs_f64(),
            "upload_mb_s": mb_per_s(self.sealed_size, self.upload),
            "download_s": self.download.as_secs_f64(),
            "download_mb_s": mb_per_s(self.sealed_size, self.download),
            "verified": true,
            "upload_instance": self.upload_instance,
            "reveal_instance": self.reveal_instance,
            "samples": self.samples,
            "sample_interval_ms": SAMPLE_EVERY.as_millis(),
            "servers": self.servers.iter().map(|s| json!({
                "pid": s.pid,
                "idle": mem(s.idle),
                "peak_upload": mem(s.peak_upload),
                "peak_download": mem(s.peak_download),
                "peak_rss_mib": s.peak().map(|m| m.rss_mib()),
                "vm_hwm_mib": s.hwm_kib.map(|k| k / 1024.0),
                "vm_hwm_since": if s.hwm_reset { "upload" } else { "start" },
                "growth_mib": s.growth_mib(),
                "hwm_growth_mib": s.hwm_growth_mib(),
                "after": mem(s.after),
                "cpu_upload_s": s.cpu_upload_s,
                "cpu_download_s": s.cpu_download_s,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Where the sampler is; the peaks are kept per phase.
#[derive(Clone, Copy)]
enum Phase {
    Idle = 0,
    Upload = 1,
    Download = 2,
    After = 3,
}

/// What the sampler found: how many readings it took, and per pid the highest reading of each
/// [`Phase`].
type Samples = (u64, Vec<[Option<Memory>; 4]>);

/// Reads every pid's memory every [`SAMPLE_EVERY`] on a thread of its own, so that the
/// generator's work (sealing, opening) never delays a reading.
struct Sampler {
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicUsize>,
    /// `None` once joined.
    thread: Option<JoinHandle<Samples>>,
}

impl Drop for Sampler {
    /// Stops the thread also when a transfer failed (it is then not joined).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Sampler {
    fn start(pids: Vec<u32>) -> anyhow::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(AtomicUsize::new(Phase::Idle as usize));
        let (stop2, phase2) = (stop.clone(), phase.clone());
        let thread = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let mut peaks = vec![[None::<Memory>; 4]; pids.len()];
                let mut samples = 0;
                let mut next = Instant::now();
                while !stop2.load(Ordering::Relaxed) {
                    let phase = phase2.load(Ordering::Relaxed).min(3);
                    for (pid, peaks) in pids.iter().zip(&mut peaks) {
                        if let Some(m) = procfs::memory(*pid) {
                            samples += 1;
                            if peaks[phase].is_none_or(|p| m.rss_kib > p.rss_kib) {
                                peaks[phase] = Some(m);
                            }
                        }
                    }
                    next += SAMPLE_EVERY;
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
                (samples, peaks)
            })
            .context("cannot start the RSS sampler")?;
        Ok(Sampler { stop, phase, thread: Some(thread) })
    }

    fn enter(&self, phase: Phase) {
        self.phase.store(phase as usize, Ordering::Relaxed);
    }

    fn finish(mut self) -> anyhow::Result<Samples> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().ok_or_else(|| anyhow!("the RSS sampler was joined already"))?;
        thread.join().map_err(|_| anyhow!("the RSS sampler panicked"))
    }
}

/// The reading with the higher `VmRSS`.
fn higher(a: Option<Memory>, b: Option<Memory>) -> Option<Memory> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.rss_kib > a.rss_kib { b } else { a }),
        (one, other) => one.or(other),
    }
}

fn cpu_delta(before: &[Option<f64>], pids: &[u32]) -> Vec<Option<f64>> {
    pids.iter().zip(before).map(|(&p, b)| Some(procfs::cpu_seconds(p)? - (*b)?)).collect()
}

/// One round trip: upload through instance 0, reveal through the next one (the same one when
/// there is only one), `pids` in instance order (empty: no memory figures).
pub async fn run(
    endpoints: &[Arc<Endpoint>],
    pids: &[u32],
    file_size: u64,
    ttl: u64,
) -> anyhow::Result<FileTrip> {
    ensure!(!endpoints.is_empty(), "no server to send the file to");
    let (upload_instance, reveal_instance) = (0, 1 % endpoints.len());
    let sealed_size = sealed_size(file_size)?;

    let sampler = Sampler::start(pids.to_vec())?;
    tokio::time::sleep(IDLE_FOR).await;
    let idle: Vec<Option<Memory>> = pids.iter().map(|&p| procfs::memory(p)).collect();
    let hwm_reset: Vec<bool> = pids.iter().map(|&p| procfs::reset_peak(p)).collect();

    let cpu = pids.iter().map(|&p| procfs::cpu_seconds(p)).collect::<Vec<_>>();
    sampler.enter(Phase::Upload);
    let key = FragmentKey::generate();
    let started = Instant::now();
    let uploaded = tokio::time::timeout(
        TRANSFER_TIMEOUT,
        upload(&endpoints[upload_instance], &key, file_size, sealed_size, ttl),
    )
    .await
    .map_err(|_| anyhow!("the upload took longer than {} s", TRANSFER_TIMEOUT.as_secs()))?;
    let upload_time = started.elapsed();
    let cpu_upload = cpu_delta(&cpu, pids);
    // A transfer shorter than a sampling interval may have no sample: one reading at its end.
    let upload_end: Vec<Option<Memory>> = pids.iter().map(|&p| procfs::memory(p)).collect();
    let (secret_key, proof) = uploaded?;

    let cpu = pids.iter().map(|&p| procfs::cpu_seconds(p)).collect::<Vec<_>>();
    sampler.enter(Phase::Download);
    let started = Instant::now();
    tokio::time::timeout(
        TRANSFER_TIMEOUT,
        download(&endpoints[reveal_instance], &secret_key, &proof, &key, file_size, sealed_size),
    )
    .await
    .map_err(|_| anyhow!("the download took longer than {} s", TRANSFER_TIMEOUT.as_secs()))??;
    let download_time = started.elapsed();
    let cpu_download = cpu_delta(&cpu, pids);
    let download_end: Vec<Option<Memory>> = pids.iter().map(|&p| procfs::memory(p)).collect();

    sampler.enter(Phase::After);
    tokio::time::sleep(AFTER_FOR).await;
    let after: Vec<Option<Memory>> = pids.iter().map(|&p| procfs::memory(p)).collect();
    let (samples, peaks) = sampler.finish()?;

    let servers = pids
        .iter()
        .enumerate()
        .map(|(i, &pid)| ServerMemory {
            pid,
            idle: idle[i],
            peak_upload: higher(peaks[i][Phase::Upload as usize], upload_end[i]),
            peak_download: higher(peaks[i][Phase::Download as usize], download_end[i]),
            hwm_kib: download_end[i].map(|m| m.hwm_kib),
            hwm_reset: hwm_reset[i],
            after: after[i],
            cpu_upload_s: cpu_upload[i],
            cpu_download_s: cpu_download[i],
        })
        .collect();
    Ok(FileTrip {
        file_size,
        sealed_size,
        upload_instance,
        reveal_instance,
        upload: upload_time,
        download: download_time,
        samples,
        servers,
    })
}

/// The first 300 bytes of an error answer, for messages.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned()
}

/// `POST /api/v2/files` with the sealed file as the `content` part, streamed; returns the
/// secret's key and the key proof.
async fn upload(
    ep: &Endpoint,
    key: &FragmentKey,
    file_size: u64,
    sealed_size: u64,
    ttl: u64,
) -> anyhow::Result<(String, String)> {
    let meta = FileMeta::new(FILE_NAME, FILE_TYPE, file_size)?;
    let parts = zk_file::seal_reader(key, None, &meta, PseudoRandom::new(CONTENT_SEED, file_size))
        .context("cannot seal the file")?;
    ensure!(parts.sealed_len() == sealed_size, "the sealer's length differs from sealed_len");
    let proof = parts.key_proof().to_base64url();

    let boundary = format!("once-bench-{:016x}", crate::target::random_u64());
    let options = json!({ "key_proof": proof, "ttl": ttl }).to_string();
    let head = Bytes::from(format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"options\"\r\n\
         Content-Type: application/json\r\n\r\n{options}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"blob\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    ));
    let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
    let total = head.len() as u64 + sealed_size + tail.len() as u64;

    // Sealing is CPU work: a thread of its own, `PIECES_IN_FLIGHT` pieces ahead of the socket.
    // It ends once its last piece is taken or the body is dropped (it is not joined: a panic in
    // it cuts the body short of its Content-Length, which fails the request).
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(PIECES_IN_FLIGHT);
    std::thread::Builder::new()
        .name("seal".into())
        .spawn(move || {
            // A send fails only when the request was dropped (an error or timeout reported there).
            if tx.blocking_send(Ok(head)).is_err() {
                return;
            }
            for piece in parts {
                let failed = piece.is_err();
                if tx.blocking_send(piece.map(Bytes::from)).is_err() || failed {
                    return;
                }
            }
            let _ = tx.blocking_send(Ok(tail));
        })
        .context("cannot start the sealing thread")?;

    let mut conn = client::connect_with_body::<ChannelBody>(ep)
        .await
        .with_context(|| format!("cannot connect to {}", ep.url()))?;
    conn.ready().await?;
    let mut req = ep.request(Method::POST, "/api/v2/files");
    if let Some(h) = req.headers_mut() {
        h.insert(CONTENT_TYPE, HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))?);
        h.insert(CONTENT_LENGTH, HeaderValue::from(total));
    }
    let resp = conn
        .send_request(req.body(ChannelBody { rx, remaining: total })?)
        .await
        .context("the upload failed")?;
    let status = resp.status();
    let body = resp.into_body().collect().await.context("the upload's answer broke off")?.to_bytes();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        bail!(
            "the server refused a {sealed_size}-byte blob as too large (HTTP 413): raise its \
             secrets.max_file_size (ONCE_SECRETS__MAX_FILE_SIZE), or use a smaller --file-size: {}",
            excerpt(&body)
        );
    }
    ensure!(status == StatusCode::CREATED, "upload: HTTP {status}: {}", excerpt(&body));
    let created: Value = serde_json::from_slice(&body).context("upload: the answer is not JSON")?;
    let secret_key = created["secret_key"]
        .as_str()
        .ok_or_else(|| anyhow!("upload: no secret_key in {}", excerpt(&body)))?
        .to_owned();
    Ok((secret_key, proof))
}

/// Reveals the file secret and checks what streams back: its length, that it opens under `key`,
/// its metadata, and every byte of its content against the content that was sealed.
async fn download(
    ep: &Endpoint,
    secret_key: &str,
    proof: &str,
    key: &FragmentKey,
    file_size: u64,
    sealed_size: u64,
) -> anyhow::Result<()> {
    let mut conn = client::connect(ep).await.with_context(|| format!("cannot connect to {}", ep.url()))?;
    conn.ready().await?;
    let mut req = ep.request(Method::POST, &format!("/api/v2/secrets/{secret_key}/reveal"));
    if let Some(h) = req.headers_mut() {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(ACCEPT, HeaderValue::from_static("application/octet-stream"));
    }
    let body = json!({ "key_proof": proof }).to_string();
    let resp =
        conn.send_request(req.body(Full::new(Bytes::from(body)))?).await.context("the reveal failed")?;
    let status = resp.status();
    if status != StatusCode::OK {
        let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        bail!("reveal: HTTP {status}: {}", excerpt(&body));
    }
    let length = resp.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    ensure!(length == Some(sealed_size), "reveal: Content-Length {length:?}, expected {sealed_size}");

    let mut opener = FileOpener::new(key, None);
    let mut expected = PseudoRandom::new(CONTENT_SEED, file_size);
    let mut want = Vec::new();
    let (mut received, mut content, mut meta_seen) = (0u64, 0u64, false);
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.context("the download broke off")?.into_data() else { continue };
        received += data.len() as u64;
        for opened in opener.push(&data).map_err(|e| anyhow!("the download does not open: {e}"))? {
            match opened {
                Opened::Meta(meta) => {
                    ensure!(
                        meta.name() == FILE_NAME
                            && meta.content_type() == FILE_TYPE
                            && meta.size() == file_size,
                        "the download's metadata differs from what was sealed"
                    );
                    meta_seen = true;
                }
                Opened::Data(piece) => {
                    want.resize(piece.len(), 0);
                    expected.read_exact(&mut want).context("the download has more content than was sent")?;
                    ensure!(piece[..] == want[..], "the download's content differs at byte {content}");
                    content += piece.len() as u64;
                }
            }
        }
    }
    ensure!(received == sealed_size, "the download was {received} bytes, expected {sealed_size}");
    opener.finish().map_err(|e| anyhow!("the download is incomplete: {e}"))?;
    ensure!(
        meta_seen && content == file_size,
        "the download had {content} bytes of content, expected {file_size}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_random_bytes_depend_on_position_only() {
        let mut whole = vec![0u8; 1000];
        PseudoRandom::new(7, 1000).read_exact(&mut whole).unwrap_or_else(|e| panic!("{e}"));
        // Odd read sizes give the same stream.
        let mut r = PseudoRandom::new(7, 1000);
        let mut pieces = Vec::new();
        for size in [1, 3, 8, 13, 200, 775] {
            let mut buf = vec![0u8; size];
            r.read_exact(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            pieces.extend(buf);
        }
        assert_eq!(pieces, whole);
        // Exactly `len` bytes, then end of file.
        assert_eq!(r.read(&mut [0u8; 4]).ok(), Some(0));
        // Not one byte repeated, and another seed gives other bytes.
        assert!(whole.windows(2).any(|w| w[0] != w[1]));
        let mut other = vec![0u8; 1000];
        PseudoRandom::new(8, 1000).read_exact(&mut other).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(other, whole);
    }

    #[test]
    fn a_sealed_stream_opens_and_matches() -> anyhow::Result<()> {
        // Three segments and a short one, as the download check reads them.
        let size = 3 * 256 * 1024 + 1234;
        let key = FragmentKey::generate();
        let meta = FileMeta::new(FILE_NAME, FILE_TYPE, size)?;
        let parts = zk_file::seal_reader(&key, None, &meta, PseudoRandom::new(CONTENT_SEED, size))?;
        assert_eq!(parts.sealed_len(), sealed_size(size)?);
        let mut opener = FileOpener::new(&key, None);
        let mut content = Vec::new();
        for piece in parts {
            for opened in opener.push(&piece?)? {
                if let Opened::Data(d) = opened {
                    content.extend_from_slice(&d);
                }
            }
        }
        opener.finish()?;
        let mut expected = vec![0u8; content.len()];
        PseudoRandom::new(CONTENT_SEED, size).read_exact(&mut expected)?;
        assert_eq!(content.len() as u64, size);
        assert_eq!(content, expected);
        Ok(())
    }

    #[test]
    fn a_100_mib_file_fits_the_servers_default_allowance() -> anyhow::Result<()> {
        // 400 segments × 16-byte tags, plus the header and the sealed metadata.
        let sealed = sealed_size(100 * 1024 * 1024)?;
        assert!(sealed > DEFAULT_MAX_FILE_SIZE);
        assert!(sealed - DEFAULT_MAX_FILE_SIZE < 8 * 1024, "{sealed}");
        assert!(sealed <= once_core::sealed_allowance(DEFAULT_MAX_FILE_SIZE));
        Ok(())
    }
}
