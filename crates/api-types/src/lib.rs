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
    #[schema(example = "千代田区医師会")]
    pub name_ja: String,
    #[schema(example = "Chiyoda Medical Association")]
    pub name_en: String,
}

/// An association and its direct children.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssociationDetail {
    pub association: Association,
    pub children: Vec<Association>,
}

/// A doctor as shown to staff and associations' systems (personal data: every view is audited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// 医籍登録番号 (1–7 digits, no leading zeros).
    #[schema(example = "123456")]
    pub iseki_number: String,
    #[schema(example = "山田")]
    pub family_name: String,
    #[schema(example = "太郎")]
    pub given_name: String,
    #[schema(example = "ヤマダ")]
    pub family_kana: String,
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
    pub association: String,
    pub offset: u64,
    pub limit: u32,
    pub members: Vec<Member>,
}

/// An RFC 9457 problem document, the body of every API error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// A human-readable explanation in the language of `Accept-Language` (Japanese by default).
    pub detail: String,
    /// A stable machine-readable code, e.g. `forbidden`.
    pub code: String,
    pub request_id: String,
}
