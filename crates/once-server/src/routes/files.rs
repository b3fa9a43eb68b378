//! File secrets over API v2: the upload (`POST /api/v2/files`, multipart: the options as JSON,
//! then the content) and the download a reveal of a file secret answers with. Both stream: the
//! server holds at most one store chunk of a file at a time (`once_core::FileUpload`).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use once_api::v2;
use once_core::{FileContent, Revealed};
use once_store::Scope;

use crate::auth::{Bearer, require};
use crate::error::V2Error;
use crate::state::AppState;

/// The largest `options` part.
const MAX_OPTIONS_BYTES: usize = 64 * 1024;

/// Upload a file secret
///
/// A zero-knowledge file: the client encrypts it in chunks (Once's zero-knowledge file format)
/// and sends a `multipart/form-data` body with two parts, in this order: `options`, the JSON of
/// a create request with the `key_proof` and no `secret` or `ciphertext` (`ttl`, `max_views`,
/// `only_for`, `access` as for a text secret), then `content`, the encrypted file. The content
/// streams to storage as it arrives; the links work once the last byte is stored.
#[utoipa::path(
    post,
    path = "/api/v2/files",
    tag = "secrets",
    request_body(content = v2::FileUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Created", body = v2::Created),
        (status = 400, description = "Invalid options or content", body = v2::Error),
        (status = 401, description = "Wrong API key", body = v2::Error),
        (status = 403, description = "The API key lacks the share scope; or file secrets are off", body = v2::Error),
        (status = 413, description = "File too large", body = v2::Error),
        (status = 415, description = "Not multipart/form-data", body = v2::Error),
        (status = 503, description = "Storage unavailable", body = v2::Error),
    ),
    security((), ("api_key" = []))
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    Bearer(owner): Bearer,
    headers: axum::http::HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<v2::Created>), V2Error> {
    if let Some(p) = &owner {
        require(p, Scope::Share)?;
    }
    let mut multipart = multipart.map_err(|_| {
        V2Error::unsupported_media_type("send multipart/form-data: an options part, then a content part")
    })?;
    let owner = match owner {
        Some(p) => Some(p),
        None => crate::pages::web_principal(&state, &headers).await,
    };
    // The options come first and are small: they get the usual request timeout.
    let read_options = async {
        let mut options = multipart
            .next_field()
            .await
            .map_err(bad_multipart)?
            .filter(|f| f.name() == Some("options"))
            .ok_or_else(|| V2Error::bad_request("the first part must be `options` (JSON)"))?;
        let mut json = Vec::new();
        while let Some(piece) = options.chunk().await.map_err(bad_multipart)? {
            json.extend_from_slice(&piece);
            if json.len() > MAX_OPTIONS_BYTES {
                return Err(V2Error::bad_request("the options part is too large"));
            }
        }
        Ok(json)
    };
    let json = tokio::time::timeout(state.request_timeout, read_options)
        .await
        .map_err(|_| V2Error::request_timeout("the options part did not arrive in time"))??;
    let body: v2::CreateSecret =
        serde_json::from_slice(&json).map_err(|e| V2Error::bad_request(format!("invalid options: {e}")))?;
    let (req, _) = super::v2::create_request(&state, owner, body, true)?;
    let mut upload = state.core.secrets.upload_file(req)?;

    let mut content = match multipart.next_field().await {
        Ok(Some(f)) if f.name() == Some("content") => f,
        Ok(_) => return Err(V2Error::bad_request("the second part must be `content` (the encrypted file)")),
        Err(e) => return Err(bad_multipart(e)),
    };
    loop {
        // No whole-request timeout here (a big file takes as long as it takes): a client that
        // sends nothing for a request timeout's length gets 408.
        let piece = match tokio::time::timeout(state.request_timeout, content.chunk()).await {
            Ok(Ok(Some(piece))) => piece,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                upload.abort().await?;
                return Err(bad_multipart(e));
            }
            Err(_) => {
                upload.abort().await?;
                return Err(V2Error::request_timeout("the upload stalled: no data for too long"));
            }
        };
        if let Err(e) = upload.push(&piece).await {
            upload.abort().await?;
            return Err(e.into());
        }
    }
    let created = upload.finish().await?;
    Ok((StatusCode::CREATED, Json(super::v2::created_body(&state, &created, true))))
}

fn bad_multipart(e: axum::extract::multipart::MultipartError) -> V2Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        V2Error::from(crate::error::ApiError::TooLarge("request body is too large".into()))
    } else {
        V2Error::bad_request("malformed multipart body")
    }
}

/// What a reveal of a file secret answers: the client's blob as `application/octet-stream`,
/// its head first, then the stored chunks one by one. After the last view the chunks go once
/// the download ends, also when the client goes away early (the view was spent when claimed).
pub(super) fn download(state: &AppState, revealed: Revealed, file: FileContent) -> Response {
    let reader = Download { state: state.clone(), file, next: 0, done: false };
    let head = Bytes::from(revealed.plaintext.to_vec());
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) });
    let rest = futures_util::stream::unfold(reader, |mut r| async move {
        match r.state.core.secrets.file_chunk(&r.file, r.next).await {
            Ok(Some(chunk)) => {
                r.next += 1;
                Some((Ok(Bytes::from(chunk)), r))
            }
            Ok(None) if r.next >= r.file.info.chunks => {
                r.finish().await;
                None
            }
            // A missing chunk (swept, or dropped by a concurrent last view) or a store error:
            // end the body short; the client's format check refuses a truncated file.
            Ok(None) => Some((Err(std::io::Error::other("file content is gone")), r)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), r)),
        }
    });
    let mut resp = Body::from_stream(futures_util::StreamExt::chain(head, rest)).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.info.size));
    headers.insert("once-views-left", HeaderValue::from(revealed.views_left));
    resp
}

/// A download's position; finishing (or dropping) it ends the read.
struct Download {
    state: AppState,
    file: FileContent,
    next: u32,
    done: bool,
}

impl Download {
    async fn finish(&mut self) {
        self.done = true;
        if let Err(e) = self.state.core.secrets.file_read(&self.file).await {
            tracing::warn!(error = %e, "could not remove a read file's content; the sweeper will");
        }
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if !self.done && self.file.last_view {
            let (state, file) = (self.state.clone(), self.file);
            // A response body is dropped inside the server's runtime; outside one (a shutdown),
            // the sweeper removes the chunks at their expiry instead.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = state.core.secrets.file_read(&file).await;
                });
            }
        }
    }
}
