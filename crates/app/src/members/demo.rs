//! The back office's part of `serve --demo`: some thousands of members in the demo county
//! (千代田区医師会, P13-0001), so search, the member pages, exports and statistics show
//! something real — kana and kanji variants to fold (髙橋, 渡邉, 齋藤), a name CP932 cannot hold
//! (𠮷田, written 〓 in a CP932 export), workplaces, former members, transfers in from 中央区
//! and withdrawals over the last twelve months. Deterministic for a given clock date.

use chrono::{Datelike, Duration, NaiveDate};
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationCode, ClassCode, IsekiNumber, KanaName, MemberClass, MemberId};
use mamis_domain::{Membership, Sex};
use mamis_store::{
    Doctor, DoctorProfile, MemberStore, MembershipStore, RegistryStore, Store, TrainingStore, Tx,
};

use crate::demo::Rng;
use crate::{App, AppError};

/// How many members the demo county gets.
pub const DEMO_MEMBERS: u64 = 3_000;

const FAMILY: [(&str, &str); 16] = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("髙橋", "タカハシ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡邉", "ワタナベ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("齋藤", "サイトウ"),
    ("加藤", "カトウ"),
    ("𠮷田", "ヨシダ"),
    ("山﨑", "ヤマザキ"),
    ("松本", "マツモト"),
];

const GIVEN: [(&str, &str, Sex); 12] = [
    ("太郎", "タロウ", Sex::Male),
    ("健", "ケン", Sex::Male),
    ("大輔", "ダイスケ", Sex::Male),
    ("翔太", "ショウタ", Sex::Male),
    ("誠", "マコト", Sex::Male),
    ("浩二", "コウジ", Sex::Male),
    ("花子", "ハナコ", Sex::Female),
    ("陽子", "ヨウコ", Sex::Female),
    ("美咲", "ミサキ", Sex::Female),
    ("恵", "メグミ", Sex::Female),
    ("由美", "ユミ", Sex::Female),
    ("彩", "アヤ", Sex::Female),
];

const WORKPLACES: [(&str, &str); 8] = [
    ("神田駅前クリニック", "千代田区"),
    ("丸の内総合病院", "千代田区"),
    ("九段坂内科", "千代田区"),
    ("御茶ノ水大学病院", "千代田区"),
    ("日本橋こどもクリニック", "中央区"),
    ("麹町眼科", "千代田区"),
    ("秋葉原皮膚科", "千代田区"),
    ("有楽町整形外科", "千代田区"),
];

/// Seeds the demo county's members; returns what to look at.
pub async fn seed<S: Store>(app: &App<S>) -> Result<Vec<(String, String)>, AppError> {
    let county = AssociationCode::parse("P13-0001")?;
    let chuo = AssociationCode::parse("P13-0002")?;
    let tokyo = AssociationCode::parse("P13")?;
    let now = app.now();
    let today = japan_date(now);
    let regular = ClassCode::parse("regular")?;
    let resident = ClassCode::parse("resident")?;
    let mut rng = Rng::new(19);
    let mut doctors = Vec::new();
    let mut memberships = Vec::new();
    let mut profiles = Vec::new();
    for n in 0..DEMO_MEMBERS {
        let (family, family_kana) = FAMILY[(rng.below(FAMILY.len() as u64)) as usize];
        let (given, given_kana, sex) = GIVEN[(rng.below(GIVEN.len() as u64)) as usize];
        let birth = NaiveDate::from_ymd_opt(1945 + i32::try_from(rng.below(55)).unwrap_or(0), 1, 1)
            .unwrap_or(today)
            + Duration::days(i64::try_from(rng.below(365)).unwrap_or(0));
        let id = rng.uuid();
        let junior = rng.chance(80);
        let class = if junior { &resident } else { &regular };
        let jma_class = if junior {
            MemberClass::C
        } else {
            MemberClass::A1
        };
        // most joined years ago; about one in eight in the last twelve months
        let joined = if rng.chance(125) {
            today - Duration::days(1 + i64::try_from(rng.below(360)).unwrap_or(0))
        } else {
            NaiveDate::from_ymd_opt(
                birth.year() + 28 + i32::try_from(rng.below(20)).unwrap_or(0),
                4,
                1,
            )
            .unwrap_or(today)
            .min(today - Duration::days(400))
        };
        let left = rng
            .chance(90)
            .then(|| today - Duration::days(1 + i64::try_from(rng.below(360)).unwrap_or(0)))
            .filter(|l| *l > joined);
        let transfer = left.is_none() && rng.chance(40) && joined > today - Duration::days(360);
        if transfer {
            // came from 中央区 the day it left there
            memberships.push((
                id,
                Membership {
                    association: chuo.clone(),
                    class: regular.clone(),
                    joined_on: joined - Duration::days(3_000),
                    left_on: Some(joined),
                },
            ));
        }
        for (a, c) in [(&county, class.clone()), (&tokyo, class.clone())] {
            memberships.push((
                id,
                Membership {
                    association: a.clone(),
                    class: c,
                    joined_on: if transfer && *a == tokyo {
                        joined - Duration::days(3_000)
                    } else {
                        joined
                    },
                    left_on: left,
                },
            ));
        }
        let jma = rng.chance(800);
        if jma {
            memberships.push((
                id,
                Membership {
                    association: AssociationCode::jma(),
                    class: jma_class.into(),
                    joined_on: if transfer {
                        joined - Duration::days(3_000)
                    } else {
                        joined
                    },
                    left_on: left,
                },
            ));
        }
        let (workplace, municipality) = WORKPLACES[(rng.below(WORKPLACES.len() as u64)) as usize];
        profiles.push(DoctorProfile {
            doctor_id: id,
            workplace_name: Some(workplace.into()),
            workplace_address: None,
            workplace_municipality: Some(municipality.into()),
            home_address: None,
            phone: None,
            graduation_year: Some(birth.year() + 24),
            resident: junior,
            updated_at: now,
        });
        doctors.push(Doctor {
            id,
            iseki: IsekiNumber::parse(&(8_100_000 + n).to_string())?,
            family_name: family.into(),
            given_name: given.into(),
            family_kana: KanaName::normalise(family_kana)?,
            given_kana: KanaName::normalise(given_kana)?,
            birth_date: birth,
            sex,
            contact_email: Some(format!("m{}@demo.mamis.jp", 8_100_000 + n)),
            member_id: jma
                .then(|| MemberId::parse(&format!("1319{:06}", n)))
                .transpose()?,
            home_prefecture: None,
            created_at: now,
        });
    }
    let mut tx = app.store.write().await?;
    // a number or member ID the small demo set already uses is left out
    let numbers: Vec<IsekiNumber> = doctors.iter().map(|d| d.iseki.clone()).collect();
    let taken: Vec<String> = tx
        .register_matches(&numbers)
        .await?
        .into_iter()
        .map(|m| m.doctor.iseki.to_string())
        .collect();
    let ids: Vec<String> = doctors
        .iter()
        .filter_map(|d| d.member_id.as_ref().map(|m| m.to_string()))
        .collect();
    let taken_ids: Vec<String> = tx
        .doctors_by_member_ids(&ids)
        .await?
        .into_iter()
        .filter_map(|d| d.member_id.map(|m| m.to_string()))
        .collect();
    let skip: std::collections::HashSet<uuid::Uuid> = doctors
        .iter()
        .filter(|d| {
            taken.contains(&d.iseki.to_string())
                || d.member_id
                    .as_ref()
                    .is_some_and(|m| taken_ids.contains(&m.to_string()))
        })
        .map(|d| d.id)
        .collect();
    doctors.retain(|d| !skip.contains(&d.id));
    memberships.retain(|(d, _)| !skip.contains(d));
    profiles.retain(|p| !skip.contains(&p.doctor_id));
    tx.insert_doctors(&doctors).await?;
    tx.insert_memberships(&memberships).await?;
    for p in &profiles {
        tx.upsert_doctor_profile(p).await?;
    }
    tx.commit().await?;
    let geta = doctors
        .iter()
        .find(|d| d.family_name.starts_with('𠮷'))
        .map(|d| d.iseki.to_string())
        .unwrap_or_default();
    Ok(vec![
        (
            format!(
                "{} members of 千代田区医師会 to search (try 「たかはし」: 髙橋 and 高橋 alike), as chiyoda@demo.mamis.jp",
                doctors.len()
            ),
            "/office/members".into(),
        ),
        (
            format!("a 𠮷田 (医籍登録番号 {geta}) written 〓 in a CP932 export"),
            "/office/members?q=よしだ".into(),
        ),
        (
            "statistics as of 1 December with charts and CSV".into(),
            "/office/members/stats".into(),
        ),
        (
            "register import (CSV, UTF-8 or CP932)".into(),
            "/office/members/import".into(),
        ),
    ])
}
