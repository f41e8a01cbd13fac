//! Pure MAMIS domain: identifiers, time and fiscal years, units, the curriculum catalogue, the
//! association tree, memberships and the authorization vocabulary. No I/O, async, SQL or HTTP.

pub mod association;
pub mod authz;
pub mod curriculum;
pub mod dates;
pub mod identity;
pub mod ids;
pub mod learning;
pub mod ledger;
pub mod membership;
pub mod names;
pub mod procedure;
pub mod programmes;
pub mod rules;
pub mod time;
pub mod training;
pub mod units;

pub use association::{Association, AssociationCode, AssociationLevel, Organisation};
pub use authz::{Action, Principal, Role, RoleGrant, Scope, Target};
pub use curriculum::{Catalogue, CurriculumCode};
pub use identity::Email;
pub use ids::{IsekiNumber, KanaName, MemberId, Sex};
pub use ledger::{CreditSum, LedgerEntry, LedgerSums, Programme, Source};
pub use membership::{ClassCode, MemberClass, Membership, scope_nodes};
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
    /// An association's class code is empty, longer than 16 characters, or not letters, digits,
    /// `-` or `_`.
    #[error("not a class code: 1–16 letters, digits, - or _")]
    InvalidClassCode,
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
    /// A session or programme item title is empty or longer than 200 characters.
    #[error("enter a title of 1–200 characters")]
    TrainingTitle,
    /// An in-person or hybrid session has no place named, or a name over 200 characters.
    #[error("enter the venue's name or address (1–200 characters), or choose online")]
    VenuePlace,
    /// The session's end is not after its start.
    #[error("the session must end after it starts: check the end date and time")]
    SessionTimes,
    /// An expected headcount of zero was given; leave it empty when unknown.
    #[error("the expected headcount must be at least 1, or left empty")]
    ExpectedHeadcount,
    /// A programme item is shorter than a minute or longer than a day; carries the minutes given.
    #[error("a programme item lasts 1 to 1440 minutes, not {0}: split longer ones")]
    ItemMinutes(u32),
    /// A credit item names no curriculum code.
    #[error(
        "choose a curriculum code for this item, or mark it as a greeting, break or product introduction"
    )]
    ItemWithoutCode,
    /// A part of a split item is not a positive multiple of the unit step (30 minutes).
    #[error("each part of a split item must be a multiple of {step} minutes; {minutes} is not")]
    SplitPartMinutes {
        /// The part's minutes as given.
        minutes: u32,
        /// The step the rules grant units in.
        step: u32,
    },
    /// The parts of an item do not add up to the item's length.
    #[error("the code parts add up to {parts} minutes but the item lasts {item}: make them equal")]
    SplitPartsSum {
        /// The sum of the parts' minutes.
        parts: u64,
        /// The item's minutes.
        item: u32,
    },
    /// One item lists a curriculum code twice; carries the code.
    #[error("curriculum code {0} appears twice in one item: merge its parts")]
    DuplicateItemCode(u16),
    /// A programme item starts before the session or ends after it; carries its 1-based position.
    #[error("item {item} lies outside the session's start and end: move it or extend the session")]
    ItemOutsideSession {
        /// The item's position in the programme, from 1.
        item: usize,
    },
    /// Two programme items overlap; parallel tracks are registered as separate sessions.
    #[error(
        "items {first} and {second} overlap: adjust their times, or register parallel tracks as separate sessions"
    )]
    ItemsOverlap {
        /// The earlier-listed item's position, from 1.
        first: usize,
        /// The later-listed item's position, from 1.
        second: usize,
    },
    /// A slot kind other than greeting, ceremony, break, product introduction or other.
    #[error("unknown non-credit slot kind {0}")]
    UnknownNonCreditKind(String),
    /// A stored procedure value is not one of the known forms (a data defect); says which.
    #[error("procedure record: {0}")]
    Procedure(String),
    /// A stored attendance record is inconsistent (a data defect, not user input); says what.
    #[error("attendance record: {0}")]
    Presence(String),
}
