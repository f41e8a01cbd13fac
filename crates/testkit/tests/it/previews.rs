//! Previewed attendee lists wait in the store, not in one server's memory: a list previewed on
//! one server is confirmed on another; an organiser's oldest preview gives way to a new one, an
//! association's full quota refuses more, and a preview expires — on both backends.

use chrono::Duration;
use mamis_app::training::{self, ItemInput, SessionInput, TrainingError, previews};
use mamis_domain::training::{ItemKind, Venue};
use mamis_domain::{Association, AssociationCode, Principal, Role, RoleGrant, Scope};
use mamis_store::conformance::sample_doctor;
use mamis_store::{
    AccessStore, Account, AccountKind, Organiser, RegistryStore, Store, TrainingSession, Tx,
    Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html, spawn_postgres, staff_user, texts};
use uuid::Uuid;

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn job() -> Principal {
    Principal::Job {
        kind: "test".into(),
    }
}

/// 千代田区医師会 and one of its sessions, begun an hour ago.
async fn chiyoda_session<S: Store>(t: &TestApp<S>) -> TrainingSession {
    let mut tx = t.app.store.write().await.unwrap();
    tx.upsert_association(&Association {
        code: code("P13-0001"),
        name_ja: "千代田区医師会".into(),
        name_en: "Chiyoda".into(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let start = t.app.now() - Duration::hours(1);
    training::create(
        &t.app,
        &job(),
        SessionInput {
            organiser: Organiser::Association(code("P13-0001")),
            title: "学術講演会".into(),
            venue: Venue::InPerson("医師会館".into()),
            start,
            end: start + Duration::hours(3),
            expected_headcount: None,
            desk_scan_only: false,
            grace_minutes: 5,
            items: vec![ItemInput {
                id: None,
                title: "講演".into(),
                start,
                minutes: 60,
                kind: ItemKind::single(10, 60),
            }],
        },
        None,
    )
    .await
    .unwrap()
}

async fn staff_accounts<S: Store>(t: &TestApp<S>, n: usize) -> Vec<Uuid> {
    let mut tx = t.app.store.write().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let a = Account::new(
            Uuid::new_v4(),
            &format!("previews-{i}@example.jp"),
            "",
            AccountKind::Staff,
            t.app.now(),
        );
        tx.insert_account(&a).await.unwrap();
        ids.push(a.id);
    }
    tx.commit().await.unwrap();
    ids
}

async fn bounded_and_expiring<S: Store>(t: TestApp<S>) {
    let s = chiyoda_session(&t).await;
    let staff = staff_accounts(&t, 10).await;
    let limits = t.app.config.previews;
    assert_eq!((limits.per_organiser, limits.per_association), (3, 10));
    let keep = |account: Uuid, n: u8| {
        let app = t.app.clone();
        async move { previews::keep(&app, &job(), account, s.id, vec![n; 3]).await }
    };

    // one organiser: a fourth preview replaces their oldest
    let mut mine = Vec::new();
    for n in 0..4 {
        mine.push(keep(staff[0], n).await.unwrap());
        t.clock.advance(Duration::seconds(1));
    }
    assert_eq!(
        previews::take(&t.app, staff[0], s.id, mine[0])
            .await
            .unwrap(),
        None,
        "the oldest gave way"
    );
    // only the uploader takes it, once
    assert_eq!(
        previews::take(&t.app, staff[1], s.id, mine[3])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        previews::take(&t.app, staff[0], s.id, mine[3])
            .await
            .unwrap(),
        Some(vec![3; 3])
    );
    assert_eq!(
        previews::take(&t.app, staff[0], s.id, mine[3])
            .await
            .unwrap(),
        None
    );

    // the association: mine[1] and mine[2] wait, eight others fill it to ten, the next is refused
    for (i, account) in staff[1..9].iter().enumerate() {
        keep(*account, 10 + u8::try_from(i).unwrap()).await.unwrap();
    }
    assert!(matches!(
        keep(staff[9], 99).await,
        Err(TrainingError::TooManyPreviews)
    ));
    assert!(matches!(
        keep(staff[9], 99).await,
        Err(TrainingError::TooManyPreviews)
    ));
    // an organiser with room below their own cap is refused as well while the association is full
    assert!(matches!(
        keep(staff[1], 98).await,
        Err(TrainingError::TooManyPreviews)
    ));

    // after the expiry nothing waits: the old staging ids are gone, and uploads are taken again
    t.clock
        .advance(Duration::minutes(i64::from(limits.minutes) + 1));
    assert_eq!(
        previews::take(&t.app, staff[0], s.id, mine[1])
            .await
            .unwrap(),
        None,
        "expired"
    );
    let fresh = keep(staff[9], 7).await.unwrap();
    assert_eq!(
        previews::take(&t.app, staff[9], s.id, fresh).await.unwrap(),
        Some(vec![7; 3])
    );
}
app_test!(
    previews_are_bounded_per_organiser_and_association_and_expire,
    bounded_and_expiring
);

/// A multipart upload with the CSRF token in the header, as `upload.js` sends it.
async fn preview<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    token: &str,
    s: &TrainingSession,
    list: &str,
) -> scraper::Html {
    let boundary = "mamis-previews-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{list}\r\n--{boundary}--\r\n"
    );
    let r = ua
        .post(t.url(&format!("/office/training/{}/attendees", s.id)))
        .header("origin", &t.base_url)
        .header("x-csrf-token", token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    html(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_previewed_on_one_server_is_confirmed_on_another() {
    if !mamis_testkit::backend_selected("postgres") {
        return;
    }
    let Some(a) = spawn_postgres().await else {
        return;
    };
    let b = a.second_server().await;
    let s = chiyoda_session(&a).await;
    let d = sample_doctor(7);
    let mut acc = Account::new(
        Uuid::new_v4(),
        "previews-doctor@example.jp",
        "",
        AccountKind::Doctor,
        a.app.now(),
    );
    acc.doctor_id = Some(d.id);
    acc.verification = Verification::Verified;
    let mut tx = a.app.store.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    tx.commit().await.unwrap();
    let (ua, _) = staff_user(
        &a,
        "previews-staff@example.jp",
        "Hinoki-kabuto-2026-sakura",
        RoleGrant::new(Role::CountyStaff, Scope::Association(code("P13-0001"))).unwrap(),
    )
    .await;
    let page = ua
        .get(a.url(&format!("/office/training/{}", s.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = attr(&html(&page), "input[name=csrf]", "value").unwrap();
    let hm = |t| mamis_domain::time::to_japan(t).format("%H:%M").to_string();
    let list = format!(
        "医籍登録番号,氏名カナ,入室,退室\r\n{},ヤマダ タロウ,{},{}\r\n",
        d.iseki.as_str(),
        hm(s.start),
        hm(s.start + Duration::minutes(60))
    );

    // previewed on server A
    let doc = preview(&a, &ua, &token, &s, &list).await;
    let staging = attr(&doc, "#confirm-form input[name=staging]", "value").unwrap();

    // confirmed on server B, which never saw the file
    let r = ua
        .post(b.url(&format!("/office/training/{}/attendees/confirm", s.id)))
        .header("origin", &b.base_url)
        .form(&[("csrf", token.as_str()), ("staging", staging.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = html(&r.text().await.unwrap());
    assert_eq!(texts(&doc, "#upload-heading"), ["出席者名簿を反映しました"]);
    assert_eq!(texts(&doc, "#count-added"), ["1"]);

    // and it is used up for server A as well
    let r = ua
        .post(a.url(&format!("/office/training/{}/attendees/confirm", s.id)))
        .header("origin", &a.base_url)
        .form(&[("csrf", token.as_str()), ("staging", staging.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}
