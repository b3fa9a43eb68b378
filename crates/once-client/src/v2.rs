//! API v2 calls: create, preview, reveal, receipt, burn.

use once_api::v2::{CreateSecret, Created, Error as ErrorEnvelope, Preview, Receipt, Reveal, Revealed};
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;

use crate::{Client, ClientError, path_segment};

/// API v2 through a [`Client`]: `client.v2().preview(key)`. Authenticates with the client's API
/// key (`Bearer`), if it has one.
#[derive(Clone, Copy, Debug)]
pub struct V2<'a> {
    client: &'a Client,
}

impl Client {
    /// This client's API v2 calls.
    pub fn v2(&self) -> V2<'_> {
        V2 { client: self }
    }
}

impl V2<'_> {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.client.http.request(method, format!("{}/api/v2{path}", self.client.base));
        match &self.client.api_key {
            Some(key) => rb.bearer_auth(key),
            None => rb,
        }
    }

    async fn send<T: DeserializeOwned>(rb: RequestBuilder) -> Result<T, ClientError> {
        let resp = rb.header(reqwest::header::ACCEPT, "application/json").send().await?;
        let resp = Self::checked(resp).await?;
        let bytes = resp.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The response if it is a success, else its error (the v2 envelope's code and message).
    async fn checked(resp: reqwest::Response) -> Result<reqwest::Response, ClientError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = resp.bytes().await?;
        {
            let (code, message) = match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
                Ok(e) => (Some(e.error.code), e.error.message),
                Err(_) => {
                    let text: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
                    let text = text.trim();
                    let message = if text.is_empty() {
                        status.canonical_reason().unwrap_or("error").to_owned()
                    } else {
                        text.to_owned()
                    };
                    (None, message)
                }
            };
            Err(ClientError::ApiV2 { status: status.as_u16(), code, message, retry_after })
        }
    }

    /// `POST /api/v2/secrets`: creates a secret, server-side (`secret`) or zero-knowledge
    /// (`ciphertext` and `key_proof`, see [`crate::zk::seal`]).
    pub async fn create(&self, body: &CreateSecret) -> Result<Created, ClientError> {
        Self::send(self.request(Method::POST, "/secrets").json(body)).await
    }

    /// `GET /api/v2/secrets/{key}`: whether the secret is there, its mode and whether it needs a
    /// passphrase. Consumes nothing.
    pub async fn preview(&self, secret_key: &str) -> Result<Preview, ClientError> {
        Self::send(self.request(Method::GET, &format!("/secrets/{}", path_segment(secret_key)))).await
    }

    /// `POST /api/v2/secrets/{key}/reveal`: consumes one view. A wrong passphrase or key proof
    /// is a 404 like a secret that is gone; [`V2::preview`] tells them apart.
    pub async fn reveal(&self, secret_key: &str, body: &Reveal) -> Result<Revealed, ClientError> {
        let path = format!("/secrets/{}/reveal", path_segment(secret_key));
        Self::send(self.request(Method::POST, &path).json(body)).await
    }

    /// `POST /api/v2/files`: creates a file secret from `options` (with the key proof) and the
    /// sealed file (`once_crypto::zk::file`), streamed from `content` (`len` bytes).
    pub async fn upload_file(
        &self,
        options: &CreateSecret,
        content: reqwest::Body,
        len: u64,
    ) -> Result<Created, ClientError> {
        let json = serde_json::to_vec(options).map_err(|e| ClientError::Decode(e.to_string()))?;
        let options = reqwest::multipart::Part::bytes(json)
            .mime_str("application/json")
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let content = reqwest::multipart::Part::stream_with_length(content, len)
            .file_name("file")
            .mime_str("application/octet-stream")
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let form = reqwest::multipart::Form::new().part("options", options).part("content", content);
        Self::send(self.request(Method::POST, "/files").multipart(form)).await
    }

    /// `POST /api/v2/secrets/{key}/reveal` of a file secret: consumes one view; the response's
    /// body is the sealed file, to read as it streams (`chunk()`). Errors as [`V2::reveal`].
    pub async fn reveal_file(
        &self,
        secret_key: &str,
        body: &Reveal,
    ) -> Result<reqwest::Response, ClientError> {
        let path = format!("/secrets/{}/reveal", path_segment(secret_key));
        let resp = self
            .request(Method::POST, &path)
            .header(reqwest::header::ACCEPT, "application/octet-stream")
            .json(body)
            .send()
            .await?;
        Self::checked(resp).await
    }

    /// `GET /api/v2/receipts/{key}`: the sender's view of a secret.
    pub async fn receipt(&self, receipt_key: &str) -> Result<Receipt, ClientError> {
        Self::send(self.request(Method::GET, &format!("/receipts/{}", path_segment(receipt_key)))).await
    }

    /// `POST /api/v2/receipts/{key}/burn`: destroys the secret now; 409 when it was already
    /// received, burned or expired.
    pub async fn burn(&self, receipt_key: &str) -> Result<Receipt, ClientError> {
        let path = format!("/receipts/{}/burn", path_segment(receipt_key));
        Self::send(self.request(Method::POST, &path)).await
    }
}
