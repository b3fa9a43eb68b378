//! File secrets: a zero-knowledge blob (`once_crypto::zk::file`) streamed in and out in pieces.
//!
//! The client's blob is kept in two parts. Its first [`HEAD_BYTES`] (the format header and the
//! encrypted file name and type, and usually some content) are the secret's envelope plaintext,
//! sealed like any secret's; the rest goes to the store's chunks of [`CHUNK_BYTES`] as it
//! arrives, so neither an upload nor a download ever holds more than one chunk of a file in
//! memory. The record is created only once the last byte is stored: until then nothing can
//! reveal it, and an upload that fails or is abandoned leaves only chunks, which the caller
//! drops ([`FileUpload::abort`]) or the sweeper removes at their expiry.

use once_crypto::Token;
use once_store::{FileInfo, RecordId, UnixTime};
use zeroize::Zeroizing;

use crate::error::CoreError;
use crate::secrets::{CreateSecret, Created, FileContent, SECRET, SecretService};

/// The part of a blob kept in the sealed envelope.
pub const HEAD_BYTES: usize = 64 * 1024;
/// The size of a stored chunk (the last one may be shorter).
pub const CHUNK_BYTES: usize = 1024 * 1024;

/// The most bytes of client blob a file of at most `limit` bytes may take: the limit is on the
/// file, and its encrypted form adds a 16-byte tag per segment (at most 1/256 more, with the
/// smallest segments the format allows) and the sealed name and type (under 64 KiB + 30 bytes).
pub fn sealed_allowance(limit: u64) -> u64 {
    limit.saturating_add(limit / 256).saturating_add(128 * 1024)
}

/// A file secret being uploaded: push the blob's bytes as they come, then
/// [`finish`](Self::finish) (or [`abort`](Self::abort)).
pub struct FileUpload<'a> {
    service: &'a SecretService,
    req: CreateSecret,
    secret_key: Token,
    id: RecordId,
    now: UnixTime,
    expires_at: UnixTime,
    head: Zeroizing<Vec<u8>>,
    pending: Vec<u8>,
    chunks: u32,
    size: u64,
}

impl std::fmt::Debug for FileUpload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileUpload")
            .field("size", &self.size)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl SecretService {
    /// Starts a file secret. `req` is checked now (it must be zero-knowledge: a key proof and no
    /// server-side passphrase); its `plaintext` is ignored: the blob comes through
    /// [`FileUpload::push`].
    pub fn upload_file(&self, req: CreateSecret) -> Result<FileUpload<'_>, CoreError> {
        let limit = self.policy().max_file_bytes;
        if limit == 0 {
            return Err(CoreError::FileTooLarge { limit });
        }
        if req.key_proof.is_none() {
            return Err(CoreError::Invalid("a file secret is zero-knowledge: send its key_proof".into()));
        }
        if req.passphrase.is_some() {
            return Err(CoreError::Invalid(
                "a zero-knowledge secret is encrypted with its passphrase by the client; \
                 do not also send the passphrase"
                    .into(),
            ));
        }
        let now = self.now();
        let secret_key = Token::generate();
        let id = RecordId(secret_key.lookup_id(SECRET));
        let expires_at = now + self.policy().ttl(req.ttl);
        Ok(FileUpload {
            service: self,
            req,
            secret_key,
            id,
            now,
            expires_at,
            head: Zeroizing::new(Vec::with_capacity(HEAD_BYTES)),
            pending: Vec::new(),
            chunks: 0,
            size: 0,
        })
    }

    /// Chunk `index` of a revealed file's content, `None` past the last one (or if it is gone).
    pub async fn file_chunk(&self, file: &FileContent, index: u32) -> Result<Option<Vec<u8>>, CoreError> {
        if index >= file.info.chunks {
            return Ok(None);
        }
        Ok(self.store().chunk(&file.id, index, self.now()).await?)
    }

    /// Ends a download: after the last view, the content goes (also when the download broke off:
    /// the view was spent when it was claimed).
    pub async fn file_read(&self, file: &FileContent) -> Result<(), CoreError> {
        if file.last_view {
            self.store().drop_chunks(&file.id).await?;
        }
        Ok(())
    }
}

impl FileUpload<'_> {
    /// Bytes of the blob so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Takes the next bytes of the blob; stores each full chunk. Past the size limit this fails
    /// with [`CoreError::FileTooLarge`] (then [`abort`](Self::abort)).
    pub async fn push(&mut self, mut bytes: &[u8]) -> Result<(), CoreError> {
        let limit = self.service.policy().max_file_bytes;
        self.size += bytes.len() as u64;
        if self.size > sealed_allowance(limit) {
            return Err(CoreError::FileTooLarge { limit });
        }
        if self.head.len() < HEAD_BYTES {
            let n = bytes.len().min(HEAD_BYTES - self.head.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        while !bytes.is_empty() {
            let n = bytes.len().min(CHUNK_BYTES - self.pending.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.pending.len() == CHUNK_BYTES {
                self.store_pending().await?;
            }
        }
        Ok(())
    }

    async fn store_pending(&mut self) -> Result<(), CoreError> {
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK_BYTES));
        self.service.store().put_chunk(&self.id, self.chunks, chunk, self.now, self.expires_at).await?;
        self.chunks += 1;
        Ok(())
    }

    /// Stores what is left and creates the secret: from now on its link reveals it.
    pub async fn finish(mut self) -> Result<Created, CoreError> {
        if self.head.is_empty() {
            return Err(CoreError::Invalid("the file's ciphertext is empty".into()));
        }
        if !self.pending.is_empty() {
            self.store_pending().await?;
        }
        let info = FileInfo { size: self.size, chunks: self.chunks };
        let mut req = self.req;
        req.plaintext = self.head;
        let created = self.service.create_as(req, self.secret_key, Some(info)).await;
        if created.is_err() {
            let _ = self.service.store().drop_chunks(&self.id).await;
        }
        created
    }

    /// Gives up: removes the chunks stored so far.
    pub async fn abort(self) -> Result<(), CoreError> {
        Ok(self.service.store().drop_chunks(&self.id).await?)
    }
}
