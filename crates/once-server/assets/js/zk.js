// Once zero-knowledge ("ZK") format v1: client-side encryption in the browser, with WebCrypto only.
//
// The key travels only in the link's #fragment. This module and the Rust `once_crypto::zk` module
// produce and open the exact same bytes; both are pinned by crates/once-crypto/tests/zk-vectors.json.
//
//   K          = 32 random bytes; fragment = base64url-no-pad(K) (43 chars)
//   if passphrase (UTF-8 of passphrase.normalize("NFC"); "" or null means none):
//       salt   = HKDF-SHA256(ikm = K, salt = empty, info = "once/zk/v1/pbkdf2-salt", L = 16)
//       P      = PBKDF2-HMAC-SHA256(passphrase, salt, iterations = 600000, dkLen = 32)
//       ikm    = K || P
//   else
//       ikm    = K
//   enc_key    = HKDF-SHA256(ikm, salt = empty, info = "once/zk/v1/enc",   L = 32)
//   proof_key  = HKDF-SHA256(ikm, salt = empty, info = "once/zk/v1/proof", L = 32)
//   key_proof  = HMAC-SHA256(proof_key, "once/zk/v1/key-proof")  (base64url-no-pad on the wire)
//   flags      = 1 byte: bit0 = passphrase used; other bits must be 0
//   header     = 0x01 (version) || flags
//   nonce      = 12 random bytes
//   blob       = header || nonce || AES-256-GCM(enc_key, nonce, plaintext, aad = "once/zk/v1" || header)
//
// Files (sealFile / openFile; Rust: `once_crypto::zk::file`, whose docs give the rationale): the same
// enc_key and key_proof, the content sealed in chunks so it can be streamed.
//
//   header     = 0x02 (version: file stream) || flags (bit0 = passphrase used; unknown bits rejected)
//                || chunk_log (chunk_size = 2^chunk_log; writers use 18 = 256 KiB; readers accept 12..22)
//                || nonce_prefix (7 random bytes)                                          (10 bytes)
//   nonce_i    = nonce_prefix || i as u32 big-endian || last (0x00, or 0x01 on the final segment)
//   aad        = "once/zk/file/v1" || header
//   segment 0  = UTF-8 JSON {"name":N,"type":T,"size":S} (that key order, no spaces, as JSON.stringify
//                writes it; name: 1..255 bytes, no '/', '\', control characters, not "." or "..";
//                type: "" or a MIME type, <= 127 printable ASCII; size: an integer <= 2^53 - 1),
//                sealed alone: meta_len (u32 BE, ciphertext length with tag, <= 65536)
//                || AES-256-GCM(enc_key, nonce_0, json, aad)
//   segment i  = (i >= 1) AES-256-GCM(enc_key, nonce_i, piece_i, aad): the content in chunk_size pieces,
//                the last one 1..chunk_size bytes; the final segment (segment 0 when size = 0) has
//                last = 0x01; nothing follows it.
//   blob       = header || meta_len || segment 0 || segment 1 || ...
//
// No dependencies, no build step: served as a static ES module.

export const PBKDF2_ITERATIONS = 600000;

const VERSION = 1;
const FLAG_PASSPHRASE = 0x01;
const KNOWN_FLAGS = FLAG_PASSPHRASE;
const HEADER_LEN = 2;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const KEY_LEN = 32;
const B64_KEY_LEN = 43;

const utf8 = new TextEncoder();
const AAD_LABEL = utf8.encode("once/zk/v1");
const INFO_PBKDF2_SALT = utf8.encode("once/zk/v1/pbkdf2-salt");
const INFO_ENC = utf8.encode("once/zk/v1/enc");
const INFO_PROOF = utf8.encode("once/zk/v1/proof");
const PROOF_MESSAGE = utf8.encode("once/zk/v1/key-proof");
const EMPTY = new Uint8Array(0);

/** WebCrypto; absent outside secure contexts (plain http), where ZK mode can't work. */
function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) throw new Error("This page needs a secure context (https) to encrypt in the browser.");
  return s;
}

/** An error whose message says nothing about keys; `code` is "malformed", "unsupported-version" or "failed". */
function zkError(code) {
  const messages = {
    malformed: "This secret's data is malformed.",
    "unsupported-version": "This secret uses a format this page does not support.",
    failed: "The secret could not be opened: the link or passphrase is wrong, or the data was changed.",
  };
  const e = new Error(messages[code]);
  e.name = "ZkError";
  e.code = code;
  return e;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** base64url without padding. */
export function b64urlEncode(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (b[i] << 16) | (b[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63];
  }
  return out;
}

/** Strict base64url without padding: rejects padding, other alphabets, bad lengths and non-canonical trailing bits. */
export function b64urlDecode(str) {
  if (typeof str !== "string" || str.length % 4 === 1) throw zkError("malformed");
  const vals = new Uint8Array(str.length);
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    const v = c < 128 ? DECODE[c] : -1;
    if (v < 0) throw zkError("malformed");
    vals[i] = v;
  }
  const out = new Uint8Array(Math.floor((str.length * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 4 <= vals.length; i += 4) {
    const n = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6) | vals[i + 3];
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  const rest = vals.length - i;
  if (rest === 2) {
    if (vals[i + 1] & 15) throw zkError("malformed");
    out[o++] = (vals[i] << 2) | (vals[i + 1] >> 4);
  } else if (rest === 3) {
    if (vals[i + 2] & 3) throw zkError("malformed");
    const n = (vals[i] << 18) | (vals[i + 1] << 12) | (vals[i + 2] << 6);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
  }
  vals.fill(0);
  return out;
}

function keyFromFragment(fragment) {
  if (typeof fragment !== "string" || fragment.length !== B64_KEY_LEN) throw zkError("malformed");
  const k = b64urlDecode(fragment);
  if (k.length !== KEY_LEN) throw zkError("malformed");
  return k;
}

/** The passphrase's UTF-8 bytes after NFC normalisation, or null for none ("" is none). */
function passphraseBytes(passphrase) {
  if (passphrase === null || passphrase === undefined || passphrase === "") return null;
  if (typeof passphrase !== "string") throw new TypeError("passphrase must be a string or null");
  return utf8.encode(passphrase.normalize("NFC"));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** HKDF-SHA256 keying material; the HKDF salt is always empty (RFC 5869: HashLen zeros). */
function hkdfParams(info) {
  return { name: "HKDF", hash: "SHA-256", salt: EMPTY, info };
}

/** enc_key (AES-GCM CryptoKey) and the key proof bytes, from the fragment key bytes and passphrase bytes. */
async function derive(k, pw) {
  let ikm = k;
  let p = null;
  if (pw !== null) {
    const kKey = await subtle().importKey("raw", k, "HKDF", false, ["deriveBits"]);
    const salt = new Uint8Array(await subtle().deriveBits(hkdfParams(INFO_PBKDF2_SALT), kKey, 16 * 8));
    const pwKey = await subtle().importKey("raw", pw, "PBKDF2", false, ["deriveBits"]);
    p = new Uint8Array(
      await subtle().deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS }, pwKey, 32 * 8),
    );
    ikm = concat(k, p);
  }
  try {
    const ikmKey = await subtle().importKey("raw", ikm, "HKDF", false, ["deriveKey"]);
    const encKey = await subtle().deriveKey(hkdfParams(INFO_ENC), ikmKey, { name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]);
    const proofKey = await subtle().deriveKey(
      hkdfParams(INFO_PROOF),
      ikmKey,
      { name: "HMAC", hash: "SHA-256", length: 256 },
      false,
      ["sign"],
    );
    const proof = new Uint8Array(await subtle().sign("HMAC", proofKey, PROOF_MESSAGE));
    return { encKey, proof };
  } finally {
    // Best effort: JS can't promise these were the only copies, but don't keep them around.
    if (p !== null) p.fill(0);
    if (ikm !== k) ikm.fill(0);
  }
}

function aad(header) {
  return concat(AAD_LABEL, header);
}

function toBytes(x, what) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  throw new TypeError(`${what} must be a Uint8Array`);
}

/** A fresh fragment key: 43 base64url characters to put after "#" in the link. */
export function generateKey() {
  const k = globalThis.crypto.getRandomValues(new Uint8Array(KEY_LEN));
  const fragment = b64urlEncode(k);
  k.fill(0);
  return fragment;
}

/**
 * For the test vectors only: seal with a caller-chosen nonce. Reusing a nonce under one key breaks
 * AES-GCM; everything else must call seal().
 */
export async function sealWithNonce(fragment, passphrase, plaintext, nonce) {
  const pt = toBytes(plaintext, "plaintext");
  const iv = toBytes(nonce, "nonce");
  if (iv.length !== NONCE_LEN) throw new TypeError("nonce must be 12 bytes");
  const k = keyFromFragment(fragment);
  const pw = passphraseBytes(passphrase);
  try {
    const header = new Uint8Array([VERSION, pw !== null ? FLAG_PASSPHRASE : 0]);
    const { encKey, proof } = await derive(k, pw);
    const ct = new Uint8Array(
      await subtle().encrypt({ name: "AES-GCM", iv, additionalData: aad(header), tagLength: 128 }, encKey, pt),
    );
    return { blob: concat(header, iv, ct), keyProof: b64urlEncode(proof) };
  } finally {
    k.fill(0);
    if (pw !== null) pw.fill(0);
  }
}

/**
 * Encrypts plaintext (Uint8Array) under the fragment key and the passphrase (string, or null for
 * none). Returns {blob: Uint8Array, keyProof: string (base64url)}. With a passphrase this runs
 * 600000 PBKDF2 iterations.
 */
export async function seal(fragment, passphrase, plaintext) {
  return sealWithNonce(fragment, passphrase, plaintext, globalThis.crypto.getRandomValues(new Uint8Array(NONCE_LEN)));
}

/** The key proof (base64url) a recipient sends before the server releases the blob. */
export async function keyProof(fragment, passphrase) {
  const k = keyFromFragment(fragment);
  const pw = passphraseBytes(passphrase);
  try {
    return b64urlEncode((await derive(k, pw)).proof);
  } finally {
    k.fill(0);
    if (pw !== null) pw.fill(0);
  }
}

/** The blob's header; throws "unsupported-version" or "malformed". */
function parseHeader(blob) {
  const b = toBytes(blob, "blob");
  if (b.length === 0) throw zkError("malformed");
  if (b[0] !== VERSION) throw zkError("unsupported-version");
  if (b.length < HEADER_LEN + NONCE_LEN + TAG_LEN) throw zkError("malformed");
  if (b[1] & ~KNOWN_FLAGS) throw zkError("malformed");
  return b;
}

/** Whether opening the blob needs a passphrase (the flag is authenticated: a lie only makes open fail). */
export function blobNeedsPassphrase(blob) {
  return (parseHeader(blob)[1] & FLAG_PASSPHRASE) !== 0;
}

/**
 * Decrypts a blob. Returns the plaintext as a Uint8Array; throws an Error (code "failed") for a
 * wrong key, a wrong or missing (or unneeded) passphrase, or modified data.
 */
export async function open(fragment, passphrase, blob) {
  const b = parseHeader(blob);
  const k = keyFromFragment(fragment);
  const pw = passphraseBytes(passphrase);
  try {
    if (((b[1] & FLAG_PASSPHRASE) !== 0) !== (pw !== null)) throw zkError("failed");
    const header = b.subarray(0, HEADER_LEN);
    const iv = b.subarray(HEADER_LEN, HEADER_LEN + NONCE_LEN);
    const ct = b.subarray(HEADER_LEN + NONCE_LEN);
    const { encKey } = await derive(k, pw);
    try {
      return new Uint8Array(
        await subtle().decrypt({ name: "AES-GCM", iv, additionalData: aad(header), tagLength: 128 }, encKey, ct),
      );
    } catch {
      throw zkError("failed");
    }
  } finally {
    k.fill(0);
    if (pw !== null) pw.fill(0);
  }
}

// ---------------------------------------------------------------- files

/** The chunk size writers use: 2^18 = 256 KiB. */
export const FILE_CHUNK_LOG = 18;

const FILE_VERSION = 2;
const MIN_CHUNK_LOG = 12;
const MAX_CHUNK_LOG = 22;
const NONCE_PREFIX_LEN = 7;
const FILE_HEADER_LEN = 3 + NONCE_PREFIX_LEN;
const META_LEN_LEN = 4;
const MAX_META_LEN = 65536;
const MAX_SEGMENTS = 0xffffffff;
const MAX_NAME_LEN = 255;
const MAX_KEPT_EXTENSION = 16;
const FILE_AAD_LABEL = utf8.encode("once/zk/file/v1");
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const MIME = /^[\x20-\x7e]{0,127}$/;

/** The string with any lone surrogate replaced by U+FFFD, as its UTF-8 bytes would have it. */
function wellFormed(s) {
  return new TextDecoder().decode(utf8.encode(s));
}

function nameIsValid(name) {
  if (typeof name !== "string" || name === "." || name === "..") return false;
  const n = utf8.encode(name).length;
  return n >= 1 && n <= MAX_NAME_LEN && wellFormed(name) === name && !/[/\\]/.test(name) && !CONTROL.test(name);
}

function typeIsValid(type) {
  return typeof type === "string" && MIME.test(type);
}

/**
 * A valid file name made from any name or path: the last non-empty part after "/" or "\", control
 * characters replaced by "_", "file" for nothing or "."/"..", shortened to 255 UTF-8 bytes (keeping an
 * extension of up to 16 bytes). The same as Rust's `zk::file::base_name`.
 */
export function fileBaseName(raw) {
  const parts = wellFormed(String(raw ?? "")).split(/[/\\]/);
  let last = "";
  for (let i = parts.length - 1; i >= 0; i--) {
    if (parts[i] !== "") {
      last = parts[i];
      break;
    }
  }
  const cleaned = last.replace(CONTROLS, "_");
  if (cleaned === "" || cleaned === "." || cleaned === "..") return "file";
  const bytes = utf8.encode(cleaned);
  if (bytes.length <= MAX_NAME_LEN) return cleaned;
  const dot = bytes.lastIndexOf(0x2e);
  const extLen = dot > 0 && bytes.length - dot <= MAX_KEPT_EXTENSION ? bytes.length - dot : 0;
  let end = MAX_NAME_LEN - extLen;
  // Back off to the start of a character (UTF-8 continuation bytes are 10xxxxxx).
  while ((bytes[end] & 0xc0) === 0x80) end--;
  const decoder = new TextDecoder();
  return decoder.decode(bytes.subarray(0, end)) + decoder.decode(bytes.subarray(bytes.length - extLen));
}

/** The file header's flags; throws "unsupported-version" or "malformed" (as Rust's `file::needs_passphrase`). */
function parseFileHeader(head) {
  const b = toBytes(head, "head");
  if (b.length === 0) throw zkError("malformed");
  if (b[0] !== FILE_VERSION) throw zkError("unsupported-version");
  if (b.length < FILE_HEADER_LEN) throw zkError("malformed");
  if (b[1] & ~KNOWN_FLAGS || b[2] < MIN_CHUNK_LOG || b[2] > MAX_CHUNK_LOG) throw zkError("malformed");
  return b.subarray(0, FILE_HEADER_LEN);
}

/** Whether opening the file blob starting with `head` (its first 10 bytes or more) needs a passphrase. */
export function fileNeedsPassphrase(head) {
  return (parseFileHeader(head)[1] & FLAG_PASSPHRASE) !== 0;
}

/** AES-GCM parameters for segment `index` of the blob with this header. */
function segmentParams(header, index, last) {
  const iv = new Uint8Array(NONCE_LEN);
  iv.set(header.subarray(3, FILE_HEADER_LEN), 0);
  new DataView(iv.buffer).setUint32(NONCE_PREFIX_LEN, index); // big-endian
  iv[NONCE_LEN - 1] = last ? 1 : 0;
  return { name: "AES-GCM", iv, additionalData: concat(FILE_AAD_LABEL, header), tagLength: 128 };
}

/** The metadata to seal for `file`: {name, type, size}, checked. */
function metaFor(file, name, type) {
  const meta = { name: fileBaseName(name ?? file.name), type: "", size: file.size };
  if (type !== undefined && type !== null) {
    if (!typeIsValid(type)) throw new TypeError("type must be at most 127 printable ASCII characters");
    meta.type = type;
  } else if (typeIsValid(file.type)) {
    meta.type = file.type;
  }
  if (!Number.isSafeInteger(meta.size) || meta.size < 0) throw new RangeError("the file is too large");
  return meta;
}

/** Decrypted metadata: the canonical JSON of a valid {name, type, size}, or throws "failed". */
function parseMeta(bytes) {
  let text;
  let v;
  try {
    // ignoreBOM: a leading BOM stays in the text and is refused (Rust refuses it too).
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    v = JSON.parse(text);
  } catch {
    throw zkError("failed");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw zkError("failed");
  const meta = { name: v.name, type: v.type, size: v.size };
  if (!nameIsValid(meta.name) || !typeIsValid(meta.type) || !Number.isSafeInteger(meta.size) || meta.size < 0) {
    throw zkError("failed");
  }
  // Canonical form only: no other key order, spaces, escapes, duplicate or extra keys, 1e3, -0.
  if (JSON.stringify(meta) !== text) throw zkError("failed");
  return meta;
}

/**
 * For the test vectors only: sealFile with a caller-chosen fragment, nonce prefix (7 bytes) and
 * chunk_log (12..22). Reusing a nonce prefix under one key breaks AES-GCM; everything else must call
 * sealFile(). Returns {blob, keyProof, size}.
 */
export async function sealFileWithNoncePrefix(
  fragment,
  file,
  { passphrase = null, name, type, onProgress, chunkLog, noncePrefix } = {},
) {
  if (!(file instanceof Blob)) throw new TypeError("file must be a Blob or a File");
  if (!Number.isInteger(chunkLog) || chunkLog < MIN_CHUNK_LOG || chunkLog > MAX_CHUNK_LOG) {
    throw new TypeError("chunkLog must be 12..22");
  }
  const prefix = toBytes(noncePrefix, "noncePrefix");
  if (prefix.length !== NONCE_PREFIX_LEN) throw new TypeError("noncePrefix must be 7 bytes");
  const meta = metaFor(file, name, type);
  const chunk = 2 ** chunkLog;
  const count = Math.ceil(meta.size / chunk);
  if (count > MAX_SEGMENTS) throw new RangeError("the file is too large");

  const k = keyFromFragment(fragment);
  const pw = passphraseBytes(passphrase);
  try {
    const header = new Uint8Array(FILE_HEADER_LEN);
    header.set([FILE_VERSION, pw !== null ? FLAG_PASSPHRASE : 0, chunkLog]);
    header.set(prefix, 3);
    const { encKey, proof } = await derive(k, pw);
    const seal = async (index, last, plaintext) =>
      new Uint8Array(await subtle().encrypt(segmentParams(header, index, last), encKey, plaintext));

    const segment0 = await seal(0, meta.size === 0, utf8.encode(JSON.stringify(meta)));
    const head = new Uint8Array(FILE_HEADER_LEN + META_LEN_LEN + segment0.length);
    head.set(header);
    new DataView(head.buffer).setUint32(FILE_HEADER_LEN, segment0.length);
    head.set(segment0, FILE_HEADER_LEN + META_LEN_LEN);
    // Each sealed piece becomes a Blob of its own, which the browser may keep out of the JS heap.
    const parts = [head];
    if (onProgress) onProgress(0, meta.size);
    for (let i = 1; i <= count; i++) {
      const start = (i - 1) * chunk;
      const end = Math.min(start + chunk, meta.size);
      const piece = new Uint8Array(await file.slice(start, end).arrayBuffer());
      if (piece.length !== end - start) throw new Error("The file changed while it was read.");
      try {
        parts.push(new Blob([await seal(i, i === count, piece)]));
      } finally {
        piece.fill(0);
      }
      if (onProgress) onProgress(end, meta.size);
    }
    const blob = new Blob(parts, { type: "application/octet-stream" });
    return { blob, keyProof: b64urlEncode(proof), size: blob.size };
  } finally {
    k.fill(0);
    if (pw !== null) pw.fill(0);
  }
}

/**
 * Encrypts a file (a Blob or File) under a fresh fragment key and the passphrase (string, or null for
 * none), reading it one chunk at a time. `name` and `type` default to the File's own (the name is
 * reduced to a base name, see fileBaseName); `onProgress(doneBytes, totalBytes)` follows the content.
 * Returns {blob: Blob to upload (a fetch body streams it), fragment, keyProof (base64url), size: the
 * blob's length}. With a passphrase this runs 600000 PBKDF2 iterations.
 */
export async function sealFile(file, { passphrase = null, name, type, onProgress } = {}) {
  const fragment = generateKey();
  const noncePrefix = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_PREFIX_LEN));
  const sealed = await sealFileWithNoncePrefix(fragment, file, {
    passphrase,
    name,
    type,
    onProgress,
    chunkLog: FILE_CHUNK_LOG,
    noncePrefix,
  });
  return { ...sealed, fragment };
}

/** Reads exact byte counts from a stream reader, holding no more than asked for plus one read. */
class ExactReader {
  constructor(reader) {
    this.reader = reader;
    this.chunks = [];
    this.length = 0;
    this.ended = false;
  }

  /** Whether `n` bytes are there (reading until they are, or the stream ends). */
  async fill(n) {
    while (this.length < n && !this.ended) {
      const { value, done } = await this.reader.read();
      if (done) {
        this.ended = true;
      } else {
        const bytes = value instanceof Uint8Array ? value : toBytes(value, "stream chunk");
        if (bytes.length > 0) {
          this.chunks.push(bytes);
          this.length += bytes.length;
        }
      }
    }
    return this.length >= n;
  }

  /** The next `n` bytes, or null if the stream ends before them. */
  async take(n) {
    if (!(await this.fill(n))) return null;
    const out = new Uint8Array(n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - o);
      out.set(c.subarray(0, k), o);
      o += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.length -= n;
    return out;
  }

  async atEnd() {
    return !(await this.fill(1));
  }
}

/**
 * Decrypts a file blob (a ReadableStream such as a fetch response's body, a Blob, or bytes) segment by
 * segment. Returns {meta: {name, type, size}, blob: Blob of the content}. The blob's type is always
 * "application/octet-stream": meta.type is the sender's claim, and a blob: URL shares this page's
 * origin (an HTML type would run in it). Throws an Error with code "failed" for a wrong key, a wrong or
 * missing (or unneeded) passphrase, or data that was changed, cut short or extended, and
 * "unsupported-version" for something that is not a file blob; stream errors pass through.
 * `onProgress(doneBytes, totalBytes)` follows the content.
 */
export async function openFile(source, fragment, passphrase = null, onProgress = null) {
  const input = source instanceof Uint8Array || source instanceof ArrayBuffer ? new Blob([source]) : source;
  const stream = input instanceof Blob ? input.stream() : input;
  if (!stream || typeof stream.getReader !== "function") {
    throw new TypeError("source must be a ReadableStream, a Blob or a Uint8Array");
  }
  const k = keyFromFragment(fragment);
  const pw = passphraseBytes(passphrase);
  const reader = stream.getReader();
  const bytes = new ExactReader(reader);
  const failed = () => zkError("failed");
  try {
    const header = await bytes.take(FILE_HEADER_LEN);
    if (header === null) throw failed();
    if (header[0] !== FILE_VERSION) throw zkError("unsupported-version");
    if (header[1] & ~KNOWN_FLAGS || header[2] < MIN_CHUNK_LOG || header[2] > MAX_CHUNK_LOG) throw failed();
    if (((header[1] & FLAG_PASSPHRASE) !== 0) !== (pw !== null)) throw failed();
    const chunk = 2 ** header[2];
    const { encKey } = await derive(k, pw);
    const open = async (index, last, ciphertext) => {
      try {
        return new Uint8Array(await subtle().decrypt(segmentParams(header, index, last), encKey, ciphertext));
      } catch {
        throw failed();
      }
    };

    const metaLenBytes = await bytes.take(META_LEN_LEN);
    if (metaLenBytes === null) throw failed();
    const metaLen = new DataView(metaLenBytes.buffer).getUint32(0);
    if (metaLen <= TAG_LEN || metaLen > MAX_META_LEN) throw failed();
    const segment0 = await bytes.take(metaLen);
    if (segment0 === null) throw failed();
    // Segment 0 is the final one exactly when the file is empty.
    let json;
    let last = false;
    try {
      json = await open(0, false, segment0);
    } catch {
      json = await open(0, true, segment0);
      last = true;
    }
    const meta = parseMeta(json);
    json.fill(0);
    if (last !== (meta.size === 0)) throw failed();
    const count = Math.ceil(meta.size / chunk);
    if (count > MAX_SEGMENTS) throw failed();

    const pieces = [];
    let done = 0;
    if (onProgress) onProgress(0, meta.size);
    for (let i = 1; i <= count; i++) {
      const n = Math.min(chunk, meta.size - done);
      const segment = await bytes.take(n + TAG_LEN);
      if (segment === null) throw failed();
      const piece = await open(i, i === count, segment);
      pieces.push(new Blob([piece]));
      piece.fill(0);
      done += n;
      if (onProgress) onProgress(done, meta.size);
    }
    if (!(await bytes.atEnd())) throw failed();
    return { meta, blob: new Blob(pieces, { type: "application/octet-stream" }) };
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  } finally {
    k.fill(0);
    if (pw !== null) pw.fill(0);
  }
}
