//! A typed client for Once's APIs: API v1 (and any Onetime Secret–compatible server) on
//! [`Client`] itself, API v2 through [`Client::v2`].
//!
//! [`link`] parses the links people pass around, and [`zk`] is the client side of
//! zero-knowledge mode (encrypt before upload, decrypt after reveal), in the browser's format.
//! [`split`] builds on it: split secrets, whose N links rebuild the secret from any K of them.

pub mod link;
pub mod split;
mod v2;
pub mod zk;

use once_api::v1::{Burned, ErrorBody, Metadata, Secret, Status};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

pub use once_api::v2::ErrorCode;
pub use v2::V2;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// API v1 answered with an error. `status` is the intended status (OTS puts it in
    /// `X-OTS-Intended-Status`), `http_status` the one on the wire.
    #[error("server said {status}: {message}")]
    Api { status: u16, http_status: u16, message: String },
    /// API v2 answered with an error: its status, the envelope's `code` (absent when the body
    /// was not the envelope, e.g. from a proxy) and `message`, and `Retry-After` in seconds.
    #[error("server said {status}: {message}")]
    ApiV2 { status: u16, code: Option<ErrorCode>, message: String, retry_after: Option<u64> },
    /// Without its URL: a secret link's path is the secret's key.
    #[error("network error: {0}")]
    Network(reqwest::Error),
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Network(e.without_url())
    }
}

impl ClientError {
    /// The (intended) status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::ApiV2 { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Seconds to wait before retrying, when the server said (API v2's `Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ClientError::ApiV2 { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Options for creating a secret.
#[derive(Clone, Debug, Default)]
pub struct ShareOptions {
    pub ttl: Option<i64>,
    pub passphrase: Option<String>,
    pub recipient: Option<String>,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// API v1: HTTP Basic (account e-mail, API key).
    auth: Option<(String, String)>,
    /// API v2: `Authorization: Bearer`.
    api_key: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("authenticated", &(self.auth.is_some() || self.api_key.is_some()))
            .finish()
    }
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:7143`).
    pub fn new(base: &str) -> Self {
        Self::with_http(reqwest::Client::new(), base)
    }

    /// A client that sends its requests through `http` (for its timeouts, user agent, …).
    pub fn with_http(http: reqwest::Client, base: &str) -> Self {
        Client { http, base: base.trim_end_matches('/').to_owned(), auth: None, api_key: None }
    }

    /// Authenticates every request: HTTP Basic (account e-mail + API key) for API v1, the key as
    /// `Bearer` for API v2.
    pub fn with_auth(mut self, email: &str, api_key: &str) -> Self {
        self.auth = Some((email.to_owned(), api_key.to_owned()));
        self.api_key = Some(api_key.to_owned());
        self
    }

    /// Authenticates API v2 requests with `Authorization: Bearer <api_key>` (API v1 needs the
    /// account's e-mail too: [`Client::with_auth`]).
    pub fn with_api_key(mut self, api_key: &str) -> Self {
        self.api_key = Some(api_key.to_owned());
        self
    }

    /// The server's base URL, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.auth {
            Some((user, key)) => rb.basic_auth(user, Some(key)),
            None => rb,
        }
    }

    async fn send<T: DeserializeOwned>(rb: RequestBuilder) -> Result<T, ClientError> {
        let resp = rb.send().await?;
        let http_status = resp.status();
        let intended = resp
            .headers()
            .get("x-ots-intended-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u16>().ok())
            .unwrap_or(http_status.as_u16());
        let bytes = resp.bytes().await?;
        if http_status != StatusCode::OK || intended != 200 {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(200).collect());
            return Err(ClientError::Api { status: intended, http_status: http_status.as_u16(), message });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        Self::send(self.request(Method::GET, "/api/v1/status")).await
    }

    /// Checks the credentials: `Ok` (the status body) when they are good.
    pub async fn authcheck(&self) -> Result<Status, ClientError> {
        Self::send(self.request(Method::GET, "/api/v1/authcheck")).await
    }

    fn options_form(opts: &ShareOptions) -> Vec<(&'static str, String)> {
        let mut form = Vec::new();
        if let Some(t) = opts.ttl {
            form.push(("ttl", t.to_string()));
        }
        if let Some(p) = &opts.passphrase {
            form.push(("passphrase", p.clone()));
        }
        if let Some(r) = &opts.recipient {
            form.push(("recipient", r.clone()));
        }
        form
    }

    /// Creates a secret (server-side encryption).
    pub async fn share(&self, secret: &str, opts: &ShareOptions) -> Result<Metadata, ClientError> {
        let mut form = Self::options_form(opts);
        form.push(("secret", secret.to_owned()));
        let result = Self::send(self.request(Method::POST, "/api/v1/share").form(&form)).await;
        zeroize_form(form);
        result
    }

    /// Creates a secret holding a generated password; the password is in `value`.
    pub async fn generate(
        &self,
        length: Option<usize>,
        opts: &ShareOptions,
    ) -> Result<Metadata, ClientError> {
        let mut form = Self::options_form(opts);
        if let Some(l) = length {
            form.push(("length", l.to_string()));
        }
        Self::send(self.request(Method::POST, "/api/v1/generate").form(&form)).await
    }

    /// Reveals (and so consumes) a secret.
    pub async fn reveal(&self, secret_key: &str, passphrase: Option<&str>) -> Result<Secret, ClientError> {
        let form: Vec<(&str, &str)> = passphrase.map(|p| vec![("passphrase", p)]).unwrap_or_default();
        let path = format!("/api/v1/secret/{}", path_segment(secret_key));
        Self::send(self.request(Method::POST, &path).form(&form)).await
    }

    /// The receipt of a secret.
    pub async fn receipt(&self, metadata_key: &str) -> Result<Metadata, ClientError> {
        Self::send(self.request(Method::GET, &format!("/api/v1/receipt/{}", path_segment(metadata_key))))
            .await
    }

    /// Burns a secret through its receipt.
    pub async fn burn(&self, metadata_key: &str) -> Result<Burned, ClientError> {
        let path = format!("/api/v1/receipt/{}/burn", path_segment(metadata_key));
        Self::send(self.request(Method::POST, &path)).await
    }

    /// The authenticated user's recent receipts, newest first.
    pub async fn recent(&self) -> Result<Vec<Metadata>, ClientError> {
        Self::send(self.request(Method::GET, "/api/v1/receipt/recent")).await
    }
}

/// A key as one path segment: keys are alphanumeric, and anything else is escaped rather than
/// allowed to reach another route.
fn path_segment(key: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
}

/// Wipes the form fields (the secret and passphrase) once the request is built and sent.
fn zeroize_form(form: Vec<(&'static str, String)>) {
    for (_, mut value) in form {
        zeroize::Zeroize::zeroize(&mut value);
    }
}

#[cfg(test)]
mod network_error_tests {
    use super::*;

    #[tokio::test]
    async fn network_errors_never_name_the_url() {
        // Nothing listens on port 9 of loopback here; the path stands in for a secret's key.
        let err = Client::new("http://127.0.0.1:9").reveal("k3jSECRETKEY", None).await.expect_err("refused");
        assert!(matches!(err, ClientError::Network(_)));
        assert!(!format!("{err} {err:?}").contains("k3jSECRETKEY"), "{err:?}");
    }
}
