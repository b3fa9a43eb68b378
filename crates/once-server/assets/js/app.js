// Once — progressive enhancement for the server-rendered pages.
//
// Every page works without this script (server-side mode, plain form posts). With it:
//   1. copy buttons (button.copy[data-copy=ID]);
//   2. the home page encrypts in the browser (zero-knowledge mode, zk.js) and talks to API v2;
//      it also offers a file instead of text (sealed with zk.sealFile, uploaded to /api/v2/files);
//   3. the preview page of a zero-knowledge secret derives the key proof, reveals and decrypts;
//      a file secret (always zero-knowledge) the same way, offered for saving as a blob: link;
//      one link of a split secret is not revealed: the page offers the combine page (combine.js);
//   4. <time datetime> shows the reader's own time zone.
//
// Rules: every string shown to users comes from the templates' data-* attributes (English and
// Korean); no inline styles (the CSP forbids them; only classes and `hidden` change); DOM text is
// set with textContent/value only; the secret, the #fragment key and the passphrase are never
// logged, and only the key proof (never the fragment or passphrase) is sent to the server. A
// file's name and content never go into a URL, storage or a log (only into its blob: link).
// Each feature is isolated so one failure leaves the others working.

import * as zk from "./zk.js";
import { errorMessage, fill, logFailure, zkAvailable } from "./ui.js";
import qrcode from "./vendor/qrcode-generator-2.0.4.mjs";

// ---- Helpers --------------------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";

/** A QR code of `text` as an <svg> element built with DOM calls (no markup strings, no styles). */
function qrSvg(text) {
  const code = qrcode(0, "M");
  code.addData(text);
  code.make();
  const n = code.getModuleCount();
  const quiet = 4;
  const size = n + 2 * quiet;
  let d = "";
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (code.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
    }
  }
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("width", "240");
  svg.setAttribute("height", "240");
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("aria-hidden", "true");
  const bg = document.createElementNS(SVG_NS, "rect");
  bg.setAttribute("width", String(size));
  bg.setAttribute("height", String(size));
  bg.setAttribute("fill", "#ffffff");
  const dots = document.createElementNS(SVG_NS, "path");
  dots.setAttribute("d", d);
  dots.setAttribute("fill", "#111111");
  svg.append(bg, dots);
  return svg;
}

/** Runs one feature; a failure is logged by name only (an error message could quote data). */
function feature(name, fn) {
  try {
    fn();
  } catch (e) {
    logFailure(name, e);
  }
}

function submitButton(form) {
  return form.querySelector('button[type="submit"], button:not([type])');
}

/** Puts the form in (or out of) its working state: button disabled and relabelled, aria-busy. */
function setWorking(form, button, working, label) {
  form.setAttribute("aria-busy", working ? "true" : "false");
  if (!button) return;
  button.disabled = working;
  if (working) {
    if (form.dataset.working) button.textContent = form.dataset.working;
  } else if (label !== undefined) {
    button.textContent = label;
  }
}

/**
 * Shows `text` in a fresh p.alert[role=alert] just before `form` (replacing the element with the
 * same id if there is one), so that screen readers announce it even when the text repeats.
 */
function showAlert(form, id, text) {
  const p = document.createElement("p");
  p.className = "alert";
  p.id = id;
  p.setAttribute("role", "alert");
  p.textContent = text || "";
  const old = document.getElementById(id);
  if (old) old.replaceWith(p);
  else form.before(p);
  return p;
}

function hideAlert(id) {
  const p = document.getElementById(id);
  if (p) p.hidden = true;
}

function postJson(url, body, accept = "application/json") {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept },
    body: JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
}

/** Moves focus to a result section's heading (made focusable for this only). */
function focusHeading(section) {
  const h = section.querySelector("h2, h1");
  if (!h) return;
  h.tabIndex = -1;
  h.focus();
}

/** Keeps browsers from restoring a script-filled field (links, revealed text) from history. */
function noRestore(el) {
  if (el) el.setAttribute("autocomplete", "off");
}

// ---- 1. Copy buttons --------------------------------------------------------------------------

const COPY_FEEDBACK_MS = 2000;
const copyLabels = new WeakMap();
const copyTimers = new WeakMap();
let liveRegion = null;

/** A visually hidden polite status region, for "copied" announcements. */
function announce(text) {
  if (!text) return;
  if (!liveRegion) {
    liveRegion = document.createElement("p");
    liveRegion.className = "sr-only";
    liveRegion.setAttribute("role", "status");
    liveRegion.setAttribute("aria-live", "polite");
    document.body.append(liveRegion);
  }
  liveRegion.textContent = "";
  setTimeout(() => {
    liveRegion.textContent = text;
  }, 50);
}

function showCopied(button) {
  const done = button.dataset.done;
  if (!done) return;
  if (!copyLabels.has(button)) copyLabels.set(button, button.textContent);
  clearTimeout(copyTimers.get(button));
  button.textContent = done;
  announce(done);
  copyTimers.set(
    button,
    setTimeout(() => {
      button.textContent = copyLabels.get(button);
      copyLabels.delete(button);
      copyTimers.delete(button);
    }, COPY_FEEDBACK_MS),
  );
}

/** select() + execCommand("copy"); leaves the text selected (for a manual copy) if that fails. */
function legacyCopy(target, button) {
  if (typeof target.select !== "function") return false;
  target.focus();
  target.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  if (ok) button.focus();
  return ok;
}

async function copyFrom(button) {
  const target = document.getElementById(button.dataset.copy || "");
  if (!target) return;
  const text = "value" in target ? target.value : target.textContent;
  let ok = false;
  if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      ok = false;
    }
  }
  if (!ok) ok = legacyCopy(target, button);
  if (ok) showCopied(button);
}

function initCopyButtons() {
  // Delegated, so buttons in sections revealed later (zk-result, zk-revealed) work too.
  document.addEventListener("click", (ev) => {
    const button = ev.target instanceof Element ? ev.target.closest("button.copy[data-copy]") : null;
    if (!button) return;
    ev.preventDefault();
    copyFrom(button).catch((e) => logFailure("copy", e));
  });
}

// ---- 2. Home page: create (zero-knowledge) ----------------------------------------------------

const TTL_UNITS = { minutes: 60, hours: 3600, days: 86400 };

function initTtlCustom(form) {
  const ttl = form.querySelector("#ttl");
  const box = document.getElementById("ttl-custom-fields");
  if (!ttl || !box) return;
  const fields = box.querySelectorAll("input, select");
  const value = box.querySelector("#ttl_custom");
  const sync = () => {
    const custom = ttl.value === "custom";
    box.classList.toggle("is-hidden", !custom);
    // Hidden fields are also disabled: they're neither validated (a stale invalid value would
    // block the form invisibly) nor posted; the server defaults them.
    for (const f of fields) f.disabled = !custom;
    if (value) value.required = custom;
  };
  ttl.addEventListener("change", sync);
  window.addEventListener("pageshow", sync);
  sync();
}

/** The expiry in seconds, undefined for the server's default, or null if the input is invalid. */
function readTtl(form) {
  const ttl = form.querySelector("#ttl");
  if (!ttl) return undefined;
  if (ttl.value === "custom") {
    const input = form.querySelector("#ttl_custom");
    const unit = form.querySelector('select[name="ttl_unit"]');
    const n = input ? Number(input.value) : NaN;
    const mult = TTL_UNITS[unit ? unit.value : "hours"] || TTL_UNITS.hours;
    if (!Number.isSafeInteger(n) || n < 1) return null;
    return n * mult;
  }
  const secs = Number(ttl.value);
  return Number.isSafeInteger(secs) && secs > 0 ? secs : undefined;
}

function readViews(form) {
  const views = form.querySelector("#views");
  if (!views || views.value.trim() === "") return undefined;
  const n = Number(views.value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function showCreated(form, created, fragment) {
  const result = document.getElementById("zk-result");
  const secretUrl = document.getElementById("zk-secret-url");
  const receiptUrl = document.getElementById("zk-receipt-url");
  noRestore(secretUrl);
  noRestore(receiptUrl);
  if (secretUrl) secretUrl.value = `${created.secret_url}#${fragment}`;
  if (receiptUrl) receiptUrl.value = created.receipt_url;

  // The QR code is drawn here: the link holds the key, so the server can't draw it.
  const qr = document.getElementById("zk-qr");
  if (qr) {
    qr.replaceChildren();
    qr.hidden = true;
    try {
      qr.append(qrSvg(`${created.secret_url}#${fragment}`));
      qr.hidden = false;
    } catch (e) {
      logFailure("qr", e);
    }
  }

  const secret = form.querySelector("#secret");
  const passphrase = form.querySelector("#passphrase");
  if (secret) secret.value = "";
  if (passphrase) passphrase.value = "";
  hideAlert("form-error");
  form.hidden = true;
  if (result) {
    result.hidden = false;
    focusHeading(result);
  }
}

/** The options of a create (API v2's create body without the secret): undefined fields are the
 * server's defaults. null when the access limits can't be read. */
function readCreateOptions(form, ttl) {
  const options = {};
  if (ttl !== undefined) options.ttl = ttl;
  const views = readViews(form);
  if (views !== undefined) options.max_views = views;
  const onlyFor = readOnlyFor(form);
  if (onlyFor) options.only_for = onlyFor;
  const access = readAccess(form);
  if (access === null) return null;
  if (access) options.access = access;
  return options;
}

/** Seals the text box's secret and creates it; the answer of `POST /api/v2/secrets`. */
async function createText(form, options) {
  const secretEl = form.querySelector("#secret");
  const passEl = form.querySelector("#passphrase");
  const passphrase = passEl ? passEl.value : "";
  const fragment = zk.generateKey();
  const plaintext = new TextEncoder().encode(secretEl ? secretEl.value : "");
  let sealed;
  try {
    sealed = await zk.seal(fragment, passphrase || null, plaintext);
  } finally {
    plaintext.fill(0);
  }
  const body = { ...options, ciphertext: zk.b64urlEncode(sealed.blob), key_proof: sealed.keyProof };
  return { res: await postJson("/api/v2/secrets", body), fragment };
}

// ---- 2b. Home page: a file instead of text (zero-knowledge only) ------------------------------

const KB = 1024;
const MB = KB * KB;
const GB = MB * KB;

/** A size as people read it, with the unit patterns of `el`'s data-size-kb/-mb/-gb: KB below
 * 1 MB (rounded up), else MB or GB to one decimal. The same as pages.rs `file_size`. */
function sizeLabel(el, bytes) {
  if (bytes < MB) return fill(el.dataset.sizeKb, { n: Math.ceil(bytes / KB) });
  const [unit, pattern] = bytes < GB ? [MB, el.dataset.sizeMb] : [GB, el.dataset.sizeGb];
  // A power of two: the division is exact, and Math.round rounds half up as the server does.
  const tenths = Math.round((bytes * 10) / unit);
  const n = tenths % 10 === 0 ? String(tenths / 10) : `${Math.floor(tenths / 10)}.${tenths % 10}`;
  return fill(pattern, { n });
}

function showFileTooLarge(form, size) {
  showAlert(form, "file-error", fill(form.dataset.errFileSize, { size: sizeLabel(form, size) }));
}

/**
 * The file picker, shown now that this browser can encrypt: choosing a file puts it in the text
 * box's place (one or the other is shared), and a file over the server's limit is refused at
 * once. Returns {file(), clear(), max}, or null when the page offers no files.
 */
function initFileChoice(form) {
  const box = document.getElementById("file-choice");
  const input = document.getElementById("file");
  if (!box || !(input instanceof HTMLInputElement)) return null;
  const max = Number(form.dataset.maxFile);
  if (!Number.isSafeInteger(max) || max <= 0) return null;
  const textBox = document.getElementById("text-choice");
  const secret = form.querySelector("#secret");
  const chosen = document.getElementById("file-chosen");
  const chosenName = document.getElementById("file-chosen-name");
  const remove = document.getElementById("file-remove");
  let file = null;

  const choose = (f) => {
    file = f;
    const isFile = f !== null;
    if (textBox) textBox.hidden = isFile;
    // Disabled, the text box is neither required nor read.
    if (secret) secret.disabled = isFile;
    if (chosen) chosen.hidden = !isFile;
    if (chosenName) {
      chosenName.textContent = isFile ? `${zk.fileBaseName(f.name)} (${sizeLabel(form, f.size)})` : "";
    }
    if (!isFile) input.value = "";
  };
  const sync = () => {
    const f = input.files && input.files.length > 0 ? input.files[0] : null;
    hideAlert("file-error");
    // The server's limit is on the file itself (its encrypted form may be a little larger).
    if (f !== null && f.size > max) {
      choose(null);
      showFileTooLarge(form, f.size);
      input.focus();
      return;
    }
    choose(f);
  };
  input.addEventListener("change", sync);
  window.addEventListener("pageshow", sync);
  if (remove) {
    remove.addEventListener("click", () => {
      hideAlert("file-error");
      choose(null);
      input.focus();
    });
  }
  sync();
  box.hidden = false;
  return { file: () => file, clear: () => choose(null), max };
}

/** An onProgress(done, total) that shows the percentage on `progress` and in `button`'s label
 * (after `label`: what is being done). */
function progressReporter(progress, label, button) {
  return (done, total) => {
    const pct = total > 0 ? Math.floor((done * 100) / total) : 100;
    if (progress) {
      progress.hidden = false;
      progress.value = pct;
    }
    if (button) button.textContent = `${label} ${pct}%`;
  };
}

/**
 * POSTs `body` to `url` with XMLHttpRequest, which, unlike fetch, tells how much of the body has
 * gone: onProgress(sent, total) as it goes. Resolves to a Response made of the answer, read as
 * fetch's would be; rejects as fetch does when no answer comes.
 */
function postWithProgress(url, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("accept", "application/json");
    xhr.responseType = "blob";
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) onProgress(ev.loaded, ev.total);
    });
    xhr.addEventListener("load", () => {
      const headers = new Headers();
      for (const line of xhr.getAllResponseHeaders().split("\r\n")) {
        const at = line.indexOf(":");
        if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
      }
      try {
        resolve(new Response(xhr.response, { status: xhr.status, headers }));
      } catch (e) {
        reject(e);
      }
    });
    for (const what of ["error", "abort"]) {
      xhr.addEventListener(what, () => reject(new TypeError(`upload: ${what}`)));
    }
    xhr.send(body);
  });
}

/**
 * Seals the chosen file (showing the progress) and uploads it: the answer of
 * `POST /api/v2/files`, or null when it was refused (too large).
 */
async function createFile(form, choice, options, button) {
  const file = choice.file();
  const passEl = form.querySelector("#passphrase");
  const passphrase = passEl ? passEl.value : "";
  const progress = document.getElementById("create-progress");
  const onProgress = progressReporter(progress, form.dataset.working || "", button);
  try {
    const sealed = await zk.sealFile(file, { passphrase: passphrase || null, onProgress });
    const uploading = progressReporter(progress, form.dataset.uploading || "", button);
    uploading(0, 1);
    const body = new FormData();
    const json = JSON.stringify({ ...options, key_proof: sealed.keyProof });
    body.append("options", new Blob([json], { type: "application/json" }));
    // A Blob, not the File: the part is named "blob", never with the file's own name.
    body.append("content", sealed.blob);
    // Same origin, so the session cookie goes along; the page's Referrer-Policy keeps the URL.
    const res = await postWithProgress("/api/v2/files", body, uploading);
    if (res.status === 413) {
      showFileTooLarge(form, file.size);
      return null;
    }
    return { res, fragment: sealed.fragment };
  } finally {
    if (progress) {
      progress.hidden = true;
      progress.value = 0;
    }
  }
}

function initCreate() {
  const form = document.getElementById("create");
  if (!(form instanceof HTMLFormElement)) return;
  feature("expiry", () => initTtlCustom(form));
  feature("time-zone", () => initAccessTimeZone(form));
  // Without WebCrypto (plain http), keep the server-side text and the normal form post (and no
  // files: they are zero-knowledge only).
  if (!zkAvailable()) return;

  const mode = document.getElementById("mode");
  if (mode && form.dataset.modeZk) mode.textContent = form.dataset.modeZk;
  let choice = null;
  feature("file-choice", () => {
    choice = initFileChoice(form);
  });

  const generic = form.dataset.errGeneric || "";
  let busy = false;

  form.addEventListener("submit", async (ev) => {
    // Native validation (required, min/max) has already passed when this runs.
    ev.preventDefault();
    if (busy) return;

    const ttl = readTtl(form);
    if (ttl === null) {
      const custom = form.querySelector("#ttl_custom");
      if (custom) {
        custom.focus();
        custom.reportValidity();
      }
      return;
    }
    const options = readCreateOptions(form, ttl);
    if (options === null) {
      showAlert(form, "form-error", form.dataset.errAccess || generic);
      return;
    }

    busy = true;
    const button = submitButton(form);
    const label = button ? button.textContent : undefined;
    setWorking(form, button, true);
    try {
      const sent =
        choice && choice.file()
          ? await createFile(form, choice, options, button)
          : await createText(form, options);
      if (sent === null) return;
      const { res, fragment } = sent;
      if (res.status !== 201) {
        showAlert(form, "form-error", await errorMessage(res, generic));
        return;
      }
      const created = await res.json();
      if (!created || typeof created.secret_url !== "string" || typeof created.receipt_url !== "string") {
        throw new TypeError("unexpected response");
      }
      if (choice) choice.clear();
      hideAlert("file-error");
      showCreated(form, created, fragment);
    } catch (e) {
      logFailure("create", e);
      showAlert(form, "form-error", generic);
    } finally {
      busy = false;
      setWorking(form, button, false, label);
    }
  });
}

// ---- 3. Preview page: reveal (zero-knowledge) -------------------------------------------------

const FRAGMENT_RE = /^[A-Za-z0-9_-]{43}$/;

/** The 43-character base64url key from the address bar's #fragment, or null. */
function readFragment(key) {
  let f = location.hash.slice(1);
  if (f === "" && key) {
    // Kept by the "sign in to view" page while the recipient signed in (the sign-in round trip
    // loses the fragment, and it must never travel to the server): used once, then forgotten.
    f = sessionStorage.getItem(FRAGMENT_STASH + key) || "";
    sessionStorage.removeItem(FRAGMENT_STASH + key);
  }
  if (!FRAGMENT_RE.test(f)) return null;
  try {
    // Strict decode: also rejects non-canonical trailing bits.
    const k = zk.b64urlDecode(f);
    const ok = k.length === 32;
    k.fill(0);
    return ok ? f : null;
  } catch {
    return null;
  }
}

/** `KEY.{K}of{N}.{SPLIT ID}`: the #fragment of one link of a split secret (`once share --split`;
 * the syntax is once_client::split's). Captures K and N. */
const SPLIT_FRAGMENT_RE = /^[A-Za-z0-9_-]{43}\.(\d{1,3})(?:-of-|of)(\d{1,3})\.[A-Za-z0-9_-]{22}$/i;

/**
 * On the page of one link of a split secret: instead of "incomplete link", says it is one of N
 * links (any K rebuild the secret) and offers the combine page, with this link in its #fragment
 * (URL-encoded: it never reaches the server). Revealing the link here would use it up for a share
 * that means nothing alone, so the reveal form goes away. Returns whether it was such a link.
 */
function showSplitLink(form) {
  const section = document.getElementById("zk-split");
  const m = SPLIT_FRAGMENT_RE.exec(location.hash.slice(1));
  if (!section || !m) return false;
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (!(k >= 2 && k <= n && n <= 16)) return false;
  const body = document.getElementById("zk-split-body");
  if (body) body.textContent = fill(section.dataset.body, { k, n });
  const combine = document.getElementById("zk-split-combine");
  if (combine instanceof HTMLAnchorElement) combine.href = `/combine#${encodeURIComponent(location.href)}`;
  form.hidden = true;
  section.hidden = false;
  return true;
}

/** Fills the access limits' time zone with the browser's own, unless one was typed. */
function initAccessTimeZone(form) {
  const tz = form.querySelector("#access_tz");
  if (!(tz instanceof HTMLInputElement) || !tz.hasAttribute("data-default")) return;
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (typeof own === "string" && own !== "") tz.value = own;
}

/** The create form's access limits as API v2's `access`: undefined when none is filled in, null
 * when the "not before" time can't be read in the time zone given. */
function readAccess(form) {
  const val = (id) => {
    const el = form.querySelector("#" + id);
    return el instanceof HTMLInputElement ? el.value.trim() : "";
  };
  const list = (text) => text.split(/[\s,]+/).filter((w) => w !== "");
  const tz = val("access_tz") || "UTC";
  const out = {};
  const networks = list(val("access_networks"));
  if (networks.length > 0) out.networks = networks;
  const countries = list(val("access_countries"));
  if (countries.length > 0) out.countries = countries;
  const notBefore = val("access_not_before");
  if (notBefore !== "") {
    const t = zonedToUnix(notBefore, tz);
    if (t === null) return null;
    out.not_before = t;
  }
  const spans = val("access_hours").split(";").map((s) => s.trim()).filter((s) => s !== "");
  if (spans.length > 0) out.hours = { time_zone: tz, weekly: spans };
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Unix seconds of a `datetime-local` value read as wall-clock time in time zone `tz`; null if
 * either can't be read. */
function zonedToUnix(local, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local);
  if (!m) return null;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  let fmt;
  try {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  } catch {
    return null;
  }
  // The zone's offset at instant t: its wall clock then, minus t.
  const offsetAt = (t) => {
    const p = Object.fromEntries(fmt.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - t;
  };
  // A second round settles times near a daylight-saving change.
  let t = wall - offsetAt(wall);
  t = wall - offsetAt(t);
  return Math.floor(t / 1000);
}

const FRAGMENT_STASH = "once-fragment:";

/** On the "sign in to view" page: keeps the link's key (the fragment) in this tab for the page
 * the recipient comes back to after signing in. */
function initRecipientOnly() {
  const box = document.getElementById("recipient-only");
  if (!box) return;
  const key = box.dataset.key || "";
  const f = readFragment();
  if (key !== "" && f !== null) sessionStorage.setItem(FRAGMENT_STASH + key, f);
}

/** The "only for a signed-in recipient" choice of the create form, as API v2's `only_for`. */
function readOnlyFor(form) {
  const on = form.querySelector("#only_signed_in");
  if (!(on instanceof HTMLInputElement) || !on.checked) return undefined;
  const email = form.querySelector("#only_email");
  const twoFactor = form.querySelector("#only_2fa");
  const out = { second_factor: twoFactor instanceof HTMLInputElement && twoFactor.checked };
  const address = email instanceof HTMLInputElement ? email.value.trim() : "";
  if (address !== "") out.email = address;
  return out;
}

/** true if the secret still exists (GET preview is 200), false if it's gone (404), null if unknown. */
async function secretStillThere(key) {
  try {
    const res = await fetch(`/api/v2/secrets/${encodeURIComponent(key)}`, {
      headers: { accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return null;
  } catch {
    return null;
  }
}

/**
 * Says in `note` how many more times the link works, from a reveal answer's count. With none
 * left the note keeps its text from the page, which says the secret is gone.
 */
function viewsLeftNote(form, note, left) {
  if (!note || !Number.isSafeInteger(left) || left <= 0) return;
  note.textContent = left === 1 ? form.dataset.viewsLeftOne || "" : fill(form.dataset.viewsLeft, { n: left });
}

/** Decrypts a text secret's reveal answer into the page: its section, or false if it can't be. */
async function revealText(form, res, fragment, passphrase) {
  const json = await res.json();
  let text;
  try {
    const bytes = await zk.open(fragment, passphrase || null, zk.b64urlDecode(json.ciphertext));
    text = new TextDecoder().decode(bytes);
    bytes.fill(0);
  } catch (e) {
    logFailure("decrypt", e);
    return false;
  }
  const out = document.getElementById("zk-value");
  noRestore(out);
  if (out) out.value = text;
  viewsLeftNote(form, document.getElementById("zk-revealed-note"), json.views_left);
  return document.getElementById("zk-revealed");
}

/**
 * Decrypts a file secret's reveal answer as it streams in (showing the progress), and offers the
 * file for saving through a blob: URL that lives as long as this page: its section, or false if
 * it can't be opened. The file's name goes only into the link (its text and `download`).
 */
async function revealFile(form, res, fragment, passphrase, button) {
  const progress = document.getElementById("reveal-progress");
  const onProgress = progressReporter(progress, form.dataset.working || "", button);
  let opened;
  try {
    opened = await zk.openFile(res.body, fragment, passphrase || null, onProgress);
  } catch (e) {
    logFailure("decrypt", e);
    return false;
  } finally {
    if (progress) progress.hidden = true;
  }
  const { meta, blob } = opened;
  const link = document.getElementById("zk-file-link");
  if (link instanceof HTMLAnchorElement) {
    // openFile's blob is application/octet-stream whatever type the sender claimed: opened in
    // this origin, a blob: URL of an HTML type would run as our page.
    const href = URL.createObjectURL(blob);
    link.href = href;
    link.download = meta.name;
    link.textContent = `${meta.name} (${sizeLabel(form, meta.size)})`;
    window.addEventListener("pagehide", (ev) => {
      if (!ev.persisted) URL.revokeObjectURL(href);
    });
  }
  viewsLeftNote(form, document.getElementById("zk-file-note"), Number(res.headers.get("once-views-left")));
  return document.getElementById("zk-file");
}

function initReveal() {
  const form = document.getElementById("zk-reveal");
  if (!(form instanceof HTMLFormElement)) return;
  const key = form.dataset.key || "";
  const needsPassphrase = form.dataset.needsPassphrase === "true";
  const errFragment = form.dataset.errFragment || "";
  const errFailed = form.dataset.errFailed || "";
  const errGone = form.dataset.errGone || "";
  const button = submitButton(form);
  const passEl = form.querySelector("#passphrase");
  const alertId = "zk-error";
  const isFile = form.dataset.file === "true";

  const disable = () => {
    if (button) button.disabled = true;
    if (passEl) passEl.disabled = true;
  };

  if (!zkAvailable()) {
    // Plain http (not localhost): this browser can't decrypt here.
    showAlert(form, alertId, form.dataset.errInsecure || errFailed);
    disable();
    return;
  }

  let fragment = readFragment(key);
  if (fragment === null || key === "") {
    if (key !== "" && showSplitLink(form)) return;
    showAlert(form, alertId, errFragment);
    disable();
    return;
  }

  let busy = false;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (busy || fragment === null) return;
    busy = true;
    const label = button ? button.textContent : undefined;
    setWorking(form, button, true);
    let finished = false; // revealed, or nothing more to try: keep the button disabled
    try {
      const passphrase = needsPassphrase && passEl ? passEl.value : "";
      let proof;
      try {
        proof = await zk.keyProof(fragment, passphrase || null);
      } catch (e) {
        if (e && e.name === "ZkError") {
          showAlert(form, alertId, errFragment);
          finished = true;
          return;
        }
        throw e;
      }

      const url = `/api/v2/secrets/${encodeURIComponent(key)}/reveal`;
      const accept = isFile ? "application/octet-stream" : "application/json";
      const res = await postJson(url, { key_proof: proof }, accept);
      if (res.status === 200) {
        const section = isFile
          ? await revealFile(form, res, fragment, passphrase, button)
          : await revealText(form, res, fragment, passphrase);
        if (section === false) {
          // The proof matched, so the key is right: the data is damaged. The view is spent.
          showAlert(form, alertId, errFailed);
          finished = true;
          return;
        }
        if (passEl) passEl.value = "";
        hideAlert(alertId);
        form.hidden = true;
        if (section) {
          section.hidden = false;
          focusHeading(section);
        }
        // Drop the key from the address bar (and from this page's history entry).
        history.replaceState(null, "", location.pathname + location.search);
        fragment = null;
        finished = true;
        return;
      }

      if (res.status === 404) {
        // A wrong proof (link or passphrase) and a gone secret are the same 404; the preview,
        // which consumes nothing, tells them apart.
        const still = await secretStillThere(key);
        if (still === false) {
          showAlert(form, alertId, errGone);
          finished = true;
        } else if (still === true && !needsPassphrase) {
          // No passphrase involved, so the key in the link is wrong; retrying can't help, and
          // each wrong proof counts towards burning the secret.
          showAlert(form, alertId, errFragment);
          finished = true;
        } else {
          showAlert(form, alertId, errFailed);
          if (passEl) {
            passEl.focus();
            passEl.select();
          }
        }
        return;
      }

      showAlert(form, alertId, await errorMessage(res, errFailed));
    } catch (e) {
      logFailure("reveal", e);
      showAlert(form, alertId, errFailed);
    } finally {
      busy = false;
      setWorking(form, button, false, label);
      if (finished) disable();
    }
  });
}

// ---- 4. Local times ---------------------------------------------------------------------------

function initLocalTimes() {
  const times = document.querySelectorAll("time[datetime]");
  if (times.length === 0) return;
  const opts = { dateStyle: "medium", timeStyle: "short" };
  let fmt;
  try {
    fmt = new Intl.DateTimeFormat(document.documentElement.lang || undefined, opts);
  } catch {
    fmt = new Intl.DateTimeFormat(undefined, opts);
  }
  for (const t of times) {
    const d = new Date(t.getAttribute("datetime"));
    if (Number.isNaN(d.getTime())) continue;
    // Keep the server's UTC rendering as a tooltip.
    if (!t.hasAttribute("title")) t.title = t.textContent.trim();
    t.textContent = fmt.format(d);
  }
}

// ---- Start ------------------------------------------------------------------------------------

// Module scripts run after the document is parsed, so the DOM is complete here.
feature("copy", initCopyButtons);
feature("create", initCreate);
feature("reveal", initReveal);
feature("times", initLocalTimes);
feature("recipient-only", initRecipientOnly);
