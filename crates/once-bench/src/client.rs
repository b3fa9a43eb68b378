//! A minimal HTTP/1.1 client: one keep-alive hyper connection per worker.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` to connect to.
    pub addr: String,
    /// `Host` header.
    host: HeaderValue,
    /// Path prefix without a trailing `/` (usually empty).
    base_path: String,
    /// `Authorization` header, if any.
    auth: Option<HeaderValue>,
}

impl Endpoint {
    /// Parses `http://host[:port][/prefix]`.
    pub fn from_url(url: &str, auth: Option<&str>) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("`{url}`: only http:// URLs are supported (put TLS in front of the generator, not in it)");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            bail!("`{url}` has no usable host");
        }
        // A port is present if there is a ':' after any IPv6 literal's closing bracket.
        let after_bracket = authority.rsplit_once(']').map_or(authority, |(_, p)| p);
        let addr = if after_bracket.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
        let host = HeaderValue::from_str(authority).with_context(|| format!("bad host in `{url}`"))?;
        let auth = auth
            .map(|a| HeaderValue::from_str(&format!("Basic {}", base64(a.as_bytes()))))
            .transpose()
            .context("bad --auth value")?;
        Ok(Endpoint { addr, host, base_path: path.trim_end_matches('/').to_owned(), auth })
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.base_path)
    }

    /// A request to `path` (under the URL's prefix) with the `Host` header and the
    /// `Authorization` header, if any.
    pub fn request(&self, method: Method, path: &str) -> hyper::http::request::Builder {
        let mut req = Request::builder().method(method).uri(format!("{}{path}", self.base_path));
        if let Some(h) = req.headers_mut() {
            h.insert(HOST, self.host.clone());
            if let Some(auth) = &self.auth {
                h.insert(AUTHORIZATION, auth.clone());
            }
        }
        req
    }
}

pub type Conn = SendRequest<Full<Bytes>>;

/// Opens a keep-alive connection; its driver runs as a task that ends when the sender is dropped.
pub async fn connect(ep: &Endpoint) -> anyhow::Result<Conn> {
    connect_with_body(ep).await
}

/// [`connect`] for requests with another body type (a streamed upload).
pub async fn connect_with_body<B>(ep: &Endpoint) -> anyhow::Result<SendRequest<B>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(&ep.addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Errors show up on the sender side too, where they are counted.
        let _ = conn.await;
    });
    Ok(sender)
}

pub struct Response {
    pub status: StatusCode,
    /// `Retry-After` in whole seconds, when the server sent one.
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Sends one request and reads the whole response body. `form` is sent as
/// `application/x-www-form-urlencoded` (an empty form still gets the header, as OTS clients do).
pub async fn request(
    conn: &mut Conn,
    ep: &Endpoint,
    method: Method,
    path: &str,
    form: Option<String>,
) -> anyhow::Result<Response> {
    conn.ready().await?;
    let mut req = ep.request(method, path);
    if form.is_some()
        && let Some(h) = req.headers_mut()
    {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    }
    let req = req.body(Full::new(Bytes::from(form.unwrap_or_default())))?;
    let resp = conn.send_request(req).await?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(Response { status, retry_after, body })
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
    out
}

/// Standard base64 with padding (for the basic-auth header and the spawned servers' master key).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() -> anyhow::Result<()> {
        let e = Endpoint::from_url("http://127.0.0.1:7143", None)?;
        assert_eq!((e.addr.as_str(), e.base_path.as_str()), ("127.0.0.1:7143", ""));
        let e = Endpoint::from_url("http://example.test/once/", None)?;
        assert_eq!((e.addr.as_str(), e.base_path.as_str()), ("example.test:80", "/once"));
        assert_eq!(e.host, "example.test");
        let e = Endpoint::from_url("http://[::1]:9000/", None)?;
        assert_eq!(e.addr, "[::1]:9000");
        let e = Endpoint::from_url("http://[::1]", None)?;
        assert_eq!(e.addr, "[::1]:80");
        assert!(Endpoint::from_url("https://x", None).is_err());
        assert!(Endpoint::from_url("127.0.0.1:7143", None).is_err());
        assert!(Endpoint::from_url("http:///path", None).is_err());
        Ok(())
    }

    #[test]
    fn encodings() {
        assert_eq!(form_encode("abc-XYZ_0.9~"), "abc-XYZ_0.9~");
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"user:key"), "dXNlcjprZXk=");
    }
}
