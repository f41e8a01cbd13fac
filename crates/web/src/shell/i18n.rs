//! The message catalogues (Fluent), embedded in the binary. Japanese first, English too; every
//! user-facing string is a key here.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use mamis_domain::DomainError;

/// A language the pages are offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Japanese, the default whenever no language cookie chooses otherwise.
    #[default]
    Ja,
    /// English, once the user has picked it with the language switch.
    En,
}

impl Lang {
    /// The BCP 47 tag (for `<html lang>` and the cookie).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
    /// Parses a stored or requested tag.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    /// The language the switch leads to.
    pub fn other(self) -> Self {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }
}

/// Both catalogues, parsed once at start-up.
pub struct Catalogues {
    bundles: HashMap<Lang, FluentBundle<FluentResource>>,
}

impl std::fmt::Debug for Catalogues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Catalogues")
    }
}

impl Catalogues {
    /// Parses the embedded catalogues; a syntax error is a build defect, reported at start-up.
    pub fn load(ja: &[&str], en: &[&str]) -> Result<Self, String> {
        let mut bundles = HashMap::new();
        for (lang, files) in [(Lang::Ja, ja), (Lang::En, en)] {
            let id: unic_langid::LanguageIdentifier = lang
                .tag()
                .parse()
                .map_err(|e| format!("language tag: {e:?}"))?;
            let mut b = FluentBundle::new_concurrent(vec![id]);
            // Unicode isolation marks would end up inside HTML attributes and mail subjects.
            b.set_use_isolating(false);
            for src in files {
                let res = FluentResource::try_new((*src).to_owned())
                    .map_err(|(_, errs)| format!("{} catalogue: {errs:?}", lang.tag()))?;
                b.add_resource(res)
                    .map_err(|e| format!("{} catalogue: {e:?}", lang.tag()))?;
            }
            bundles.insert(lang, b);
        }
        Ok(Self { bundles })
    }

    /// The message `key` in `lang` with text `args`; a missing key shows itself, so it is noticed.
    pub fn text(&self, lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
        let args: Vec<(&str, Arg<'_>)> = args.iter().map(|(k, v)| (*k, Arg::Text(v))).collect();
        self.message(lang, key, &args)
    }

    /// The message `key` in `lang` with `args`, of which counts select plural variants
    /// (`{ $n -> [one] … *[other] … }`); a missing key shows itself, so it is noticed.
    pub fn message(&self, lang: Lang, key: &str, args: &[(&str, Arg<'_>)]) -> String {
        let Some(b) = self.bundles.get(&lang) else {
            return key.to_owned();
        };
        let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
            return key.to_owned();
        };
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            match v {
                Arg::Text(t) => fa.set(*k, FluentValue::String(Cow::Borrowed(t))),
                Arg::Count(n) => fa.set(*k, FluentValue::from(*n)),
            }
        }
        let mut errors = Vec::new();
        let s = b.format_pattern(pattern, Some(&fa), &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, ?errors, "message formatting");
        }
        s.into_owned()
    }
}

/// A message argument: text shown as it is (numbers with leading zeros, codes, names), or a
/// count, which plural rules select on and which is shown in plain digits.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// Shown as it is.
    Text(&'a str),
    /// A count: `[one]` / `*[other]` variants select on it.
    Count(i64),
}

/// The message key explaining a domain refusal.
pub fn domain_error_key(e: &DomainError) -> &'static str {
    match e {
        DomainError::InvalidIsekiNumber => "invalid-iseki",
        DomainError::InvalidMemberId => "invalid-member-id",
        DomainError::InvalidKanaName => "invalid-kana",
        DomainError::InvalidAssociationCode => "invalid-association-code",
        DomainError::TrainingTitle => "training-office-error-title",
        DomainError::VenuePlace => "training-office-error-venue-place",
        DomainError::SessionTimes => "training-office-error-session-times",
        DomainError::ExpectedHeadcount => "training-office-error-headcount",
        DomainError::ItemMinutes(_) => "training-office-error-item-minutes",
        DomainError::ItemWithoutCode => "training-office-error-item-without-code",
        DomainError::SplitPartMinutes { .. } => "training-office-error-split-part-minutes",
        DomainError::SplitPartsSum { .. } => "training-office-error-split-parts-sum",
        DomainError::DuplicateItemCode(_) => "training-office-error-duplicate-code",
        DomainError::ItemOutsideSession { .. } => "training-office-error-item-outside",
        DomainError::ItemsOverlap { .. } => "training-office-error-items-overlap",
        DomainError::UnknownNonCreditKind(_) => "training-office-error-non-credit-kind",
        _ => "invalid-value",
    }
}

/// The arguments of a domain refusal's message, so it can name the minutes, code or items.
pub fn domain_error_args(e: &DomainError) -> Vec<(&'static str, String)> {
    match e {
        DomainError::ItemMinutes(m) => vec![("minutes", m.to_string())],
        DomainError::SplitPartMinutes { minutes, step } => {
            vec![("minutes", minutes.to_string()), ("step", step.to_string())]
        }
        DomainError::SplitPartsSum { parts, item } => {
            vec![("parts", parts.to_string()), ("minutes", item.to_string())]
        }
        DomainError::DuplicateItemCode(c) => vec![("code", c.to_string())],
        DomainError::ItemOutsideSession { item } => vec![("item", item.to_string())],
        DomainError::ItemsOverlap { first, second } => {
            vec![("first", first.to_string()), ("second", second.to_string())]
        }
        DomainError::UnknownNonCreditKind(k) => vec![("kind", k.clone())],
        _ => Vec::new(),
    }
}

/// Message ids of a catalogue, for the parity test.
pub fn keys(src: &str) -> Vec<String> {
    src.lines()
        .filter(|l| !l.starts_with(['#', ' ', '\t']) && l.contains(" = "))
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CATALOGUE_EN as EN, CATALOGUE_JA as JA};

    #[test]
    fn ja_and_en_have_the_same_keys() {
        let mut ja: Vec<String> = JA.iter().flat_map(|f| keys(f)).collect();
        let mut en: Vec<String> = EN.iter().flat_map(|f| keys(f)).collect();
        assert!(ja.len() > 40);
        ja.sort();
        en.sort();
        assert_eq!(ja, en);
        let mut dedup = ja.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), ja.len(), "a key is defined twice");
    }

    #[test]
    fn both_parse_and_format_with_arguments() {
        let c = Catalogues::load(&JA, &EN).unwrap();
        assert_eq!(
            c.text(Lang::Ja, "pending-title", &[("feature", "マイページ")]),
            "マイページ は準備中です"
        );
        assert_eq!(
            c.text(Lang::En, "pending-title", &[("feature", "My Page")]),
            "My Page is coming soon"
        );
        assert_eq!(c.text(Lang::En, "no-such-key", &[]), "no-such-key");
    }

    #[test]
    fn counts_select_plural_variants_and_text_stays_as_written() {
        let src =
            "files = { $n ->\n    [one] one file\n   *[other] { $n } files\n}\nid = ID { $id }\n";
        let c = Catalogues::load(&[src], &[src]).unwrap();
        for (n, want) in [
            (1, "one file"),
            (0, "0 files"),
            (2, "2 files"),
            (1000, "1000 files"),
        ] {
            assert_eq!(c.message(Lang::En, "files", &[("n", Arg::Count(n))]), want);
        }
        // text is never read as a number: leading zeros survive, no plural selection
        assert_eq!(
            c.text(Lang::En, "id", &[("id", "0012345678")]),
            "ID 0012345678"
        );
        assert_eq!(c.text(Lang::En, "files", &[("n", "1")]), "1 files");
    }

    #[test]
    fn every_key_renders_in_both_languages() {
        let c = Catalogues::load(&JA, &EN).unwrap();
        for k in JA.iter().flat_map(|f| keys(f)) {
            for lang in [Lang::Ja, Lang::En] {
                let args = [
                    ("feature", "x"),
                    ("request_id", "r"),
                    ("detail", "d"),
                    ("attempts", "2"),
                    ("email", "e@example.jp"),
                    ("days", "1"),
                    ("hours", "2"),
                    ("prefecture", "東京都医師会"),
                    ("client", "RP"),
                    // mycme
                    ("year", "2025"),
                    ("from", "2024"),
                    ("to", "2026"),
                    ("range", "2024年度〜2026年度"),
                    ("units", "41"),
                    ("codes", "15"),
                    ("total", "56"),
                    ("threshold", "60"),
                    ("shortfall", "4"),
                    ("only", "4"),
                    ("extra", "1"),
                    ("pct", "93"),
                    ("date", "2026年12月1日"),
                    ("name", "山田 太郎"),
                    ("iseki", "123456"),
                    // certificates
                    ("number", "N2026-000001"),
                    ("seconds", "2"),
                    // training office
                    ("place", "医師会館"),
                    ("minutes", "45"),
                    ("step", "30"),
                    ("parts", "90"),
                    ("code", "11"),
                    ("item", "2"),
                    ("first", "1"),
                    ("second", "2"),
                    ("kind", "lunch"),
                    ("live", "12"),
                    ("expected", "50"),
                    ("credited", "3"),
                    ("reversed", "0"),
                    ("max_mb", "20"),
                    ("max", "200000"),
                    ("found", "3"),
                    // pages: counts, cut-over texts, addresses, channels
                    ("n", "2"),
                    ("ended", "no"),
                    ("time", "2026-04-01 00:00"),
                    ("uri", "https://rp.example.jp/cb"),
                    ("channel", "名簿"),
                    // member back office: import problems
                    ("value", "2020-13-01"),
                    ("register", "1980-05-05"),
                    ("column", "入会日"),
                ];
                let s = c.text(lang, &k, &args);
                assert_ne!(s, k, "{k} missing in {lang:?}");
                assert!(!s.contains('{'), "{k} in {lang:?} left a placeable: {s}");
            }
        }
    }
}
