//! Pure MAMIS domain: identifiers, time and fiscal years, units, the curriculum catalogue, the
//! association tree, memberships and the authorization vocabulary. No I/O, async, SQL or HTTP.

pub mod association;
pub mod authz;
pub mod curriculum;
pub mod ids;
pub mod membership;
pub mod time;
pub mod units;

pub use association::{Association, AssociationCode, AssociationLevel, Organisation};
pub use authz::{Action, Principal, Role, RoleGrant, Scope, Target};
pub use curriculum::{Catalogue, CurriculumCode};
pub use ids::{IsekiNumber, KanaName, MemberId, Sex};
pub use membership::{MemberClass, Membership, scope_nodes};
pub use time::{Clock, FiscalYear, SystemClock, Timestamp};
pub use units::HalfUnits;

/// Why a value or a rule was refused. Each variant maps to one message key in the i18n catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("not a 医籍登録番号: 1–7 digits, optionally written 第…号")]
    InvalidIsekiNumber,
    #[error("not a member ID: exactly 10 digits")]
    InvalidMemberId,
    #[error("not a kana name: katakana or hiragana only")]
    InvalidKanaName,
    #[error("not an association code: JMA, P01–P47 or Pnn-nnnn")]
    InvalidAssociationCode,
    #[error("unknown sex value")]
    InvalidSex,
    #[error("unknown member class: A1, A2B, A2C, B or C")]
    InvalidMemberClass,
    #[error("fiscal year {0} is out of range")]
    FiscalYearOutOfRange(i32),
    #[error("unknown curriculum catalogue version {0}")]
    UnknownCatalogueVersion(String),
    #[error("curriculum code {number} does not exist in catalogue {version}")]
    UnknownCurriculumCode { version: String, number: i64 },
    #[error("curriculum catalogue: {0}")]
    Catalogue(String),
    #[error("unknown role {0}")]
    UnknownRole(String),
    #[error("this role cannot be granted on that scope")]
    RoleScopeMismatch,
    #[error("memberships must nest: county, then prefecture, then JMA")]
    MembershipNesting,
}
