//! The association tree — JMA → 47 prefectural → county/city/university associations — and
//! outside organisers registered under a prefecture.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::DomainError;

/// Which tier of the tree a node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssociationLevel {
    /// The Japan Medical Association (日本医師会), the single root of the tree.
    Jma,
    /// One of the 47 prefectural associations (都道府県医師会), directly under the JMA.
    Prefecture,
    /// A county, city or university association (郡市区等医師会) under a prefecture; the leaves.
    County,
}

impl AssociationLevel {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jma => "jma",
            Self::Prefecture => "prefecture",
            Self::County => "county",
        }
    }
}

/// A node's code: `JMA`, `P01`–`P47` (JIS prefecture order), or `P13-0001` for an association
/// below prefecture 13. The code encodes the path, so subtree checks need no database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AssociationCode(String);

impl AssociationCode {
    /// Parses `JMA`, `P01`…`P47`, `Pnn-dddd` (NFKC, case-insensitive, surrounding space ignored).
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s: String = input.nfkc().collect::<String>().trim().to_ascii_uppercase();
        if s == "JMA" {
            return Ok(Self(s));
        }
        let (pref, county) = match s.split_once('-') {
            Some((p, c)) => (p, Some(c)),
            None => (s.as_str(), None),
        };
        let n = pref
            .strip_prefix('P')
            .filter(|d| d.len() == 2 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u8>().ok())
            .filter(|n| (1..=47).contains(n))
            .ok_or(DomainError::InvalidAssociationCode)?;
        match county {
            None => Ok(Self(format!("P{n:02}"))),
            Some(c) if c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()) && c != "0000" => {
                Ok(Self(format!("P{n:02}-{c}")))
            }
            Some(_) => Err(DomainError::InvalidAssociationCode),
        }
    }

    /// The national association.
    pub fn jma() -> Self {
        Self("JMA".into())
    }

    /// The prefecture with JIS number `n` (1–47).
    pub fn prefecture(n: u8) -> Result<Self, DomainError> {
        Self::parse(&format!("P{n:02}"))
    }

    /// A county association: prefecture `n`, local number `k` (1–9999).
    pub fn county(n: u8, k: u16) -> Result<Self, DomainError> {
        Self::parse(&format!("P{n:02}-{k:04}"))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tier, read off the code.
    pub fn level(&self) -> AssociationLevel {
        if self.0 == "JMA" {
            AssociationLevel::Jma
        } else if self.0.len() == 3 {
            AssociationLevel::Prefecture
        } else {
            AssociationLevel::County
        }
    }

    /// The node directly above, if any.
    pub fn parent(&self) -> Option<Self> {
        match self.level() {
            AssociationLevel::Jma => None,
            AssociationLevel::Prefecture => Some(Self::jma()),
            AssociationLevel::County => Some(Self(self.0[..3].to_owned())),
        }
    }

    /// The prefecture this node is in (itself for a prefecture; none for the JMA).
    pub fn prefecture_code(&self) -> Option<Self> {
        match self.level() {
            AssociationLevel::Jma => None,
            _ => Some(Self(self.0[..3].to_owned())),
        }
    }

    /// Whether `other` is this node or lies below it.
    pub fn contains(&self, other: &AssociationCode) -> bool {
        match self.level() {
            AssociationLevel::Jma => true,
            AssociationLevel::Prefecture => other.0.starts_with(&self.0),
            AssociationLevel::County => other.0 == self.0,
        }
    }
}

impl TryFrom<String> for AssociationCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<AssociationCode> for String {
    fn from(v: AssociationCode) -> Self {
        v.0
    }
}
impl fmt::Display for AssociationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One association of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    /// Places the node in the tree: tier and parent are read off it.
    pub code: AssociationCode,
    /// The association's name in Japanese, its official name (e.g. 千代田区医師会).
    pub name_ja: String,
    /// An English rendering of the name, for English-language users and the API.
    pub name_en: String,
}

impl Association {
    /// The tier, from the code.
    pub fn level(&self) -> AssociationLevel {
        self.code.level()
    }
}

/// An outside training organiser (a specialist society, a hospital…), registered under the
/// prefecture whose staff approve its sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Stable identity; organiser role grants are scoped to it.
    pub id: Uuid,
    /// The organiser's name (e.g. 日本内科学会); not unique, the id identifies it.
    pub name: String,
    /// The prefecture whose staff approve its sessions, which places it in that prefecture's scope.
    pub prefecture: AssociationCode,
}

/// The 47 prefectures in JIS X 0401 order: (Japanese name, English name).
pub const PREFECTURES: [(&str, &str); 47] = [
    ("北海道", "Hokkaido"),
    ("青森県", "Aomori"),
    ("岩手県", "Iwate"),
    ("宮城県", "Miyagi"),
    ("秋田県", "Akita"),
    ("山形県", "Yamagata"),
    ("福島県", "Fukushima"),
    ("茨城県", "Ibaraki"),
    ("栃木県", "Tochigi"),
    ("群馬県", "Gunma"),
    ("埼玉県", "Saitama"),
    ("千葉県", "Chiba"),
    ("東京都", "Tokyo"),
    ("神奈川県", "Kanagawa"),
    ("新潟県", "Niigata"),
    ("富山県", "Toyama"),
    ("石川県", "Ishikawa"),
    ("福井県", "Fukui"),
    ("山梨県", "Yamanashi"),
    ("長野県", "Nagano"),
    ("岐阜県", "Gifu"),
    ("静岡県", "Shizuoka"),
    ("愛知県", "Aichi"),
    ("三重県", "Mie"),
    ("滋賀県", "Shiga"),
    ("京都府", "Kyoto"),
    ("大阪府", "Osaka"),
    ("兵庫県", "Hyogo"),
    ("奈良県", "Nara"),
    ("和歌山県", "Wakayama"),
    ("鳥取県", "Tottori"),
    ("島根県", "Shimane"),
    ("岡山県", "Okayama"),
    ("広島県", "Hiroshima"),
    ("山口県", "Yamaguchi"),
    ("徳島県", "Tokushima"),
    ("香川県", "Kagawa"),
    ("愛媛県", "Ehime"),
    ("高知県", "Kochi"),
    ("福岡県", "Fukuoka"),
    ("佐賀県", "Saga"),
    ("長崎県", "Nagasaki"),
    ("熊本県", "Kumamoto"),
    ("大分県", "Oita"),
    ("宮崎県", "Miyazaki"),
    ("鹿児島県", "Kagoshima"),
    ("沖縄県", "Okinawa"),
];

/// The JMA and the 47 prefectural associations, which every installation has.
pub fn national_and_prefectural() -> Vec<Association> {
    let mut v = vec![Association {
        code: AssociationCode::jma(),
        name_ja: "日本医師会".into(),
        name_en: "Japan Medical Association".into(),
    }];
    for (i, (ja, en)) in PREFECTURES.iter().enumerate() {
        let n = u8::try_from(i + 1).unwrap_or(1);
        v.push(Association {
            code: AssociationCode(format!("P{n:02}")),
            name_ja: format!("{ja}医師会"),
            name_en: format!("{en} Medical Association"),
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_and_levels() {
        assert_eq!(
            AssociationCode::parse("jma").unwrap().level(),
            AssociationLevel::Jma
        );
        assert_eq!(AssociationCode::parse("p13").unwrap().as_str(), "P13");
        assert_eq!(
            AssociationCode::parse("Ｐ１３－０００１").unwrap().as_str(),
            "P13-0001"
        );
        for junk in [
            "",
            "P00",
            "P48",
            "P1",
            "P013",
            "P13-1",
            "P13-0000",
            "P13-00001",
            "X13",
            "P13-",
            "JMA-0001",
        ] {
            assert!(AssociationCode::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn subtree() {
        let jma = AssociationCode::jma();
        let tokyo = AssociationCode::parse("P13").unwrap();
        let c1 = AssociationCode::parse("P13-0001").unwrap();
        let c2 = AssociationCode::parse("P13-0002").unwrap();
        let osaka = AssociationCode::parse("P27-0001").unwrap();
        assert!(jma.contains(&osaka));
        assert!(tokyo.contains(&c1) && tokyo.contains(&tokyo));
        assert!(!tokyo.contains(&osaka) && !tokyo.contains(&jma));
        assert!(c1.contains(&c1) && !c1.contains(&c2) && !c1.contains(&tokyo));
        assert_eq!(c1.parent(), Some(tokyo.clone()));
        assert_eq!(tokyo.parent(), Some(jma));
        // P1 must not contain P13's counties by prefix accident
        let p01 = AssociationCode::parse("P01").unwrap();
        assert!(p01.contains(&AssociationCode::parse("P01-0001").unwrap()));
        assert!(
            !AssociationCode::parse("P11")
                .unwrap()
                .contains(&AssociationCode::parse("P01").unwrap())
        );
    }

    #[test]
    fn prefecture_names() {
        let all = national_and_prefectural();
        assert_eq!(all.len(), 48);
        assert_eq!(all[1].name_ja, "北海道医師会");
        assert_eq!(all[13].name_ja, "東京都医師会");
        assert_eq!(all[26].code.as_str(), "P26");
    }

    proptest! {
        #[test]
        fn parse_is_idempotent(s in "[jJpPmMaA0-9\\-Ｐ０-９ ]{0,10}") {
            if let Ok(c) = AssociationCode::parse(&s) {
                prop_assert_eq!(AssociationCode::parse(c.as_str()).unwrap(), c.clone());
                if let Some(p) = c.parent() { prop_assert!(p.contains(&c)); }
            }
        }
    }
}
