//! カリキュラムコード — the versioned curriculum-code catalogue. Codes are data, never an enum:
//! JMA staff correct names, and a new curriculum is a new version.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use crate::DomainError;

/// The version this installation starts with: the 2016 curriculum, 2022-04 edition.
pub const CURRENT_VERSION: &str = "2016-2022.04";

const EMBEDDED_CSV: &str = include_str!("../data/curriculum_codes_2016.csv");

/// A curriculum code valid in its catalogue version; only [`Catalogue::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CurriculumCode {
    version: String,
    number: u16,
}

impl CurriculumCode {
    /// The catalogue version the code belongs to.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The code number (0–83 in the current catalogue).
    pub fn number(&self) -> u16 {
        self.number
    }
}

impl fmt::Display for CurriculumCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CC{}", self.number)
    }
}

/// One code's entry as shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    /// The catalogue version of the entry (e.g. `2016-2022.04`); names may differ between versions.
    pub version: String,
    /// The code number (0–83 in the current version); fixed once shipped, unlike the names.
    pub number: u16,
    /// The code's name in Japanese, the one doctors know it by; JMA staff may correct it.
    pub name_ja: String,
    /// An English rendering of the name, for English pages; correctable like the Japanese one.
    pub name_en: String,
    /// Whether a public source confirmed the name (`verified`) or not yet (`unconfirmed`).
    pub source_status: String,
}

/// All shipped catalogue versions.
#[derive(Debug, Clone)]
pub struct Catalogue {
    versions: BTreeMap<String, BTreeMap<u16, CatalogueEntry>>,
}

#[derive(Deserialize)]
struct Row {
    curriculum: String,
    code: u16,
    name_ja: String,
    name_en: String,
    source_status: String,
}

impl Catalogue {
    /// Reads a catalogue CSV (`curriculum,code,name_ja,name_en,source_status`).
    pub fn from_csv(text: &str) -> Result<Self, DomainError> {
        let mut versions: BTreeMap<String, BTreeMap<u16, CatalogueEntry>> = BTreeMap::new();
        for (i, rec) in csv::Reader::from_reader(text.as_bytes())
            .deserialize::<Row>()
            .enumerate()
        {
            let r = rec.map_err(|e| DomainError::Catalogue(format!("line {}: {e}", i + 2)))?;
            let entry = CatalogueEntry {
                version: r.curriculum.clone(),
                number: r.code,
                name_ja: r.name_ja,
                name_en: r.name_en,
                source_status: r.source_status,
            };
            if versions
                .entry(r.curriculum)
                .or_default()
                .insert(r.code, entry)
                .is_some()
            {
                return Err(DomainError::Catalogue(format!(
                    "line {}: code {} twice",
                    i + 2,
                    r.code
                )));
            }
        }
        Ok(Self { versions })
    }

    /// The catalogue compiled into the binary.
    pub fn embedded() -> &'static Catalogue {
        static CAT: OnceLock<Catalogue> = OnceLock::new();
        CAT.get_or_init(|| {
            Catalogue::from_csv(EMBEDDED_CSV).unwrap_or(Catalogue {
                versions: BTreeMap::new(),
            })
        })
    }

    /// The only way to obtain a [`CurriculumCode`]: the number must exist in that version.
    pub fn parse(&self, version: &str, number: i64) -> Result<CurriculumCode, DomainError> {
        let codes = self
            .versions
            .get(version)
            .ok_or_else(|| DomainError::UnknownCatalogueVersion(version.to_owned()))?;
        u16::try_from(number)
            .ok()
            .filter(|n| codes.contains_key(n))
            .map(|number| CurriculumCode {
                version: version.to_owned(),
                number,
            })
            .ok_or(DomainError::UnknownCurriculumCode {
                version: version.to_owned(),
                number,
            })
    }

    /// Entries of one version in code order.
    pub fn entries(&self, version: &str) -> impl Iterator<Item = &CatalogueEntry> {
        self.versions
            .get(version)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// Every entry of every version.
    pub fn all_entries(&self) -> impl Iterator<Item = &CatalogueEntry> {
        self.versions.values().flat_map(|m| m.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_has_84_codes_numbered_0_to_83() {
        let cat = Catalogue::embedded();
        let nums: Vec<u16> = cat.entries(CURRENT_VERSION).map(|e| e.number).collect();
        assert_eq!(nums, (0..=83).collect::<Vec<_>>());
        assert!(
            cat.entries(CURRENT_VERSION)
                .all(|e| !e.name_ja.is_empty() && !e.name_en.is_empty())
        );
    }

    #[test]
    fn parse_checks_version_and_range() {
        let cat = Catalogue::embedded();
        assert_eq!(cat.parse(CURRENT_VERSION, 83).unwrap().number(), 83);
        assert!(matches!(
            cat.parse(CURRENT_VERSION, 84),
            Err(DomainError::UnknownCurriculumCode { .. })
        ));
        assert!(cat.parse(CURRENT_VERSION, -1).is_err());
        assert!(matches!(
            cat.parse("1999", 1),
            Err(DomainError::UnknownCatalogueVersion(_))
        ));
    }

    #[test]
    fn duplicate_codes_are_refused() {
        let csv = "curriculum,code,name_ja,name_en,source_status\nv,1,a,a,x\nv,1,b,b,x\n";
        assert!(Catalogue::from_csv(csv).is_err());
    }
}
