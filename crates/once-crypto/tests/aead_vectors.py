#!/usr/bin/env python3
"""Independent known answers for once-crypto's envelope algorithms (src/envelope.rs tests).

Nothing here shares code with the Rust side (RustCrypto `aes-gcm`, `aria`, `chacha20poly1305`):

* ARIA-256-GCM: GCM (NIST SP 800-38D: CTR from J0 = IV || 0^31 || 1, GHASH over GF(2^128))
  written out below by hand, on the ARIA-256 block cipher of the `openssl` command line
  (`openssl enc -aria-256-ecb`, OpenSSL's own ARIA code). The script first checks that
  composition against RFC 5794 A.3 (the block) and RFC 8269 (AEAD_ARIA_256_GCM, the SRTP test
  packet), then computes the Once envelope vector `wire_format_with_aria_is_pinned`.
* XChaCha20-Poly1305: HChaCha20 written out below, then `cryptography`'s ChaCha20Poly1305
  (RFC 8439) with the derived subkey, as draft-irtf-cfrg-xchacha-03 section 2.3 describes;
  checked against the draft's A.3.1 vector, then the envelope vector
  `wire_format_with_xchacha_is_pinned`.
* AES-256-GCM: `cryptography`'s AESGCM, reproducing the existing `wire_format_is_pinned`
  vector, which checks this script's HKDF and AAD layout before it is trusted for the others.

Needs python3, the `openssl` command (1.1.1 or 3.x) and the `cryptography` package.
Run: python3 crates/once-crypto/tests/aead_vectors.py
"""

import hashlib
import hmac
import struct
import subprocess
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305


# --- ARIA-256 block cipher, from OpenSSL's command line --------------------------------------

def aria256_ecb(key: bytes, blocks: bytes) -> bytes:
    """Encrypts whole 16-byte blocks independently (ECB, no padding)."""
    assert len(key) == 32 and len(blocks) % 16 == 0
    out = subprocess.run(
        ["openssl", "enc", "-aria-256-ecb", "-nopad", "-K", key.hex()],
        input=blocks, capture_output=True, check=True,
    ).stdout
    assert len(out) == len(blocks)
    return out


# --- GCM, by hand (NIST SP 800-38D) ----------------------------------------------------------

R = 0xE1 << 120


def gf_mult(x: int, y: int) -> int:
    """Multiplication in GF(2^128) with GCM's bit order (SP 800-38D, algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ R if v & 1 else v >> 1
    return z


def ghash(h: bytes, aad: bytes, ct: bytes) -> bytes:
    def padded(b: bytes) -> bytes:
        return b + bytes(-len(b) % 16)

    data = padded(aad) + padded(ct) + struct.pack(">QQ", len(aad) * 8, len(ct) * 8)
    hi, y = int.from_bytes(h, "big"), 0
    for i in range(0, len(data), 16):
        y = gf_mult(y ^ int.from_bytes(data[i:i + 16], "big"), hi)
    return y.to_bytes(16, "big")


def gcm_encrypt(block_ecb, key: bytes, iv: bytes, pt: bytes, aad: bytes):
    """GCM with a 96-bit IV; returns (ciphertext, tag)."""
    assert len(iv) == 12
    nblocks = (len(pt) + 15) // 16
    # One call: H = E(0^128), E(J0), then E(inc32^i(J0)) for i = 1..nblocks.
    counters = [iv + struct.pack(">I", i + 1) for i in range(nblocks + 1)]
    stream = block_ecb(key, bytes(16) + b"".join(counters))
    h, ek_j0, keystream = stream[:16], stream[16:32], stream[32:]
    ct = bytes(a ^ b for a, b in zip(pt, keystream))
    tag = bytes(a ^ b for a, b in zip(ghash(h, aad, ct), ek_j0))
    return ct, tag


# --- XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) -----------------------------------------

def _rotl(v: int, n: int) -> int:
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    s = list(struct.unpack("<4I", b"expand 32-byte k") + struct.unpack("<8I", key)
             + struct.unpack("<4I", nonce16))
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12); _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14); _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15); _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13); _quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha20poly1305_encrypt(key: bytes, nonce: bytes, pt: bytes, aad: bytes) -> bytes:
    """Ciphertext || tag."""
    assert len(nonce) == 24
    sub = hchacha20(key, nonce[:16])
    return ChaCha20Poly1305(sub).encrypt(bytes(4) + nonce[16:], pt, aad)


# --- The Once envelope (layout in src/envelope.rs) -------------------------------------------

def hkdf_sha256(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:length]


# The fixed inputs of the Rust tests `fixed_ring()` / `fixed_random()`.
MASTER = bytes([0x42]) * 32
KEY_ID = b"env-cd8b5175"  # KeyRing::from_single_key's id for MASTER
TOKEN = b"k3jtoken"
RECORD_ID = bytes([7]) * 32
HKDF_SALT = bytes([1]) * 32
NONCE = bytes([3]) * 24  # algorithms with a 12-byte nonce use the first 12
PLAINTEXT = b"hi"


def envelope(alg: int, nonce_len: int, seal) -> bytes:
    nonce = NONCE[:nonce_len]
    header = bytes([1, alg, len(KEY_ID)]) + KEY_ID + b"\x00" + HKDF_SALT + nonce
    key = hkdf_sha256(HKDF_SALT, MASTER + TOKEN, b"once/v1/aead-key" + bytes([alg]) + KEY_ID, 32)
    aad = b"once/envelope/v1" + header + RECORD_ID
    return header + seal(key, nonce, PLAINTEXT, aad)


def main() -> int:
    ok = True

    def check(name: str, got: bytes, want_hex: str) -> None:
        nonlocal ok
        good = got.hex() == want_hex
        ok &= good
        print(f"{'PASS' if good else 'FAIL'}  {name}" + ("" if good else f"\n  got  {got.hex()}\n  want {want_hex}"))

    # RFC 5794 appendix A.3: ARIA-256 block.
    check("RFC 5794 A.3 ARIA-256 block",
          aria256_ecb(bytes(range(32)), bytes.fromhex("00112233445566778899aabbccddeeff")),
          "f92bd7c79fb72e2f2b8f80c1972d24fc")

    # RFC 8269 appendix A (AEAD_ARIA_256_GCM): an SRTP packet's payload under its header as AAD.
    key = bytes.fromhex("0c5ffd37a11edc42c325287fc0604f2e3e8cd5671a00fe3216aa5eb105783b54")
    iv = bytes.fromhex("000020e8f5eb00000000315e")
    aad = bytes.fromhex("8008315ebf2e6fe020e8f5eb")
    pt = bytes.fromhex(RFC8269_PLAINTEXT)
    ct, tag = gcm_encrypt(aria256_ecb, key, iv, pt, aad)
    check("RFC 8269 AEAD_ARIA_256_GCM ciphertext", ct, RFC8269_ARIA256_CIPHERTEXT)
    check("RFC 8269 AEAD_ARIA_256_GCM tag", tag, "e210d6ced2cf430ff841472915e7ef48")

    # The hand-written GCM agrees with a library's AES-256-GCM (so GHASH/CTR are GCM's).
    aes_key = bytes(range(32))
    want = AESGCM(aes_key).encrypt(iv, pt, aad)

    def aes_ecb(k: bytes, blocks: bytes) -> bytes:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        e = Cipher(algorithms.AES(k), modes.ECB()).encryptor()
        return e.update(blocks) + e.finalize()

    ct, tag = gcm_encrypt(aes_ecb, aes_key, iv, pt, aad)
    check("hand-written GCM = cryptography's AES-256-GCM", ct + tag, want.hex())

    # draft-irtf-cfrg-xchacha-03 section 2.2.1 (HChaCha20) and appendix A.3.1 (the AEAD).
    check("XChaCha draft 2.2.1 HChaCha20",
          hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927")),
          "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")
    sunscreen = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
                 b"for the future, sunscreen would be it.")
    check("XChaCha draft A.3.1 AEAD",
          xchacha20poly1305_encrypt(bytes(range(0x80, 0xA0)), bytes(range(0x40, 0x58)), sunscreen,
                                    bytes.fromhex("50515253c0c1c2c3c4c5c6c7")),
          XCHACHA_DRAFT_CIPHERTEXT_TAG)

    # The envelope: AES first (it reproduces a vector pinned before this script existed).
    check("envelope, AES-256-GCM (wire_format_is_pinned)",
          envelope(1, 12, lambda k, n, p, a: AESGCM(k).encrypt(n, p, a)), PINNED_AES_ENVELOPE)
    print("envelope, ARIA-256-GCM:      ", envelope(
        2, 12, lambda k, n, p, a: b"".join(gcm_encrypt(aria256_ecb, k, n, p, a))).hex())
    print("envelope, XChaCha20-Poly1305:", envelope(3, 24, xchacha20poly1305_encrypt).hex())
    return 0 if ok else 1


RFC8269_PLAINTEXT = (
    "f57af5fd4ae19562976ec57a5a7ad55a5af5c5e5c5fdf5c55ad57a4a7272d57262e9729566ed66e97ac54a4a5a7ad5e1"
    "5ae5fdd5fd5ac5d56ae56ad5c572d54ae54ac55a956afd6aed5a4ac562957a9516991691d572fd14e97ae962ed7a9f4a"
    "955af572e162f57a956666e17ae1f54a95f566d54a66e16e4afd6a9f7ae1c5c55ae5d56afde916c5e94a6ec56695e14a"
    "fde1148416e94ad57ac5146ed59d1cc5"
)
RFC8269_ARIA256_CIPHERTEXT = (
    "6f9e4bcbc8c85fc0128fb1e4a0a20cb9932ff74581f54fc013dd054b19f99371425b352d97d3f337b90b63d1b082adee"
    "ea9d2d7391897d591b985e55fb50cb5350cf7d38dc27dda127c078a149c8eb98083d66363a46e3726af217d3a00275ad"
    "5bf772c7610ea4c23006878f0ee69a8397703169a419303f40b72e4573714d19e2697df61e7c7252e5abc6bade876ac4"
    "961bfac4d5e867afca351a48aed52822"
)
XCHACHA_DRAFT_CIPHERTEXT_TAG = (
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39"
    "ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
    "21f9664c97637da9768812f615c68b13b52e"
    "c0875924c1c7987947deafd8780acf49"
)
PINNED_AES_ENVELOPE = (
    "0101" "0c" "656e762d6364386235313735" "00"
    "0101010101010101010101010101010101010101010101010101010101010101"
    "030303030303030303030303"
    "99195ca2484aa63b922357b49fe4ce3aa6f4"
)

if __name__ == "__main__":
    sys.exit(main())
