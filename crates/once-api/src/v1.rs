//! Onetime Secret API v1 bodies.

use serde::{Deserialize, Serialize};

/// A receipt ("metadata" in OTS): what create, generate, the receipt routes, burn and recent
/// return. Times are Unix seconds; TTLs are seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The owner's e-mail, or `anon`.
    pub custid: String,
    /// The receipt key (private: only the sender has it).
    pub metadata_key: String,
    /// The secret link's key; present until the secret is received (and, on receipt routes,
    /// only the first time the receipt is opened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// The secret's TTL as set at creation.
    pub ttl: i64,
    /// Seconds left until the receipt expires.
    pub metadata_ttl: i64,
    /// Seconds left until the secret expires; absent once received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ttl: Option<i64>,
    /// `new`, `viewed`, `received`, `burned`, `expired` or `orphaned`.
    pub state: String,
    pub updated: i64,
    pub created: i64,
    /// When the secret was received; present only in state `received`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<i64>,
    /// Recipient addresses, obscured (`fo*****@e*****.com`).
    #[serde(default)]
    pub recipient: Vec<String>,
    /// The receipt's web address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
    #[serde(default)]
    pub share_domain: String,
    #[serde(default)]
    pub passphrase_required: bool,
    /// The generated password (generate only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A revealed secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub value: String,
    pub secret_key: String,
    /// The origin the secret was shared from (`https://host`), as OTS ≥ 0.19 sends it.
    #[serde(default)]
    pub share_domain: String,
}

/// `GET /api/v1/status`, and `GET /api/v1/authcheck` when the credentials are good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub status: String,
    pub locale: String,
}

/// `POST …/burn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Burned {
    pub state: Metadata,
    pub secret_shortkey: String,
}

/// Every v1 error body (HTTP 404 with `X-OTS-Intended-Status`, except 413/408/5xx).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
}
