// Once — the combine page (/combine): rebuilds a split secret (`once share --split K-of-N`) from K
// of its N links, in the browser, as `once combine` does (crates/once/src/client/split.rs).
//
// A share link is an ordinary zero-knowledge link whose #fragment is `KEY.{K}of{N}.{SPLIT ID}`
// (crates/once-client/src/split.rs); revealed and opened with KEY (and the passphrase, if any), it
// holds one share (crates/once-crypto/src/zk/split.rs, format v1):
//
//   "once/split" ‖ 0x01 ‖ K ‖ N ‖ x ‖ split_id(16) ‖ y(32) ‖ blob
//
// where y is the split key K0 cut by Shamir's secret sharing over GF(256) (vsss-rs `Gf256`: the
// AES polynomial, x = 1..N) and blob the secret sealed under K0 (zero-knowledge format v1, no
// passphrase). K shares give K0 back by Lagrange interpolation at x = 0; K0 opens the blob.
//
// The order is the CLI's, so that nothing is used up unless the secret can be rebuilt:
//   1. from the links alone: each is a link of this server (the page's own origin) to a split
//      secret's share, all of one split (same split id, K and N), at least K different ones;
//   2. a preview of each (GET, consumes nothing): at least K must still be there; the passphrase
//      is asked for if they need one;
//   3. exactly K are revealed (the first wrong passphrase stops everything: nothing was used up),
//      opened and checked (K, N and split id as the link says, distinct x, one blob);
//   4. the vendored shamir-secret-sharing (privy-io, audited) interpolates K0; K0 opens the blob.
//
// Rules as in app.js: every string shown comes from the template's data-* attributes; DOM text is
// set with textContent/value only; links, keys, shares, the passphrase and the secret are never
// logged nor sent anywhere (only key proofs go to the server). The links typed or brought here
// by "Combine links" are kept in this tab's sessionStorage until the secret is shown, so that
// links opened one by one in this tab add up.

import * as zk from "./zk.js";
import { errorMessage, fill, logFailure, zkAvailable } from "./ui.js";
import { combine as interpolate } from "./vendor/shamir-secret-sharing-0.0.4.mjs";

/** sessionStorage key of the links typed so far (this tab only). */
const STORE = "once-combine-links";
const MAX_SHARES = 16;
const KEY_LEN = 32;
const SPLIT_ID_LEN = 16;
const TAG = new TextEncoder().encode("once/split");
const VERSION = 1;
/** tag ‖ version ‖ K ‖ N ‖ x */
const HEADER_LEN = TAG.length + 4;
const FIXED_LEN = HEADER_LEN + SPLIT_ID_LEN + KEY_LEN;
/** A secret's key in a link: base36 (alphanumeric), as once_client's `bare_key`. */
const LINK_KEY_RE = /^[A-Za-z0-9]{1,128}$/;
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
/** `K-of-N` or `KofN`, case-blind, at most three digits each (as Rust's `Threshold::from_str`). */
const THRESHOLD_RE = /^(\d{1,3})(?:-of-|of)(\d{1,3})$/i;

// ---- Messages and helpers -----------------------------------------------------------------

/** Why combining stopped: a message of the form's data-* (with values), or a text as it is. */
class Stop extends Error {
  constructor(key, values = {}, { text = null, info = false, used = [] } = {}) {
    super("stopped");
    this.name = "Stop";
    /** The data-* name of the message (camelCase), when `text` is null. */
    this.key = key;
    this.values = values;
    this.text = text;
    /** A hint rather than an error (the passphrase is asked for). */
    this.info = info;
    /** The lines of the links already used up. */
    this.used = used;
  }
}

function showAlert(form, text, info = false) {
  const p = document.createElement("p");
  p.className = info ? "alert info" : "alert";
  p.id = "combine-error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  const old = document.getElementById(p.id);
  if (old) old.replaceWith(p);
  else form.before(p);
}

function hideAlert() {
  const p = document.getElementById("combine-error");
  if (p) p.remove();
}

/** "line 1, line 3, and line 4", in the page's language. */
function lineList(form, lines) {
  const items = lines.map((n) => fill(form.dataset.line, { n }));
  try {
    const lang = document.documentElement.lang || undefined;
    return new Intl.ListFormat(lang, { type: "conjunction" }).format(items);
  } catch {
    return items.join(", ");
  }
}

const FETCH_OPTIONS = { credentials: "same-origin", cache: "no-store", referrerPolicy: "no-referrer" };

function preview(key) {
  return fetch(`/api/v2/secrets/${encodeURIComponent(key)}`, {
    ...FETCH_OPTIONS,
    headers: { accept: "application/json" },
  });
}

function reveal(key, proof) {
  return fetch(`/api/v2/secrets/${encodeURIComponent(key)}/reveal`, {
    ...FETCH_OPTIONS,
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ key_proof: proof }),
  });
}

/** Strict base64url of exactly `len` bytes (canonical), or null. */
function decodeExactly(text, len) {
  if (!B64URL_RE.test(text)) return null;
  try {
    const bytes = zk.b64urlDecode(text);
    return bytes.length === len ? bytes : null;
  } catch {
    return null;
  }
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}

// ---- 1. The links, before any request ------------------------------------------------------

/**
 * A share link's #fragment, parsed as `ShareFragment::parse` does: {key, k, n, splitId}, or
 * "ordinary" (a plain key: no dot) or "damaged".
 */
function parseFragment(fragment) {
  const parts = fragment.split(".");
  if (parts.length === 1) return "ordinary";
  if (parts.length !== 3) return "damaged";
  const [key, threshold, splitId] = parts;
  const k = decodeExactly(key, KEY_LEN);
  if (k === null) return "damaged";
  k.fill(0);
  const m = THRESHOLD_RE.exec(threshold);
  if (!m) return "damaged";
  const [needed, shares] = [Number(m[1]), Number(m[2])];
  if (needed < 2 || shares > MAX_SHARES || needed > shares) return "damaged";
  const id = decodeExactly(splitId, SPLIT_ID_LEN);
  if (id === null) return "damaged";
  return { key, k: needed, n: shares, splitId, splitIdBytes: id };
}

/** One line of the text box: a share link of this server, or a Stop that says what is wrong. */
function parseLink(text, line) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new Stop("errNotLink", { line });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Stop("errNotLink", { line });
  if (url.origin !== location.origin) throw new Stop("errOtherServer", { line, host: url.host });
  const m = /^\/secret\/([^/]+)\/?$/.exec(url.pathname);
  if (!m || !LINK_KEY_RE.test(m[1])) throw new Stop("errNotSecret", { line });
  const fragment = url.hash.slice(1);
  if (fragment === "") throw new Stop("errNoKey", { line });
  const share = parseFragment(fragment);
  if (share === "ordinary") throw new Stop("errOrdinary", { line });
  if (share === "damaged") throw new Stop("errDamaged", { line });
  return { line, secretKey: m[1], fragment, ...share };
}

/** The different links of the text box, checked to be at least K of one split. */
function parseLinks(text) {
  const given = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const t = lines[i].trim();
    if (t === "") continue;
    const link = parseLink(t, i + 1);
    const earlier = given.find((g) => g.secretKey === link.secretKey);
    if (earlier) {
      if (earlier.fragment !== link.fragment) {
        throw new Stop("errConflict", { a: earlier.line, b: link.line });
      }
      // The same link twice counts once.
      continue;
    }
    given.push(link);
  }
  if (given.length === 0) throw new Stop("errEmpty");
  const first = given[0];
  if (given.some((g) => g.splitId !== first.splitId || g.k !== first.k || g.n !== first.n)) {
    throw new Stop("errMixed");
  }
  if (given.length < first.k) throw new Stop("errTooFew", { k: first.k, n: first.n, have: given.length });
  return given;
}

// ---- 2. Previews (consume nothing) ---------------------------------------------------------

/** The links still there (at least K), and whether they need a passphrase. */
async function checkStillThere(form, given) {
  const live = [];
  const gone = [];
  let needsPassphrase = false;
  for (const g of given) {
    const res = await preview(g.secretKey);
    if (res.status === 404) {
      gone.push(g.line);
      continue;
    }
    if (res.status !== 200) {
      throw new Stop(null, {}, { text: await errorMessage(res, form.dataset.errGeneric) });
    }
    const p = await res.json();
    if (!p || p.mode !== "zero_knowledge" || p.file) throw new Stop("errNotSplit", { line: g.line });
    if (p.passphrase_required === true) needsPassphrase = true;
    live.push(g);
  }
  const k = given[0].k;
  if (live.length < k) {
    throw new Stop("errGone", { k, live: live.length, list: lineList(form, gone) });
  }
  return { live, needsPassphrase };
}

// ---- 3. Reveal K, open the shares ------------------------------------------------------------

/** A share's bytes as the link announced it: {x, y, blob}, or null. */
function parseShare(bytes, link) {
  if (bytes.length <= FIXED_LEN || !equalBytes(bytes.subarray(0, TAG.length), TAG)) return null;
  const [version, k, n, x] = bytes.subarray(TAG.length, HEADER_LEN);
  if (version !== VERSION || k !== link.k || n !== link.n || x < 1 || x > n) return null;
  if (!equalBytes(bytes.subarray(HEADER_LEN, HEADER_LEN + SPLIT_ID_LEN), link.splitIdBytes)) return null;
  return {
    x,
    y: bytes.slice(HEADER_LEN + SPLIT_ID_LEN, FIXED_LEN),
    blob: bytes.slice(FIXED_LEN),
  };
}

/** Decrypts what revealing `link` returned into its share, or null. */
async function openShare(link, passphrase, ciphertext) {
  let bytes;
  try {
    bytes = await zk.open(link.key, passphrase || null, zk.b64urlDecode(ciphertext));
  } catch (e) {
    logFailure("open share", e);
    return null;
  }
  try {
    return parseShare(bytes, link);
  } finally {
    bytes.fill(0);
  }
}

/** Whether the secret is still there (a preview is 200): true, false (404), or null (unknown). */
async function stillThere(key) {
  try {
    const res = await preview(key);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
  } catch {
    // Unknown.
  }
  return null;
}

/**
 * Reveals links in order until K shares are open. Returns {shares, used, tried}: the lines of the
 * links used up, and how many links were tried.
 */
async function revealShares(form, live, passphrase, needsPassphrase) {
  const k = live[0].k;
  const shares = [];
  const used = [];
  let tried = 0;
  for (const link of live) {
    if (shares.length === k) break;
    tried += 1;
    const proof = await zk.keyProof(link.key, passphrase || null);
    const res = await reveal(link.secretKey, proof);
    if (res.status === 404) {
      // A wrong proof and a gone secret are the same 404; the preview tells them apart. Still
      // there with a passphrase: the passphrase is wrong (the same for every link), and nothing
      // was spent. Otherwise (gone since the preview, or a wrong key in this link): the next.
      if (used.length === 0 && needsPassphrase && (await stillThere(link.secretKey)) === true) {
        throw new Stop("errPassphrase");
      }
      continue;
    }
    if (res.status !== 200) {
      throw new Stop(null, {}, { text: await errorMessage(res, form.dataset.errGeneric), used });
    }
    used.push(link.line);
    const body = await res.json();
    const share =
      body && typeof body.ciphertext === "string" ? await openShare(link, passphrase, body.ciphertext) : null;
    if (share) shares.push(share);
  }
  if (shares.length < k) throw new Stop("errShort", { k, have: shares.length }, { used });
  return { shares, used, tried };
}

// ---- 4. Combine, open the secret -------------------------------------------------------------

/** K0 from K shares (distinct x, one blob), then the secret's bytes; null if they don't open it. */
async function rebuild(shares) {
  const blob = shares[0].blob;
  const xs = new Set(shares.map((s) => s.x));
  if (xs.size !== shares.length || shares.some((s) => !equalBytes(s.blob, blob))) return null;
  // The library's points are y ‖ x (x as the LAST byte); the Rust side (vsss-rs) writes x ‖ y.
  const points = shares.map((s) => {
    const p = new Uint8Array(KEY_LEN + 1);
    p.set(s.y);
    p[KEY_LEN] = s.x;
    return p;
  });
  let key = null;
  try {
    key = await interpolate(points);
    const fragment = zk.b64urlEncode(key);
    return await zk.open(fragment, null, blob);
  } catch (e) {
    logFailure("rebuild", e);
    return null;
  } finally {
    for (const p of points) p.fill(0);
    for (const s of shares) s.y.fill(0);
    if (key) key.fill(0);
  }
}

// ---- The page ---------------------------------------------------------------------------------

function load() {
  try {
    return sessionStorage.getItem(STORE) || "";
  } catch {
    return "";
  }
}

function save(text) {
  try {
    if (text.trim() === "") sessionStorage.removeItem(STORE);
    else sessionStorage.setItem(STORE, text);
  } catch {
    // No storage (disabled): the list lives in the text box only.
  }
}

/**
 * The text box: the links kept in this tab, plus the one(s) in this page's #fragment ("Combine
 * links" on a share link's page puts the link there, URL-encoded, so it never reaches the
 * server), which then leave the address bar.
 */
function prefill(links) {
  const kept = load();
  const lines = kept.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  let incoming = "";
  if (location.hash.length > 1) {
    try {
      incoming = decodeURIComponent(location.hash.slice(1));
    } catch {
      incoming = "";
    }
    history.replaceState(null, "", location.pathname + location.search);
  }
  for (const l of incoming.split(/\s+/)) {
    if (l !== "" && !lines.includes(l)) lines.push(l);
  }
  links.value = lines.length > 0 ? `${lines.join("\n")}\n` : "";
  save(links.value);
}

function showRevealed(form, links, secret, used, unused) {
  const section = document.getElementById("combine-revealed");
  const value = document.getElementById("combine-value");
  if (value) value.value = secret;
  const usedNote = document.getElementById("combine-used");
  if (usedNote) usedNote.textContent = fill(form.dataset.used, { list: lineList(form, used) });
  const unusedNote = document.getElementById("combine-unused");
  if (unusedNote && unused.length > 0) {
    unusedNote.textContent = fill(form.dataset.unused, { list: lineList(form, unused) });
    unusedNote.hidden = false;
  }
  links.value = "";
  save("");
  const pass = document.getElementById("combine-passphrase");
  if (pass) pass.value = "";
  hideAlert();
  form.hidden = true;
  if (section) {
    section.hidden = false;
    const h = section.querySelector("h2");
    if (h) {
      h.tabIndex = -1;
      h.focus();
    }
  }
}

function stopMessage(form, stop) {
  let text = stop.text !== null ? stop.text : fill(form.dataset[stop.key], stop.values);
  if (stop.used.length > 0) text += ` ${fill(form.dataset.used, { list: lineList(form, stop.used) })}`;
  return text;
}

function init() {
  const form = document.getElementById("combine");
  const links = document.getElementById("combine-links");
  if (!(form instanceof HTMLFormElement) || !(links instanceof HTMLTextAreaElement)) return;
  if (!zkAvailable()) {
    // Plain http (not localhost): WebCrypto is missing, nothing can be opened here.
    showAlert(form, form.dataset.errInsecure || "");
    return;
  }
  const passBox = document.getElementById("combine-passphrase-box");
  const pass = document.getElementById("combine-passphrase");
  const button = form.querySelector('button[type="submit"]');
  let busy = false;

  // Hooked before the form is shown: it must never be submitted the browser's way.
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (busy) return;
    busy = true;
    const label = button ? button.textContent : "";
    form.setAttribute("aria-busy", "true");
    if (button) {
      button.disabled = true;
      button.textContent = form.dataset.working || label;
    }
    let finished = false;
    try {
      const given = parseLinks(links.value);
      const { live, needsPassphrase } = await checkStillThere(form, given);
      const passphrase = needsPassphrase && pass ? pass.value : "";
      if (needsPassphrase && passphrase === "") {
        if (passBox) passBox.hidden = false;
        if (pass) pass.focus();
        throw new Stop("needPassphrase", {}, { info: true });
      }
      const { shares, used, tried } = await revealShares(form, live, passphrase, needsPassphrase);
      const bytes = await rebuild(shares);
      if (bytes === null) throw new Stop("errFailed", {}, { used });
      const secret = new TextDecoder().decode(bytes);
      bytes.fill(0);
      showRevealed(form, links, secret, used, live.slice(tried).map((g) => g.line));
      finished = true;
    } catch (e) {
      if (e instanceof Stop) {
        showAlert(form, stopMessage(form, e), e.info);
        if (e.key === "errPassphrase" && pass) {
          pass.focus();
          pass.select();
        }
      } else {
        logFailure("combine", e);
        showAlert(form, form.dataset.errGeneric || "");
      }
    } finally {
      busy = false;
      form.setAttribute("aria-busy", "false");
      if (button && !finished) {
        button.disabled = false;
        button.textContent = label;
      }
    }
  });
  links.addEventListener("input", () => save(links.value));
  prefill(links);
  form.hidden = false;
}

try {
  init();
} catch (e) {
  logFailure("combine page", e);
}
