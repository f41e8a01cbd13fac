//! The JSON API's request and response types with their OpenAPI schemas, shared by the server,
//! the tests and any client.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
