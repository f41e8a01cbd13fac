//! Public identifiers and names, parsed at the edge so invalid values cannot exist inside.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

use crate::DomainError;

fn nfkc_compact(s: &str) -> String {
    s.nfkc().filter(|c| !c.is_whitespace()).collect()
}

/// 医籍登録番号 — the national medical register number printed on a doctor's licence.
/// Stored as 1–7 digits without leading zeros and shown without padding (domain-research §6).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IsekiNumber(String);

impl IsekiNumber {
    /// Accepts what people type: full-width digits, 「第123456号」, spaces, leading zeros.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = nfkc_compact(input);
        let s = s.strip_prefix('第').unwrap_or(&s);
        let s = s.strip_suffix('号').unwrap_or(s);
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::InvalidIsekiNumber);
        }
        let digits = s.trim_start_matches('0');
        if digits.is_empty() || digits.len() > 7 {
            return Err(DomainError::InvalidIsekiNumber);
        }
        Ok(Self(digits.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IsekiNumber {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<IsekiNumber> for String {
    fn from(v: IsekiNumber) -> Self {
        v.0
    }
}
impl fmt::Display for IsekiNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 日医会員ID — the 10-digit JMA member ID printed on journal labels. No check digit is known,
/// so none is enforced (domain-research §6).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MemberId(String);

impl MemberId {
    /// Exactly ten digits after NFKC (full-width digits accepted); leading zeros kept.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s: String = input.trim().nfkc().collect();
        let s = s.trim();
        if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::InvalidMemberId)
        }
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The next free ID of the configured range `[first, last]` given the highest one used in
    /// it: one above it, or `first` when none is used; `None` when the range is used up.
    pub fn next_in_range(highest: Option<&Self>, first: &Self, last: &Self) -> Option<Self> {
        let n = |m: &Self| m.0.parse::<u64>().ok();
        let next = match highest {
            Some(h) => n(h)?.checked_add(1)?,
            None => n(first)?,
        };
        (next >= n(first)? && next <= n(last)?).then(|| Self(format!("{next:010}")))
    }
}

impl TryFrom<String> for MemberId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<MemberId> for String {
    fn from(v: MemberId) -> Self {
        v.0
    }
}
impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A name in katakana (氏名カナ), normalised so that the same name typed in hiragana, half-width
/// kana or with spaces compares equal — the key of identity matching.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KanaName(String);

impl KanaName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 60;

    /// Folded by [`crate::names::fold_kana`] (NFKC, hiragana → katakana), every kind of
    /// whitespace (U+3000 too) removed; only katakana, the long-vowel mark and the middle dot
    /// remain acceptable.
    pub fn normalise(input: &str) -> Result<Self, DomainError> {
        let s: String = crate::names::fold_kana(input)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let n = s.chars().count();
        if n == 0 || n > Self::MAX_CHARS || !s.chars().all(crate::names::is_katakana) {
            return Err(DomainError::InvalidKanaName);
        }
        Ok(Self(s))
    }

    /// The normalised katakana.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KanaName {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::normalise(&s)
    }
}
impl From<KanaName> for String {
    fn from(v: KanaName) -> Self {
        v.0
    }
}
impl fmt::Display for KanaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sex as recorded on the licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// The licence records the doctor as male (男).
    Male,
    /// The licence records the doctor as female (女).
    Female,
}

impl Sex {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "male" => Ok(Sex::Male),
            "female" => Ok(Sex::Female),
            _ => Err(DomainError::InvalidSex),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{hiragana_to_katakana, is_katakana};
    use proptest::prelude::*;

    #[test]
    fn member_ids_come_from_the_range_in_order() {
        let m = |s: &str| MemberId::parse(s).unwrap();
        let (first, last) = (m("1300000000"), m("1300000002"));
        assert_eq!(
            MemberId::next_in_range(None, &first, &last),
            Some(m("1300000000"))
        );
        assert_eq!(
            MemberId::next_in_range(Some(&m("1300000001")), &first, &last),
            Some(m("1300000002"))
        );
        assert_eq!(
            MemberId::next_in_range(Some(&last), &first, &last),
            None,
            "used up"
        );
        // leading zeros are kept: the ID is ten digits, not a number
        let (first, last) = (m("0000000001"), m("0000009999"));
        assert_eq!(
            MemberId::next_in_range(Some(&m("0000000041")), &first, &last),
            Some(m("0000000042"))
        );
    }

    #[test]
    fn iseki_examples() {
        for (input, out) in [
            ("123456", "123456"),
            ("第123456号", "123456"),
            ("第０１２３４５６号", "123456"),
            (" 000042 ", "42"),
            ("１２３４５６７", "1234567"),
            ("第 98765 号", "98765"),
        ] {
            assert_eq!(IsekiNumber::parse(input).unwrap().as_str(), out, "{input}");
        }
        for junk in [
            "",
            "第号",
            "0000",
            "12345678",
            "12a456",
            "-123",
            "第12号3",
            "１２．３",
            "一二三",
        ] {
            assert!(IsekiNumber::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn member_id_examples() {
        assert_eq!(
            MemberId::parse("０１２３４５６７８９").unwrap().as_str(),
            "0123456789"
        );
        assert_eq!(
            MemberId::parse(" 1234567890 ").unwrap().as_str(),
            "1234567890"
        );
        for junk in ["123456789", "12345678901", "12345-67890", "abcdefghij", ""] {
            assert!(MemberId::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn kana_examples() {
        for input in [
            "ヤマダ タロウ",
            "やまだ　たろう",
            "ﾔﾏﾀﾞ ﾀﾛｳ",
            "ヤマダタロウ",
            " やまだ\tたろう ",
        ] {
            assert_eq!(
                KanaName::normalise(input).unwrap().as_str(),
                "ヤマダタロウ",
                "{input}"
            );
        }
        assert_eq!(
            KanaName::normalise("すみす・じょーじ").unwrap().as_str(),
            "スミス・ジョージ"
        );
        for junk in ["", "　", "山田太郎", "Yamada", "ヤマダ1", "ヤマダ!"] {
            assert!(KanaName::normalise(junk).is_err(), "{junk}");
        }
    }

    proptest! {
        #[test]
        fn iseki_is_idempotent(s in "\\PC{0,12}") {
            if let Ok(v) = IsekiNumber::parse(&s) {
                prop_assert_eq!(IsekiNumber::parse(v.as_str()).unwrap(), v.clone());
                prop_assert!((1..=7).contains(&v.as_str().len()));
                prop_assert!(!v.as_str().starts_with('0'));
            }
        }

        #[test]
        fn iseki_accepts_every_number(n in 1u32..10_000_000, zeros in 0usize..3, wrap in any::<bool>()) {
            let raw = format!("{}{}", "0".repeat(zeros), n);
            let raw = if wrap { format!("第{raw}号") } else { raw };
            let parsed = IsekiNumber::parse(&raw).unwrap();
            prop_assert_eq!(parsed.as_str(), n.to_string());
        }

        #[test]
        fn member_id_is_idempotent(s in "\\PC{0,14}") {
            if let Ok(v) = MemberId::parse(&s) {
                prop_assert_eq!(MemberId::parse(v.as_str()).unwrap(), v.clone());
                prop_assert_eq!(v.as_str().len(), 10);
            }
        }

        #[test]
        fn kana_is_idempotent(s in "[\\u{3041}-\\u{3096}\\u{30A1}-\\u{30FA}\\u{FF66}-\\u{FF9F}ー・ \\u{3000}a-z0-9山]{0,20}") {
            if let Ok(v) = KanaName::normalise(&s) {
                prop_assert_eq!(KanaName::normalise(v.as_str()).unwrap(), v.clone());
                prop_assert!(v.as_str().chars().all(is_katakana));
            }
        }

        #[test]
        fn hiragana_and_katakana_spellings_match(s in "[\\u{3041}-\\u{3093}]{1,10}") {
            let kata: String = s.chars().map(hiragana_to_katakana).collect();
            prop_assert_eq!(KanaName::normalise(&s).unwrap(), KanaName::normalise(&kata).unwrap());
        }
    }
}
