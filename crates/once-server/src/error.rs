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
    TooLarge(String),
    UnsupportedMediaType,
    /// The store failed (`StoreError::Backend`): 503, retryable.
    Unavailable,
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
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
            CoreError::TooLarge { limit } => {
                ApiError::TooLarge(format!("secret is larger than the limit of {limit} bytes"))
            }
            CoreError::Unauthorized => ApiError::Unauthorized,
            CoreError::Conflict(m) => ApiError::BadRequest(m),
            CoreError::Unavailable(source) => {
                tracing::error!(error = %source, "store unavailable");
                ApiError::Unavailable
            }
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
        let (status, body) = match self {
            ApiError::UnknownSecret { secret_key } => {
                (StatusCode::NOT_FOUND, json!({ "message": "Unknown secret", "secret_key": secret_key }))
            }
            ApiError::BadRequest(m) => (StatusCode::NOT_FOUND, json!({ "message": m })),
            ApiError::Unauthorized => (StatusCode::NOT_FOUND, json!({ "message": "Not authorized" })),
            ApiError::UnsupportedMediaType => (
                StatusCode::NOT_FOUND,
                json!({ "message": "Unsupported Content-Type: send application/x-www-form-urlencoded, multipart/form-data or application/json" }),
            ),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, json!({ "message": m })),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "message": "Service temporarily unavailable, try again shortly" }),
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
        resp
    }
}
