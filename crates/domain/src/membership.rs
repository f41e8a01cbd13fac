//! Memberships: a doctor belongs to a county, a prefectural and possibly the national
//! association, each nested in the one below (domain-research §1.1).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::association::{AssociationCode, AssociationLevel};

/// 会員種別 — the JMA member class (domain-research §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberClass {
    /// A①: founders or managers of hospitals and clinics.
    A1,
    /// A②(B): employed doctors with JMA liability insurance.
    A2B,
    /// A②(C): residents with JMA liability insurance.
    A2C,
    /// B: employed doctors without it.
    B,
    /// C: residents without it.
    C,
}

impl MemberClass {
    /// Every class, in the order the JMA lists them.
    pub const ALL: [MemberClass; 5] = [Self::A1, Self::A2B, Self::A2C, Self::B, Self::C];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A1 => "A1",
            Self::A2B => "A2B",
            Self::A2C => "A2C",
            Self::B => "B",
            Self::C => "C",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(DomainError::InvalidMemberClass)
    }
}

/// A class code of one association: the JMA's five at the national level, and at the county and
/// prefectural levels whatever each association configured (1–16 letters, digits, `-` or `_`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClassCode(String);

impl ClassCode {
    /// Parses a configured class code.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let ok = (1..=16).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(DomainError::InvalidClassCode)
        }
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JMA class this code names, when it is one of the five.
    pub fn jma_class(&self) -> Option<MemberClass> {
        MemberClass::parse(&self.0).ok()
    }
}

impl From<MemberClass> for ClassCode {
    fn from(c: MemberClass) -> Self {
        Self(c.as_str().to_owned())
    }
}

impl TryFrom<String> for ClassCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(&s)
    }
}

impl From<ClassCode> for String {
    fn from(c: ClassCode) -> Self {
        c.0
    }
}

impl std::fmt::Display for ClassCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One membership of a doctor in one association.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The association joined; its tier decides the membership's place in the nesting rule.
    pub association: AssociationCode,
    /// The class in this association: one of the JMA's five at the national level, the
    /// association's own configured class at the county and prefectural levels.
    pub class: ClassCode,
    /// 入会日 — the first day the membership holds.
    pub joined_on: NaiveDate,
    /// The first day the membership no longer holds (exclusive end); `None` while it continues.
    pub left_on: Option<NaiveDate>,
}

impl Membership {
    /// The tier of the association.
    pub fn level(&self) -> AssociationLevel {
        self.association.level()
    }

    /// Whether the membership holds on `day` (joined on or before, not yet left).
    pub fn active_on(&self, day: NaiveDate) -> bool {
        self.joined_on <= day && self.left_on.is_none_or(|l| day < l)
    }
}

/// Checks the nesting rule for the memberships active on `day`: a JMA membership needs an active
/// prefectural one, which needs an active county one in the same prefecture.
pub fn check_nesting(memberships: &[Membership], day: NaiveDate) -> Result<(), DomainError> {
    let active: Vec<&Membership> = memberships.iter().filter(|m| m.active_on(day)).collect();
    let at = |level| active.iter().filter(move |m| m.level() == level);
    let prefs: Vec<&AssociationCode> = at(AssociationLevel::Prefecture)
        .map(|m| &m.association)
        .collect();
    let counties: Vec<&AssociationCode> = at(AssociationLevel::County)
        .map(|m| &m.association)
        .collect();
    if prefs.len() > 1 || counties.len() > 1 || at(AssociationLevel::Jma).count() > 1 {
        return Err(DomainError::MembershipNesting);
    }
    if at(AssociationLevel::Jma).count() == 1 && prefs.is_empty() {
        return Err(DomainError::MembershipNesting);
    }
    if let Some(p) = prefs.first()
        && !counties.iter().any(|c| p.contains(c))
    {
        return Err(DomainError::MembershipNesting);
    }
    Ok(())
}

/// The nodes that place a doctor in staff scopes on `day`: the associations of their active
/// memberships, or — for a non-member — the prefecture where they work.
pub fn scope_nodes(
    memberships: &[Membership],
    home_prefecture: Option<&AssociationCode>,
    day: NaiveDate,
) -> Vec<AssociationCode> {
    let active: Vec<AssociationCode> = memberships
        .iter()
        .filter(|m| m.active_on(day))
        .map(|m| m.association.clone())
        .collect();
    if active.is_empty() {
        home_prefecture.cloned().into_iter().collect()
    } else {
        active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(code: &str, from: &str, to: Option<&str>) -> Membership {
        Membership {
            association: AssociationCode::parse(code).unwrap(),
            class: MemberClass::B.into(),
            joined_on: from.parse().unwrap(),
            left_on: to.map(|t| t.parse().unwrap()),
        }
    }

    #[test]
    fn nesting_table() {
        let day: NaiveDate = "2026-06-01".parse().unwrap();
        let ok = [
            vec![],
            vec![m("P13-0001", "2020-04-01", None)],
            vec![
                m("P13-0001", "2020-04-01", None),
                m("P13", "2020-04-01", None),
            ],
            vec![
                m("P13-0001", "2020-04-01", None),
                m("P13", "2020-04-01", None),
                m("JMA", "2020-04-01", None),
            ],
            // left the JMA last year: still nested
            vec![
                m("P13-0001", "2020-04-01", None),
                m("P13", "2020-04-01", None),
                m("JMA", "2020-04-01", Some("2025-03-31")),
            ],
        ];
        for (i, ms) in ok.iter().enumerate() {
            assert!(check_nesting(ms, day).is_ok(), "case {i}");
        }
        let bad = [
            vec![m("JMA", "2020-04-01", None)],
            vec![m("P13", "2020-04-01", None)],
            vec![
                m("P27-0001", "2020-04-01", None),
                m("P13", "2020-04-01", None),
            ],
            vec![
                m("P13-0001", "2020-04-01", Some("2026-05-01")),
                m("P13", "2020-04-01", None),
            ],
            vec![
                m("P13-0001", "2020-04-01", None),
                m("P13", "2020-04-01", None),
                m("P14", "2020-04-01", None),
            ],
        ];
        for (i, ms) in bad.iter().enumerate() {
            assert!(check_nesting(ms, day).is_err(), "case {i}");
        }
    }

    #[test]
    fn scope_follows_current_membership_or_home_prefecture() {
        use crate::authz::{Action, Role, RoleGrant, Scope, Target, grant_permits};
        let day: NaiveDate = "2026-06-01".parse().unwrap();
        let chiyoda = RoleGrant::new(
            Role::CountyStaff,
            Scope::Association(AssociationCode::parse("P13-0001").unwrap()),
        )
        .unwrap();
        let osaka = RoleGrant::new(
            Role::PrefectureStaff,
            Scope::Association(AssociationCode::parse("P27").unwrap()),
        )
        .unwrap();
        let member = [
            m("P13-0001", "2020-04-01", None),
            m("P13", "2020-04-01", None),
        ];
        let home = AssociationCode::parse("P27").unwrap();
        let nodes = scope_nodes(&member, Some(&home), day);
        assert!(grant_permits(
            &chiyoda,
            Action::ViewDoctors,
            &Target::Doctor(&nodes)
        ));
        assert!(
            !grant_permits(&osaka, Action::ViewDoctors, &Target::Doctor(&nodes)),
            "a member is placed by membership"
        );
        // after leaving, the doctor is a non-member placed by the home prefecture
        let left = [
            m("P13-0001", "2020-04-01", Some("2026-04-01")),
            m("P13", "2020-04-01", Some("2026-04-01")),
        ];
        let nodes = scope_nodes(&left, Some(&home), day);
        assert!(!grant_permits(
            &chiyoda,
            Action::ViewDoctors,
            &Target::Doctor(&nodes)
        ));
        assert!(grant_permits(
            &osaka,
            Action::ViewDoctors,
            &Target::Doctor(&nodes)
        ));
        assert!(scope_nodes(&left, None, day).is_empty());
    }

    #[test]
    fn class_round_trip() {
        for c in MemberClass::ALL {
            assert_eq!(MemberClass::parse(c.as_str()).unwrap(), c);
        }
        assert!(MemberClass::parse("A2").is_err());
        assert_eq!(
            ClassCode::from(MemberClass::A2C).jma_class(),
            Some(MemberClass::A2C)
        );
        assert_eq!(ClassCode::parse("regular").unwrap().jma_class(), None);
        for bad in ["", "a b", "一般", "x".repeat(17).as_str()] {
            assert!(ClassCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
