//! The procedure state machine: filing, each level's decision, the doctor's answers, and the
//! register changes of completion (PRODUCT §3; domain-research §1.1: filed at the county of the
//! workplace, approved county → prefecture → JMA, nesting held at every instant).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::timeline::{Change, TimelineError, apply_changes, held_at, replace};
use super::{DueAction, EffectiveRule, ProcedureKind, ProcedureStatus};
use crate::association::{AssociationCode, AssociationLevel};
use crate::ids::KanaName;
use crate::membership::{ClassCode, MemberClass, Membership};

/// Levels from the bottom of the tree up, the order approvals run in.
fn rank(l: AssociationLevel) -> u8 {
    match l {
        AssociationLevel::County => 0,
        AssociationLevel::Prefecture => 1,
        AssociationLevel::Jma => 2,
    }
}

/// The classes a joining doctor asks for, one per level applied for; the levels with a class
/// are the levels applied for. A JMA class A1, A2(B) or A2(C) includes the JMA liability
/// insurance (domain-research §1.2), so the insurance choice is the class choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClasses {
    /// The county association's own class, when the county is applied for.
    pub county: Option<ClassCode>,
    /// The prefectural association's own class, when applied for.
    pub prefecture: Option<ClassCode>,
    /// The JMA class, when the JMA is applied for.
    pub jma: Option<MemberClass>,
}

/// A doctor's names after a name change (改姓), proven by evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNames {
    /// 氏 in kanji.
    pub family_name: String,
    /// 名 in kanji.
    pub given_name: String,
    /// 氏カナ.
    pub family_kana: KanaName,
    /// 名カナ.
    pub given_kana: KanaName,
}

/// What the doctor asked for; fixed at filing except where a level routes or forwards it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// 入会 at the county (chosen, or 「わからない」 = `None`), and possibly the prefecture and JMA.
    Join {
        /// The prefecture of the workplace; it routes an unknown county.
        prefecture: AssociationCode,
        /// The county of the workplace, `None` for 「わからない」 until the prefecture routes it.
        county: Option<AssociationCode>,
        /// The class asked for at each level applied for.
        classes: JoinClasses,
    },
    /// 異動 to another county (and its prefecture when it lies in another one).
    Transfer {
        /// The county left.
        from_county: AssociationCode,
        /// The county joined; the application is filed with it.
        to_county: AssociationCode,
        /// The class in the new county.
        county_class: ClassCode,
        /// The class in the new prefecture, when the doctor is a prefectural member and moves
        /// to another prefecture.
        prefecture_class: Option<ClassCode>,
    },
    /// A change of class in the associations named.
    ClassChange {
        /// The new class per association held.
        changes: Vec<(AssociationCode, ClassCode)>,
    },
    /// A change of name, effective at the county's approval.
    NameChange(NewNames),
    /// 退会 from a level and every level above it.
    Withdrawal {
        /// The lowest level left.
        from: AssociationLevel,
    },
}

impl Request {
    /// The kind stored beside the state.
    pub fn kind(&self) -> ProcedureKind {
        match self {
            Self::Join { .. } => ProcedureKind::Join,
            Self::Transfer { .. } => ProcedureKind::Transfer,
            Self::ClassChange { .. } => ProcedureKind::ClassChange,
            Self::NameChange(_) => ProcedureKind::NameChange,
            Self::Withdrawal { .. } => ProcedureKind::Withdrawal,
        }
    }
}

/// Whether a level decides (approves or returns) or only takes note (a transfer's sending side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepRole {
    /// Approves or returns with a reason, in order from the county up.
    Approve,
    /// Acknowledges a member leaving; lapses by itself after N days.
    Acknowledge,
}

/// Where one level stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepState {
    /// Not decided yet.
    Waiting,
    /// Approved on this Japan date.
    Approved(NaiveDate),
    /// Returned with a reason the doctor sees; waits for the doctor's answer.
    Returned(String),
    /// Acknowledged on this date, by staff or because N days passed (`lapsed`).
    Acknowledged {
        /// The Japan date.
        on: NaiveDate,
        /// True when nobody acted and the acknowledgement lapsed.
        lapsed: bool,
    },
    /// Dropped by the doctor after a return; nothing happens at this level.
    Dropped,
}

/// One level's part in a procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The level.
    pub level: AssociationLevel,
    /// The association; `None` for a 「わからない」 county until the prefecture routes it.
    pub association: Option<AssociationCode>,
    /// Decides, or takes note.
    pub role: StepRole,
    /// Where it stands.
    pub state: StepState,
    /// Whether this level's membership is what the doctor applied for (a join's or class
    /// change's level, a withdrawn level); the county may only be the filing point.
    pub applied: bool,
}

/// What a level, the doctor or the system does to a procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// The association whose approval is due approves.
    Approve {
        /// The association acting.
        by: AssociationCode,
    },
    /// The association whose approval is due returns it with a reason; nothing is written.
    Return {
        /// The association acting.
        by: AssociationCode,
        /// What the doctor should correct or answer.
        reason: String,
    },
    /// The doctor answers a return; the level that returned it decides again.
    Answer {
        /// The doctor's reply.
        reply: String,
    },
    /// The doctor drops the level that returned a join, and every level above it; the lower
    /// approvals stand.
    DropLevel,
    /// The prefecture routes a 「わからない」 join to one of its counties.
    Route {
        /// The prefecture acting.
        by: AssociationCode,
        /// The county chosen.
        to: AssociationCode,
    },
    /// A county forwards a misrouted join to another county of its prefecture.
    Forward {
        /// The county acting.
        by: AssociationCode,
        /// The county it belongs to.
        to: AssociationCode,
    },
    /// A sending county or prefecture takes note of a transfer.
    Acknowledge {
        /// The association acting.
        by: AssociationCode,
    },
    /// The system: every acknowledgement still waiting has waited N days and lapses.
    Lapse,
    /// The doctor (or staff on a paper request) withdraws the application.
    Cancel,
}

/// Why an action or filing was refused; the procedure and register are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ProcedureError {
    /// The procedure is completed or cancelled.
    #[error("the procedure is already closed")]
    Closed,
    /// This association has nothing to do on the procedure now.
    #[error("nothing is due from this association")]
    NotDue,
    /// An answer or drop without a return waiting for the doctor.
    #[error("the procedure is not returned")]
    NotReturned,
    /// Only a join's higher level that returned it can be dropped.
    #[error("this level cannot be dropped")]
    CannotDrop,
    /// A return needs a reason the doctor can act on.
    #[error("give the reason for the return")]
    EmptyReason,
    /// The county named is not a county of the prefecture concerned.
    #[error("choose a county of the same prefecture")]
    OutsidePrefecture,
    /// The doctor already holds a membership at this level.
    #[error("already a member at this level")]
    AlreadyMember(AssociationLevel),
    /// The doctor holds no membership at this level.
    #[error("not a member at this level")]
    NotMember(AssociationLevel),
    /// The levels applied for do not start at the lowest one not held, or skip one.
    #[error("apply for the levels in order: county, prefecture, JMA")]
    LevelsNotNested,
    /// A transfer to the county already held.
    #[error("the new county is the current one")]
    SameCounty,
    /// A class change that changes nothing, or names an association not held.
    #[error("nothing to change")]
    NothingToChange,
    /// The register would break a rule at some instant; says which and when.
    #[error("the register would not stand: {0}")]
    Register(TimelineError),
}

impl ProcedureError {
    /// A stable code for messages in the user's language (the text above is for logs).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::NotDue => "not-due",
            Self::NotReturned => "not-returned",
            Self::CannotDrop => "cannot-drop",
            Self::EmptyReason => "empty-reason",
            Self::OutsidePrefecture => "outside-prefecture",
            Self::AlreadyMember(_) => "already-member",
            Self::NotMember(_) => "not-member",
            Self::LevelsNotNested => "levels-not-nested",
            Self::SameCounty => "same-county",
            Self::NothingToChange => "nothing-to-change",
            Self::Register(_) => "register",
        }
    }
}

/// What a procedure's completion does beyond its membership changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    /// Membership rows started and ended, already checked at every instant.
    pub changes: Vec<Change>,
    /// A JMA membership starts: a doctor without a member ID gets the next one of the range.
    pub assign_member_id: bool,
    /// The names to write (an approved name change).
    pub rename: Option<NewNames>,
    /// The JMA is told (a transfer changes the affiliation it records).
    pub notify_jma: bool,
}

/// The circumstances of an action: the Japan date, the doctor's memberships as they stand, and
/// each association's effective-date rule (missing ones use the default).
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Today in Japan: approvals are dated with it.
    pub today: NaiveDate,
    /// The doctor's memberships as stored now.
    pub register: &'a [Membership],
    /// Configured effective-date rules.
    pub rules: &'a [(AssociationCode, EffectiveRule)],
}

impl Ctx<'_> {
    fn rule(&self, a: &AssociationCode) -> EffectiveRule {
        self.rules
            .iter()
            .find(|(c, _)| c == a)
            .map(|(_, r)| *r)
            .unwrap_or_default()
    }
}

/// One procedure: its request, each level's part, status and (once complete) effective date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// What was asked.
    pub request: Request,
    /// Each level's part, approvals in order from the county up, acknowledgements after.
    pub steps: Vec<Step>,
    /// Open, completed or cancelled.
    pub status: ProcedureStatus,
    /// The earliest date the doctor asked for (a withdrawal at the end of March).
    pub wished_on: Option<NaiveDate>,
    /// The date the changes took effect, once complete.
    pub effective_on: Option<NaiveDate>,
    /// Every association that has had a part, forwarded-from ones included: their staff see it.
    pub parties: Vec<AssociationCode>,
}

fn step(
    level: AssociationLevel,
    a: Option<AssociationCode>,
    role: StepRole,
    applied: bool,
) -> Step {
    Step {
        level,
        association: a,
        role,
        state: StepState::Waiting,
        applied,
    }
}

/// The approval chain of a procedure on held memberships: the county first (the filing point),
/// then each level above it that the procedure touches, upward.
fn chain(held_county: &Membership, touched: &[(AssociationLevel, AssociationCode)]) -> Vec<Step> {
    let mut out = vec![step(
        AssociationLevel::County,
        Some(held_county.association.clone()),
        StepRole::Approve,
        touched.iter().any(|(l, _)| *l == AssociationLevel::County),
    )];
    let mut above: Vec<&(AssociationLevel, AssociationCode)> = touched
        .iter()
        .filter(|(l, _)| *l != AssociationLevel::County)
        .collect();
    above.sort_by_key(|(l, _)| rank(*l));
    above.dedup_by_key(|(l, _)| *l);
    for (l, a) in above {
        out.push(step(*l, Some(a.clone()), StepRole::Approve, true));
    }
    out
}

/// A transfer or class change carries a membership on; one already due to end (a withdrawal or
/// an earlier transfer approved for a later date) is not carried over that end.
fn not_ending(m: &Membership) -> Result<(), ProcedureError> {
    match m.left_on {
        None => Ok(()),
        Some(_) => Err(ProcedureError::Register(TimelineError::AlreadyEnding(
            m.association.clone(),
        ))),
    }
}

impl Procedure {
    /// Files a request against the doctor's memberships today: refused when it cannot apply.
    pub fn file(
        request: Request,
        wished_on: Option<NaiveDate>,
        ctx: &Ctx<'_>,
    ) -> Result<Self, ProcedureError> {
        let held = |l| held_at(ctx.register, l, ctx.today);
        let steps = match &request {
            Request::Join {
                prefecture,
                county,
                classes,
            } => {
                if prefecture.level() != AssociationLevel::Prefecture {
                    return Err(ProcedureError::OutsidePrefecture);
                }
                let applied = [
                    (AssociationLevel::County, classes.county.is_some()),
                    (AssociationLevel::Prefecture, classes.prefecture.is_some()),
                    (AssociationLevel::Jma, classes.jma.is_some()),
                ];
                let wanted: Vec<AssociationLevel> = applied
                    .iter()
                    .filter(|(_, w)| *w)
                    .map(|(l, _)| *l)
                    .collect();
                let Some(lowest) = wanted.first().copied() else {
                    return Err(ProcedureError::LevelsNotNested);
                };
                // contiguous from the lowest level applied for
                if wanted
                    .iter()
                    .zip(wanted.iter().skip(1))
                    .any(|(a, b)| rank(*b) != rank(*a) + 1)
                {
                    return Err(ProcedureError::LevelsNotNested);
                }
                for l in &wanted {
                    if held(*l).is_some() {
                        return Err(ProcedureError::AlreadyMember(*l));
                    }
                }
                // everything below the lowest level applied for is held, in this prefecture
                let county_held = held(AssociationLevel::County);
                match lowest {
                    AssociationLevel::County => {}
                    AssociationLevel::Prefecture => {
                        if county_held.is_none_or(|c| !prefecture.contains(&c.association)) {
                            return Err(ProcedureError::NotMember(AssociationLevel::County));
                        }
                    }
                    AssociationLevel::Jma => {
                        if held(AssociationLevel::Prefecture)
                            .is_none_or(|p| &p.association != prefecture)
                        {
                            return Err(ProcedureError::NotMember(AssociationLevel::Prefecture));
                        }
                    }
                }
                let county = match (county_held, county) {
                    (Some(h), _) => Some(h.association.clone()),
                    (None, Some(c))
                        if prefecture.contains(c) && c.level() == AssociationLevel::County =>
                    {
                        Some(c.clone())
                    }
                    (None, Some(_)) => return Err(ProcedureError::OutsidePrefecture),
                    (None, None) => None,
                };
                let mut steps = vec![step(
                    AssociationLevel::County,
                    county,
                    StepRole::Approve,
                    classes.county.is_some(),
                )];
                if classes.prefecture.is_some() || classes.jma.is_some() {
                    steps.push(step(
                        AssociationLevel::Prefecture,
                        Some(prefecture.clone()),
                        StepRole::Approve,
                        classes.prefecture.is_some(),
                    ));
                }
                if classes.jma.is_some() {
                    steps.push(step(
                        AssociationLevel::Jma,
                        Some(AssociationCode::jma()),
                        StepRole::Approve,
                        true,
                    ));
                }
                steps
            }
            Request::Transfer {
                from_county,
                to_county,
                prefecture_class,
                ..
            } => {
                let county = held(AssociationLevel::County)
                    .ok_or(ProcedureError::NotMember(AssociationLevel::County))?;
                if &county.association != from_county {
                    return Err(ProcedureError::NotMember(AssociationLevel::County));
                }
                if to_county == from_county {
                    return Err(ProcedureError::SameCounty);
                }
                let to_pref = to_county
                    .prefecture_code()
                    .filter(|_| to_county.level() == AssociationLevel::County)
                    .ok_or(ProcedureError::OutsidePrefecture)?;
                let pref = held(AssociationLevel::Prefecture);
                let moves_prefecture = pref.is_some_and(|p| p.association != to_pref);
                if moves_prefecture != prefecture_class.is_some() {
                    return Err(ProcedureError::LevelsNotNested);
                }
                let mut steps = vec![step(
                    AssociationLevel::County,
                    Some(to_county.clone()),
                    StepRole::Approve,
                    true,
                )];
                if pref.is_some() {
                    steps.push(step(
                        AssociationLevel::Prefecture,
                        Some(to_pref.clone()),
                        StepRole::Approve,
                        moves_prefecture,
                    ));
                }
                steps.push(step(
                    AssociationLevel::County,
                    Some(from_county.clone()),
                    StepRole::Acknowledge,
                    false,
                ));
                if let Some(p) = pref.filter(|_| moves_prefecture) {
                    steps.push(step(
                        AssociationLevel::Prefecture,
                        Some(p.association.clone()),
                        StepRole::Acknowledge,
                        false,
                    ));
                }
                steps
            }
            Request::ClassChange { changes } => {
                let county = held(AssociationLevel::County)
                    .ok_or(ProcedureError::NotMember(AssociationLevel::County))?;
                if changes.is_empty() {
                    return Err(ProcedureError::NothingToChange);
                }
                let mut touched = Vec::new();
                for (a, class) in changes {
                    let m = held(a.level())
                        .filter(|m| &m.association == a)
                        .ok_or(ProcedureError::NothingToChange)?;
                    let jma_ok = a.level() != AssociationLevel::Jma || class.jma_class().is_some();
                    if &m.class == class || !jma_ok {
                        return Err(ProcedureError::NothingToChange);
                    }
                    if touched.iter().any(|(l, _)| *l == a.level()) {
                        return Err(ProcedureError::NothingToChange);
                    }
                    touched.push((a.level(), a.clone()));
                }
                chain(county, &touched)
            }
            Request::NameChange(_) => {
                let county = held(AssociationLevel::County)
                    .ok_or(ProcedureError::NotMember(AssociationLevel::County))?;
                chain(county, &[])
            }
            Request::Withdrawal { from } => {
                let county = held(AssociationLevel::County)
                    .ok_or(ProcedureError::NotMember(AssociationLevel::County))?;
                let touched: Vec<(AssociationLevel, AssociationCode)> = [
                    AssociationLevel::County,
                    AssociationLevel::Prefecture,
                    AssociationLevel::Jma,
                ]
                .into_iter()
                .filter(|l| rank(*l) >= rank(*from))
                .filter_map(|l| held(l).map(|m| (l, m.association.clone())))
                .collect();
                if !touched.iter().any(|(l, _)| l == from) {
                    return Err(ProcedureError::NotMember(*from));
                }
                chain(county, &touched)
            }
        };
        let mut p = Self {
            request,
            steps,
            status: ProcedureStatus::Open,
            wished_on,
            effective_on: None,
            parties: Vec::new(),
        };
        p.note_parties();
        Ok(p)
    }

    fn note_parties(&mut self) {
        let mut ps = self.parties.clone();
        ps.extend(self.steps.iter().filter_map(|s| s.association.clone()));
        if let Request::Join { prefecture, .. } = &self.request {
            ps.push(prefecture.clone());
        }
        ps.sort();
        ps.dedup();
        self.parties = ps;
    }

    /// Who must act now: the next approval (or the routing of an unknown county) and any
    /// acknowledgement not yet given. Empty while the doctor has to answer, or once closed.
    pub fn due(&self) -> Vec<(AssociationCode, DueAction)> {
        if self.status != ProcedureStatus::Open
            || self
                .steps
                .iter()
                .any(|s| matches!(s.state, StepState::Returned(_)))
        {
            return Vec::new();
        }
        let mut out = Vec::new();
        let next = self
            .steps
            .iter()
            .find(|s| s.role == StepRole::Approve && s.state == StepState::Waiting);
        match (next, &self.request) {
            (Some(s), _) if s.association.is_some() => {
                out.extend(s.association.clone().map(|a| (a, DueAction::Approve)));
            }
            (Some(_), Request::Join { prefecture, .. }) => {
                out.push((prefecture.clone(), DueAction::Route));
            }
            _ => {}
        }
        out.extend(
            self.steps
                .iter()
                .filter(|s| s.role == StepRole::Acknowledge && s.state == StepState::Waiting)
                .filter_map(|s| s.association.clone().map(|a| (a, DueAction::Acknowledge))),
        );
        out
    }

    /// The return waiting for the doctor's answer, if any.
    pub fn returned(&self) -> Option<(&Step, &str)> {
        self.steps.iter().find_map(|s| match &s.state {
            StepState::Returned(r) => Some((s, r.as_str())),
            _ => None,
        })
    }

    /// Applies an action: on success the procedure moves, and when it completes the effects
    /// say what to write; on refusal nothing changed.
    pub fn apply(&mut self, action: &Action, ctx: &Ctx<'_>) -> Result<Effects, ProcedureError> {
        if self.status != ProcedureStatus::Open {
            return Err(ProcedureError::Closed);
        }
        let mut next = self.clone();
        let due = next.due();
        let is_due =
            |a: &AssociationCode, what: DueAction| due.iter().any(|(c, d)| c == a && *d == what);
        match action {
            Action::Approve { by } | Action::Return { by, .. } | Action::Forward { by, .. } => {
                if !is_due(by, DueAction::Approve) {
                    return Err(ProcedureError::NotDue);
                }
                let idx = next
                    .steps
                    .iter()
                    .position(|s| {
                        s.role == StepRole::Approve
                            && s.state == StepState::Waiting
                            && s.association.as_ref() == Some(by)
                    })
                    .ok_or(ProcedureError::NotDue)?;
                match action {
                    Action::Approve { .. } => {
                        next.steps[idx].state = StepState::Approved(ctx.today)
                    }
                    Action::Return { reason, .. } => {
                        if reason.trim().is_empty() {
                            return Err(ProcedureError::EmptyReason);
                        }
                        next.steps[idx].state = StepState::Returned(reason.trim().to_owned());
                    }
                    Action::Forward { to, .. } => {
                        let same_pref = by.prefecture_code() == to.prefecture_code();
                        let join_county = matches!(next.request, Request::Join { .. })
                            && next.steps[idx].level == AssociationLevel::County
                            && next.steps[idx].applied;
                        if !join_county
                            || to.level() != AssociationLevel::County
                            || !same_pref
                            || to == by
                        {
                            return Err(ProcedureError::OutsidePrefecture);
                        }
                        next.steps[idx].association = Some(to.clone());
                        if let Request::Join { county, .. } = &mut next.request {
                            *county = Some(to.clone());
                        }
                    }
                    _ => {}
                }
            }
            Action::Route { by, to } => {
                if !is_due(by, DueAction::Route) {
                    return Err(ProcedureError::NotDue);
                }
                if to.level() != AssociationLevel::County || !by.contains(to) {
                    return Err(ProcedureError::OutsidePrefecture);
                }
                if let Some(s) = next.steps.iter_mut().find(|s| s.association.is_none()) {
                    s.association = Some(to.clone());
                }
                if let Request::Join { county, .. } = &mut next.request {
                    *county = Some(to.clone());
                }
            }
            Action::Acknowledge { by } => {
                if !is_due(by, DueAction::Acknowledge) {
                    return Err(ProcedureError::NotDue);
                }
                for s in next.steps.iter_mut().filter(|s| {
                    s.role == StepRole::Acknowledge && s.association.as_ref() == Some(by)
                }) {
                    s.state = StepState::Acknowledged {
                        on: ctx.today,
                        lapsed: false,
                    };
                }
            }
            Action::Lapse => {
                let mut any = false;
                for s in next
                    .steps
                    .iter_mut()
                    .filter(|s| s.role == StepRole::Acknowledge && s.state == StepState::Waiting)
                {
                    s.state = StepState::Acknowledged {
                        on: ctx.today,
                        lapsed: true,
                    };
                    any = true;
                }
                if !any {
                    return Err(ProcedureError::NotDue);
                }
            }
            Action::Answer { .. } => {
                let s = next
                    .steps
                    .iter_mut()
                    .find(|s| matches!(s.state, StepState::Returned(_)))
                    .ok_or(ProcedureError::NotReturned)?;
                s.state = StepState::Waiting;
            }
            Action::DropLevel => {
                let idx = next
                    .steps
                    .iter()
                    .position(|s| matches!(s.state, StepState::Returned(_)))
                    .ok_or(ProcedureError::NotReturned)?;
                let level = next.steps[idx].level;
                let lower_applied = next
                    .steps
                    .iter()
                    .any(|s| s.applied && rank(s.level) < rank(level));
                if !matches!(next.request, Request::Join { .. }) || !lower_applied {
                    return Err(ProcedureError::CannotDrop);
                }
                for s in next
                    .steps
                    .iter_mut()
                    .filter(|s| rank(s.level) >= rank(level))
                {
                    s.state = StepState::Dropped;
                }
                if let Request::Join { classes, .. } = &mut next.request {
                    if rank(level) <= rank(AssociationLevel::Prefecture) {
                        classes.prefecture = None;
                    }
                    classes.jma = None;
                }
            }
            Action::Cancel => {
                next.status = ProcedureStatus::Cancelled;
                next.note_parties();
                *self = next;
                return Ok(Effects::default());
            }
        }
        next.note_parties();
        let effects = if next.is_decided() {
            next.complete(ctx)?
        } else {
            Effects::default()
        };
        *self = next;
        Ok(effects)
    }

    fn is_decided(&self) -> bool {
        self.steps.iter().all(|s| match s.role {
            StepRole::Approve => matches!(s.state, StepState::Approved(_) | StepState::Dropped),
            StepRole::Acknowledge => matches!(s.state, StepState::Acknowledged { .. }),
        })
    }

    /// The effective date: the latest any involved association requires after today's final
    /// decision, and not before the date the doctor asked for.
    pub fn effective_date(&self, ctx: &Ctx<'_>) -> NaiveDate {
        self.steps
            .iter()
            .filter(|s| s.state != StepState::Dropped)
            .filter_map(|s| s.association.as_ref())
            .map(|a| ctx.rule(a).earliest(ctx.today))
            .chain(self.wished_on)
            .max()
            .unwrap_or(ctx.today)
    }

    /// Every level decided: works out the changes on the effective date and checks them at
    /// every instant; a refusal leaves the procedure as it was.
    fn complete(&mut self, ctx: &Ctx<'_>) -> Result<Effects, ProcedureError> {
        let on = self.effective_date(ctx);
        let held = |l| held_at(ctx.register, l, on);
        let mut fx = Effects::default();
        match &self.request {
            Request::Join {
                prefecture,
                county,
                classes,
            } => {
                let start = |a: &AssociationCode, c: ClassCode| {
                    Change::Start(Membership {
                        association: a.clone(),
                        class: c,
                        joined_on: on,
                        left_on: None,
                    })
                };
                if let (Some(c), Some(class)) = (county, &classes.county) {
                    fx.changes.push(start(c, class.clone()));
                }
                if let Some(class) = &classes.prefecture {
                    fx.changes.push(start(prefecture, class.clone()));
                }
                if let Some(class) = classes.jma {
                    fx.changes
                        .push(start(&AssociationCode::jma(), class.into()));
                    fx.assign_member_id = true;
                }
            }
            Request::Transfer {
                from_county,
                to_county,
                county_class,
                prefecture_class,
            } => {
                let old = held(AssociationLevel::County)
                    .filter(|m| &m.association == from_county)
                    .ok_or(ProcedureError::NotMember(AssociationLevel::County))?;
                not_ending(old)?;
                fx.changes
                    .extend(replace(old, to_county.clone(), county_class.clone(), on));
                if let Some(class) = prefecture_class {
                    let old = held(AssociationLevel::Prefecture)
                        .ok_or(ProcedureError::NotMember(AssociationLevel::Prefecture))?;
                    not_ending(old)?;
                    let to = to_county
                        .prefecture_code()
                        .ok_or(ProcedureError::OutsidePrefecture)?;
                    fx.changes.extend(replace(old, to, class.clone(), on));
                }
                fx.notify_jma = true;
            }
            Request::ClassChange { changes } => {
                for (a, class) in changes {
                    let old = held(a.level())
                        .filter(|m| &m.association == a)
                        .ok_or(ProcedureError::NotMember(a.level()))?;
                    not_ending(old)?;
                    fx.changes
                        .extend(replace(old, a.clone(), class.clone(), on));
                }
            }
            Request::NameChange(names) => fx.rename = Some(names.clone()),
            Request::Withdrawal { from } => {
                // every membership of the levels left that would still hold on the effective
                // date ends then; one that only starts later cannot, and the check refuses it
                for old in ctx
                    .register
                    .iter()
                    .filter(|m| rank(m.level()) >= rank(*from) && m.left_on.is_none_or(|l| l > on))
                {
                    fx.changes.push(Change::End {
                        association: old.association.clone(),
                        joined_on: old.joined_on,
                        left_on: on,
                    });
                }
                if fx.changes.is_empty() {
                    return Err(ProcedureError::NotMember(*from));
                }
            }
        }
        apply_changes(ctx.register, &fx.changes).map_err(ProcedureError::Register)?;
        self.status = ProcedureStatus::Completed;
        self.effective_on = Some(on);
        Ok(fx)
    }
}
