//! The JSON API's request and response types with their OpenAPI schemas, shared by the server,
//! the tests and any client.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whole numbers as JSON Schema counts them: `60` and `60.0` are the same integer, so a field
/// typed `integer` in the OpenAPI document takes either; a fraction or a value out of the
/// field's range is refused.
pub mod whole {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(u64),
        Float(f64),
    }

    fn of<'de, D: Deserializer<'de>, T: TryFrom<u64>>(n: Number) -> Result<T, D::Error> {
        let v = match n {
            Number::Int(v) => Some(v),
            // below 2^53 an f64 holds every integer exactly
            Number::Float(f) if f.fract() == 0.0 && (0.0..9.0e15).contains(&f) => Some(f as u64),
            Number::Float(_) => None,
        };
        v.and_then(|v| T::try_from(v).ok())
            .ok_or_else(|| D::Error::custom("expected a whole number in range"))
    }

    /// A `u16` written as `12` or `12.0`.
    pub fn u16<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        of::<D, u16>(Number::deserialize(d)?)
    }

    /// A `u32` written as `60` or `60.0`.
    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        of::<D, u32>(Number::deserialize(d)?)
    }

    /// An optional `u32` (absent or `null`: none).
    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Option::<Number>::deserialize(d)?
            .map(of::<D, u32>)
            .transpose()
    }
}

/// One association of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Association {
    /// `JMA`, `P01`–`P47`, or `Pnn-nnnn` for an association below a prefecture.
    #[schema(example = "P13-0001")]
    pub code: String,
    /// `jma`, `prefecture` or `county`.
    #[schema(example = "county")]
    pub level: String,
    /// The node above; absent for the JMA.
    #[schema(example = "P13")]
    pub parent: Option<String>,
    /// The association's name in Japanese, its official name (e.g. 千代田区医師会).
    #[schema(example = "千代田区医師会")]
    pub name_ja: String,
    /// An English rendering of the name, for English-language users and clients.
    #[schema(example = "Chiyoda Medical Association")]
    pub name_en: String,
}

/// An association and its direct children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssociationDetail {
    /// The association asked for.
    pub association: Association,
    /// The nodes one tier below, in code order (prefectures under the JMA; none under a county).
    pub children: Vec<Association>,
}

/// A doctor as shown to staff and associations' systems (personal data: every view is audited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// 医籍登録番号 (1–7 digits, no leading zeros).
    #[schema(example = "123456")]
    pub iseki_number: String,
    /// 氏 in kanji as registered; for display, while identity matching uses the kana name.
    #[schema(example = "山田")]
    pub family_name: String,
    /// 名 in kanji as registered; for display, while identity matching uses the kana name.
    #[schema(example = "太郎")]
    pub given_name: String,
    /// 氏カナ in normalised katakana — part of the kana name used for identity matching.
    #[schema(example = "ヤマダ")]
    pub family_kana: String,
    /// 名カナ in normalised katakana — part of the kana name used for identity matching.
    #[schema(example = "タロウ")]
    pub given_kana: String,
    /// ISO 8601 date.
    #[schema(example = "1980-05-17")]
    pub birth_date: String,
    /// `male` or `female`.
    pub sex: String,
    /// 日医会員ID (10 digits), for JMA members.
    pub member_id: Option<String>,
}

/// One page of an association's current members, ordered by 医籍登録番号.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MembersPage {
    /// The association's code in canonical form (`p13-0001` in the path comes back as `P13-0001`).
    pub association: String,
    /// How many members were skipped before this page; add `limit` to ask for the next one.
    pub offset: u64,
    /// The page size applied (1–500); a page with fewer members is the last one.
    pub limit: u32,
    /// Members whose membership is active today (Japan date), in 医籍登録番号 order.
    pub members: Vec<Member>,
}

/// An RFC 9457 problem document, the body of every API error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// URI naming the problem type (`<base URL>/problems/<code>`), as RFC 9457 requires.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's standard reason phrase, in English whatever the language.
    pub title: String,
    /// The HTTP status code, repeated so the body stands on its own.
    pub status: u16,
    /// A human-readable explanation in the language of `Accept-Language` (Japanese by default).
    pub detail: String,
    /// A stable machine-readable code, e.g. `forbidden`.
    pub code: String,
    /// The id under which the server logged the request; quote it when reporting a problem.
    pub request_id: String,
}

// ------------------------------------------------------------------ CME ledger (My Page ①–④)
//
// Every amount of units (and of units + codes) is a decimal string with at most one decimal,
// `"2.5"`, `"-1"`, `"60"`: the ledger counts half-units exactly, and a string keeps clients from
// turning 0.5 steps into floating-point sums.

/// The doctor a CME summary or ledger belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeDoctor {
    /// 医籍登録番号 (1–7 digits, no leading zeros); the API paths name doctors by it.
    #[schema(example = "123456")]
    pub iseki_number: String,
    /// 氏 in kanji as registered, for display.
    #[schema(example = "山田")]
    pub family_name: String,
    /// 名 in kanji as registered, for display.
    #[schema(example = "太郎")]
    pub given_name: String,
}

/// Units a source (learning method) contributed in a year, before any method cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeSourceUnits {
    /// `training`, `e_learning`, `journal_quiz`, `declaration`, `staff_adjustment` or `prior_system`.
    #[schema(example = "training")]
    pub source: String,
    /// Net units of the source in the year (decimal string).
    #[schema(example = "4.5")]
    pub units: String,
}

/// One fiscal year's totals (what the 学習単位取得証 shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeYear {
    /// 年度: the fiscal year from 1 April of this calendar year to 31 March of the next.
    #[schema(example = 2025)]
    pub fiscal_year: i32,
    /// Units counted for the year, after method caps (decimal string).
    #[schema(example = "12.5")]
    pub units: String,
    /// The distinct curriculum codes earned in the year (net units above zero), ascending.
    pub codes: Vec<u16>,
    /// Net units per source, in display order; only sources with entries.
    pub by_source: Vec<CmeSourceUnits>,
    /// Units the rules' per-year method caps removed (decimal string, usually `"0"`).
    #[schema(example = "0")]
    pub capped: String,
}

/// A window of consecutive fiscal years as the certificate rule judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeWindow {
    /// First fiscal year.
    #[schema(example = 2024)]
    pub from_fiscal_year: i32,
    /// Last fiscal year.
    #[schema(example = 2026)]
    pub to_fiscal_year: i32,
    /// `certified` (certificate issued or imported), `achieved` (decided, reached the threshold,
    /// certificate due), `fell_short` (decided, not reached), `pending` (not decided yet) or
    /// `prior_system` (years before MAMIS without a certificate: judged by the prior system,
    /// 「旧制度で判定」; the window then spans those years, whose totals the summary lists).
    #[schema(example = "pending")]
    pub status: String,
    /// Units counted over the window (decimal string).
    #[schema(example = "41")]
    pub units: String,
    /// Number of distinct codes earned over the window.
    #[schema(example = 15)]
    pub codes: u32,
    /// Units + codes, compared with the threshold (decimal string).
    #[schema(example = "56")]
    pub total: String,
    /// The day the window is (or was) decided, ISO 8601, Japan date.
    #[schema(example = "2027-12-01")]
    pub decision_date: String,
}

/// The least learning that closes the remaining shortfall: a code not yet earned adds its units
/// plus one for the code (0.5 unit there adds 1.5), a code already earned only its units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeWhatIf {
    /// The least units to add in all: `new_codes` × 0.5 + `extra_units` (decimal string).
    #[schema(example = "1.5")]
    pub units: String,
    /// 0.5 unit in each of this many codes not yet earned in the window…
    #[schema(example = 3)]
    pub new_codes: u32,
    /// …plus these units in codes already earned, when the unearned codes alone are not the
    /// cheapest way (decimal string).
    #[schema(example = "0")]
    pub extra_units: String,
    /// Or: this many units in codes already earned (decimal string).
    #[schema(example = "4")]
    pub units_in_earned_codes: String,
}

/// The window the next certificate will come from, and why it stands where it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeNextWindow {
    /// The window and its totals.
    pub window: CmeWindow,
    /// Units + codes needed.
    #[schema(example = 60)]
    pub threshold: u32,
    /// Units + codes still missing, `"0"` when reached (decimal string).
    #[schema(example = "4")]
    pub shortfall: String,
    /// Codes of the current catalogue not yet earned in the window, ascending.
    pub missing_codes: Vec<u16>,
    /// The cheapest ways to close the gap; absent when the threshold is reached.
    pub what_if: Option<CmeWhatIf>,
}

/// A certificate (日医生涯教育認定証) issued in MAMIS or imported from the prior system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeCertificate {
    /// The printed certificate number.
    #[schema(example = "CME-2021-004512")]
    pub number: String,
    /// First fiscal year of the window it consumed.
    pub from_fiscal_year: i32,
    /// Last fiscal year of the window it consumed.
    pub to_fiscal_year: i32,
    /// The issue date printed on it, ISO 8601.
    #[schema(example = "2022-12-01")]
    pub issued_on: String,
    /// `mamis` or `prior_system`.
    pub origin: String,
}

/// A doctor's CME standing as of today (Japan date): My Page ① as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeSummary {
    /// The doctor.
    pub doctor: CmeDoctor,
    /// The day the standing was computed for, ISO 8601, Japan date.
    #[schema(example = "2026-06-01")]
    pub as_of: String,
    /// The programme (`jma_cme`).
    #[schema(example = "jma_cme")]
    pub programme: String,
    /// The rules-file version applied.
    pub rules_version: String,
    /// Units + codes a window needs for a certificate.
    #[schema(example = 60)]
    pub threshold: u32,
    /// Whether the doctor is an active JMA member today (e-learning and the journal quiz are
    /// members-only methods).
    pub jma_member: bool,
    /// Per fiscal year totals, newest first.
    pub years: Vec<CmeYear>,
    /// Windows in decision order: certified, achieved and fell-short ones, then pending ones.
    pub windows: Vec<CmeWindow>,
    /// The window the next certificate will come from.
    pub next_window: Option<CmeNextWindow>,
    /// Certificates, oldest first.
    pub certificates: Vec<CmeCertificate>,
}

/// One ledger entry. Entries are never edited: a correction is a reversal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeEntry {
    /// The entry's id (a reversal names it in `reverses`).
    #[schema(example = "0b8f2f7e-3c1d-4f38-9a55-7f0c2d3e4a10")]
    pub id: String,
    /// The day of the learning (for a reversal: the day it was reversed), ISO 8601, Japan date.
    #[schema(example = "2025-06-14")]
    pub date: String,
    /// The fiscal year the credit counts in (a reversal keeps its target's).
    #[schema(example = 2025)]
    pub fiscal_year: i32,
    /// `training`, `e_learning`, `journal_quiz`, `declaration`, `staff_adjustment` or `prior_system`.
    #[schema(example = "training")]
    pub source: String,
    /// The curriculum code (0–83 in the current catalogue).
    #[schema(example = 12)]
    pub code: u16,
    /// Signed units (decimal string): negative for reversals.
    #[schema(example = "1.5")]
    pub units: String,
    /// What is credited; the same key from any channel means the same learning.
    pub origin_key: String,
    /// 0 for the first credit of an origin key; a re-credit after a reversal takes the next.
    pub generation: i32,
    /// The entry this one reverses, when it is a reversal.
    pub reverses: Option<String>,
    /// The reversal that cancels this entry, when there is one.
    pub reversed_by: Option<String>,
    /// A title or reason shown with the entry (session title, adjustment reason).
    pub note: Option<String>,
    /// Who or what wrote it (`account:…`, `api_token:…`, `job:…`, `import:…`).
    pub created_by: String,
    /// When it was written, RFC 3339 UTC.
    #[schema(example = "2025-06-14T09:30:00Z")]
    pub created_at: String,
}

/// A doctor's ledger entries, oldest first, after the request's filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeLedger {
    /// The doctor.
    pub doctor: CmeDoctor,
    /// The entries that pass the filters, in (date, written) order.
    pub entries: Vec<CmeEntry>,
}

/// Units as sent by a client: a decimal string (`"1.5"`) or a JSON number (`1.5`); a multiple of
/// 0.5 between -100 and 100, not zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CmeUnitsInput {
    /// `"1.5"`, `"-2"`.
    Text(String),
    /// `1.5`, `-2`.
    Number(f64),
}

impl utoipa::PartialSchema for CmeUnitsInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        units_input_schema().into()
    }
}

impl ToSchema for CmeUnitsInput {}

/// The schema of [`CmeUnitsInput`] with the server's limits: a decimal string or a number, a
/// non-zero multiple of 0.5 from -100 to 100.
fn units_input_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let number = |min: f64, max: f64| {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .multiple_of(Some(0.5))
            .minimum(Some(min))
            .maximum(Some(max))
    };
    OneOfBuilder::new()
        .description(Some(
            "Units: a decimal string (`\"1.5\"`, `\"-2\"`) or a number; a multiple of 0.5 \
             from -100 to 100, not zero",
        ))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(UNITS_TEXT_PATTERN))
                .examples(["1.5"]),
        )
        .item(number(0.5, 100.0))
        .item(number(-100.0, -0.5))
        .into()
}

/// A non-zero multiple of 0.5 from -100 to 100 written as text (`"1.5"`, `"-2"`, `"100"`).
pub const UNITS_TEXT_PATTERN: &str = r"^[+-]?(0\.5|[1-9]\.[05]|[1-9][0-9]\.[05]|[1-9][0-9]?|100)$";

/// A staff adjustment: a signed amount for one date and code, with its reason. Unknown fields
/// are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CmeAdjustmentRequest {
    /// The day of the corrected learning, ISO 8601 (not in the future); its fiscal year is the
    /// one credited.
    #[schema(example = "2025-06-01", format = Date, pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub date: String,
    /// A curriculum code of the current catalogue (0–83).
    #[schema(example = 12, minimum = 0, maximum = 83)]
    pub code: u16,
    /// Signed amount of units.
    pub units: CmeUnitsInput,
    /// Why (1–500 characters, not only spaces); shown to the doctor and kept in the audit
    /// record.
    #[schema(
        example = "研修会の出席記録の漏れを補正",
        min_length = 1,
        max_length = 500,
        pattern = r"\S"
    )]
    pub reason: String,
}

/// One source's share of a (doctor, fiscal year, code) net.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeNetBySource {
    /// `training`, `e_learning`, `journal_quiz`, `declaration`, `staff_adjustment` or `prior_system`.
    #[schema(example = "training")]
    pub source: String,
    /// Net units of that source (decimal string).
    #[schema(example = "1")]
    pub units: String,
}

/// An adjustment refused (RFC 9457 problem, 422) because the net of its (doctor, fiscal year,
/// code) would fall below zero; nothing was written. Cancel an entry with its reversal instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CmeAdjustmentRefusal {
    /// URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `Unprocessable Entity`.
    pub title: String,
    /// 422.
    pub status: u16,
    /// The refusal in the language of `Accept-Language`, naming the year, code and nets.
    pub detail: String,
    /// `negative-net`.
    pub code: String,
    /// The id under which the server logged the request.
    pub request_id: String,
    /// The fiscal year adjusted.
    #[schema(example = 2025)]
    pub fiscal_year: i32,
    /// The curriculum code adjusted.
    #[schema(example = 12)]
    pub curriculum_code: u16,
    /// The amount asked for (decimal string).
    #[schema(example = "-2")]
    pub requested: String,
    /// The net before the adjustment (decimal string).
    #[schema(example = "1")]
    pub net: String,
    /// That net by source, sources with entries only.
    pub nets: Vec<CmeNetBySource>,
}

/// A refused adjustment (422): a [`Problem`] naming the field outside what is allowed, or a
/// [`CmeAdjustmentRefusal`] when the net would fall below zero.
pub struct CmeAdjustmentUnprocessable;

impl utoipa::PartialSchema for CmeAdjustmentUnprocessable {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::AnyOfBuilder;
        use utoipa::openapi::{Ref, RefOr};
        // anyOf, not oneOf: every refusal is also a problem document
        let one =
            |name: &str| RefOr::<utoipa::openapi::schema::Schema>::Ref(Ref::from_schema_name(name));
        AnyOfBuilder::new()
            .item(one("CmeAdjustmentRefusal"))
            .item(one("Problem"))
            .into()
    }
}

impl ToSchema for CmeAdjustmentUnprocessable {}

/// Reverses an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CmeReversalRequest {
    /// Why (1–500 characters, not only spaces); shown to the doctor and kept in the audit
    /// record.
    #[schema(
        example = "重複登録の取消",
        min_length = 1,
        max_length = 500,
        pattern = r"\S"
    )]
    pub reason: String,
}

// ------------------------------------------------------------------ training (研修会)
//
// Instants are RFC 3339 (`2026-06-01T09:00:00+09:00`); the server answers in UTC (`…Z`). An
// organiser is an association code (`P13-0001`) or an outside organisation as `org:<uuid>`.

/// Where a session takes place: `in_person` or `hybrid` (at a place and streamed) with the
/// place as printed on the flyer (1–200 characters), or `online` (a place is ignored). Unknown
/// fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingVenue {
    /// `in_person`, `online` or `hybrid`.
    pub kind: String,
    /// The place; required unless `online`.
    pub place: Option<String>,
}

impl utoipa::PartialSchema for TrainingVenue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ObjectBuilder, OneOfBuilder, SchemaType, Type,
        };
        let kind = |kinds: &[&'static str]| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(kinds.iter().copied()))
        };
        let at_a_place = ObjectBuilder::new()
            .property("kind", kind(&["in_person", "hybrid"]))
            .property(
                "place",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(200))
                    .pattern(Some(r"\S"))
                    .examples(["千代田区医師会館 3階講堂"]),
            )
            .required("kind")
            .required("place")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let online = ObjectBuilder::new()
            .property("kind", kind(&["online"]))
            .property(
                "place",
                ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
            )
            .required("kind")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new()
            .description(Some(
                "Where a session takes place: `in_person` or `hybrid` with the place as printed \
                 on the flyer (1–200 characters), or `online`",
            ))
            .item(at_a_place)
            .item(online)
            .into()
    }
}

impl ToSchema for TrainingVenue {}

/// An attendee list as uploaded (`text/csv`), as the OpenAPI document describes its simplest
/// form: the header naming the 医籍登録番号 column, then one number per line. The server reads
/// more (other columns, CP932, its own export); the operation's description lists them.
pub struct AttendeeListCsv;

impl utoipa::PartialSchema for AttendeeListCsv {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(
                r"^(医籍登録番号|iseki_number)(\r?\n[1-9][0-9]{0,6})*(\r?\n)?$",
            ))
            .examples(["医籍登録番号\n123456\n234567\n"])
            .into()
    }
}

impl ToSchema for AttendeeListCsv {}

/// The prefecture's approval of an outside organisation's session (its credits wait for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrainingApproval {
    /// The approval number (承認番号).
    #[schema(example = "P13-2026-00001")]
    pub number: String,
    /// When the prefecture approved, RFC 3339 UTC.
    pub at: String,
}

/// 研修会 — a training session as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrainingSession {
    /// The session's id (the attendance upload names it).
    #[schema(example = "0b8f2f7e-3c1d-4f38-9a55-7f0c2d3e4a10")]
    pub id: String,
    /// `P13-0001` for an association, `org:<uuid>` for an outside organisation.
    #[schema(example = "P13-0001")]
    pub organiser: String,
    /// 研修会名.
    #[schema(example = "学術講演会「感染症のトピックス」")]
    pub title: String,
    /// Where it takes place.
    pub venue: TrainingVenue,
    /// Start, RFC 3339 UTC.
    #[schema(example = "2026-06-01T10:00:00Z")]
    pub start: String,
    /// End, RFC 3339 UTC.
    #[schema(example = "2026-06-01T12:00:00Z")]
    pub end: String,
    /// The organiser's estimate, when given.
    pub expected_headcount: Option<u32>,
    /// Whether only desk scans and lists count (the venue QR code is not offered).
    pub desk_scan_only: bool,
    /// Minutes of an item's start and end a doctor may miss and still be credited (0–30).
    #[schema(example = 5)]
    pub grace_minutes: u32,
    /// The prefecture's approval; always absent for an association's own sessions, which
    /// need none.
    pub approval: Option<TrainingApproval>,
    /// When the organiser closed the session, RFC 3339 UTC.
    pub closed_at: Option<String>,
}

/// One page of an organiser's sessions, latest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrainingSessionsPage {
    /// The organiser asked for, in canonical form.
    #[schema(example = "P13-0001")]
    pub organiser: String,
    /// Sessions skipped before this page.
    pub offset: u32,
    /// The page size applied (1–200); a shorter page is the last one.
    pub limit: u32,
    /// The sessions, latest start first.
    pub sessions: Vec<TrainingSession>,
}

/// One curriculum code's share of a credit item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingCodePart {
    /// A curriculum code of the current catalogue (0–83).
    #[schema(example = 10, minimum = 0, maximum = 83)]
    #[serde(deserialize_with = "whole::u16")]
    pub code: u16,
    /// Minutes given to the code (1–1440); in a split item, a multiple of 30.
    #[schema(example = 60, minimum = 1, maximum = 1440)]
    #[serde(deserialize_with = "whole::u32")]
    pub minutes: u32,
}

/// One programme item (演題) as the organiser enters it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingItemRequest {
    /// 演題名 (1–200 characters).
    #[schema(
        example = "感染症診療の最近の話題",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub title: String,
    /// When it starts, RFC 3339 (a time without offset is Japan time).
    #[schema(example = "2026-06-01T10:00:00+09:00", format = DateTime)]
    pub start: String,
    /// Its length in minutes (1–1440).
    #[schema(example = 60, minimum = 1, maximum = 1440)]
    #[serde(deserialize_with = "whole::u32")]
    pub minutes: u32,
    /// `credit` (with `parts`), or a slot that earns nothing: `greeting`, `ceremony`, `break`,
    /// `product_introduction`, `other`.
    #[schema(
        example = "credit",
        pattern = "^(credit|greeting|ceremony|break|product_introduction|other)$"
    )]
    pub kind: String,
    /// For `credit`: the codes and their minutes, adding up to the item's; empty otherwise.
    #[serde(default)]
    #[schema(max_items = 84)]
    pub parts: Vec<TrainingCodePart>,
}

/// A session to register, with its programme. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainingSessionRequest {
    /// `P13-0001` or `org:<uuid>`; the token must be allowed to manage its training.
    #[schema(
        example = "P13-0001",
        pattern = "^(JMA|P(0[1-9]|[1-3][0-9]|4[0-7])(-([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3}))?|org:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
    )]
    pub organiser: String,
    /// 研修会名 (1–200 characters).
    #[schema(
        example = "学術講演会「感染症のトピックス」",
        min_length = 1,
        max_length = 200,
        pattern = r"\S"
    )]
    pub title: String,
    /// Where it takes place.
    pub venue: TrainingVenue,
    /// Start, RFC 3339 (a time without offset is Japan time).
    #[schema(example = "2026-06-01T10:00:00+09:00", format = DateTime)]
    pub start: String,
    /// End, after the start.
    #[schema(example = "2026-06-01T12:00:00+09:00", format = DateTime)]
    pub end: String,
    /// The expected headcount (1–100000), when known.
    #[serde(default, deserialize_with = "whole::opt_u32")]
    #[schema(minimum = 1, maximum = 100000)]
    pub expected_headcount: Option<u32>,
    /// Refuse venue-QR self check-in (desk scans and lists only); default false.
    #[serde(default)]
    pub desk_scan_only: bool,
    /// Grace in minutes (0–30); default 5.
    #[serde(default, deserialize_with = "whole::opt_u32")]
    #[schema(minimum = 0, maximum = 30)]
    pub grace_minutes: Option<u32>,
    /// The programme (at most 100 items), inside the session's times, not overlapping.
    #[schema(max_items = 100)]
    pub items: Vec<TrainingItemRequest>,
}

/// One interval of an attendee-list import's difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrainingDiffLine {
    /// 医籍登録番号.
    #[schema(example = "123456")]
    pub iseki_number: String,
    /// Arrival, RFC 3339 UTC.
    pub check_in: String,
    /// Departure, RFC 3339 UTC.
    pub check_out: String,
    /// The number has no verified MAMIS_ID yet: kept as pending attendance, credited once one
    /// is verified.
    pub pending: bool,
}

/// One thing wrong with an uploaded attendee list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrainingImportProblem {
    /// 1-based line of the file (the header is line 1); 0 for the file as a whole.
    #[schema(example = 3)]
    pub line: u64,
    /// The column at fault, as spelled in the file's header.
    #[schema(example = "生年月日")]
    pub column: Option<String>,
    /// Stable kind, e.g. `bad_date`, `register_mismatch`, `unknown_column`.
    #[schema(example = "bad_date")]
    pub code: String,
    /// What to fix, in the language of `Accept-Language` where the message exists (Japanese
    /// by default), else in English.
    pub message: String,
}

/// What an attendee-list upload would change (`dry_run=true`) or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrainingImportResult {
    /// The session.
    pub session: String,
    /// The encoding the file was read in: `UTF-8` or `CP932`.
    #[schema(example = "CP932")]
    pub encoding: String,
    /// Data lines read.
    pub rows: u64,
    /// Intervals added (or to add).
    pub added: u64,
    /// Recorded intervals missing from the file, withdrawn (or to withdraw) with their credits.
    pub removed: u64,
    /// Intervals already recorded as in the file.
    pub unchanged: u64,
    /// Distinct 医籍登録番号 in the file.
    pub attendees: u64,
    /// Of those, numbers without a verified MAMIS_ID (credited once one is verified).
    pub pending: u64,
    /// Whether the difference was written (`false` for a dry run).
    pub applied: bool,
    /// Ledger credits written.
    pub credited: u64,
    /// Ledger credits reversed.
    pub reversed: u64,
    /// The first 1,000 intervals added, by number.
    pub added_lines: Vec<TrainingDiffLine>,
    /// The first 1,000 intervals removed, by number.
    pub removed_lines: Vec<TrainingDiffLine>,
}

/// An attendee list refused whole (RFC 9457 problem with the list's problems): nothing was
/// written; fix the lines named and upload the file again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrainingImportRefusal {
    /// URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `Unprocessable Entity` (or `Payload Too Large`).
    pub title: String,
    /// 422, or 413 for a file over 20 MB.
    pub status: u16,
    /// A summary in the language of `Accept-Language`.
    pub detail: String,
    /// `attendee-list-refused` or `attendee-list-too-large`.
    pub code: String,
    /// The id under which the server logged the request.
    pub request_id: String,
    /// The encoding the file was read in, empty if it could not be read.
    pub encoding: String,
    /// Data lines read.
    pub rows: u64,
    /// The first 1,000 problems, in line order.
    pub problems: Vec<TrainingImportProblem>,
    /// How many problems there were in all.
    pub total_problems: u64,
}

/// One membership of a doctor (member back office API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberMembership {
    /// Association code (`JMA`, `P13`, `P13-0001`).
    #[schema(example = "P13-0001")]
    pub association: String,
    /// `jma`, `prefecture` or `county`.
    pub level: String,
    /// The association's class code.
    #[schema(example = "regular")]
    pub class: String,
    /// First day (ISO 8601).
    pub joined_on: String,
    /// First day no longer a member (exclusive), if it ended.
    pub left_on: Option<String>,
}

/// A search result: the doctor, workplace and memberships; `status` is `member`, `former`
/// or empty, seen from the token's scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberHit {
    /// MAMIS's id of the doctor, for `/api/v1/members/{id}`.
    pub id: String,
    /// The doctor's register entry.
    pub member: Member,
    /// 医療機関名, if on file.
    pub workplace: Option<String>,
    /// The workplace's municipality, if on file.
    pub municipality: Option<String>,
    /// `member`, `former` or empty (seen from the token's scope).
    pub status: String,
    /// Every membership, oldest first.
    pub memberships: Vec<MemberMembership>,
}

/// One page of a member search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberSearchPage {
    /// Matches over every page.
    pub total: u64,
    /// 1-based page.
    pub page: u64,
    /// Page size.
    pub per_page: u32,
    /// This page.
    pub members: Vec<MemberHit>,
}

/// An association whose action a procedure waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProcedureDueState {
    /// Association code.
    pub association: String,
    /// `approve`, `acknowledge` or `route`.
    pub action: String,
}

/// A membership procedure's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProcedureState {
    /// Procedure id.
    pub id: String,
    /// `join`, `transfer`, `class_change`, `name_change` or `withdrawal`.
    pub kind: String,
    /// `open`, `completed` or `cancelled`.
    pub status: String,
    /// When it was filed (RFC 3339).
    pub filed_at: String,
    /// When its changes take effect, once known.
    pub effective_on: Option<String>,
    /// Who must act next.
    pub due: Vec<ProcedureDueState>,
    /// Every association it concerns.
    pub parties: Vec<String>,
    /// History steps so far.
    pub events: u32,
}

/// A member's record: register entry, profile, memberships and procedures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberRecord {
    /// MAMIS's id of the doctor.
    pub id: String,
    /// The register entry.
    pub member: Member,
    /// 医籍登録年月日, if known.
    pub licensed_on: Option<String>,
    /// 医療機関名, if on file.
    pub workplace: Option<String>,
    /// The workplace's municipality, if on file.
    pub municipality: Option<String>,
    /// Every membership, oldest first.
    pub memberships: Vec<MemberMembership>,
    /// Membership procedures, newest first.
    pub procedures: Vec<ProcedureState>,
}
