//! API v2: Once's own JSON API, used by the web UI's script and the CLI.
//!
//! Times are Unix seconds; byte strings (a zero-knowledge secret's ciphertext, key proofs) are
//! base64url without padding. Errors are `{"error": {"code", "message"}}` with a real HTTP
//! status; `code` is one of [`ErrorCode`].
//!
//! With the `openapi` feature, every type derives `utoipa::ToSchema`, so the server's OpenAPI
//! document is generated from these definitions.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// How a secret is protected, as the recipient's client needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The server encrypted it; a reveal returns the text.
    Server,
    /// The client encrypted it; a reveal (with the key proof) returns the client's ciphertext,
    /// which only the key in the link's fragment opens.
    ZeroKnowledge,
}

/// `POST /api/v2/secrets`: either `secret` (server-side mode) or `ciphertext` + `key_proof`
/// (zero-knowledge mode).
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSecret {
    /// The secret text (server-side mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Zero-knowledge mode: the client's ciphertext (base64url), Once's zero-knowledge format v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// Zero-knowledge mode: the key proof (base64url, 32 bytes) derived from the fragment key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_proof: Option<String>,
    /// Server-side mode only: a passphrase the recipient must give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// Lifetime in seconds (default: the server's). Must be within the server's bounds
    /// (by default 60 s to 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::opt_i64")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub ttl: Option<i64>,
    /// How many times it can be revealed (default 1; at most the server's limit, by default 100).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::opt_u32")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub max_views: Option<u32>,
    /// Only a signed-in recipient may reveal it (in the web UI, or with their API key); everyone
    /// else gets 403 and consumes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_for: Option<OnlyFor>,
    /// From where and when it may be revealed; a visit outside gets 403 and consumes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
}

/// An access policy: every condition given must hold for a reveal (and a preview).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// The client's address must be in one of these networks (CIDR such as `10.0.0.0/8`, or
    /// single addresses; at most 64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// The client's address must be in one of these countries (ISO 3166-1 alpha-2 such as
    /// `KR`; at most 64). Needs the server's GeoIP database (`once serve --geoip-db`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// Not before this time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::opt_i64")]
    pub not_before: Option<i64>,
    /// Only within these weekly hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<Hours>,
}

/// Weekly opening hours in a time zone.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// An IANA time zone name such as `Asia/Seoul` or `UTC`.
    pub time_zone: String,
    /// Spans like `mon-fri 09:00-18:00` or `sat,sun 10:00-14:00` (at most 14). A span whose end
    /// is not after its start runs past midnight (`fri 22:00-02:00`).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 14))]
    pub weekly: Vec<String>,
}

/// Who may reveal a secret besides holding its link.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OnlyFor {
    /// The account's e-mail address; absent for any signed-in account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The recipient must have signed in to the web UI with a second factor (an API key never
    /// counts).
    #[serde(default)]
    pub second_factor: bool,
}

impl std::fmt::Debug for CreateSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateSecret")
            .field("ttl", &self.ttl)
            .field("max_views", &self.max_views)
            .finish_non_exhaustive()
    }
}

/// The answer to a create: the two links. The secret link of a zero-knowledge secret still needs
/// the client's `#fragment` appended.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Created {
    pub secret_key: String,
    pub secret_url: String,
    pub receipt_key: String,
    pub receipt_url: String,
    pub mode: Mode,
    pub passphrase_required: bool,
    pub max_views: u32,
    pub created_at: i64,
    pub expires_at: i64,
    pub receipt_expires_at: i64,
}

/// `GET /api/v2/secrets/{key}`: what the link leads to. Consumes nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Preview {
    pub mode: Mode,
    /// Whether the recipient must type a passphrase (sent to the server in server-side mode,
    /// used by the client in zero-knowledge mode).
    pub passphrase_required: bool,
    pub views_left: u32,
    pub expires_at: i64,
    /// Set for a file secret: reveal it with `Accept: application/octet-stream` (the answer is
    /// the encrypted file, streamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSummary>,
}

/// A file secret, as its preview tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FileSummary {
    /// Bytes of the encrypted file (what the reveal's body will be).
    pub size: u64,
}

/// `POST /api/v2/files`: a `multipart/form-data` body, the parts in this order.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FileUpload {
    /// A create request (JSON) with `key_proof` and without `secret` or `ciphertext`.
    pub options: CreateSecret,
    /// The file, encrypted by the client in Once's zero-knowledge file format.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Binary))]
    pub content: Vec<u8>,
}

/// `POST /api/v2/secrets/{key}/reveal`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Reveal {
    /// Server-side mode: the passphrase, if the secret has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// Zero-knowledge mode: the key proof (base64url) derived from the fragment key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_proof: Option<String>,
}

impl std::fmt::Debug for Reveal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reveal").finish_non_exhaustive()
    }
}

/// A revealed secret: `value` in server-side mode, `ciphertext` in zero-knowledge mode.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Revealed {
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// Views left after this one (0: it is gone now).
    pub views_left: u32,
}

impl std::fmt::Debug for Revealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revealed")
            .field("mode", &self.mode)
            .field("views_left", &self.views_left)
            .finish_non_exhaustive()
    }
}

/// A secret's lifecycle as the sender sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not revealed yet, receipt not opened.
    New,
    /// Not revealed yet; the sender has looked at the receipt.
    Viewed,
    /// Revealed as many times as allowed.
    Received,
    Burned,
    Expired,
}

/// `GET /api/v2/receipts/{key}`: the sender's view. Never contains the secret or its link.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Receipt {
    pub receipt_key: String,
    pub receipt_url: String,
    pub state: State,
    /// Why it was burned: `sender` or `passphrase_failures`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_reason: Option<String>,
    pub passphrase_required: bool,
    pub max_views: u32,
    pub views: u32,
    pub views_left: u32,
    /// Wrong passphrases (or key proofs) so far.
    pub failures: u32,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<i64>,
    pub secret_expires_at: i64,
    pub expires_at: i64,
    /// The reveals so far, oldest first (up to about a hundred).
    #[serde(default)]
    pub view_log: Vec<ViewEvent>,
}

/// One reveal, as the sender sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ViewEvent {
    /// When (Unix seconds).
    pub at: i64,
    /// The recipient's network, coarse: an IPv4 /24 or IPv6 /48 (empty if unknown).
    pub network: String,
}

/// `GET /api/v2/receipts`: the caller's receipts, newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReceiptPage {
    pub items: Vec<Receipt>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Create secrets.
    Share,
    /// Read receipts and the recent list.
    Read,
    /// Burn secrets.
    Burn,
    /// Instance administration (admins only).
    Admin,
}

/// `POST /api/v2/keys`: a new API key for the caller's account. Its scopes must be among the
/// calling key's.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// A name to recognise it by (1–64 characters), e.g. "CI deploy job".
    pub name: String,
    /// At least one scope.
    pub scopes: Vec<Scope>,
    /// Seconds until the key stops working (default: never).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "integral::opt_i64")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub expires_in: Option<i64>,
}

/// An API key as listed: never the key itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyInfo {
    /// Names the key for revocation (a hash of the key, not the key).
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// The answer to `POST /api/v2/keys`: the key, shown this once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatedApiKey {
    /// The key (`once_…`). Only a hash of it is stored: it can't be shown again.
    pub key: String,
    pub info: ApiKeyInfo,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey").field("info", &self.info).finish_non_exhaustive()
    }
}

/// `GET /api/v2/keys`: the caller's account's keys, newest first.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyInfo>,
}

/// One row of the usage statistics: the receipts created on one UTC day that are in one state,
/// and the bytes their live secrets take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageRow {
    /// The day the receipts were created: its 00:00 UTC, in Unix seconds.
    pub day: i64,
    /// Their state now (`new` and `viewed` become `expired` once the secret's expiry passed).
    pub state: State,
    /// Receipts still stored (not purged yet), at least 1.
    pub receipts: u64,
    /// Envelope bytes of these receipts' secrets that are still live (unexpired, views left).
    pub secret_bytes: u64,
}

/// `GET /api/v2/admin/usage`: what the store holds, by day of creation and state.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Usage {
    /// When the statistics were computed.
    pub now: i64,
    /// One row per (day, state) with receipts: days ascending, then `new`, `viewed`,
    /// `received`, `burned`, `expired`.
    pub rows: Vec<UsageRow>,
}

/// Machine-readable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Unknown, expired, already revealed, burned, or the passphrase/key proof is wrong.
    NotFound,
    BadRequest,
    Unauthorized,
    /// The API key works but lacks the scope this route needs.
    Forbidden,
    /// The secret can no longer be burned (already revealed, burned or expired).
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Too many requests from this client; retry after the `Retry-After` header's seconds.
    RateLimited,
    /// Storage is unavailable; retry later.
    Unavailable,
    Internal,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// The error envelope of every v2 error response.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Error {
    pub error: ErrorBody,
}

/// Integers as JSON Schema reads them: `60` and `60.0` are the same integer (a fraction, or a
/// number out of range, is still an error).
mod integral {
    use serde::Deserialize;
    use serde::de::{Deserializer, Error};

    /// A whole number that fits in an `i64` (integers up to 2^53 survive the trip through `f64`).
    fn whole(n: serde_json::Number) -> Option<i64> {
        if let Some(i) = n.as_i64() {
            return Some(i);
        }
        let f = n.as_f64()?;
        // Whole and within ±2^53, where every integer is exact in an f64.
        (f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).then_some(f as i64)
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<serde_json::Number>::deserialize(d)? {
            None => Ok(None),
            Some(n) => whole(n).map(Some).ok_or_else(|| D::Error::custom("expected a whole number")),
        }
    }

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match opt_i64(d)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| D::Error::custom("expected a whole number from 0 to 4294967295")),
        }
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "super::opt_i64")]
            n: Option<i64>,
        }

        fn n(json: &str) -> Result<Option<i64>, String> {
            serde_json::from_str::<T>(json).map(|t| t.n).map_err(|e| e.to_string())
        }

        #[test]
        fn whole_floats_are_integers_and_fractions_are_not() {
            assert_eq!(n(r#"{"n": 60}"#), Ok(Some(60)));
            assert_eq!(n(r#"{"n": 60.0}"#), Ok(Some(60)));
            assert_eq!(n(r#"{"n": -5e2}"#), Ok(Some(-500)));
            assert_eq!(n(r#"{"n": null}"#), Ok(None));
            assert_eq!(n("{}"), Ok(None));
            assert!(n(r#"{"n": 60.5}"#).is_err());
            assert!(n(r#"{"n": 1e300}"#).is_err());
            assert!(n(r#"{"n": "60"}"#).is_err());
        }
    }
}
