//! Identity rules: the MAMIS_ID address, the password policy, login throttling, session
//! lifetimes, TOTP (RFC 6238) and the legacy-login cut-over. Pure: no clock, no storage.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use chrono::{Duration, NaiveDate};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use unicode_normalization::UnicodeNormalization;

use crate::{DomainError, MemberId, Timestamp};

/// A MAMIS_ID: an e-mail address compared case-insensitively, so it is stored lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Longest address SMTP can carry (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Accepts `local@domain.tld` after NFKC and trimming (full-width input is common on Japanese
    /// keyboards); refuses spaces, missing parts, and domains without a dot.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s: String = input.nfkc().collect::<String>().trim().to_lowercase();
        let bad = || DomainError::InvalidEmail;
        if s.is_empty()
            || s.len() > Self::MAX_LEN
            || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(bad());
        }
        if !local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(bad());
        }
        Ok(Self(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`, which a password must not contain.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a new password was refused; each maps to one message telling the doctor what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes: refused before any hashing, so nobody can make
    /// the server hash a megabyte.
    TooLong,
    /// Contains the birth date (YYMMDD or YYYYMMDD), which is printed on every licence copy.
    ContainsBirthDate,
    /// Contains the member ID, which is printed on every journal label.
    ContainsMemberId,
    /// Contains the e-mail address's local part.
    ContainsEmail,
    /// One of the passwords attackers try first.
    Common,
}

/// Shortest password accepted (OWASP ASVS: at least 8; we ask 10 because birth dates are public).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1_024;

/// What a password must not contain.
#[derive(Debug, Clone, Default)]
pub struct PasswordContext<'a> {
    /// The doctor's birth date, when known.
    pub birth_date: Option<NaiveDate>,
    /// The matched JMA member ID, when there is one.
    pub member_id: Option<&'a MemberId>,
    /// The MAMIS_ID.
    pub email: Option<&'a Email>,
}

fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_lowercase)
            .collect()
    })
}

/// Checks a new password against the policy (PRODUCT.md §2; issue: identity, item 3).
pub fn check_password(password: &str, ctx: &PasswordContext<'_>) -> Result<(), PasswordProblem> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    let folded: String = password.nfkc().collect::<String>().to_lowercase();
    if let Some(b) = ctx.birth_date {
        let long = b.format("%Y%m%d").to_string();
        let short = b.format("%y%m%d").to_string();
        if folded.contains(&long) || folded.contains(&short) {
            return Err(PasswordProblem::ContainsBirthDate);
        }
    }
    if ctx.member_id.is_some_and(|m| folded.contains(m.as_str())) {
        return Err(PasswordProblem::ContainsMemberId);
    }
    if let Some(e) = ctx.email {
        let local = e.local_part();
        if local.chars().count() >= 3 && folded.contains(local) {
            return Err(PasswordProblem::ContainsEmail);
        }
    }
    if common_passwords().contains(&folded) {
        return Err(PasswordProblem::Common);
    }
    Ok(())
}

/// Login throttling per login name (existing or not) and per client address: after
/// `free_failures` failures inside `window`, each further attempt must wait, starting at
/// `first_wait` and doubling up to `max_wait`. Waits expire by themselves; nothing locks for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before waits begin.
    pub free_failures: u32,
    /// How long failures are remembered.
    pub window: Duration,
    /// The first wait.
    pub first_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
}

impl ThrottlePolicy {
    /// Per login name: 5 failures in 15 minutes, then 1 minute doubling to 1 hour.
    pub const fn per_name() -> Self {
        Self {
            free_failures: 5,
            window: Duration::minutes(15),
            first_wait: Duration::minutes(1),
            max_wait: Duration::hours(1),
        }
    }

    /// Per client address: looser, since many doctors may share a hospital's address.
    pub const fn per_address() -> Self {
        Self {
            free_failures: 50,
            window: Duration::minutes(15),
            first_wait: Duration::minutes(1),
            max_wait: Duration::hours(1),
        }
    }
}

/// The stored state of one throttle key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// Failures counted in the current window (attempts in flight count as failures).
    pub failures: u32,
    /// When the current window began.
    pub window_start: Timestamp,
    /// No attempt is admitted before this instant.
    pub blocked_until: Option<Timestamp>,
}

/// The outcome of asking to make an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead (and count this attempt as a failure until it succeeds).
    Admitted,
    /// Wait until the instant.
    Wait(Timestamp),
}

impl Throttle {
    /// A fresh key.
    pub fn new(now: Timestamp) -> Self {
        Self {
            failures: 0,
            window_start: now,
            blocked_until: None,
        }
    }

    /// Decides an attempt and returns the state to store. An admitted attempt is counted as a
    /// failure at once, so concurrent attempts cannot all slip through; success clears it.
    pub fn admit(self, policy: &ThrottlePolicy, now: Timestamp) -> (Throttle, Admission) {
        let mut t = self;
        if let Some(until) = t.blocked_until
            && now < until
        {
            return (t, Admission::Wait(until));
        }
        if now - t.window_start >= policy.window
            && t.blocked_until.is_none_or(|u| now >= u + policy.window)
        {
            t = Throttle::new(now);
        }
        if t.failures >= policy.free_failures {
            let extra = t.failures - policy.free_failures;
            let wait = wait_for(policy, extra);
            t.failures += 1;
            t.blocked_until = Some(now + wait);
            return (t, Admission::Wait(now + wait));
        }
        t.failures += 1;
        (t, Admission::Admitted)
    }

    /// Whether this state has just started making the owner wait (to mail them once).
    pub fn waits_began(before: &Throttle, after: &Throttle) -> bool {
        before.blocked_until.is_none() && after.blocked_until.is_some()
    }
}

fn wait_for(policy: &ThrottlePolicy, extra: u32) -> Duration {
    let factor = 1i32.checked_shl(extra.min(20)).unwrap_or(i32::MAX);
    let wait = policy.first_wait * factor;
    if wait > policy.max_wait {
        policy.max_wait
    } else {
        wait
    }
}

/// How long sessions live: idle and absolute limits (configurable; 30 minutes / 12 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends a session nobody used for this long.
    pub idle: Duration,
    /// Ends every session this long after login, used or not.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle: Duration::minutes(30),
            absolute: Duration::hours(12),
        }
    }
}

impl SessionPolicy {
    /// The instant a session created at `created` and last used at `last_seen` ends.
    pub fn ends_at(&self, created: Timestamp, last_seen: Timestamp) -> Timestamp {
        (last_seen + self.idle).min(created + self.absolute)
    }
}

/// The legacy CME login (10-digit member ID + birth-date password) works until this instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyCutover(pub Timestamp);

impl LegacyCutover {
    /// The default cut-over: 2026-04-01 00:00 Japan time.
    pub fn default_instant() -> Timestamp {
        crate::FiscalYear::new(2026)
            .map(|fy| fy.start_instant())
            .unwrap_or_default()
    }
    /// Whether legacy logins are still accepted at `now`.
    pub fn accepts(&self, now: Timestamp) -> bool {
        now < self.0
    }
}

/// The legacy initial password: the birth date as YYMMDD, compared in constant time.
pub fn legacy_birth_date_matches(birth_date: NaiveDate, presented: &str) -> bool {
    let expected = birth_date.format("%y%m%d").to_string();
    let presented: String = presented.nfkc().collect::<String>();
    bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        presented.trim().as_bytes(),
    ))
}

/// TOTP (RFC 6238) with SHA-1, 6 digits and 30-second steps — what authenticator apps expect.
pub mod totp {
    use super::*;

    /// Seconds per step.
    pub const STEP: i64 = 30;

    /// The step an instant falls in.
    pub fn step_of(t: Timestamp) -> i64 {
        t.timestamp().div_euclid(STEP)
    }

    /// The 6-digit code of `step` (RFC 4226 dynamic truncation).
    pub fn code(secret: &[u8], step: i64) -> String {
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
            return String::new();
        };
        mac.update(&step.to_be_bytes());
        let h = mac.finalize().into_bytes();
        let offset = usize::from(h[h.len() - 1] & 0x0f);
        let bin = (u32::from(h[offset]) & 0x7f) << 24
            | u32::from(h[offset + 1]) << 16
            | u32::from(h[offset + 2]) << 8
            | u32::from(h[offset + 3]);
        format!("{:06}", bin % 1_000_000)
    }

    /// Checks a presented code against the steps around `now` (±1 for clock drift) and returns
    /// the step it matched, which must be later than `last_used` (a code works once).
    pub fn verify(
        secret: &[u8],
        presented: &str,
        now: Timestamp,
        last_used: Option<i64>,
    ) -> Option<i64> {
        let presented: String = presented.nfkc().filter(|c| !c.is_whitespace()).collect();
        if presented.len() != 6 || !presented.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = step_of(now);
        let mut matched = None;
        for step in [current - 1, current, current + 1] {
            let ok = bool::from(subtle::ConstantTimeEq::ct_eq(
                code(secret, step).as_bytes(),
                presented.as_bytes(),
            ));
            if ok && last_used.is_none_or(|l| step > l) {
                matched = Some(step);
            }
        }
        matched
    }

    /// RFC 4648 base32 without padding, as `otpauth://` URIs carry the secret.
    pub fn base32(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::new();
        let mut buffer = 0u32;
        let mut bits = 0;
        for &b in bytes {
            buffer = (buffer << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// The enrolment URI an authenticator app reads from the QR code.
    pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
        let label: String = account
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"@.-_".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!(
            "otpauth://totp/MAMIS:{label}?secret={}&issuer=MAMIS&algorithm=SHA1&digits=6&period=30",
            base32(secret)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Taro.Yamada@Example.JP ").unwrap().as_str(),
            "taro.yamada@example.jp"
        );
        assert_eq!(
            Email::parse("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ")
                .unwrap()
                .as_str(),
            "taro@example.jp"
        );
        assert_eq!(Email::parse("a+b@x.co.jp").unwrap().local_part(), "a+b");
        for bad in [
            "",
            "taro",
            "taro@",
            "@example.jp",
            "taro@localhost",
            "ta ro@example.jp",
            "taro@exa mple.jp",
            "taro@@example.jp",
            ".taro@example.jp",
            "ta..ro@example.jp",
            "taro@-x.jp",
            "taro@x..jp",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(Email::parse(&format!("{}@example.jp", "a".repeat(65))).is_err());
    }

    #[test]
    fn password_table() {
        let birth = NaiveDate::from_ymd_opt(1980, 5, 17).unwrap();
        let member = MemberId::parse("0123456789").unwrap();
        let email = Email::parse("taro.yamada@example.jp").unwrap();
        let ctx = PasswordContext {
            birth_date: Some(birth),
            member_id: Some(&member),
            email: Some(&email),
        };
        let cases: [(&str, Result<(), PasswordProblem>); 9] = [
            ("short", Err(PasswordProblem::TooShort)),
            ("correct horse battery", Ok(())),
            ("kyoto800517sakura", Err(PasswordProblem::ContainsBirthDate)),
            ("kyoto19800517", Err(PasswordProblem::ContainsBirthDate)),
            ("id0123456789x", Err(PasswordProblem::ContainsMemberId)),
            ("Taro.Yamada-2026!", Err(PasswordProblem::ContainsEmail)),
            ("1234567890", Err(PasswordProblem::Common)),
            ("QWERTYUIOP", Err(PasswordProblem::Common)),
            ("長い日本語のパスワードです", Ok(())),
        ];
        for (pw, want) in cases {
            assert_eq!(check_password(pw, &ctx), want, "{pw}");
        }
        assert_eq!(
            check_password(&"x".repeat(1_000_000), &ctx),
            Err(PasswordProblem::TooLong)
        );
    }

    #[test]
    fn throttle_admits_five_then_waits_doubling() {
        let p = ThrottlePolicy::per_name();
        let start = t("2026-06-01T00:00:00Z");
        let mut th = Throttle::new(start);
        for i in 0..5 {
            let (n, a) = th.admit(&p, start + Duration::seconds(i));
            assert_eq!(a, Admission::Admitted, "attempt {i}");
            th = n;
        }
        let (n, a) = th.admit(&p, start + Duration::seconds(10));
        assert_eq!(
            a,
            Admission::Wait(start + Duration::seconds(10) + Duration::minutes(1))
        );
        assert!(Throttle::waits_began(&th, &n));
        th = n;
        // during the wait: refused, nothing changes
        let (same, a) = th.admit(&p, start + Duration::seconds(30));
        assert_eq!(same, th);
        assert!(matches!(a, Admission::Wait(_)));
        // after it: the next failure doubles the wait
        let (n, a) = th.admit(&p, start + Duration::seconds(71));
        assert_eq!(
            a,
            Admission::Wait(start + Duration::seconds(71) + Duration::minutes(2))
        );
        th = n;
        // a long quiet period forgets everything
        let (_, a) = th.admit(&p, start + Duration::hours(2));
        assert_eq!(a, Admission::Admitted);
    }

    proptest! {
        #[test]
        fn waits_never_exceed_an_hour_and_always_expire(gaps in proptest::collection::vec(0i64..5_000, 1..60)) {
            let p = ThrottlePolicy::per_name();
            let mut now = t("2026-06-01T00:00:00Z");
            let mut th = Throttle::new(now);
            let mut admitted_in_window = 0;
            for g in gaps {
                now += Duration::seconds(g);
                let (n, a) = th.admit(&p, now);
                match a {
                    Admission::Wait(until) => prop_assert!(until > now && until - now <= Duration::hours(1)),
                    Admission::Admitted => admitted_in_window += 1,
                }
                th = n;
            }
            prop_assert!(admitted_in_window >= 1);
            // an hour after the last block plus the window, the name is free again
            let later = th.blocked_until.unwrap_or(now) + Duration::hours(1) + p.window;
            prop_assert_eq!(th.admit(&p, later).1, Admission::Admitted);
        }
    }

    #[test]
    fn sessions_end_at_the_earlier_limit() {
        let p = SessionPolicy::default();
        let c = t("2026-06-01T00:00:00Z");
        assert_eq!(p.ends_at(c, c), c + Duration::minutes(30));
        assert_eq!(
            p.ends_at(c, c + Duration::hours(11) + Duration::minutes(50)),
            c + Duration::hours(12)
        );
    }

    #[test]
    fn cutover() {
        let c = LegacyCutover(LegacyCutover::default_instant());
        assert!(c.accepts(t("2026-03-31T23:59:59+09:00")));
        assert!(!c.accepts(t("2026-04-01T00:00:00+09:00")));
    }

    #[test]
    fn legacy_birth_date_password() {
        let b = NaiveDate::from_ymd_opt(1975, 1, 9).unwrap();
        assert!(legacy_birth_date_matches(b, "750109"));
        assert!(legacy_birth_date_matches(b, "７５０１０９"));
        assert!(!legacy_birth_date_matches(b, "19750109"));
        assert!(!legacy_birth_date_matches(b, "750110"));
    }

    #[test]
    fn totp_rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8-digit values mod 10^6.
        let secret = b"12345678901234567890";
        for (unix, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let step = unix.div_euclid(totp::STEP);
            assert_eq!(totp::code(secret, step), eight[2..], "t={unix}");
        }
    }

    #[test]
    fn totp_verify_blocks_replay_and_drift() {
        let secret = b"12345678901234567890";
        let now = DateTime::from_timestamp(1_234_567_890, 0).unwrap();
        let step = totp::step_of(now);
        let code = totp::code(secret, step);
        assert_eq!(totp::verify(secret, &code, now, None), Some(step));
        assert_eq!(totp::verify(secret, &code, now, Some(step)), None, "replay");
        assert_eq!(
            totp::verify(secret, &code, now + Duration::seconds(30), None),
            Some(step),
            "one step of drift"
        );
        assert_eq!(
            totp::verify(secret, &code, now + Duration::seconds(90), None),
            None
        );
        assert_eq!(totp::verify(secret, "12345", now, None), None);
        assert_eq!(
            totp::base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }
}
