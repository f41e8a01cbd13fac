//! The dated programme-history CSV: units of the paper 研修手帳 (before April 2025) imported for
//! many doctors at once, all or nothing with a line-by-line report; re-runs change nothing.
//!
//! Header (Japanese or English names): 医籍登録番号/iseki, 制度/programme, カテゴリ/category,
//! 日付/date, 単位/units, ページ/page, 押印/stamp.

use chrono::NaiveDate;
use mamis_domain::programmes::{CertifiedProgramme, ProgrammeEntry};
use mamis_domain::{HalfUnits, IsekiNumber, Principal, Source};
use mamis_store::{ProgrammeStore, RegistryStore, Store, Tx};
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

use super::PAPER_UNTIL;
use crate::audit::Entry;
use crate::cme::history::{HistoryReport, MAX_REPORTED, Problem};
use crate::sheet::{Line, Sheet};
use crate::{App, AppError};

const COLUMNS: [(&str, &str); 7] = [
    ("医籍登録番号", "iseki"),
    ("制度", "programme"),
    ("カテゴリ", "category"),
    ("日付", "date"),
    ("単位", "units"),
    ("ページ", "page"),
    ("押印", "stamp"),
];

const MAX_BYTES: usize = 50 << 20;

/// A checked line: its number, the doctor's number, programme, category, date, units, page, stamp.
type Row = (
    u64,
    IsekiNumber,
    CertifiedProgramme,
    String,
    NaiveDate,
    HalfUnits,
    String,
    String,
);

fn problem(line: u64, column: Option<&str>, message: impl Into<String>) -> Problem {
    Problem {
        line,
        column: column.map(str::to_owned),
        message: message.into(),
    }
}

fn refuse(mut report: HistoryReport, mut problems: Vec<Problem>) -> HistoryReport {
    problems.sort_by_key(|p| p.line);
    report.total_problems = problems.len() as u64;
    problems.truncate(MAX_REPORTED);
    report.problems = problems;
    report.written = 0;
    report
}

/// Imports the file (JMA or association staff with the right to edit credits of every doctor
/// named; a job or the CLI). Nothing is written unless every line is right.
pub async fn import_history<S: Store>(
    app: &App<S>,
    who: &Principal,
    bytes: &[u8],
) -> Result<HistoryReport, AppError> {
    let mut report = HistoryReport::default();
    if bytes.len() > MAX_BYTES {
        return Ok(refuse(
            report,
            vec![problem(0, None, "the file is larger than 50 MB; split it")],
        ));
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(body) {
        Ok(s) => {
            report.encoding = "UTF-8";
            s.to_owned()
        }
        Err(_) => match crate::identity::legacy::decode(bytes) {
            Ok((s, enc)) => {
                report.encoding = enc;
                s
            }
            Err(m) => return Ok(refuse(report, vec![problem(0, None, m)])),
        },
    };
    let mut sheet = Sheet::new(&text, true);
    let header: Vec<String> = match sheet.reader().headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_owned()).collect(),
        Err(e) => return Ok(refuse(report, vec![problem(1, None, e.to_string())])),
    };
    let mut at = [usize::MAX; 7];
    for (i, (ja, en)) in COLUMNS.iter().enumerate() {
        match header
            .iter()
            .position(|h| h == ja || h.eq_ignore_ascii_case(en))
        {
            Some(p) => at[i] = p,
            None => {
                return Ok(refuse(
                    report,
                    vec![problem(
                        1,
                        Some(ja),
                        format!("the header has no column {ja} ({en})"),
                    )],
                ));
            }
        }
    }
    let now = app.now();
    let mut problems = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        let line = match sheet.next(&mut rec) {
            Line::End => break,
            Line::Blank => continue,
            Line::Data(l) => l,
            Line::UnclosedQuote(l) => {
                problems.push(problem(l, None, "a quoted cell is never closed"));
                break;
            }
            Line::Broken { line, error } => {
                problems.push(problem(line, None, error));
                break;
            }
        };
        report.rows += 1;
        let cell = |i: usize| rec.get(at[i]).unwrap_or("").trim().to_owned();
        let mut bad = |col: usize, m: &str| problems.push(problem(line, Some(COLUMNS[col].0), m));
        let Ok(iseki) = IsekiNumber::parse(&cell(0)) else {
            bad(0, "not a 医籍登録番号 (1–7 digits)");
            continue;
        };
        let Ok(programme) = CertifiedProgramme::parse(&cell(1)) else {
            bad(
                1,
                "not a programme: sangyoui, sports_doctor, kakaritsuke or kakaritsuke_report",
            );
            continue;
        };
        let category = cell(2);
        if programme.rules().category(&category).is_none() {
            bad(2, "not a category of that programme's rules file");
            continue;
        }
        let Ok(date) = mamis_domain::dates::parse_date(&cell(3)) else {
            bad(3, "not a date (2024-10-01, 2024/10/1 or 2024年10月1日)");
            continue;
        };
        if date >= PAPER_UNTIL {
            bad(
                3,
                "units from 1 April 2025 on are recorded in MAMIS, not imported",
            );
            continue;
        }
        let units = cell(4)
            .parse::<f64>()
            .ok()
            .filter(|u| u.is_finite() && *u > 0.0 && *u <= 100.0 && (u * 2.0).fract() == 0.0);
        let Some(units) = units else {
            bad(4, "units must be 0.5 to 100 in steps of 0.5");
            continue;
        };
        let (page, stamp) = (cell(5), cell(6));
        if page.is_empty() || page.chars().count() > 100 {
            bad(5, "note the 研修手帳 page (1–100 characters)");
            continue;
        }
        if stamp.is_empty() || stamp.chars().count() > 100 {
            bad(6, "note the stamp (1–100 characters)");
            continue;
        }
        rows.push((
            line,
            iseki,
            programme,
            category,
            date,
            HalfUnits::new((units * 2.0) as i64),
            page,
            stamp,
        ));
    }
    let mut tx = app.store.write().await?;
    let mut entries = Vec::new();
    let mut keys = BTreeSet::new();
    for (line, iseki, programme, category, date, half, page, stamp) in rows {
        let Some(d) = tx.doctor_by_iseki(&iseki).await? else {
            problems.push(problem(
                line,
                Some("医籍登録番号"),
                "no doctor with this 医籍登録番号",
            ));
            continue;
        };
        let nodes: Vec<_> = tx
            .memberships_of(d.id)
            .await?
            .into_iter()
            .filter(|m| m.left_on.is_none())
            .map(|m| m.association)
            .chain(d.home_prefecture.clone())
            .collect();
        if crate::authz::require(
            who,
            mamis_domain::Action::EditCredits,
            &mamis_domain::Target::Doctor(&nodes),
        )
        .is_err()
        {
            problems.push(problem(
                line,
                Some("医籍登録番号"),
                "no doctor with this 医籍登録番号",
            ));
            continue;
        }
        let key = format!("history:{iseki}:{category}:{date}:{page}:{stamp}");
        if !keys.insert((programme, key.clone())) {
            problems.push(problem(
                line,
                None,
                "the same line appears twice in the file",
            ));
            continue;
        }
        entries.push(ProgrammeEntry {
            id: Uuid::new_v4(),
            doctor: d.id,
            programme,
            category,
            date,
            half_units: half,
            web_session: false,
            lecture: None,
            source: Source::PriorSystem,
            origin_key: key,
            generation: 0,
            reverses: None,
            rules_version: programme.rules().version.clone(),
            created_by: who.audit_name(),
            created_at: now,
            note: Some(format!("研修手帳 p.{page} 印 {stamp}")),
        });
    }
    if !problems.is_empty() {
        tx.rollback().await?;
        return Ok(refuse(report, problems));
    }
    // lines already imported stay as they are
    let mut fresh = Vec::new();
    for programme in CertifiedProgramme::ALL {
        let mine: Vec<String> = entries
            .iter()
            .filter(|e| e.programme == programme)
            .map(|e| e.origin_key.clone())
            .collect();
        let known: BTreeSet<String> = tx
            .programme_entries_by_origin(programme, &mine)
            .await?
            .into_iter()
            .filter(|k| !k.reversed)
            .map(|k| k.entry.origin_key)
            .collect();
        for e in entries.iter().filter(|e| e.programme == programme) {
            if known.contains(&e.origin_key) {
                report.unchanged += 1;
            } else {
                fresh.push(e.clone());
            }
        }
    }
    tx.insert_programme_entries(&fresh).await?;
    report.written = fresh.len() as u64;
    app.audit(
        &mut tx,
        Entry::new(who, "programmes.import_history", "programme_entries")
            .details(json!({ "written": report.written, "unchanged": report.unchanged })),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}
