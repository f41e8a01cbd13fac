//! Table tests of the procedures from the examples, and property tests: after any
//! sequence of actions and dates, the register nests at every instant, no level holds two open
//! memberships, a transfer leaves no gap and no overlap, a return writes nothing — each checked
//! against a naive day-by-day model written here from the rule text.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate};
use proptest::prelude::*;

use super::*;
use crate::association::{AssociationCode, AssociationLevel};
use crate::membership::{ClassCode, MemberClass, Membership};

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn class(s: &str) -> ClassCode {
    ClassCode::parse(s).unwrap()
}

fn m(c: &str, k: &str, from: &str, to: Option<&str>) -> Membership {
    Membership {
        association: code(c),
        class: class(k),
        joined_on: day(from),
        left_on: to.map(day),
    }
}

fn ctx<'a>(today: &str, register: &'a [Membership]) -> Ctx<'a> {
    Ctx {
        today: day(today),
        register,
        rules: &[],
    }
}

fn join_all(county: Option<&str>) -> Request {
    Request::Join {
        prefecture: code("P13"),
        county: county.map(code),
        classes: JoinClasses {
            county: Some(class("regular")),
            prefecture: Some(class("regular")),
            jma: Some(MemberClass::C),
        },
    }
}

#[test]
fn effective_rules_give_the_earliest_day_after_approval() {
    for (rule, approved, earliest) in [
        (EffectiveRule::FirstOfNextMonth, "2026-05-31", "2026-06-01"),
        (EffectiveRule::FirstOfNextMonth, "2026-12-01", "2027-01-01"),
        (EffectiveRule::NextDay, "2026-12-31", "2027-01-01"),
        (
            EffectiveRule::FirstOfNextFiscalYear,
            "2026-03-31",
            "2026-04-01",
        ),
        (
            EffectiveRule::FirstOfNextFiscalYear,
            "2026-04-01",
            "2027-04-01",
        ),
    ] {
        assert_eq!(
            rule.earliest(day(approved)),
            day(earliest),
            "{rule:?} {approved}"
        );
    }
}

#[test]
fn join_through_three_levels_starts_together_and_assigns_a_member_id() {
    let reg: Vec<Membership> = Vec::new();
    let mut p =
        Procedure::file(join_all(Some("P13-0001")), None, &ctx("2026-05-10", &reg)).unwrap();
    assert_eq!(p.due(), [(code("P13-0001"), DueAction::Approve)]);
    // the prefecture cannot act before the county
    assert_eq!(
        p.apply(
            &Action::Approve { by: code("P13") },
            &ctx("2026-05-10", &reg)
        ),
        Err(ProcedureError::NotDue)
    );
    let fx = p
        .apply(
            &Action::Approve {
                by: code("P13-0001"),
            },
            &ctx("2026-05-10", &reg),
        )
        .unwrap();
    assert!(
        fx.changes.is_empty(),
        "nothing is written before the last level approves"
    );
    assert_eq!(p.due(), [(code("P13"), DueAction::Approve)]);
    p.apply(
        &Action::Approve { by: code("P13") },
        &ctx("2026-05-20", &reg),
    )
    .unwrap();
    let fx = p
        .apply(
            &Action::Approve {
                by: AssociationCode::jma(),
            },
            &ctx("2026-06-03", &reg),
        )
        .unwrap();
    assert_eq!(p.status, ProcedureStatus::Completed);
    assert_eq!(p.effective_on, Some(day("2026-07-01")));
    assert!(fx.assign_member_id);
    let starts: Vec<(String, NaiveDate)> = fx
        .changes
        .iter()
        .map(|c| match c {
            Change::Start(m) => (m.association.to_string(), m.joined_on),
            Change::End { .. } => panic!("a join ends nothing"),
        })
        .collect();
    assert_eq!(
        starts,
        [
            ("P13-0001".into(), day("2026-07-01")),
            ("P13".into(), day("2026-07-01")),
            ("JMA".into(), day("2026-07-01"))
        ]
    );
    assert!(p.due().is_empty());
}

#[test]
fn a_return_writes_nothing_and_the_doctor_may_answer_or_drop_the_level() {
    let reg: Vec<Membership> = Vec::new();
    let c = ctx("2026-05-10", &reg);
    let mut p = Procedure::file(join_all(Some("P13-0001")), None, &c).unwrap();
    p.apply(
        &Action::Approve {
            by: code("P13-0001"),
        },
        &c,
    )
    .unwrap();
    assert_eq!(
        p.apply(
            &Action::Return {
                by: code("P13"),
                reason: "  ".into()
            },
            &c
        ),
        Err(ProcedureError::EmptyReason)
    );
    let fx = p
        .apply(
            &Action::Return {
                by: code("P13"),
                reason: "勤務先を確認".into(),
            },
            &c,
        )
        .unwrap();
    assert_eq!(fx, Effects::default());
    assert!(p.due().is_empty(), "waits for the doctor");
    assert_eq!(p.returned().map(|(_, r)| r), Some("勤務先を確認"));
    p.apply(
        &Action::Answer {
            reply: "訂正しました".into(),
        },
        &c,
    )
    .unwrap();
    assert_eq!(p.due(), [(code("P13"), DueAction::Approve)]);
    p.apply(&Action::Approve { by: code("P13") }, &c).unwrap();
    // the JMA returns; the doctor drops the JMA and the county and prefecture approvals stand
    p.apply(
        &Action::Return {
            by: AssociationCode::jma(),
            reason: "区分".into(),
        },
        &c,
    )
    .unwrap();
    let fx = p.apply(&Action::DropLevel, &c).unwrap();
    assert_eq!(p.status, ProcedureStatus::Completed);
    assert!(!fx.assign_member_id);
    assert_eq!(fx.changes.len(), 2);
}

#[test]
fn the_county_level_cannot_be_dropped_and_an_unknown_county_is_routed() {
    let reg: Vec<Membership> = Vec::new();
    let c = ctx("2026-05-10", &reg);
    let mut p = Procedure::file(join_all(None), None, &c).unwrap();
    assert_eq!(p.due(), [(code("P13"), DueAction::Route)]);
    assert_eq!(
        p.apply(
            &Action::Route {
                by: code("P13"),
                to: code("P27-0001")
            },
            &c
        ),
        Err(ProcedureError::OutsidePrefecture)
    );
    p.apply(
        &Action::Route {
            by: code("P13"),
            to: code("P13-0002"),
        },
        &c,
    )
    .unwrap();
    assert_eq!(p.due(), [(code("P13-0002"), DueAction::Approve)]);
    // misrouted: P13-0002 forwards it to P13-0001, which then decides
    p.apply(
        &Action::Forward {
            by: code("P13-0002"),
            to: code("P13-0001"),
        },
        &c,
    )
    .unwrap();
    assert_eq!(p.due(), [(code("P13-0001"), DueAction::Approve)]);
    assert!(
        p.parties.contains(&code("P13-0002")),
        "the forwarding county keeps its part"
    );
    p.apply(
        &Action::Return {
            by: code("P13-0001"),
            reason: "免許証の写し".into(),
        },
        &c,
    )
    .unwrap();
    assert_eq!(
        p.apply(&Action::DropLevel, &c),
        Err(ProcedureError::CannotDrop)
    );
    p.apply(&Action::Cancel, &c).unwrap();
    assert_eq!(p.status, ProcedureStatus::Cancelled);
    assert_eq!(
        p.apply(&Action::Answer { reply: "x".into() }, &c),
        Err(ProcedureError::Closed)
    );
}

#[test]
fn a_transfer_tokyo_to_osaka_ends_and_starts_on_one_day_and_keeps_the_jma() {
    let reg = vec![
        m("P13-0001", "regular", "2020-04-01", None),
        m("P13", "regular", "2020-04-01", None),
        m("JMA", "B", "2020-04-01", None),
    ];
    let c = ctx("2026-05-10", &reg);
    let req = Request::Transfer {
        from_county: code("P13-0001"),
        to_county: code("P27-0001"),
        county_class: class("general"),
        prefecture_class: Some(class("general")),
    };
    let mut p = Procedure::file(req, None, &c).unwrap();
    assert_eq!(
        p.due(),
        [
            (code("P27-0001"), DueAction::Approve),
            (code("P13-0001"), DueAction::Acknowledge),
            (code("P13"), DueAction::Acknowledge)
        ]
    );
    p.apply(
        &Action::Approve {
            by: code("P27-0001"),
        },
        &c,
    )
    .unwrap();
    p.apply(
        &Action::Acknowledge {
            by: code("P13-0001"),
        },
        &c,
    )
    .unwrap();
    let fx = p.apply(&Action::Approve { by: code("P27") }, &c).unwrap();
    assert!(
        fx.changes.is_empty(),
        "the sending prefecture has not acknowledged yet"
    );
    let fx = p.apply(&Action::Lapse, &ctx("2026-05-25", &reg)).unwrap();
    assert!(fx.notify_jma);
    assert_eq!(p.effective_on, Some(day("2026-06-01")));
    let after = apply_changes(&reg, &fx.changes).unwrap();
    let on = |d: &str| -> Vec<String> {
        let mut v: Vec<String> = after
            .iter()
            .filter(|m| m.active_on(day(d)))
            .map(|m| m.association.to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(on("2026-05-31"), ["JMA", "P13", "P13-0001"]);
    assert_eq!(on("2026-06-01"), ["JMA", "P27", "P27-0001"]);
    assert!(
        !fx.changes
            .iter()
            .any(|c| matches!(c, Change::Start(m) if m.association == AssociationCode::jma()))
    );
}

#[test]
fn filing_checks_the_register() {
    let reg = vec![
        m("P13-0001", "regular", "2020-04-01", None),
        m("P13", "regular", "2020-04-01", None),
    ];
    let c = ctx("2026-05-10", &reg);
    assert_eq!(
        Procedure::file(join_all(Some("P13-0001")), None, &c).unwrap_err(),
        ProcedureError::AlreadyMember(AssociationLevel::County)
    );
    let jma_only = Request::Join {
        prefecture: code("P13"),
        county: None,
        classes: JoinClasses {
            county: None,
            prefecture: None,
            jma: Some(MemberClass::A1),
        },
    };
    let p = Procedure::file(jma_only.clone(), None, &c).unwrap();
    assert_eq!(
        p.due(),
        [(code("P13-0001"), DueAction::Approve)],
        "the county files it"
    );
    assert_eq!(
        Procedure::file(jma_only, None, &ctx("2026-05-10", &[])).unwrap_err(),
        ProcedureError::NotMember(AssociationLevel::Prefecture)
    );
    let skipping = Request::Join {
        prefecture: code("P13"),
        county: Some(code("P13-0001")),
        classes: JoinClasses {
            county: Some(class("x")),
            prefecture: None,
            jma: Some(MemberClass::A1),
        },
    };
    assert_eq!(
        Procedure::file(skipping, None, &ctx("2026-05-10", &[])).unwrap_err(),
        ProcedureError::LevelsNotNested
    );
    assert_eq!(
        Procedure::file(
            Request::Withdrawal {
                from: AssociationLevel::Jma
            },
            None,
            &c
        )
        .unwrap_err(),
        ProcedureError::NotMember(AssociationLevel::Jma)
    );
    let same = Request::ClassChange {
        changes: vec![(code("P13"), class("regular"))],
    };
    assert_eq!(
        Procedure::file(same, None, &c).unwrap_err(),
        ProcedureError::NothingToChange
    );
}

#[test]
fn a_withdrawal_ends_the_level_and_everything_above_on_the_wished_date() {
    let reg = vec![
        m("P13-0001", "regular", "2020-04-01", None),
        m("P13", "regular", "2020-04-01", None),
        m("JMA", "B", "2020-04-01", None),
    ];
    let c = ctx("2026-02-10", &reg);
    let mut p = Procedure::file(
        Request::Withdrawal {
            from: AssociationLevel::Prefecture,
        },
        Some(day("2026-04-01")),
        &c,
    )
    .unwrap();
    for by in ["P13-0001", "P13", "JMA"] {
        p.apply(&Action::Approve { by: code(by) }, &c)
            .unwrap_or_else(|e| panic!("{by}: {e}"));
    }
    assert_eq!(p.effective_on, Some(day("2026-04-01")));
    assert_eq!(
        p.apply(&Action::Cancel, &c),
        Err(ProcedureError::Closed),
        "too late to cancel"
    );
    // a per-association rule later than the wish wins
    let rules = [(code("P13"), EffectiveRule::FirstOfNextFiscalYear)];
    let c = Ctx {
        today: day("2026-04-10"),
        register: &reg,
        rules: &rules,
    };
    let mut p = Procedure::file(
        Request::Withdrawal {
            from: AssociationLevel::Jma,
        },
        None,
        &c,
    )
    .unwrap();
    p.apply(
        &Action::Approve {
            by: code("P13-0001"),
        },
        &c,
    )
    .unwrap();
    let fx = p
        .apply(
            &Action::Approve {
                by: AssociationCode::jma(),
            },
            &c,
        )
        .unwrap();
    assert_eq!(
        p.effective_on,
        Some(day("2026-05-01")),
        "P13 is not involved in a JMA withdrawal"
    );
    assert_eq!(fx.changes.len(), 1);
}

#[test]
fn death_ends_everything_the_day_after() {
    let reg = vec![
        m("P13-0001", "regular", "2020-04-01", None),
        m("P13", "regular", "2020-04-01", Some("2025-04-01")),
    ];
    let ch = death_changes(&reg, day("2026-05-10")).unwrap();
    assert_eq!(
        ch,
        [Change::End {
            association: code("P13-0001"),
            joined_on: day("2020-04-01"),
            left_on: day("2026-05-11")
        }]
    );
    let future = vec![m("P13-0001", "regular", "2026-06-01", None)];
    assert!(death_changes(&future, day("2026-05-10")).is_err());
}

// ---------------------------------------------------------------------------------------------
// Property tests against a naive model.

const COUNTIES: [&str; 3] = ["P13-0001", "P13-0002", "P27-0001"];

#[derive(Debug, Clone)]
enum Op {
    Advance(i64),
    FileJoin {
        county: usize,
        lowest: usize,
        highest: usize,
        wish: Option<i64>,
    },
    FileTransfer {
        to: usize,
    },
    FileClassChange {
        level: usize,
        k: u8,
    },
    FileWithdrawal {
        from: usize,
        wish: Option<i64>,
    },
    Approve(usize),
    /// Approves, routes or acknowledges as whoever the `i`-th due action belongs to.
    ApproveDue(usize),
    Return(usize),
    Route(usize),
    Forward(usize),
    Acknowledge(usize),
    Lapse,
    Answer,
    Drop,
    Cancel,
}

/// The associations staff may act for in the tests.
fn actor(i: usize) -> AssociationCode {
    code(["P13-0001", "P13-0002", "P27-0001", "P13", "P27", "JMA"][i % 6])
}

fn level_of(i: usize) -> AssociationLevel {
    [
        AssociationLevel::County,
        AssociationLevel::Prefecture,
        AssociationLevel::Jma,
    ][i % 3]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0i64..45).prop_map(Op::Advance),
        2 => (0usize..4, 0usize..3, 0usize..3, proptest::option::of(0i64..400))
            .prop_map(|(county, lowest, highest, wish)| Op::FileJoin { county, lowest, highest, wish }),
        1 => (0usize..3).prop_map(|to| Op::FileTransfer { to }),
        1 => (0usize..3, 0u8..3).prop_map(|(level, k)| Op::FileClassChange { level, k }),
        1 => (0usize..3, proptest::option::of(0i64..400))
            .prop_map(|(from, wish)| Op::FileWithdrawal { from, wish }),
        3 => (0usize..6).prop_map(Op::Approve),
        6 => (0usize..4).prop_map(Op::ApproveDue),
        1 => (0usize..6).prop_map(Op::Return),
        1 => (0usize..3).prop_map(Op::Route),
        1 => (0usize..3).prop_map(Op::Forward),
        2 => (0usize..6).prop_map(Op::Acknowledge),
        1 => Just(Op::Lapse),
        1 => Just(Op::Answer),
        1 => Just(Op::Drop),
        1 => Just(Op::Cancel),
    ]
}

fn rule() -> impl Strategy<Value = EffectiveRule> {
    prop_oneof![
        Just(EffectiveRule::FirstOfNextMonth),
        Just(EffectiveRule::NextDay),
        Just(EffectiveRule::FirstOfNextFiscalYear)
    ]
}

/// The naive rule: walk forward day by day to the first day the rule allows.
fn naive_earliest(rule: EffectiveRule, approved: NaiveDate) -> NaiveDate {
    let mut d = approved + Duration::days(1);
    loop {
        let ok = match rule {
            EffectiveRule::NextDay => true,
            EffectiveRule::FirstOfNextMonth => d.day() == 1,
            EffectiveRule::FirstOfNextFiscalYear => d.day() == 1 && d.month() == 4,
        };
        if ok {
            return d;
        }
        d += Duration::days(1);
    }
}

type DaySet = BTreeSet<(String, String)>;

/// What the register holds on a day, as (association, class) pairs.
fn on_day(ms: &[Membership], d: NaiveDate) -> DaySet {
    ms.iter()
        .filter(|m| m.joined_on <= d && m.left_on.is_none_or(|l| d < l))
        .map(|m| (m.association.to_string(), m.class.to_string()))
        .collect()
}

fn lvl(code: &str) -> usize {
    if code == "JMA" {
        2
    } else if code.len() == 3 {
        1
    } else {
        0
    }
}

/// The rule text, day by day: at most one membership per level; a JMA membership needs a
/// prefectural one; a prefectural one needs a county one in that prefecture.
fn naive_ok(s: &DaySet) -> bool {
    let at = |l: usize| {
        s.iter()
            .filter(|(a, _)| lvl(a) == l)
            .map(|(a, _)| a.clone())
            .collect::<Vec<_>>()
    };
    let (c, p, j) = (at(0), at(1), at(2));
    if c.len() > 1 || p.len() > 1 || j.len() > 1 {
        return false;
    }
    if !j.is_empty() && p.is_empty() {
        return false;
    }
    if let Some(p) = p.first()
        && !c.iter().any(|c| c.starts_with(&format!("{p}-")))
    {
        return false;
    }
    true
}

/// What the rule text says the register holds on day `d` after a completed procedure effective
/// on `e`, given what it held that day and the day before `e`; `None` when the rule cannot apply
/// (nothing to end, or a membership that has not started by `e`: none ends before it starts).
///
/// A transfer or class change acts on the membership held on `e` (`at_e`), which must have
/// started before `e` and must still be there on every later day: it is carried on, never past
/// an end already approved.
fn naive_after(
    p: &Procedure,
    before: &DaySet,
    [eve, at_e]: [&DaySet; 2],
    d: NaiveDate,
    e: NaiveDate,
) -> Option<DaySet> {
    if d < e {
        return Some(before.clone());
    }
    let mut s = before.clone();
    let swap = |s: &mut DaySet, level: usize, to: String, class: String| -> Option<()> {
        let old = at_e.iter().find(|(a, _)| lvl(a) == level)?.clone();
        if !eve.contains(&old) || !s.contains(&old) {
            return None;
        }
        s.remove(&old);
        s.insert((to, class));
        Some(())
    };
    match &p.request {
        Request::Join {
            prefecture,
            county,
            classes,
        } => {
            if let (Some(c), Some(k)) = (county, &classes.county) {
                s.insert((c.to_string(), k.to_string()));
            }
            if let Some(k) = &classes.prefecture {
                s.insert((prefecture.to_string(), k.to_string()));
            }
            if let Some(k) = classes.jma {
                s.insert(("JMA".into(), k.as_str().into()));
            }
        }
        Request::Transfer {
            to_county,
            county_class,
            prefecture_class,
            ..
        } => {
            swap(&mut s, 0, to_county.to_string(), county_class.to_string())?;
            if let Some(k) = prefecture_class {
                swap(&mut s, 1, to_county.as_str()[..3].to_owned(), k.to_string())?;
            }
        }
        Request::ClassChange { changes } => {
            for (a, k) in changes {
                swap(&mut s, lvl(a.as_str()), a.to_string(), k.to_string())?;
            }
        }
        Request::NameChange(_) => {}
        Request::Withdrawal { from } => {
            let from = match from {
                AssociationLevel::County => 0,
                AssociationLevel::Prefecture => 1,
                AssociationLevel::Jma => 2,
            };
            if s.iter().any(|x| lvl(&x.0) >= from && !eve.contains(x)) {
                return None;
            }
            s.retain(|(a, _)| lvl(a) < from);
        }
    }
    Some(s)
}

struct World {
    today: NaiveDate,
    register: Vec<Membership>,
    procedure: Option<Procedure>,
    rules: Vec<(AssociationCode, EffectiveRule)>,
}

const HORIZON_DAYS: i64 = 3 * 365 + 200;

fn start() -> NaiveDate {
    day("2026-04-01")
}

fn days() -> impl Iterator<Item = NaiveDate> {
    (0..HORIZON_DAYS).map(|i| day("2025-10-01") + Duration::days(i))
}

impl World {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            today: self.today,
            register: &self.register,
            rules: &self.rules,
        }
    }

    fn held(&self, level: AssociationLevel) -> Option<&Membership> {
        held_at(&self.register, level, self.today)
    }

    fn file(&mut self, request: Request, wish: Option<i64>) {
        if self
            .procedure
            .as_ref()
            .is_some_and(|p| p.status == ProcedureStatus::Open)
        {
            return;
        }
        let wished = wish.map(|w| self.today + Duration::days(w));
        if let Ok(p) = Procedure::file(request, wished, &self.ctx()) {
            assert!(!p.due().is_empty(), "a filed procedure waits for someone");
            self.procedure = Some(p);
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let action = match op {
            Op::Advance(n) => {
                self.today += Duration::days(*n);
                return Ok(());
            }
            Op::FileJoin {
                county,
                lowest,
                highest,
                wish,
            } => {
                let (lo, hi) = (*lowest.min(highest), *lowest.max(highest));
                let has = |l: usize| (lo..=hi).contains(&l);
                let pref = if *county == 2 { "P27" } else { "P13" };
                let req = Request::Join {
                    prefecture: code(pref),
                    county: COUNTIES.get(*county).map(|c| code(c)),
                    classes: JoinClasses {
                        county: has(0).then(|| class("regular")),
                        prefecture: has(1).then(|| class("regular")),
                        jma: has(2).then_some(MemberClass::B),
                    },
                };
                self.file(req, *wish);
                return Ok(());
            }
            Op::FileTransfer { to } => {
                if let Some(from) = self.held(AssociationLevel::County) {
                    let to = code(COUNTIES[*to]);
                    let moves = self
                        .held(AssociationLevel::Prefecture)
                        .is_some_and(|p| !p.association.contains(&to));
                    let req = Request::Transfer {
                        from_county: from.association.clone(),
                        to_county: to,
                        county_class: class("moved"),
                        prefecture_class: moves.then(|| class("moved")),
                    };
                    self.file(req, None);
                }
                return Ok(());
            }
            Op::FileClassChange { level, k } => {
                if let Some(h) = self.held(level_of(*level)) {
                    let k = if h.level() == AssociationLevel::Jma {
                        ClassCode::from(
                            [MemberClass::A1, MemberClass::A2B, MemberClass::C][usize::from(*k)],
                        )
                    } else {
                        class(["regular", "senior", "moved"][usize::from(*k)])
                    };
                    let req = Request::ClassChange {
                        changes: vec![(h.association.clone(), k)],
                    };
                    self.file(req, None);
                }
                return Ok(());
            }
            Op::FileWithdrawal { from, wish } => {
                self.file(
                    Request::Withdrawal {
                        from: level_of(*from),
                    },
                    *wish,
                );
                return Ok(());
            }
            Op::Approve(i) => Action::Approve { by: actor(*i) },
            Op::ApproveDue(i) => {
                let due = self
                    .procedure
                    .as_ref()
                    .map(Procedure::due)
                    .unwrap_or_default();
                let Some((by, what)) = due.get(i % due.len().max(1)).cloned() else {
                    return Ok(());
                };
                match what {
                    DueAction::Approve => Action::Approve { by },
                    DueAction::Acknowledge => Action::Acknowledge { by },
                    DueAction::Route => {
                        let to = COUNTIES.iter().map(|c| code(c)).find(|c| by.contains(c));
                        Action::Route {
                            by,
                            to: to.unwrap_or_else(|| actor(0)),
                        }
                    }
                }
            }
            Op::Return(i) => Action::Return {
                by: actor(*i),
                reason: "確認".into(),
            },
            Op::Route(i) => Action::Route {
                by: actor(3 + usize::from(*i == 2)),
                to: code(COUNTIES[*i]),
            },
            Op::Forward(i) => {
                let by = self
                    .procedure
                    .as_ref()
                    .and_then(|p| p.due().into_iter().next())
                    .map(|(a, _)| a)
                    .unwrap_or_else(|| actor(0));
                Action::Forward {
                    by,
                    to: code(COUNTIES[*i]),
                }
            }
            Op::Acknowledge(i) => Action::Acknowledge { by: actor(*i) },
            Op::Lapse => Action::Lapse,
            Op::Answer => Action::Answer {
                reply: "回答".into(),
            },
            Op::Drop => Action::DropLevel,
            Op::Cancel => Action::Cancel,
        };
        let Some(mut p) = self.procedure.clone() else {
            return Ok(());
        };
        let before_p = p.clone();
        // the register does not change until a completion is checked below
        let before = || -> Vec<DaySet> { days().map(|d| on_day(&self.register, d)).collect() };
        let was_open = p.status == ProcedureStatus::Open;
        match p.apply(&action, &self.ctx()) {
            Err(e) => {
                prop_assert_eq!(&p, &before_p, "a refusal changes nothing");
                if std::env::var_os("MAMIS_PROPTEST_TRACE").is_some() {
                    eprintln!(
                        "refused {e:?} {:?} {:?} reg={:?}",
                        self.today, before_p.request, self.register
                    );
                }
                // a refusal at completion must be one the rule text also refuses
                if let ProcedureError::Register(_) = e {
                    let mut done = before_p.clone();
                    done.status = ProcedureStatus::Completed;
                    let e = done.effective_date(&self.ctx());
                    let eve = on_day(&self.register, e - Duration::days(1));
                    let at_e = on_day(&self.register, e);
                    let naive: Option<Vec<DaySet>> = days()
                        .zip(&before())
                        .map(|(d, s)| naive_after(&done, s, [&eve, &at_e], d, e))
                        .collect();
                    prop_assert!(
                        naive.is_none_or(|v| v.iter().any(|s| !naive_ok(s))),
                        "refused although the rule text allows it: {:?}",
                        action
                    );
                }
            }
            Ok(fx) => {
                if p.status != ProcedureStatus::Completed {
                    prop_assert_eq!(
                        &fx,
                        &Effects::default(),
                        "nothing is written before completion"
                    );
                }
                if matches!(action, Action::Return { .. }) {
                    prop_assert!(fx.changes.is_empty(), "a return writes nothing");
                }
                if was_open && p.status == ProcedureStatus::Completed {
                    // the effective date: the latest any involved association requires
                    let e = p.effective_on.unwrap();
                    let naive_e = p
                        .steps
                        .iter()
                        .filter(|s| s.state != StepState::Dropped)
                        .filter_map(|s| s.association.as_ref())
                        .map(|a| {
                            let r = self
                                .rules
                                .iter()
                                .find(|(c, _)| c == a)
                                .map(|(_, r)| *r)
                                .unwrap_or_default();
                            naive_earliest(r, self.today)
                        })
                        .chain(p.wished_on)
                        .max()
                        .unwrap();
                    prop_assert_eq!(e, naive_e);
                    let after = apply_changes(&self.register, &fx.changes)
                        .map_err(|e| TestCaseError::fail(format!("unchecked effects: {e}")))?;
                    if std::env::var_os("MAMIS_PROPTEST_TRACE").is_some() {
                        eprintln!("completed {:?}", p.request.kind());
                    }
                    let eve = on_day(&self.register, e - Duration::days(1));
                    let at_e = on_day(&self.register, e);
                    for (d, s) in days().zip(&before()) {
                        let want = naive_after(&p, s, [&eve, &at_e], d, e);
                        prop_assert_eq!(
                            Some(on_day(&after, d)),
                            want,
                            "day {} after {:?}",
                            d,
                            p.request
                        );
                    }
                    prop_assert_eq!(
                        fx.assign_member_id,
                        matches!(&p.request, Request::Join { classes, .. } if classes.jma.is_some())
                    );
                    self.register = after;
                }
            }
        }
        self.procedure = Some(p);
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for d in days() {
            let s = on_day(&self.register, d);
            prop_assert!(naive_ok(&s), "day {d}: {s:?}");
        }
        for l in [
            AssociationLevel::County,
            AssociationLevel::Prefecture,
            AssociationLevel::Jma,
        ] {
            let open = self
                .register
                .iter()
                .filter(|m| m.level() == l && m.left_on.is_none())
                .count();
            prop_assert!(open <= 1, "two open memberships at {l:?}");
        }
        Ok(())
    }
}

fn seed_register(kind: u8) -> Vec<Membership> {
    match kind {
        0 => Vec::new(),
        1 => vec![m("P13-0001", "regular", "2020-04-01", None)],
        2 => vec![
            m("P13-0002", "regular", "2020-04-01", None),
            m("P13", "regular", "2020-04-01", None),
        ],
        _ => vec![
            m("P13-0001", "regular", "2020-04-01", None),
            m("P13", "regular", "2020-04-01", None),
            m("JMA", "B", "2020-04-01", None),
        ],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_keeps_the_register_nested_and_matches_the_rule_text(
        seed in 0u8..4,
        rules in proptest::collection::vec(rule(), 6),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut w = World {
            today: start(),
            register: seed_register(seed),
            procedure: None,
            rules: (0..6).map(actor).zip(rules).collect(),
        };
        w.check()?;
        for o in &ops {
            w.step(o)?;
            w.check()?;
        }
    }
}
