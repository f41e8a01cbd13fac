//! Words and numbers in the page language: dates as Japan writes them, fiscal years and their
//! ranges, ledger sources, window states and curriculum code names, times of day in Japan time,
//! and the pairs of a raw query string.

use std::collections::HashMap;

use chrono::NaiveDate;
use mamis_domain::curriculum::Catalogue;
use mamis_domain::rules::WindowStatus;
use mamis_domain::time::to_japan;
use mamis_domain::{FiscalYear, Source, Timestamp};

use crate::shell::i18n::{Catalogues, Lang};

/// Words and numbers of one page language.
pub(crate) struct Fmt<'a> {
    cat: &'a Catalogues,
    lang: Lang,
    names: HashMap<(String, u16), (String, String)>,
}

impl<'a> Fmt<'a> {
    pub(crate) fn new(cat: &'a Catalogues, lang: Lang) -> Self {
        let names = Catalogue::embedded()
            .all_entries()
            .map(|e| {
                (
                    (e.version.clone(), e.number),
                    (e.name_ja.clone(), e.name_en.clone()),
                )
            })
            .collect();
        Self { cat, lang, names }
    }

    pub(crate) fn t(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.cat.text(self.lang, key, args)
    }

    pub(crate) fn fy(&self, fy: FiscalYear) -> String {
        self.t("mycme-fy", &[("year", &fy.year().to_string())])
    }

    pub(crate) fn range(&self, from: FiscalYear, to: FiscalYear) -> String {
        self.t(
            "mycme-fy-range",
            &[
                ("from", &from.year().to_string()),
                ("to", &to.year().to_string()),
            ],
        )
    }

    /// Japan format in Japanese (2026年12月1日), month name in English.
    pub(crate) fn date(&self, d: NaiveDate) -> String {
        match self.lang {
            Lang::Ja => d.format("%Y年%-m月%-d日").to_string(),
            Lang::En => d.format("%B %-d, %Y").to_string(),
        }
    }

    pub(crate) fn source(&self, s: Source) -> String {
        self.t(
            &format!("mycme-source-{}", s.as_str().replace('_', "-")),
            &[],
        )
    }

    pub(crate) fn status(&self, s: WindowStatus) -> (String, &'static str) {
        let (key, class) = match s {
            WindowStatus::Certified => ("mycme-window-certified", "certified"),
            WindowStatus::Achieved => ("mycme-window-achieved", "achieved"),
            WindowStatus::FellShort => ("mycme-window-fell-short", "fell-short"),
            WindowStatus::Pending => ("mycme-window-pending", "pending"),
        };
        (self.t(key, &[]), class)
    }

    /// The code's name in the page language, from the catalogue version the entry names.
    pub(crate) fn code_name(&self, version: &str, number: u16) -> String {
        self.names
            .get(&(version.to_owned(), number))
            .map(|(ja, en)| match self.lang {
                Lang::Ja => ja.clone(),
                Lang::En => en.clone(),
            })
            .unwrap_or_default()
    }
}

/// The pairs of a raw query string; `None` when a pair has no name.
pub(crate) fn query_pairs(q: Option<&str>) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    (!pairs.iter().any(|(k, _)| k.is_empty())).then_some(pairs)
}

/// `HH:MM` in Japan time.
pub fn hm(t: Timestamp) -> String {
    to_japan(t).format("%H:%M").to_string()
}
