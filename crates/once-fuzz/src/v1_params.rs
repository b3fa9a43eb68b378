//! API v1 parameters: the server's `V1Params` extractor (query string merged with an urlencoded,
//! multipart or JSON body) run on a built request, the TTL parsing every create applies to it,
//! and the v1 response types a client reads. Nothing may panic; a refused request answers with
//! API v1's error (HTTP 404 with an `X-OTS-Intended-Status` below 500 and a JSON message, no raw
//! CR, LF or NUL); and for query strings, urlencoded and JSON bodies the parameters must be
//! exactly what a reference decoder reads (`form_urlencoded`, `serde_json`; body wins over
//! query), with invalid UTF-8 refused rather than replaced.
//!
//! Input: one byte choosing the `Content-Type`, then the query string, a 0xFF byte, and the body:
//!
//! ```text
//! 0 none  1 application/x-www-form-urlencoded  2 application/json  3 multipart/form-data (boundary "B")
//! 4 application/vnd.once+json  5 text/plain  6 multipart/form-data (no boundary)
//! 7 " Application/JSON ; charset=utf-8"  8+ the text up to the next 0xFF byte
//! ```

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use once_api::v1;
use once_core::TtlRequest;
use once_server::params::V1Params;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime")
});

fn split_ff(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// One input (the module documentation gives its layout); panics on a broken property.
pub fn run(data: &[u8]) {
    let Some((&choice, rest)) = data.split_first() else { return };
    let (content_type, rest): (Option<&[u8]>, &[u8]) = match choice {
        0 => (None, rest),
        1 => (Some(b"application/x-www-form-urlencoded"), rest),
        2 => (Some(b"application/json"), rest),
        3 => (Some(b"multipart/form-data; boundary=B"), rest),
        4 => (Some(b"application/vnd.once+json"), rest),
        5 => (Some(b"text/plain"), rest),
        6 => (Some(b"multipart/form-data"), rest),
        7 => (Some(b" Application/JSON ; charset=utf-8"), rest),
        _ => {
            let (ct, rest) = split_ff(rest);
            (Some(ct), rest)
        }
    };
    let (query, body) = split_ff(rest);
    client_types(body);

    let mut uri = String::from("/api/v1/share");
    if let Ok(q) = std::str::from_utf8(query)
        && !q.is_empty()
    {
        uri.push('?');
        uri.push_str(q);
    }
    let uri =
        axum::http::Uri::try_from(uri).unwrap_or_else(|_| axum::http::Uri::from_static("/api/v1/share"));
    let mut req = Request::builder().method("POST").uri(uri);
    let mut content_type_text = None;
    if let Some(ct) = content_type
        && let Ok(value) = header::HeaderValue::from_bytes(ct)
    {
        content_type_text = Some(value.to_str().ok().map(str::to_owned));
        req = req.header(header::CONTENT_TYPE, value);
    }
    let req = req
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body.to_vec()))
        .expect("a valid request");
    let query = req.uri().query().map(str::to_owned);

    let result = RUNTIME.block_on(<V1Params as FromRequest<()>>::from_request(req, &()));
    let expected = model(query.as_deref(), content_type_text, body);
    match result {
        Ok(params) => {
            if let Some(expected) = expected {
                let expected = expected.unwrap_or_else(|e| panic!("accepted what the model refuses: {e}"));
                for (name, value) in &expected {
                    assert_eq!(params.get(name), Some(value.as_str()), "{name:?}");
                }
            }
            ttl(params.get("ttl").unwrap_or(""));
        }
        Err(e) => {
            if let Some(Ok(_)) = expected {
                panic!("refused what the model accepts: {e:?}");
            }
            let resp = e.into_response();
            let intended: u16 = resp
                .headers()
                .get(once_server::error::INTENDED_STATUS)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("every v1 error names its intended status");
            assert!((400..500).contains(&intended), "intended status {intended}");
            assert!(resp.status() == StatusCode::NOT_FOUND || resp.status().as_u16() == intended);
            let body = RUNTIME
                .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))
                .expect("an in-memory body");
            serde_json::from_slice::<v1::ErrorBody>(&body).expect("a v1 error body");
            assert!(
                !body.iter().any(|b| matches!(b, b'\r' | b'\n' | b'\0')),
                "raw CR, LF or NUL in {body:?}"
            );
        }
    }
}

/// What `TtlRequest::parse` accepts is a positive whole number of seconds.
fn ttl(text: &str) {
    match TtlRequest::parse(text) {
        Ok(TtlRequest::Default) => assert!(text.trim().is_empty()),
        Ok(TtlRequest::Seconds(n)) => {
            assert!(n > 0);
            assert_eq!(text.trim().trim_start_matches('0').parse::<i64>(), Ok(n));
        }
        Err(message) => assert!(!message.chars().any(|c| c == '\r' || c == '\n' || c == '\0')),
    }
}

/// The parameters a reference decoder reads from the request, or why it refuses them; `None`
/// where there is no model (multipart bodies).
fn model(
    query: Option<&str>,
    content_type: Option<Option<String>>,
    body: &[u8],
) -> Option<Result<HashMap<String, String>, String>> {
    let mut map = HashMap::new();
    if let Some(q) = query
        && let Err(e) = urlencoded(&mut map, q.as_bytes())
    {
        return Some(Err(e));
    }
    // A header value that is not visible ASCII counts as no type at all.
    let mime =
        content_type.flatten().map(|ct| ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    if mime.as_deref() == Some("multipart/form-data") {
        return None;
    }
    if body.is_empty() {
        return Some(Ok(map));
    }
    let outcome = match mime.as_deref() {
        None | Some("application/x-www-form-urlencoded") => urlencoded(&mut map, body),
        Some(m) if m == "application/json" || m.ends_with("+json") => json(&mut map, body),
        Some(m) => Err(format!("unsupported type {m:?}")),
    };
    Some(outcome.map(|()| map))
}

fn urlencoded(map: &mut HashMap<String, String>, bytes: &[u8]) -> Result<(), String> {
    let utf8 = bytes.split(|&b| b == b'&').flat_map(|pair| pair.splitn(2, |&b| b == b'=')).all(|part| {
        let spaced: Vec<u8> = part.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        percent_encoding::percent_decode(&spaced).decode_utf8().is_ok()
    });
    if !utf8 {
        return Err("invalid UTF-8".into());
    }
    for (k, v) in form_urlencoded::parse(bytes) {
        map.insert(k.into_owned(), v.into_owned());
    }
    Ok(())
}

fn json(map: &mut HashMap<String, String>, bytes: &[u8]) -> Result<(), String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(object) = value else { return Err("not an object".into()) };
    for (k, v) in object {
        let v = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(format!("{k:?} nested"));
            }
        };
        map.insert(k, v);
    }
    Ok(())
}

/// The v1 response types, as a client reads them: what deserializes serializes back to the same.
fn client_types(body: &[u8]) {
    fn round_trip<T>(body: &[u8])
    where
        T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
    {
        if let Ok(v) = serde_json::from_slice::<T>(body) {
            let again: T =
                serde_json::from_slice(&serde_json::to_vec(&v).expect("serializes")).expect("reads back");
            assert_eq!(again, v);
        }
    }
    round_trip::<v1::Metadata>(body);
    round_trip::<Vec<v1::Metadata>>(body);
    round_trip::<v1::Secret>(body);
    round_trip::<v1::Status>(body);
    round_trip::<v1::Burned>(body);
    round_trip::<v1::ErrorBody>(body);
}
