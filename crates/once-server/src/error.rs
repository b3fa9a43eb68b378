//! The one error type at the HTTP edge and its mapping to responses.
//!
//! API v1 keeps Onetime Secret's quirk: application errors are HTTP 404 with `{"message": …}`,
//! and the status we mean is in `X-OTS-Intended-Status`. Transport-level limits (413 body too
//! large, 408 timeout) keep their real status. 500s are opaque and logged once. Store failures
//! (503) are marked on the response for the metrics middleware.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use once_api::v2::{self, ErrorCode};
use once_core::CoreError;
use serde_json::json;

use crate::metrics::StoreFailure;

pub const INTENDED_STATUS: &str = "x-ots-intended-status";

#[derive(Debug)]
pub enum ApiError {
    /// Unknown/expired/consumed/burned/wrong passphrase.
    UnknownSecret {
        secret_key: String,
    },
    BadRequest(String),
    Unauthorized,
    /// Authenticated, but not allowed to do this (an API key without the route's scope).
    Forbidden(String),
    TooLarge(String),
    /// Rate limit reached (the caller adds `Retry-After`).
    TooManyRequests(String),
    UnsupportedMediaType,
    /// The store failed (`StoreError::Backend`): 503, retryable.
    Unavailable,
    /// Too many passphrase checks waiting (`CoreError::Busy`): 503 with `Retry-After: 1`.
    Busy,
    Internal,
}

impl ApiError {
    pub fn from_bytes(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge("request body is too large".into())
        } else {
            ApiError::BadRequest("could not read the request body".into())
        }
    }

    pub fn from_multipart(r: impl Into<MultipartErrorish>) -> Self {
        match r.into() {
            MultipartErrorish::TooLarge => ApiError::TooLarge("request body is too large".into()),
            MultipartErrorish::Bad => ApiError::BadRequest("malformed multipart body".into()),
        }
    }

    pub fn from_core(e: CoreError, secret_key: &str) -> Self {
        match e {
            CoreError::NotFound => ApiError::UnknownSecret { secret_key: secret_key.to_owned() },
            other => other.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownSecret { .. } => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Multipart errors, folded to what we tell the client.
pub enum MultipartErrorish {
    TooLarge,
    Bad,
}

impl From<MultipartRejection> for MultipartErrorish {
    fn from(r: MultipartRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE { Self::TooLarge } else { Self::Bad }
    }
}

impl From<axum::extract::multipart::MultipartError> for MultipartErrorish {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE { Self::TooLarge } else { Self::Bad }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound => ApiError::UnknownSecret { secret_key: String::new() },
            CoreError::Invalid(m) => ApiError::BadRequest(m),
            CoreError::WeakPassword(w) => ApiError::BadRequest(w.to_string()),
            CoreError::TooLarge { limit } => {
                ApiError::TooLarge(format!("secret is larger than the limit of {limit} bytes"))
            }
            CoreError::FileTooLarge { limit: 0 } => ApiError::Forbidden("this server takes no file secrets".into()),
            CoreError::FileTooLarge { limit } => {
                ApiError::TooLarge(format!("file is larger than the limit of {limit} bytes"))
            }
            CoreError::IsAFile => ApiError::BadRequest(
                "this secret is a file: ask for it with Accept: application/octet-stream (nothing was used up)".into(),
            ),
            CoreError::Unauthorized => ApiError::Unauthorized,
            CoreError::Locked { .. } => ApiError::Forbidden("too many wrong codes; try again later".into()),
            CoreError::SignupRefused => ApiError::Forbidden("sign-up is not open to this address".into()),
            CoreError::SignInRequired => ApiError::Forbidden(
                "this secret is only for a signed-in recipient; sign in as them (API v2: their API key) to view it"
                    .into(),
            ),
            CoreError::AccessDenied => ApiError::Forbidden(
                "this secret can't be opened from this network or at this time (nothing was used up)".into(),
            ),
            CoreError::NotAdmin => ApiError::Forbidden("administrators only".into()),
            CoreError::Conflict(m) => ApiError::BadRequest(m),
            CoreError::Unavailable(source) => {
                tracing::error!(error = %source, "store unavailable");
                ApiError::Unavailable
            }
            CoreError::Busy => ApiError::Busy,
            CoreError::Crypto(m) => {
                tracing::error!(error = %m, "encryption unavailable");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let intended = self.status();
        let store_failed = matches!(self, ApiError::Unavailable);
        let busy = matches!(self, ApiError::Busy);
        let (status, body) = match self {
            ApiError::UnknownSecret { secret_key } => {
                (StatusCode::NOT_FOUND, json!({ "message": "Unknown secret", "secret_key": secret_key }))
            }
            ApiError::BadRequest(m) => (StatusCode::NOT_FOUND, json!({ "message": m })),
            ApiError::Unauthorized => (StatusCode::NOT_FOUND, json!({ "message": "Not authorized" })),
            ApiError::Forbidden(m) => (StatusCode::NOT_FOUND, json!({ "message": m })),
            ApiError::UnsupportedMediaType => (
                StatusCode::NOT_FOUND,
                json!({ "message": "Unsupported Content-Type: send application/x-www-form-urlencoded, multipart/form-data or application/json" }),
            ),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, json!({ "message": m })),
            ApiError::TooManyRequests(m) => (StatusCode::NOT_FOUND, json!({ "message": m })),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "message": "Service temporarily unavailable, try again shortly" }),
            ),
            ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "message": "The server is busy checking passphrases, try again in a moment" }),
            ),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, json!({ "message": "Internal error" })),
        };
        let mut resp = (status, Json(body)).into_response();
        resp.headers_mut().insert(INTENDED_STATUS, HeaderValue::from(intended.as_u16()));
        if store_failed {
            // Counted by the metrics middleware (`once_store_errors_total`).
            resp.extensions_mut().insert(StoreFailure);
        }
        if intended == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Basic realm=\"Once API\""));
        }
        if busy {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(1u32));
        }
        resp
    }
}

/// An API v2 error: a real status and `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct V2Error {
    status: StatusCode,
    code: ErrorCode,
    message: std::borrow::Cow<'static, str>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

impl V2Error {
    pub fn bad_request(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        V2Error {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::BadRequest,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn too_many_requests(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        V2Error {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::RateLimited,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        V2Error {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::NotFound,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn request_timeout(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        V2Error {
            status: StatusCode::REQUEST_TIMEOUT,
            code: ErrorCode::BadRequest,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unsupported_media_type(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        V2Error {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: ErrorCode::UnsupportedMediaType,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn conflict(message: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        V2Error {
            status: StatusCode::CONFLICT,
            code: ErrorCode::Conflict,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<ApiError> for V2Error {
    fn from(e: ApiError) -> Self {
        let busy = matches!(e, ApiError::Busy);
        let (status, code, message): (_, _, std::borrow::Cow<'static, str>) = match e {
            ApiError::UnknownSecret { .. } => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "unknown secret: it may have expired or been revealed or burned, or the passphrase is wrong"
                    .into(),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest, m.into()),
            ApiError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "the API key is not valid".into())
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden, m.into()),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, m.into()),
            ApiError::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, m.into()),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send a JSON body with Content-Type: application/json".into(),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "storage is temporarily unavailable; try again shortly".into(),
            ),
            ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the server is busy checking passphrases; try again in a moment".into(),
            ),
            ApiError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "internal error".into())
            }
        };
        let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE && busy).then_some(1);
        V2Error { status, code, message, retry_after }
    }
}

impl From<CoreError> for V2Error {
    fn from(e: CoreError) -> Self {
        V2Error::from(ApiError::from(e))
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let body = v2::Error { error: v2::ErrorBody { code: self.code, message: self.message.into_owned() } };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        match self.code {
            // Busy is not a store failure.
            ErrorCode::Unavailable if self.retry_after.is_some() => {}
            // Counted by the metrics middleware (`once_store_errors_total`).
            ErrorCode::Unavailable => {
                resp.extensions_mut().insert(StoreFailure);
            }
            ErrorCode::Unauthorized => {
                resp.headers_mut()
                    .insert("www-authenticate", HeaderValue::from_static("Bearer realm=\"Once API\""));
            }
            _ => {}
        }
        resp
    }
}

/// `Content-Type: application/json` (or `application/…+json`), as axum's `Json` requires.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JSON body for API v2, whose rejections answer in the v2 envelope.
pub struct V2Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for V2Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = V2Error;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType.into());
        }
        // Read within the body limit (`DefaultBodyLimit`), like `Json` would.
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(ApiError::from_bytes)?;
        // serde also reads a struct from a JSON array (by position): every v2 body is an object
        // (or `null` where the body is optional), never an array.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(V2Error::bad_request("the JSON body must be an object, not an array"));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(v)) => Ok(V2Json(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType.into()),
            Err(JsonRejection::BytesRejection(b)) => Err(ApiError::from_bytes(b).into()),
            Err(JsonRejection::JsonDataError(e)) => Err(V2Error::bad_request(format!(
                "the JSON body does not fit: {}",
                e.body_text()
                    .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
            ))),
            Err(_) => Err(V2Error::bad_request("the body is not valid JSON")),
        }
    }
}

impl<T, S> axum::extract::OptionalFromRequest<S> for V2Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = V2Error;

    /// An empty body without a content type is "no body"; anything else must be JSON.
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let has_type = req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        let empty =
            req.headers().get(axum::http::header::CONTENT_LENGTH).is_some_and(|l| l.as_bytes() == b"0")
                || (!req.headers().contains_key(axum::http::header::CONTENT_LENGTH)
                    && !req.headers().contains_key(axum::http::header::TRANSFER_ENCODING));
        if !has_type && empty {
            return Ok(None);
        }
        <Self as axum::extract::FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}
