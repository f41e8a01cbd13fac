//! Identity use cases against a real store (both backends); the HTTP and browser flows are
//! tested in their own modules.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mamis_app::AppError;
use mamis_app::identity::login::{self, LoginOutcome};
use mamis_app::identity::passwords::{Cost, Hasher};
use mamis_app::identity::registration::{self, FieldError, IdentityForm, IdentityOutcome};
use mamis_app::identity::sessions::{self, Origin};
use mamis_app::identity::{IdentityError, binding, legacy, recovery, totp};
use mamis_domain::identity::{PasswordProblem, totp as rfc6238};
use mamis_domain::{
    AssociationCode, DomainError, IsekiNumber, KanaName, MemberClass, MemberId, Membership,
    Principal, Role, RoleGrant, Scope, Sex, Timestamp,
};
use mamis_store::{
    AccessStore, Account, AccountStatus, AuditRow, AuditStore, Doctor, IdentityClaim,
    IdentityStore, JobStatus, JobStore, OutboxMail, PortalSubject, RegistryStore, Store, Tx,
    Verification,
};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

/// A password every policy check accepts for the doctors of these tests.
const GOOD_PW: &str = "kamogawa river 2026";
/// The evidence staff record when they verify.
const EVIDENCE: &str = "医師免許証の写しを窓口で確認 / licence copy seen at the desk";
/// A `$2b$` bcrypt hash (cost 4) of `correctbatteryhorsestapler`, made with Python's bcrypt (the
/// same vector the bcrypt crate tests against); the testkit cannot name the bcrypt crate.
const BCRYPT_2B: &str = "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie";
const BCRYPT_PW: &str = "correctbatteryhorsestapler";

// ----------------------------------------------------------------------------------------------
// helpers

fn at(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn origin(addr: &str) -> Origin {
    Origin {
        client_addr: Some(addr.to_owned()),
        user_agent: Some("identity-test".into()),
    }
}

fn staff(role: Role, scope: &str) -> Principal {
    Principal::Staff {
        account_id: Uuid::new_v4(),
        grants: vec![RoleGrant::new(role, Scope::Association(code(scope))).unwrap()],
    }
}

fn organiser() -> Principal {
    Principal::Staff {
        account_id: Uuid::new_v4(),
        grants: vec![
            RoleGrant::new(
                Role::Organiser,
                Scope::Organisation(Uuid::from_u128(0xD0_0001)),
            )
            .unwrap(),
        ],
    }
}

fn job() -> Principal {
    Principal::Job {
        kind: "identity-test".into(),
    }
}

#[track_caller]
fn assert_forbidden<T: std::fmt::Debug>(r: Result<T, IdentityError>) {
    assert!(
        matches!(r, Err(IdentityError::App(AppError::Forbidden))),
        "expected Forbidden, got {r:?}"
    );
}

#[track_caller]
fn assert_login_failed<T: std::fmt::Debug>(r: Result<T, IdentityError>) {
    assert!(
        matches!(r, Err(IdentityError::LoginFailed)),
        "expected LoginFailed, got {r:?}"
    );
}

/// Like `app_test!`, for the regression test of a bug found and fixed; `$why` records the bug.
macro_rules! regression_test {
    ($name:ident, $body:ident, $why:literal) => {
        mamis_testkit::app_test!($name, $body);
        const _: &str = $why;
    };
}

/// The `token=` value of the first `path?token=` link in a mail body.
fn token_in(body: &str, path: &str) -> String {
    let marker = format!("{path}?token=");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} link in:\n{body}"))
        + marker.len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// RFC 4648 base32 without padding, as the enrolment page shows the TOTP secret.
fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap();
        buffer = (buffer << 5) | u32::try_from(v).unwrap();
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).unwrap());
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Ten six-digit codes none of which is accepted around `now`.
fn wrong_codes(secret: &[u8], now: Timestamp) -> Vec<String> {
    let s = rfc6238::step_of(now);
    let near: Vec<String> = (s - 1..=s + 1).map(|x| rfc6238::code(secret, x)).collect();
    (0u32..)
        .map(|k| format!("{:06}", (k * 7_919) % 1_000_000))
        .filter(|c| !near.contains(c))
        .take(10)
        .collect()
}

/// Mail to `addr`, newest first, once the queued jobs (reset and registration mail requests
/// among them) have run.
async fn mails_to<S: Store>(t: &TestApp<S>, addr: &str) -> Vec<OutboxMail> {
    t.worker(vec![]).drain().await.unwrap();
    t.mails()
        .await
        .into_iter()
        .filter(|m| m.to_addr == addr)
        .collect()
}

async fn newest_to<S: Store>(t: &TestApp<S>, addr: &str) -> OutboxMail {
    mails_to(t, addr)
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no mail to {addr}"))
}

async fn reload<S: Store>(t: &TestApp<S>, id: Uuid) -> Account {
    let mut tx = t.app.store.read().await.unwrap();
    let a = tx.account(id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    a
}

async fn claim<S: Store>(t: &TestApp<S>, id: Uuid) -> Option<IdentityClaim> {
    let mut tx = t.app.store.read().await.unwrap();
    let c = tx.claim_of(id).await.unwrap();
    tx.rollback().await.unwrap();
    c
}

async fn audit_rows<S: Store>(t: &TestApp<S>) -> Vec<AuditRow> {
    let mut tx = t.app.store.read().await.unwrap();
    let rows = tx.audit_rows(0, 100_000).await.unwrap();
    tx.rollback().await.unwrap();
    rows
}

async fn queued<S: Store>(t: &TestApp<S>, who: &Principal, node: &str, account: Uuid) -> bool {
    binding::queue(&t.app, who, &code(node))
        .await
        .unwrap()
        .iter()
        .any(|c| c.account_id == account)
}

/// Inserts a doctor (member of `county`, its prefecture, and the JMA when it has a member ID)
/// with 医籍登録番号 9000000 + n (no demo doctor has one in that range).
async fn add_doctor<S: Store>(
    t: &TestApp<S>,
    n: u32,
    county: &str,
    member_id: Option<&str>,
) -> Doctor {
    let county = code(county);
    let d = Doctor {
        id: Uuid::new_v4(),
        iseki: IsekiNumber::parse(&(9_000_000 + n).to_string()).unwrap(),
        family_name: "山田".into(),
        given_name: "花子".into(),
        family_kana: KanaName::normalise("ヤマダ").unwrap(),
        given_kana: KanaName::normalise("ハナコ").unwrap(),
        birth_date: NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
        sex: Sex::Female,
        contact_email: Some(format!("contact{n}@example.jp")),
        member_id: member_id.map(|m| MemberId::parse(m).unwrap()),
        home_prefecture: None,
        created_at: t.app.now(),
    };
    let mut nodes = vec![county.clone(), county.prefecture_code().unwrap()];
    if member_id.is_some() {
        nodes.push(AssociationCode::jma());
    }
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    for association in nodes {
        tx.insert_membership(
            d.id,
            &Membership {
                association,
                class: MemberClass::A1.into(),
                joined_on: NaiveDate::from_ymd_opt(2010, 4, 1).unwrap(),
                left_on: None,
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    d
}

/// The identity form as a doctor would fill it in for `d`.
fn form_for(d: &Doctor, association: &str, member: bool) -> IdentityForm {
    IdentityForm {
        iseki: d.iseki.as_str().to_owned(),
        family_name: d.family_name.clone(),
        given_name: d.given_name.clone(),
        family_kana: d.family_kana.as_str().to_owned(),
        given_kana: d.given_kana.as_str().to_owned(),
        birth_date: d.birth_date.format("%Y-%m-%d").to_string(),
        sex: d.sex.as_str().to_owned(),
        membership: if member { "member" } else { "non_member" }.into(),
        association: association.into(),
        licensed_on: String::new(),
    }
}

/// Registration steps 1 and 2: the link from the mail opens an (unverified) account.
async fn register<S: Store>(t: &TestApp<S>, email: &str) -> (String, Account) {
    registration::start(&t.app, email).await.unwrap();
    let mail = newest_to(t, &email.to_lowercase()).await;
    assert!(
        mail.subject.contains("registration link"),
        "{}",
        mail.subject
    );
    let secret = token_in(&mail.body_text, "/register/continue");
    let cookie = registration::confirm(&t.app, &secret, &origin("192.0.2.200"))
        .await
        .unwrap();
    let cur = sessions::current(&t.app, &cookie).await.unwrap().unwrap();
    (cookie, cur.account)
}

async fn submit<S: Store>(
    t: &TestApp<S>,
    acc: &Account,
    form: &IdentityForm,
) -> Result<IdentityOutcome, IdentityError> {
    let data = registration::parse_identity(form).unwrap();
    registration::submit_identity(&t.app, acc, data, &origin("192.0.2.201")).await
}

/// A registered account with `GOOD_PW` and no binding.
async fn with_password<S: Store>(t: &TestApp<S>, email: &str) -> (String, Account) {
    let (cookie, acc) = register(t, email).await;
    registration::set_password(&t.app, &acc, GOOD_PW)
        .await
        .unwrap();
    (cookie, reload(t, acc.id).await)
}

/// An account whose three automatic matches failed: its claim waits at `county`.
async fn queued_claim<S: Store>(t: &TestApp<S>, n: u32, county: &str) -> (String, Account, Doctor) {
    let d = add_doctor(t, n, county, None).await;
    let (cookie, acc) = register(t, &format!("claimant{n}@example.jp")).await;
    let mut typo = form_for(&d, county, true);
    typo.birth_date = "1981-05-17".into();
    for _ in 0..3 {
        submit(t, &acc, &typo).await.unwrap();
    }
    let acc = reload(t, acc.id).await;
    assert_eq!(acc.verification, Verification::Review);
    (cookie, acc, d)
}

async fn login_ok<S: Store>(t: &TestApp<S>, email: &str, pw: &str) -> String {
    match login::password(&t.app, email, pw, &origin("198.51.100.1")).await {
        Ok(LoginOutcome::LoggedIn { cookie, .. }) => cookie,
        other => panic!("expected LoggedIn, got {other:?}"),
    }
}

// ----------------------------------------------------------------------------------------------
// 1. registration end to end

async fn registration_end_to_end<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    // a seeded doctor with an active county membership
    let mut tx = t.app.store.read().await.unwrap();
    let mut chosen = None;
    for d in tx.doctors_page(None, 100).await.unwrap() {
        let county = tx
            .memberships_of(d.id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.level() == mamis_domain::AssociationLevel::County && m.left_on.is_none());
        if let (Some(m), Some(_)) = (county, &d.contact_email) {
            chosen = Some((d, m.association));
            break;
        }
    }
    tx.rollback().await.unwrap();
    let (d, county) = chosen.expect("the demo has a member with a contact address");
    let contact = d.contact_email.clone().unwrap();

    registration::start(&t.app, "New.Doctor@Example.JP")
        .await
        .unwrap();
    let mail = newest_to(&t, "new.doctor@example.jp").await;
    assert!(
        mail.body_text
            .contains(&format!("{}/register/continue?token=", t.base_url))
    );
    let secret = token_in(&mail.body_text, "/register/continue");
    assert_eq!(secret.len(), 43);

    let cookie = registration::confirm(&t.app, &secret, &origin("192.0.2.1"))
        .await
        .unwrap();
    assert_eq!(cookie.len(), 43);
    let cur = sessions::current(&t.app, &cookie).await.unwrap().unwrap();
    assert_eq!(cur.account.email, "new.doctor@example.jp");
    assert_eq!(cur.account.verification, Verification::Unverified);
    assert_eq!(cur.account.doctor_id, None);
    assert_eq!(cur.account.password_hash, None);

    let before_notice = mails_to(&t, &contact).await.len();
    let out = submit(&t, &cur.account, &form_for(&d, county.as_str(), true))
        .await
        .unwrap();
    assert_eq!(out, IdentityOutcome::Verified);
    let acc = reload(&t, cur.account.id).await;
    assert_eq!(acc.verification, Verification::Verified);
    assert_eq!(acc.doctor_id, Some(d.id));
    // the doctor's contact address hears of it, with a "this was not me" link
    let notices = mails_to(&t, &contact).await;
    assert_eq!(notices.len(), before_notice + 1);
    assert!(notices[0].body_text.contains("new.doctor@example.jp"));
    assert_eq!(token_in(&notices[0].body_text, "/not-me").len(), 43);
    // a second submission is refused once verified
    assert!(matches!(
        submit(&t, &acc, &form_for(&d, county.as_str(), true)).await,
        Err(IdentityError::State(_))
    ));

    // the password: policy first, and never a hash of a huge input
    let calls = t.app.hasher.calls();
    let with_birth = format!("sakura{}tokyo", d.birth_date.format("%y%m%d"));
    assert!(matches!(
        registration::set_password(&t.app, &acc, &with_birth).await,
        Err(IdentityError::Password(PasswordProblem::ContainsBirthDate))
    ));
    assert!(matches!(
        registration::set_password(&t.app, &acc, "short pw!").await,
        Err(IdentityError::Password(PasswordProblem::TooShort))
    ));
    let huge = "x".repeat(1 << 20);
    assert!(matches!(
        registration::set_password(&t.app, &acc, &huge).await,
        Err(IdentityError::Password(PasswordProblem::TooLong))
    ));
    assert_eq!(t.app.hasher.calls(), calls, "refused before any hashing");
    assert_eq!(reload(&t, acc.id).await.password_hash, None);

    registration::set_password(&t.app, &acc, GOOD_PW)
        .await
        .unwrap();
    assert_eq!(t.app.hasher.calls(), calls + 1);
    let hash = reload(&t, acc.id).await.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(GOOD_PW));
    login_ok(&t, "new.doctor@example.jp", GOOD_PW).await;
    assert!(
        audit_rows(&t)
            .await
            .iter()
            .any(|r| r.action == "account.register" && r.target == format!("account:{}", acc.id))
    );
}
app_test!(
    registration_binds_and_sets_a_password,
    registration_end_to_end
);

// ----------------------------------------------------------------------------------------------
// 2. known addresses and spent links

async fn known_address_and_links<S: Store>(t: TestApp<S>) {
    let (_, acc) = register(&t, "taken@example.jp").await;
    let before = mails_to(&t, "taken@example.jp").await.len();
    let known = registration::start(&t.app, "Taken@Example.jp").await;
    let unknown = registration::start(&t.app, "fresh@example.jp").await;
    assert!(matches!((&known, &unknown), (Ok(()), Ok(()))));
    let to_known = mails_to(&t, "taken@example.jp").await;
    assert_eq!(to_known.len(), before + 1);
    assert!(to_known[0].subject.contains("About your registration"));
    assert!(to_known[0].body_text.contains("already a MAMIS_ID"));
    assert!(
        !to_known[0].body_text.contains("token="),
        "no registration link"
    );
    assert_eq!(
        reload(&t, acc.id).await,
        acc,
        "the existing account is untouched"
    );

    // a used link
    let fresh = newest_to(&t, "fresh@example.jp").await;
    let secret = token_in(&fresh.body_text, "/register/continue");
    registration::confirm(&t.app, &secret, &origin("192.0.2.2"))
        .await
        .unwrap();
    assert!(matches!(
        registration::confirm(&t.app, &secret, &origin("192.0.2.2")).await,
        Err(IdentityError::LinkInvalid)
    ));
    // an unknown link
    assert!(matches!(
        registration::confirm(&t.app, &"A".repeat(43), &origin("192.0.2.2")).await,
        Err(IdentityError::LinkInvalid)
    ));
    // two links for one address: the second cannot open a second account
    registration::start(&t.app, "twice@example.jp")
        .await
        .unwrap();
    let first = token_in(
        &newest_to(&t, "twice@example.jp").await.body_text,
        "/register/continue",
    );
    registration::start(&t.app, "twice@example.jp")
        .await
        .unwrap();
    let second = token_in(
        &newest_to(&t, "twice@example.jp").await.body_text,
        "/register/continue",
    );
    assert_ne!(first, second);
    registration::confirm(&t.app, &first, &origin("192.0.2.2"))
        .await
        .unwrap();
    assert!(matches!(
        registration::confirm(&t.app, &second, &origin("192.0.2.2")).await,
        Err(IdentityError::LinkInvalid)
    ));

    // links live 24 hours
    registration::start(&t.app, "late@example.jp")
        .await
        .unwrap();
    let late = token_in(
        &newest_to(&t, "late@example.jp").await.body_text,
        "/register/continue",
    );
    registration::start(&t.app, "intime@example.jp")
        .await
        .unwrap();
    let in_time = token_in(
        &newest_to(&t, "intime@example.jp").await.body_text,
        "/register/continue",
    );
    t.clock.advance(Duration::hours(23));
    registration::confirm(&t.app, &in_time, &origin("192.0.2.2"))
        .await
        .unwrap();
    t.clock.advance(Duration::hours(2));
    assert!(matches!(
        registration::confirm(&t.app, &late, &origin("192.0.2.2")).await,
        Err(IdentityError::LinkInvalid)
    ));
}
app_test!(
    known_address_gets_a_notice_and_links_work_once,
    known_address_and_links
);

/// What a request left behind on its own path: the jobs it queued (kind and payload) and
/// whether it wrote any mail.
async fn request_trace<S: Store>(
    t: &TestApp<S>,
    request: impl std::future::Future<Output = Result<(), IdentityError>>,
) -> (Vec<(String, serde_json::Value)>, usize) {
    let queued = |t: &TestApp<S>| {
        let store = t.app.store.clone();
        async move {
            let mut tx = store.read().await.unwrap();
            let v = tx.jobs_with_status(JobStatus::Queued, 1_000).await.unwrap();
            tx.rollback().await.unwrap();
            v
        }
    };
    t.worker(vec![]).drain().await.unwrap();
    assert!(queued(t).await.is_empty());
    let mails = t.mails().await.len();
    request.await.unwrap();
    let jobs = queued(t)
        .await
        .into_iter()
        .map(|j| (j.kind, j.payload))
        .collect();
    (jobs, t.mails().await.len() - mails)
}

/// Issue 14 — equal work where existence would leak: a reset or registration request for a known
/// address does exactly what one for an unknown address does (one job of the same kind whose
/// payload is the address, no mail and no link written on the request path); the job looks the
/// address up later and writes the mail that fits.
async fn mail_requests_do_equal_work<S: Store>(t: TestApp<S>) {
    register(&t, "known@example.jp").await;
    let known = "Known@Example.jp";
    let unknown = "nobody@example.jp";

    let reset_known = request_trace(&t, recovery::request_reset(&t.app, known)).await;
    let reset_unknown = request_trace(&t, recovery::request_reset(&t.app, unknown)).await;
    let register_known = request_trace(&t, registration::start(&t.app, known)).await;
    let register_unknown = request_trace(&t, registration::start(&t.app, unknown)).await;
    let address = |(jobs, mails): &(Vec<(String, serde_json::Value)>, usize)| {
        assert_eq!(*mails, 0, "no mail written on the request path");
        assert_eq!(jobs.len(), 1, "one job: {jobs:?}");
        let (kind, payload) = &jobs[0];
        let keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["email"], "the payload is the address only");
        (kind.clone(), payload["email"].as_str().unwrap().to_owned())
    };
    for (known, unknown) in [
        (&reset_known, &reset_unknown),
        (&register_known, &register_unknown),
    ] {
        let (k, u) = (address(known), address(unknown));
        assert_eq!(k.0, u.0, "the same step in both branches");
        assert_eq!(
            (k.1.as_str(), u.1.as_str()),
            ("known@example.jp", "nobody@example.jp")
        );
    }
    assert_ne!(address(&reset_known).0, address(&register_known).0);

    // the jobs (run by request_trace before each next request) wrote the mail that fits
    t.worker(vec![]).drain().await.unwrap();
    let to_known = mails_to(&t, "known@example.jp").await;
    assert!(to_known[0].subject.contains("About your registration"));
    assert!(to_known[1].body_text.contains("/reset/continue?token="));
    let to_unknown = mails_to(&t, "nobody@example.jp").await;
    assert_eq!(to_unknown.len(), 1, "no reset mail to an unknown address");
    assert!(
        to_unknown[0]
            .body_text
            .contains("/register/continue?token=")
    );
}
app_test!(
    reset_and_registration_requests_do_equal_work,
    mail_requests_do_equal_work
);

// ----------------------------------------------------------------------------------------------
// 3. a record already bound

async fn already_bound<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let d = add_doctor(&t, 3, "P13-0001", Some("9900000003")).await;
    let form = form_for(&d, "P13-0001", true);
    let (_, first) = register(&t, "first@example.jp").await;
    assert_eq!(
        submit(&t, &first, &form).await.unwrap(),
        IdentityOutcome::Verified
    );

    let (_, second) = register(&t, "second@example.jp").await;
    let before = mails_to(&t, "first@example.jp").await.len();
    assert_eq!(
        submit(&t, &second, &form).await.unwrap(),
        IdentityOutcome::Review
    );
    let second_now = reload(&t, second.id).await;
    assert_eq!(second_now.verification, Verification::Review);
    assert_eq!(
        reload(&t, first.id).await.verification,
        Verification::Verified
    );
    // trying again changes nothing
    assert_eq!(
        submit(&t, &second_now, &form).await.unwrap(),
        IdentityOutcome::Review
    );
    assert_eq!(
        reload(&t, second.id).await.verification,
        Verification::Review
    );

    let c = claim(&t, second.id).await.unwrap();
    assert_eq!(c.review_node, Some(code("P13-0001")));
    assert_eq!(c.review_reason.as_deref(), Some("already_bound"));
    let chiyoda = staff(Role::CountyStaff, "P13-0001");
    assert!(queued(&t, &chiyoda, "P13-0001", second.id).await);
    assert!(!queued(&t, &chiyoda, "P13-0001", first.id).await);
    let chuo = staff(Role::CountyStaff, "P13-0002");
    assert!(!queued(&t, &chuo, "P13-0002", second.id).await);
    assert_forbidden(binding::queue(&t.app, &chuo, &code("P13-0001")).await);

    // the holder was told once, on their MAMIS_ID: a repeat while in review changes nothing
    let to_holder = mails_to(&t, "first@example.jp").await;
    assert_eq!(to_holder.len(), before + 1);
    assert!(
        to_holder[0]
            .subject
            .contains("Another registration used your record")
    );
}
app_test!(already_bound_record_goes_to_review, already_bound);

// ----------------------------------------------------------------------------------------------
// 4. failed matches

async fn failed_matches<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let d = add_doctor(&t, 4, "P13-0002", None).await;
    let (_, acc) = register(&t, "typo@example.jp").await;
    let right = form_for(&d, "P13-0002", true);
    let mut wrong_birth = right.clone();
    wrong_birth.birth_date = "1980-05-18".into();
    let mut wrong_kana = right.clone();
    wrong_kana.given_kana = "ハナエ".into();
    let mut wrong_iseki = right.clone();
    wrong_iseki.iseki = "9000099".into();

    assert_eq!(
        submit(&t, &acc, &wrong_birth).await.unwrap(),
        IdentityOutcome::NotMatched { attempts_left: 2 }
    );
    assert_eq!(
        submit(&t, &acc, &wrong_kana).await.unwrap(),
        IdentityOutcome::NotMatched { attempts_left: 1 }
    );
    assert_eq!(
        reload(&t, acc.id).await.verification,
        Verification::Unverified
    );
    assert!(claim(&t, acc.id).await.unwrap().review_node.is_none());
    assert_eq!(
        submit(&t, &acc, &wrong_iseki).await.unwrap(),
        IdentityOutcome::Review
    );
    let acc_now = reload(&t, acc.id).await;
    assert_eq!(acc_now.verification, Verification::Review);
    assert_eq!(acc_now.doctor_id, None);
    let c = claim(&t, acc.id).await.unwrap();
    assert_eq!(c.failed_matches, 3);
    assert_eq!(c.review_node, Some(code("P13-0002")));
    assert_eq!(c.review_reason.as_deref(), Some("no_match"));
    assert!(
        queued(
            &t,
            &staff(Role::CountyStaff, "P13-0002"),
            "P13-0002",
            acc.id
        )
        .await
    );
    assert!(queued(&t, &staff(Role::PrefectureStaff, "P13"), "P13", acc.id).await);
    // nobody was told about a record (no binding notice)
    assert!(mails_to(&t, "contact4@example.jp").await.is_empty());
}
app_test!(three_failed_matches_queue_the_claim, failed_matches);

async fn no_matching_after_review<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, acc, d) = queued_claim(&t, 41, "P13-0001").await;
    // the three attempts are spent: a fourth guess must not bind automatically
    let out = submit(&t, &acc, &form_for(&d, "P13-0001", true))
        .await
        .unwrap();
    assert_eq!(out, IdentityOutcome::Review);
    let acc = reload(&t, acc.id).await;
    assert_ne!(acc.verification, Verification::Verified);
    assert!(
        queued(
            &t,
            &staff(Role::CountyStaff, "P13-0001"),
            "P13-0001",
            acc.id
        )
        .await
    );
}

regression_test!(
    claim_in_review_is_not_matched_again,
    no_matching_after_review,
    "was: submit_identity keeps matching after the claim went to review (3 failures), so guesses are unlimited and a later hit binds at once"
);

async fn concurrent_matches<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let d = add_doctor(&t, 42, "P13-0001", None).await;
    let mut accounts = Vec::new();
    for i in 0..8 {
        accounts.push(register(&t, &format!("racer{i}@example.jp")).await.1);
    }
    let mut tasks = Vec::new();
    for acc in accounts.clone() {
        let app = t.app.clone();
        let data = registration::parse_identity(&form_for(&d, "P13-0001", true)).unwrap();
        tasks.push(tokio::spawn(async move {
            registration::submit_identity(&app, &acc, data, &Origin::default()).await
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let backend = t.app.store.backend();
    assert!(
        outcomes.iter().all(Result::is_ok),
        "{backend:?}: a newcomer racing for a record got an error instead of review: {outcomes:?}"
    );
    let verified = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(IdentityOutcome::Verified)))
        .count();
    assert_eq!(verified, 1, "{outcomes:?}");
    let chiyoda = staff(Role::CountyStaff, "P13-0001");
    for acc in &accounts {
        if reload(&t, acc.id).await.verification != Verification::Verified {
            assert!(queued(&t, &chiyoda, "P13-0001", acc.id).await);
        }
    }
}
regression_test!(
    concurrent_matches_for_one_record_send_the_losers_to_review,
    concurrent_matches,
    "was (PostgreSQL, timing-dependent): concurrent matching submissions for one record fail with Conflict(accounts_verified_doctor_key) instead of Review"
);

// ----------------------------------------------------------------------------------------------
// 5. staff verification and account suspension, per role

async fn verify_and_suspend_as<S: Store>(
    t: &TestApp<S>,
    allowed: &Principal,
    denied: &[Principal],
    n: u32,
    county: &str,
) {
    let (cookie, acc, d) = queued_claim(t, n, county).await;
    for who in denied {
        assert_forbidden(binding::verify(&t.app, who, acc.id, d.id, EVIDENCE, None).await);
    }
    assert_eq!(reload(t, acc.id).await.verification, Verification::Review);
    assert!(matches!(
        binding::verify(&t.app, allowed, acc.id, d.id, "   ", None).await,
        Err(IdentityError::State(_))
    ));
    binding::verify(
        &t.app,
        allowed,
        acc.id,
        d.id,
        EVIDENCE,
        Some("192.0.2.50".into()),
    )
    .await
    .unwrap();
    let now = reload(t, acc.id).await;
    assert_eq!(now.verification, Verification::Verified);
    assert_eq!(now.doctor_id, Some(d.id));
    assert_eq!(claim(t, acc.id).await.unwrap().review_node, None);
    let rows = audit_rows(t).await;
    let row = rows
        .iter()
        .find(|r| r.action == "identity.verify" && r.target == format!("account:{}", acc.id))
        .expect("identity.verify audited");
    assert_eq!(row.actor, allowed.audit_name());
    assert_eq!(row.client_addr.as_deref(), Some("192.0.2.50"));
    let details: serde_json::Value = serde_json::from_str(&row.details).unwrap();
    assert_eq!(details["evidence"], EVIDENCE);
    assert_eq!(details["doctor"], d.id.to_string());
    assert!(
        newest_to(t, &acc.email)
            .await
            .subject
            .contains("Your MAMIS_ID is verified")
    );

    // suspension: only inside the subtree, and it ends the sessions
    assert!(sessions::current(&t.app, &cookie).await.unwrap().is_some());
    for who in denied {
        assert_forbidden(
            binding::set_account_status(&t.app, who, acc.id, AccountStatus::Suspended, "x").await,
        );
    }
    assert!(sessions::current(&t.app, &cookie).await.unwrap().is_some());
    binding::set_account_status(
        &t.app,
        allowed,
        acc.id,
        AccountStatus::Suspended,
        "本人からの依頼",
    )
    .await
    .unwrap();
    assert_eq!(reload(t, acc.id).await.status, AccountStatus::Suspended);
    assert!(sessions::current(&t.app, &cookie).await.unwrap().is_none());
    for who in denied {
        assert_forbidden(
            binding::set_account_status(&t.app, who, acc.id, AccountStatus::Active, "x").await,
        );
    }
    binding::set_account_status(&t.app, allowed, acc.id, AccountStatus::Active, "確認済み")
        .await
        .unwrap();
    assert_eq!(reload(t, acc.id).await.status, AccountStatus::Active);
    assert!(
        sessions::current(&t.app, &cookie).await.unwrap().is_none(),
        "the suspension revoked the session; reactivation does not revive it"
    );
    let rows = audit_rows(t).await;
    for action in ["account.suspend", "account.unsuspend"] {
        assert!(
            rows.iter().any(|r| r.action == action
                && r.target == format!("account:{}", acc.id)
                && r.actor == allowed.audit_name()),
            "{action}"
        );
    }
}

async fn county_staff<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let own = staff(Role::CountyStaff, "P13-0001");
    let other = staff(Role::CountyStaff, "P13-0002");
    verify_and_suspend_as(&t, &own, std::slice::from_ref(&other), 51, "P13-0001").await;
    // the queue of the other county
    let (_, acc, _) = queued_claim(&t, 52, "P13-0001").await;
    assert!(queued(&t, &own, "P13-0001", acc.id).await);
    assert!(!queued(&t, &other, "P13-0002", acc.id).await);
    assert_forbidden(binding::queue(&t.app, &other, &code("P13-0001")).await);
    assert_forbidden(binding::queue(&t.app, &own, &code("P13")).await);
}
app_test!(
    county_staff_verify_and_suspend_in_their_county,
    county_staff
);

async fn prefecture_staff<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let own = staff(Role::PrefectureStaff, "P13");
    let denied = [
        staff(Role::PrefectureStaff, "P27"),
        staff(Role::CountyStaff, "P13-0001"),
    ];
    verify_and_suspend_as(&t, &own, &denied, 53, "P13-0002").await;
}
app_test!(
    prefecture_staff_verify_and_suspend_in_their_prefecture,
    prefecture_staff
);

async fn jma_staff<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let jma = staff(Role::JmaStaff, "JMA");
    let denied = [
        staff(Role::PrefectureStaff, "P13"),
        staff(Role::CountyStaff, "P13-0001"),
    ];
    verify_and_suspend_as(&t, &jma, &denied, 54, "P27-0001").await;
    let (_, acc, _) = queued_claim(&t, 55, "P01-0001").await;
    assert!(queued(&t, &jma, "JMA", acc.id).await);
    let admin = staff(Role::JmaAdmin, "JMA");
    verify_and_suspend_as(&t, &admin, &[], 56, "P01-0001").await;
}
app_test!(jma_staff_verify_and_suspend_anywhere, jma_staff);

async fn organiser_denied<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let org = organiser();
    let (cookie, acc, d) = queued_claim(&t, 57, "P13-0001").await;
    assert_forbidden(binding::verify(&t.app, &org, acc.id, d.id, EVIDENCE, None).await);
    assert_forbidden(binding::queue(&t.app, &org, &code("P13-0001")).await);
    assert_forbidden(binding::queue(&t.app, &org, &code("P13")).await);
    assert_forbidden(
        binding::set_account_status(&t.app, &org, acc.id, AccountStatus::Suspended, "x").await,
    );
    // (suspend_binding refuses an unverified account before any scope check)
    assert!(
        binding::suspend_binding(&t.app, &org, acc.id, "x")
            .await
            .is_err()
    );
    let acc = reload(&t, acc.id).await;
    assert_eq!(acc.verification, Verification::Review);
    assert_eq!(acc.status, AccountStatus::Active);
    assert!(sessions::current(&t.app, &cookie).await.unwrap().is_some());
}
app_test!(organiser_cannot_verify_or_suspend, organiser_denied);

async fn held_record<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let d = add_doctor(&t, 58, "P13-0003", None).await;
    let form = form_for(&d, "P13-0003", true);
    let (holder_cookie, holder) = register(&t, "holder@example.jp").await;
    assert_eq!(
        submit(&t, &holder, &form).await.unwrap(),
        IdentityOutcome::Verified
    );
    let (_, newcomer) = register(&t, "newcomer@example.jp").await;
    assert_eq!(
        submit(&t, &newcomer, &form).await.unwrap(),
        IdentityOutcome::Review
    );
    let minato = staff(Role::CountyStaff, "P13-0003");
    assert!(matches!(
        binding::verify(&t.app, &minato, newcomer.id, d.id, EVIDENCE, None).await,
        Err(IdentityError::State(_))
    ));
    assert_eq!(
        reload(&t, newcomer.id).await.verification,
        Verification::Review
    );
    assert_eq!(
        reload(&t, holder.id).await.verification,
        Verification::Verified
    );
    // the holder's binding can be suspended only by staff over the record
    assert_forbidden(
        binding::suspend_binding(
            &t.app,
            &staff(Role::CountyStaff, "P13-0001"),
            holder.id,
            "x",
        )
        .await,
    );
    binding::suspend_binding(&t.app, &minato, holder.id, "二重登録の確認")
        .await
        .unwrap();
    let h = reload(&t, holder.id).await;
    assert_eq!(h.verification, Verification::Suspended);
    assert_eq!(h.status, AccountStatus::Active, "only the binding is held");
    assert!(
        sessions::current(&t.app, &holder_cookie)
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        binding::suspend_binding(&t.app, &minato, holder.id, "again").await,
        Err(IdentityError::State(_))
    ));
    binding::verify(&t.app, &minato, newcomer.id, d.id, EVIDENCE, None)
        .await
        .unwrap();
    let n = reload(&t, newcomer.id).await;
    assert_eq!(n.verification, Verification::Verified);
    assert_eq!(n.doctor_id, Some(d.id));
    assert!(
        audit_rows(&t)
            .await
            .iter()
            .any(|r| r.action == "identity.suspend_binding")
    );
}
app_test!(
    verify_refuses_a_held_record_until_its_binding_is_suspended,
    held_record
);

async fn verify_out_of_scope_doctor<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    // a claim waits at Chiyoda; the record it is bound to belongs to Osaka
    let (_, acc, _) = queued_claim(&t, 59, "P13-0001").await;
    let osaka = add_doctor(&t, 60, "P27-0001", None).await;
    let chiyoda = staff(Role::CountyStaff, "P13-0001");
    assert_forbidden(binding::verify(&t.app, &chiyoda, acc.id, osaka.id, EVIDENCE, None).await);
    assert_ne!(reload(&t, acc.id).await.doctor_id, Some(osaka.id));
}
regression_test!(
    verify_checks_the_doctor_record_scope_too,
    verify_out_of_scope_doctor,
    "was: binding::verify authorises only on the claim's node, so county staff can bind a claim to any doctor record in the country"
);

// ----------------------------------------------------------------------------------------------
// 6. "this was not me"

async fn bind_with_notice<S: Store>(
    t: &TestApp<S>,
    n: u32,
    county: &str,
    email: &str,
) -> (String, Account, Doctor, String) {
    let d = add_doctor(t, n, county, None).await;
    let (cookie, acc) = register(t, email).await;
    assert_eq!(
        submit(t, &acc, &form_for(&d, county, true)).await.unwrap(),
        IdentityOutcome::Verified
    );
    let notice = newest_to(t, d.contact_email.as_deref().unwrap()).await;
    let secret = token_in(&notice.body_text, "/not-me");
    (cookie, reload(t, acc.id).await, d, secret)
}

async fn not_me_link<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (cookie, acc, d, secret) =
        bind_with_notice(&t, 61, "P13-0001", "impostor@example.jp").await;
    registration::set_password(&t.app, &acc, GOOD_PW)
        .await
        .unwrap();
    let other_cookie = login_ok(&t, "impostor@example.jp", GOOD_PW).await;
    binding::not_me(&t.app, &secret, Some("203.0.113.9".into()))
        .await
        .unwrap();
    let now = reload(&t, acc.id).await;
    assert_eq!(now.verification, Verification::Suspended);
    assert_eq!(now.doctor_id, Some(d.id));
    for c in [&cookie, &other_cookie] {
        assert!(sessions::current(&t.app, c).await.unwrap().is_none());
    }
    let c = claim(&t, acc.id).await.unwrap();
    assert_eq!(c.review_node, Some(code("P13-0001")));
    assert_eq!(c.review_reason.as_deref(), Some("not_me"));
    assert!(
        queued(
            &t,
            &staff(Role::CountyStaff, "P13-0001"),
            "P13-0001",
            acc.id
        )
        .await
    );
    let rows = audit_rows(&t).await;
    assert!(rows.iter().any(|r| r.action == "identity.not_me"
        && r.target == format!("account:{}", acc.id)
        && r.client_addr.as_deref() == Some("203.0.113.9")));
    // the link works once
    assert!(matches!(
        binding::not_me(&t.app, &secret, None).await,
        Err(IdentityError::LinkInvalid)
    ));
    assert!(matches!(
        binding::not_me(&t.app, &"B".repeat(43), None).await,
        Err(IdentityError::LinkInvalid)
    ));
}
app_test!(not_me_link_suspends_the_binding, not_me_link);

async fn not_me_then_resubmit<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let (_, acc, d, secret) = bind_with_notice(&t, 62, "P13-0001", "impostor2@example.jp").await;
    binding::not_me(&t.app, &secret, None).await.unwrap();
    let acc = reload(&t, acc.id).await;
    assert_eq!(acc.verification, Verification::Suspended);
    // the impostor (whose account is still active) sends the same data again
    let out = submit(&t, &acc, &form_for(&d, "P13-0001", true)).await;
    assert!(
        !matches!(out, Ok(IdentityOutcome::Verified)),
        "a binding held after \"this was not me\" was re-established automatically: {out:?}"
    );
    assert_eq!(
        reload(&t, acc.id).await.verification,
        Verification::Suspended
    );
}
regression_test!(
    not_me_cannot_be_undone_by_resubmitting,
    not_me_then_resubmit,
    "was: submit_identity only refuses Verified accounts, so an account whose binding was suspended by \"this was not me\" re-binds itself by resubmitting"
);

// ----------------------------------------------------------------------------------------------
// 7. login throttling under parallel attempts

async fn parallel_wrong_passwords<S: Store>(t: &TestApp<S>, email: &str) -> u64 {
    let calls = t.app.hasher.calls();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let app = t.app.clone();
        let email = email.to_owned();
        tasks.push(tokio::spawn(async move {
            let o = Origin {
                client_addr: Some(format!("192.0.2.{i}")),
                user_agent: None,
            };
            login::password(&app, &email, "not the password at all", &o).await
        }));
    }
    for task in tasks {
        assert_login_failed(task.await.unwrap());
    }
    t.app.hasher.calls() - calls
}

async fn throttling<S: Store>(t: TestApp<S>) {
    let (_, acc) = with_password(&t, "owner@example.jp").await;
    let hashed = parallel_wrong_passwords(&t, "owner@example.jp").await;
    assert!(
        (1..=5).contains(&hashed),
        "{hashed} attempts reached the hasher"
    );
    let waits = |ms: Vec<OutboxMail>| {
        ms.into_iter()
            .filter(|m| m.subject.contains("Repeated login attempts"))
            .count()
    };
    assert_eq!(waits(mails_to(&t, "owner@example.jp").await), 1);
    // during the wait even the right password fails the same way, without hashing
    let calls = t.app.hasher.calls();
    assert_login_failed(
        login::password(&t.app, "OWNER@example.jp", GOOD_PW, &origin("192.0.2.99")).await,
    );
    assert_eq!(t.app.hasher.calls(), calls);

    // an unknown name is throttled the same way
    let hashed = parallel_wrong_passwords(&t, "ghost@example.jp").await;
    assert!(
        (1..=5).contains(&hashed),
        "{hashed} attempts reached the hasher"
    );
    assert!(mails_to(&t, "ghost@example.jp").await.is_empty());

    // waits expire by themselves
    t.clock.advance(Duration::hours(2));
    match login::password(&t.app, "owner@example.jp", GOOD_PW, &origin("192.0.2.99"))
        .await
        .unwrap()
    {
        LoginOutcome::LoggedIn { account, cookie } => {
            assert_eq!(account.id, acc.id);
            assert!(sessions::current(&t.app, &cookie).await.unwrap().is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(waits(mails_to(&t, "owner@example.jp").await), 1);
}
app_test!(
    parallel_login_attempts_are_throttled_before_hashing,
    throttling
);

// ----------------------------------------------------------------------------------------------
// 8. password login specifics

async fn password_login<S: Store>(t: TestApp<S>) {
    let (_, acc) = with_password(&t, "eight@example.jp").await;
    let o = Origin::default();
    match login::password(&t.app, "Eight@Example.JP", GOOD_PW, &o)
        .await
        .unwrap()
    {
        LoginOutcome::LoggedIn { cookie, account } => {
            assert_eq!(account.id, acc.id);
            assert_eq!(cookie.len(), 43);
            let cur = sessions::current(&t.app, &cookie).await.unwrap().unwrap();
            assert_eq!(cur.account.id, acc.id);
        }
        other => panic!("{other:?}"),
    }
    let wrong = login::password(&t.app, "eight@example.jp", "wrong password 1", &o).await;
    let unknown = login::password(&t.app, "nobody@example.jp", GOOD_PW, &o).await;
    let empty = login::password(&t.app, "eight@example.jp", "", &o).await;
    // four more failures, then a wait; in it the right password fails the same way
    for _ in 0..5 {
        assert_login_failed(
            login::password(&t.app, "eight@example.jp", "wrong password 2", &o).await,
        );
    }
    let waiting = login::password(&t.app, "eight@example.jp", GOOD_PW, &o).await;
    let texts: Vec<String> = [wrong, unknown, empty, waiting]
        .into_iter()
        .map(|r| match r {
            Err(e @ IdentityError::LoginFailed) => e.to_string(),
            other => panic!("expected LoginFailed, got {other:?}"),
        })
        .collect();
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "{texts:?}");
    assert!(matches!(
        login::password(&t.app, "not an address", GOOD_PW, &o).await,
        Err(IdentityError::Invalid(DomainError::InvalidEmail))
    ));
    t.clock.advance(Duration::hours(2));

    // a suspended account learns it only with the right password
    binding::set_account_status(
        &t.app,
        &staff(Role::JmaAdmin, "JMA"),
        acc.id,
        AccountStatus::Suspended,
        "test",
    )
    .await
    .unwrap();
    assert!(matches!(
        login::password(&t.app, "eight@example.jp", GOOD_PW, &o).await,
        Err(IdentityError::Suspended)
    ));
    assert_login_failed(login::password(&t.app, "eight@example.jp", "wrong password 3", &o).await);

    // an outdated hash is replaced at login
    let (_, old) = register(&t, "rehash@example.jp").await;
    let weak = Hasher::new(
        Cost {
            m_kib: 16,
            t: 1,
            p: 1,
        },
        1,
    )
    .unwrap();
    let old_hash = weak.hash(GOOD_PW.into()).await.unwrap();
    assert!(old_hash.starts_with("$argon2id$v=19$m=16,t=1,p=1$"));
    let mut tx = t.app.store.write().await.unwrap();
    tx.set_password_hash(old.id, &old_hash).await.unwrap();
    tx.commit().await.unwrap();
    let calls = t.app.hasher.calls();
    login_ok(&t, "rehash@example.jp", GOOD_PW).await;
    assert_eq!(t.app.hasher.calls(), calls + 2, "verify, then the new hash");
    let new_hash = reload(&t, old.id).await.password_hash.unwrap();
    assert_ne!(new_hash, old_hash);
    assert!(
        new_hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
        "{new_hash}"
    );
    login_ok(&t, "rehash@example.jp", GOOD_PW).await;
    assert_eq!(t.app.hasher.calls(), calls + 3, "no second rehash");
}
app_test!(password_login_hides_why_it_failed, password_login);

// ----------------------------------------------------------------------------------------------
// 9. TOTP, recovery codes, and reset with a second factor

async fn second_factor_step<S: Store>(
    t: &TestApp<S>,
    pending: &str,
    code: &str,
) -> Result<LoginOutcome, IdentityError> {
    login::second_factor(&t.app, pending, code, &origin("198.51.100.2")).await
}

async fn pending<S: Store>(t: &TestApp<S>, email: &str, pw: &str) -> String {
    match login::password(&t.app, email, pw, &origin("198.51.100.2"))
        .await
        .unwrap()
    {
        LoginOutcome::SecondFactor { pending } => pending,
        other => panic!("expected SecondFactor, got {other:?}"),
    }
}

async fn totp_flow<S: Store>(t: TestApp<S>) {
    let email = "totp@example.jp";
    let (reg_cookie, acc) = with_password(&t, email).await;
    let e = totp::begin(&t.app, &acc).unwrap();
    let secret = base32_decode(&e.secret_base32);
    assert_eq!(secret.len(), 20);
    assert_eq!(rfc6238::base32(&secret), e.secret_base32);
    assert!(e.uri.contains(&format!("secret={}", e.secret_base32)));
    assert!(e.qr_svg.contains("<svg"));
    let now = t.app.now();
    assert!(matches!(
        totp::confirm(&t.app, &acc, &e.sealed, &wrong_codes(&secret, now)[0]).await,
        Err(IdentityError::SecondFactorFailed)
    ));
    let enrol_code = rfc6238::code(&secret, rfc6238::step_of(now));
    let codes = totp::confirm(&t.app, &acc, &e.sealed, &enrol_code)
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);
    let acc = reload(&t, acc.id).await;
    let stored = acc.totp_secret.clone().unwrap();
    assert!(!stored.contains(&e.secret_base32), "the seed is encrypted");

    // password, then code
    let p = pending(&t, email, GOOD_PW).await;
    assert!(
        matches!(
            second_factor_step(&t, &p, &enrol_code).await,
            Err(IdentityError::SecondFactorFailed)
        ),
        "the enrolment code is spent"
    );
    t.clock.advance(Duration::seconds(30));
    let current = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    let cookie = match second_factor_step(&t, &p, &current).await.unwrap() {
        LoginOutcome::LoggedIn { cookie, account } => {
            assert_eq!(account.id, acc.id);
            cookie
        }
        other => panic!("{other:?}"),
    };
    assert!(sessions::current(&t.app, &cookie).await.unwrap().is_some());
    // the same code again: replay
    let p2 = pending(&t, email, GOOD_PW).await;
    assert!(matches!(
        second_factor_step(&t, &p2, &current).await,
        Err(IdentityError::SecondFactorFailed)
    ));
    // a recovery code works once (typed in upper case with spaces, too)
    let typed = format!(" {} ", codes[0].to_uppercase());
    assert!(matches!(
        second_factor_step(&t, &p2, &typed).await,
        Ok(LoginOutcome::LoggedIn { .. })
    ));
    let p3 = pending(&t, email, GOOD_PW).await;
    assert!(matches!(
        second_factor_step(&t, &p3, &codes[0]).await,
        Err(IdentityError::SecondFactorFailed)
    ));
    // a forged or stale pending proof
    assert!(matches!(
        second_factor_step(&t, "not-a-sealed-value", &codes[1]).await,
        Err(IdentityError::LinkInvalid)
    ));
    t.clock.advance(Duration::minutes(6));
    assert!(matches!(
        second_factor_step(&t, &p3, &codes[1]).await,
        Err(IdentityError::LinkInvalid)
    ));
    let mut tx = t.app.store.read().await.unwrap();
    assert_eq!(tx.recovery_codes_left(acc.id).await.unwrap(), 9);
    tx.rollback().await.unwrap();

    // reset with the second factor
    let fresh = login_after_totp(&t, email, GOOD_PW, &secret).await;
    recovery::request_reset(&t.app, email).await.unwrap();
    let link = token_in(&newest_to(&t, email).await.body_text, "/reset/continue");
    let new_pw = "a brand new passphrase";
    assert!(
        recovery::reset_needs_second_factor(&t.app, &link)
            .await
            .unwrap()
    );
    assert!(matches!(
        recovery::complete_reset(&t.app, &link, new_pw, None).await,
        Err(IdentityError::SecondFactorFailed)
    ));
    let bad = wrong_codes(&secret, t.app.now()).swap_remove(0);
    assert!(matches!(
        recovery::complete_reset(&t.app, &link, new_pw, Some(&bad)).await,
        Err(IdentityError::SecondFactorFailed)
    ));
    assert!(
        recovery::reset_needs_second_factor(&t.app, &link)
            .await
            .unwrap(),
        "a refused second factor leaves the link usable"
    );
    for c in [&reg_cookie, &cookie, &fresh] {
        assert!(sessions::current(&t.app, c).await.unwrap().is_some());
    }
    t.clock.advance(Duration::seconds(30));
    let code_now = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    recovery::complete_reset(&t.app, &link, new_pw, Some(&code_now))
        .await
        .unwrap();
    for c in [&reg_cookie, &cookie, &fresh] {
        assert!(sessions::current(&t.app, c).await.unwrap().is_none());
    }
    assert!(matches!(
        recovery::complete_reset(&t.app, &link, new_pw, Some(&code_now)).await,
        Err(IdentityError::LinkInvalid)
    ));
    assert_login_failed(login::password(&t.app, email, GOOD_PW, &Origin::default()).await);
    pending(&t, email, new_pw).await;
}
app_test!(totp_login_recovery_codes_and_reset, totp_flow);

/// Logs in with password and the code of the next step (advancing the clock to it).
async fn login_after_totp<S: Store>(
    t: &TestApp<S>,
    email: &str,
    pw: &str,
    secret: &[u8],
) -> String {
    t.clock.advance(Duration::seconds(30));
    let p = pending(t, email, pw).await;
    let c = rfc6238::code(secret, rfc6238::step_of(t.app.now()));
    match second_factor_step(t, &p, &c).await.unwrap() {
        LoginOutcome::LoggedIn { cookie, .. } => cookie,
        other => panic!("{other:?}"),
    }
}

/// Enrols TOTP for an account (at the current step) and returns the raw secret.
async fn enrol_totp<S: Store>(t: &TestApp<S>, acc: &Account) -> Vec<u8> {
    let e = totp::begin(&t.app, acc).unwrap();
    let secret = base32_decode(&e.secret_base32);
    let c = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    totp::confirm(&t.app, acc, &e.sealed, &c).await.unwrap();
    secret
}

async fn login_code_guesses<S: Store>(t: TestApp<S>) {
    let email = "guess-login@example.jp";
    let (_, acc) = with_password(&t, email).await;
    let secret = enrol_totp(&t, &acc).await;
    t.clock.advance(Duration::seconds(30));
    let p = pending(&t, email, GOOD_PW).await;
    for c in wrong_codes(&secret, t.app.now()).iter().take(5) {
        assert!(matches!(
            second_factor_step(&t, &p, c).await,
            Err(IdentityError::SecondFactorFailed)
        ));
    }
    // the sixth try waits, even with the right code
    let right = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    assert!(matches!(
        second_factor_step(&t, &p, &right).await,
        Err(IdentityError::SecondFactorFailed)
    ));
    t.clock.advance(Duration::hours(2));
    login_after_totp(&t, email, GOOD_PW, &secret).await;
}
app_test!(
    second_factor_guesses_at_login_are_throttled,
    login_code_guesses
);

async fn reset_code_guesses<S: Store>(t: TestApp<S>) {
    let email = "guess-reset@example.jp";
    let (_, acc) = with_password(&t, email).await;
    let secret = enrol_totp(&t, &acc).await;
    t.clock.advance(Duration::seconds(30));
    recovery::request_reset(&t.app, email).await.unwrap();
    let link = token_in(&newest_to(&t, email).await.body_text, "/reset/continue");
    let new_pw = "a brand new passphrase";
    for c in wrong_codes(&secret, t.app.now()) {
        assert!(matches!(
            recovery::complete_reset(&t.app, &link, new_pw, Some(&c)).await,
            Err(IdentityError::SecondFactorFailed)
        ));
    }
    // login refuses a sixth code in a row; a reset link must not offer unlimited guesses
    let right = rfc6238::code(&secret, rfc6238::step_of(t.app.now()));
    let r = recovery::complete_reset(&t.app, &link, new_pw, Some(&right)).await;
    assert!(
        matches!(r, Err(IdentityError::SecondFactorFailed)),
        "the 11th second-factor guess on one reset link was accepted: {r:?}"
    );
}
regression_test!(
    reset_second_factor_guesses_are_throttled,
    reset_code_guesses,
    "was: recovery::complete_reset checks the TOTP/recovery code without the mfa throttle login uses, so a reset link allows unlimited code guesses"
);

// ----------------------------------------------------------------------------------------------
// 10. legacy CME-portal login and its import

const LEGACY_CSV: &str = "member_id,birth_date,password_hash\n\
                          0123456789,1975-01-09,\n\
                          1234567890,19800517,$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie\n";

async fn legacy_cred<S: Store>(t: &TestApp<S>, m: &str) -> Option<mamis_store::LegacyCredential> {
    let mut tx = t.app.store.read().await.unwrap();
    let c = tx
        .legacy_credential(&MemberId::parse(m).unwrap())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    c
}

async fn legacy_login<S: Store>(t: TestApp<S>) {
    assert!(LEGACY_CSV.contains(BCRYPT_2B));
    t.clock.set(at("2026-03-31T12:00:00+09:00"));
    let report = legacy::import(&t.app, &job(), LEGACY_CSV.as_bytes(), false)
        .await
        .unwrap();
    assert_eq!((report.imported, report.encoding), (2, "UTF-8"));
    let o = origin("192.0.2.77");

    let l = legacy::login(&t.app, "0123456789", "750109", &o)
        .await
        .unwrap();
    assert_eq!(l.member_id.as_str(), "0123456789");
    let s = sessions::current_portal(&t.app, &l.cookie)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.subject,
        PortalSubject::Legacy(MemberId::parse("0123456789").unwrap())
    );
    // full-width input as typed on a Japanese keyboard
    legacy::login(&t.app, "０１２３４５６７８９", "７５０１０９", &o)
        .await
        .unwrap();
    assert_login_failed(legacy::login(&t.app, "0123456789", "19750109", &o).await);
    // a changed legacy password (bcrypt) replaces the birth date
    legacy::login(&t.app, "1234567890", BCRYPT_PW, &o)
        .await
        .unwrap();
    assert_login_failed(legacy::login(&t.app, "1234567890", "800517", &o).await);
    assert_login_failed(legacy::login(&t.app, "5555555555", "750109", &o).await);
    assert_login_failed(legacy::login(&t.app, "12ab", "750109", &o).await);
    // one password hashing for every well-formed member ID, known or not, whatever its password
    // kind: the answer's time does not tell which IDs were imported
    for (id, pw, ok) in [
        ("0123456789", "750109", true),  // initial birth-date password
        ("0123456789", "750110", false), // wrong birth date
        ("1234567890", BCRYPT_PW, true), // changed password (stored hash)
        ("1234567890", "wrong", false),
        ("5555555555", "750109", false), // not imported
    ] {
        let before = t.app.hasher.calls();
        let r = legacy::login(&t.app, id, pw, &origin("192.0.2.78")).await;
        assert_eq!(r.is_ok(), ok, "{id}");
        assert_eq!(t.app.hasher.calls() - before, 1, "{id} {pw}");
    }

    // the cut-over ends a session that is still live a second before it
    t.clock.set(at("2026-03-31T23:50:00+09:00"));
    let late = legacy::login(&t.app, "0123456789", "750109", &o)
        .await
        .unwrap();
    t.clock.set(at("2026-03-31T23:59:59+09:00"));
    assert!(
        sessions::current_portal(&t.app, &late.cookie)
            .await
            .unwrap()
            .is_some()
    );
    t.clock.set(at("2026-04-01T00:00:00+09:00"));
    for c in [&l.cookie, &late.cookie] {
        assert!(sessions::current_portal(&t.app, c).await.unwrap().is_none());
    }
    // and every attempt gets the same answer, without lookup or hashing
    let calls = t.app.hasher.calls();
    for (id, pw) in [
        ("0123456789", "750109"),
        ("1234567890", BCRYPT_PW),
        ("0123456789", "wrong"),
        ("5555555555", "750109"),
        ("12ab", "x"),
        ("", ""),
    ] {
        let r = legacy::login(&t.app, id, pw, &o).await;
        assert!(
            matches!(r, Err(IdentityError::LegacyEnded)),
            "{id}/{pw}: {r:?}"
        );
    }
    t.clock.set(at("2026-06-01T09:00:00+09:00"));
    assert!(matches!(
        legacy::login(&t.app, "0123456789", "750109", &o).await,
        Err(IdentityError::LegacyEnded)
    ));
    assert_eq!(t.app.hasher.calls(), calls);
}
app_test!(legacy_login_works_until_the_cut_over_only, legacy_login);

async fn legacy_bad_files<S: Store>(t: TestApp<S>) {
    let before = audit_rows(&t).await.len();
    let files: [&[u8]; 4] = [
        b"id,birthday\n4444444444,1970-01-02\n",
        b"member_id,birth_date,password_hash\n2222222222,1970-01-02,\n3333333333,1970-01-02,$md5$abcdefgh\n",
        &[0x82, 0xFF, 0xFE, 0x00, 0x81],
        b"member_id,birth_date\n6666666666,1970-01-02\n7777777777,1970/13/02\n",
    ];
    for (i, bytes) in files.iter().enumerate() {
        let Err(report) = legacy::import(&t.app, &job(), bytes, false).await else {
            panic!("file {i} must be refused");
        };
        assert_eq!(report.imported, 0);
        assert!(report.total_problems >= 1);
        assert!(!report.problems.is_empty());
    }
    for m in [
        "4444444444",
        "2222222222",
        "3333333333",
        "6666666666",
        "7777777777",
    ] {
        assert!(legacy_cred(&t, m).await.is_none(), "{m} stored");
    }
    assert_eq!(audit_rows(&t).await.len(), before, "nothing audited either");
    // the line of the unknown scheme is named
    let r = legacy::import(&t.app, &job(), files[1], false)
        .await
        .unwrap_err();
    assert_eq!(r.problems[0].line, 3);
    assert!(r.problems[0].message.contains("unsupported scheme"));
}
app_test!(legacy_import_refuses_bad_files_entirely, legacy_bad_files);

async fn legacy_retired_by_binding<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    t.clock.set(at("2026-03-20T10:00:00+09:00"));
    let d = add_doctor(&t, 70, "P13-0001", Some("9900000070")).await;
    legacy::import(
        &t.app,
        &job(),
        b"member_id,birth_date\n9900000070,1980-05-17\n",
        false,
    )
    .await
    .unwrap();
    let l = legacy::login(&t.app, "9900000070", "800517", &origin("192.0.2.78"))
        .await
        .unwrap();
    let (_, acc) = register(&t, "moved@example.jp").await;
    assert_eq!(
        submit(&t, &acc, &form_for(&d, "P13-0001", true))
            .await
            .unwrap(),
        IdentityOutcome::Verified
    );
    assert!(
        legacy_cred(&t, "9900000070")
            .await
            .unwrap()
            .retired_at
            .is_some()
    );
    assert!(
        sessions::current_portal(&t.app, &l.cookie)
            .await
            .unwrap()
            .is_none()
    );
    assert_login_failed(legacy::login(&t.app, "9900000070", "800517", &origin("192.0.2.78")).await);
    // the member ID is part of the password context now
    let acc = reload(&t, acc.id).await;
    assert!(matches!(
        registration::set_password(&t.app, &acc, "id 9900000070 pw").await,
        Err(IdentityError::Password(PasswordProblem::ContainsMemberId))
    ));
}
app_test!(
    a_verified_mamis_id_retires_the_legacy_login,
    legacy_retired_by_binding
);

// ----------------------------------------------------------------------------------------------
// 11. bad input

async fn bad_input<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let mails = t.mails().await.len();
    assert!(matches!(
        registration::start(&t.app, "not an e-mail").await,
        Err(IdentityError::Invalid(DomainError::InvalidEmail))
    ));
    assert_eq!(t.mails().await.len(), mails, "no mail for a bad address");

    let (_, acc) = register(&t, "careful@example.jp").await;
    let audit_before = audit_rows(&t).await.len();
    let mails = t.mails().await.len();
    let d = add_doctor(&t, 80, "P13-0001", None).await;
    let mut form = form_for(&d, "P13-0001", false);
    form.iseki = "12345678".into();
    form.family_kana = "山田".into();
    form.birth_date = "1980-02-30".into();
    let errs = registration::parse_identity(&form).unwrap_err();
    assert_eq!(
        errs,
        vec![
            FieldError {
                field: "iseki",
                key: "invalid-iseki"
            },
            FieldError {
                field: "family_kana",
                key: "invalid-kana"
            },
            FieldError {
                field: "birth_date",
                key: "invalid-birth-date"
            },
            FieldError {
                field: "association",
                key: "invalid-prefecture"
            },
        ]
    );
    // the mirror case: a member naming a prefecture
    let mut member = form_for(&d, "P13", true);
    member.sex = "x".into();
    assert_eq!(
        registration::parse_identity(&member).unwrap_err(),
        vec![
            FieldError {
                field: "sex",
                key: "invalid-sex"
            },
            FieldError {
                field: "association",
                key: "invalid-county"
            },
        ]
    );
    // well-formed but unknown county: refused by submit, nothing stored
    let unknown = registration::parse_identity(&form_for(&d, "P13-0999", true)).unwrap();
    assert!(matches!(
        registration::submit_identity(&t.app, &acc, unknown, &origin("192.0.2.3")).await,
        Err(IdentityError::Invalid(DomainError::InvalidAssociationCode))
    ));
    assert!(claim(&t, acc.id).await.is_none());
    assert_eq!(reload(&t, acc.id).await, acc);
    assert_eq!(audit_rows(&t).await.len(), audit_before);
    assert_eq!(t.mails().await.len(), mails);
    // full-width and kana variants are accepted as the same data
    let mut typed = form_for(&d, "P13-0001", true);
    typed.iseki = format!("第{}号", "９００００８０");
    // the kana split at another place and in half-width kana, the birth date as 和暦: the one
    // name normaliser and date parser compare it with the register's ヤマダ ハナコ, 1980-05-17
    typed.family_kana = "やまだは".into();
    typed.given_kana = "ﾅｺ".into();
    typed.birth_date = "昭和５５年５月１７日".into();
    assert_eq!(
        submit(&t, &acc, &typed).await.unwrap(),
        IdentityOutcome::Verified
    );
}
app_test!(bad_identity_input_is_reported_per_field, bad_input);

/// More than five failed matches on one 医籍登録番号 in a day alert the staff of the association
/// named in the attempt (the demo's Chiyoda county staff), once, and the audit log records it.
async fn repeated_failures_alert_staff<S: Store>(t: TestApp<S>) {
    mamis_app::demo::seed_demo(&t.app).await.unwrap().unwrap();
    let d = add_doctor(&t, 61, "P13-0001", None).await;
    let mut typo = form_for(&d, "P13-0001", true);
    typo.birth_date = "1981-05-17".into();
    for n in 0..3 {
        let (_, acc) = register(&t, &format!("impostor{n}@example.jp")).await;
        for _ in 0..3 {
            submit(&t, &acc, &typo).await.unwrap();
        }
    }
    let alerts: Vec<_> = mails_to(&t, "chiyoda@demo.mamis.jp")
        .await
        .into_iter()
        .filter(|m| m.subject.contains("Repeated failed identity matches"))
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "one alert when the count passes five, not one per failure"
    );
    assert!(alerts[0].body_text.contains(d.iseki.as_str()));
    // the prefecture's staff are told too; another county's are not
    assert_eq!(
        mails_to(&t, "tokyo@demo.mamis.jp")
            .await
            .iter()
            .filter(|m| m.subject.contains("Repeated"))
            .count(),
        1
    );
    assert!(audit_rows(&t).await.iter().any(|r| r.action == "identity.match_alert" && r.target == format!("iseki:{}", d.iseki)));
}
app_test!(
    repeated_failed_matches_alert_staff,
    repeated_failures_alert_staff
);
