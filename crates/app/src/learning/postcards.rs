//! Quiz postcards (はがき解答) imported by JMA staff from a CSV (UTF-8 or CP932): member ID,
//! issue, the answers as marked, received date. The deadline is judged by the received date.
//! A doctor who already answered (on the web, or this card in an earlier import) is skipped
//! and reported; any other problem refuses the whole file with a message per line. Importing
//! the same file again changes nothing.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use csv::StringRecord;
use mamis_domain::{Action, MemberId, Principal, Target};
use mamis_store::{
    AnswerChannel, LearningKind, LearningStore, QuizAnswerRow, RegistryStore, Store, Tx,
};
use serde_json::json;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::{Item, jma_member_on, quiz};
use crate::audit::{self, Entry};
use crate::sheet::{Line, Sheet, fits};
use crate::{App, AppError, cme};

/// Largest file accepted (about 200,000 cards).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// What is wrong with one line (or the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardProblem {
    /// Neither UTF-8 nor CP932.
    Encoding,
    /// The header is not `member_id,issue,answers,received_on` (or 会員ID,号,解答,受付日).
    Header,
    /// No card in the file.
    Empty,
    /// The CSV is broken from this line on.
    Broken,
    /// Not four cells.
    Columns,
    /// Not a 10-digit member ID.
    MemberId,
    /// No doctor holds this member ID.
    UnknownMember,
    /// The doctor was not a JMA member on the received date.
    NotMember,
    /// Not an issue (`YYYY-MM`).
    Issue,
    /// No published quiz set for that issue.
    NoSet,
    /// The answers do not fit the set's questions.
    Answers,
    /// Not a date (`YYYY-MM-DD` or `YYYY/MM/DD`).
    Date,
    /// Received after the deadline.
    Late,
    /// Received before the set opened.
    Early,
    /// The same member and issue appear twice in the file (first on this line).
    Repeated(u64),
}

/// What became of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded (or would be, when the file is refused for other lines).
    Imported,
    /// The doctor answered this set on the web: skipped, not a reason to refuse the file.
    SkippedWeb,
    /// This doctor's card for this set is already recorded: skipped.
    SkippedAlready,
    /// Refuses the file.
    Error(CardProblem),
}

/// The line-by-line report of an import.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The encoding found.
    pub encoding: &'static str,
    /// Per line, in file order (line 0: the file as a whole).
    pub lines: Vec<(u64, Outcome)>,
    /// Whether the cards were recorded (no errors).
    pub applied: bool,
    /// Cards recorded.
    pub imported: u64,
    /// Cards skipped.
    pub skipped: u64,
    /// Credits written at once (sets whose answers were already published).
    pub credited: u64,
}

impl Report {
    fn refuse(p: CardProblem) -> Self {
        Self {
            lines: vec![(0, Outcome::Error(p))],
            ..Self::default()
        }
    }

    /// The lines that refuse the file.
    pub fn errors(&self) -> impl Iterator<Item = &(u64, Outcome)> {
        self.lines
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Error(_)))
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim().replace('/', "-");
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()
}

/// `1/2,4/3`: questions by `/`, choices by `,` or `・`, numbered from 1; empty is unanswered.
fn parse_answers(s: &str, questions: usize) -> Option<Vec<BTreeSet<u8>>> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() != questions {
        return None;
    }
    parts
        .iter()
        .map(|p| {
            p.split([',', '・'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| c.parse::<u8>().ok().filter(|n| *n >= 1).map(|n| n - 1))
                .collect::<Option<BTreeSet<u8>>>()
        })
        .collect()
}

const HEADERS: [[&str; 4]; 2] = [
    ["member_id", "issue", "answers", "received_on"],
    ["会員ID", "号", "解答", "受付日"],
];

/// Imports a postcard file: checks every line first, then (no errors) records the cards in one
/// write transaction with the audit record, crediting at once the sets already published.
pub async fn import<S: Store>(
    app: &App<S>,
    who: &Principal,
    bytes: &[u8],
) -> Result<Report, AppError> {
    crate::authz::require(who, Action::EditCredits, &Target::System)?;
    if bytes.len() > MAX_BYTES {
        return Ok(Report::refuse(CardProblem::Columns));
    }
    let Ok((text, encoding)) = crate::identity::legacy::decode(bytes) else {
        return Ok(Report::refuse(CardProblem::Encoding));
    };
    let text: String = text.nfkc().collect();
    let mut sheet = Sheet::new(&text, true);
    let header_ok = sheet.reader().headers().is_ok_and(|h| {
        let cells: Vec<String> = h.iter().map(|c| c.trim().to_owned()).collect();
        HEADERS
            .iter()
            .any(|want| cells.len() >= 4 && cells[..4].iter().zip(want).all(|(a, b)| a == b))
    });
    let mut report = Report {
        encoding,
        ..Report::default()
    };
    if !header_ok {
        report.lines.push((1, Outcome::Error(CardProblem::Header)));
        return Ok(report);
    }
    let now = app.now();
    let mut tx = app.store.write().await?;
    let sets: HashMap<String, Item> = tx
        .learning_items(LearningKind::Quiz)
        .await?
        .into_iter()
        .map(Item::from_version)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|i| i.version.published_on.is_some())
        .filter_map(|i| Some((i.version.issue.clone()?, i)))
        .collect();
    let mut existing: HashMap<Uuid, HashMap<Uuid, AnswerChannel>> = HashMap::new();
    let mut seen: HashMap<(Uuid, Uuid), u64> = HashMap::new();
    let mut rows: Vec<QuizAnswerRow> = Vec::new();
    let mut rec = StringRecord::new();
    let actor = quiz::postcard_actor(who);
    loop {
        let line = match sheet.next(&mut rec) {
            Line::End => break,
            Line::Blank => continue,
            Line::Data(l) => l,
            Line::UnclosedQuote(l) | Line::Broken { line: l, .. } => {
                report.lines.push((l, Outcome::Error(CardProblem::Broken)));
                break;
            }
        };
        let outcome = check_line(
            &mut tx,
            &rec,
            line,
            &sets,
            &mut existing,
            &mut seen,
            &mut rows,
            &actor,
            now,
        )
        .await?;
        report.lines.push((line, outcome));
    }
    if report.lines.is_empty() {
        report.lines.push((0, Outcome::Error(CardProblem::Empty)));
    }
    if report.errors().next().is_some() {
        tx.rollback().await?;
        return Ok(report);
    }
    for r in &rows {
        if tx.insert_quiz_answer(r).await? {
            report.imported += 1;
        }
    }
    report.skipped = report
        .lines
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::SkippedWeb | Outcome::SkippedAlready))
        .count() as u64;
    // cards for sets already published are credited now; the others on the publication date
    let mut by_set: HashMap<Uuid, Vec<QuizAnswerRow>> = HashMap::new();
    for r in rows {
        by_set.entry(r.set_id).or_default().push(r);
    }
    let today = super::today(app);
    let mut credits = Vec::new();
    for (set, answers) in &by_set {
        if let Some(item) = sets.values().find(|i| i.version.item_id == *set)
            && let (Some(dates), Some(doc)) = (item.quiz_dates(), item.quiz())
            && dates.published(today)
        {
            credits.extend(quiz::credits_for(*set, &item.version.title, doc, answers)?);
        }
    }
    if !credits.is_empty() {
        report.credited = cme::credit(&mut tx, &credits, &actor, now).await?.written;
    }
    audit::record(
        &mut tx,
        &app.config.audit_key,
        now,
        Entry {
            details: json!({
                "imported": report.imported,
                "skipped": report.skipped,
                "credited": report.credited,
            }),
            ..Entry::new(who, "learning.postcards", "learning:postcards")
        },
    )
    .await?;
    tx.commit().await?;
    report.applied = true;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn check_line<T: RegistryStore + LearningStore + Send>(
    tx: &mut T,
    rec: &StringRecord,
    line: u64,
    sets: &HashMap<String, Item>,
    existing: &mut HashMap<Uuid, HashMap<Uuid, AnswerChannel>>,
    seen: &mut HashMap<(Uuid, Uuid), u64>,
    rows: &mut Vec<QuizAnswerRow>,
    actor: &str,
    now: mamis_domain::Timestamp,
) -> Result<Outcome, AppError> {
    use CardProblem as P;
    let err = |p| Ok(Outcome::Error(p));
    if !fits(rec, 4) {
        return err(P::Columns);
    }
    let cell = |i: usize| rec.get(i).unwrap_or("").trim();
    let Ok(member) = MemberId::parse(cell(0)) else {
        return err(P::MemberId);
    };
    let Ok(issue) = mamis_domain::learning::JournalIssue::parse(cell(1)) else {
        return err(P::Issue);
    };
    let Some(received) = parse_date(cell(3)) else {
        return err(P::Date);
    };
    let Some(item) = sets.get(&issue.as_string()) else {
        return err(P::NoSet);
    };
    let (Some(dates), Some(doc)) = (item.quiz_dates(), item.quiz()) else {
        return err(P::NoSet);
    };
    let Some(answers) = parse_answers(cell(2), doc.questions.len())
        .filter(|a| mamis_domain::learning::validate_answers(&doc.questions, a).is_ok())
    else {
        return err(P::Answers);
    };
    if received > dates.deadline {
        return err(P::Late);
    }
    if received < dates.opens_on {
        return err(P::Early);
    }
    let Some(doctor) = tx.doctor_by_member_id(&member).await? else {
        return err(P::UnknownMember);
    };
    if !jma_member_on(tx, doctor.id, received).await? {
        return err(P::NotMember);
    }
    let set = item.version.item_id;
    if let Some(first) = seen.insert((set, doctor.id), line) {
        return err(P::Repeated(first));
    }
    if let std::collections::hash_map::Entry::Vacant(slot) = existing.entry(set) {
        let known = tx
            .quiz_answers_of_set(set)
            .await?
            .into_iter()
            .map(|a| (a.doctor_id, a.channel))
            .collect();
        slot.insert(known);
    }
    match existing.get(&set).and_then(|m| m.get(&doctor.id)) {
        Some(AnswerChannel::Web) => return Ok(Outcome::SkippedWeb),
        Some(AnswerChannel::Postcard) => return Ok(Outcome::SkippedAlready),
        None => {}
    }
    rows.push(QuizAnswerRow {
        set_id: set,
        doctor_id: doctor.id,
        channel: AnswerChannel::Postcard,
        answers: quiz::encode(&answers),
        answered_on: received,
        recorded_by: actor.to_owned(),
        recorded_at: now,
    });
    Ok(Outcome::Imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_marked() {
        let s = |v: &[u8]| v.iter().copied().collect::<BTreeSet<u8>>();
        assert_eq!(
            parse_answers("1/2,4/", 3),
            Some(vec![s(&[0]), s(&[1, 3]), s(&[])])
        );
        assert_eq!(parse_answers("1・3/2", 2), Some(vec![s(&[0, 2]), s(&[1])]));
        assert_eq!(parse_answers("1/2", 3), None);
        assert_eq!(parse_answers("0/2", 2), None);
        assert_eq!(parse_answers("a/2", 2), None);
        assert_eq!(
            parse_date("2026/04/30"),
            NaiveDate::from_ymd_opt(2026, 4, 30)
        );
        assert_eq!(parse_date("2026-4-31"), None);
    }
}
