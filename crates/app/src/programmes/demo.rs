//! The programmes' part of the `--demo` data: a doctor one 実地 unit short of the new 産業医
//! certificate, a 産業医 renewal due in 3 months (one unit short because web-session units
//! beyond 5 do not count), and a かかりつけ医 applicant whose CME certificate is valid.

use chrono::{Duration, Months, NaiveDate};
use mamis_domain::programmes::{CertifiedProgramme, ProgrammeEntry};
use mamis_domain::time::japan_date;
use mamis_domain::{HalfUnits, Source, Timestamp};
use mamis_store::programmes::{DesignatedLecture, ProgrammeCertificate};
use mamis_store::{Doctor, Tx};
use uuid::Uuid;

use crate::AppError;

/// Seeds the programme stories in the demo's transaction.
pub(crate) async fn seed<T: Tx>(
    tx: &mut T,
    short_of_jitchi: &Doctor,
    renewal_due: &Doctor,
    kakaritsuke: &Doctor,
    now: Timestamp,
) -> Result<(), AppError> {
    let today = japan_date(now);
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or(today);
    let mut n = 0u128;
    let mut entry = |d: &Doctor,
                     p: CertifiedProgramme,
                     cat: &str,
                     date: NaiveDate,
                     units: i64,
                     web: bool,
                     lecture: Option<&str>,
                     source: Source,
                     note: &str| {
        n += 1;
        ProgrammeEntry {
            id: Uuid::from_u128(0xD0_5000 + n),
            doctor: d.id,
            programme: p,
            category: cat.into(),
            date,
            half_units: HalfUnits::new(units * 2),
            web_session: web,
            lecture: lecture.map(str::to_owned),
            source,
            origin_key: format!("demo:{n}"),
            generation: 0,
            reverses: None,
            rules_version: p.rules().version.clone(),
            created_by: "job:demo".into(),
            created_at: now,
            note: Some(note.into()),
        }
    };
    use CertifiedProgramme::{Kakaritsuke, Sangyoui};
    let t = Source::Training;
    let paper = Source::PriorSystem;
    let s = short_of_jitchi;
    let r = renewal_due;
    let k = kakaritsuke;
    let entries = vec![
        // 14 前期 (half from the paper 研修手帳), 9 of 10 実地, 26 後期
        entry(
            s,
            Sangyoui,
            "kiso_zenki",
            day(2024, 11, 9),
            7,
            false,
            None,
            paper,
            "研修手帳 p.2 印 東京都医師会",
        ),
        entry(
            s,
            Sangyoui,
            "kiso_zenki",
            day(2025, 5, 17),
            7,
            false,
            None,
            t,
            "産業医基礎研修会 前期",
        ),
        entry(
            s,
            Sangyoui,
            "kiso_jitchi",
            day(2025, 7, 5),
            9,
            false,
            None,
            t,
            "産業医基礎研修会 実地(職場巡視)",
        ),
        entry(
            s,
            Sangyoui,
            "kiso_kouki",
            day(2025, 9, 20),
            13,
            false,
            None,
            t,
            "産業医基礎研修会 後期 1",
        ),
        entry(
            s,
            Sangyoui,
            "kiso_kouki",
            day(2025, 10, 18),
            13,
            false,
            None,
            t,
            "産業医基礎研修会 後期 2",
        ),
        // renewal: 1 更新, 1 実地, 12 専門 in person and 7 from individual web sessions (5 count)
        entry(
            r,
            Sangyoui,
            "koushin",
            today - Duration::days(900),
            1,
            false,
            None,
            t,
            "産業医研修会 更新",
        ),
        entry(
            r,
            Sangyoui,
            "shogai_jitchi",
            today - Duration::days(700),
            1,
            false,
            None,
            t,
            "産業医研修会 実地",
        ),
        entry(
            r,
            Sangyoui,
            "senmon",
            today - Duration::days(500),
            12,
            false,
            None,
            t,
            "産業医研修会 専門",
        ),
        entry(
            r,
            Sangyoui,
            "senmon",
            today - Duration::days(200),
            7,
            true,
            None,
            t,
            "日医Web研修 専門",
        ),
        // かかりつけ医: designated lectures (10 units, one attended three times) and 2 activities
        entry(
            k,
            Kakaritsuke,
            "ouyou",
            today - Duration::days(400),
            3,
            false,
            Some("K-01"),
            t,
            "応用研修会 講義1",
        ),
        entry(
            k,
            Kakaritsuke,
            "ouyou",
            today - Duration::days(380),
            3,
            false,
            Some("K-02"),
            t,
            "応用研修会 講義2",
        ),
        entry(
            k,
            Kakaritsuke,
            "ouyou",
            today - Duration::days(300),
            2,
            false,
            Some("K-03"),
            t,
            "応用研修会 講義3",
        ),
        entry(
            k,
            Kakaritsuke,
            "ouyou",
            today - Duration::days(200),
            2,
            false,
            Some("K-04"),
            t,
            "応用研修会 講義4",
        ),
        entry(
            k,
            Kakaritsuke,
            "kakari_jitchi",
            today - Duration::days(250),
            5,
            false,
            None,
            t,
            "地域ケア会議への参加",
        ),
        entry(
            k,
            Kakaritsuke,
            "kakari_jitchi",
            today - Duration::days(100),
            5,
            false,
            None,
            t,
            "学校医活動",
        ),
    ];
    tx.insert_programme_entries(&entries).await?;
    for (i, title) in [
        "かかりつけ医の倫理",
        "かかりつけ医の質・医療安全",
        "地域包括ケアシステム",
        "在宅医療",
        "多職種連携",
        "認知症",
    ]
    .into_iter()
    .enumerate()
    {
        let g = u8::try_from(i + 1).unwrap_or(1);
        tx.put_designated_lecture(&DesignatedLecture {
            key: format!("K-{g:02}"),
            title: title.into(),
            group: Some(g),
            retired: false,
            updated_at: now,
        })
        .await?;
    }
    let until = today.checked_add_months(Months::new(3)).unwrap_or(today);
    let from = until
        .succ_opt()
        .and_then(|d| d.checked_sub_months(Months::new(60)))
        .unwrap_or(today);
    tx.insert_programme_certificate(&ProgrammeCertificate {
        id: Uuid::from_u128(0xD0_5F00),
        number: "SAN-2021-000123".into(),
        doctor: r.id,
        programme: Sangyoui,
        valid_from: from,
        valid_until: until,
        issued_on: from,
        application: None,
        verification_code: "DEMOSANGYOUI2021".into(),
        created_at: now,
        revoked_at: None,
    })
    .await?;
    Ok(())
}
