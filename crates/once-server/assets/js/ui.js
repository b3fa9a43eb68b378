// Small helpers the page scripts share (app.js on every page, combine.js on /combine).

/** `pattern` with each `{name}` replaced by `values[name]`, in one pass (so a file name that
 * contains "{size}" stays as it is). */
export function fill(pattern, values) {
  return String(pattern || "").replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(values, name) ? String(values[name]) : whole,
  );
}

/** Notes a failed step in the console, by its name and the error's kind only (never a message,
 * which could hold secret material). */
export function logFailure(name, e) {
  const kind = e && typeof e.name === "string" ? ` (${e.name})` : "";
  console.warn(`once: ${name} failed${kind}`);
}

/** Zero-knowledge mode needs WebCrypto, which browsers expose only in secure contexts. */
export function zkAvailable() {
  return Boolean(globalThis.isSecureContext && globalThis.crypto && globalThis.crypto.subtle);
}

/** The message of an API v2 error envelope {"error": {"code", "message"}}, else `fallback`. */
export async function errorMessage(res, fallback) {
  try {
    const body = await res.json();
    const msg = body && body.error && body.error.message;
    if (typeof msg === "string" && msg.trim() !== "") return msg;
  } catch {
    // Not JSON (a proxy's error page, an empty body): use the fallback.
  }
  return fallback;
}
