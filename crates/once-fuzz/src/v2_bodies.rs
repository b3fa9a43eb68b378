//! API v2 request bodies: arbitrary bytes read by `serde_json` as each request type of
//! `once_api::v2` and by the server's `V2Json` extractor (which refuses what is not JSON, a JSON
//! array, unknown fields), then the checks the server applies to what it read: the view limit,
//! the zero-knowledge ciphertext's base64url and blob header, the key proof, the
//! signed-in-recipient rule (`RecipientRule::new`) and the access policy (`AccessPolicy::new`:
//! networks, countries, not-before, weekly hours in a time zone). Also the v2 response types a
//! client reads. Nothing may panic; the extractor accepts exactly what `serde_json` reads (and is
//! not an array); every refusal is a 4xx with the v2 error envelope.
//!
//! Input: one byte choosing the `Content-Type` (0 `application/json`, 1
//! `application/problem+json; charset=utf-8`, 2 none, 3 `text/plain`), then the body.

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{FromRequest, OptionalFromRequest};
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use data_encoding::BASE64URL_NOPAD;
use once_api::v2;
use once_core::{AccessPolicy, Denial, Policy, RecipientRule, ViewLimit, Viewer};
use once_crypto::zk::{self, KeyProof};
use once_server::error::{V2Error, V2Json};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime")
});

static POLICY: LazyLock<Policy> = LazyLock::new(Policy::default);

/// One input (the module documentation gives its layout); panics on a broken property.
pub fn run(data: &[u8]) {
    let Some((&choice, body)) = data.split_first() else { return };
    let content_type = match choice % 4 {
        0 => Some("application/json"),
        1 => Some("application/problem+json; charset=utf-8"),
        2 => None,
        _ => Some("text/plain"),
    };
    let is_json = choice % 4 < 2;
    let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');

    if let Some(create) = extract::<v2::CreateSecret>(content_type, is_json, array, body) {
        create_secret(create);
    }
    if let Some(reveal) = extract::<v2::Reveal>(content_type, is_json, array, body) {
        reveal_body(&reveal);
    }
    let _ = extract::<v2::CreateApiKey>(content_type, is_json, array, body);
    optional_reveal(content_type, is_json, array, body);
    client_types(body);
}

fn request(content_type: Option<&str>, body: &[u8]) -> Request<Body> {
    let mut req = Request::builder().method("POST").uri("/api/v2/secrets");
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    req.header(header::CONTENT_LENGTH, body.len()).body(Body::from(body.to_vec())).expect("a valid request")
}

/// Reads `body` as `T` through `V2Json` and checks it against `serde_json` alone.
fn extract<T: serde::de::DeserializeOwned>(
    content_type: Option<&str>,
    is_json: bool,
    array: bool,
    body: &[u8],
) -> Option<T> {
    let direct = serde_json::from_slice::<T>(body);
    let got =
        RUNTIME.block_on(<V2Json<T> as FromRequest<()>>::from_request(request(content_type, body), &()));
    match got {
        Ok(V2Json(v)) => {
            assert!(is_json && !array && direct.is_ok(), "V2Json accepted what it should refuse");
            Some(v)
        }
        Err(e) => {
            let status = refusal(e);
            if !is_json {
                assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            } else {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert!(array || direct.is_err(), "V2Json refused what serde_json reads");
            }
            None
        }
    }
}

/// The response a refusal becomes: a 4xx with the v2 error envelope.
fn refusal(e: V2Error) -> StatusCode {
    let resp = e.into_response();
    let status = resp.status();
    assert!(status.is_client_error(), "{status}");
    let body =
        RUNTIME.block_on(axum::body::to_bytes(resp.into_body(), usize::MAX)).expect("an in-memory body");
    serde_json::from_slice::<v2::Error>(&body).expect("the v2 error envelope");
    // The message may quote the body (an unknown field's name), but only JSON-escaped.
    assert!(!body.iter().any(|b| matches!(b, b'\r' | b'\n' | b'\0')), "raw CR, LF or NUL in {body:?}");
    status
}

/// The reveal route's optional body: no body (no type, length 0), or JSON `null`, means nothing
/// is presented.
fn optional_reveal(content_type: Option<&str>, is_json: bool, array: bool, body: &[u8]) {
    let got = RUNTIME.block_on(<V2Json<Option<v2::Reveal>> as OptionalFromRequest<()>>::from_request(
        request(content_type, body),
        &(),
    ));
    let direct = serde_json::from_slice::<Option<v2::Reveal>>(body);
    if content_type.is_none() && body.is_empty() {
        assert!(matches!(got, Ok(None)), "an empty body without a type is no body");
    }
    match got {
        Ok(None) => assert!(content_type.is_none() && body.is_empty()),
        Ok(Some(V2Json(v))) => {
            assert!(is_json && !array);
            assert_eq!(v.is_some(), direct.as_ref().is_ok_and(Option::is_some));
            if let Some(r) = v {
                reveal_body(&r);
            }
        }
        Err(e) => {
            refusal(e);
            assert!(!is_json || array || direct.is_err());
        }
    }
}

/// What the create handler checks in a body that parsed (`routes/v2.rs`, `create`).
fn create_secret(body: v2::CreateSecret) {
    let views = body.max_views.unwrap_or(1);
    assert_eq!(ViewLimit::new(views, &POLICY).is_ok(), (1..=POLICY.max_views).contains(&views));
    if let Some(ct) = &body.ciphertext
        && let Ok(blob) = BASE64URL_NOPAD.decode(ct.trim().as_bytes())
    {
        // What the core asks of a zero-knowledge blob before storing it.
        let _ = zk::blob_needs_passphrase(&blob);
        assert_eq!(BASE64URL_NOPAD.encode(&blob), ct.trim());
    }
    if let Some(proof) = &body.key_proof {
        key_proof(proof);
    }
    if let Some(only_for) = &body.only_for {
        recipient_rule(only_for);
    }
    if let Some(access) = &body.access {
        access_policy(access);
    }
}

fn reveal_body(body: &v2::Reveal) {
    if let Some(proof) = &body.key_proof {
        key_proof(proof);
    }
}

/// The server reads a key proof as base64url-no-pad of 32 bytes, around white space; the client
/// side (`zk::KeyProof`) prints exactly that, so both must agree on every input.
fn key_proof(text: &str) {
    let server = BASE64URL_NOPAD.decode(text.trim().as_bytes()).ok().filter(|b| b.len() == 32);
    let client = KeyProof::from_base64url(text.trim()).ok();
    assert_eq!(server.as_deref(), client.as_ref().map(|p| &p.as_bytes()[..]));
}

/// `only_for`: an address, when given, is normalized (trimmed, lower case) and admits exactly
/// that account; the second factor, when asked for, is required.
fn recipient_rule(only_for: &v2::OnlyFor) {
    let Ok(rule) = RecipientRule::new(only_for.email.as_deref(), only_for.second_factor) else {
        let email = only_for.email.as_deref().map(str::trim).expect("only an address is refused");
        assert!(!email.is_empty());
        return;
    };
    assert!(!rule.admits(None), "anonymous admitted");
    let email = match &rule.email {
        Some(e) => {
            assert_eq!(e, &e.trim().to_lowercase());
            assert!(e.len() <= 254 && e.contains('@'));
            e.clone()
        }
        None => {
            assert!(only_for.email.as_deref().is_none_or(|e| e.trim().is_empty()));
            "anyone@example.com".to_owned()
        }
    };
    assert!(rule.admits(Some(&Viewer { email: email.clone(), second_factor: true })));
    assert_eq!(rule.admits(Some(&Viewer { email, second_factor: false })), !only_for.second_factor);
    let other = "someone-else@example.net";
    if rule.email.as_deref().is_some_and(|e| e != other) {
        assert!(!rule.admits(Some(&Viewer { email: other.into(), second_factor: true })));
    }
}

/// `access`, as the create handler reads it (`routes/v2.rs`, `access_policy`: the two lines
/// repeated here). A refusal is the handler's 400 in the v2 error envelope. An accepted policy
/// keeps every network and country, in canonical form (truncated networks, upper-case codes),
/// and is built again, unchanged, from its own printed form, which is what the record's stored
/// conditions carry (`once_core`'s `Conditions` is crate-private, so this is the public half of
/// its round trip): printed fields hold none of the stored form's separators. No policy at all
/// only when nothing is restricted.
fn access_policy(access: &v2::Access) {
    let hours = access.hours.as_ref().map(|h| (h.time_zone.as_str(), h.weekly.as_slice()));
    let policy = match AccessPolicy::new(&access.networks, &access.countries, access.not_before, hours) {
        Ok(Some(policy)) => policy,
        Ok(None) => {
            assert!(access.networks.is_empty() && access.countries.is_empty() && access.not_before.is_none());
            assert!(access.hours.as_ref().is_none_or(|h| h.weekly.is_empty()));
            return;
        }
        Err(e) => {
            assert_eq!(refusal(V2Error::from(e)), StatusCode::BAD_REQUEST);
            return;
        }
    };
    assert_eq!(policy.networks.len(), access.networks.len());
    assert_eq!(policy.countries.len(), access.countries.len());
    assert!(policy.countries.iter().all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())));
    assert_eq!(policy.not_before, access.not_before);
    let networks: Vec<String> = policy.networks.iter().map(ToString::to_string).collect();
    assert!(networks.iter().all(|n| !n.contains([',', '\n'])), "{networks:?}");
    let printed_hours = policy.hours.as_ref().map(|h| (h.time_zone().to_owned(), h.spans()));
    if let Some((time_zone, spans)) = &printed_hours {
        let given = access.hours.as_ref().expect("hours come from the body");
        assert_eq!(time_zone, given.time_zone.trim());
        assert!(!time_zone.contains('\n'), "{time_zone:?}");
        assert_eq!(spans.len(), given.weekly.len());
        assert!(spans.iter().all(|s| !s.contains([';', '\n'])), "{spans:?}");
    }
    let again = AccessPolicy::new(
        &networks,
        &policy.countries,
        policy.not_before,
        printed_hours.as_ref().map(|(tz, spans)| (tz.as_str(), spans.as_slice())),
    )
    .expect("a policy's printed form parses");
    assert_eq!(again.as_ref(), Some(&policy));

    // Checking a visit never panics, whatever the time; a visit before `not_before` is not yet
    // due, and one without an address never passes a network or country list.
    for now in [i64::MIN, -1, 0, 1_800_000_000, i64::MAX] {
        let _ = policy.check(None, now, None);
    }
    if let Some(t) = policy.not_before
        && let Some(before) = t.checked_sub(1)
    {
        assert_eq!(policy.check(None, before, None), Err(Denial::NotYet));
    }
    if !policy.networks.is_empty() || !policy.countries.is_empty() {
        assert!(policy.check(None, policy.not_before.unwrap_or(0), None).is_err());
    }
}

/// The v2 response types, as a client reads them: what deserializes serializes to JSON that
/// reads back to the same JSON.
fn client_types(body: &[u8]) {
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(body: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<T>(body) {
            let json = serde_json::to_value(&v).expect("serializes");
            let again: T = serde_json::from_value(json.clone()).expect("reads back");
            assert_eq!(serde_json::to_value(&again).expect("serializes"), json);
        }
    }
    round_trip::<v2::Created>(body);
    round_trip::<v2::Preview>(body);
    round_trip::<v2::Revealed>(body);
    round_trip::<v2::Receipt>(body);
    round_trip::<v2::ReceiptPage>(body);
    round_trip::<v2::CreatedApiKey>(body);
    round_trip::<v2::ApiKeyList>(body);
    round_trip::<v2::Usage>(body);
    round_trip::<v2::Error>(body);
}
