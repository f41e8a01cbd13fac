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

    /// The wait that follows the `n`-th failure beyond the free ones (n = 0: the first wait),
    /// doubling each time up to the longest.
    fn wait_after(&self, n: u32) -> Duration {
        let factor = 1i32.checked_shl(n.min(20)).unwrap_or(i32::MAX);
        let wait = self.first_wait * factor;
        if wait > self.max_wait {
            self.max_wait
        } else {
            wait
        }
    }
}

/// The stored state of one throttle key.
///
/// The rule (docs/operations.md): the free failures within the window are checked as they come;
/// after them every failure is followed by a wait — the first one, then doubling up to the
/// longest. An attempt during a wait is refused without being checked and does not extend it;
/// the first attempt after the wait is checked. A success clears the key, and so does a quiet
/// spell as long as the longest wait with no attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// Attempts counted (an admitted attempt counts as a failure until it succeeds).
    pub failures: u32,
    /// While the free failures last: when the counting window began. Once waits apply: when the
    /// last checked attempt was admitted (the wait runs from it).
    pub window_start: Timestamp,
    /// No attempt is checked before this instant.
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
        let waiting = t.failures >= policy.free_failures;
        let quiet = if waiting {
            policy.max_wait
        } else {
            policy.window
        };
        if now - t.window_start >= quiet {
            t = Throttle::new(now);
        }
        if t.failures >= policy.free_failures {
            // The wait after the last checked failure; an attempt inside it only learns when
            // it ends (stored, so later ones are refused before any of this runs).
            let due = t.window_start + policy.wait_after(t.failures - policy.free_failures);
            if now < due {
                t.blocked_until = Some(due);
                return (t, Admission::Wait(due));
            }
            t.failures += 1;
            t.window_start = now;
            // Should this attempt fail too, the next wait is the doubled one.
            t.blocked_until = Some(now + policy.wait_after(t.failures - policy.free_failures));
            return (t, Admission::Admitted);
        }
        t.failures += 1;
        if t.failures == policy.free_failures {
            // the last free failure: waits run from it
            t.window_start = now;
        }
        (t, Admission::Admitted)
    }

    /// Whether this state has just started making the owner wait (to mail them once).
    pub fn waits_began(before: &Throttle, after: &Throttle) -> bool {
        before.blocked_until.is_none() && after.blocked_until.is_some()
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

    /// The lockout rule written plainly from its text, over the list of attempt times and
    /// whether each checked attempt failed: the model the engine must equal.
    fn naive_lockout(p: &ThrottlePolicy, attempts: &[(i64, bool)]) -> Vec<bool> {
        let mut checked_failures: Vec<i64> = Vec::new(); // failures since the key was last clear
        let mut wait_until: Option<i64> = None;
        let mut out = Vec::new();
        for &(at, fails) in attempts {
            if wait_until.is_some_and(|w| at < w) {
                out.push(false); // refused, unchecked, the wait unchanged
                continue;
            }
            let quiet = if checked_failures.len() as u32 >= p.free_failures {
                p.max_wait.num_seconds()
            } else {
                p.window.num_seconds()
            };
            let window_from = if checked_failures.len() as u32 >= p.free_failures {
                checked_failures.last().copied()
            } else {
                checked_failures.first().copied()
            };
            if window_from.is_some_and(|f| at - f >= quiet) {
                checked_failures.clear();
                wait_until = None;
            }
            out.push(true);
            if fails {
                checked_failures.push(at);
                let n = checked_failures.len() as u32;
                if n >= p.free_failures {
                    let doubling = (n - p.free_failures).min(20);
                    let wait =
                        (p.first_wait.num_seconds() << doubling).min(p.max_wait.num_seconds());
                    wait_until = Some(at + wait);
                }
            } else {
                checked_failures.clear();
                wait_until = None;
            }
        }
        out
    }

    /// Runs attempts through the engine as the login does: a missing key starts fresh at the
    /// attempt, and a success deletes the key.
    fn engine_lockout(p: &ThrottlePolicy, attempts: &[(i64, bool)]) -> Vec<bool> {
        let start = t("2026-06-01T00:00:00Z");
        let mut key: Option<Throttle> = None;
        let mut out = Vec::new();
        for &(at, fails) in attempts {
            let now = start + Duration::seconds(at);
            let (n, a) = key.unwrap_or_else(|| Throttle::new(now)).admit(p, now);
            out.push(a == Admission::Admitted);
            key = (a != Admission::Admitted || fails).then_some(n);
        }
        out
    }

    #[test]
    fn lockout_waits_double_and_the_first_attempt_after_a_wait_is_checked() {
        let p = ThrottlePolicy::per_name();
        let start = t("2026-06-01T00:00:00Z");
        let at = |s: i64| start + Duration::seconds(s);
        let mut th = Throttle::new(start);
        for i in 0..5 {
            let (n, a) = th.admit(&p, at(i));
            assert_eq!(a, Admission::Admitted, "free attempt {i}");
            th = n;
        }
        // five failures: one minute from the fifth
        let (n, a) = th.admit(&p, at(10));
        assert_eq!(a, Admission::Wait(at(4 + 60)));
        assert!(Throttle::waits_began(&th, &n));
        th = n;
        // attempts during the wait are refused and do not extend it
        for s in [20, 40, 63] {
            let (same, a) = th.admit(&p, at(s));
            assert_eq!(same, th);
            assert_eq!(a, Admission::Wait(at(64)));
        }
        // the first attempt after the wait is checked …
        let (n, a) = th.admit(&p, at(64));
        assert_eq!(a, Admission::Admitted);
        th = n;
        // … and its failure doubles the wait: two minutes, then four
        assert_eq!(th.admit(&p, at(100)).1, Admission::Wait(at(64 + 120)));
        let (n, a) = th.admit(&p, at(64 + 120));
        assert_eq!(a, Admission::Admitted);
        th = n;
        assert_eq!(th.admit(&p, at(200)).1, Admission::Wait(at(184 + 240)));
        // an hour with no failure clears the key: five free attempts again
        let mut quiet = th;
        for i in 0..5 {
            let (n, a) = quiet.admit(&p, at(184 + 3600 + i));
            assert_eq!(a, Admission::Admitted, "after an hour, attempt {i}");
            quiet = n;
        }
    }

    #[test]
    fn lockout_waits_stop_at_an_hour() {
        let p = ThrottlePolicy::per_name();
        // fail every time, each attempt right when its wait ends
        let mut attempts = vec![(0i64, true); 5];
        let mut at = 0;
        for n in 0..10u32 {
            at += (60i64 << n).min(3600);
            attempts.push((at, true));
        }
        let checked = engine_lockout(&p, &attempts);
        assert!(
            checked.iter().all(|c| *c),
            "every attempt after its wait is checked"
        );
        assert_eq!(checked, naive_lockout(&p, &attempts));
    }

    proptest! {
        #[test]
        fn lockout_engine_equals_the_rule(
            steps in proptest::collection::vec((0i64..400, proptest::bool::weighted(0.85)), 1..80)
        ) {
            let p = ThrottlePolicy::per_name();
            let mut at = 0;
            let attempts: Vec<(i64, bool)> = steps
                .into_iter()
                .map(|(gap, fails)| {
                    at += gap;
                    (at, fails)
                })
                .collect();
            prop_assert_eq!(engine_lockout(&p, &attempts), naive_lockout(&p, &attempts));
        }

        #[test]
        fn waits_never_exceed_an_hour_and_always_expire(gaps in proptest::collection::vec(0i64..5_000, 1..60)) {
            let p = ThrottlePolicy::per_name();
            let mut now = t("2026-06-01T00:00:00Z");
            let mut th = Throttle::new(now);
            for g in gaps {
                now += Duration::seconds(g);
                let (n, a) = th.admit(&p, now);
                if let Admission::Wait(until) = a {
                    prop_assert!(until > now && until - now <= Duration::hours(1));
                }
                th = n;
            }
            // once the wait is over, the next attempt is checked
            let later = th.blocked_until.unwrap_or(now).max(now) + Duration::hours(1);
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
