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
