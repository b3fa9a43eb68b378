//! Where the server is and which API key to use: flags, then environment, then the profile file.
//!
//! ```toml
//! # ~/.config/once/config.toml ($XDG_CONFIG_HOME/once/config.toml)
//! [default]
//! server = "https://once.example.com"
//! api_key = "once_…"            # or api_key_file = "/run/secrets/once-key"
//!
//! [profiles.ots]
//! server = "https://onetimesecret.com"
//! user = "me@example.com"       # API v1: HTTP Basic needs the account's e-mail
//! api_key = "…"
//! v1 = true
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::ServerArgs;
use super::exit::Failure;

/// The profile file's contents.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    default: Profile,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    server: Option<String>,
    api_key: Option<String>,
    api_key_file: Option<PathBuf>,
    user: Option<String>,
    #[serde(default)]
    v1: bool,
}

impl Drop for Profile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.api_key);
    }
}

/// The settings a client command runs with.
pub struct Settings {
    server: Option<String>,
    /// Where the server setting would have come from, for the "no server" message.
    file: Option<PathBuf>,
    pub api_key: Option<Zeroizing<String>>,
    pub user: Option<String>,
    pub v1: bool,
}

impl Settings {
    /// The configured server's base URL (no trailing `/`), or the "no server" error.
    pub fn server(&self) -> Result<&str, Failure> {
        self.server.as_deref().ok_or_else(|| {
            let file =
                self.file.as_ref().map(|f| format!(" (or `server` in {})", f.display())).unwrap_or_default();
            Failure::usage(format!("no server: pass --server URL or set ONCE_SERVER{file}"))
        })
    }

    /// The configured server, if any.
    pub fn configured_server(&self) -> Option<&str> {
        self.server.as_deref()
    }
}

/// `$XDG_CONFIG_HOME/once/config.toml`, else `~/.config/once/config.toml`.
pub fn profile_path() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .and_then(absolute)
        .or_else(|| std::env::var_os("HOME").and_then(absolute).map(|h| h.join(".config")))?;
    Some(dir.join("once").join("config.toml"))
}

/// Flags > environment (clap reads `ONCE_SERVER`, `ONCE_PROFILE`, `ONCE_USER`; this reads
/// `ONCE_API_KEY`) > the profile (`--profile NAME`'s table, else `[default]`).
pub fn resolve(args: &ServerArgs) -> Result<Settings, Failure> {
    let path = profile_path();
    let file = match &path {
        Some(p) => read_file(p)?,
        None => None,
    };
    let profile = match (&args.profile, &file) {
        (Some(name), Some(f)) => {
            f.profiles.get(name).cloned().ok_or_else(|| no_profile(name, path.as_deref()))?
        }
        (Some(name), None) => return Err(no_profile(name, path.as_deref())),
        (None, Some(f)) => f.default.clone(),
        (None, None) => Profile::default(),
    };
    let server = match non_empty(args.server.clone()).or_else(|| non_empty(profile.server.clone())) {
        Some(s) => Some(server_url(&s)?),
        None => None,
    };
    let api_key = if let Some(k) = non_empty(args.api_key.clone()) {
        Some(Zeroizing::new(k))
    } else if let Some(p) = &args.api_key_file {
        Some(first_line_of(p, "API key")?)
    } else if let Some(k) = non_empty(std::env::var("ONCE_API_KEY").ok()) {
        Some(Zeroizing::new(k))
    } else if let Some(k) = non_empty(profile.api_key.clone()) {
        Some(Zeroizing::new(k))
    } else if let Some(p) = &profile.api_key_file {
        Some(first_line_of(p, "API key")?)
    } else {
        None
    };
    Ok(Settings {
        server,
        file: path.filter(|_| file.is_some()),
        api_key,
        user: non_empty(args.user.clone()).or_else(|| non_empty(profile.user.clone())),
        v1: args.v1 || profile.v1,
    })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn no_profile(name: &str, path: Option<&Path>) -> Failure {
    let where_ = path.map(|p| p.display().to_string()).unwrap_or_else(|| "the profile file".into());
    Failure::usage(format!("no profile {name:?}: add a [profiles.{name}] table to {where_}"))
}

/// Reads the profile file; a missing file is no file.
fn read_file(path: &Path) -> Result<Option<ProfileFile>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::usage(format!("cannot read {}: {e}", path.display()))),
    };
    let file: ProfileFile = toml::from_str(&text).map_err(|e| {
        // toml's message quotes the offending line, which may hold a key: only its summary.
        Failure::usage(format!("{} is not a valid profile file: {}", path.display(), e.message()))
    })?;
    warn_if_readable_by_others(path, &file);
    Ok(Some(file))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, file: &ProfileFile) {
    use std::os::unix::fs::PermissionsExt;
    let has_key = file.default.api_key.is_some() || file.profiles.values().any(|p| p.api_key.is_some());
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
    if has_key && mode & 0o077 != 0 {
        eprintln!(
            "warning: {} holds an API key and other users can read it: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path, _: &ProfileFile) {}

/// A server base URL: http(s), without a trailing `/`.
pub fn server_url(text: &str) -> Result<String, Failure> {
    let t = text.trim().trim_end_matches('/');
    let lower = t.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') && !t.contains(['?', '#']) => {
            Ok(t.to_owned())
        }
        _ => Err(Failure::usage(format!("the server must be an http:// or https:// URL, not {t:?}"))),
    }
}

/// The first line of a file (`-`: standard input), without its line ending; refused if empty.
pub fn first_line_of(path: &Path, what: &str) -> Result<Zeroizing<String>, Failure> {
    let text =
        if path == Path::new("-") {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::usage(format!("cannot read the {what} from standard input: {e}")))?;
            line
        } else {
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                Failure::usage(format!("cannot read the {what} from {}: {e}", path.display()))
            })?)
        };
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        let source =
            if path == Path::new("-") { "standard input".to_owned() } else { path.display().to_string() };
        return Err(Failure::usage(format!("no {what} in {source}")));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(server_url("https://once.example.com/").expect("ok"), "https://once.example.com");
        assert_eq!(server_url(" http://127.0.0.1:7143 ").expect("ok"), "http://127.0.0.1:7143");
        assert_eq!(server_url("https://h/prefix").expect("ok"), "https://h/prefix");
        for bad in ["once.example.com", "ftp://h", "https://", "https:///x", "https://h/?a", "https://h#x"] {
            assert!(server_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn profile_file_parses_and_refuses_typos() {
        let f: ProfileFile = toml::from_str(
            "[default]\nserver = \"https://a\"\n\
             [profiles.ots]\nserver = \"https://b\"\nuser = \"u@x\"\nv1 = true\n",
        )
        .expect("parses");
        assert_eq!(f.default.server.as_deref(), Some("https://a"));
        let ots = &f.profiles["ots"];
        assert!(ots.v1);
        assert_eq!(ots.user.as_deref(), Some("u@x"));
        assert!(toml::from_str::<ProfileFile>("[default]\nsever = \"https://a\"\n").is_err());
    }
}
