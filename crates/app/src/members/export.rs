//! A search's results as CSV for spreadsheet programs: UTF-8 with BOM, or CP932 (what Excel in
//! Japan reads without asking). CP932 cannot hold every name the register does (𠮷 and other
//! JIS X 0213 kanji, emoji); each such character becomes 〓 and the export's report counts them
//! and names the lines, so staff know which rows to check.
//! Chosen columns; audited with the doctors it listed.

use chrono::NaiveDate;
use mamis_domain::time::japan_date;
use mamis_domain::{Action, AssociationCode, AssociationLevel, Membership, Principal};
use mamis_store::{MemberHit, MemberQuery, MemberStore, Store, Tx};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

use super::{MAX_EXPORT, SearchError, SearchInput, expand, parse_input, scope_roots, standing};
use crate::audit::Entry;
use crate::{App, AppError};

/// The character written for one CP932 cannot hold (GETA MARK, 0x81AC in CP932).
pub const GETA: char = '〓';

/// How the file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 with a byte-order mark (Excel then reads it as UTF-8); every character kept.
    Utf8Bom,
    /// CP932 (Windows Shift_JIS); characters outside it become [`GETA`].
    Cp932,
}

impl Encoding {
    /// The form used in forms and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utf8Bom => "utf8",
            Self::Cp932 => "cp932",
        }
    }

    /// Parses [`Encoding::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "utf8" => Some(Self::Utf8Bom),
            "cp932" => Some(Self::Cp932),
            _ => None,
        }
    }

    /// The charset of the download's media type.
    pub fn charset(self) -> &'static str {
        match self {
            Self::Utf8Bom => "utf-8",
            Self::Cp932 => "shift_jis",
        }
    }
}

/// A column of the export; the headers are the import's, so an association's export reads
/// back into its register unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// 医籍登録番号.
    Iseki,
    /// 会員ID.
    MemberId,
    /// 氏.
    FamilyName,
    /// 名.
    GivenName,
    /// 氏カナ.
    FamilyKana,
    /// 名カナ.
    GivenKana,
    /// 生年月日.
    BirthDate,
    /// 性別.
    Sex,
    /// メールアドレス.
    Email,
    /// 勤務先.
    Workplace,
    /// 市区町村.
    Municipality,
    /// 所属 — the association of the membership shown.
    Association,
    /// 会員種別.
    Class,
    /// 入会日.
    JoinedOn,
    /// 退会日.
    LeftOn,
    /// 状態 — member or former, in the scope searched.
    Status,
}

impl Column {
    /// Every column in file order.
    pub const ALL: [Column; 16] = [
        Self::Iseki,
        Self::MemberId,
        Self::FamilyName,
        Self::GivenName,
        Self::FamilyKana,
        Self::GivenKana,
        Self::BirthDate,
        Self::Sex,
        Self::Email,
        Self::Workplace,
        Self::Municipality,
        Self::Association,
        Self::Class,
        Self::JoinedOn,
        Self::LeftOn,
        Self::Status,
    ];

    /// The form used in forms (`cols=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iseki => "iseki_number",
            Self::MemberId => "member_id",
            Self::FamilyName => "family_name",
            Self::GivenName => "given_name",
            Self::FamilyKana => "family_kana",
            Self::GivenKana => "given_kana",
            Self::BirthDate => "birth_date",
            Self::Sex => "sex",
            Self::Email => "email",
            Self::Workplace => "workplace",
            Self::Municipality => "municipality",
            Self::Association => "association",
            Self::Class => "class",
            Self::JoinedOn => "joined_on",
            Self::LeftOn => "left_on",
            Self::Status => "status",
        }
    }

    /// The Japanese header (the import reads it, and the English form, back).
    pub fn header(self) -> &'static str {
        match self {
            Self::Iseki => "医籍登録番号",
            Self::MemberId => "会員ID",
            Self::FamilyName => "氏",
            Self::GivenName => "名",
            Self::FamilyKana => "氏カナ",
            Self::GivenKana => "名カナ",
            Self::BirthDate => "生年月日",
            Self::Sex => "性別",
            Self::Email => "メールアドレス",
            Self::Workplace => "勤務先",
            Self::Municipality => "市区町村",
            Self::Association => "所属",
            Self::Class => "会員種別",
            Self::JoinedOn => "入会日",
            Self::LeftOn => "退会日",
            Self::Status => "状態",
        }
    }

    /// Parses [`Column::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The file and its report.
#[derive(Debug, Clone)]
pub struct ExportFile {
    /// The bytes to download.
    pub bytes: Vec<u8>,
    /// Its encoding.
    pub encoding: Encoding,
    /// Data rows (the header not counted).
    pub rows: u64,
    /// Characters written as 〓 (CP932 only).
    pub replaced: u64,
    /// The file lines (header = line 1) holding a 〓 and the 医籍登録番号 on them, first 100.
    pub replaced_lines: Vec<(u64, String)>,
}

/// Keeps spreadsheet programs from running a cell as a formula (CSV injection).
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Encodes one line as CP932, writing [`GETA`] for what CP932 cannot hold; returns how many.
pub fn encode_cp932(text: &str, out: &mut Vec<u8>) -> u64 {
    let mut encoder = encoding_rs::SHIFT_JIS.new_encoder();
    let mut replaced = 0;
    let mut src = text;
    let mut buf = vec![0u8; text.len() * 2 + 16];
    loop {
        let (result, read, written) =
            encoder.encode_from_utf8_without_replacement(src, &mut buf, true);
        out.extend_from_slice(&buf[..written]);
        src = &src[read..];
        match result {
            encoding_rs::EncoderResult::InputEmpty => return replaced,
            encoding_rs::EncoderResult::OutputFull => {
                buf.resize(buf.len() * 2, 0);
            }
            encoding_rs::EncoderResult::Unmappable(_) => {
                replaced += 1;
                out.extend_from_slice(&[0x81, 0xAC]);
            }
        }
    }
}

/// The membership a row shows: in the scope (and at the level asked), the current one at the
/// most local level, else the latest.
fn shown<'m>(
    ms: &'m [Membership],
    scope: Option<&[AssociationCode]>,
    level: Option<AssociationLevel>,
    today: NaiveDate,
) -> Option<&'m Membership> {
    let mut v: Vec<&Membership> = ms
        .iter()
        .filter(|m| scope.is_none_or(|s| s.contains(&m.association)))
        .filter(|m| level.is_none_or(|l| m.level() == l))
        .collect();
    let rank = |l: AssociationLevel| match l {
        AssociationLevel::County => 0,
        AssociationLevel::Prefecture => 1,
        AssociationLevel::Jma => 2,
    };
    v.sort_by_key(|m| {
        let current = m.joined_on <= today && m.left_on.is_none_or(|l| l > today);
        (!current, rank(m.level()), std::cmp::Reverse(m.joined_on))
    });
    v.first().copied()
}

fn value(
    c: Column,
    h: &MemberHit,
    m: Option<&Membership>,
    ms: &[Membership],
    q: &MemberQuery,
) -> String {
    let d = &h.doctor;
    match c {
        Column::Iseki => d.iseki.to_string(),
        Column::MemberId => d
            .member_id
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
        Column::FamilyName => cell(&d.family_name),
        Column::GivenName => cell(&d.given_name),
        Column::FamilyKana => d.family_kana.to_string(),
        Column::GivenKana => d.given_kana.to_string(),
        Column::BirthDate => d.birth_date.to_string(),
        Column::Sex => d.sex.as_str().to_owned(),
        Column::Email => cell(d.contact_email.as_deref().unwrap_or("")),
        Column::Workplace => cell(h.workplace.as_deref().unwrap_or("")),
        Column::Municipality => cell(h.municipality.as_deref().unwrap_or("")),
        Column::Association => m.map(|m| m.association.to_string()).unwrap_or_default(),
        Column::Class => m.map(|m| m.class.to_string()).unwrap_or_default(),
        Column::JoinedOn => m.map(|m| m.joined_on.to_string()).unwrap_or_default(),
        Column::LeftOn => m
            .and_then(|m| m.left_on)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        Column::Status => standing(ms, q.scope.as_deref(), q.today)
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// Writes the rows as CSV text lines (CRLF) and encodes them.
pub fn write_file(
    hits: &[MemberHit],
    memberships: &HashMap<Uuid, Vec<Membership>>,
    columns: &[Column],
    q: &MemberQuery,
    encoding: Encoding,
) -> Result<ExportFile, AppError> {
    let mut out = Vec::with_capacity(hits.len() * 160);
    if encoding == Encoding::Utf8Bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut file = ExportFile {
        bytes: Vec::new(),
        encoding,
        rows: 0,
        replaced: 0,
        replaced_lines: Vec::new(),
    };
    let csv_err = |e: csv::Error| AppError::Internal(format!("csv: {e}"));
    let mut emit = |record: Vec<String>, n: u64, iseki: &str, file: &mut ExportFile| {
        let mut line = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::with_capacity(256));
        line.write_record(&record).map_err(csv_err)?;
        let text = line
            .into_inner()
            .map_err(|e| AppError::Internal(format!("csv: {e}")))?;
        let text = String::from_utf8(text).map_err(|e| AppError::Internal(e.to_string()))?;
        match encoding {
            Encoding::Utf8Bom => out.extend_from_slice(text.as_bytes()),
            Encoding::Cp932 => {
                let r = encode_cp932(&text, &mut out);
                if r > 0 {
                    file.replaced += r;
                    if file.replaced_lines.len() < 100 {
                        file.replaced_lines.push((n, iseki.to_owned()));
                    }
                }
            }
        }
        Ok::<(), AppError>(())
    };
    let header: Vec<String> = columns.iter().map(|c| c.header().to_owned()).collect();
    emit(header, 1, "", &mut file)?;
    let empty = Vec::new();
    for (i, h) in hits.iter().enumerate() {
        let ms = memberships.get(&h.doctor.id).unwrap_or(&empty);
        let m = shown(ms, q.scope.as_deref(), q.level, q.today);
        let record = columns.iter().map(|&c| value(c, h, m, ms, q)).collect();
        emit(record, i as u64 + 2, h.doctor.iseki.as_str(), &mut file)?;
        file.rows += 1;
    }
    file.bytes = out;
    Ok(file)
}

/// Exports every match of a search (up to [`MAX_EXPORT`] rows) with the chosen columns; the
/// export is audited with its row count, encoding, columns and replaced characters.
pub async fn export<S: Store>(
    app: &App<S>,
    actor: &Principal,
    input: &SearchInput,
    columns: &[Column],
    encoding: Encoding,
    client_addr: Option<String>,
) -> Result<ExportFile, SearchError> {
    if columns.is_empty() {
        return Err(SearchError::Fields(vec![super::FieldError {
            field: "cols",
            key: "members-error-columns",
        }]));
    }
    let roots = scope_roots(actor, Action::ViewDoctors)?;
    let now = app.now();
    let mut query = parse_input(input, japan_date(now)).map_err(SearchError::Fields)?;
    let mut tx = app.store.write().await?;
    query.scope = expand(&mut tx, &roots).await?;
    // one read of every match (a count and one page), up to the export's limit
    query.limit = MAX_EXPORT;
    query.offset = 0;
    let hits = tx.search_members(&query).await?.hits;
    let ids: Vec<Uuid> = hits.iter().map(|h| h.doctor.id).collect();
    let mut memberships: HashMap<Uuid, Vec<Membership>> = HashMap::new();
    for (d, m) in tx.memberships_of_doctors(&ids).await? {
        memberships.entry(d).or_default().push(m);
    }
    let file = write_file(&hits, &memberships, columns, &query, encoding)?;
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "doctor.export",
            target: "members".into(),
            client_addr,
            details: json!({
                "q": input.q.trim(), "rows": file.rows, "encoding": encoding.as_str(),
                "columns": columns.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
                "replaced": file.replaced, "doctors": ids,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_cp932(text: &str) -> (Vec<u8>, u64) {
        // the rule's text: each character on its own, encoded if CP932 has it, else 〓
        let mut out = Vec::new();
        let mut n = 0;
        for c in text.chars() {
            let s = c.to_string();
            let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&s);
            if unmappable {
                out.extend_from_slice(&[0x81, 0xAC]);
                n += 1;
            } else {
                out.extend_from_slice(&bytes);
            }
        }
        (out, n)
    }

    #[test]
    fn characters_outside_cp932_become_geta_and_are_counted() {
        let cases: &[(&str, u64)] = &[
            ("山田太郎", 0),
            ("𠮷田", 1),
            ("𠮷田𠮷", 2),
            ("髙橋", 0),
            ("ｶﾀｶﾅ", 0),
            ("①②", 0),
            ("😀", 1),
            ("A,B\r\n", 0),
        ];
        for (text, n) in cases {
            let mut out = Vec::new();
            assert_eq!(encode_cp932(text, &mut out), *n, "{text}");
            let (back, _, _) = encoding_rs::SHIFT_JIS.decode(&out);
            assert_eq!(back.chars().filter(|&c| c == GETA).count() as u64, *n);
        }
    }

    proptest! {
        #[test]
        fn cp932_matches_the_naive_model(text in "[a-z山田𠮷髙😀〓ア-ン ,\"]{0,30}") {
            let mut out = Vec::new();
            let n = encode_cp932(&text, &mut out);
            let (naive, m) = naive_cp932(&text);
            prop_assert_eq!(out, naive);
            prop_assert_eq!(n, m);
        }
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("山田"), "山田");
    }
}
