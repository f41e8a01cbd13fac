//! An association's existing register by CSV (Japanese or English headers; UTF-8, UTF-8 with
//! BOM, CP932): creates or updates doctors and the association's memberships. All or nothing —
//! every line is checked, against the file and against the register, before anything is
//! written, in one write transaction; any problem rolls it back and the report names each line.
//! The same file again changes nothing (everything it says is already recorded).
//!
//! Conflicts with the register are refused with both values: a different birth date or member
//! ID for a 医籍登録番号, a 医籍登録年月日 that differs, a current membership of another
//! association at the same level (a transfer is a procedure, not an import), a membership of
//! the association recorded with another class or another leaving date.

use std::collections::HashMap;

use chrono::NaiveDate;
use csv::StringRecord;
use mamis_domain::time::japan_date;
use mamis_domain::{
    Action, AssociationCode, AssociationLevel, ClassCode, IsekiNumber, KanaName, MemberId,
    Membership, Principal, Sex, Target,
};
use mamis_store::{Doctor, DoctorNames, DoctorProfile, MembershipStore, RegistryStore, Store, Tx};
use serde_json::json;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::audit::Entry;
use crate::authz::require;
use crate::sheet::{Line, Sheet};
use crate::{App, AppError};

/// Problems listed in full; beyond this only the total is counted.
pub const MAX_REPORTED: usize = 1_000;
/// Largest file accepted (a national register is some 60 MB).
pub const MAX_BYTES: usize = 200 << 20;
/// Longest name part accepted.
const MAX_NAME: usize = 50;
/// Register lookups per query.
const LOOKUP: usize = 1_000;

/// One thing wrong with a line of the file: a message key of the web catalogue and its
/// arguments (`line`, `column`, `value`, `register`, `first`, `code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based physical line (the header is line 1); 0 for the file as a whole.
    pub line: u64,
    /// The column at fault as the header spells it, when one cell is.
    pub column: Option<String>,
    /// The message key (`members-import-…`).
    pub key: &'static str,
    /// The cell's value as read, when it matters.
    pub value: Option<String>,
    /// What the register holds instead, for conflicts.
    pub register: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterReport {
    /// The encoding found (`UTF-8`, `UTF-8 with BOM`, `CP932`, …).
    pub encoding: &'static str,
    /// Data lines read.
    pub rows: u64,
    /// Doctors added to the register.
    pub created: u64,
    /// Doctors whose names, profile, member ID or 医籍登録年月日 changed.
    pub updated: u64,
    /// Memberships added.
    pub joined: u64,
    /// Memberships ended.
    pub ended: u64,
    /// Lines already recorded as they are.
    pub unchanged: u64,
    /// The first [`MAX_REPORTED`] problems, in line order.
    pub problems: Vec<Problem>,
    /// All problems; any means nothing was written.
    pub total_problems: u64,
}

impl RegisterReport {
    /// Whether the file was applied.
    pub fn applied(&self) -> bool {
        self.total_problems == 0
    }

    fn add(&mut self, p: Problem) {
        self.total_problems += 1;
        if self.problems.len() < MAX_REPORTED {
            self.problems.push(p);
        }
    }
}

fn problem(line: u64, column: Option<&str>, key: &'static str) -> Problem {
    Problem {
        line,
        column: column.map(str::to_owned),
        key,
        value: None,
        register: None,
    }
}

/// A column of the register file, named in Japanese or English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Col {
    ja: &'static str,
    en: &'static str,
    required: bool,
}

const COLS: [Col; 17] = [
    Col {
        ja: "医籍登録番号",
        en: "iseki_number",
        required: true,
    },
    Col {
        ja: "氏",
        en: "family_name",
        required: true,
    },
    Col {
        ja: "名",
        en: "given_name",
        required: true,
    },
    Col {
        ja: "氏カナ",
        en: "family_kana",
        required: true,
    },
    Col {
        ja: "名カナ",
        en: "given_kana",
        required: true,
    },
    Col {
        ja: "生年月日",
        en: "birth_date",
        required: true,
    },
    Col {
        ja: "性別",
        en: "sex",
        required: true,
    },
    Col {
        ja: "会員種別",
        en: "class",
        required: true,
    },
    Col {
        ja: "入会日",
        en: "joined_on",
        required: true,
    },
    Col {
        ja: "退会日",
        en: "left_on",
        required: false,
    },
    Col {
        ja: "会員ID",
        en: "member_id",
        required: false,
    },
    Col {
        ja: "メールアドレス",
        en: "email",
        required: false,
    },
    Col {
        ja: "勤務先",
        en: "workplace",
        required: false,
    },
    Col {
        ja: "市区町村",
        en: "municipality",
        required: false,
    },
    Col {
        ja: "医籍登録年月日",
        en: "licensed_on",
        required: false,
    },
    Col {
        ja: "所属",
        en: "association",
        required: false,
    },
    Col {
        ja: "状態",
        en: "status",
        required: false,
    },
];

const ISEKI: usize = 0;
const FAMILY: usize = 1;
const GIVEN: usize = 2;
const FAMILY_KANA: usize = 3;
const GIVEN_KANA: usize = 4;
const BIRTH: usize = 5;
const SEX: usize = 6;
const CLASS: usize = 7;
const JOINED: usize = 8;
const LEFT: usize = 9;
const MEMBER_ID: usize = 10;
const EMAIL: usize = 11;
const WORKPLACE: usize = 12;
const MUNICIPALITY: usize = 13;
const LICENSED: usize = 14;
const ASSOCIATION: usize = 15;

/// Where each column is and how the header spells it.
struct Header {
    at: [Option<usize>; 17],
    names: [String; 17],
    width: usize,
}

impl Header {
    fn name(&self, c: usize) -> &str {
        &self.names[c]
    }
}

fn norm(s: &str) -> String {
    s.nfkc().collect::<String>().trim().to_owned()
}

fn read_header(sheet: &mut Sheet<'_>, report: &mut RegisterReport) -> Option<Header> {
    let rec = match sheet.reader().headers() {
        Ok(r) => r.clone(),
        Err(_) => {
            report.add(problem(1, None, "members-import-no-header"));
            return None;
        }
    };
    let mut h = Header {
        at: [None; 17],
        names: std::array::from_fn(|i| COLS[i].ja.to_owned()),
        width: crate::sheet::width(&rec),
    };
    for (i, raw) in rec.iter().enumerate() {
        let name = norm(raw.trim_start_matches('\u{FEFF}'));
        if name.is_empty() {
            continue;
        }
        match COLS
            .iter()
            .position(|c| name == c.ja || name.eq_ignore_ascii_case(c.en))
        {
            Some(k) if h.at[k].is_some() => {
                let mut p = problem(1, Some(&name), "members-import-header-repeated");
                p.value = Some(name.clone());
                report.add(p);
            }
            Some(k) => {
                h.at[k] = Some(i);
                h.names[k] = name;
            }
            None => {
                let mut p = problem(1, Some(&name), "members-import-header-unknown");
                p.value = Some(name.clone());
                report.add(p);
            }
        }
    }
    for (k, c) in COLS.iter().enumerate() {
        if c.required && h.at[k].is_none() {
            let mut p = problem(1, None, "members-import-header-missing");
            p.value = Some(format!("{}|{}", c.ja, c.en));
            report.add(p);
        }
    }
    report.applied().then_some(h)
}

/// A line whose cells are well-formed.
#[derive(Debug, Clone)]
struct Row {
    line: u64,
    iseki: IsekiNumber,
    family_name: String,
    given_name: String,
    family_kana: KanaName,
    given_kana: KanaName,
    birth_date: NaiveDate,
    sex: Sex,
    class: ClassCode,
    joined_on: NaiveDate,
    left_on: Option<NaiveDate>,
    member_id: Option<MemberId>,
    email: Option<String>,
    workplace: Option<String>,
    municipality: Option<String>,
    licensed_on: Option<NaiveDate>,
}

struct Ctx<'a> {
    header: &'a Header,
    association: &'a AssociationCode,
    classes: &'a [ClassCode],
    today: NaiveDate,
}

fn sex(v: &str) -> Option<Sex> {
    match v.to_ascii_lowercase().as_str() {
        "male" | "m" | "1" | "男" | "男性" => Some(Sex::Male),
        "female" | "f" | "2" | "女" | "女性" => Some(Sex::Female),
        _ => None,
    }
}

fn parse_row(rec: &StringRecord, line: u64, ctx: &Ctx<'_>) -> Result<Row, Vec<Problem>> {
    let h = ctx.header;
    if !crate::sheet::fits(rec, h.width) {
        return Err(vec![problem(line, None, "members-import-width")]);
    }
    let mut out = Vec::new();
    let get = |c: usize| {
        h.at[c]
            .and_then(|i| rec.get(i))
            .map(norm)
            .unwrap_or_default()
    };
    let bad = |c: usize, key: &'static str, v: &str, out: &mut Vec<Problem>| {
        let mut p = problem(line, Some(h.name(c)), key);
        p.value = Some(v.to_owned());
        out.push(p);
    };
    let required = |c: usize, out: &mut Vec<Problem>| {
        let v = get(c);
        if v.is_empty() {
            out.push(problem(line, Some(h.name(c)), "members-import-required"));
            None
        } else {
            Some(v)
        }
    };
    let iseki = required(ISEKI, &mut out).and_then(|v| match IsekiNumber::parse(&v) {
        Ok(i) => Some(i),
        Err(_) => {
            bad(ISEKI, "members-import-bad-iseki", &v, &mut out);
            None
        }
    });
    let name = |c: usize, out: &mut Vec<Problem>| {
        let v = required(c, out)?;
        if v.chars().count() > MAX_NAME {
            bad(c, "members-import-too-long", &v, out);
            return None;
        }
        Some(v)
    };
    let family_name = name(FAMILY, &mut out);
    let given_name = name(GIVEN, &mut out);
    let kana = |c: usize, out: &mut Vec<Problem>| {
        let v = required(c, out)?;
        match KanaName::normalise(&v) {
            Ok(k) => Some(k),
            Err(_) => {
                bad(c, "members-import-bad-kana", &v, out);
                None
            }
        }
    };
    let family_kana = kana(FAMILY_KANA, &mut out);
    let given_kana = kana(GIVEN_KANA, &mut out);
    let date = |c: usize, v: &str, past: bool, out: &mut Vec<Problem>| {
        match mamis_domain::dates::parse_date(v) {
            Ok(d) if past && d > ctx.today => {
                bad(c, "members-import-future", v, out);
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                bad(c, "members-import-bad-date", v, out);
                None
            }
        }
    };
    let birth_date = required(BIRTH, &mut out).and_then(|v| date(BIRTH, &v, true, &mut out));
    let sex = required(SEX, &mut out).and_then(|v| match sex(&v) {
        Some(s) => Some(s),
        None => {
            bad(SEX, "members-import-bad-sex", &v, &mut out);
            None
        }
    });
    let class = required(CLASS, &mut out).and_then(|v| match ClassCode::parse(&v) {
        Ok(c) if ctx.classes.contains(&c) => Some(c),
        _ => {
            bad(CLASS, "members-import-bad-class", &v, &mut out);
            None
        }
    });
    let joined_on = required(JOINED, &mut out).and_then(|v| date(JOINED, &v, false, &mut out));
    let left_raw = get(LEFT);
    let left_on = if left_raw.is_empty() {
        None
    } else {
        date(LEFT, &left_raw, false, &mut out)
    };
    if let (Some(j), Some(l)) = (joined_on, left_on)
        && l <= j
    {
        bad(
            LEFT,
            "members-import-left-before-joined",
            &left_raw,
            &mut out,
        );
    }
    if let (Some(b), Some(j)) = (birth_date, joined_on)
        && j <= b
    {
        bad(
            JOINED,
            "members-import-joined-before-birth",
            &j.to_string(),
            &mut out,
        );
    }
    let mid_raw = get(MEMBER_ID);
    let member_id = if mid_raw.is_empty() {
        None
    } else {
        match MemberId::parse(&mid_raw) {
            Ok(m) => Some(m),
            Err(_) => {
                bad(
                    MEMBER_ID,
                    "members-import-bad-member-id",
                    &mid_raw,
                    &mut out,
                );
                None
            }
        }
    };
    let email = Some(get(EMAIL)).filter(|e| !e.is_empty());
    if let Some(e) = &email
        && (!e.contains('@') || e.len() > 254 || e.contains(char::is_whitespace))
    {
        bad(EMAIL, "members-import-bad-email", e, &mut out);
    }
    let opt_text = |c: usize, out: &mut Vec<Problem>| {
        let v = get(c);
        if v.chars().count() > 200 {
            bad(c, "members-import-too-long", &v, out);
        }
        Some(v).filter(|v| !v.is_empty())
    };
    let workplace = opt_text(WORKPLACE, &mut out);
    let municipality = opt_text(MUNICIPALITY, &mut out);
    let lic_raw = get(LICENSED);
    let licensed_on = if lic_raw.is_empty() {
        None
    } else {
        date(LICENSED, &lic_raw, true, &mut out)
    };
    let assoc = get(ASSOCIATION);
    if !assoc.is_empty() && assoc != ctx.association.as_str() {
        bad(
            ASSOCIATION,
            "members-import-other-association",
            &assoc,
            &mut out,
        );
    }
    match (
        iseki,
        family_name,
        given_name,
        family_kana,
        given_kana,
        birth_date,
        sex,
        class,
        joined_on,
    ) {
        (
            Some(iseki),
            Some(family_name),
            Some(given_name),
            Some(family_kana),
            Some(given_kana),
            Some(birth_date),
            Some(sex),
            Some(class),
            Some(joined_on),
        ) if out.is_empty() => Ok(Row {
            line,
            iseki,
            family_name,
            given_name,
            family_kana,
            given_kana,
            birth_date,
            sex,
            class,
            joined_on,
            left_on,
            member_id,
            email,
            workplace,
            municipality,
            licensed_on,
        }),
        _ => Err(out),
    }
}

/// What the register says about the file's doctors, read in bulk.
#[derive(Default)]
struct Register {
    doctors: HashMap<String, Doctor>,
    by_member_id: HashMap<String, Uuid>,
    memberships: HashMap<Uuid, Vec<Membership>>,
    profiles: HashMap<Uuid, DoctorProfile>,
    licences: HashMap<Uuid, NaiveDate>,
}

async fn load<T: Tx>(tx: &mut T, rows: &[Row]) -> Result<Register, AppError> {
    let mut reg = Register::default();
    for chunk in rows.chunks(LOOKUP) {
        let numbers: Vec<IsekiNumber> = chunk.iter().map(|r| r.iseki.clone()).collect();
        for m in tx.register_matches(&numbers).await? {
            reg.doctors.insert(m.doctor.iseki.to_string(), m.doctor);
        }
        let ids: Vec<String> = chunk
            .iter()
            .filter_map(|r| r.member_id.as_ref().map(|m| m.to_string()))
            .collect();
        for d in tx.doctors_by_member_ids(&ids).await? {
            if let Some(m) = &d.member_id {
                reg.by_member_id.insert(m.to_string(), d.id);
            }
        }
    }
    let ids: Vec<Uuid> = reg.doctors.values().map(|d| d.id).collect();
    for chunk in ids.chunks(LOOKUP) {
        for (d, m) in tx.memberships_of_doctors(chunk).await? {
            reg.memberships.entry(d).or_default().push(m);
        }
        for p in tx.profiles_of_doctors(chunk).await? {
            reg.profiles.insert(p.doctor_id, p);
        }
        for (d, l) in tx.licence_dates(chunk).await? {
            reg.licences.insert(d, l);
        }
    }
    Ok(reg)
}

/// The writes one line asks for, once every line is known to be fine.
#[derive(Default)]
struct Plan {
    new_doctors: Vec<Doctor>,
    new_memberships: Vec<(Uuid, Membership)>,
    renames: Vec<(Uuid, DoctorNames)>,
    member_ids: Vec<(Uuid, MemberId)>,
    profiles: Vec<DoctorProfile>,
    licences: Vec<(Uuid, NaiveDate)>,
    ends: Vec<(Uuid, NaiveDate, NaiveDate)>,
}

fn conflict(line: u64, column: &str, key: &'static str, file: String, register: String) -> Problem {
    Problem {
        line,
        column: Some(column.to_owned()),
        key,
        value: Some(file),
        register: Some(register),
    }
}

/// Compares one line with the register and adds its writes to the plan (or its conflicts).
fn plan_row(
    row: &Row,
    reg: &Register,
    h: &Header,
    association: &AssociationCode,
    now: mamis_domain::Timestamp,
    plan: &mut Plan,
    report: &mut RegisterReport,
) {
    let line = row.line;
    let mut problems = Vec::new();
    let existing = reg.doctors.get(row.iseki.as_str());
    let doctor_id = existing.map_or_else(Uuid::now_v7, |d| d.id);
    if let Some(m) = &row.member_id
        && let Some(other) = reg.by_member_id.get(m.as_str())
        && *other != doctor_id
    {
        let who = reg
            .doctors
            .values()
            .find(|d| d.id == *other)
            .map_or_else(String::new, |d| d.iseki.to_string());
        problems.push(conflict(
            line,
            h.name(MEMBER_ID),
            "members-import-member-id-taken",
            m.to_string(),
            who,
        ));
    }
    let mut changed = false;
    match existing {
        Some(d) => {
            if d.birth_date != row.birth_date {
                problems.push(conflict(
                    line,
                    h.name(BIRTH),
                    "members-import-birth-differs",
                    row.birth_date.to_string(),
                    d.birth_date.to_string(),
                ));
            }
            match (&d.member_id, &row.member_id) {
                (Some(a), Some(b)) if a != b => problems.push(conflict(
                    line,
                    h.name(MEMBER_ID),
                    "members-import-member-id-differs",
                    b.to_string(),
                    a.to_string(),
                )),
                (None, Some(b)) => {
                    plan.member_ids.push((d.id, b.clone()));
                    changed = true;
                }
                _ => {}
            }
            if let (Some(l), Some(k)) = (row.licensed_on, reg.licences.get(&d.id))
                && l != *k
            {
                problems.push(conflict(
                    line,
                    h.name(LICENSED),
                    "members-import-licence-differs",
                    l.to_string(),
                    k.to_string(),
                ));
            }
            if d.family_name != row.family_name
                || d.given_name != row.given_name
                || d.family_kana != row.family_kana
                || d.given_kana != row.given_kana
            {
                plan.renames.push((
                    d.id,
                    DoctorNames {
                        family_name: row.family_name.clone(),
                        given_name: row.given_name.clone(),
                        family_kana: row.family_kana.clone(),
                        given_kana: row.given_kana.clone(),
                    },
                ));
                changed = true;
            }
        }
        None => {
            plan.new_doctors.push(Doctor {
                id: doctor_id,
                iseki: row.iseki.clone(),
                family_name: row.family_name.clone(),
                given_name: row.given_name.clone(),
                family_kana: row.family_kana.clone(),
                given_kana: row.given_kana.clone(),
                birth_date: row.birth_date,
                sex: row.sex,
                contact_email: row.email.clone(),
                member_id: row.member_id.clone(),
                home_prefecture: None,
                created_at: now,
            });
        }
    }
    if (existing.is_none() || !reg.licences.contains_key(&doctor_id))
        && let Some(l) = row.licensed_on
    {
        plan.licences.push((doctor_id, l));
        changed |= existing.is_some();
    }
    // the profile: the file's workplace and municipality, the rest kept
    if row.workplace.is_some() || row.municipality.is_some() {
        let old = reg.profiles.get(&doctor_id);
        let same = old.is_some_and(|p| {
            (row.workplace.is_none() || p.workplace_name == row.workplace)
                && (row.municipality.is_none() || p.workplace_municipality == row.municipality)
        });
        if !same {
            let mut p = old.cloned().unwrap_or(DoctorProfile {
                doctor_id,
                workplace_name: None,
                workplace_address: None,
                workplace_municipality: None,
                home_address: None,
                phone: None,
                graduation_year: None,
                resident: false,
                updated_at: now,
            });
            if row.workplace.is_some() {
                p.workplace_name = row.workplace.clone();
            }
            if row.municipality.is_some() {
                p.workplace_municipality = row.municipality.clone();
            }
            p.updated_at = now;
            plan.profiles.push(p);
            changed |= existing.is_some();
        }
    }
    // the membership of this association
    let level = association.level();
    let empty = Vec::new();
    let ms = reg.memberships.get(&doctor_id).unwrap_or(&empty);
    let mut joined = false;
    let mut ended = false;
    match ms
        .iter()
        .find(|m| m.association == *association && m.joined_on == row.joined_on)
    {
        Some(m) => {
            if m.class != row.class {
                problems.push(conflict(
                    line,
                    h.name(CLASS),
                    "members-import-class-differs",
                    row.class.to_string(),
                    m.class.to_string(),
                ));
            }
            match (m.left_on, row.left_on) {
                (None, Some(l)) => {
                    plan.ends.push((doctor_id, m.joined_on, l));
                    ended = true;
                }
                (Some(a), b) if Some(a) != b => problems.push(conflict(
                    line,
                    h.name(LEFT),
                    "members-import-left-differs",
                    b.map(|d| d.to_string()).unwrap_or_default(),
                    a.to_string(),
                )),
                _ => {}
            }
        }
        None => {
            // overlapping another membership of the same level (this association or another)
            let clash = ms.iter().find(|m| {
                m.level() == level
                    && m.left_on.is_none_or(|l| l > row.joined_on)
                    && row.left_on.is_none_or(|l| l > m.joined_on)
            });
            if let Some(m) = clash {
                let key = if m.association == *association {
                    "members-import-joined-differs"
                } else {
                    "members-import-other-member"
                };
                problems.push(conflict(
                    line,
                    h.name(JOINED),
                    key,
                    format!("{} {}", association, row.joined_on),
                    format!(
                        "{} {}{}",
                        m.association,
                        m.joined_on,
                        m.left_on.map(|l| format!("–{l}")).unwrap_or_default()
                    ),
                ));
            } else {
                plan.new_memberships.push((
                    doctor_id,
                    Membership {
                        association: association.clone(),
                        class: row.class.clone(),
                        joined_on: row.joined_on,
                        left_on: row.left_on,
                    },
                ));
                joined = true;
            }
        }
    }
    if problems.is_empty() {
        if existing.is_none() {
            report.created += 1;
        } else if changed {
            report.updated += 1;
        }
        report.joined += u64::from(joined);
        report.ended += u64::from(ended);
        if existing.is_some() && !changed && !joined && !ended {
            report.unchanged += 1;
        }
    } else {
        for p in problems {
            report.add(p);
        }
    }
}

/// Imports an association's register. Staff need to edit doctors of the association; an
/// unknown association is not found. Any problem: nothing written, every line reported.
pub async fn import_register<S: Store>(
    app: &App<S>,
    actor: &Principal,
    association: &AssociationCode,
    bytes: &[u8],
    client_addr: Option<String>,
) -> Result<RegisterReport, AppError> {
    require(
        actor,
        Action::EditDoctors,
        &Target::Association(association),
    )?;
    let now = app.now();
    let today = japan_date(now);
    let mut report = RegisterReport::default();
    if bytes.len() > MAX_BYTES {
        report.add(problem(0, None, "members-import-too-large"));
        return Ok(report);
    }
    let text = match crate::identity::legacy::decode(bytes) {
        Ok((t, enc)) => {
            report.encoding = enc;
            t
        }
        Err(_) => {
            report.add(problem(0, None, "members-import-unreadable"));
            return Ok(report);
        }
    };
    let mut tx = app.store.write().await?;
    if tx.association(association).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let classes: Vec<ClassCode> = if association.level() == AssociationLevel::Jma {
        mamis_domain::MemberClass::ALL
            .into_iter()
            .map(ClassCode::from)
            .collect()
    } else {
        tx.association_classes(association)
            .await?
            .into_iter()
            .filter(|c| !c.retired)
            .map(|c| c.code)
            .collect()
    };
    let mut sheet = Sheet::new(&text, true);
    let Some(header) = read_header(&mut sheet, &mut report) else {
        tx.rollback().await?;
        return Ok(report);
    };
    let ctx = Ctx {
        header: &header,
        association,
        classes: &classes,
        today,
    };
    let mut rows = Vec::new();
    let mut first: HashMap<String, u64> = HashMap::new();
    let mut rec = StringRecord::new();
    loop {
        let line = match sheet.next(&mut rec) {
            Line::End => break,
            Line::Blank => continue,
            Line::UnclosedQuote(line) => {
                report.add(problem(line, None, "members-import-unclosed-quote"));
                break;
            }
            Line::Broken { line, .. } => {
                report.add(problem(line, None, "members-import-broken"));
                break;
            }
            Line::Data(line) => line,
        };
        report.rows += 1;
        // a number seen on an earlier line (well-formed or not) is a duplicate
        let number = header.at[ISEKI]
            .and_then(|i| rec.get(i))
            .and_then(|v| IsekiNumber::parse(&norm(v)).ok());
        if let Some(n) = &number {
            if let Some(f) = first.get(n.as_str()) {
                let mut p = problem(line, Some(header.name(ISEKI)), "members-import-duplicate");
                p.value = Some(n.to_string());
                p.register = Some(f.to_string());
                report.add(p);
                continue;
            }
            first.insert(n.to_string(), line);
        }
        match parse_row(&rec, line, &ctx) {
            Err(ps) => ps.into_iter().for_each(|p| report.add(p)),
            Ok(row) => rows.push(row),
        }
    }
    if report.rows == 0 && report.applied() {
        report.add(problem(0, None, "members-import-empty"));
    }
    let reg = load(&mut tx, &rows).await?;
    let mut plan = Plan::default();
    for row in &rows {
        plan_row(row, &reg, &header, association, now, &mut plan, &mut report);
    }
    report.problems.sort_by_key(|p| p.line);
    if !report.applied() {
        tx.rollback().await?;
        report.created = 0;
        report.updated = 0;
        report.joined = 0;
        report.ended = 0;
        return Ok(report);
    }
    tx.insert_doctors(&plan.new_doctors).await?;
    tx.insert_memberships(&plan.new_memberships).await?;
    for (d, n) in &plan.renames {
        tx.rename_doctor(*d, n).await?;
    }
    for (d, m) in &plan.member_ids {
        tx.set_member_id(*d, m).await?;
    }
    for p in &plan.profiles {
        tx.upsert_doctor_profile(p).await?;
    }
    for (d, l) in &plan.licences {
        tx.set_licence_date(*d, Some(*l)).await?;
    }
    for (d, joined, left) in &plan.ends {
        tx.end_membership(*d, association, *joined, *left).await?;
    }
    app.audit(
        &mut tx,
        Entry {
            actor,
            action: "register.import",
            target: format!("association:{association}"),
            client_addr,
            details: json!({
                "encoding": report.encoding, "rows": report.rows, "created": report.created,
                "updated": report.updated, "joined": report.joined, "ended": report.ended,
                "unchanged": report.unchanged,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}
