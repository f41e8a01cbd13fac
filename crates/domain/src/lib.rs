//! Pure MAMIS domain: identifiers, time and fiscal years, units, the curriculum catalogue, the
//! association tree, memberships and the authorization vocabulary. No I/O, async, SQL or HTTP.

pub mod association;
pub mod authz;
pub mod curriculum;
pub mod identity;
pub mod ids;
pub mod ledger;
pub mod membership;
pub mod rules;
pub mod time;
pub mod units;

pub use association::{Association, AssociationCode, AssociationLevel, Organisation};
pub use authz::{Action, Principal, Role, RoleGrant, Scope, Target};
pub use curriculum::{Catalogue, CurriculumCode};
pub use identity::Email;
pub use ids::{IsekiNumber, KanaName, MemberId, Sex};
pub use ledger::{LedgerEntry, Programme, Source};
pub use membership::{MemberClass, Membership, scope_nodes};
pub use time::{Clock, FiscalYear, SystemClock, Timestamp};
pub use units::HalfUnits;

/// Why a value or a rule was refused. Each variant maps to one message key in the i18n catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The address cannot be an e-mail address (the MAMIS_ID is one).
    #[error("not an e-mail address")]
    InvalidEmail,
    /// The 医籍登録番号 is not 1–7 digits (full-width digits and 「第…号」 are accepted).
    #[error("not a 医籍登録番号: 1–7 digits, optionally written 第…号")]
    InvalidIsekiNumber,
    /// The 日医会員ID is not exactly ten digits.
    #[error("not a member ID: exactly 10 digits")]
    InvalidMemberId,
    /// The name is empty, too long, or not kana; enter it in katakana or hiragana.
    #[error("not a kana name: katakana or hiragana only")]
    InvalidKanaName,
    /// The code is not `JMA`, `P01`–`P47` or a prefecture plus a non-zero number like `P13-0001`.
    #[error("not an association code: JMA, P01–P47 or Pnn-nnnn")]
    InvalidAssociationCode,
    /// A sex value other than `male` or `female` was given or stored.
    #[error("unknown sex value")]
    InvalidSex,
    /// A member class other than the JMA's five (A1, A2B, A2C, B, C) was given or stored.
    #[error("unknown member class: A1, A2B, A2C, B or C")]
    InvalidMemberClass,
    /// A fiscal year outside 1900–9998, taken as a typing error; carries the year given.
    #[error("fiscal year {0} is out of range")]
    FiscalYearOutOfRange(i32),
    /// No shipped curriculum catalogue has this version; carries the version asked for.
    #[error("unknown curriculum catalogue version {0}")]
    UnknownCatalogueVersion(String),
    /// The curriculum code number does not exist in that catalogue version.
    #[error("curriculum code {number} does not exist in catalogue {version}")]
    UnknownCurriculumCode {
        /// The catalogue version the number was looked up in.
        version: String,
        /// The number as given, possibly negative or beyond any code.
        number: i64,
    },
    /// A catalogue CSV is malformed (a data defect, not user input); the text names the line.
    #[error("curriculum catalogue: {0}")]
    Catalogue(String),
    /// A role name that is none of the stored forms (`jma_admin`, …); carries the name given.
    #[error("unknown role {0}")]
    UnknownRole(String),
    /// The role does not fit the scope's tier (e.g. county staff on a prefecture).
    #[error("this role cannot be granted on that scope")]
    RoleScopeMismatch,
    /// The active memberships would not nest county ⊂ prefecture ⊂ JMA, or hold one tier twice.
    #[error("memberships must nest: county, then prefecture, then JMA")]
    MembershipNesting,
    /// A programme name that no rules file defines; carries the name given.
    #[error("unknown credit programme {0}")]
    UnknownProgramme(String),
    /// A ledger source other than the six known channels; carries the name given.
    #[error("unknown ledger source {0}")]
    UnknownSource(String),
    /// A rules file is malformed or inconsistent (a data defect, not user input); says what.
    #[error("rules file: {0}")]
    Rules(String),
}
