//! CSRF protection for the pages' form posts: a double-submit token (a random value in an
//! HttpOnly, SameSite=Strict cookie, repeated in a hidden form field, compared in constant time)
//! and, where the browser sends it, `Sec-Fetch-Site` must not be `cross-site`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use data_encoding::BASE64URL_NOPAD;
use rand::RngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;

use super::i18n::request_cookie;

pub const CSRF_COOKIE: &str = "once_csrf";

/// The token for this page's forms; `fresh` when the browser had none and it must be set.
#[derive(Clone, Debug)]
pub struct CsrfToken {
    pub value: String,
    pub fresh: bool,
}

fn well_formed(v: &str) -> bool {
    v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl CsrfToken {
    fn generate() -> Self {
        let mut b = [0u8; 32];
        OsRng.fill_bytes(&mut b);
        CsrfToken { value: BASE64URL_NOPAD.encode(&b), fresh: true }
    }

    /// The `Set-Cookie` value when the token is new.
    pub fn set_cookie(&self, secure: bool) -> Option<String> {
        self.fresh.then(|| {
            format!(
                "{CSRF_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
                self.value,
                if secure { "; Secure" } else { "" }
            )
        })
    }

    /// Does a posted form carry this request's token?
    pub fn matches(&self, submitted: &str) -> bool {
        !self.fresh && bool::from(self.value.as_bytes().ct_eq(submitted.as_bytes()))
    }

    /// Is a form post acceptable: not from another site by the browser's account, and carrying
    /// this request's token?
    pub fn accepts(&self, headers: &axum::http::HeaderMap, submitted: &str) -> bool {
        !cross_site(headers) && self.matches(submitted)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(CsrfToken::for_headers(&parts.headers))
    }
}

impl CsrfToken {
    /// The request's token (from its cookie), or a new one.
    pub fn for_headers(headers: &axum::http::HeaderMap) -> CsrfToken {
        match request_cookie(headers, CSRF_COOKIE).filter(|v| well_formed(v)) {
            Some(v) => CsrfToken { value: v.to_owned(), fresh: false },
            None => CsrfToken::generate(),
        }
    }
}

/// Whether the request came from another site, by the browser's own account.
pub fn cross_site(parts: &axum::http::HeaderMap) -> bool {
    parts.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site")
}
