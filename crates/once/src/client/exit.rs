//! How a client command ends: the exit codes scripts can rely on, and the one message on
//! standard error that says why.

use std::process::ExitCode;

use once_client::{ClientError, ErrorCode};

/// The exit codes of the client commands (0 is success).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Bad usage or input: a wrong flag, an empty secret, no server configured, a malformed
    /// link, a request the server refused as invalid.
    Usage = 1,
    /// Not found: the secret expired, was already viewed or burned, the link is wrong, or the
    /// passphrase is wrong.
    Gone = 2,
    /// Refused credentials (401) or not allowed (403).
    Auth = 3,
    /// The server could not be reached or is unavailable: connection errors, time-outs, 5xx,
    /// rate limits (429), answers that are not the API's.
    Unavailable = 4,
}

/// The exit codes, for `--help` and the man page.
pub const EXIT_CODES_HELP: &str = "\
Exit codes of share, get, status, burn and combine:
  0  success
  1  usage or input error (bad flag, empty secret, no server configured, malformed link)
  2  not found: expired, already viewed or burned, wrong link, or wrong passphrase
  3  authentication: the API key was refused (401) or lacks the right (403)
  4  network: server unreachable, timed out, unavailable (5xx) or rate limited (429)";

/// A failed client command: the exit code and what to tell the user. Messages never contain a
/// secret, a passphrase, a fragment key or an API key.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Failure { exit, message: message.into(), hint: None }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(Exit::Gone, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prints the message (and hint) on standard error and gives the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {}", self.message);
        if let Some(hint) = &self.hint {
            eprintln!("hint: {hint}");
        }
        ExitCode::from(self.exit as u8)
    }

    /// A failed request to `server`. `not_found` says what a 404 means for this request.
    pub fn from_client(err: ClientError, server: &str, not_found: &str) -> Self {
        match err {
            ClientError::Network(e) => network(&e, server),
            ClientError::Decode(_) => Failure::new(
                Exit::Unavailable,
                format!("{server} did not answer as the API does: is it a Once server?"),
            )
            .with_hint("for an Onetime Secret server, add --v1"),
            ClientError::Api { status, message, .. } => from_status(status, None, message, None, not_found),
            ClientError::ApiV2 { status, code, message, retry_after } => {
                from_status(status, code, message, retry_after, not_found)
            }
        }
    }
}

fn from_status(
    status: u16,
    code: Option<ErrorCode>,
    message: String,
    retry_after: Option<u64>,
    not_found: &str,
) -> Failure {
    match (status, code) {
        (404, _) | (_, Some(ErrorCode::NotFound)) => Failure::gone(not_found),
        (409, _) | (_, Some(ErrorCode::Conflict)) => Failure::gone(message),
        (401, _) => Failure::new(Exit::Auth, format!("the server refused the API key: {message}"))
            .with_hint("check --api-key, --api-key-file, ONCE_API_KEY or the profile file"),
        (403, _) => Failure::new(Exit::Auth, format!("not allowed: {message}")),
        (429, _) => {
            let wait = match retry_after {
                Some(s) => format!("; retry in {s} s"),
                None => String::new(),
            };
            Failure::new(Exit::Unavailable, format!("rate limited by the server{wait}: {message}"))
        }
        (300..=399, _) => Failure::usage(format!("the server answered with a redirect ({status})"))
            .with_hint("pass the server's final address (https://…) as --server"),
        (400..=499, _) => Failure::usage(format!("the server refused the request ({status}): {message}")),
        _ => Failure::new(Exit::Unavailable, format!("the server is unavailable ({status}): {message}"))
            .with_hint("retry later"),
    }
}

/// A request that got no answer. reqwest's message names the URL, which holds a key: it is left
/// out, and the root cause ("Connection refused") is given instead.
fn network(e: &reqwest::Error, server: &str) -> Failure {
    if e.is_builder() {
        return Failure::usage(format!("{server} is not a usable server URL"));
    }
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        cause.to_string()
    };
    Failure::new(Exit::Unavailable, format!("cannot reach {server}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(status: u16, code: Option<ErrorCode>) -> ClientError {
        ClientError::ApiV2 { status, code, message: "m".into(), retry_after: Some(7) }
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let exit = |e| Failure::from_client(e, "http://h", "gone").exit;
        assert_eq!(exit(v2(404, Some(ErrorCode::NotFound))), Exit::Gone);
        assert_eq!(exit(v2(409, Some(ErrorCode::Conflict))), Exit::Gone);
        assert_eq!(exit(v2(401, Some(ErrorCode::Unauthorized))), Exit::Auth);
        assert_eq!(exit(v2(403, Some(ErrorCode::Forbidden))), Exit::Auth);
        assert_eq!(exit(v2(400, Some(ErrorCode::BadRequest))), Exit::Usage);
        assert_eq!(exit(v2(413, None)), Exit::Usage);
        assert_eq!(exit(v2(429, Some(ErrorCode::RateLimited))), Exit::Unavailable);
        assert_eq!(exit(v2(503, Some(ErrorCode::Unavailable))), Exit::Unavailable);
        assert_eq!(exit(v2(502, None)), Exit::Unavailable);
        assert_eq!(exit(v2(301, None)), Exit::Usage);
        assert_eq!(exit(ClientError::Decode("x".into())), Exit::Unavailable);
        // API v1: the intended status counts.
        let v1 = ClientError::Api { status: 401, http_status: 404, message: "Not authorized".into() };
        assert_eq!(exit(v1), Exit::Auth);
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let f = Failure::from_client(v2(429, Some(ErrorCode::RateLimited)), "http://h", "gone");
        assert!(f.message.contains("retry in 7 s"), "{}", f.message);
    }
}
