//! The programmes' pages over HTTP on both backends: JMA staff keep the designated lectures
//! (others are refused; bad input answers a specific message), rosters and their CSV stay in the
//! staff member's subtree, and a doctor's premature application is refused in Japanese.

use mamis_domain::programmes::{CertifiedProgramme, ProgrammeEntry};
use mamis_domain::{AssociationCode, HalfUnits, Role, RoleGrant, Scope, Source};
use mamis_store::programmes::ProgrammeCertificate;
use mamis_store::{ProgrammeStore, RegistryStore, Store, Tx};
use mamis_testkit::{TestApp, app_test, attr, html, staff_user, texts};
use uuid::Uuid;

use crate::training::{setup, verified};

fn grant(role: Role, scope: &str) -> RoleGrant {
    RoleGrant::new(
        role,
        Scope::Association(AssociationCode::parse(scope).unwrap()),
    )
    .unwrap()
}

async fn page<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> (u16, String) {
    let r = ua.get(t.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn csrf<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> String {
    let (_, body) = page(t, ua, path).await;
    attr(&html(&body), "input[name=csrf]", "value").unwrap()
}

async fn post<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = ua
        .post(t.url(path))
        .header("origin", &t.base_url)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a form as the browser's multipart encoding does, with (name, type, bytes) files in
/// the `files` field.
async fn post_files<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> (u16, String) {
    let boundary = "----mamis-programme-7c2d";
    let mut body = Vec::new();
    for (k, v) in form {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (name, ty, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; \
                 filename=\"{name}\"\r\nContent-Type: {ty}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let r = ua
        .post(t.url(path))
        .header("origin", &t.base_url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn lectures_and_rosters<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let (jma, _) = staff_user(
        &t,
        "nat-office@example.jp",
        "kokoro-sakura-2026",
        grant(Role::JmaStaff, "JMA"),
    )
    .await;
    let (tokyo, _) = staff_user(
        &t,
        "pref13-office@example.jp",
        "hinode-momiji-2026",
        grant(Role::PrefectureStaff, "P13"),
    )
    .await;

    // designated lectures: JMA staff only; a bad key is refused with what is allowed
    let token = csrf(&t, &jma, "/office/programmes/lectures").await;
    let (status, body) = post(
        &t,
        &jma,
        "/office/programmes/lectures",
        &[
            ("csrf", &token),
            ("key", "K 01"),
            ("title", "倫理"),
            ("group", "1"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("講義番号は英数字と「-」で1〜32文字"),
        "{body}"
    );
    let (status, body) = post(
        &t,
        &jma,
        "/office/programmes/lectures",
        &[
            ("csrf", &token),
            ("key", "K-01"),
            ("title", "倫理"),
            ("group", "100"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("グループは1〜99"), "{body}");
    let (status, _) = post(
        &t,
        &jma,
        "/office/programmes/lectures",
        &[
            ("csrf", &token),
            ("key", "K-01"),
            ("title", "かかりつけ医の倫理"),
            ("group", "1"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, body) = page(&t, &jma, "/office/programmes/lectures").await;
    assert_eq!(
        texts(&html(&body), "#lectures td").join("|"),
        "K-01|かかりつけ医の倫理|1|"
    );
    let (status, _) = page(&t, &tokyo, "/office/programmes/lectures").await;
    assert_eq!(status, 403);
    // without the form's token nothing is written
    let (status, _) = post(
        &t,
        &jma,
        "/office/programmes/lectures",
        &[("key", "K-02"), ("title", "x")],
    )
    .await;
    assert_eq!(status, 403);

    // a member of 千代田区 with a 産業医 certificate, and one of 大阪 outside Tokyo's roster
    let (d, who) = verified(&t, 1).await;
    let (o, _) = verified(&t, 2).await;
    let mut tx = t.app.store.write().await.unwrap();
    for (doctor, county) in [(d.id, "P13-0001"), (o.id, "P27-0001")] {
        for c in [county, &county[..3]] {
            let _ = tx
                .upsert_association(&mamis_domain::Association {
                    code: AssociationCode::parse(c).unwrap(),
                    name_ja: c.into(),
                    name_en: c.into(),
                })
                .await;
            tx.insert_membership(
                doctor,
                &mamis_domain::Membership {
                    association: AssociationCode::parse(c).unwrap(),
                    class: mamis_domain::MemberClass::A1.into(),
                    joined_on: "2020-04-01".parse().unwrap(),
                    left_on: None,
                },
            )
            .await
            .unwrap();
        }
    }
    for (n, doctor) in [(1, d.id), (2, o.id)] {
        tx.insert_programme_certificate(&ProgrammeCertificate {
            id: Uuid::new_v4(),
            number: format!("SAN-2026-00000{n}"),
            doctor,
            programme: CertifiedProgramme::Sangyoui,
            valid_from: "2026-04-01".parse().unwrap(),
            valid_until: "2031-03-31".parse().unwrap(),
            issued_on: "2026-04-01".parse().unwrap(),
            application: None,
            verification_code: "CODE".into(),
            created_at: t.app.now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let (status, body) = page(
        &t,
        &tokyo,
        "/office/programmes/roster?programme=sangyoui&scope=P13",
    )
    .await;
    assert_eq!(status, 200);
    let cells = texts(&html(&body), "#roster td").join("|");
    assert!(
        cells.contains("SAN-2026-000001|100001|山田 太郎1"),
        "{cells}"
    );
    assert!(!cells.contains("SAN-2026-000002"), "{cells}");
    let r = tokyo
        .get(t.url("/office/programmes/roster?programme=sangyoui&scope=P13&format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "number,iseki,name,valid_from,valid_until,state");
    assert_eq!(
        lines[1],
        "SAN-2026-000001,100001,山田 太郎1,2026-04-01,2031-03-31,valid"
    );
    assert_eq!(lines.len(), 2);
    // another prefecture's roster is not found for Tokyo; a bad programme is a clear 400
    let (status, _) = page(
        &t,
        &tokyo,
        "/office/programmes/roster?programme=sangyoui&scope=P27",
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = page(
        &t,
        &tokyo,
        "/office/programmes/roster?programme=nope&scope=P13",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("制度の指定が正しくありません"), "{body}");

    // the doctor's premature application is refused with the reason, nothing written
    let ua = mamis_testkit::browser();
    let password = "doctor-pass-2026-x";
    let hash = t.app.hasher.hash(password.to_owned()).await.unwrap();
    let mut tx = t.app.store.write().await.unwrap();
    let acc = mamis_store::IdentityStore::account_by_email(&mut tx, "d1@example.jp")
        .await
        .unwrap()
        .unwrap();
    mamis_store::IdentityStore::set_password_hash(&mut tx, acc.id, &hash)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let _ = who;
    let (r, token) = mamis_testkit::password_login(&t, &ua, "d1@example.jp", password).await;
    assert_eq!(r.status(), 303);
    let e = ProgrammeEntry {
        id: Uuid::new_v4(),
        doctor: d.id,
        programme: CertifiedProgramme::SportsDoctor,
        category: "course_zenki".into(),
        date: "2026-05-01".parse().unwrap(),
        half_units: HalfUnits::new(40),
        web_session: false,
        lecture: None,
        source: Source::Training,
        origin_key: "t:1".into(),
        generation: 0,
        reverses: None,
        rules_version: "2026.1".into(),
        created_by: "test".into(),
        created_at: t.app.now(),
        note: None,
    };
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_programme_entries(&[e]).await.unwrap();
    tx.commit().await.unwrap();
    let (status, body) = page(&t, &ua, "/mypage/programmes").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(
        texts(&doc, "#programme-sangyoui .number").join(""),
        "SAN-2026-000001"
    );
    let path = "/mypage/programmes/sports_doctor/apply";
    let (status, body) =
        post_files(&t, &ua, path, &[("csrf", &token), ("evidence", "")], &[]).await;
    assert_eq!(status, 422);
    assert!(body.contains("まだ要件を満たしていません"), "{body}");
    // 研修手帳 units announced with a "scan" that is a program: refused with the file rule
    let (status, body) = post_files(
        &t,
        &ua,
        path,
        &[("csrf", &token), ("paper", "1")],
        &[("techo.pdf", "application/pdf", b"MZ\x90\x00 not a scan")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("添付できるのは10MBまでのPDF"), "{body}");
    let mut tx = t.app.store.read().await.unwrap();
    assert!(tx.applications_of(d.id).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
}
app_test!(
    programme_pages_lectures_rosters_and_refusals,
    lectures_and_rosters
);

/// The organiser names what a session's items credit: saved and shown again; a category of no
/// programme is refused with its message; another county's staff do not find the session.
async fn session_parts_page<S: Store>(t: TestApp<S>) {
    setup(&t).await;
    let s = crate::training::chiyoda_session(&t).await;
    let (chiyoda, _) = staff_user(
        &t,
        "county-office@example.jp",
        "sumire-tsubaki-2026",
        grant(Role::CountyStaff, "P13-0001"),
    )
    .await;
    let path = format!("/office/programmes/sessions/{}", s.id);
    let (status, body) = page(&t, &chiyoda, &path).await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(texts(&doc, "fieldset.item legend").len(), 3);
    let token = attr(&doc, "input[name=csrf]", "value").unwrap();
    let (status, _) = post(
        &t,
        &chiyoda,
        &path,
        &[
            ("csrf", &token),
            ("part-1-0", "sangyoui:kiso_jitchi"),
            ("part-1-1", "kakaritsuke:ouyou"),
            ("lecture-1-1", "K-01"),
            ("part-2-0", "sangyoui:senmon"),
            ("web-2-0", "1"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let mut tx = t.app.store.read().await.unwrap();
    let mut parts: Vec<(String, String, bool, Option<String>)> = tx
        .item_programmes(s.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                p.programme.as_str().to_owned(),
                p.category,
                p.web_session,
                p.lecture,
            )
        })
        .collect();
    tx.rollback().await.unwrap();
    parts.sort();
    assert_eq!(
        parts,
        vec![
            (
                "kakaritsuke".into(),
                "ouyou".into(),
                false,
                Some("K-01".into())
            ),
            ("sangyoui".into(), "kiso_jitchi".into(), false, None),
            ("sangyoui".into(), "senmon".into(), true, None),
        ]
    );
    let (_, body) = page(&t, &chiyoda, &path).await;
    let selected = texts(&html(&body), "option[selected]");
    assert_eq!(selected.len(), 3, "{selected:?}");
    let (status, body) = post(
        &t,
        &chiyoda,
        &path,
        &[("csrf", &token), ("part-0-0", "sangyoui:nope")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("その制度にないカテゴリです"), "{body}");
    let (other, _) = staff_user(
        &t,
        "county2-office@example.jp",
        "sumire-tsubaki-2027",
        grant(Role::PrefectureStaff, "P27"),
    )
    .await;
    let (status, _) = page(&t, &other, &path).await;
    assert_eq!(status, 404);
}
app_test!(organisers_name_programme_units_on_items, session_parts_page);
