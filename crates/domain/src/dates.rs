//! The one date parser of every import: what people type and what Excel writes — `1970-05-06`,
//! `1970/5/6`, `19700506`, `1970年5月6日` and 和暦 (`S45.5.6`, `昭和45年5月6日`, `H1.1.8`,
//! `平成元年1月8日`, `R2/4/1`) — with full-width digits too. An Excel serial number (`25694`)
//! is refused with its own error, so the message can say how to format the column.

use chrono::{Datelike, NaiveDate};
use unicode_normalization::UnicodeNormalization;

/// Why a cell is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// A bare number such as 25694: Excel's day count, shown when a date column is formatted
    /// as a number.
    #[error(
        "a number, not a date: Excel shows dates as numbers when the column is formatted as \
         Number; format the column as Date (yyyy/m/d) or Text and save again"
    )]
    ExcelSerial,
    /// Not one of the accepted forms, or no such day (2月30日, 昭和70年).
    #[error("not a date: write YYYY-MM-DD, YYYY/M/D, YYYY年M月D日 or 和暦 such as S45.5.6")]
    NotADate,
    /// A birth date after today.
    #[error("the birth date is in the future")]
    Future,
    /// A birth date before 1900-01-01.
    #[error("the birth date is before 1900")]
    Before1900,
}

/// The eras a date may be written in: letter, name, first day.
const ERAS: [(char, &str, (i32, u32, u32)); 5] = [
    ('M', "明治", (1868, 10, 23)),
    ('T', "大正", (1912, 7, 30)),
    ('S', "昭和", (1926, 12, 25)),
    ('H', "平成", (1989, 1, 8)),
    ('R', "令和", (2019, 5, 1)),
];

fn number(s: &str, max_len: usize) -> Option<u32> {
    (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Splits `y?m?d` on one kind of separator (`-`, `/`, `.`) or the 年月日 markers.
fn three_parts(s: &str) -> Option<(&str, &str, &str)> {
    if let Some((y, rest)) = s.split_once('年') {
        let (m, rest) = rest.split_once('月')?;
        let d = rest.strip_suffix('日')?;
        return Some((y.trim(), m.trim(), d.trim()));
    }
    let sep = ['-', '/', '.'].into_iter().find(|&c| s.contains(c))?;
    let mut it = s.split(sep);
    let parts = (it.next()?, it.next()?, it.next()?);
    it.next().is_none().then_some(parts)
}

fn ymd(y: i32, m: &str, d: &str) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, number(m, 2)?, number(d, 2)?)
}

/// A date in any accepted form (see the module), or why not. Years are 1000–9999 in the
/// western forms; an era date must lie inside its era.
pub fn parse_date(input: &str) -> Result<NaiveDate, DateError> {
    let s: String = input.nfkc().filter(|c| !c.is_whitespace()).collect();
    let s = s.trim_matches('\'');
    if s.is_empty() {
        return Err(DateError::NotADate);
    }
    // A bare number of up to six digits (or with a fraction of a day) is Excel's day count.
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if number(whole, 6).is_some() && (fraction.is_empty() || number(fraction, 12).is_some()) {
        return Err(DateError::ExcelSerial);
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        let y = number(&s[..4], 4).and_then(|y| i32::try_from(y).ok());
        return y
            .and_then(|y| ymd(y, &s[4..6], &s[6..]))
            .filter(|d| d.year() >= 1000)
            .ok_or(DateError::NotADate);
    }
    for (letter, name, first) in ERAS {
        let rest = s
            .strip_prefix(name)
            .or_else(|| s.strip_prefix(letter))
            .or_else(|| s.strip_prefix(letter.to_ascii_lowercase()));
        if let Some(rest) = rest {
            return era_date(rest, first).ok_or(DateError::NotADate);
        }
    }
    let (y, m, d) = three_parts(s).ok_or(DateError::NotADate)?;
    let y = i32::try_from(
        number(y, 4)
            .filter(|&y| y >= 1000)
            .ok_or(DateError::NotADate)?,
    )
    .map_err(|_| DateError::NotADate)?;
    ymd(y, m, d).ok_or(DateError::NotADate)
}

/// `45.5.6` or `45年5月6日` (元年 for year 1) in the era starting on `first`.
fn era_date(rest: &str, first: (i32, u32, u32)) -> Option<NaiveDate> {
    let (y, m, d) = three_parts(rest)?;
    let year = if y == "元" { 1 } else { number(y, 2)? };
    if year == 0 {
        return None;
    }
    let date = ymd(first.0 + i32::try_from(year).ok()? - 1, m, d)?;
    let start = NaiveDate::from_ymd_opt(first.0, first.1, first.2)?;
    // The next era's first day ends this one.
    let end = ERAS
        .iter()
        .map(|e| e.2)
        .find(|e| *e > first)
        .and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
    (date >= start && end.is_none_or(|e| date < e)).then_some(date)
}

/// A birth date: [`parse_date`], then not after `today` and not before 1900.
pub fn parse_birth_date(input: &str, today: NaiveDate) -> Result<NaiveDate, DateError> {
    let d = parse_date(input)?;
    if d > today {
        Err(DateError::Future)
    } else if d.year() < 1900 {
        Err(DateError::Before1900)
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn every_form_reads() {
        let may6 = d(1970, 5, 6);
        let cases: &[(&str, NaiveDate)] = &[
            ("1970-05-06", may6),
            ("1970-5-6", may6),
            ("1970/5/6", may6),
            ("1970/05/06", may6),
            ("1970.5.6", may6),
            ("19700506", may6),
            ("１９７０／５／６", may6),
            ("1970年5月6日", may6),
            ("1970年05月06日", may6),
            ("1970 年 5 月 6 日", may6),
            ("'1970/5/6", may6),
            ("S45.5.6", may6),
            ("s45.5.6", may6),
            ("S45/5/6", may6),
            ("Ｓ４５．５．６", may6),
            ("昭和45年5月6日", may6),
            ("昭和45.5.6", may6),
            ("H1.1.8", d(1989, 1, 8)),
            ("平成元年1月8日", d(1989, 1, 8)),
            ("平成31年4月30日", d(2019, 4, 30)),
            ("R1.5.1", d(2019, 5, 1)),
            ("令和2年4月1日", d(2020, 4, 1)),
            ("R2/4/1", d(2020, 4, 1)),
            ("T15.12.24", d(1926, 12, 24)),
            ("昭和元年12月25日", d(1926, 12, 25)),
            ("2000-02-29", d(2000, 2, 29)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text), Ok(*want), "{text:?}");
        }
    }

    #[test]
    fn junk_is_refused() {
        for text in [
            "",
            "  ",
            "yesterday",
            "1970-13-01",
            "1970-02-30",
            "1970/5",
            "1970/5/6/7",
            "70/5/6",
            "1970-5/6",
            "1970年5月",
            "S45",
            "S0.5.6",
            "昭和65年1月8日",
            "H1.1.7",
            "平成32年1月1日",
            "R1.4.30",
            "X45.5.6",
            "=DATE(1970,5,6)",
            "1970-05-06T00:00",
            "19701306",
            "00000506",
        ] {
            assert_eq!(parse_date(text), Err(DateError::NotADate), "{text:?}");
        }
    }

    #[test]
    fn excel_serials_are_named() {
        for text in ["25694", "1", "45000", "25694.5", "２５６９４"] {
            assert_eq!(parse_date(text), Err(DateError::ExcelSerial), "{text:?}");
        }
        assert!(
            DateError::ExcelSerial
                .to_string()
                .contains("format the column")
        );
    }

    #[test]
    fn birth_dates_are_past_and_after_1900() {
        let today = d(2026, 12, 3);
        assert_eq!(parse_birth_date("1970/5/6", today), Ok(d(1970, 5, 6)));
        assert_eq!(parse_birth_date("2026-12-03", today), Ok(today));
        assert_eq!(
            parse_birth_date("2099-01-01", today),
            Err(DateError::Future)
        );
        assert_eq!(
            parse_birth_date("2026-12-04", today),
            Err(DateError::Future)
        );
        assert_eq!(
            parse_birth_date("1899-12-31", today),
            Err(DateError::Before1900)
        );
        assert_eq!(
            parse_birth_date("M30.1.1", today),
            Err(DateError::Before1900)
        );
        assert_eq!(parse_birth_date("1900-01-01", today), Ok(d(1900, 1, 1)));
        assert_eq!(
            parse_birth_date("25694", today),
            Err(DateError::ExcelSerial)
        );
    }
}
