//! The membership forms over HTTP on both backends: the doctor's join in three steps (the
//! prefecture, the county found by its municipalities, a class per level), refusals shown on
//! the form in Japanese, the name change that needs its document, the profile with every bad
//! field reported, the office's settings within scope, the evidence download (audited, 404
//! outside the subtree), and the reminders after N days and then weekly.

use chrono::Duration;
use mamis_app::membership::{self, StaffAct};
use mamis_domain::procedure::{ProcedureKind, ProcedureStatus};
use mamis_domain::{Principal, Role, RoleGrant, Scope};
use mamis_store::{IdentityStore, MembershipStore, OutboxStore, Store, Tx};
use mamis_testkit::{TestApp, app_test, attr, html, texts};

use super::membership::{audited, class, code, doctor, seed};

/// A doctor's browser logged in to My Page.
async fn doctor_browser<S: Store>(t: &TestApp<S>, me: &Principal, n: u32) -> reqwest::Client {
    let Principal::Doctor { account_id, .. } = me else {
        unreachable!()
    };
    let password = "Doctor-pass-2026-hinoki";
    let hash = t.app.hasher.hash(password.to_owned()).await.unwrap();
    let mut tx = t.app.store.write().await.unwrap();
    tx.set_password_hash(*account_id, &hash).await.unwrap();
    tx.commit().await.unwrap();
    let ua = mamis_testkit::browser();
    let (r, _) =
        mamis_testkit::password_login(t, &ua, &format!("doctor{n}@example.jp"), password).await;
    assert_eq!(r.status(), 303);
    ua
}

async fn get<S: Store>(t: &TestApp<S>, ua: &reqwest::Client, path: &str) -> (u16, String) {
    let r = ua.get(t.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts a form with the page's token; returns the status and the body or the redirect.
async fn post<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    let r = ua
        .post(t.url(path))
        .header("origin", &t.base_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, loc.unwrap_or(r.text().await.unwrap()))
}

fn csrf(body: &str) -> String {
    attr(&html(body), "input[name=csrf]", "value").unwrap()
}

async fn join_in_three_steps<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let mut tx = t.app.store.write().await.unwrap();
    tx.set_county_municipalities(&code("P13-0001"), &["千代田区".into()])
        .await
        .unwrap();
    tx.set_county_municipalities(&code("P13-0002"), &["中央区".into(), "月島".into()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (d, me) = doctor(&t, 21, &[], None).await;
    let ua = doctor_browser(&t, &me, 21).await;
    // My Page offers the join (not a member anywhere), not a transfer or a withdrawal
    let (_, body) = get(&t, &ua, "/mypage/membership").await;
    let doc = html(&body);
    assert_eq!(texts(&doc, "#apply-join").len(), 1);
    assert!(texts(&doc, "#apply-transfer").is_empty());
    assert!(texts(&doc, "#apply-withdraw").is_empty());
    // step 1: the prefecture
    let (status, body) = get(&t, &ua, "/mypage/membership/join").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert!(
        texts(&doc, "#prefecture option")
            .iter()
            .any(|o| o == "東京都医師会")
    );
    assert!(texts(&doc, "#join-form").is_empty());
    // step 2: the counties of Tokyo with their municipalities, and 「わからない」
    let (_, body) = get(&t, &ua, "/mypage/membership/join?prefecture=P13").await;
    let doc = html(&body);
    let counties = texts(&doc, "#join-county label.choice");
    assert!(
        counties
            .iter()
            .any(|c| c.contains("中央区医師会") && c.contains("中央区・月島")),
        "{counties:?}"
    );
    assert!(counties.iter().any(|c| c.contains("わからない")));
    assert!(!counties.iter().any(|c| c.contains("大阪")), "{counties:?}");
    // step 3: a class per level
    let (_, body) = get(
        &t,
        &ua,
        "/mypage/membership/join?prefecture=P13&county=P13-0001",
    )
    .await;
    let doc = html(&body);
    assert_eq!(texts(&doc, "#join-county-name"), ["千代田区医師会"]);
    let county_classes = texts(&doc, "#county_class option");
    assert_eq!(county_classes[0], "申し込まない");
    assert!(
        county_classes.contains(&"regular".to_owned()),
        "{county_classes:?}"
    );
    assert!(texts(&doc, "#jma_class option").contains(&"B会員".to_owned()));
    let token = csrf(&body);
    // nothing chosen: the form again with the reason, nothing filed
    let base = [("prefecture", "P13"), ("county", "P13-0001")];
    let (status, body) = post(&t, &ua, "/mypage/membership/join", &token, &base).await;
    assert_eq!(status, 200);
    assert!(body.contains("会員種別を1つ以上選んでください"), "{body}");
    // the JMA without the prefecture is not nested
    let mut f = base.to_vec();
    f.extend([("county_class", "regular"), ("jma_class", "B")]);
    let (status, body) = post(&t, &ua, "/mypage/membership/join", &token, &f).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("郡市区医師会から順に申し込んでください"),
        "{body}"
    );
    // a class the county does not offer
    let mut f = base.to_vec();
    f.push(("county_class", "gold"));
    let (status, body) = post(&t, &ua, "/mypage/membership/join", &token, &f).await;
    assert_eq!(status, 200);
    assert!(body.contains("その医師会にない会員種別です"), "{body}");
    let mut tx = t.app.store.read().await.unwrap();
    assert!(tx.procedures_of_doctor(d).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
    // a bad date
    let mut f = base.to_vec();
    f.extend([("county_class", "regular"), ("wished_on", "来月")]);
    let (_, body) = post(&t, &ua, "/mypage/membership/join", &token, &f).await;
    assert!(body.contains("日付を 2026-04-01 の形で"), "{body}");
    // all three levels
    let mut f = base.to_vec();
    f.extend([
        ("county_class", "regular"),
        ("prefecture_class", "regular"),
        ("jma_class", "B"),
    ]);
    let (status, to) = post(&t, &ua, "/mypage/membership/join", &token, &f).await;
    assert_eq!((status, to.as_str()), (303, "/mypage/membership?filed=1"));
    let mut tx = t.app.store.read().await.unwrap();
    let ps = tx.procedures_of_doctor(d).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].kind, ProcedureKind::Join);
    assert_eq!(ps[0].due.len(), 1);
    assert_eq!(ps[0].due[0].association, code("P13-0001"));
    let (_, body) = get(&t, &ua, "/mypage/membership?filed=1").await;
    assert_eq!(texts(&html(&body), "#membership-filed").len(), 1);
    // a second membership procedure while one is open is refused on the form
    let (_, body) = post(&t, &ua, "/mypage/membership/join", &token, &f).await;
    assert!(body.contains("処理中の手続きがあります"), "{body}");
    // 「わからない」 goes to the prefecture to route
    let (d2, me2) = doctor(&t, 22, &[], None).await;
    let ua2 = doctor_browser(&t, &me2, 22).await;
    let (_, body) = get(
        &t,
        &ua2,
        "/mypage/membership/join?prefecture=P13&county=unknown",
    )
    .await;
    assert_eq!(
        texts(&html(&body), "#join-county-name"),
        ["未定（わからない）"]
    );
    let (status, _) = post(
        &t,
        &ua2,
        "/mypage/membership/join",
        &csrf(&body),
        &[
            ("prefecture", "P13"),
            ("county", "unknown"),
            ("county_class", "regular"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let mut tx = t.app.store.read().await.unwrap();
    let ps = tx.procedures_of_doctor(d2).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(ps[0].due[0].association, code("P13"));
}
app_test!(
    a_doctor_joins_in_three_steps_with_reasons_on_the_form,
    join_in_three_steps
);

/// A PNG's first bytes and a little more.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR koseki extract";

async fn name_change_needs_its_document<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (d, me) = doctor(&t, 23, &[("P13-0001", "regular"), ("P13", "regular")], None).await;
    let ua = doctor_browser(&t, &me, 23).await;
    let (_, body) = get(&t, &ua, "/mypage/membership/name").await;
    let token = csrf(&body);
    let names = [
        ("family_name", "新姓"),
        ("given_name", "花子"),
        ("family_kana", "シンセイ"),
        ("given_kana", "ハナコ"),
    ];
    let send = |file: Option<(&'static str, &'static str, Vec<u8>)>, kana: &'static str| {
        let boundary = "----mamis-name-change-3c9e";
        let mut body = Vec::new();
        let mut text = |k: &str, v: &str| {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        };
        text("csrf", &token);
        for (k, v) in names {
            text(k, if k == "family_kana" { kana } else { v });
        }
        if let Some((name, ty, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"evidence\"; \
                     filename=\"{name}\"\r\nContent-Type: {ty}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(&bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let ua = ua.clone();
        let url = t.url("/mypage/membership/name");
        let origin = t.base_url.clone();
        async move {
            let r = ua
                .post(url)
                .header("origin", origin)
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
    };
    // no document: the summary names it; nothing filed
    let (status, body) = send(None, "シンセイ").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(
        texts(&doc, "#error-summary li"),
        ["確認書類: 確認書類を添付してください（必須）。"]
    );
    // not kana, and a "PNG" that is a web page: both reported
    let (_, body) = send(Some(("koseki.png", "image/png", b"<html>".to_vec())), "new").await;
    let doc = html(&body);
    assert_eq!(texts(&doc, "#error-summary li").len(), 1, "{body}");
    assert!(body.contains("カタカナまたはひらがな"), "{body}");
    let (_, body) = send(
        Some(("koseki.png", "image/png", b"<html>".to_vec())),
        "シンセイ",
    )
    .await;
    assert!(
        body.contains("添付できるのは10MBまでのPDF・JPEG・PNGです"),
        "{body}"
    );
    let mut tx = t.app.store.read().await.unwrap();
    assert!(tx.procedures_of_doctor(d).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
    let (status, _) = send(Some(("koseki.png", "image/png", PNG.to_vec())), "シンセイ").await;
    assert_eq!(status, 303);
    let mut tx = t.app.store.read().await.unwrap();
    let p = tx.procedures_of_doctor(d).await.unwrap().pop().unwrap();
    let ev = tx.evidence_of(p.id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(p.kind, ProcedureKind::NameChange);
    assert_eq!(ev.len(), 1);
    // Chiyoda's staff see the request and download the document (audited); Chuo's get 404
    let county =
        |node: &str| RoleGrant::new(Role::CountyStaff, Scope::Association(code(node))).unwrap();
    let (chiyoda, _) = mamis_testkit::staff_user(
        &t,
        "n1@example.jp",
        "Chiyoda-pass-2026-kaede",
        county("P13-0001"),
    )
    .await;
    let (chuo, _) = mamis_testkit::staff_user(
        &t,
        "n2@example.jp",
        "Chuo-pass-2026-kaede",
        county("P13-0002"),
    )
    .await;
    let (status, body) = get(&t, &chiyoda, &format!("/office/membership/{}", p.id)).await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert!(
        texts(&doc, "#request dd")
            .iter()
            .any(|v| v.contains("新姓 花子（シンセイ ハナコ）"))
    );
    let link = attr(&doc, "#evidence a", "href").unwrap();
    assert_eq!(
        link,
        format!("/office/membership/{}/evidence/{}", p.id, ev[0].id)
    );
    let before = audited(&t, "membership.evidence_view").await;
    let r = chiyoda.get(t.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(audited(&t, "membership.evidence_view").await, before + 1);
    assert_eq!(chuo.get(t.url(&link)).send().await.unwrap().status(), 404);
    assert_eq!(audited(&t, "membership.evidence_view").await, before + 1);
}
app_test!(
    a_name_change_needs_its_document_and_staff_see_it,
    name_change_needs_its_document
);

async fn profile_reports_every_field<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let (d, me) = doctor(&t, 24, &[("P13-0001", "regular")], None).await;
    let ua = doctor_browser(&t, &me, 24).await;
    let (_, body) = get(&t, &ua, "/mypage/profile").await;
    let token = csrf(&body);
    let (status, body) = post(
        &t,
        &ua,
        "/mypage/profile",
        &token,
        &[
            ("phone", "03-1234-abcd"),
            ("graduation_year", "1850"),
            ("workplace_name", "千代田病院"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let doc = html(&body);
    let items = texts(&doc, "#error-summary li");
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items[0].starts_with("電話番号"), "{items:?}");
    assert!(items[1].starts_with("卒業年"), "{items:?}");
    assert_eq!(
        attr(&doc, "#phone", "aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(
        attr(&doc, "#workplace_name", "value").as_deref(),
        Some("千代田病院")
    );
    let mut tx = t.app.store.read().await.unwrap();
    assert!(
        tx.doctor_profile(d).await.unwrap().is_none(),
        "nothing half-written"
    );
    tx.rollback().await.unwrap();
    let (status, to) = post(
        &t,
        &ua,
        "/mypage/profile",
        &token,
        &[
            ("phone", "03-1234-5678"),
            ("graduation_year", "2020"),
            ("workplace_name", "千代田病院"),
            ("workplace_municipality", "千代田区"),
            ("resident", "1"),
        ],
    )
    .await;
    assert_eq!((status, to.as_str()), (303, "/mypage/profile?saved=1"));
    let mut tx = t.app.store.read().await.unwrap();
    let p = tx.doctor_profile(d).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(p.phone.as_deref(), Some("03-1234-5678"));
    assert_eq!(p.graduation_year, Some(2020));
    assert!(p.resident);
    assert_eq!(audited(&t, "doctor.profile_update").await, 1);
    let (_, body) = get(&t, &ua, "/mypage/profile?saved=1").await;
    let doc = html(&body);
    assert_eq!(texts(&doc, "#profile-saved").len(), 1);
    assert_eq!(attr(&doc, "#resident", "checked").as_deref(), Some(""));
}
app_test!(
    the_profile_reports_every_bad_field_and_saves_whole,
    profile_reports_every_field
);

async fn settings_within_scope<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let county =
        |node: &str| RoleGrant::new(Role::CountyStaff, Scope::Association(code(node))).unwrap();
    let (chiyoda, _) = mamis_testkit::staff_user(
        &t,
        "s1@example.jp",
        "Chiyoda-pass-2026-kaede",
        county("P13-0001"),
    )
    .await;
    let (chuo, _) = mamis_testkit::staff_user(
        &t,
        "s2@example.jp",
        "Chuo-pass-2026-kaede",
        county("P13-0002"),
    )
    .await;
    let (status, body) = get(&t, &chiyoda, "/office/membership/settings").await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(texts(&doc, "#settings-name"), ["千代田区医師会"]);
    let token = csrf(&body);
    // another county's settings are not found, read or written
    assert_eq!(
        get(
            &t,
            &chuo,
            "/office/membership/settings?association=P13-0001"
        )
        .await
        .0,
        404
    );
    let (_, chuo_page) = get(&t, &chuo, "/office/membership/settings").await;
    let (status, _) = post(
        &t,
        &chuo,
        "/office/membership/settings/municipalities",
        &csrf(&chuo_page),
        &[
            ("association", "P13-0001"),
            ("municipalities", "乗っ取り区"),
        ],
    )
    .await;
    assert_eq!(status, 404);
    // a bad class name comes back with the reason; a good one is listed
    let (status, body) = post(
        &t,
        &chiyoda,
        "/office/membership/settings/class",
        &token,
        &[
            ("association", "P13-0001"),
            ("code", "honor"),
            ("name_ja", ""),
            ("name_en", "Honorary"),
            ("position", "5"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("名称は1〜40文字で入力してください"), "{body}");
    let (status, _) = post(
        &t,
        &chiyoda,
        "/office/membership/settings/class",
        &token,
        &[
            ("association", "P13-0001"),
            ("code", "honor"),
            ("name_ja", "名誉会員"),
            ("name_en", "Honorary"),
            ("position", "5"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = post(
        &t,
        &chiyoda,
        "/office/membership/settings/municipalities",
        &token,
        &[
            ("association", "P13-0001"),
            ("municipalities", "千代田区\n神田、 神田\n"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = post(
        &t,
        &chiyoda,
        "/office/membership/settings/rule",
        &token,
        &[("association", "P13-0001"), ("rule", "next_day")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, body) = get(
        &t,
        &chiyoda,
        "/office/membership/settings?association=P13-0001&saved=1",
    )
    .await;
    let doc = html(&body);
    assert!(texts(&doc, "#classes .code").contains(&"honor".to_owned()));
    assert_eq!(texts(&doc, "#municipalities"), ["千代田区\n神田"]);
    assert_eq!(
        attr(&doc, "#rule option[selected]", "value").as_deref(),
        Some("next_day")
    );
    assert_eq!(audited(&t, "membership.class_save").await, 1);
    assert_eq!(audited(&t, "membership.municipalities_set").await, 1);
    assert_eq!(audited(&t, "membership.rule_set").await, 1);
    // the join form shows the new class and area; the rule moves the effective date
    let (d, me) = doctor(&t, 25, &[], None).await;
    let ua = doctor_browser(&t, &me, 25).await;
    let (_, body) = get(&t, &ua, "/mypage/membership/join?prefecture=P13").await;
    assert!(
        texts(&html(&body), "#join-county label.choice")
            .iter()
            .any(|c| c.contains("千代田区・神田"))
    );
    let (_, body) = get(
        &t,
        &ua,
        "/mypage/membership/join?prefecture=P13&county=P13-0001",
    )
    .await;
    assert!(texts(&html(&body), "#county_class option").contains(&"名誉会員".to_owned()));
    let (_, staff) = ((), super::membership::staff(&t, "P13-0001").await);
    let id = membership::file(
        &t.app,
        &me,
        d,
        mamis_domain::procedure::Request::Join {
            prefecture: code("P13"),
            county: Some(code("P13-0001")),
            classes: mamis_domain::procedure::JoinClasses {
                county: Some(class("honor")),
                prefecture: None,
                jma: None,
            },
        },
        None,
        vec![],
        None,
    )
    .await
    .unwrap();
    let v = membership::act(&t.app, &staff, id, StaffAct::Approve, None)
        .await
        .unwrap();
    assert_eq!(v.row.status, ProcedureStatus::Completed);
    let today = mamis_domain::time::japan_date(t.app.now());
    assert_eq!(
        v.row.effective_on,
        today.succ_opt(),
        "next day, as configured"
    );
}
app_test!(
    association_settings_stay_in_scope_and_reach_the_join_form,
    settings_within_scope
);

async fn reminders_after_days_then_weekly<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let _chiyoda = super::membership::staff(&t, "P13-0001").await;
    let (d, me) = doctor(&t, 26, &[], None).await;
    membership::file(
        &t.app,
        &me,
        d,
        mamis_domain::procedure::Request::Join {
            prefecture: code("P13"),
            county: Some(code("P13-0001")),
            classes: mamis_domain::procedure::JoinClasses {
                county: Some(class("regular")),
                prefecture: None,
                jma: None,
            },
        },
        None,
        vec![],
        None,
    )
    .await
    .unwrap();
    let reminders = || async {
        let mut tx = t.app.store.read().await.unwrap();
        let n = tx
            .mails(1000)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.subject.contains("処理を待っています"))
            .count();
        tx.rollback().await.unwrap();
        n
    };
    let worker = t.worker(vec![]);
    worker.drain().await.unwrap();
    assert_eq!(reminders().await, 0, "not before the configured days");
    let days = t.app.config.membership.remind_days;
    t.clock.advance(Duration::days(days) + Duration::minutes(1));
    worker.drain().await.unwrap();
    assert_eq!(reminders().await, 1);
    // a second server running the same jobs sends nothing more
    assert_eq!(
        membership::reminders::send_reminders(&t.app).await.unwrap(),
        0
    );
    t.clock.advance(Duration::days(3));
    worker.drain().await.unwrap();
    assert_eq!(reminders().await, 1, "weekly, not daily");
    t.clock.advance(Duration::days(4));
    worker.drain().await.unwrap();
    assert_eq!(reminders().await, 2, "a week after the first");
    let mut tx = t.app.store.read().await.unwrap();
    let ms = tx.mails(1000).await.unwrap();
    tx.rollback().await.unwrap();
    let m = ms
        .iter()
        .find(|m| m.subject.contains("処理を待っています"))
        .unwrap();
    assert_eq!(m.to_addr, "staff-p13-0001@example.jp");
}
app_test!(
    staff_are_reminded_after_days_then_weekly,
    reminders_after_days_then_weekly
);

/// A MAMIS_ID whose identity data matched no record (a new resident): no binding, a claim.
async fn applicant<S: Store>(
    t: &TestApp<S>,
    n: u32,
    iseki: &str,
    birth: &str,
) -> (uuid::Uuid, reqwest::Client) {
    use mamis_domain::{AssociationCode, IsekiNumber, KanaName, Sex};
    use mamis_store::{AccessStore, Account, AccountKind, IdentityClaim, Verification};
    let email = format!("resident{n}@example.jp");
    let password = "Resident-pass-2026-sakura";
    let mut acc = Account::new(
        uuid::Uuid::now_v7(),
        &email,
        "",
        AccountKind::Doctor,
        t.app.now(),
    );
    acc.password_hash = Some(t.app.hasher.hash(password.to_owned()).await.unwrap());
    acc.verification = Verification::Review;
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    tx.put_claim(&IdentityClaim {
        account_id: acc.id,
        iseki: IsekiNumber::parse(iseki).unwrap(),
        family_name: "研修".into(),
        given_name: format!("一郎{n}"),
        family_kana: KanaName::normalise("ケンシュウ").unwrap(),
        given_kana: KanaName::normalise("イチロウ").unwrap(),
        birth_date: birth.parse().unwrap(),
        sex: Sex::Male,
        association: AssociationCode::parse("P13-0001").unwrap(),
        member: true,
        failed_matches: 3,
        review_node: Some(AssociationCode::parse("P13-0001").unwrap()),
        review_reason: Some("no_match".into()),
        submitted_at: t.app.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let ua = mamis_testkit::browser();
    let (r, _) = mamis_testkit::password_login(t, &ua, &email, password).await;
    assert_eq!(r.status(), 303);
    (acc.id, ua)
}

/// Posts the applicant's join as the browser's multipart form would.
async fn apply<S: Store>(
    t: &TestApp<S>,
    ua: &reqwest::Client,
    token: &str,
    licence: Option<&[u8]>,
) -> (u16, String) {
    let boundary = "----mamis-apply-5a1b";
    let mut body = Vec::new();
    for (k, v) in [
        ("csrf", token),
        ("prefecture", "P13"),
        ("county", "P13-0001"),
        ("county_class", "regular"),
        ("prefecture_class", "regular"),
        ("jma_class", "C"),
    ] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some(bytes) = licence {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"licence\"; \
                 filename=\"menkyo.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let r = ua
        .post(t.url("/mypage/membership/apply"))
        .header("origin", &t.base_url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, loc.unwrap_or(r.text().await.unwrap()))
}

async fn new_resident_joins_with_licence<S: Store>(t: TestApp<S>) {
    use mamis_store::{AccessStore, RegistryStore, Verification};
    seed(&t).await;
    let (account, ua) = applicant(&t, 1, "7770001", "1999-05-05").await;
    let (_, body) = get(&t, &ua, "/mypage").await;
    assert!(
        body.contains("医師免許証の写しを添えて入会を申し込めます"),
        "{body}"
    );
    let (status, body) = get(
        &t,
        &ua,
        "/mypage/membership/join?prefecture=P13&county=P13-0001",
    )
    .await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(
        attr(&doc, "#join-form", "action").as_deref(),
        Some("/mypage/membership/apply")
    );
    assert_eq!(attr(&doc, "#licence", "type").as_deref(), Some("file"));
    let token = csrf(&body);
    let (status, body) = apply(&t, &ua, &token, None).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("医師免許証の写しを添付してください"),
        "{body}"
    );
    let (status, to) = apply(&t, &ua, &token, Some(PNG)).await;
    assert_eq!((status, to.as_str()), (303, "/mypage/membership?filed=1"));
    let (_, body) = get(&t, &ua, "/mypage/membership").await;
    let doc = html(&body);
    assert_eq!(
        texts(&doc, "section.card h2")
            .iter()
            .filter(|h| *h == "入会")
            .count(),
        1,
        "{body}"
    );
    assert!(
        texts(&doc, "#apply-profile").is_empty(),
        "no record to edit yet"
    );
    // Chuo does not see it; Chiyoda sees the applicant's identity data and the licence
    let county =
        |node: &str| RoleGrant::new(Role::CountyStaff, Scope::Association(code(node))).unwrap();
    let (chiyoda_ua, chiyoda) = mamis_testkit::staff_user(
        &t,
        "r1@example.jp",
        "Chiyoda-pass-2026-kaede",
        county("P13-0001"),
    )
    .await;
    let (chuo_ua, _) = mamis_testkit::staff_user(
        &t,
        "r2@example.jp",
        "Chuo-pass-2026-kaede",
        county("P13-0002"),
    )
    .await;
    let (_, body) = get(&t, &chiyoda_ua, "/office/membership").await;
    let href = attr(&html(&body), "#membership-queue a", "href").unwrap();
    assert_eq!(get(&t, &chuo_ua, &href).await.0, 404);
    let (status, body) = get(&t, &chiyoda_ua, &href).await;
    assert_eq!(status, 200);
    let doc = html(&body);
    assert_eq!(texts(&doc, "#doctor"), ["研修 一郎1 (7770001)"]);
    assert!(
        texts(&doc, "#request dd")
            .iter()
            .any(|v| v.contains("医籍情報未登録"))
    );
    assert_eq!(texts(&doc, "#evidence a"), ["menkyo.png"]);
    assert_eq!(audited(&t, "membership.applicant_view").await, 1);
    // the county's approval verifies the identity: a record is made and the account bound
    let id: uuid::Uuid = href.rsplit('/').next().unwrap().parse().unwrap();
    membership::act(&t.app, &chiyoda, id, StaffAct::Approve, None)
        .await
        .unwrap();
    let mut tx = t.app.store.read().await.unwrap();
    let acc = tx.account(account).await.unwrap().unwrap();
    let d = tx
        .doctor_by_iseki(&mamis_domain::IsekiNumber::parse("7770001").unwrap())
        .await
        .unwrap()
        .unwrap();
    let p = tx.procedure(id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(acc.verification, Verification::Verified);
    assert_eq!(acc.doctor_id, Some(d.id));
    assert_eq!(d.birth_date.to_string(), "1999-05-05");
    assert_eq!(d.home_prefecture, Some(code("P13")));
    assert_eq!(p.doctor_id, Some(d.id));
    assert_eq!(p.applicant, Some(account));
    assert_eq!(p.due[0].association, code("P13"), "on to the prefecture");
    assert_eq!(audited(&t, "identity.verify").await, 1);
    // the doctor now sees the procedure as their own, and the profile link
    let (_, body) = get(&t, &ua, "/mypage/membership").await;
    assert_eq!(texts(&html(&body), "#apply-profile").len(), 1);

    // a claim on a number whose record says otherwise: the approval is refused, nothing written
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&mamis_store::Doctor {
        birth_date: "1970-01-01".parse().unwrap(),
        iseki: mamis_domain::IsekiNumber::parse("7770002").unwrap(),
        id: uuid::Uuid::now_v7(),
        ..d.clone()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (other, ua2) = applicant(&t, 2, "7770002", "1999-06-06").await;
    let (_, body) = get(
        &t,
        &ua2,
        "/mypage/membership/join?prefecture=P13&county=P13-0001",
    )
    .await;
    let (status, _) = apply(&t, &ua2, &csrf(&body), Some(PNG)).await;
    assert_eq!(status, 303);
    let mut tx = t.app.store.read().await.unwrap();
    let pid = tx.procedures_of_applicant(other).await.unwrap()[0].id;
    tx.rollback().await.unwrap();
    let r = membership::act(&t.app, &chiyoda, pid, StaffAct::Approve, None).await;
    assert!(
        matches!(r, Err(mamis_app::AppError::Conflict(ref c)) if c == "applicant-record-differs"),
        "{r:?}"
    );
    let mut tx = t.app.store.read().await.unwrap();
    let acc = tx.account(other).await.unwrap().unwrap();
    let p = tx.procedure(pid).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(acc.verification, Verification::Review);
    assert_eq!(p.doctor_id, None);
    assert_eq!(p.due[0].association, code("P13-0001"));
}
app_test!(
    a_new_resident_joins_with_a_licence_copy_and_is_verified_by_the_county,
    new_resident_joins_with_licence
);

async fn paper_forms<S: Store>(t: TestApp<S>) {
    seed(&t).await;
    let county =
        |node: &str| RoleGrant::new(Role::CountyStaff, Scope::Association(code(node))).unwrap();
    let (chiyoda, _) = mamis_testkit::staff_user(
        &t,
        "p1@example.jp",
        "Chiyoda-pass-2026-kaede",
        county("P13-0001"),
    )
    .await;
    let (chuo, _) = mamis_testkit::staff_user(
        &t,
        "p2@example.jp",
        "Chuo-pass-2026-kaede",
        county("P13-0002"),
    )
    .await;
    let (d, _) = doctor(&t, 27, &[("P13-0001", "regular"), ("P13", "regular")], None).await;
    // the number alone, or with another birth date, finds nobody (and says the same)
    let (_, body) = get(
        &t,
        &chiyoda,
        "/office/membership/paper?iseki=180027&birth_date=1998-04-03",
    )
    .await;
    assert!(
        body.contains("この医籍登録番号と生年月日の医師は見つかりません"),
        "{body}"
    );
    let (_, body) = get(
        &t,
        &chiyoda,
        "/office/membership/paper?iseki=9999999&birth_date=1998-04-02",
    )
    .await;
    assert!(body.contains("この医籍登録番号と生年月日の医師は見つかりません"));
    let (_, body) = get(
        &t,
        &chiyoda,
        "/office/membership/paper?iseki=abc&birth_date=x",
    )
    .await;
    assert!(body.contains("医籍登録番号（数字）と生年月日"));
    let before = audited(&t, "doctor.view").await;
    let (status, body) = get(
        &t,
        &chiyoda,
        "/office/membership/paper?iseki=180027&birth_date=1998-04-02",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        audited(&t, "doctor.view").await,
        before + 1,
        "the lookup is a personal-data view"
    );
    let doc = html(&body);
    assert!(texts(&doc, "#paper-doctor")[0].starts_with("手続 花子27"));
    assert!(
        texts(&doc, "#paper-join").is_empty(),
        "already a county member"
    );
    assert!(
        texts(&doc, "#paper-transfer").is_empty(),
        "already in this county"
    );
    let token = csrf(&body);
    let id = d.to_string();
    let lookup = [
        ("doctor", id.as_str()),
        ("iseki", "180027"),
        ("birth_date", "1998-04-02"),
    ];
    // a class change from paper: nothing changed is refused on the page
    let mut f = lookup.to_vec();
    f.extend([
        ("kind", "class"),
        ("class_P13-0001", "regular"),
        ("held_P13-0001", "regular"),
    ]);
    let (status, body) = post(&t, &chiyoda, "/office/membership/paper", &token, &f).await;
    assert_eq!(status, 200);
    assert!(body.contains("変更する内容がありません"), "{body}");
    let mut f = lookup.to_vec();
    f.extend([
        ("kind", "class"),
        ("class_P13-0001", "senior"),
        ("held_P13-0001", "regular"),
    ]);
    let (status, to) = post(&t, &chiyoda, "/office/membership/paper", &token, &f).await;
    assert_eq!(status, 303, "{to}");
    let mut tx = t.app.store.read().await.unwrap();
    let p = tx.procedures_of_doctor(d).await.unwrap().remove(0);
    let staff_acc = tx.account_by_email("p1@example.jp").await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(to, format!("/office/membership/{}", p.id));
    assert_eq!(p.kind, ProcedureKind::ClassChange);
    assert_eq!(
        p.filed_by, staff_acc.id,
        "filed by the staff member from paper"
    );
    // Chuo takes the doctor in from paper (an incoming transfer) while that waits? No: one
    // membership procedure at a time; after it is withdrawn Chuo may file the transfer
    let (_, body) = get(
        &t,
        &chuo,
        "/office/membership/paper?iseki=180027&birth_date=1998-04-02",
    )
    .await;
    let doc = html(&body);
    assert_eq!(texts(&doc, "#paper-transfer").len(), 1, "{body}");
    let chuo_token = csrf(&body);
    let mut f = lookup.to_vec();
    f.extend([
        ("kind", "transfer"),
        ("from_county", "P13-0001"),
        ("county_class", "regular"),
    ]);
    let (status, body) = post(&t, &chuo, "/office/membership/paper", &chuo_token, &f).await;
    assert_eq!(status, 200);
    assert!(body.contains("処理中の手続きがあります"), "{body}");
    // a county cannot file a withdrawal for another county's member
    let mut f = lookup.to_vec();
    f.extend([("kind", "withdrawal"), ("from", "county")]);
    let (status, _) = post(&t, &chuo, "/office/membership/paper", &chuo_token, &f).await;
    assert_eq!(status, 404);
}
app_test!(
    county_staff_enter_paper_forms_for_their_doctors,
    paper_forms
);

async fn death_from_paper<S: Store>(t: TestApp<S>) {
    use mamis_store::{AccessStore, AccountStatus, RegistryStore};
    seed(&t).await;
    let county =
        |node: &str| RoleGrant::new(Role::CountyStaff, Scope::Association(code(node))).unwrap();
    let (chiyoda, _) = mamis_testkit::staff_user(
        &t,
        "x1@example.jp",
        "Chiyoda-pass-2026-kaede",
        county("P13-0001"),
    )
    .await;
    let (chuo, _) = mamis_testkit::staff_user(
        &t,
        "x2@example.jp",
        "Chuo-pass-2026-kaede",
        county("P13-0002"),
    )
    .await;
    let (d, me) = doctor(&t, 28, &[("P13-0001", "regular"), ("P13", "regular")], None).await;
    let Principal::Doctor { account_id, .. } = me else {
        unreachable!()
    };
    let (_, body) = get(
        &t,
        &chiyoda,
        "/office/membership/paper?iseki=180028&birth_date=1998-04-02",
    )
    .await;
    let token = csrf(&body);
    let id = d.to_string();
    let base = [
        ("doctor", id.as_str()),
        ("iseki", "180028"),
        ("birth_date", "1998-04-02"),
    ];
    // a date in the future is refused; the first post only asks
    let mut f = base.to_vec();
    f.push(("died_on", "2099-01-01"));
    let (_, body) = post(&t, &chiyoda, "/office/membership/paper/death", &token, &f).await;
    assert!(
        body.contains("死亡日に今日より後の日付は指定できません"),
        "{body}"
    );
    let mut f = base.to_vec();
    f.push(("died_on", "2026-05-20"));
    let (status, body) = post(&t, &chiyoda, "/office/membership/paper/death", &token, &f).await;
    assert_eq!(status, 200);
    assert!(body.contains("死亡を記録しますか"), "{body}");
    let mut tx = t.app.store.read().await.unwrap();
    assert!(
        tx.memberships_of(d)
            .await
            .unwrap()
            .iter()
            .all(|m| m.left_on.is_none())
    );
    tx.rollback().await.unwrap();
    // another county cannot record it
    let mut f2 = f.clone();
    f2.push(("confirmed", "1"));
    let (_, chuo_page) = get(&t, &chuo, "/office/membership/paper").await;
    let (status, _) = post(
        &t,
        &chuo,
        "/office/membership/paper/death",
        &csrf(&chuo_page),
        &f2,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(&t, &chiyoda, "/office/membership/paper/death", &token, &f2).await;
    assert_eq!(status, 303);
    let mut tx = t.app.store.read().await.unwrap();
    let ms = tx.memberships_of(d).await.unwrap();
    let acc = tx.account(account_id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert!(
        ms.iter()
            .all(|m| m.left_on == Some("2026-05-21".parse().unwrap())),
        "{ms:?}"
    );
    assert_eq!(acc.status, AccountStatus::Suspended);
    assert_eq!(audited(&t, "doctor.death_record").await, 1);
}
app_test!(
    county_staff_record_a_death_after_confirming,
    death_from_paper
);
