/// What a service call can fail with. Messages are safe to show to the caller: they never carry
/// secret material, and `NotFound` is deliberately the same for every "you can't have it" reason.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Unknown, expired, consumed, burned or wrong passphrase: indistinguishable on purpose.
    #[error("unknown secret")]
    NotFound,
    /// The request is malformed; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The secret is larger than the configured limit.
    #[error("secret is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The file is larger than the configured limit (or file secrets are off).
    #[error("file is larger than the limit of {limit} bytes")]
    FileTooLarge { limit: u64 },
    /// The secret is a file and the caller asked for text. Nothing was consumed; it is only said
    /// to a caller who proved they hold the link's key.
    #[error("this secret is a file: ask for it as application/octet-stream")]
    IsAFile,
    /// Credentials were given and are wrong (or the account is disabled).
    #[error("not authorized")]
    Unauthorized,
    /// A new password does not meet the rules; the reason is for the user (and localisable).
    #[error("{0}")]
    WeakPassword(once_crypto::password::Weak),
    /// The secret is only for a signed-in recipient, and this caller is not (or not signed in
    /// with a second factor). Nothing was consumed.
    #[error("sign in as the intended recipient to view this secret")]
    SignInRequired,
    /// The secret's access policy does not allow this visit (network, country or time). Which
    /// condition failed is for the audit trail, not the caller. Nothing was consumed.
    #[error("this secret can't be opened from here or at this time")]
    AccessDenied,
    /// Too many wrong second-factor codes: the account's second factor is locked until then.
    #[error("too many wrong codes; try again later")]
    Locked { until: i64 },
    /// The acting account is not an (enabled) administrator.
    #[error("administrators only")]
    NotAdmin,
    /// Sign-up is closed, or not open to this address's domain.
    #[error("sign-up is not open to this address")]
    SignupRefused,
    /// The e-mail address is already taken.
    #[error("{0}")]
    Conflict(String),
    /// Too many passphrase or password checks are running or waiting: retry in a moment.
    /// Nothing was looked at or consumed.
    #[error("the server is busy checking passphrases; try again in a moment")]
    Busy,
    /// The store is unreachable or failing; the request can be retried.
    #[error("storage is unavailable")]
    Unavailable(#[source] once_store::StoreError),
    /// A key-ring problem (no active key). Operator action needed.
    #[error("encryption is not available: {0}")]
    Crypto(String),
}

impl From<once_store::StoreError> for CoreError {
    fn from(e: once_store::StoreError) -> Self {
        match e {
            once_store::StoreError::Conflict(what) => CoreError::Conflict(format!("{what} already exists")),
            other => CoreError::Unavailable(other),
        }
    }
}
