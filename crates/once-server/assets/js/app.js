// Once — progressive enhancement for the server-rendered pages.
//
// Every page works without this script (server-side mode, plain form posts). With it:
//   1. copy buttons (button.copy[data-copy=ID]);
//   2. the home page encrypts in the browser (zero-knowledge mode, zk.js) and talks to API v2;
//   3. the preview page of a zero-knowledge secret derives the key proof, reveals and decrypts;
//   4. <time datetime> shows the reader's own time zone.
//
// Rules: every string shown to users comes from the templates' data-* attributes (English and
// Korean); no inline styles (the CSP forbids them; only classes and `hidden` change); DOM text is
// set with textContent/value only; the secret, the #fragment key and the passphrase are never
// logged, and only the key proof (never the fragment or passphrase) is sent to the server.
// Each feature is isolated so one failure leaves the others working.

import * as zk from "./zk.js";
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

function logFailure(name, e) {
  const kind = e && typeof e.name === "string" ? ` (${e.name})` : "";
  console.warn(`once: ${name} failed${kind}`);
}

/** Zero-knowledge mode needs WebCrypto, which browsers expose only in secure contexts. */
function zkAvailable() {
  return Boolean(globalThis.isSecureContext && globalThis.crypto && globalThis.crypto.subtle);
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

/** The message of an API v2 error envelope {"error": {"code", "message"}}, else `fallback`. */
async function errorMessage(res, fallback) {
  try {
    const body = await res.json();
    const msg = body && body.error && body.error.message;
    if (typeof msg === "string" && msg.trim() !== "") return msg;
  } catch {
    // Not JSON (a proxy's error page, an empty body): use the fallback.
  }
  return fallback;
}

function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
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

function initCreate() {
  const form = document.getElementById("create");
  if (!(form instanceof HTMLFormElement)) return;
  feature("expiry", () => initTtlCustom(form));
  feature("time-zone", () => initAccessTimeZone(form));
  // Without WebCrypto (plain http), keep the server-side text and the normal form post.
  if (!zkAvailable()) return;

  const mode = document.getElementById("mode");
  if (mode && form.dataset.modeZk) mode.textContent = form.dataset.modeZk;

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

    busy = true;
    const button = submitButton(form);
    const label = button ? button.textContent : undefined;
    setWorking(form, button, true);
    try {
      const secretEl = form.querySelector("#secret");
      const passEl = form.querySelector("#passphrase");
      const passphrase = passEl ? passEl.value : "";
      const views = readViews(form);

      const fragment = zk.generateKey();
      const plaintext = new TextEncoder().encode(secretEl ? secretEl.value : "");
      let sealed;
      try {
        sealed = await zk.seal(fragment, passphrase || null, plaintext);
      } finally {
        plaintext.fill(0);
      }

      const body = { ciphertext: zk.b64urlEncode(sealed.blob), key_proof: sealed.keyProof };
      if (ttl !== undefined) body.ttl = ttl;
      if (views !== undefined) body.max_views = views;
      const onlyFor = readOnlyFor(form);
      if (onlyFor) body.only_for = onlyFor;
      const access = readAccess(form);
      if (access === null) {
        showAlert(form, "form-error", form.dataset.errAccess || generic);
        return;
      }
      if (access) body.access = access;

      const res = await postJson("/api/v2/secrets", body);
      if (res.status !== 201) {
        showAlert(form, "form-error", await errorMessage(res, generic));
        return;
      }
      const created = await res.json();
      if (!created || typeof created.secret_url !== "string" || typeof created.receipt_url !== "string") {
        throw new TypeError("unexpected response");
      }
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

      const res = await postJson(`/api/v2/secrets/${encodeURIComponent(key)}/reveal`, { key_proof: proof });
      if (res.status === 200) {
        const json = await res.json();
        let text;
        try {
          const bytes = await zk.open(fragment, passphrase || null, zk.b64urlDecode(json.ciphertext));
          text = new TextDecoder().decode(bytes);
          bytes.fill(0);
        } catch (e) {
          // The proof matched, so the key is right: the data is damaged. The view is spent.
          logFailure("decrypt", e);
          showAlert(form, alertId, errFailed);
          finished = true;
          return;
        }
        const section = document.getElementById("zk-revealed");
        const out = document.getElementById("zk-value");
        noRestore(out);
        if (out) out.value = text;
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
