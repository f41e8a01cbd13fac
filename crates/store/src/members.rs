//! The member back office's reads (issue 19): search across a staff member's subtree, the
//! doctors and profiles an import compares against, and the counts behind the statistics.

use chrono::NaiveDate;
use mamis_domain::{AssociationCode, AssociationLevel, Membership};
use serde::{Deserialize, Serialize};
use std::future::Future;
use uuid::Uuid;

use crate::{Doctor, DoctorProfile, StoreResult};

/// Where a doctor stands with the associations searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// A membership in scope (and matching the membership filters) holds today.
    Member,
    /// A membership in scope matched the filters once, and none of that kind holds today.
    Former,
    /// The doctor has an open membership procedure.
    InProcedure,
}

impl MemberStatus {
    /// The form used in query strings and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Former => "former",
            Self::InProcedure => "in_procedure",
        }
    }

    /// Parses [`MemberStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Member, Self::Former, Self::InProcedure]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The order of search results (ties broken by the doctor's id, so pages never overlap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberSort {
    /// By folded kana (the 五十音 order lists use).
    #[default]
    Kana,
    /// By folded kanji name.
    Name,
    /// By JMA member ID (doctors without one last).
    MemberId,
    /// By 医籍登録番号.
    Iseki,
}

impl MemberSort {
    /// The form used in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kana => "kana",
            Self::Name => "name",
            Self::MemberId => "member_id",
            Self::Iseki => "iseki",
        }
    }

    /// Parses [`MemberSort::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Kana, Self::Name, Self::MemberId, Self::Iseki]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A search as the store runs it: every field narrows the result; the app has folded the name
/// and resolved the scope to association codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberQuery {
    /// The associations searched (the subtrees of the grants, every node listed); `None`: the
    /// whole register (national roles).
    pub scope: Option<Vec<AssociationCode>>,
    /// A name prefix already folded by `names::name_key`, matched against the kanji and the
    /// kana keys.
    pub name_prefix: Option<String>,
    /// A member ID, matched exactly.
    pub member_id: Option<String>,
    /// A 医籍登録番号, matched exactly.
    pub iseki: Option<String>,
    /// Part of the workplace's name.
    pub workplace: Option<String>,
    /// The workplace's municipality, exactly.
    pub municipality: Option<String>,
    /// Only memberships at this level count for the membership filters.
    pub level: Option<AssociationLevel>,
    /// Only memberships of this class count.
    pub class: Option<String>,
    /// Member, former member or in a procedure.
    pub status: Option<MemberStatus>,
    /// Only memberships joined on or after this day count.
    pub joined_from: Option<NaiveDate>,
    /// Only memberships joined on or before this day count.
    pub joined_to: Option<NaiveDate>,
    /// "Today" for the status filter (Japan date).
    pub today: NaiveDate,
    /// Result order.
    pub sort: MemberSort,
    /// Reverse the order.
    pub descending: bool,
    /// Page size.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u64,
}

impl MemberQuery {
    /// A query for everything in `scope`, first page of 50, kana order.
    pub fn new(scope: Option<Vec<AssociationCode>>, today: NaiveDate) -> Self {
        Self {
            scope,
            name_prefix: None,
            member_id: None,
            iseki: None,
            workplace: None,
            municipality: None,
            level: None,
            class: None,
            status: None,
            joined_from: None,
            joined_to: None,
            today,
            sort: MemberSort::Kana,
            descending: false,
            limit: 50,
            offset: 0,
        }
    }

    /// Whether a search is driven by its candidates (an exact number, or a name searched in a
    /// prefecture or more, whose range is smaller than the scope) rather than by the scope's
    /// members (a county's few hundred members, filtered by the name).
    pub fn driven_by_candidates(&self) -> bool {
        let counties_only = self
            .scope
            .as_ref()
            .is_some_and(|s| s.iter().all(|c| c.level() == AssociationLevel::County));
        self.exact() || (self.named() && !counties_only)
    }

    /// The prefectures of the scope's nodes when a name searched there can start from the
    /// per-prefecture key table (`member_search_keys`): every node lies in a prefecture (no JMA
    /// node), and the search is driven by its name rather than by an exact number or a
    /// county's members.
    pub fn keyed_prefectures(&self) -> Option<Vec<AssociationCode>> {
        let scope = self.scope.as_ref()?;
        if !self.named() || self.exact() || !self.driven_by_candidates() {
            return None;
        }
        let mut prefectures = scope
            .iter()
            .map(AssociationCode::prefecture_code)
            .collect::<Option<Vec<_>>>()?;
        prefectures.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        prefectures.dedup();
        Some(prefectures)
    }

    /// Whether the rows are found first and sorted after, rather than by walking the sort
    /// key's index and filtering: when another index drives (a prefecture's key table, a
    /// county's members) or a name is searched on the other key (a kanji name listed in kana
    /// order). Walking the sort index there reads the table until a page's rows match — most
    /// of it when the matches lie late in that order (「渡辺」 in kana order: ワ).
    pub fn sorted_after(&self) -> bool {
        let by_other_key = self
            .name_prefix
            .as_deref()
            .filter(|p| !p.is_empty())
            .is_some_and(|p| {
                !matches!(
                    (mamis_domain::names::is_kana_key(p), self.sort),
                    (true, MemberSort::Kana) | (false, MemberSort::Name)
                )
            });
        let scope_driven = self.scope.is_some() && !self.driven_by_candidates();
        self.keyed_prefectures().is_some() || by_other_key || scope_driven
    }

    /// A member ID or a 医籍登録番号 is searched (exact numbers).
    fn exact(&self) -> bool {
        self.member_id.is_some() || self.iseki.is_some()
    }

    /// A name prefix is searched.
    fn named(&self) -> bool {
        self.name_prefix.as_deref().is_some_and(|p| !p.is_empty())
    }

    /// Whether any membership filter is set (they apply to one membership together).
    pub fn membership_filtered(&self) -> bool {
        self.level.is_some()
            || self.class.is_some()
            || self.joined_from.is_some()
            || self.joined_to.is_some()
    }
}

/// One search result: the doctor with the workplace the lists show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHit {
    /// The register entry.
    pub doctor: Doctor,
    /// 医療機関名 from the profile.
    pub workplace: Option<String>,
    /// The workplace's municipality.
    pub municipality: Option<String>,
}

/// One page of results and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberPage {
    /// Doctors matching, over every page.
    pub total: u64,
    /// This page.
    pub hits: Vec<MemberHit>,
}

/// Members of one class of one association on a day (the statistics' stock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassCount {
    /// The association.
    pub association: AssociationCode,
    /// The class code.
    pub class: String,
    /// Memberships holding on the day.
    pub members: u64,
}

/// What a membership start or end was, for the statistics' flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// A membership started with no same-level membership ending that day.
    Join,
    /// A membership started the day another of the same level (another association) ended.
    TransferIn,
    /// A membership ended the day another of the same level (another association) started.
    TransferOut,
    /// A membership ended with no same-level membership starting that day.
    Withdrawal,
}

/// One start or end of a membership in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The association whose membership started or ended.
    pub association: AssociationCode,
    /// The day (joined, or the exclusive end).
    pub day: NaiveDate,
    /// Which kind.
    pub kind: FlowKind,
}

/// The back office's reads over the register.
pub trait MemberStore {
    /// One page of the doctors matching `q` and the total count.
    fn search_members(
        &mut self,
        q: &MemberQuery,
    ) -> impl Future<Output = StoreResult<MemberPage>> + Send;
    /// The memberships of these doctors (unknown ids skipped), by doctor then joined date.
    fn memberships_of_doctors(
        &mut self,
        doctors: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<(Uuid, Membership)>>> + Send;
    /// The doctors holding these member IDs (unknown ones skipped), by member ID.
    fn doctors_by_member_ids(
        &mut self,
        ids: &[String],
    ) -> impl Future<Output = StoreResult<Vec<Doctor>>> + Send;
    /// The profiles of these doctors (those without one are left out), by doctor.
    fn profiles_of_doctors(
        &mut self,
        doctors: &[Uuid],
    ) -> impl Future<Output = StoreResult<Vec<DoctorProfile>>> + Send;
    /// Whether the doctor belongs or belonged to one of `scope`, has a procedure with a party
    /// there, or (a non-member) is placed in one of them by home prefecture.
    fn doctor_in_scope(
        &mut self,
        doctor: Uuid,
        scope: &[AssociationCode],
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Memberships holding on `day` per association and class, for the associations of
    /// `scope` (`None`: all), in (association, class) order.
    fn class_counts(
        &mut self,
        scope: Option<&[AssociationCode]>,
        day: NaiveDate,
    ) -> impl Future<Output = StoreResult<Vec<ClassCount>>> + Send;
    /// Membership starts and ends in `[from, to)` at the associations of `scope` (`None`: all),
    /// each classified as join, transfer or withdrawal, by day.
    fn membership_flows(
        &mut self,
        scope: Option<&[AssociationCode]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Future<Output = StoreResult<Vec<Flow>>> + Send;
}
