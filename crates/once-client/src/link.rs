//! The links people pass around, parsed: a secret link `https://host/secret/KEY#FRAGMENT` (the
//! fragment only in zero-knowledge mode), a receipt link `https://host/receipt/KEY`, or a bare
//! key. The server's base URL is what comes before `/secret/` or `/receipt/`, so a server under
//! a path prefix (`https://example.com/once/secret/…`) works too.

use zeroize::Zeroizing;

/// Why a link was refused. Never quotes the fragment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("not a link or key: expected {0}")]
    Unrecognised(&'static str),
    #[error("only http and https links are supported")]
    Scheme,
    #[error("the key in the link has characters a key never has")]
    BadKey,
}

/// A parsed secret link (or bare key).
pub struct SecretLink {
    /// The server, when the text was a full link: `https://host[/prefix]`.
    pub base: Option<String>,
    pub key: String,
    fragment: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for SecretLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretLink")
            .field("base", &self.base)
            .field("has_fragment", &self.fragment.is_some())
            .finish_non_exhaustive()
    }
}

impl SecretLink {
    /// Parses `https://host/secret/KEY[#FRAGMENT]`, or a bare `KEY[#FRAGMENT]`.
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let (rest, fragment) = match text.trim().split_once('#') {
            Some((rest, f)) => (rest, Some(f).filter(|f| !f.is_empty())),
            None => (text.trim(), None),
        };
        let (base, key) = split(rest, "secret", "a secret link (…/secret/KEY#…) or a key")?;
        Ok(SecretLink { base, key, fragment: fragment.map(|f| Zeroizing::new(f.to_owned())) })
    }

    /// The text after `#`: the key of a zero-knowledge secret.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref().map(String::as_str)
    }
}

/// A parsed receipt link (or bare receipt key).
#[derive(Debug, PartialEq, Eq)]
pub struct ReceiptLink {
    /// The server, when the text was a full link.
    pub base: Option<String>,
    pub key: String,
}

impl ReceiptLink {
    /// Parses `https://host/receipt/KEY` (also OTS's older `/private/KEY`), or a bare key.
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let text = text.trim();
        let text = text.split_once('#').map_or(text, |(rest, _)| rest);
        let expected = "a receipt link (…/receipt/KEY) or a receipt key";
        let (base, key) = match split(text, "receipt", expected) {
            Err(LinkError::Unrecognised(_)) => split(text, "private", expected)?,
            other => other?,
        };
        Ok(ReceiptLink { base, key })
    }
}

/// Splits `scheme://host[/prefix]/{segment}/KEY[/][?query]` into its base and key, or checks a
/// bare key.
fn split(text: &str, segment: &str, expected: &'static str) -> Result<(Option<String>, String), LinkError> {
    let Some((scheme, after_scheme)) = text.split_once("://") else {
        return bare_key(text, expected).map(|k| (None, k));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(LinkError::Scheme);
    }
    let without_query = after_scheme.split_once('?').map_or(after_scheme, |(p, _)| p);
    let marker = format!("/{segment}/");
    let Some(at) = without_query.rfind(&marker) else {
        return Err(LinkError::Unrecognised(expected));
    };
    let host_and_prefix = &without_query[..at];
    if host_and_prefix.is_empty() || host_and_prefix.starts_with('/') {
        return Err(LinkError::Unrecognised(expected));
    }
    let key = without_query[at + marker.len()..].trim_end_matches('/');
    let key = bare_key(key, expected)?;
    Ok((Some(format!("{}://{host_and_prefix}", scheme.to_ascii_lowercase())), key))
}

/// Keys are base36 (OTS: alphanumeric) and at most a few dozen characters.
fn bare_key(text: &str, expected: &'static str) -> Result<String, LinkError> {
    if text.is_empty() {
        return Err(LinkError::Unrecognised(expected));
    }
    if text.len() > 128 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(if text.contains('/') { LinkError::Unrecognised(expected) } else { LinkError::BadKey });
    }
    Ok(text.to_owned())
}

/// Whether two server base URLs name the same server (scheme and host compared case-blind, a
/// trailing `/` ignored): an API key configured for one is only ever sent to that one.
pub fn same_server(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.trim().trim_end_matches('/');
        match s.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
                let mut host = host.to_ascii_lowercase();
                // The scheme's default port is the same server.
                let scheme = scheme.to_ascii_lowercase();
                let default = if scheme == "https" { ":443" } else { ":80" };
                if let Some(h) = host.strip_suffix(default) {
                    host = h.to_owned();
                }
                format!("{scheme}://{host}/{path}")
            }
            None => s.to_owned(),
        }
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "k3jq8zx0a1";
    const FRAG: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn full_secret_links() {
        let l = SecretLink::parse(&format!("https://once.example.com/secret/{KEY}#{FRAG}")).expect("link");
        assert_eq!(l.base.as_deref(), Some("https://once.example.com"));
        assert_eq!(l.key, KEY);
        assert_eq!(l.fragment(), Some(FRAG));

        let l = SecretLink::parse(&format!("  HTTP://127.0.0.1:7143/secret/{KEY}/  ")).expect("link");
        assert_eq!(l.base.as_deref(), Some("http://127.0.0.1:7143"));
        assert_eq!(l.fragment(), None);

        let l = SecretLink::parse(&format!("https://example.com/tools/once/secret/{KEY}?x=1#{FRAG}"))
            .expect("prefixed link");
        assert_eq!(l.base.as_deref(), Some("https://example.com/tools/once"));
        assert_eq!(l.key, KEY);

        // An empty fragment is no fragment.
        assert_eq!(SecretLink::parse(&format!("https://h/secret/{KEY}#")).expect("link").fragment(), None);
    }

    #[test]
    fn bare_keys() {
        let l = SecretLink::parse(KEY).expect("key");
        assert_eq!((l.base, l.key.as_str()), (None, KEY));
        let l = SecretLink::parse(&format!("{KEY}#{FRAG}")).expect("key and fragment");
        assert_eq!(l.fragment(), Some(FRAG));
        let r = ReceiptLink::parse(KEY).expect("receipt key");
        assert_eq!(r, ReceiptLink { base: None, key: KEY.into() });
    }

    #[test]
    fn receipt_links() {
        let r = ReceiptLink::parse(&format!("https://h.example/receipt/{KEY}")).expect("receipt");
        assert_eq!(r, ReceiptLink { base: Some("https://h.example".into()), key: KEY.into() });
        let r = ReceiptLink::parse(&format!("https://h.example/private/{KEY}")).expect("OTS's old form");
        assert_eq!(r.key, KEY);
        assert!(ReceiptLink::parse(&format!("https://h.example/secret/{KEY}")).is_err());
    }

    #[test]
    fn refusals() {
        for bad in ["", "https://h/", "https:///secret/abc", "https://h/other/abc", "a b", "abc/def"] {
            assert!(SecretLink::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(SecretLink::parse("ftp://h/secret/abc").err(), Some(LinkError::Scheme));
        assert_eq!(SecretLink::parse("https://h/secret/ab%2Fc").err(), Some(LinkError::BadKey));
        assert_eq!(SecretLink::parse(&"a".repeat(129)).err(), Some(LinkError::BadKey));
        // The error never repeats the fragment.
        let e = SecretLink::parse(&format!("nope nope#{FRAG}")).expect_err("refused");
        assert!(!e.to_string().contains(FRAG));
    }

    #[test]
    fn same_server_ignores_case_slash_and_default_port() {
        assert!(same_server("https://Once.Example.com/", "https://once.example.com"));
        assert!(same_server("https://once.example.com:443", "https://once.example.com"));
        assert!(same_server("http://h/prefix", "http://h/prefix/"));
        assert!(!same_server("http://once.example.com", "https://once.example.com"));
        assert!(!same_server("https://once.example.com", "https://evil.example.com"));
        assert!(!same_server("https://h/a", "https://h/b"));
        assert!(!same_server("https://h:8443", "https://h"));
    }
}
