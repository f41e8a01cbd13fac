//! The membership part of `serve --demo`: classes and staff for the demo associations, a join
//! waiting at each level, a transfer Tokyo → Osaka waiting for the receiving county, a class
//! change waiting for the county, and a completed withdrawal.

use chrono::NaiveDate;
use mamis_domain::identity::totp as rfc6238;
use mamis_domain::procedure::{JoinClasses, Request};
use mamis_domain::{
    AssociationCode, AssociationLevel, ClassCode, IsekiNumber, KanaName, MemberClass, MemberId,
    Membership, Principal, Role, RoleGrant, Scope, Sex,
};
use mamis_store::{
    AccessStore, Account, AccountKind, AssociationClass, Doctor, MembershipStore, RegistryStore,
    Store, Tx,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{StaffAct, act, file};
use crate::identity::totp;
use crate::{App, AppError};

/// A web login to print: (who, MAMIS_ID, password, TOTP secret in base32).
pub type Login = (String, String, String, Option<String>);

/// The classes each demo county and prefecture offers: their own two, and the JMA's five codes
/// the generated register already holds at every level.
const OWN_CLASSES: [(&str, &str, &str); 2] = [
    ("regular", "一般会員", "Regular"),
    ("resident", "研修医会員", "Resident"),
];

/// The municipalities of the demo counties' areas.
const DEMO_AREAS: [(&str, &[&str]); 6] = [
    ("P13-0001", &["千代田区"]),
    ("P13-0002", &["中央区"]),
    ("P13-0003", &["港区"]),
    ("P13-0101", &["文京区"]),
    ("P27-0001", &["大阪市北区"]),
    ("P01-0001", &["札幌市"]),
];

/// Seeds the membership demo; returns the extra staff logins and what to look at.
pub async fn seed<S: Store>(
    app: &App<S>,
    counties: &[AssociationCode],
) -> Result<(Vec<Login>, Vec<(String, String)>), AppError> {
    let code = |s: &str| AssociationCode::parse(s);
    let now = app.now();
    let mut tx = app.store.write().await?;
    let mut nodes: Vec<AssociationCode> = counties.to_vec();
    nodes.extend(counties.iter().filter_map(AssociationCode::prefecture_code));
    nodes.sort();
    nodes.dedup();
    for node in &nodes {
        for (pos, (c, ja, en)) in OWN_CLASSES.iter().enumerate() {
            tx.upsert_association_class(&AssociationClass {
                association: node.clone(),
                code: ClassCode::parse(c)?,
                name_ja: (*ja).into(),
                name_en: (*en).into(),
                position: i32::try_from(pos).unwrap_or(0),
                retired: false,
            })
            .await?;
        }
        for (pos, c) in MemberClass::ALL.into_iter().enumerate() {
            tx.upsert_association_class(&AssociationClass {
                association: node.clone(),
                code: c.into(),
                name_ja: format!("{}（旧区分）", c.as_str()),
                name_en: format!("{} (former class)", c.as_str()),
                position: 10 + i32::try_from(pos).unwrap_or(0),
                retired: true,
            })
            .await?;
        }
    }
    // the areas the join form shows (a county's own list; the demo's are the real wards)
    for (county, names) in DEMO_AREAS {
        let c = code(county)?;
        if nodes.contains(&c) {
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            tx.set_county_municipalities(&c, &names).await?;
        }
    }
    let staff = [
        (
            "chuo@demo.mamis.jp",
            "中央区医師会 事務局",
            Role::CountyStaff,
            "P13-0002",
        ),
        (
            "osaka@demo.mamis.jp",
            "大阪府医師会 事務局",
            Role::PrefectureStaff,
            "P27",
        ),
        (
            "osaka-kita@demo.mamis.jp",
            "大阪市北区医師会 事務局",
            Role::CountyStaff,
            "P27-0001",
        ),
    ];
    let mut logins = Vec::new();
    let mut principals = Vec::new();
    for (i, (email, name, role, node)) in staff.iter().enumerate() {
        let id = Uuid::from_u128(0xD0_1800 + i as u128);
        let password = format!("mamis-demo-{}", node.to_lowercase());
        let seed = Sha256::digest(format!("mamis demo totp {node}"))[..20].to_vec();
        let mut acc = Account::new(id, email, name, AccountKind::Staff, now);
        acc.password_hash = Some(app.hasher.hash(password.clone()).await?);
        acc.totp_secret =
            Some(totp::seal_seed(app, &seed).map_err(|e| AppError::Internal(e.to_string()))?);
        tx.insert_account(&acc).await?;
        let grant = RoleGrant::new(*role, Scope::Association(code(node)?))?;
        tx.insert_role_grant(id, &grant, now).await?;
        logins.push((
            format!("{} ({node})", role.as_str()),
            (*email).to_owned(),
            password,
            Some(rfc6238::base32(&seed)),
        ));
        principals.push(Principal::Staff {
            account_id: id,
            grants: vec![grant],
        });
    }
    // six doctors of their own: three new residents joining, three Chiyoda members
    let mut people = Vec::new();
    for (n, (family, given, fk, gk)) in [
        ("新井", "結衣", "アライ", "ユイ"),
        ("石田", "蓮", "イシダ", "レン"),
        ("上野", "葵", "ウエノ", "アオイ"),
        ("遠藤", "大和", "エンドウ", "ヤマト"),
        ("岡本", "美咲", "オカモト", "ミサキ"),
        ("加藤", "悠真", "カトウ", "ユウマ"),
    ]
    .into_iter()
    .enumerate()
    {
        let member = n >= 3;
        let d = Doctor {
            id: Uuid::from_u128(0xD0_1880 + n as u128),
            iseki: IsekiNumber::parse(&(1_880_001 + n).to_string())?,
            family_name: family.into(),
            given_name: given.into(),
            family_kana: KanaName::normalise(fk)?,
            given_kana: KanaName::normalise(gk)?,
            birth_date: NaiveDate::from_ymd_opt(1990 + i32::try_from(n).unwrap_or(0), 5, 1)
                .unwrap_or_default(),
            sex: if n % 2 == 0 { Sex::Female } else { Sex::Male },
            contact_email: Some(format!("procedure{n}@example.jp")),
            member_id: member
                .then(|| MemberId::parse(&format!("13{:08}", 18_800 + n)))
                .transpose()?,
            home_prefecture: (!member).then(|| code("P13")).transpose()?,
            created_at: now,
        };
        tx.insert_doctor(&d).await?;
        if member {
            for (node, class) in [
                ("P13-0001", "regular"),
                ("P13", "regular"),
                ("JMA", if n == 4 { "C" } else { "B" }),
            ] {
                tx.insert_membership(
                    d.id,
                    &Membership {
                        association: code(node)?,
                        class: ClassCode::parse(class)?,
                        joined_on: NaiveDate::from_ymd_opt(2018, 4, 1).unwrap_or_default(),
                        left_on: None,
                    },
                )
                .await?;
            }
        }
        people.push(d);
    }
    tx.commit().await?;

    // the demo's existing staff: JMA staff, Tokyo, Chiyoda (see `demo::seed_demo`)
    let grant = |role, node: &str| -> Result<Principal, AppError> {
        let g = RoleGrant::new(role, Scope::Association(code(node)?))?;
        let id = match role {
            Role::PrefectureStaff => 0xD0_1001,
            Role::CountyStaff => 0xD0_1002,
            _ => 0xD0_1003,
        };
        Ok(Principal::Staff {
            account_id: Uuid::from_u128(id),
            grants: vec![g],
        })
    };
    let (chiyoda, tokyo, jma) = (
        grant(Role::CountyStaff, "P13-0001")?,
        grant(Role::PrefectureStaff, "P13")?,
        grant(Role::JmaStaff, "JMA")?,
    );
    let osaka_kita = principals
        .get(2)
        .cloned()
        .ok_or(AppError::Internal("no Osaka staff".into()))?;
    let chiyoda_code = code("P13-0001")?;
    let (joiners, members) = (&people[..3], &people[3..]);
    let mut items = Vec::new();
    let regular = ClassCode::parse("regular")?;
    let resident = ClassCode::parse("resident")?;
    for (i, d) in joiners.iter().enumerate() {
        let req = Request::Join {
            prefecture: code("P13")?,
            county: Some(chiyoda_code.clone()),
            classes: JoinClasses {
                county: Some(resident.clone()),
                prefecture: Some(resident.clone()),
                jma: Some(MemberClass::C),
            },
        };
        let id = file(app, &chiyoda, d.id, req, None, Vec::new(), None).await?;
        let approvers = [&chiyoda, &tokyo];
        for who in approvers.iter().take(i) {
            act(app, who, id, StaffAct::Approve, None).await?;
        }
        let level = [
            "千代田区医師会 (chiyoda)",
            "東京都医師会 (tokyo)",
            "日本医師会 (jma-staff)",
        ][i];
        items.push((
            format!("join of {} {} waiting at", d.family_name, d.given_name),
            level.to_owned(),
        ));
    }
    let mover = &members[0];
    let req = Request::Transfer {
        from_county: chiyoda_code.clone(),
        to_county: code("P27-0001")?,
        county_class: regular.clone(),
        prefecture_class: Some(regular.clone()),
    };
    file(app, &osaka_kita, mover.id, req, None, Vec::new(), None).await?;
    items.push((
        format!(
            "transfer of {} {} Tokyo → Osaka waiting at",
            mover.family_name, mover.given_name
        ),
        "大阪市北区医師会 (osaka-kita); 千代田区医師会 and 東京都医師会 to acknowledge".to_owned(),
    ));
    let changer = &members[1];
    // a resident who finished residency: C → B
    let req = Request::ClassChange {
        changes: vec![(AssociationCode::jma(), MemberClass::B.into())],
    };
    file(app, &chiyoda, changer.id, req, None, Vec::new(), None).await?;
    items.push((
        format!(
            "class change of {} {} waiting at",
            changer.family_name, changer.given_name
        ),
        "千代田区医師会 (chiyoda)".to_owned(),
    ));
    let leaver = &members[2];
    let id = file(
        app,
        &chiyoda,
        leaver.id,
        Request::Withdrawal {
            from: AssociationLevel::Jma,
        },
        None,
        Vec::new(),
        None,
    )
    .await?;
    act(app, &chiyoda, id, StaffAct::Approve, None).await?;
    let done = act(app, &jma, id, StaffAct::Approve, None).await?;
    items.push((
        format!(
            "withdrawal of {} {} from the JMA, effective",
            leaver.family_name, leaver.given_name
        ),
        done.row
            .effective_on
            .map(|d| d.to_string())
            .unwrap_or_default(),
    ));
    items.push((
        "a new resident not in the register applies to join with a licence copy".to_owned(),
        "unverified@demo.mamis.jp → マイページ → 会員手続き → 入会の申込み".to_owned(),
    ));
    items.push((
        "paper forms typed in by county staff, and each association's settings".to_owned(),
        "/office/membership/paper, /office/membership/settings (chiyoda)".to_owned(),
    ));
    Ok((logins, items))
}
