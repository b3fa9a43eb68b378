//! The UI's language: chosen from the `lang` cookie (set by the switcher), else Accept-Language,
//! else English. Strings come from the Fluent catalogs in `locales/`, compiled in.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: they show up in copied text.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

pub const LANG_COOKIE: &str = "lang";

/// The languages the UI is complete in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

static EN: LazyLock<LanguageIdentifier> = LazyLock::new(|| {
    LanguageIdentifier::from_parts(
        // "en" and "ko" are valid language subtags.
        "en".parse().unwrap_or_else(|_| unreachable!("valid subtag")),
        None,
        None,
        &[],
    )
});
static KO: LazyLock<LanguageIdentifier> = LazyLock::new(|| {
    LanguageIdentifier::from_parts(
        "ko".parse().unwrap_or_else(|_| unreachable!("valid subtag")),
        None,
        None,
        &[],
    )
});

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ko];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    /// The language's own name, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Ko => "한국어",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next().unwrap_or("").trim();
        if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else if primary.eq_ignore_ascii_case("ko") {
            Some(Lang::Ko)
        } else {
            None
        }
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::En => &EN,
            Lang::Ko => &KO,
        }
    }

    /// The best supported language of an Accept-Language header (q-values respected).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for part in header.split(',').take(32) {
            let mut fields = part.split(';');
            let tag = fields.next().unwrap_or("").trim();
            let q = fields
                .find_map(|f| f.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            if let Some(lang) = Lang::from_code(tag)
                && q > 0.0
                && best.is_none_or(|(_, bq)| q > bq)
            {
                best = Some((lang, q));
            }
        }
        best.map(|(l, _)| l)
    }
}

/// The request's language and its messages. Extracted from the request; never fails.
#[derive(Clone, Copy, Debug)]
pub struct Loc {
    pub lang: Lang,
}

impl Loc {
    pub fn new(lang: Lang) -> Self {
        Loc { lang }
    }

    /// The message `key`. A missing key shows the key itself (the catalog test keeps them complete).
    pub fn t(&self, key: &str) -> String {
        LOCALES.try_lookup(self.lang.id(), key).unwrap_or_else(|| key.to_owned())
    }

    /// The message `key` with arguments.
    pub fn t_with(&self, key: &str, args: &[(&'static str, FluentValue<'static>)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue<'static>> =
            args.iter().map(|(k, v)| (Cow::Borrowed(*k), v.clone())).collect();
        LOCALES.try_lookup_with_args(self.lang.id(), key, &map).unwrap_or_else(|| key.to_owned())
    }

    /// A whole number argument (plural rules apply).
    pub fn t_n(&self, key: &str, name: &'static str, n: impl std::borrow::Borrow<i64>) -> String {
        self.t_with(key, &[(name, FluentValue::from(*n.borrow()))])
    }

    /// A text argument.
    pub fn t_s(&self, key: &str, name: &'static str, s: &str) -> String {
        self.t_with(key, &[(name, FluentValue::from(s.to_owned()))])
    }

    /// A moment as UTC, in this language's usual form (the page's script shows it in the
    /// reader's own time zone when it can).
    pub fn datetime(&self, unix: i64) -> String {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
            return String::new();
        };
        let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
        let (hh, mm) = (t.hour(), t.minute());
        match self.lang {
            Lang::En => format!("{d} {} {y}, {hh:02}:{mm:02} UTC", MONTHS_EN[usize::from(m) - 1]),
            Lang::Ko => format!("{y}년 {m}월 {d}일 {hh:02}:{mm:02} UTC"),
        }
    }

    /// A UTC day in this language's usual form ("30 Nov 2026", "2026년 11월 30일").
    pub fn date(&self, unix: i64) -> String {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
            return String::new();
        };
        let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
        match self.lang {
            Lang::En => format!("{d} {} {y}", MONTHS_EN[usize::from(m) - 1]),
            Lang::Ko => format!("{y}년 {m}월 {d}일"),
        }
    }

    /// A UTC day as ISO 8601 (`2026-11-30`), for `<time datetime>`.
    pub fn iso_date(&self, unix: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp(unix)
            .ok()
            .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
            .unwrap_or_default()
    }

    /// An ISO 8601 timestamp for `<time datetime>`.
    pub fn iso(&self, unix: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp(unix)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default()
    }

    /// A duration, rounded to its largest unit ("3 days", "2 hours", "5 minutes").
    pub fn duration(&self, secs: i64) -> String {
        let secs = secs.max(0);
        if secs >= 86_400 && secs % 86_400 == 0 {
            self.t_n("duration-days", "n", secs / 86_400)
        } else if secs >= 3600 {
            self.t_n("duration-hours", "n", secs / 3600)
        } else if secs >= 60 {
            self.t_n("duration-minutes", "n", secs / 60)
        } else {
            self.t_n("duration-seconds", "n", secs)
        }
    }
}

const MONTHS_EN: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// The value of the cookie `name` in a request's `Cookie` headers.
pub(crate) fn request_cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

impl<S: Send + Sync> FromRequestParts<S> for Loc {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Loc::for_headers(&parts.headers))
    }
}

impl Loc {
    /// The language a request asks for: the switcher's cookie, else `Accept-Language`, else English.
    pub fn for_headers(headers: &axum::http::HeaderMap) -> Loc {
        let lang = request_cookie(headers, LANG_COOKIE)
            .and_then(Lang::from_code)
            .or_else(|| {
                headers
                    .get(ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or(Lang::En);
        Loc { lang }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        for (header, want) in [
            ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", Some(Lang::Ko)),
            ("en-US,en;q=0.9,ko;q=0.8", Some(Lang::En)),
            ("fr-FR, ko;q=0.5, en;q=0.4", Some(Lang::Ko)),
            ("fr, de", None),
            ("ko;q=0, en;q=0.1", Some(Lang::En)),
            ("", None),
            ("*", None),
        ] {
            assert_eq!(Lang::from_accept_language(header), want, "{header}");
        }
    }

    #[test]
    fn messages_and_dates_in_both_languages() {
        let en = Loc::new(Lang::En);
        let ko = Loc::new(Lang::Ko);
        assert_eq!(en.datetime(1_796_000_000), "30 Nov 2026, 00:53 UTC");
        assert_eq!(ko.datetime(1_796_000_000), "2026년 11월 30일 00:53 UTC");
        assert_eq!(
            (en.date(1_796_000_000), ko.date(1_796_000_000)),
            ("30 Nov 2026".into(), "2026년 11월 30일".into())
        );
        assert_eq!(en.iso_date(-1), "1969-12-31");
        assert_eq!(en.duration(3600), "1 hour");
        assert_eq!(en.duration(7 * 86_400), "7 days");
        assert_eq!(ko.duration(300), "5분");
        assert_eq!(en.t("no-such-key"), "no-such-key");
        assert_ne!(en.t("home-title"), ko.t("home-title"));
    }
}
