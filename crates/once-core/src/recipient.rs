//! Secrets only a signed-in recipient may reveal: any account, or the account of one e-mail
//! address, optionally only after two-factor sign-in. Everyone else (anonymous, another account,
//! no second factor) gets [`crate::CoreError::SignInRequired`] and consumes nothing.

use crate::accounts::normalize_email;
use crate::error::CoreError;

/// Who may reveal a secret, besides holding its link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientRule {
    /// The account's e-mail address (normalized); `None` for any signed-in account.
    pub email: Option<String>,
    /// The recipient must have signed in with a second factor (a browser session that passed
    /// it; an API key never counts).
    pub second_factor: bool,
}

/// Who asks to reveal: a signed-in account, through a browser session or an API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub email: String,
    /// Whether this sign-in passed a second factor.
    pub second_factor: bool,
}

/// Who asks to see a secret, as far as its conditions care: the signed-in account (if any) and
/// the client's address (if known).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Visitor {
    pub account: Option<Viewer>,
    pub ip: Option<std::net::IpAddr>,
    /// The caller takes a file secret's content (a stream of bytes), not only text.
    pub takes_files: bool,
}

impl Visitor {
    /// An anonymous visitor from `ip`.
    pub fn from_ip(ip: Option<std::net::IpAddr>) -> Self {
        Visitor { account: None, ip, takes_files: false }
    }
}

impl RecipientRule {
    /// A rule, with its e-mail address checked and normalized.
    pub fn new(email: Option<&str>, second_factor: bool) -> Result<Self, CoreError> {
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(normalize_email(e)?),
            None => None,
        };
        Ok(RecipientRule { email, second_factor })
    }

    /// Whether `viewer` may reveal the secret.
    pub fn admits(&self, viewer: Option<&Viewer>) -> bool {
        viewer.is_some_and(|v| {
            self.email.as_deref().is_none_or(|e| v.email.eq_ignore_ascii_case(e))
                && (!self.second_factor || v.second_factor)
        })
    }

    /// The stored form: `v1;2fa=0|1;email=ADDRESS` (the address may be empty).
    pub(crate) fn encode(&self) -> String {
        format!("v1;2fa={};email={}", u8::from(self.second_factor), self.email.as_deref().unwrap_or(""))
    }

    /// The stored form back; `None` for anything else (which admits no one).
    pub(crate) fn decode(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("v1;2fa=")?;
        let (flag, rest) = rest.split_once(";email=")?;
        let second_factor = match flag {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        Some(RecipientRule { email: (!rest.is_empty()).then(|| rest.to_owned()), second_factor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(email: &str, second_factor: bool) -> Viewer {
        Viewer { email: email.into(), second_factor }
    }

    #[test]
    fn rules_admit_whom_they_name() {
        let anyone = RecipientRule::new(None, false).expect("rule");
        assert!(anyone.admits(Some(&viewer("a@example.com", false))));
        assert!(!anyone.admits(None), "anonymous never");
        let bob = RecipientRule::new(Some(" Bob@Example.com "), true).expect("rule");
        assert_eq!(bob.email.as_deref(), Some("bob@example.com"));
        assert!(bob.admits(Some(&viewer("bob@example.com", true))));
        assert!(!bob.admits(Some(&viewer("bob@example.com", false))), "needs the second factor");
        assert!(!bob.admits(Some(&viewer("alice@example.com", true))));
        assert!(RecipientRule::new(Some("not an address"), false).is_err());
        for r in [anyone, bob] {
            assert_eq!(RecipientRule::decode(&r.encode()), Some(r.clone()));
        }
        for bad in ["", "v2;2fa=0;email=", "v1;2fa=2;email=", "v1;email=x"] {
            assert_eq!(RecipientRule::decode(bad), None, "{bad}");
        }
    }
}
