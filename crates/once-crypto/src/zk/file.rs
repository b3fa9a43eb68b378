//! Zero-knowledge *files*: a file is encrypted on the client in chunks and streamed to the server,
//! so neither side holds a whole file in memory, and the server stores bytes it cannot read.
//!
//! The browser (`crates/once-server/assets/js/zk.js`, `sealFile` / `openFile`) and this module
//! produce and open the exact same bytes; both are pinned by the `file_vectors` in
//! `crates/once-crypto/tests/zk-vectors.json`.
//!
//! # File format v1
//!
//! ```text
//! K, passphrase → enc_key, proof_key, key_proof exactly as zk format v1 (same HKDF/PBKDF2 labels and
//!                 rules, see the parent module): one link key guards text and files alike, and the
//!                 server checks the same key proof.
//! header     = 0x02 (version: file stream) ‖ flags (bit0 = passphrase used; unknown bits rejected)
//!              ‖ chunk_log (1 byte; chunk_size = 2^chunk_log; writers use 18 = 256 KiB;
//!                readers accept 12..=22)
//!              ‖ nonce_prefix (7 random bytes)                                        → 10 bytes
//! nonce_i    = nonce_prefix ‖ i as u32 big-endian ‖ last (0x00, or 0x01 on the final segment) → 12 bytes
//! aad        = "once/zk/file/v1" ‖ header
//! segment 0  = the metadata, UTF-8 JSON {"name": N, "type": T, "size": S} (keys in that order, no
//!              spaces, escaped as JSON.stringify and serde_json both do);
//!                name: a base name, 1..=255 bytes, no '/', '\', control characters (Unicode Cc,
//!                      which includes NUL), and not "." or "..";
//!                type: a MIME type or "" (≤ 127 bytes, printable ASCII);
//!                size: the file's byte length, an integer ≤ 2^53 - 1
//!              sealed alone: meta_len (u32 BE, the ciphertext length incl. tag, ≤ 65536)
//!                            ‖ AES-256-GCM(enc_key, nonce_0, json, aad)
//! segment i  = (i ≥ 1) the content in chunk_size pieces, AES-256-GCM(enc_key, nonce_i, piece, aad)
//!              (piece ‖ 16-byte tag); every piece is chunk_size bytes except the last, which is
//!              1..=chunk_size bytes. The final segment (segment 0 itself when size = 0) has
//!              last = 0x01 in its nonce; nothing follows it.
//! blob       = header ‖ meta_len ‖ segment 0 ‖ segment 1 ‖ …
//! ```
//!
//! * This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): each segment's
//!   nonce binds its position and whether it is the last, and the header (with the chunk size and
//!   the passphrase flag) is in every segment's AAD. Segments can't be reordered, dropped, repeated,
//!   moved to another blob or resized; cutting the blob at a segment boundary is caught because
//!   the last segment read doesn't have the final flag, and bytes after the final segment are
//!   refused.
//! * The reader learns from the decrypted `size` how many segments follow and which is last. The
//!   metadata segment is tried first as "not last" and then as "last"; the flag must agree with
//!   `size` (last exactly when `size` is 0).
//! * The JSON is canonical: a reader re-serialises what it parsed and refuses anything that is not
//!   byte-for-byte that (other key orders, spaces, escapes, duplicate or extra keys, `1e3`).
//! * The nonce prefix is random per blob and the enc_key is derived from a fresh K per secret, so a
//!   (key, nonce) pair never repeats; the 32-bit index limits a blob to 2^32 - 1 content segments
//!   (16 TiB at the smallest chunk size), well above any size we accept.
//! * `meta_len` itself isn't authenticated, but a wrong one moves every boundary after it and the
//!   tags fail.
//!
//! Opening refuses with one neutral [`ZkError::Failed`]: a wrong key or passphrase, any changed
//! bit, truncation, extra bytes, moved boundaries, bad metadata, an out-of-range `chunk_log` or
//! `meta_len`. The only other answer is [`ZkError::UnsupportedVersion`] when the first byte is not
//! 0x02 (e.g. a text blob), which says nothing about the key.
//!
//! Content handed out by [`FileOpener::push`] is authentic piece by piece, but the file is complete
//! only once [`FileOpener::finish`] returns `Ok`: write to a temporary file and keep it only then.

use std::io::{self, Read};

use aes_gcm::Nonce;
use aes_gcm::aead::{Aead, AeadInPlace, Payload};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{FLAG_PASSPHRASE, FragmentKey, KEY_LEN, KNOWN_FLAGS, KeyProof, NONCE_LEN, TAG_LEN, ZkError};

/// The first byte of every file blob (text blobs start with 0x01).
pub const VERSION: u8 = 2;
/// version ‖ flags ‖ chunk_log ‖ nonce_prefix: what [`needs_passphrase`] reads.
pub const HEADER_LEN: usize = 3 + NONCE_PREFIX_LEN;
/// The chunk size writers use: 2^18 = 256 KiB.
pub const CHUNK_LOG: u8 = 18;
/// The smallest chunk size readers accept: 2^12 = 4 KiB.
pub const MIN_CHUNK_LOG: u8 = 12;
/// The largest chunk size readers accept: 2^22 = 4 MiB.
pub const MAX_CHUNK_LOG: u8 = 22;
/// The largest sealed metadata segment (ciphertext and tag) readers accept.
pub const MAX_META_LEN: u32 = 65_536;
/// The largest file size: 2^53 - 1, the largest integer JavaScript numbers hold exactly.
pub const MAX_SIZE: u64 = (1 << 53) - 1;
/// The longest file name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 255;
/// The longest content type, in bytes.
pub const MAX_TYPE_LEN: usize = 127;

const NONCE_PREFIX_LEN: usize = 7;
const META_LEN_LEN: usize = 4;
const AAD_LABEL: &[u8] = b"once/zk/file/v1";
const AAD_LEN: usize = AAD_LABEL.len() + HEADER_LEN;
/// What a name that sanitises to nothing becomes.
const FALLBACK_NAME: &str = "file";
/// [`base_name`] keeps an extension of up to this many bytes (with its dot) when it shortens a name.
const MAX_KEPT_EXTENSION: usize = 16;

/// Why file metadata was refused when building it (opening says only [`ZkError::Failed`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum FileMetaError {
    #[error(
        "a file name must be 1 to 255 bytes, without '/', '\\' or control characters, and not '.' or '..'"
    )]
    Name,
    #[error("a content type must be at most 127 printable ASCII characters")]
    ContentType,
    #[error("a file can be at most 2^53 - 1 bytes")]
    TooLarge,
}

/// A file's name, content type and size: the first, separately sealed segment of a file blob.
/// Valid by construction ([`FileMeta::new`]); wiped on drop, and its `Debug` shows only the size
/// (the name and type are part of the secret).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct FileMeta {
    name: String,
    content_type: String,
    size: u64,
}

/// The wire form; field order is the JSON key order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaWire<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    content_type: std::borrow::Cow<'a, str>,
    size: u64,
}

impl FileMeta {
    /// Checks the format's rules: `name` a base name (see [`base_name`] to make one from any path),
    /// `content_type` a MIME type or `""`, `size` at most [`MAX_SIZE`].
    pub fn new(
        name: impl Into<String>,
        content_type: impl Into<String>,
        size: u64,
    ) -> Result<FileMeta, FileMetaError> {
        let meta = FileMeta { name: name.into(), content_type: content_type.into(), size };
        if !name_is_valid(&meta.name) {
            return Err(FileMetaError::Name);
        }
        if !content_type_is_valid(&meta.content_type) {
            return Err(FileMetaError::ContentType);
        }
        if meta.size > MAX_SIZE {
            return Err(FileMetaError::TooLarge);
        }
        Ok(meta)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The MIME type, or `""` for unknown.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The content's length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The canonical JSON that segment 0 seals: `{"name":…,"type":…,"size":…}`.
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let wire = MetaWire {
            name: self.name.as_str().into(),
            content_type: self.content_type.as_str().into(),
            size: self.size,
        };
        // Two strings and an integer: serialising into a Vec can't fail.
        Zeroizing::new(serde_json::to_vec(&wire).unwrap_or_else(|_| unreachable!("plain JSON")))
    }

    /// Parses and checks decrypted metadata; anything but the canonical form is refused.
    fn from_json(json: &[u8]) -> Option<FileMeta> {
        let wire: MetaWire<'_> = serde_json::from_slice(json).ok()?;
        let meta = FileMeta::new(wire.name.into_owned(), wire.content_type.into_owned(), wire.size).ok()?;
        (meta.to_json().as_slice() == json).then_some(meta)
    }
}

impl std::fmt::Debug for FileMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMeta")
            .field("name", &format_args!("[redacted]"))
            .field("content_type", &format_args!("[redacted]"))
            .field("size", &self.size)
            .finish()
    }
}

fn name_is_valid(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

fn content_type_is_valid(content_type: &str) -> bool {
    content_type.len() <= MAX_TYPE_LEN && content_type.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// A valid file name made from any path or name (as typed, or `Path::to_string_lossy`): the last
/// non-empty component after `/` or `\`, control characters replaced by `_`, `"file"` for an empty
/// result or `.`/`..`, shortened to 255 bytes (keeping an extension of up to 16 bytes). `zk.js`'s
/// `fileBaseName` does the same.
pub fn base_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).find(|part| !part.is_empty()).unwrap_or("");
    let cleaned: String = last.chars().map(|c| if c.is_control() { '_' } else { c }).collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return FALLBACK_NAME.to_owned();
    }
    if cleaned.len() <= MAX_NAME_LEN {
        return cleaned;
    }
    let (stem, extension) = match cleaned.rfind('.') {
        Some(dot) if dot > 0 && cleaned.len() - dot <= MAX_KEPT_EXTENSION => cleaned.split_at(dot),
        _ => (cleaned.as_str(), ""),
    };
    let mut end = MAX_NAME_LEN - extension.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{extension}", &stem[..end])
}

/// Whether opening the file blob that starts with `head` (at least [`HEADER_LEN`] bytes) needs a
/// passphrase. The flag is authenticated, so a lie here only makes opening fail. `Malformed` for a
/// short head, unknown flags or an out-of-range chunk size; `UnsupportedVersion` for anything but a
/// file blob (text blobs: [`super::blob_needs_passphrase`]).
pub fn needs_passphrase(head: &[u8]) -> Result<bool, ZkError> {
    Ok(parse_header(head)?[1] & FLAG_PASSPHRASE != 0)
}

fn parse_header(head: &[u8]) -> Result<[u8; HEADER_LEN], ZkError> {
    match head.first() {
        None => return Err(ZkError::Malformed),
        Some(&VERSION) => {}
        Some(_) => return Err(ZkError::UnsupportedVersion),
    }
    let header: [u8; HEADER_LEN] =
        head.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(ZkError::Malformed)?;
    if header[1] & !KNOWN_FLAGS != 0 || !(MIN_CHUNK_LOG..=MAX_CHUNK_LOG).contains(&header[2]) {
        return Err(ZkError::Malformed);
    }
    Ok(header)
}

/// The exact length of a blob holding `size` bytes in chunks of 2^`chunk_log`, whose metadata JSON
/// ([`FileMeta::to_json`]) is `meta_json_len` bytes: for a `Content-Length` and progress bars.
pub fn sealed_len(size: u64, chunk_log: u8, meta_json_len: usize) -> u64 {
    let chunk = 1u64.checked_shl(chunk_log.into()).unwrap_or(u64::MAX);
    let segments = size.div_ceil(chunk);
    let fixed = (HEADER_LEN + META_LEN_LEN + TAG_LEN) as u64;
    fixed
        .saturating_add(meta_json_len as u64)
        .saturating_add(size)
        .saturating_add(segments.saturating_mul(TAG_LEN as u64))
}

/// The number of content segments, if it fits the nonce's 32-bit index.
fn content_segments(size: u64, chunk_log: u8) -> Option<u32> {
    u32::try_from(size.div_ceil(1u64 << chunk_log)).ok()
}

/// What the header, the AAD and every nonce of one blob share.
struct Layout {
    header: [u8; HEADER_LEN],
    aad: [u8; AAD_LEN],
}

impl Layout {
    fn new(header: [u8; HEADER_LEN]) -> Layout {
        let mut aad = [0u8; AAD_LEN];
        aad[..AAD_LABEL.len()].copy_from_slice(AAD_LABEL);
        aad[AAD_LABEL.len()..].copy_from_slice(&header);
        Layout { header, aad }
    }

    fn chunk_len(&self) -> u64 {
        1u64 << self.header[2]
    }

    fn nonce(&self, index: u32, last: bool) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.header[3..]);
        nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&index.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        nonce
    }

    /// Seals one segment into a new buffer (`plaintext ‖ tag`).
    fn seal(
        &self,
        enc_key: &[u8; KEY_LEN],
        index: u32,
        last: bool,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ZkError> {
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        super::cipher(enc_key)
            .encrypt_in_place(Nonce::from_slice(&self.nonce(index, last)), &self.aad, &mut out)
            // AES-GCM refuses only plaintexts over 64 GiB; our segments are at most 4 MiB.
            .map_err(|_| ZkError::Malformed)?;
        Ok(out)
    }

    fn open(
        &self,
        enc_key: &[u8; KEY_LEN],
        index: u32,
        last: bool,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ZkError> {
        super::cipher(enc_key)
            .decrypt(Nonce::from_slice(&self.nonce(index, last)), Payload { msg: ciphertext, aad: &self.aad })
            .map(Zeroizing::new)
            .map_err(|_| ZkError::Failed)
    }
}

/// Seals a file segment by segment: [`FileSealer::new`] gives the blob's head (header, `meta_len`
/// and the sealed metadata), then each [`seal_piece`](FileSealer::seal_piece) gives the next
/// segment, and [`finish`](FileSealer::finish) checks that the whole size was sealed.
pub struct FileSealer {
    enc_key: Zeroizing<[u8; KEY_LEN]>,
    proof: KeyProof,
    layout: Layout,
    size: u64,
    /// Content bytes sealed so far.
    sealed: u64,
    /// The next segment's index.
    next: u32,
    meta_json_len: usize,
}

impl FileSealer {
    /// Starts sealing the file `meta` describes, under `key` (and `passphrase`, if any), with a
    /// random nonce prefix and 256 KiB chunks. Returns the sealer and the blob's first bytes
    /// (header ‖ `meta_len` ‖ segment 0). [`ZkError::Malformed`] for a file of more than
    /// 2^32 - 1 chunks (over 1 PiB), whose segment index would wrap.
    ///
    /// With a passphrase this runs PBKDF2 (a fraction of a second): call it off any async executor
    /// thread.
    pub fn new(
        key: &FragmentKey,
        passphrase: Option<&str>,
        meta: &FileMeta,
    ) -> Result<(FileSealer, Vec<u8>), ZkError> {
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        OsRng.fill_bytes(&mut prefix);
        FileSealer::with_nonce_prefix(key, passphrase, meta, CHUNK_LOG, prefix)
    }

    /// [`FileSealer::new`] with a caller-chosen chunk size and nonce prefix, for the test vectors
    /// only. Reusing a nonce prefix under one key breaks AES-GCM: never call this with anything but
    /// a fresh random prefix outside tests.
    #[doc(hidden)]
    pub fn with_nonce_prefix(
        key: &FragmentKey,
        passphrase: Option<&str>,
        meta: &FileMeta,
        chunk_log: u8,
        nonce_prefix: [u8; NONCE_PREFIX_LEN],
    ) -> Result<(FileSealer, Vec<u8>), ZkError> {
        if !(MIN_CHUNK_LOG..=MAX_CHUNK_LOG).contains(&chunk_log) {
            return Err(ZkError::Malformed);
        }
        // Past 2^32 - 1 segments the index would wrap and repeat a nonce.
        content_segments(meta.size, chunk_log).ok_or(ZkError::Malformed)?;
        let flags = if super::effective(passphrase).is_some() { FLAG_PASSPHRASE } else { 0 };
        let mut header = [0u8; HEADER_LEN];
        header[..3].copy_from_slice(&[VERSION, flags, chunk_log]);
        header[3..].copy_from_slice(&nonce_prefix);
        let layout = Layout::new(header);

        let super::Derived { enc_key, proof } = super::derive(key, passphrase);
        let json = meta.to_json();
        let segment0 = layout.seal(&enc_key, 0, meta.size == 0, &json)?;
        // The JSON is under 1 KiB (255 + 127 bytes of strings, escaped at most twice over).
        let meta_len = u32::try_from(segment0.len()).map_err(|_| ZkError::Malformed)?;
        let mut head = Vec::with_capacity(HEADER_LEN + META_LEN_LEN + segment0.len());
        head.extend_from_slice(&header);
        head.extend_from_slice(&meta_len.to_be_bytes());
        head.extend_from_slice(&segment0);
        let sealer = FileSealer {
            enc_key,
            proof,
            layout,
            size: meta.size,
            sealed: 0,
            next: 1,
            meta_json_len: json.len(),
        };
        Ok((sealer, head))
    }

    /// The key proof to register with the blob (the same as [`super::key_proof`]).
    pub fn key_proof(&self) -> &KeyProof {
        &self.proof
    }

    /// The whole blob's length, head included.
    pub fn sealed_len(&self) -> u64 {
        sealed_len(self.size, self.layout.header[2], self.meta_json_len)
    }

    /// The length the next piece must have (0 once all content is sealed).
    pub fn next_piece_len(&self) -> usize {
        // At most the chunk size (≤ 4 MiB), so it fits any usize we build for.
        usize::try_from((self.size - self.sealed).min(self.layout.chunk_len())).unwrap_or(usize::MAX)
    }

    /// Seals the next piece of content: a whole chunk, or exactly the rest of the file for the
    /// last one (which is then sealed as the final segment). Any other length, or a piece after the
    /// last, is [`ZkError::Malformed`] and seals nothing.
    pub fn seal_piece(&mut self, piece: &[u8]) -> Result<Vec<u8>, ZkError> {
        let expected = self.next_piece_len();
        if expected == 0 || piece.len() != expected {
            return Err(ZkError::Malformed);
        }
        let sealed = self.sealed + piece.len() as u64;
        let segment = self.layout.seal(&self.enc_key, self.next, sealed == self.size, piece)?;
        self.sealed = sealed;
        // The segment count fits in u32 (checked in `start`), so this can't wrap before the end.
        self.next = self.next.wrapping_add(1);
        Ok(segment)
    }

    /// Checks that all `size` bytes were sealed: [`ZkError::Malformed`] if not (the blob would be
    /// refused as truncated).
    pub fn finish(self) -> Result<(), ZkError> {
        if self.sealed == self.size { Ok(()) } else { Err(ZkError::Malformed) }
    }
}

impl std::fmt::Debug for FileSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSealer")
            .field("size", &self.size)
            .field("sealed", &self.sealed)
            .finish_non_exhaustive()
    }
}

/// Seals everything `reader` yields as the file `meta` describes; iterating gives the blob in
/// pieces (the head, then one segment per chunk), e.g. for a streamed HTTP body.
///
/// The reader must yield exactly `meta.size()` bytes: fewer is an `UnexpectedEof` error, more an
/// `InvalidData` error (the file changed while it was read); after an error the iterator ends.
/// With a passphrase this runs PBKDF2 before returning.
pub fn seal_reader<R: Read>(
    key: &FragmentKey,
    passphrase: Option<&str>,
    meta: &FileMeta,
    reader: R,
) -> Result<SealedParts<R>, ZkError> {
    let (sealer, head) = FileSealer::new(key, passphrase, meta)?;
    Ok(SealedParts { sealer, head: Some(head), reader, buf: Zeroizing::new(Vec::new()), done: false })
}

/// The blob in pieces, from [`seal_reader`].
pub struct SealedParts<R> {
    sealer: FileSealer,
    head: Option<Vec<u8>>,
    reader: R,
    /// The plaintext chunk being read; reused, wiped on drop.
    buf: Zeroizing<Vec<u8>>,
    done: bool,
}

impl<R> SealedParts<R> {
    /// The key proof to register with the blob.
    pub fn key_proof(&self) -> &KeyProof {
        self.sealer.key_proof()
    }

    /// The whole blob's length: the sum of every piece's length.
    pub fn sealed_len(&self) -> u64 {
        self.sealer.sealed_len()
    }
}

impl<R: Read> SealedParts<R> {
    fn next_segment(&mut self) -> io::Result<Option<Vec<u8>>> {
        let want = self.sealer.next_piece_len();
        if want == 0 {
            // Everything is sealed: the file must end here too.
            let mut probe = [0u8; 1];
            loop {
                match self.reader.read(&mut probe) {
                    Ok(0) => return Ok(None),
                    Ok(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the file is longer than its size: it changed while it was read",
                        ));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.buf.resize(want, 0);
        self.reader.read_exact(&mut self.buf[..]).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than its size: it changed while it was read",
            ),
            _ => e,
        })?;
        // The length is the one the sealer asked for, so sealing can't refuse it.
        self.sealer.seal_piece(&self.buf).map(Some).map_err(io::Error::other)
    }
}

impl<R: Read> Iterator for SealedParts<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(head) = self.head.take() {
            return Some(Ok(head));
        }
        if self.done {
            return None;
        }
        let item = self.next_segment().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl<R> std::fmt::Debug for SealedParts<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedParts").field("sealer", &self.sealer).finish_non_exhaustive()
    }
}

/// What [`FileOpener::push`] decrypted: the metadata first, then the content in order.
#[derive(Debug)]
pub enum Opened {
    Meta(FileMeta),
    /// The next piece of content (one segment's worth).
    Data(Zeroizing<Vec<u8>>),
}

/// Where an opener is in the blob.
enum Step {
    Header,
    MetaLen {
        layout: Layout,
    },
    Meta {
        layout: Layout,
        len: usize,
    },
    /// Reading content segment `next` of `count`, with `remaining` content bytes to come.
    Content {
        layout: Layout,
        next: u32,
        count: u32,
        remaining: u64,
    },
    Done,
    /// Refused; every later call is refused too.
    Failed,
}

impl Step {
    /// How many bytes the step consumes at once.
    fn want(&self) -> usize {
        match self {
            Step::Header => HEADER_LEN,
            Step::MetaLen { .. } => META_LEN_LEN,
            Step::Meta { len, .. } => *len,
            // At most the chunk size (≤ 4 MiB) plus the tag: fits any usize we build for.
            Step::Content { layout, remaining, .. } => {
                usize::try_from((*remaining).min(layout.chunk_len())).unwrap_or(usize::MAX) + TAG_LEN
            }
            Step::Done | Step::Failed => 0,
        }
    }
}

/// Opens a file blob as it arrives (a streamed download), buffering at most one segment.
pub struct FileOpener {
    enc_key: Zeroizing<[u8; KEY_LEN]>,
    with_passphrase: bool,
    step: Step,
    /// A step's bytes that arrived split over several pushes.
    buf: Vec<u8>,
}

impl FileOpener {
    /// An opener for blobs sealed under `key` (and `passphrase`, if any). With a passphrase this
    /// runs PBKDF2 (a fraction of a second): call it off any async executor thread.
    pub fn new(key: &FragmentKey, passphrase: Option<&str>) -> FileOpener {
        let super::Derived { enc_key, proof: _ } = super::derive(key, passphrase);
        FileOpener {
            enc_key,
            with_passphrase: super::effective(passphrase).is_some(),
            step: Step::Header,
            buf: Vec::new(),
        }
    }

    /// Feeds the next bytes of the blob, in pieces of any size; returns what they completed:
    /// [`Opened::Meta`] once, then [`Opened::Data`] in order. After an error every call fails.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<Opened>, ZkError> {
        let mut out = Vec::new();
        loop {
            match self.step {
                Step::Failed => return Err(self.fail()),
                Step::Done if !bytes.is_empty() => return Err(self.fail()),
                _ if bytes.is_empty() => return Ok(out),
                _ => {}
            }
            let want = self.step.want();
            let opened = if self.buf.is_empty() && bytes.len() >= want {
                // The whole step is in `bytes`: no copy.
                let (unit, rest) = bytes.split_at(want);
                bytes = rest;
                self.advance(unit)
            } else {
                if self.buf.is_empty() {
                    // At most one segment is ever buffered.
                    self.buf.reserve_exact(want);
                }
                let take = (want - self.buf.len()).min(bytes.len());
                self.buf.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.buf.len() < want {
                    return Ok(out);
                }
                let unit = std::mem::take(&mut self.buf);
                let opened = self.advance(&unit);
                // Keep the allocation for the next segment.
                self.buf = unit;
                self.buf.clear();
                opened
            };
            match opened {
                Ok(Some(o)) => out.push(o),
                Ok(None) => {}
                Err(e) => {
                    self.fail();
                    return Err(e);
                }
            }
        }
    }

    /// Ends the blob: [`ZkError::Failed`] unless the final segment was read (truncation).
    pub fn finish(mut self) -> Result<(), ZkError> {
        match self.step {
            Step::Done => Ok(()),
            _ => Err(self.fail()),
        }
    }

    fn fail(&mut self) -> ZkError {
        self.step = Step::Failed;
        self.buf = Vec::new();
        ZkError::Failed
    }

    /// Consumes one step's bytes (`unit.len() == self.step.want()`).
    fn advance(&mut self, unit: &[u8]) -> Result<Option<Opened>, ZkError> {
        match std::mem::replace(&mut self.step, Step::Failed) {
            Step::Header => {
                let header = parse_header(unit).map_err(|e| match e {
                    ZkError::UnsupportedVersion => e,
                    _ => ZkError::Failed,
                })?;
                if (header[1] & FLAG_PASSPHRASE != 0) != self.with_passphrase {
                    return Err(ZkError::Failed);
                }
                self.step = Step::MetaLen { layout: Layout::new(header) };
                Ok(None)
            }
            Step::MetaLen { layout } => {
                let len = u32::from_be_bytes(unit.try_into().map_err(|_| ZkError::Failed)?);
                if len <= TAG_LEN as u32 || len > MAX_META_LEN {
                    return Err(ZkError::Failed);
                }
                // At most 65536.
                let len = usize::try_from(len).map_err(|_| ZkError::Failed)?;
                self.step = Step::Meta { layout, len };
                Ok(None)
            }
            Step::Meta { layout, len: _ } => {
                // Segment 0 is the final one exactly when the file is empty.
                let (json, last) = match layout.open(&self.enc_key, 0, false, unit) {
                    Ok(json) => (json, false),
                    Err(_) => (layout.open(&self.enc_key, 0, true, unit)?, true),
                };
                let meta = FileMeta::from_json(&json).ok_or(ZkError::Failed)?;
                if last != (meta.size == 0) {
                    return Err(ZkError::Failed);
                }
                let count = content_segments(meta.size, layout.header[2]).ok_or(ZkError::Failed)?;
                self.step = if last {
                    Step::Done
                } else {
                    Step::Content { layout, next: 1, count, remaining: meta.size }
                };
                Ok(Some(Opened::Meta(meta)))
            }
            Step::Content { layout, next, count, remaining } => {
                let last = next == count;
                let piece = layout.open(&self.enc_key, next, last, unit)?;
                let remaining = remaining - piece.len() as u64;
                self.step = if last {
                    Step::Done
                } else {
                    Step::Content { layout, next: next + 1, count, remaining }
                };
                Ok(Some(Opened::Data(piece)))
            }
            Step::Done | Step::Failed => Err(ZkError::Failed),
        }
    }
}

impl std::fmt::Debug for FileOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileOpener").finish_non_exhaustive()
    }
}

/// Opens a whole blob in memory (tests, small files): the metadata and the content.
pub fn open_all(
    key: &FragmentKey,
    passphrase: Option<&str>,
    blob: &[u8],
) -> Result<(FileMeta, Zeroizing<Vec<u8>>), ZkError> {
    let mut opener = FileOpener::new(key, passphrase);
    let mut meta = None;
    let mut content = Zeroizing::new(Vec::new());
    for opened in opener.push(blob)? {
        match opened {
            Opened::Meta(m) => {
                // The content is smaller than the blob: a lying size can't make us reserve more.
                content.reserve_exact(usize::try_from(m.size()).unwrap_or(usize::MAX).min(blob.len()));
                meta = Some(m);
            }
            Opened::Data(piece) => content.extend_from_slice(&piece),
        }
    }
    opener.finish()?;
    // `finish` succeeds only after the metadata segment was read.
    let meta = meta.ok_or(ZkError::Failed)?;
    Ok((meta, content))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::zk::{self, FragmentKey};

    /// The small chunk size the tests use, for speed: 4 KiB.
    const LOG: u8 = MIN_CHUNK_LOG;
    const CHUNK: usize = 1 << LOG;

    fn key(byte: u8) -> FragmentKey {
        FragmentKey([byte; 32])
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
    }

    fn meta(size: usize) -> FileMeta {
        FileMeta::new("report 2024.pdf", "application/pdf", size as u64).expect("valid meta")
    }

    /// Seals `data` with 4 KiB chunks and a random prefix, piece by piece.
    fn seal(k: &FragmentKey, pw: Option<&str>, m: &FileMeta, data: &[u8]) -> (Vec<u8>, KeyProof) {
        let prefix: [u8; NONCE_PREFIX_LEN] = rand::random();
        let (mut sealer, mut blob) = FileSealer::with_nonce_prefix(k, pw, m, LOG, prefix).expect("start");
        for piece in data.chunks(CHUNK) {
            blob.extend_from_slice(&sealer.seal_piece(piece).expect("piece"));
        }
        assert_eq!(blob.len() as u64, sealer.sealed_len());
        let proof = KeyProof(*sealer.key_proof().as_bytes());
        sealer.finish().expect("finish");
        (blob, proof)
    }

    /// Opens through the push parser, fed in pieces of the given sizes (cycled).
    fn open_pushed(
        k: &FragmentKey,
        pw: Option<&str>,
        blob: &[u8],
        sizes: &[usize],
    ) -> Result<(FileMeta, Vec<u8>), ZkError> {
        let mut opener = FileOpener::new(k, pw);
        let (mut meta, mut data) = (None, Vec::new());
        let mut rest = blob;
        for &n in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            for o in opener.push(piece)? {
                match o {
                    Opened::Meta(m) => {
                        assert!(meta.is_none() && data.is_empty(), "metadata comes first, once");
                        meta = Some(m);
                    }
                    Opened::Data(d) => {
                        assert!(meta.is_some(), "content after the metadata");
                        assert!(!d.is_empty() && d.len() <= 1 << opener_chunk_log(blob));
                        data.extend_from_slice(&d);
                    }
                }
            }
            let segment = (1usize << opener_chunk_log(blob)) + TAG_LEN;
            assert!(opener.buf.capacity() <= segment.max(MAX_META_LEN as usize), "buffers one segment");
        }
        opener.finish()?;
        Ok((meta.expect("metadata"), data))
    }

    fn opener_chunk_log(blob: &[u8]) -> u8 {
        blob.get(2).copied().unwrap_or(LOG).clamp(MIN_CHUNK_LOG, MAX_CHUNK_LOG)
    }

    /// A blob with arbitrary metadata bytes, sealed correctly otherwise (for the metadata rules).
    fn seal_raw(k: &FragmentKey, chunk_log: u8, json: &[u8], meta_last: bool, data: &[u8]) -> Vec<u8> {
        let header = [VERSION, 0, chunk_log, 9, 8, 7, 6, 5, 4, 3];
        let layout = Layout::new(header);
        let enc_key = zk::derive(k, None).enc_key;
        let segment0 = layout.seal(&enc_key, 0, meta_last, json).expect("seal");
        let mut blob = header.to_vec();
        blob.extend_from_slice(&(segment0.len() as u32).to_be_bytes());
        blob.extend_from_slice(&segment0);
        let pieces: Vec<&[u8]> = data.chunks(1 << chunk_log).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let index = i as u32 + 1;
            blob.extend_from_slice(
                &layout.seal(&enc_key, index, i + 1 == pieces.len(), piece).expect("seal"),
            );
        }
        blob
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let k = key(1);
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5] {
            let data = content(size);
            let m = meta(size);
            let (blob, proof) = seal(&k, None, &m, &data);
            assert_eq!(&blob[..3], &[2, 0, LOG], "size {size}");
            assert_eq!(blob.len() as u64, sealed_len(size as u64, LOG, m.to_json().len()), "size {size}");
            assert_eq!(needs_passphrase(&blob), Ok(false));
            assert_eq!(proof, zk::key_proof(&k, None));

            let (got_meta, got) = open_all(&k, None, &blob).expect("open_all");
            assert_eq!(got_meta, m, "size {size}");
            assert_eq!(got.as_slice(), data.as_slice(), "size {size}");
            let (got_meta, got) = open_pushed(&k, None, &blob, &[1, 3, 4093]).expect("pushed");
            assert_eq!((got_meta, got), (m.clone(), data.clone()), "size {size}");
            // An empty passphrase is no passphrase.
            assert!(open_all(&k, Some(""), &blob).is_ok());
        }
    }

    #[test]
    fn round_trip_with_passphrase() {
        // PBKDF2 with 600k iterations: three derivations in all.
        let k = key(2);
        let data = content(CHUNK + 1);
        let m = meta(data.len());
        let (blob, proof) = seal(&k, Some("열려라 참깨"), &m, &data);
        assert_eq!(&blob[..3], &[2, 1, LOG]);
        assert_eq!(needs_passphrase(&blob), Ok(true));
        assert_eq!(needs_passphrase(&blob[..HEADER_LEN]), Ok(true), "the header alone says it");
        assert_eq!(proof, zk::key_proof(&k, Some("열려라 참깨")), "the text format's key proof");

        let (got_meta, got) = open_all(&k, Some("열려라 참깨"), &blob).expect("open");
        assert_eq!((got_meta, got.to_vec()), (m, data));
        assert_eq!(open_all(&k, Some("열려라 참깨!"), &blob).err(), Some(ZkError::Failed));
        // Missing: refused from the header's flag, before any derivation.
        assert_eq!(open_all(&k, None, &blob).err(), Some(ZkError::Failed));
        // A flag flipped off: refused too (and the flag is in every segment's AAD).
        let mut flipped = blob.clone();
        flipped[1] = 0;
        assert_eq!(open_all(&k, None, &flipped).err(), Some(ZkError::Failed));
    }

    #[test]
    fn an_unneeded_passphrase_fails() {
        let (blob, _) = seal(&key(3), None, &meta(10), &content(10));
        assert_eq!(open_all(&key(3), Some("x"), &blob).err(), Some(ZkError::Failed));
    }

    #[test]
    fn wrong_key_fails() {
        let (blob, _) = seal(&key(4), None, &meta(100), &content(100));
        assert_eq!(open_all(&key(5), None, &blob).err(), Some(ZkError::Failed));
    }

    #[test]
    fn every_flipped_bit_fails() {
        let k = key(6);
        let data = content(2 * CHUNK + 7);
        let (blob, _) = seal(&k, None, &meta(data.len()), &data);
        for i in 0..blob.len() {
            let bits: &[u8] =
                if i < HEADER_LEN + META_LEN_LEN + 64 { &[1, 2, 4, 8, 16, 32, 64, 128] } else { &[1, 128] };
            for bit in bits {
                let mut t = blob.clone();
                t[i] ^= bit;
                let r = open_all(&k, None, &t).err();
                let expected = if i == 0 { ZkError::UnsupportedVersion } else { ZkError::Failed };
                assert_eq!(r, Some(expected), "byte {i} bit {bit:#x}");
            }
        }
    }

    #[test]
    fn truncation_and_extra_bytes_fail() {
        let k = key(7);
        for size in [0, CHUNK, 2 * CHUNK + 3] {
            let data = content(size);
            let (blob, _) = seal(&k, None, &meta(size), &data);
            for len in 0..blob.len() {
                assert_eq!(
                    open_all(&k, None, &blob[..len]).err(),
                    Some(ZkError::Failed),
                    "size {size} cut at {len}"
                );
            }
            let mut longer = blob.clone();
            longer.push(0);
            assert_eq!(
                open_all(&k, None, &longer).err(),
                Some(ZkError::Failed),
                "size {size}: one more byte"
            );

            // Pushing past the end fails at once, and so does everything after.
            let mut opener = FileOpener::new(&k, None);
            assert!(opener.push(&blob).is_ok());
            assert_eq!(opener.push(&[0]).err(), Some(ZkError::Failed));
            assert_eq!(opener.push(&[]).err(), Some(ZkError::Failed));
            assert_eq!(opener.finish(), Err(ZkError::Failed));
        }
    }

    #[test]
    fn moved_reordered_or_repeated_segments_fail() {
        let k = key(8);
        let data = content(3 * CHUNK + 5);
        let m = meta(data.len());
        let (blob, _) = seal(&k, None, &m, &data);
        let json_len = m.to_json().len();
        let start = HEADER_LEN + META_LEN_LEN + json_len + TAG_LEN;
        let seg = CHUNK + TAG_LEN;
        let segments: Vec<&[u8]> = vec![
            &blob[start..start + seg],
            &blob[start + seg..start + 2 * seg],
            &blob[start + 2 * seg..start + 3 * seg],
            &blob[start + 3 * seg..],
        ];
        assert_eq!(segments[3].len(), 5 + TAG_LEN);
        let head = &blob[..start];
        let build = |order: &[usize]| -> Vec<u8> {
            let mut b = head.to_vec();
            for &i in order {
                b.extend_from_slice(segments[i]);
            }
            b
        };
        assert!(open_all(&k, None, &build(&[0, 1, 2, 3])).is_ok(), "the pieces rebuild the blob");
        for order in
            [&[1, 0, 2, 3][..], &[0, 2, 1, 3], &[0, 1, 3], &[0, 1, 2, 2, 3], &[0, 1, 2, 3, 3], &[0, 0, 1, 2]]
        {
            assert_eq!(open_all(&k, None, &build(order)).err(), Some(ZkError::Failed), "{order:?}");
        }

        // meta_len one off: every boundary moves.
        for delta in [-1i64, 1, 16] {
            let mut t = blob.clone();
            let len = u32::from_be_bytes(t[HEADER_LEN..HEADER_LEN + 4].try_into().expect("4 bytes"));
            t[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&((len as i64 + delta) as u32).to_be_bytes());
            assert_eq!(open_all(&k, None, &t).err(), Some(ZkError::Failed), "meta_len {delta:+}");
        }
        // Another chunk size claimed in the header: the AAD differs (and so would the boundaries).
        let mut t = blob.clone();
        t[2] = LOG + 1;
        assert_eq!(open_all(&k, None, &t).err(), Some(ZkError::Failed));
        // A segment moved to another blob with the same key and nonce prefix but other metadata.
        let other_meta = FileMeta::new("other", "", data.len() as u64).expect("meta");
        let prefix: [u8; NONCE_PREFIX_LEN] = blob[3..HEADER_LEN].try_into().expect("prefix");
        let (mut other, other_head) =
            FileSealer::with_nonce_prefix(&k, None, &other_meta, LOG, prefix).expect("start");
        let mut spliced = other_head;
        spliced.extend_from_slice(&other.seal_piece(&data[..CHUNK]).expect("piece"));
        spliced.extend_from_slice(&blob[start + seg..]);
        assert!(open_all(&k, None, &spliced).is_ok(), "same key and prefix: segments are interchangeable");
        // …which is why the prefix is random per blob: with another prefix, nothing moves.
        let mut spliced =
            seal(&k, None, &other_meta, &data).0[..HEADER_LEN + META_LEN_LEN + 5 + TAG_LEN + seg].to_vec();
        spliced.extend_from_slice(&blob[start + seg..]);
        assert_eq!(open_all(&k, None, &spliced).err(), Some(ZkError::Failed));
    }

    #[test]
    fn metadata_rules_are_enforced_on_open() {
        let k = key(9);
        let ok = br#"{"name":"a.txt","type":"text/plain","size":3}"#;
        assert!(
            open_all(&k, None, &seal_raw(&k, LOG, ok, false, b"abc")).is_ok(),
            "the helper seals validly"
        );
        let long_name = format!(r#"{{"name":"{}","type":"","size":3}}"#, "n".repeat(256));
        let long_type = format!(r#"{{"name":"a","type":"{}","size":3}}"#, "t".repeat(128));
        let bad: &[&[u8]] = &[
            b"",
            b"not json",
            b"[]",
            br#"{"name":"a.txt", "type":"text/plain","size":3}"#,
            br#"{"type":"text/plain","name":"a.txt","size":3}"#,
            br#"{"name":"a.txt","type":"text/plain","size":3,"x":1}"#,
            br#"{"name":"a.txt","name":"a.txt","type":"text/plain","size":3}"#,
            br#"{"name":"a.txt","type":"text/plain"}"#,
            br#"{"name":"a.txt","type":"text/plain","size":3} "#,
            br#"{"name":"a.txt","type":"text/plain","size":3.0}"#,
            br#"{"name":"a.txt","type":"text/plain","size":"3"}"#,
            br#"{"name":"\u0061.txt","type":"text/plain","size":3}"#,
            br#"{"name":"","type":"","size":3}"#,
            br#"{"name":".","type":"","size":3}"#,
            br#"{"name":"..","type":"","size":3}"#,
            br#"{"name":"a/b","type":"","size":3}"#,
            br#"{"name":"a\\b","type":"","size":3}"#,
            br#"{"name":"a\u0000b","type":"","size":3}"#,
            br#"{"name":"a\nb","type":"","size":3}"#,
            "{\"name\":\"a\u{85}b\",\"type\":\"\",\"size\":3}".as_bytes(),
            "{\"name\":\"a\",\"type\":\"t\u{e9}xt\",\"size\":3}".as_bytes(),
            br#"{"name":"a","type":"a\tb","size":3}"#,
            b"{\"name\":\"\xff\",\"type\":\"\",\"size\":3}",
            long_name.as_bytes(),
            long_type.as_bytes(),
            br#"{"name":"a","type":"","size":4}"#,
            br#"{"name":"a","type":"","size":2}"#,
            br#"{"name":"a","type":"","size":-3}"#,
        ];
        for json in bad {
            let blob = seal_raw(&k, LOG, json, false, b"abc");
            assert_eq!(
                open_all(&k, None, &blob).err(),
                Some(ZkError::Failed),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        // The final flag must agree with the size.
        let empty = br#"{"name":"a","type":"","size":0}"#;
        assert!(open_all(&k, None, &seal_raw(&k, LOG, empty, true, b"")).is_ok());
        assert_eq!(open_all(&k, None, &seal_raw(&k, LOG, empty, false, b"")).err(), Some(ZkError::Failed));
        assert_eq!(open_all(&k, None, &seal_raw(&k, LOG, ok, true, b"abc")).err(), Some(ZkError::Failed));
        // A size too large for JavaScript, or for the segment index at this chunk size.
        let huge = format!(r#"{{"name":"a","type":"","size":{}}}"#, MAX_SIZE + 1);
        assert_eq!(
            open_all(&k, None, &seal_raw(&k, LOG, huge.as_bytes(), false, b"")).err(),
            Some(ZkError::Failed)
        );
        let many = format!(r#"{{"name":"a","type":"","size":{}}}"#, (u64::from(u32::MAX) << LOG) + 1);
        assert_eq!(
            open_all(&k, None, &seal_raw(&k, LOG, many.as_bytes(), false, b"")).err(),
            Some(ZkError::Failed)
        );
    }

    #[test]
    fn header_and_meta_len_limits() {
        let k = key(10);
        let json = br#"{"name":"a","type":"","size":3}"#;
        for chunk_log in [0, 11, 23, 32, 255] {
            let blob = seal_raw(&k, chunk_log.min(24), json, false, b"abc");
            let mut blob = blob;
            blob[2] = chunk_log;
            assert_eq!(open_all(&k, None, &blob).err(), Some(ZkError::Failed), "chunk_log {chunk_log}");
            assert_eq!(needs_passphrase(&blob), Err(ZkError::Malformed), "chunk_log {chunk_log}");
        }
        for chunk_log in [MIN_CHUNK_LOG, MAX_CHUNK_LOG] {
            let blob = seal_raw(&k, chunk_log, json, false, b"abc");
            assert!(open_all(&k, None, &blob).is_ok(), "chunk_log {chunk_log}");
        }

        let good = seal_raw(&k, LOG, json, false, b"abc");
        for meta_len in [0u32, 1, TAG_LEN as u32, MAX_META_LEN + 1, u32::MAX] {
            let mut t = good[..HEADER_LEN].to_vec();
            t.extend_from_slice(&meta_len.to_be_bytes());
            // Refused as soon as the length is read, before any of it is buffered.
            let mut opener = FileOpener::new(&k, None);
            assert_eq!(opener.push(&t).err(), Some(ZkError::Failed), "meta_len {meta_len}");
        }
        // At the limit, the opener waits for the bytes (and the tag then fails).
        let mut t = good[..HEADER_LEN].to_vec();
        t.extend_from_slice(&MAX_META_LEN.to_be_bytes());
        t.resize(HEADER_LEN + META_LEN_LEN + MAX_META_LEN as usize, 0);
        let mut opener = FileOpener::new(&k, None);
        assert!(opener.push(&t[..t.len() - 1]).expect("waits").is_empty());
        assert_eq!(opener.push(&t[t.len() - 1..]).err(), Some(ZkError::Failed));

        for bit in 1..8 {
            let mut t = good.clone();
            t[1] |= 1 << bit;
            assert_eq!(open_all(&k, None, &t).err(), Some(ZkError::Failed), "flag bit {bit}");
            assert_eq!(needs_passphrase(&t), Err(ZkError::Malformed), "flag bit {bit}");
        }
        assert_eq!(needs_passphrase(&[]), Err(ZkError::Malformed));
        assert_eq!(needs_passphrase(&good[..HEADER_LEN - 1]), Err(ZkError::Malformed));
    }

    #[test]
    fn text_and_file_blobs_are_told_apart() {
        let k = key(11);
        let (text, _) = zk::seal(&k, None, b"a text secret").expect("seal");
        assert_eq!(needs_passphrase(&text), Err(ZkError::UnsupportedVersion));
        assert_eq!(open_all(&k, None, &text).err(), Some(ZkError::UnsupportedVersion));
        let (file, _) = seal(&k, None, &meta(3), b"abc");
        assert_eq!(zk::blob_needs_passphrase(&file), Err(ZkError::UnsupportedVersion));
        assert_eq!(zk::open(&k, None, &file), Err(ZkError::UnsupportedVersion));
    }

    #[test]
    fn the_sealer_checks_piece_sizes() {
        let k = key(12);
        let m = meta(CHUNK + 10);
        let (mut s, _) = FileSealer::with_nonce_prefix(&k, None, &m, LOG, [0; 7]).expect("start");
        assert_eq!(s.next_piece_len(), CHUNK);
        assert_eq!(s.seal_piece(&[0; CHUNK - 1]).err(), Some(ZkError::Malformed), "a short middle piece");
        assert_eq!(s.seal_piece(&[0; CHUNK + 1]).err(), Some(ZkError::Malformed), "a long piece");
        assert_eq!(s.seal_piece(&[]).err(), Some(ZkError::Malformed), "an empty piece");
        assert_eq!(s.seal_piece(&[0; CHUNK]).expect("a whole chunk").len(), CHUNK + TAG_LEN);
        assert_eq!(s.next_piece_len(), 10);
        assert_eq!(s.seal_piece(&[0; 9]).err(), Some(ZkError::Malformed), "the last piece must be exact");
        assert_eq!(s.seal_piece(&[0; 11]).err(), Some(ZkError::Malformed), "more than the size");
        assert_eq!(s.seal_piece(&[0; 10]).expect("the last piece").len(), 10 + TAG_LEN);
        assert_eq!(s.next_piece_len(), 0);
        assert_eq!(s.seal_piece(&[0]).err(), Some(ZkError::Malformed), "nothing after the last piece");
        assert_eq!(s.finish(), Ok(()));

        let (mut s, _) = FileSealer::with_nonce_prefix(&k, None, &m, LOG, [0; 7]).expect("start");
        s.seal_piece(&[0; CHUNK]).expect("piece");
        assert_eq!(s.finish(), Err(ZkError::Malformed), "finished early");

        let (mut empty, head) =
            FileSealer::with_nonce_prefix(&k, None, &meta(0), LOG, [0; 7]).expect("start");
        assert_eq!(empty.seal_piece(&[]).err(), Some(ZkError::Malformed));
        assert_eq!(empty.finish(), Ok(()));
        assert_eq!(open_all(&k, None, &head).expect("open").1.len(), 0);

        for chunk_log in [0, 11, 23] {
            let r = FileSealer::with_nonce_prefix(&k, None, &m, chunk_log, [0; 7]);
            assert_eq!(r.err(), Some(ZkError::Malformed), "chunk_log {chunk_log}");
        }
        // More than 2^32 - 1 segments would repeat a nonce.
        let huge = FileMeta::new("a", "", (u64::from(u32::MAX) << CHUNK_LOG) + 1).expect("meta");
        assert_eq!(FileSealer::new(&k, None, &huge).err(), Some(ZkError::Malformed));
        let most = FileMeta::new("a", "", u64::from(u32::MAX) << CHUNK_LOG).expect("meta");
        assert!(FileSealer::new(&k, None, &most).is_ok());
    }

    #[test]
    fn a_large_file_streams_through_the_push_parser() {
        // 3 MiB at the writers' 256 KiB chunks, read from a reader and opened in odd-sized pieces.
        let k = FragmentKey::generate();
        let data = content(3 * 1024 * 1024 + 5);
        let m = FileMeta::new("big.bin", "application/octet-stream", data.len() as u64).expect("meta");
        let parts = seal_reader(&k, None, &m, Cursor::new(&data)).expect("seal_reader");
        assert_eq!(parts.key_proof(), &zk::key_proof(&k, None));
        let total = parts.sealed_len();
        let parts: Vec<Vec<u8>> = parts.collect::<io::Result<_>>().expect("parts");
        assert_eq!(parts.len(), 1 + 13, "the head, then 12 whole chunks and 5 bytes");
        let blob = parts.concat();
        assert_eq!(blob.len() as u64, total);
        assert_eq!(blob[2], CHUNK_LOG);
        assert_eq!(total, sealed_len(data.len() as u64, CHUNK_LOG, m.to_json().len()));

        let (got_meta, got) =
            open_pushed(&k, None, &blob, &[7, 4093, 65537, 1, 262_161, 300_000]).expect("open");
        assert_eq!(got_meta, m);
        assert!(got == data, "the content comes back");
    }

    #[test]
    fn seal_reader_refuses_a_file_that_changed() {
        let k = key(13);
        // seal_reader uses the writers' chunk size.
        let chunk = 1 << CHUNK_LOG;
        let m = meta(chunk + 1);
        let short = seal_reader(&k, None, &m, Cursor::new(content(chunk))).expect("start");
        let items: Vec<io::Result<Vec<u8>>> = short.collect();
        assert_eq!(items.len(), 3, "head, a chunk, then the error, then nothing");
        assert_eq!(items[2].as_ref().err().map(io::Error::kind), Some(io::ErrorKind::UnexpectedEof));

        let long = seal_reader(&k, None, &m, Cursor::new(content(chunk + 2))).expect("start");
        let items: Vec<io::Result<Vec<u8>>> = long.collect();
        assert_eq!(items.len(), 4);
        assert_eq!(items[3].as_ref().err().map(io::Error::kind), Some(io::ErrorKind::InvalidData));

        let empty = seal_reader(&k, None, &meta(0), Cursor::new(Vec::new())).expect("start");
        let items: Vec<Vec<u8>> = empty.collect::<io::Result<_>>().expect("parts");
        assert_eq!(items.len(), 1);
        assert_eq!(open_all(&k, None, &items[0]).expect("open").0, meta(0));
    }

    #[test]
    fn file_meta_rules() {
        assert!(FileMeta::new("a", "", 0).is_ok());
        assert!(FileMeta::new("n".repeat(255), "t".repeat(127), MAX_SIZE).is_ok());
        assert!(FileMeta::new("한국어 파일 🙂.txt", "text/plain; charset=utf-8", 1).is_ok());
        assert!(FileMeta::new("...", "", 0).is_ok());
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", "a\nb", "a\u{7f}", "a\u{9f}", &"n".repeat(256)] {
            assert_eq!(FileMeta::new(bad, "", 0).err(), Some(FileMetaError::Name), "{bad:?}");
        }
        for bad in ["t\u{e9}xt/plain", "text/plain\n", "a\tb", &"t".repeat(128)] {
            assert_eq!(FileMeta::new("a", bad, 0).err(), Some(FileMetaError::ContentType), "{bad:?}");
        }
        assert_eq!(FileMeta::new("a", "", MAX_SIZE + 1).err(), Some(FileMetaError::TooLarge));

        let m = FileMeta::new(r#"say "hi".txt"#, "text/plain", 12).expect("meta");
        assert_eq!(m.to_json().as_slice(), br#"{"name":"say \"hi\".txt","type":"text/plain","size":12}"#);
        assert_eq!(FileMeta::from_json(&m.to_json()), Some(m.clone()));
        assert_eq!((m.name(), m.content_type(), m.size()), (r#"say "hi".txt"#, "text/plain", 12));
        let debug = format!("{m:?}");
        assert!(!debug.contains("hi") && !debug.contains("text"), "{debug}");
    }

    #[test]
    fn base_names() {
        let long = format!("{}.tar.gz", "가".repeat(100));
        let long_no_ext = "x".repeat(300);
        let long_ext = format!("{}.{}", "y".repeat(250), "z".repeat(20));
        for (raw, want) in [
            ("report.pdf", "report.pdf"),
            ("/home/me/report.pdf", "report.pdf"),
            ("C:\\Users\\me\\report.pdf", "report.pdf"),
            ("dir/sub/", "sub"),
            ("a\0b\nc\u{7f}d\u{85}.txt", "a_b_c_d_.txt"),
            ("", "file"),
            ("/", "file"),
            (".", "file"),
            ("a/..", "file"),
            ("...", "..."),
            (" ", " "),
        ] {
            assert_eq!(base_name(raw), want, "{raw:?}");
        }
        let b = base_name(&long);
        assert!(b.len() <= 255 && b.ends_with(".gz") && b.starts_with('가'), "{b}");
        assert_eq!(b.len(), 252 + 3, "84 whole characters then the extension");
        assert_eq!(base_name(&long_no_ext), "x".repeat(255));
        assert_eq!(base_name(&long_ext), long_ext[..255]);
        for raw in [long.as_str(), &long_no_ext, &long_ext, "a\0b", "", "x/.."] {
            assert!(FileMeta::new(base_name(raw), "", 0).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn debug_output_is_redacted() {
        let k = key(0x41);
        let (sealer, _) = FileSealer::new(&k, None, &meta(1)).expect("start");
        let opener = FileOpener::new(&k, None);
        for text in [format!("{sealer:?}"), format!("{opener:?}")] {
            assert!(!text.contains("41") && !text.contains("65"), "{text}");
        }
    }

    #[derive(serde::Deserialize)]
    struct VectorFile {
        file_format: String,
        file_vectors: Vec<FileVector>,
    }

    #[derive(serde::Deserialize)]
    struct FileVector {
        name: String,
        fragment: String,
        passphrase: Option<String>,
        chunk_log: u8,
        nonce_prefix_hex: String,
        meta: VectorMeta,
        content_hex: String,
        blob_hex: String,
        key_proof_b64url: String,
    }

    #[derive(serde::Deserialize)]
    struct VectorMeta {
        name: String,
        #[serde(rename = "type")]
        content_type: String,
        size: u64,
    }

    #[test]
    fn vectors() {
        let file: VectorFile =
            serde_json::from_str(include_str!("../../tests/zk-vectors.json")).expect("vector file parses");
        assert_eq!(file.file_format, "once-zk-file-v1");
        let hex = |h: &str| data_encoding::HEXLOWER.decode(h.as_bytes()).expect("lowercase hex");
        let mut sizes = Vec::new();
        for v in &file.file_vectors {
            let name = &v.name;
            let k = FragmentKey::from_fragment(&v.fragment).expect("valid fragment");
            let pw = v.passphrase.as_deref();
            let m =
                FileMeta::new(v.meta.name.as_str(), v.meta.content_type.as_str(), v.meta.size).expect("meta");
            let data = hex(&v.content_hex);
            assert_eq!(data.len() as u64, m.size(), "{name}");
            let prefix: [u8; NONCE_PREFIX_LEN] = hex(&v.nonce_prefix_hex).try_into().expect("7 bytes");
            let expected = hex(&v.blob_hex);

            let (mut sealer, mut blob) =
                FileSealer::with_nonce_prefix(&k, pw, &m, v.chunk_log, prefix).expect("start");
            assert_eq!(sealer.key_proof().to_base64url(), v.key_proof_b64url, "{name}: proof");
            for piece in data.chunks(1 << v.chunk_log) {
                blob.extend_from_slice(&sealer.seal_piece(piece).expect("piece"));
            }
            assert_eq!(sealer.sealed_len(), expected.len() as u64, "{name}: sealed_len");
            sealer.finish().expect("finish");
            assert!(blob == expected, "{name}: sealed blob differs");

            assert_eq!(needs_passphrase(&expected), Ok(pw.is_some()), "{name}");
            let (got_meta, got) = open_all(&k, pw, &expected).expect("open");
            assert_eq!(got_meta, m, "{name}: meta");
            assert!(got.as_slice() == data.as_slice(), "{name}: content");
            sizes.push(m.size());
        }
        for size in [0, 100, 4096, 9000] {
            assert!(sizes.contains(&size), "a vector of {size} bytes");
        }
        assert!(file.file_vectors.iter().any(|v| v.passphrase.is_some()), "a vector with a passphrase");
    }
}
