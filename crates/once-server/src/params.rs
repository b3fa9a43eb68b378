//! API v1 parameters: OTS clients send them in the query string, urlencoded bodies, multipart
//! bodies or JSON bodies, so every v1 handler reads one merged map (body wins over query).

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// Merged v1 parameters. Values are zeroized when dropped (they may hold a secret).
pub struct V1Params(HashMap<String, Zeroizing<String>>);

impl std::fmt::Debug for V1Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values may be secrets.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl V1Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str())
    }

    /// Removes a value, keeping it zeroizing.
    pub fn take(&mut self, name: &str) -> Option<Zeroizing<String>> {
        self.0.remove(name)
    }

    fn insert(&mut self, k: String, v: String) {
        self.0.insert(k, Zeroizing::new(v));
    }

    /// Strict `application/x-www-form-urlencoded`: unlike lossy decoders, invalid UTF-8 is an
    /// error, so a secret is never silently altered.
    fn add_urlencoded(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        for pair in bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let k = decode_component(k)?;
            let v = decode_component(v)?;
            self.insert(k, v);
        }
        Ok(())
    }

    fn add_json(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        let bad = |what: &str| ApiError::BadRequest(format!("malformed JSON body: {what}"));
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            // serde_json's message gives the position and the kind of error, never the input.
            bad(&e.to_string())
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(bad("expected an object"));
        };
        for (k, v) in map {
            let v = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    return Err(bad(&format!("field {k:?} must be a string or a number")));
                }
            };
            self.insert(k, v);
        }
        Ok(())
    }
}

fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let plus_as_space: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).map_err(|e| {
        let mut bytes = e.into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
        ApiError::BadRequest("form data is not valid UTF-8".into())
    })
}

fn mime(req: &Request) -> Option<String> {
    let ct = req.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    Some(ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

impl<S: Send + Sync> FromRequest<S> for V1Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = V1Params(HashMap::new());
        if let Some(q) = req.uri().query() {
            params.add_urlencoded(q.as_bytes())?;
        }
        match mime(&req).as_deref() {
            Some("multipart/form-data") => {
                let mut mp = Multipart::from_request(req, state).await.map_err(ApiError::from_multipart)?;
                while let Some(field) = mp.next_field().await.map_err(ApiError::from_multipart)? {
                    let Some(name) = field.name().map(str::to_owned) else { continue };
                    let bytes = field.bytes().await.map_err(ApiError::from_multipart)?;
                    let text = String::from_utf8(bytes.to_vec())
                        .map_err(|_| ApiError::BadRequest(format!("field {name:?} is not valid UTF-8")))?;
                    params.insert(name, text);
                }
            }
            mime => {
                let body = Bytes::from_request(req, state).await.map_err(ApiError::from_bytes)?;
                if body.is_empty() {
                    return Ok(params);
                }
                match mime {
                    Some("application/x-www-form-urlencoded") => params.add_urlencoded(&body)?,
                    Some("application/json") => params.add_json(&body)?,
                    Some(m) if m.ends_with("+json") => params.add_json(&body)?,
                    // curl -d without -H sends urlencoded; a body without a type is read the same way.
                    None => params.add_urlencoded(&body)?,
                    Some(_) => {
                        return Err(ApiError::UnsupportedMediaType);
                    }
                }
            }
        }
        Ok(params)
    }
}

/// The `{key}` of a secret or receipt route. A key that does not even decode (an invalid UTF-8
/// percent-escape such as `%FF`) is an unknown key like any other malformed one: the route answers
/// in its own "unknown" shape, not with axum's plain-text rejection.
#[derive(Debug)]
pub struct LinkKey(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for LinkKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let key = axum::extract::Path::<String>::from_request_parts(parts, state).await.map(|p| p.0);
        Ok(LinkKey(key.unwrap_or_default()))
    }
}

/// An urlencoded form whose every name and value must decode to valid UTF-8. axum's `Form`
/// replaces invalid bytes with U+FFFD, which would store a secret other than the one sent; this
/// refuses it instead (as API v1 does).
#[derive(Debug)]
pub struct Utf8Form<T>(pub T);

/// Why a [`Utf8Form`] was refused.
#[derive(Debug)]
pub enum FormProblem {
    Rejected(axum::extract::rejection::FormRejection),
    Body(axum::extract::rejection::BytesRejection),
    InvalidUtf8,
}

impl FormProblem {
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            FormProblem::Rejected(e) => e.status(),
            FormProblem::Body(e) => e.status(),
            FormProblem::InvalidUtf8 => axum::http::StatusCode::BAD_REQUEST,
        }
    }
}

impl axum::response::IntoResponse for FormProblem {
    fn into_response(self) -> axum::response::Response {
        match self {
            FormProblem::Rejected(e) => e.into_response(),
            FormProblem::Body(e) => e.into_response(),
            FormProblem::InvalidUtf8 => (self.status(), "the form is not valid UTF-8").into_response(),
        }
    }
}

/// Whether every name and value of an urlencoded body decodes to UTF-8.
fn urlencoded_is_utf8(body: &[u8]) -> bool {
    body.split(|&b| b == b'&')
        .flat_map(|pair| pair.splitn(2, |&b| b == b'='))
        .all(|part| percent_encoding::percent_decode(part).decode_utf8().is_ok())
}

impl<T, S> axum::extract::FromRequest<S> for Utf8Form<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = FormProblem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).cloned();
        let method = parts.method.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        // Within the body limit (`DefaultBodyLimit`), as `Form` would read it.
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(FormProblem::Body)?;
        if !urlencoded_is_utf8(&bytes) {
            return Err(FormProblem::InvalidUtf8);
        }
        let mut again = axum::extract::Request::new(axum::body::Body::from(bytes));
        *again.method_mut() = method;
        if let Some(ct) = content_type {
            again.headers_mut().insert(axum::http::header::CONTENT_TYPE, ct);
        }
        axum::Form::<T>::from_request(again, state)
            .await
            .map(|axum::Form(t)| Utf8Form(t))
            .map_err(FormProblem::Rejected)
    }
}

#[cfg(test)]
mod utf8_form_tests {
    use super::urlencoded_is_utf8;

    #[test]
    fn invalid_utf8_anywhere_in_a_form_is_found() {
        assert!(urlencoded_is_utf8(b"secret=%EB%B9%84%EB%B0%80&ttl=3600"));
        assert!(urlencoded_is_utf8(b"a=&=b&&c"));
        assert!(!urlencoded_is_utf8(b"secret=%FF%FEpass&ttl=3600"));
        assert!(!urlencoded_is_utf8(b"%C0%AF=x"));
        assert!(!urlencoded_is_utf8(b"secret=\xff"));
    }
}
