//! 日医雑誌 quiz (問題解答) and 日医e-ラーニング: how an answer is marked and when it earns credit.
//! Pure rules; the app layer stores answers and writes the credits through the ledger.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::HalfUnits;

/// A quiz set passes at 60 % correct (rules §8.6).
pub const QUIZ_PASS_PERCENT: u32 = 60;
/// An e-learning self-assessment passes at 80 % correct (rules §8.7).
pub const CONTENT_PASS_PERCENT: u32 = 80;
/// Most choices a question may offer (the paper card has room for ten).
pub const MAX_CHOICES: usize = 10;
/// Most questions in one set or assessment.
pub const MAX_QUESTIONS: usize = 50;

/// Why an authored set, content or answer was refused; each maps to one message key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearningError {
    /// A set or assessment needs at least one question (at most [`MAX_QUESTIONS`]).
    #[error("between 1 and 50 questions")]
    QuestionCount,
    /// A question needs 2–10 non-empty choices and a text.
    #[error("question {0}: text and 2–10 choices")]
    Choices(usize),
    /// The key is empty, names a choice that does not exist, or (single choice) names several.
    #[error("question {0}: the key must name existing choices (exactly one for single choice)")]
    Key(usize),
    /// A quiz credit needs a code and at least 0.5 unit; a code may appear once.
    #[error("credits: each code once, at least 0.5 unit each, at least one")]
    Credits,
    /// Answers must be published after the deadline, which follows the opening.
    #[error("dates: opens ≤ deadline < answers published")]
    Dates,
    /// Special issues (特別号) carry no quiz.
    #[error("special issues carry no quiz")]
    SpecialIssue,
    /// The issue is not `YYYY-MM` (regular) or `YYYY-S1`/`YYYY-S2` (special).
    #[error("issue: YYYY-MM, or YYYY-S1 / YYYY-S2 for a special issue")]
    Issue,
    /// An answer names a choice the question does not have, or several for a single choice.
    #[error("answer {0} is not one of the question's choices")]
    Answer(usize),
}

/// A journal issue: the twelve regular monthly issues and two special issues a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JournalIssue {
    /// Year of the issue.
    pub year: i32,
    /// 1–12 for a regular issue, 13–14 for special issues S1–S2.
    pub number: u8,
}

impl JournalIssue {
    /// Reads `2026-04` or `2026-S1` (full-width digits are not accepted: staff type this).
    pub fn parse(s: &str) -> Result<Self, LearningError> {
        let (y, n) = s.trim().split_once('-').ok_or(LearningError::Issue)?;
        if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LearningError::Issue);
        }
        let year: i32 = y.parse().map_err(|_| LearningError::Issue)?;
        let number = match n {
            "S1" | "s1" => 13,
            "S2" | "s2" => 14,
            m if m.len() == 2 && m.bytes().all(|b| b.is_ascii_digit()) => {
                let v: u8 = m.parse().map_err(|_| LearningError::Issue)?;
                if !(1..=12).contains(&v) {
                    return Err(LearningError::Issue);
                }
                v
            }
            _ => return Err(LearningError::Issue),
        };
        if !(1900..=9998).contains(&year) {
            return Err(LearningError::Issue);
        }
        Ok(Self { year, number })
    }

    /// Whether this is one of the two special issues (no quiz).
    pub fn is_special(self) -> bool {
        self.number > 12
    }

    /// The stored form, `2026-04` or `2026-S1`.
    pub fn as_string(self) -> String {
        if self.is_special() {
            format!("{}-S{}", self.year, self.number - 12)
        } else {
            format!("{}-{:02}", self.year, self.number)
        }
    }
}

/// Whether a question takes one choice or a set of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Exactly one choice is right.
    Single,
    /// One or more choices are right; all of them, and only them, must be marked.
    Multiple,
}

/// One question with its key and explanation (both hidden until the rules allow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The question text.
    pub text: String,
    /// Single or multiple choice.
    pub kind: QuestionKind,
    /// The choices, numbered from 0 in storage and from 1 on screen and on the card.
    pub choices: Vec<String>,
    /// The right choices.
    pub key: BTreeSet<u8>,
    /// Why the key is right, shown with the result.
    pub explanation: String,
}

impl Question {
    /// Checks the shape of an authored question (`n` is its 1-based position for messages).
    pub fn validate(&self, n: usize) -> Result<(), LearningError> {
        if self.text.trim().is_empty()
            || !(2..=MAX_CHOICES).contains(&self.choices.len())
            || self.choices.iter().any(|c| c.trim().is_empty())
        {
            return Err(LearningError::Choices(n));
        }
        let in_range = self
            .key
            .iter()
            .all(|&k| usize::from(k) < self.choices.len());
        let count_ok = match self.kind {
            QuestionKind::Single => self.key.len() == 1,
            QuestionKind::Multiple => !self.key.is_empty(),
        };
        if !in_range || !count_ok {
            return Err(LearningError::Key(n));
        }
        Ok(())
    }

    /// Right only when exactly the key's choices are given: a partly right answer is wrong.
    pub fn is_correct(&self, given: &BTreeSet<u8>) -> bool {
        *given == self.key
    }
}

/// Checks a list of questions (count and each shape).
pub fn validate_questions(questions: &[Question]) -> Result<(), LearningError> {
    if questions.is_empty() || questions.len() > MAX_QUESTIONS {
        return Err(LearningError::QuestionCount);
    }
    for (i, q) in questions.iter().enumerate() {
        q.validate(i + 1)?;
    }
    Ok(())
}

/// Checks that answers name only existing choices (a single-choice question at most one);
/// an unanswered question is an empty set and simply wrong.
pub fn validate_answers(
    questions: &[Question],
    answers: &[BTreeSet<u8>],
) -> Result<(), LearningError> {
    for (i, a) in answers.iter().enumerate() {
        let Some(q) = questions.get(i) else {
            return Err(LearningError::Answer(i + 1));
        };
        if a.iter().any(|&c| usize::from(c) >= q.choices.len())
            || (q.kind == QuestionKind::Single && a.len() > 1)
        {
            return Err(LearningError::Answer(i + 1));
        }
    }
    Ok(())
}

/// How many questions were answered right out of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// Questions answered exactly right.
    pub correct: u32,
    /// Questions in the set.
    pub total: u32,
}

impl Score {
    /// Marks answers against the questions; a missing answer counts wrong.
    pub fn mark(questions: &[Question], answers: &[BTreeSet<u8>]) -> Self {
        let empty = BTreeSet::new();
        let correct = questions
            .iter()
            .enumerate()
            .filter(|(i, q)| q.is_correct(answers.get(*i).unwrap_or(&empty)))
            .count();
        Self {
            correct: u32::try_from(correct).unwrap_or(u32::MAX),
            total: u32::try_from(questions.len()).unwrap_or(u32::MAX),
        }
    }

    /// Whether at least `percent` % are right, in integers (no rounding: 59.9 % is below 60 %).
    pub fn reaches(self, percent: u32) -> bool {
        self.total > 0
            && u64::from(self.correct) * 100 >= u64::from(percent) * u64::from(self.total)
    }

    /// Percentage, rounded down, for display.
    pub fn percent(self) -> u32 {
        if self.total == 0 {
            0
        } else {
            u32::try_from(u64::from(self.correct) * 100 / u64::from(self.total)).unwrap_or(100)
        }
    }
}

/// One (code, units) pair a quiz set awards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizCredit {
    /// Curriculum code.
    pub code: u16,
    /// Units, at least 0.5.
    pub half_units: HalfUnits,
}

/// Checks a set's credits: at least one, each code once, each at least 0.5 unit.
pub fn validate_credits(credits: &[QuizCredit]) -> Result<(), LearningError> {
    let codes: BTreeSet<u16> = credits.iter().map(|c| c.code).collect();
    if credits.is_empty()
        || codes.len() != credits.len()
        || credits.iter().any(|c| c.half_units.get() < 1)
    {
        return Err(LearningError::Credits);
    }
    Ok(())
}

/// The dates of a quiz set: open from `opens_on`, answers accepted through `deadline`
/// (a postcard by its received date), key and results published on `answers_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizDates {
    /// First day members may answer.
    pub opens_on: NaiveDate,
    /// Last day an answer (or a card's receipt) counts.
    pub deadline: NaiveDate,
    /// The day key, explanations, scores and credits appear.
    pub answers_on: NaiveDate,
}

impl QuizDates {
    /// Checks opens ≤ deadline < answers_on.
    pub fn validate(self) -> Result<(), LearningError> {
        if self.opens_on <= self.deadline && self.deadline < self.answers_on {
            Ok(())
        } else {
            Err(LearningError::Dates)
        }
    }

    /// Whether an answer given (or a card received) on `day` counts.
    pub fn accepts(self, day: NaiveDate) -> bool {
        self.opens_on <= day && day <= self.deadline
    }

    /// Whether key, explanations and results may be shown on `today`.
    pub fn published(self, today: NaiveDate) -> bool {
        today >= self.answers_on
    }
}

/// The credits a marked quiz answer earns: the set's pairs at ≥ 60 %, nothing below.
pub fn quiz_credits(score: Score, credits: &[QuizCredit]) -> Vec<QuizCredit> {
    if score.reaches(QUIZ_PASS_PERCENT) {
        credits.to_vec()
    } else {
        Vec::new()
    }
}

/// Whether a content's assessment earns its unit and code.
pub fn content_passes(score: Score) -> bool {
    score.reaches(CONTENT_PASS_PERCENT)
}

/// The first day an e-learning credit earned on `passed_on` is visible and certifiable.
pub fn content_visible_from(passed_on: NaiveDate) -> NaiveDate {
    passed_on.succ_opt().unwrap_or(passed_on)
}

/// The origin key of a quiz credit: one per set, code and doctor, whatever the channel or the
/// key's version, so a corrected key can add a credit but never write one twice.
pub fn quiz_origin_key(set: uuid::Uuid, code: u16, doctor: uuid::Uuid) -> String {
    format!("quiz:{set}:{code}:{doctor}")
}

/// The origin key of an e-learning credit: one per content and doctor.
pub fn content_origin_key(content: uuid::Uuid, doctor: uuid::Uuid) -> String {
    format!("elearning:{content}:{doctor}")
}

/// How much of a window's shortfall learning with these (code, half-units) pairs closes, in the
/// rule's half-points: its units, plus one point (2 half-points) per code still missing, capped
/// at the shortfall. What the calendar on My Page ① ranks by.
pub fn closes(shortfall_half: i64, missing: &BTreeSet<u16>, offer: &[(u16, HalfUnits)]) -> i64 {
    let mut codes = BTreeSet::new();
    let mut gain: i64 = 0;
    for &(code, h) in offer {
        gain += h.get().max(0);
        if missing.contains(&code) && codes.insert(code) {
            gain += 2;
        }
    }
    gain.min(shortfall_half.max(0))
}

#[cfg(test)]
mod tests;
