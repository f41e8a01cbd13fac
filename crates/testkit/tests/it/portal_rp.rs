//! The CME portal as a relying party: "log in with MAMIS_ID" runs the real code + PKCE flow
//! over HTTP, and members-only areas check membership on every request.

use chrono::{DateTime, Utc};
use mamis_domain::{
    AssociationCode, IsekiNumber, KanaName, MemberClass, MemberId, Membership, Sex,
};
use mamis_store::{
    AccessStore, Account, AccountKind, Doctor, IdentityStore, LegacyCredential, RegistryStore,
    Store, Tx, Verification,
};
use mamis_testkit::{TestApp, app_test, attr, html};
use uuid::Uuid;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A doctor whose JMA membership ends on `left_on` (if any), with a verified MAMIS_ID.
async fn member<S: Store>(
    t: &TestApp<S>,
    n: u128,
    left_on: Option<&str>,
    verified: bool,
) -> (Doctor, String, String) {
    let now = t.app.now();
    let d = Doctor {
        id: Uuid::from_u128(0xAB00 + n),
        iseki: IsekiNumber::parse(&format!("{}", 880_000 + n)).unwrap(),
        family_name: "会員".into(),
        given_name: format!("太郎{n}"),
        family_kana: KanaName::normalise("カイイン").unwrap(),
        given_kana: KanaName::normalise("タロウ").unwrap(),
        birth_date: "1975-01-09".parse().unwrap(),
        sex: Sex::Male,
        contact_email: None,
        member_id: Some(MemberId::parse(&format!("{:010}", 7_700_000 + n)).unwrap()),
        home_prefecture: None,
        created_at: now,
    };
    let ms = |code: &str, left: Option<&str>| Membership {
        association: AssociationCode::parse(code).unwrap(),
        class: MemberClass::A1.into(),
        joined_on: "2010-04-01".parse().unwrap(),
        left_on: left.map(|l| l.parse().unwrap()),
    };
    let email = format!("rp{n}@example.jp");
    let password = "portal-password-2026".to_owned();
    let mut acc = Account::new(
        Uuid::from_u128(0xAC00 + n),
        &email,
        "",
        AccountKind::Doctor,
        now,
    );
    acc.password_hash = Some(t.app.hasher.hash(password.clone()).await.unwrap());
    acc.doctor_id = verified.then_some(d.id);
    acc.verification = if verified {
        Verification::Verified
    } else {
        Verification::Unverified
    };
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_memberships(&[
        (d.id, ms("P13-0001", None)),
        (d.id, ms("P13", None)),
        (d.id, ms("JMA", left_on)),
    ])
    .await
    .unwrap();
    tx.insert_account(&acc).await.unwrap();
    tx.commit().await.unwrap();
    (d, email, password)
}

/// Follows redirects by hand (the cookie jar sees every step), filling the login form once.
async fn portal_login<S: Store>(
    t: &TestApp<S>,
    c: &reqwest::Client,
    start: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let mut next = t.url(start);
    for _ in 0..10 {
        let r = c.get(&next).send().await.unwrap();
        if r.status() == 200 {
            let page = r.text().await.unwrap();
            let doc = html(&page);
            let Some(nxt) = attr(&doc, "form[action='/login'] input[name=next]", "value") else {
                panic!("unexpected page at {next}: {page}");
            };
            let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
            let r = c
                .post(t.url("/login"))
                .header("origin", &t.base_url)
                .form(&[
                    ("email", email),
                    ("password", password),
                    ("csrf", csrf.as_str()),
                    ("next", nxt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303);
            next = t.url(r.headers()["location"].to_str().unwrap());
            continue;
        }
        if r.status() != 303 {
            return r;
        }
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        next = if loc.starts_with('/') {
            t.url(&loc)
        } else {
            loc
        };
        if !next.starts_with(&t.base_url) {
            panic!("left the server: {next}");
        }
        if next.ends_with("/cme") || next.contains("/cme/members/") && !next.contains("login") {
            return c.get(&next).send().await.unwrap();
        }
    }
    panic!("the portal login did not finish");
}

async fn member_loses_access_within_minutes<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap();
    // 23:58 in Japan; the JMA membership ends at midnight
    t.clock.set(at("2026-06-01T23:58:00+09:00"));
    let (_, email, password) = member(&t, 1, Some("2026-06-02"), true).await;
    let c = mamis_testkit::browser();
    let r = portal_login(&t, &c, "/cme/members/quiz", &email, &password).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"cme-members-content\""), "{page}");
    // the portal page shows the MAMIS_ID session
    assert!(
        c.get(t.url("/cme"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("id=\"cme-mamis-session\"")
    );

    // 00:01: membership over, but the 5-minute access token still stands
    t.clock.advance(chrono::Duration::minutes(3));
    assert_eq!(
        c.get(t.url("/cme/members/quiz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // 00:04: the token has expired; the portal refreshes it and reads userinfo again
    t.clock.advance(chrono::Duration::minutes(3));
    let r = c.get(t.url("/cme/members/journal")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("id=\"cme-members-refused\"") && page.contains("会員の方のみ"),
        "{page}"
    );
}
app_test!(
    mamis_member_loses_access_within_five_minutes,
    member_loses_access_within_minutes
);

async fn unverified_and_anonymous<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap();
    let (_, email, password) = member(&t, 2, None, false).await;
    // no portal session: sent through the MAMIS_ID login
    let r = mamis_testkit::browser()
        .get(t.url("/cme/members/quiz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/cme/login")
    );
    let c = mamis_testkit::browser();
    let r = portal_login(&t, &c, "/cme/members/elearning", &email, &password).await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("本人確認") && !page.contains("id=\"cme-members-content\""),
        "{page}"
    );
}
app_test!(
    unverified_account_sees_why_not_the_content,
    unverified_and_anonymous
);

async fn legacy_member_loses_access_next_request<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap();
    t.clock.set(at("2026-03-30T23:59:00+09:00"));
    let (d, _, _) = member(&t, 3, Some("2026-03-31"), false).await;
    let mut tx = t.app.store.write().await.unwrap();
    tx.upsert_legacy_credentials(&[LegacyCredential {
        member_id: d.member_id.clone().unwrap(),
        birth_date: d.birth_date,
        password_hash: None,
        retired_at: None,
        imported_at: t.app.now(),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let c = mamis_testkit::browser();
    let page = c
        .get(t.url("/cme/login/legacy"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = attr(&html(&page), "input[name=csrf]", "value").unwrap();
    let member = d.member_id.unwrap().to_string();
    let r = c
        .post(t.url("/cme/login/legacy"))
        .header("origin", &t.base_url)
        .form(&[
            ("member_id", member.as_str()),
            ("password", "750109"),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        c.get(t.url("/cme/members/quiz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // one minute later the JMA membership has ended: the very next request is refused
    t.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(
        c.get(t.url("/cme/members/quiz"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}
app_test!(
    legacy_member_loses_access_on_the_next_request,
    legacy_member_loses_access_next_request
);

async fn state_mismatch_refused<S: Store>(t: TestApp<S>) {
    // a callback that was not started by this browser is refused
    let r = mamis_testkit::browser()
        .get(t.url("/cme/callback?code=abc&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
app_test!(
    portal_callback_refuses_a_foreign_state,
    state_mismatch_refused
);
