//! What goes to standard output (the link, the secret, JSON: the things scripts capture) and the
//! QR code and times shown to people.

use std::io::{IsTerminal, Write};

use super::exit::Failure;

fn write_failed(e: std::io::Error) -> Failure {
    Failure::usage(format!("cannot write to standard output: {e}"))
}

/// One line on standard output.
pub fn line(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).map_err(write_failed)
}

/// One JSON document on one line of standard output.
pub fn json(value: &impl serde::Serialize) -> Result<(), Failure> {
    // Serialising our own types (strings, numbers, maps with string keys) can't fail.
    let text =
        serde_json::to_string(value).map_err(|e| Failure::usage(format!("cannot encode JSON: {e}")))?;
    line(&text)
}

/// A revealed secret, byte for byte; a terminal also gets a final newline if it has none, so
/// the prompt starts on a line of its own.
pub fn secret(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let newline = std::io::stdout().is_terminal() && !bytes.ends_with(b"\n");
    out.write_all(bytes)
        .and_then(|()| if newline { out.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| out.flush())
        .map_err(write_failed)
}

/// The link as a QR code of Unicode half blocks, light on dark (for a dark terminal), with the
/// quiet zone scanners need.
pub fn qr(text: &str) -> Result<String, Failure> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L)
        .map_err(|e| Failure::usage(format!("cannot make a QR code of the link: {e}")))?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// Unix seconds as RFC 3339 in UTC (`2026-05-01T12:00:00Z`).
pub fn time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// `1 view` / `3 views`.
pub fn views(n: u32) -> String {
    if n == 1 { "1 view".into() } else { format!("{n} views") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_764_000_000), "2025-11-24T16:00:00Z");
    }

    #[test]
    fn qr_codes_render() {
        let q = qr("https://once.example.com/secret/abc#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
            .expect("qr");
        assert!(q.lines().count() > 10);
        assert!(q.contains('█') || q.contains('▀') || q.contains('▄'));
    }
}
