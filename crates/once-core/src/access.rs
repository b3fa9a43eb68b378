//! Access policies: from where and when a secret may be revealed, besides by whom (that is
//! [`crate::recipient`]). A network allow-list, a country allow-list (looked up in the server's
//! GeoIP database), a time before which it can't be opened, and weekly opening hours in a named
//! time zone. A visit outside the policy is [`crate::CoreError::AccessDenied`] and consumes
//! nothing; the audit trail records which condition failed ([`Denial::reason`]), the caller is
//! not told.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::CoreError;
use crate::recipient::RecipientRule;

/// Looks up the country of an address (the server's `--geoip-db`).
pub trait GeoIp: Send + Sync {
    /// The ISO 3166-1 alpha-2 code (upper case) of `ip`'s country, if the database knows it.
    fn country(&self, ip: IpAddr) -> Option<String>;
}

/// Most networks one policy may list.
pub const MAX_NETWORKS: usize = 64;
/// Most countries one policy may list.
pub const MAX_COUNTRIES: usize = 64;
/// Most opening-hour spans one policy may list.
pub const MAX_SPANS: usize = 14;

/// From where and when a secret may be revealed. Empty lists and absent times allow anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// The visitor's address must be in one of these.
    pub networks: Vec<IpNet>,
    /// The visitor's address must be in one of these countries (ISO 3166-1 alpha-2, upper case).
    pub countries: Vec<String>,
    /// Not before this time (Unix seconds).
    pub not_before: Option<i64>,
    /// Only within these weekly hours.
    pub hours: Option<WeeklyHours>,
}

/// Which condition of a policy a visit failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    Network,
    Country,
    NotYet,
    OutsideHours,
}

impl Denial {
    /// The audit trail's outcome for a reveal refused for this reason.
    pub fn reason(self) -> &'static str {
        match self {
            Denial::Network => "denied:policy_network",
            Denial::Country => "denied:policy_country",
            Denial::NotYet => "denied:policy_not_before",
            Denial::OutsideHours => "denied:policy_hours",
        }
    }
}

impl AccessPolicy {
    /// A policy from what a sender typed: networks as CIDR (`10.0.0.0/8`) or single addresses,
    /// countries as two-letter codes, weekly hours as spans like `mon-fri 09:00-18:00` in
    /// `time_zone` (an IANA name such as `Asia/Seoul`). `None` when nothing is restricted.
    pub fn new(
        networks: &[String],
        countries: &[String],
        not_before: Option<i64>,
        hours: Option<(&str, &[String])>,
    ) -> Result<Option<Self>, CoreError> {
        let invalid = |m: String| CoreError::Invalid(m);
        if networks.len() > MAX_NETWORKS {
            return Err(invalid(format!("at most {MAX_NETWORKS} networks")));
        }
        if countries.len() > MAX_COUNTRIES {
            return Err(invalid(format!("at most {MAX_COUNTRIES} countries")));
        }
        let networks = networks.iter().map(|n| parse_network(n)).collect::<Result<Vec<_>, _>>()?;
        let countries = countries.iter().map(|c| parse_country(c)).collect::<Result<Vec<_>, _>>()?;
        let hours = match hours {
            Some((tz, spans)) if !spans.is_empty() => Some(WeeklyHours::new(tz, spans)?),
            Some((_, _)) | None => None,
        };
        let policy = AccessPolicy { networks, countries, not_before, hours };
        Ok((policy != AccessPolicy::default()).then_some(policy))
    }

    /// Whether a visit from `ip` at `now` is allowed; `geo` answers for country lists.
    pub fn check(&self, ip: Option<IpAddr>, now: i64, geo: Option<&dyn GeoIp>) -> Result<(), Denial> {
        if self.not_before.is_some_and(|t| now < t) {
            return Err(Denial::NotYet);
        }
        if self.hours.as_ref().is_some_and(|h| !h.contains(now)) {
            return Err(Denial::OutsideHours);
        }
        let ip = ip.map(|ip| ip.to_canonical());
        if !self.networks.is_empty() && !ip.is_some_and(|ip| self.networks.iter().any(|n| n.contains(&ip))) {
            return Err(Denial::Network);
        }
        if !self.countries.is_empty() {
            let country = ip.and_then(|ip| geo.and_then(|g| g.country(ip)));
            if !country.is_some_and(|c| self.countries.iter().any(|x| x.eq_ignore_ascii_case(&c))) {
                return Err(Denial::Country);
            }
        }
        Ok(())
    }
}

fn parse_network(text: &str) -> Result<IpNet, CoreError> {
    let text = text.trim();
    let net = text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
        CoreError::Invalid(format!("not a network: {:?} (use CIDR like 10.0.0.0/8)", short(text)))
    })?;
    // An IPv4-mapped IPv6 network would never match: visitors' addresses are canonical.
    Ok(net.trunc())
}

fn parse_country(text: &str) -> Result<String, CoreError> {
    let code = text.trim();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(CoreError::Invalid(format!("not a country code: {:?} (use two letters like KR)", short(code))))
    }
}

/// At most 40 characters of what was typed, for error messages.
fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Weekly opening hours in a time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeeklyHours {
    time_zone: String,
    spans: Vec<Span>,
}

/// Some days of the week, from one minute of the day to another. A span whose end is not after
/// its start runs past midnight into the next day (`fri 22:00-02:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    /// Bit 0 is Monday, bit 6 Sunday.
    days: u8,
    from: u16,
    to: u16,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES_KO: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];

impl WeeklyHours {
    /// Hours from spans like `mon-fri 09:00-18:00`, `sat,sun 10:00-14:00`, `weekdays 09:00-18:00`
    /// or `월-금 09:00-18:00`, in `time_zone`.
    pub fn new(time_zone: &str, spans: &[String]) -> Result<Self, CoreError> {
        let time_zone = time_zone.trim();
        jiff::tz::TimeZone::get(time_zone).map_err(|_| {
            CoreError::Invalid(format!(
                "unknown time zone {:?} (use a name like Asia/Seoul)",
                short(time_zone)
            ))
        })?;
        if spans.len() > MAX_SPANS {
            return Err(CoreError::Invalid(format!("at most {MAX_SPANS} opening-hour spans")));
        }
        let spans = spans.iter().map(|s| Span::parse(s)).collect::<Result<Vec<_>, _>>()?;
        Ok(WeeklyHours { time_zone: time_zone.to_owned(), spans })
    }

    /// The time zone's name.
    pub fn time_zone(&self) -> &str {
        &self.time_zone
    }

    /// The spans, in their canonical form (`mon-fri 09:00-18:00`).
    pub fn spans(&self) -> Vec<String> {
        self.spans.iter().map(Span::to_string).collect()
    }

    /// Whether `now` (Unix seconds) falls in one of the spans, in the time zone.
    pub fn contains(&self, now: i64) -> bool {
        // A zone that was valid when the secret was made is in the compiled-in database; if it
        // somehow is not, nothing is open.
        let Ok(tz) = jiff::tz::TimeZone::get(&self.time_zone) else { return false };
        let Ok(at) = jiff::Timestamp::from_second(now) else { return false };
        let local = at.to_zoned(tz);
        let day = usize::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0);
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        self.spans.iter().any(|s| s.contains(day, minute))
    }
}

impl Span {
    fn parse(text: &str) -> Result<Self, CoreError> {
        let bad = || {
            CoreError::Invalid(format!(
                "not opening hours: {:?} (use days and times like mon-fri 09:00-18:00)",
                short(text)
            ))
        };
        let text = text.trim();
        let (days, times) = text.rsplit_once(char::is_whitespace).ok_or_else(bad)?;
        let (from, to) = times.split_once('-').ok_or_else(bad)?;
        let (from, to) = (parse_minute(from).ok_or_else(bad)?, parse_minute(to).ok_or_else(bad)?);
        if from == to || from == 24 * 60 {
            return Err(bad());
        }
        let days = parse_days(days.trim()).ok_or_else(bad)?;
        Ok(Span { days, from, to })
    }

    /// Whether minute `minute` of weekday `day` (0 = Monday) is in the span.
    fn contains(&self, day: usize, minute: u16) -> bool {
        let on = |d: usize| self.days & (1 << (d % 7)) != 0;
        if self.from < self.to {
            on(day) && (self.from..self.to).contains(&minute)
        } else {
            // Past midnight: the evening of a listed day, or the small hours after one.
            (on(day) && minute >= self.from) || (on(day + 6) && minute < self.to)
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Runs of consecutive days as `a-b`, the rest as a comma list.
        let mut parts = Vec::new();
        let mut d = 0;
        while d < 7 {
            if self.days & (1 << d) == 0 {
                d += 1;
                continue;
            }
            let start = d;
            while d + 1 < 7 && self.days & (1 << (d + 1)) != 0 {
                d += 1;
            }
            parts.push(if d - start >= 2 {
                format!("{}-{}", DAY_NAMES[start], DAY_NAMES[d])
            } else if d > start {
                format!("{},{}", DAY_NAMES[start], DAY_NAMES[d])
            } else {
                DAY_NAMES[start].to_owned()
            });
            d += 1;
        }
        write!(
            f,
            "{} {:02}:{:02}-{:02}:{:02}",
            parts.join(","),
            self.from / 60,
            self.from % 60,
            self.to / 60,
            self.to % 60
        )
    }
}

/// `HH:MM` as minutes of the day; `24:00` is the end of the day.
fn parse_minute(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
    let minute = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && minute <= 24 * 60).then_some(minute)
}

/// `mon-fri`, `mon,wed,fri`, `sat-mon` (wrapping), `weekdays`, `weekends`, `daily`, `월-금`.
fn parse_days(text: &str) -> Option<u8> {
    let mut days = 0u8;
    for item in text.split(',').map(str::trim) {
        let item = item.to_lowercase();
        days |= match item.as_str() {
            "daily" | "everyday" => 0b111_1111,
            "weekdays" => 0b001_1111,
            "weekends" => 0b110_0000,
            _ => match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day_index(a)?, day_index(b)?);
                    let mut mask = 0u8;
                    let mut d = a;
                    loop {
                        mask |= 1 << d;
                        if d == b {
                            break mask;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => 1 << day_index(&item)?,
            },
        };
    }
    (days != 0).then_some(days)
}

fn day_index(name: &str) -> Option<usize> {
    let name = name.trim();
    let long = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let ko_long = ["월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"];
    (0..7).find(|&i| name == DAY_NAMES[i] || name == long[i] || name == DAY_NAMES_KO[i] || name == ko_long[i])
}

/// Converts a wall-clock time (`2026-12-01T09:00`, as a browser's `datetime-local` field sends
/// it) in `time_zone` to Unix seconds. A time that a daylight-saving change skips is moved
/// forward, one that it repeats takes the earlier instant.
pub fn local_time_to_unix(local: &str, time_zone: &str) -> Result<i64, CoreError> {
    let tz = jiff::tz::TimeZone::get(time_zone.trim()).map_err(|_| {
        CoreError::Invalid(format!("unknown time zone {:?} (use a name like Asia/Seoul)", short(time_zone)))
    })?;
    let civil: jiff::civil::DateTime = local
        .trim()
        .parse()
        .map_err(|_| CoreError::Invalid(format!("not a date and time: {:?}", short(local))))?;
    let zoned = civil
        .to_zoned(tz)
        .map_err(|_| CoreError::Invalid(format!("not a date and time: {:?}", short(local))))?;
    Ok(zoned.timestamp().as_second())
}

/// Everything a secret's reveal depends on besides its link and passphrase, as stored in the
/// record's `restricted_to` (opaque to the store).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Conditions {
    pub recipient: Option<RecipientRule>,
    pub access: Option<AccessPolicy>,
}

impl Conditions {
    /// The stored form; `None` when nothing is restricted. A recipient rule alone keeps the
    /// first form (`v1;…`); with an access policy it is `v2` and one `name=value` line each.
    pub fn encode(&self) -> Option<String> {
        let Some(access) = &self.access else { return self.recipient.as_ref().map(RecipientRule::encode) };
        let mut out = String::from("v2");
        if let Some(r) = &self.recipient {
            out.push_str("\nr=");
            out.push_str(&r.encode());
        }
        if !access.networks.is_empty() {
            let nets: Vec<String> = access.networks.iter().map(IpNet::to_string).collect();
            out.push_str("\nn=");
            out.push_str(&nets.join(","));
        }
        if !access.countries.is_empty() {
            out.push_str("\nc=");
            out.push_str(&access.countries.join(","));
        }
        if let Some(t) = access.not_before {
            out.push_str(&format!("\nnb={t}"));
        }
        if let Some(h) = &access.hours {
            out.push_str("\ntz=");
            out.push_str(&h.time_zone);
            out.push_str("\nh=");
            out.push_str(&h.spans().join(";"));
        }
        Some(out)
    }

    /// The stored form back; `None` for anything this build can't read (which admits no one).
    pub fn decode(s: &str) -> Option<Self> {
        if s.starts_with("v1;") {
            return Some(Conditions { recipient: Some(RecipientRule::decode(s)?), access: None });
        }
        let mut lines = s.split('\n');
        if lines.next()? != "v2" {
            return None;
        }
        let mut out = Conditions::default();
        let mut access = AccessPolicy::default();
        let (mut tz, mut spans) = (None, None);
        for line in lines {
            let (name, value) = line.split_once('=')?;
            let list = || value.split(',').map(str::to_owned).collect::<Vec<_>>();
            match name {
                "r" => out.recipient = Some(RecipientRule::decode(value)?),
                "n" => access.networks = list().iter().map(|n| n.parse().ok()).collect::<Option<_>>()?,
                "c" => access.countries = list(),
                "nb" => access.not_before = Some(value.parse().ok()?),
                "tz" => tz = Some(value),
                "h" => spans = Some(value.split(';').map(str::to_owned).collect::<Vec<_>>()),
                _ => return None,
            }
        }
        access.hours = match (tz, spans) {
            (Some(tz), Some(spans)) => Some(WeeklyHours::new(tz, &spans).ok()?),
            (None, None) => None,
            _ => return None,
        };
        out.access = Some(access);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    /// 2026-11-30 is a Monday.
    fn seoul(day: u32, hour: u32, minute: u32) -> i64 {
        let local = format!("2026-11-{day:02}T{hour:02}:{minute:02}");
        local_time_to_unix(&local, "Asia/Seoul").expect("time")
    }

    struct Geo;
    impl GeoIp for Geo {
        fn country(&self, ip: IpAddr) -> Option<String> {
            match ip.to_string().as_str() {
                "203.0.113.7" => Some("KR".into()),
                "198.51.100.7" => Some("US".into()),
                _ => None,
            }
        }
    }

    #[test]
    fn networks_admit_addresses_inside_them_only() {
        let p = AccessPolicy::new(&strings(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]), &[], None, None)
            .expect("valid")
            .expect("restricts");
        assert_eq!(p.check(ip("10.1.2.3"), 0, None), Ok(()));
        assert_eq!(p.check(ip("::ffff:10.1.2.3"), 0, None), Ok(()), "IPv4-mapped counts as IPv4");
        assert_eq!(p.check(ip("2001:db8::1"), 0, None), Ok(()));
        assert_eq!(p.check(ip("192.0.2.7"), 0, None), Ok(()));
        assert_eq!(p.check(ip("192.0.2.8"), 0, None), Err(Denial::Network));
        assert_eq!(p.check(ip("11.0.0.1"), 0, None), Err(Denial::Network));
        assert_eq!(p.check(None, 0, None), Err(Denial::Network), "no address, no entry");
    }

    #[test]
    fn countries_need_the_database_to_say_so() {
        let p = AccessPolicy::new(&[], &strings(&["kr"]), None, None).expect("valid").expect("restricts");
        assert_eq!(p.countries, ["KR"]);
        assert_eq!(p.check(ip("203.0.113.7"), 0, Some(&Geo)), Ok(()));
        assert_eq!(p.check(ip("198.51.100.7"), 0, Some(&Geo)), Err(Denial::Country));
        assert_eq!(p.check(ip("192.0.2.1"), 0, Some(&Geo)), Err(Denial::Country), "unknown address");
        assert_eq!(p.check(ip("203.0.113.7"), 0, None), Err(Denial::Country), "no database");
    }

    #[test]
    fn not_before_opens_at_that_second() {
        let p = AccessPolicy::new(&[], &[], Some(1000), None).expect("valid").expect("restricts");
        assert_eq!(p.check(None, 999, None), Err(Denial::NotYet));
        assert_eq!(p.check(None, 1000, None), Ok(()));
    }

    #[test]
    fn weekly_hours_follow_the_time_zone() {
        let hours = strings(&["mon-fri 09:00-18:00"]);
        let p = AccessPolicy::new(&[], &[], None, Some(("Asia/Seoul", &hours))).expect("valid").expect("set");
        assert_eq!(p.check(None, seoul(30, 9, 0), None), Ok(()), "Monday 09:00 Seoul");
        assert_eq!(p.check(None, seoul(30, 17, 59), None), Ok(()));
        assert_eq!(p.check(None, seoul(30, 18, 0), None), Err(Denial::OutsideHours));
        assert_eq!(p.check(None, seoul(30, 8, 59), None), Err(Denial::OutsideHours));
        assert_eq!(p.check(None, seoul(29, 12, 0), None), Err(Denial::OutsideHours), "Sunday");
        // Monday 09:30 in Seoul is Monday 00:30 UTC: the same instant, judged in Seoul.
        let utc = local_time_to_unix("2026-11-30T00:30", "UTC").expect("time");
        assert_eq!(utc, seoul(30, 9, 30));
        assert_eq!(p.check(None, utc, None), Ok(()));
    }

    #[test]
    fn spans_past_midnight_and_day_lists() {
        let hours = WeeklyHours::new(
            "UTC",
            &strings(&["fri 22:00-02:00", "sat-mon 10:00-12:00", "월,수 13:00-14:00"]),
        )
        .expect("valid");
        let at =
            |day: u32, h: u32, m: u32| local_time_to_unix(&format!("2026-11-{day:02}T{h:02}:{m:02}"), "UTC");
        let at = |day, h, m| at(day, h, m).expect("time");
        assert!(hours.contains(at(27, 23, 0)), "Friday night");
        assert!(hours.contains(at(28, 1, 59)), "Saturday small hours after Friday");
        assert!(!hours.contains(at(28, 2, 0)));
        assert!(!hours.contains(at(27, 21, 59)));
        assert!(hours.contains(at(29, 11, 0)), "Sunday, in sat-mon");
        assert!(hours.contains(at(30, 11, 0)), "Monday, in sat-mon");
        assert!(!hours.contains(at(24, 11, 0)), "Tuesday");
        assert!(hours.contains(at(25, 13, 30)), "Wednesday, 수");
        assert_eq!(hours.spans(), ["fri 22:00-02:00", "mon,sat,sun 10:00-12:00", "mon,wed 13:00-14:00"]);
    }

    #[test]
    fn whole_days_and_shortcuts() {
        let hours = WeeklyHours::new("UTC", &strings(&["weekends 00:00-24:00"])).expect("valid");
        assert_eq!(hours.spans(), ["sat,sun 00:00-24:00"]);
        let all = WeeklyHours::new("UTC", &strings(&["daily 08:00-20:00"])).expect("valid");
        assert_eq!(all.spans(), ["mon-sun 08:00-20:00"]);
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for bad in [
            "mon 09:00",
            "mon 9-18",
            "xyz 09:00-18:00",
            "mon 09:00-09:00",
            "mon 24:00-01:00",
            "mon 10:60-11:00",
            "",
        ] {
            assert!(WeeklyHours::new("UTC", &strings(&[bad])).is_err(), "{bad:?}");
        }
        assert!(WeeklyHours::new("Mars/Olympus", &strings(&["mon 09:00-10:00"])).is_err());
        assert!(AccessPolicy::new(&strings(&["10.0.0.0/33"]), &[], None, None).is_err());
        assert!(AccessPolicy::new(&strings(&["example.com"]), &[], None, None).is_err());
        assert!(AccessPolicy::new(&[], &strings(&["KOR"]), None, None).is_err());
        assert!(AccessPolicy::new(&[], &strings(&["K1"]), None, None).is_err());
        let many = vec!["10.0.0.0/8".to_owned(); MAX_NETWORKS + 1];
        assert!(AccessPolicy::new(&many, &[], None, None).is_err());
        assert_eq!(
            AccessPolicy::new(&[], &[], None, Some(("UTC", &[]))).expect("valid"),
            None,
            "nothing set"
        );
    }

    #[test]
    fn conditions_round_trip_through_their_stored_form() {
        let hours = strings(&["mon-fri 09:00-18:00"]);
        let access = AccessPolicy::new(
            &strings(&["10.0.0.0/8", "2001:db8::/32"]),
            &strings(&["KR", "JP"]),
            Some(1_800_000_000),
            Some(("Asia/Seoul", &hours)),
        )
        .expect("valid");
        let recipient = RecipientRule::new(Some("bob@example.com"), true).expect("rule");
        for c in [
            Conditions { recipient: Some(recipient.clone()), access: access.clone() },
            Conditions { recipient: None, access: access.clone() },
            Conditions { recipient: Some(recipient), access: None },
        ] {
            let stored = c.encode().expect("something restricted");
            assert_eq!(Conditions::decode(&stored), Some(c), "{stored}");
        }
        assert_eq!(Conditions::default().encode(), None);
        assert_eq!(Conditions::decode("v2\nzz=1"), None, "unknown condition admits no one");
        assert_eq!(Conditions::decode("v3"), None);
        assert_eq!(Conditions::decode("v2\ntz=UTC"), None, "a zone without hours");
    }
}
