//! The backend conformance suite: every store operation, run identically against SQLite and
//! PostgreSQL. Each backend's test binary expands [`conformance_suite!`](crate::conformance_suite)
//! with its own fixture, so the test output names every case per backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mamis_domain::curriculum::{CURRENT_VERSION, Catalogue};
use mamis_domain::*;
use uuid::Uuid;

use crate::*;

mod learning;
mod members;
mod membership;
pub use learning::*;
pub use members::*;
pub use membership::*;
mod oidc;
mod programmes;
pub use oidc::*;
pub use programmes::*;

/// What a backend's test binary hands to every case: a fresh, migrated, empty database.
pub trait Fixture {
    /// The backend's store type.
    type S: Store;
    /// The store on the fixture's database.
    fn store(&self) -> Self::S;
}

/// Expands one `#[tokio::test]` per conformance case. `$factory` is an async fn returning
/// `Option<impl Fixture>`; `None` means the backend is unavailable and was reported as skipped.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:path) => {
        $crate::conformance_suite!(@cases $factory;
            reference_data_is_seeded, associations_form_a_tree, doctors_round_trip_and_conflict,
            members_of_follows_dates_and_order, pages_walk_everything_once, rollback_discards_everything,
            jobs_lease_complete_and_retry, jobs_idempotency_key_runs_once, jobs_expired_lease_is_reclaimed,
            concurrent_claims_never_share_a_job, outbox_round_trip, audit_chain_head_serialises,
            accounts_grants_and_tokens, catalogue_names_can_be_corrected, organisations_sit_under_a_prefecture,
            instants_keep_microseconds, accounts_bind_at_most_one_verified_per_doctor,
            claims_queue_by_subtree_and_count_failures, email_tokens_work_once,
            sessions_and_portal_sessions, throttle_admissions_are_serialised, throttle_batches_count_and_forgive,
            legacy_credentials_import_and_retire, signing_keys_are_kept_and_retired,
            oidc_clients_round_trip, oidc_codes_work_once_and_reuse_is_visible,
            oidc_tokens_rotate_and_revoke, oidc_refresh_rotates_in_one_step,
            oidc_bearer_reads_everything_at_once, holder_addresses_prefer_the_verified_account,
            oidc_consents_are_remembered, migration_progress_per_county,
            ledger_round_trips_in_date_order, ledger_origin_key_is_never_stored_twice,
            ledger_reversal_is_single_and_seen_by_origin, ledger_refuses_unknown_codes_and_doctors,
            certificates_round_trip_and_conflict, certificates_keep_decision_and_revocation,
            number_series_count_per_series_and_year, number_series_lock_serialises_writers,
            ledger_and_certificates_of_many_doctors, ledger_sums_of_many_doctors_are_the_lines_summed,
            documents_round_trip_and_conflict,
            certificate_runs_are_replaced, certificate_reviews_open_once_per_certificate,
            training_sessions_approve_and_close_once, programme_items_are_replaced_until_closed,
            presence_opens_once_per_subject, pending_attendance_is_credited_once,
            training_session_options_round_trip, training_sessions_by_ids_in_start_order,
            presence_of_doctor_spans_sessions_and_pending, open_presence_count_follows_departures,
            pending_of_session_lists_every_number, organisation_is_found_by_id,
            register_matches_resolve_numbers_with_verified_accounts,
            doctors_are_read_by_ids_in_one_call,
            presences_are_inserted_in_bulk, pending_attendances_are_inserted_in_bulk_once,
            presences_are_removed_in_bulk, licence_dates_and_decisions_round_trip,
            upload_previews_are_taken_once_by_their_uploader,
            membership_classes_per_association_and_one_open_per_level,
            member_ids_come_from_the_configured_range, profiles_names_and_rules_round_trip,
            procedures_queue_oldest_first_with_parties_and_history,
            municipalities_counts_and_reminders, member_search_prefixes_scope_and_pages,
            member_counts_and_flows,
            programme_entries_are_credited_once_per_origin,
            item_programmes_and_lectures_round_trip, programme_applications_and_certificates,
            application_files_round_trip,
            learning_versions_are_kept_whole, quiz_answers_once_per_doctor_and_set,
            attempts_lock_a_passed_content, learning_files_are_kept_by_hash,
            calendar_lists_credit_sessions_by_filter);
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(fixture) = $factory().await {
                    $crate::conformance::$case($crate::conformance::Fixture::store(&fixture)).await;
                }
            }
        )*
    };
}

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn code(s: &str) -> AssociationCode {
    AssociationCode::parse(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A doctor with predictable fields, distinguished by `n`.
pub fn sample_doctor(n: u32) -> crate::Doctor {
    crate::Doctor {
        id: Uuid::from_u128(0x1000 + u128::from(n)),
        iseki: IsekiNumber::parse(&(100_000 + n).to_string()).unwrap(),
        family_name: "山田".into(),
        given_name: format!("太郎{n}"),
        family_kana: KanaName::normalise("ヤマダ").unwrap(),
        given_kana: KanaName::normalise("タロウ").unwrap(),
        birth_date: day("1980-05-17"),
        sex: Sex::Male,
        contact_email: Some(format!("doctor{n}@example.jp")),
        member_id: None,
        home_prefecture: None,
        created_at: t("2026-04-01T00:00:00Z"),
    }
}

fn county(code_s: &str, ja: &str) -> Association {
    Association {
        code: code(code_s),
        name_ja: ja.into(),
        name_en: format!("{code_s} association"),
    }
}

pub(crate) async fn with_counties<S: Store>(s: &S) {
    let mut tx = s.write().await.unwrap();
    for (c, n) in [
        ("P13-0001", "千代田区医師会"),
        ("P13-0002", "中央区医師会"),
        ("P27-0001", "大阪市医師会"),
    ] {
        tx.upsert_association(&county(c, n)).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn membership(c: &str, from: &str, to: Option<&str>) -> Membership {
    Membership {
        association: code(c),
        class: MemberClass::A1.into(),
        joined_on: day(from),
        left_on: to.map(day),
    }
}

/// Migrations seed the JMA, the 47 prefectures and exactly the embedded curriculum catalogue.
pub async fn reference_data_is_seeded<S: Store>(s: S) {
    let mut tx = s.read().await.unwrap();
    let all = tx
        .associations_under(&AssociationCode::jma())
        .await
        .unwrap();
    assert_eq!(all.len(), 48);
    assert_eq!(
        tx.association(&code("P13")).await.unwrap().unwrap().name_ja,
        "東京都医師会"
    );
    let stored = tx.curriculum_entries(CURRENT_VERSION).await.unwrap();
    let shipped: Vec<_> = Catalogue::embedded()
        .entries(CURRENT_VERSION)
        .cloned()
        .collect();
    assert_eq!(
        stored, shipped,
        "the migration seeds exactly the embedded catalogue"
    );
    assert_eq!(stored.len(), 84);
}

/// A subtree lists the node and all below it in code order; upserting an existing code renames it.
pub async fn associations_form_a_tree<S: Store>(s: S) {
    with_counties(&s).await;
    let mut tx = s.write().await.unwrap();
    let under = |v: Vec<Association>| {
        v.into_iter()
            .map(|a| a.code.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        under(tx.associations_under(&code("P13")).await.unwrap()),
        ["P13", "P13-0001", "P13-0002"]
    );
    assert_eq!(
        under(tx.associations_under(&code("P13-0002")).await.unwrap()),
        ["P13-0002"]
    );
    assert_eq!(
        tx.associations_under(&AssociationCode::jma())
            .await
            .unwrap()
            .len(),
        51
    );
    tx.upsert_association(&county("P13-0002", "中央区医師会（改）"))
        .await
        .unwrap();
    assert_eq!(
        tx.association(&code("P13-0002"))
            .await
            .unwrap()
            .unwrap()
            .name_ja,
        "中央区医師会（改）"
    );
    assert!(tx.association(&code("P13-0003")).await.unwrap().is_none());
    // a county whose prefecture row is missing cannot exist (foreign key)
    let err = tx.upsert_association(&county("P13-0003", "x")).await;
    assert!(err.is_ok(), "parent P13 exists");
    tx.commit().await.unwrap();
}

/// Doctors read back field for field; a second 医籍登録番号 or member ID is a named conflict.
pub async fn doctors_round_trip_and_conflict<S: Store>(s: S) {
    let mut d = sample_doctor(1);
    d.member_id = Some(MemberId::parse("0123456789").unwrap());
    d.home_prefecture = Some(code("P13"));
    let mut tx = s.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    assert_eq!(tx.doctor(d.id).await.unwrap().unwrap(), d);
    assert_eq!(
        tx.doctor_by_iseki(&d.iseki).await.unwrap().unwrap().id,
        d.id
    );
    tx.commit().await.unwrap();

    let mut same_iseki = sample_doctor(2);
    same_iseki.iseki = d.iseki.clone();
    let mut tx = s.write().await.unwrap();
    let err = tx.insert_doctor(&same_iseki).await.unwrap_err();
    assert!(err.is_conflict_on("doctors_iseki_key"), "{err:?}");
    tx.rollback().await.unwrap();

    let mut same_member = sample_doctor(3);
    same_member.member_id = d.member_id.clone();
    let mut tx = s.write().await.unwrap();
    let err = tx.insert_doctor(&same_member).await.unwrap_err();
    assert!(err.is_conflict_on("doctors_member_id_key"), "{err:?}");
    tx.rollback().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.count_doctors().await.unwrap(), 1);
}

/// Members are those active on the day (leaving day excluded), in numeric 医籍登録番号 order, paged.
pub async fn members_of_follows_dates_and_order<S: Store>(s: S) {
    with_counties(&s).await;
    let mut tx = s.write().await.unwrap();
    // 医籍登録番号 100, 99, 1000 — numeric order is 99, 100, 1000
    let mut ds = Vec::new();
    for (n, iseki) in [(1u32, "100"), (2, "99"), (3, "1000"), (4, "5")] {
        let mut d = sample_doctor(n);
        d.iseki = IsekiNumber::parse(iseki).unwrap();
        ds.push(d);
    }
    tx.insert_doctors(&ds).await.unwrap();
    tx.insert_membership(ds[0].id, &membership("P13-0001", "2020-04-01", None))
        .await
        .unwrap();
    tx.insert_membership(ds[1].id, &membership("P13-0001", "2021-04-01", None))
        .await
        .unwrap();
    tx.insert_membership(ds[2].id, &membership("P13-0001", "2020-04-01", None))
        .await
        .unwrap();
    tx.insert_membership(
        ds[3].id,
        &membership("P13-0001", "2020-04-01", Some("2026-04-01")),
    )
    .await
    .unwrap();
    tx.insert_membership(ds[3].id, &membership("P13-0002", "2026-04-01", None))
        .await
        .unwrap();
    let names = |v: Vec<crate::Doctor>| {
        v.into_iter()
            .map(|d| d.iseki.to_string())
            .collect::<Vec<_>>()
    };
    let p = code("P13-0001");
    assert_eq!(
        names(tx.members_of(&p, day("2026-06-01"), 10, 0).await.unwrap()),
        ["99", "100", "1000"]
    );
    assert_eq!(
        names(tx.members_of(&p, day("2026-03-31"), 10, 0).await.unwrap()),
        ["5", "99", "100", "1000"]
    );
    assert_eq!(
        names(tx.members_of(&p, day("2020-06-01"), 10, 0).await.unwrap()),
        ["5", "100", "1000"]
    );
    assert_eq!(
        names(tx.members_of(&p, day("2026-06-01"), 1, 1).await.unwrap()),
        ["100"]
    );
    assert_eq!(
        names(
            tx.members_of(&code("P13-0002"), day("2026-06-01"), 10, 0)
                .await
                .unwrap()
        ),
        ["5"]
    );
    assert_eq!(tx.memberships_of(ds[3].id).await.unwrap().len(), 2);
    // the same membership twice is a conflict
    let err = tx
        .insert_membership(ds[0].id, &membership("P13-0001", "2020-04-01", None))
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("memberships_pkey"), "{err:?}");
    tx.rollback().await.unwrap();
}

/// Keyset pages of doctors and of memberships visit every row exactly once.
pub async fn pages_walk_everything_once<S: Store>(s: S) {
    with_counties(&s).await;
    let ds: Vec<_> = (0..2_500).map(sample_doctor).collect();
    let ms: Vec<_> = ds
        .iter()
        .flat_map(|d| {
            [
                (d.id, membership("P13-0001", "2020-04-01", None)),
                (d.id, membership("P13", "2020-04-01", None)),
            ]
        })
        .collect();
    let mut tx = s.write().await.unwrap();
    tx.insert_doctors(&ds).await.unwrap();
    tx.insert_memberships(&ms).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = tx.doctors_page(after, 700).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.into_iter().map(|d| d.id));
    }
    let mut expected: Vec<_> = ds.iter().map(|d| d.id).collect();
    expected.sort();
    assert_eq!(seen, expected);

    let mut count = 0;
    let mut after = None;
    loop {
        let page = tx.memberships_page(after.clone(), 900).await.unwrap();
        let Some((d, m)) = page.last() else { break };
        after = Some((*d, m.association.to_string(), m.joined_on));
        count += page.len();
    }
    assert_eq!(count, 5_000);
}

/// A rolled-back transaction leaves neither its rows nor the jobs it enqueued.
pub async fn rollback_discards_everything<S: Store>(s: S) {
    let mut tx = s.write().await.unwrap();
    tx.insert_doctor(&sample_doctor(1)).await.unwrap();
    let job = new_job("k", Some("rolled-back"), t("2026-01-01T00:00:00Z"));
    tx.enqueue_job(&job, t("2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.count_doctors().await.unwrap(), 0);
    assert!(
        tx.claim_job(t("2030-01-01T00:00:00Z"), Duration::minutes(5))
            .await
            .unwrap()
            .is_none()
    );
    assert!(tx.job(job.id).await.unwrap().is_none());
}

/// A job with fixed fields for tests.
pub fn new_job(kind: &str, key: Option<&str>, run_at: Timestamp) -> NewJob {
    NewJob {
        id: Uuid::new_v4(),
        kind: kind.into(),
        payload: serde_json::json!({"n": 1, "text": "日本語"}),
        idempotency_key: key.map(str::to_owned),
        run_at,
        max_attempts: 3,
    }
}

/// Due jobs only are claimed, leased and counted; failures requeue or die; a spent lease is void.
pub async fn jobs_lease_complete_and_retry<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    let later = new_job("later", None, now + Duration::hours(1));
    tx.enqueue_job(&later, now).await.unwrap();
    let first = new_job("first", None, now);
    tx.enqueue_job(&first, now).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let claimed = tx
        .claim_job(now, Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, first.id, "a job not yet due is not claimed");
    assert_eq!(claimed.status, JobStatus::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.payload, first.payload);
    assert_eq!(claimed.locked_until, Some(now + Duration::minutes(5)));
    assert!(
        tx.claim_job(now, Duration::minutes(5))
            .await
            .unwrap()
            .is_none()
    );
    let lease = claimed.lease.unwrap();
    // fail with retry: queued again, due later
    assert!(
        tx.fail_job(first.id, lease, "boom", Some(now + Duration::seconds(30)))
            .await
            .unwrap()
    );
    assert!(
        !tx.fail_job(first.id, lease, "again", None).await.unwrap(),
        "lease is spent"
    );
    let j = tx.job(first.id).await.unwrap().unwrap();
    assert_eq!(
        (j.status, j.last_error.as_deref()),
        (JobStatus::Queued, Some("boom"))
    );
    assert!(
        tx.claim_job(now + Duration::seconds(29), Duration::minutes(5))
            .await
            .unwrap()
            .is_none()
    );
    let again = tx
        .claim_job(now + Duration::seconds(30), Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (first.id, 2));
    assert!(
        tx.complete_job(first.id, again.lease.unwrap(), now)
            .await
            .unwrap()
    );
    assert_eq!(
        tx.job(first.id).await.unwrap().unwrap().status,
        JobStatus::Done
    );
    // the later job: claimed, then dead
    let l = tx
        .claim_job(now + Duration::hours(2), Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.id, later.id);
    assert!(
        tx.fail_job(l.id, l.lease.unwrap(), "fatal", None)
            .await
            .unwrap()
    );
    let dead = tx.jobs_with_status(JobStatus::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, later.id);
    tx.commit().await.unwrap();
}

/// An idempotency key yields one job, even after that job has finished; keyless jobs never collide.
pub async fn jobs_idempotency_key_runs_once<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    let a = new_job("mail", Some("mail:42"), now);
    let b = new_job("mail", Some("mail:42"), now);
    assert_eq!(
        tx.enqueue_job(&a, now).await.unwrap(),
        Enqueued::Created(a.id)
    );
    assert_eq!(
        tx.enqueue_job(&b, now).await.unwrap(),
        Enqueued::Duplicate(a.id)
    );
    // keyless jobs never collide
    tx.enqueue_job(&new_job("x", None, now), now).await.unwrap();
    tx.enqueue_job(&new_job("x", None, now), now).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.write().await.unwrap();
    let mut n = 0;
    while let Some(j) = tx.claim_job(now, Duration::minutes(1)).await.unwrap() {
        tx.complete_job(j.id, j.lease.unwrap(), now).await.unwrap();
        n += 1;
    }
    assert_eq!(n, 3);
    // a finished key still deduplicates
    assert_eq!(
        tx.enqueue_job(&new_job("mail", Some("mail:42"), now), now)
            .await
            .unwrap(),
        Enqueued::Duplicate(a.id)
    );
}

/// Expired leases are claimable again, and the dead worker's lease can no longer complete the job.
pub async fn jobs_expired_lease_is_reclaimed<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    let j = new_job("k", None, now);
    tx.enqueue_job(&j, now).await.unwrap();
    let first = tx
        .claim_job(now, Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    // the worker "dies": nothing completes the job
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.claim_job(now + Duration::seconds(59), Duration::seconds(60))
            .await
            .unwrap()
            .is_none()
    );
    let second = tx
        .claim_job(now + Duration::seconds(60), Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.id, second.attempts), (j.id, 2));
    assert_ne!(second.lease, first.lease);
    assert!(
        !tx.complete_job(j.id, first.lease.unwrap(), now)
            .await
            .unwrap(),
        "the dead worker's lease is void"
    );
    assert!(
        tx.complete_job(j.id, second.lease.unwrap(), now)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
}

/// Workers claiming at the same time never receive the same job.
pub async fn concurrent_claims_never_share_a_job<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    for _ in 0..40 {
        tx.enqueue_job(&new_job("k", None, now), now).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let mut tx = s.write().await.unwrap();
                let Some(j) = tx.claim_job(now, Duration::minutes(5)).await.unwrap() else {
                    tx.commit().await.unwrap();
                    break;
                };
                tx.commit().await.unwrap();
                mine.push(j.id);
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (40, 40), "every job claimed exactly once");
}

/// Outbox mail reads back unchanged, and failed and successful attempts both count.
pub async fn outbox_round_trip<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let m = OutboxMail {
        id: Uuid::new_v4(),
        to_addr: "doctor@example.jp".into(),
        subject: "マイページ登録のご案内".into(),
        body_text: "本文\nline 2".into(),
        status: MailStatus::Pending,
        attempts: 0,
        last_error: None,
        created_at: now,
        sent_at: None,
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_mail(&m).await.unwrap();
    assert_eq!(tx.mail(m.id).await.unwrap().unwrap(), m);
    tx.mark_mail_failed(m.id, "connection refused")
        .await
        .unwrap();
    tx.mark_mail_sent(m.id, now + Duration::seconds(5))
        .await
        .unwrap();
    let got = tx.mails(10).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status, MailStatus::Sent);
    assert_eq!(got[0].attempts, 2);
    assert_eq!(got[0].sent_at, Some(now + Duration::seconds(5)));
}

fn audit(seq: i64, prev: &str) -> AuditRow {
    AuditRow {
        seq,
        at: t("2026-05-01T00:00:00.123456Z"),
        actor: "job:test".into(),
        action: "doctor.view".into(),
        target: "doctor:1".into(),
        client_addr: Some("192.0.2.1".into()),
        details: r#"{"b":1,"a":"日本"}"#.into(),
        prev_mac: prev.into(),
        mac: format!("mac{seq}"),
    }
}

/// The audit head follows the last row, a sequence gap is refused, and details keep every byte.
pub async fn audit_chain_head_serialises<S: Store>(s: S) {
    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.lock_audit_head().await.unwrap(),
        AuditHead {
            seq: 0,
            mac: String::new()
        }
    );
    tx.append_audit(&audit(1, "")).await.unwrap();
    tx.append_audit(&audit(2, "mac1")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.lock_audit_head().await.unwrap(),
        AuditHead {
            seq: 2,
            mac: "mac2".into()
        }
    );
    assert!(
        tx.append_audit(&audit(5, "mac2")).await.is_err(),
        "a gap in the chain is refused"
    );
    tx.rollback().await.unwrap();
    let mut tx = s.read().await.unwrap();
    let rows = tx.audit_rows(0, 10).await.unwrap();
    assert_eq!(
        rows,
        vec![audit(1, ""), audit(2, "mac1")],
        "details kept byte for byte"
    );
    assert_eq!(tx.audit_rows(1, 10).await.unwrap().len(), 1);
}

/// Account emails are unique ignoring case; grants keep order; tokens match by hash, revoke once.
pub async fn accounts_grants_and_tokens<S: Store>(s: S) {
    with_counties(&s).await;
    let now = t("2026-05-01T00:00:00Z");
    let mut acc = Account::new(Uuid::new_v4(), "x", "事務局 花子", AccountKind::Staff, now);
    acc.email = "Staff@Example.JP".into();
    let mut tx = s.write().await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    assert_eq!(
        tx.account(acc.id).await.unwrap().unwrap().email,
        "staff@example.jp"
    );
    let dup = Account {
        id: Uuid::new_v4(),
        email: "staff@example.jp".into(),
        ..acc.clone()
    };
    assert!(
        tx.insert_account(&dup)
            .await
            .unwrap_err()
            .is_conflict_on("accounts_email_key")
    );
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    tx.insert_account(&acc).await.unwrap();
    let g1 = RoleGrant::new(Role::CountyStaff, Scope::Association(code("P13-0001"))).unwrap();
    let g2 = RoleGrant::new(Role::Organiser, Scope::Organisation(Uuid::from_u128(7))).unwrap();
    tx.insert_role_grant(acc.id, &g1, now).await.unwrap();
    tx.insert_role_grant(acc.id, &g2, now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(tx.grants_of(acc.id).await.unwrap(), vec![g1.clone(), g2]);

    // alerts reach staff holding a grant on the nodes concerned, active accounts only
    let mut other = Account::new(
        Uuid::new_v4(),
        "osaka@example.jp",
        "",
        AccountKind::Staff,
        now,
    );
    other.status = AccountStatus::Suspended;
    tx.insert_account(&other).await.unwrap();
    let g3 = RoleGrant::new(Role::CountyStaff, Scope::Association(code("P27-0001"))).unwrap();
    tx.insert_role_grant(other.id, &g3, now).await.unwrap();
    assert_eq!(
        tx.staff_emails(&[code("P13-0001"), code("P13")])
            .await
            .unwrap(),
        ["staff@example.jp"]
    );
    assert!(
        tx.staff_emails(&[code("P27-0001")])
            .await
            .unwrap()
            .is_empty(),
        "suspended staff get nothing"
    );
    assert!(tx.staff_emails(&[]).await.unwrap().is_empty());

    let tok = ApiToken {
        id: Uuid::new_v4(),
        name: "県システム".into(),
        grant: g1,
        token_hash: "ab".repeat(32),
        created_at: now,
        revoked_at: None,
    };
    tx.insert_api_token(&tok).await.unwrap();
    assert_eq!(
        tx.api_token_by_hash(&tok.token_hash)
            .await
            .unwrap()
            .unwrap(),
        tok
    );
    assert!(tx.api_token_by_hash("cd").await.unwrap().is_none());
    assert!(tx.revoke_api_token(tok.id, now).await.unwrap());
    assert!(!tx.revoke_api_token(tok.id, now).await.unwrap());
    assert_eq!(tx.api_tokens().await.unwrap()[0].revoked_at, Some(now));
    tx.commit().await.unwrap();
}

/// A curriculum code's names can be corrected; renaming a code that does not exist reports false.
pub async fn catalogue_names_can_be_corrected<S: Store>(s: S) {
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.rename_curriculum_code(
            CURRENT_VERSION,
            0,
            "最新のエビデンス（訂正）",
            "Latest evidence (fixed)"
        )
        .await
        .unwrap()
    );
    assert!(
        !tx.rename_curriculum_code(CURRENT_VERSION, 84, "x", "x")
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    let e = tx.curriculum_entries(CURRENT_VERSION).await.unwrap();
    assert_eq!(e[0].name_ja, "最新のエビデンス（訂正）");
    assert_eq!(e.len(), 84);
}

/// Organisations are listed under the prefecture they are registered with, and only there.
pub async fn organisations_sit_under_a_prefecture<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let o = Organisation {
        id: Uuid::new_v4(),
        name: "日本内科学会".into(),
        prefecture: code("P13"),
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_organisation(&o, now).await.unwrap();
    assert_eq!(tx.organisations_in(&code("P13")).await.unwrap(), vec![o]);
    assert!(tx.organisations_in(&code("P14")).await.unwrap().is_empty());
}

/// Instants come back with their microseconds intact.
pub async fn instants_keep_microseconds<S: Store>(s: S) {
    let now = t("2026-05-01T12:34:56.789012Z");
    let mut tx = s.write().await.unwrap();
    let j = new_job("k", None, now);
    tx.enqueue_job(&j, now).await.unwrap();
    assert_eq!(tx.job(j.id).await.unwrap().unwrap().run_at, now);
    assert_eq!(tx.job(j.id).await.unwrap().unwrap().created_at, now);
}

async fn doctor_and_accounts<S: Store>(s: &S, n: usize) -> (crate::Doctor, Vec<Account>) {
    let now = t("2026-05-01T00:00:00Z");
    let d = sample_doctor(1);
    let mut tx = s.write().await.unwrap();
    tx.insert_doctor(&d).await.unwrap();
    let mut accounts = Vec::new();
    for i in 0..n {
        let a = Account::new(
            Uuid::new_v4(),
            &format!("Doctor{i}@Example.JP"),
            "",
            AccountKind::Doctor,
            now,
        );
        tx.insert_account(&a).await.unwrap();
        accounts.push(a);
    }
    tx.commit().await.unwrap();
    (d, accounts)
}

/// At most one verified MAMIS_ID per doctor record; others may wait in review or be suspended;
/// second-factor steps only move forward; recovery codes work once.
pub async fn accounts_bind_at_most_one_verified_per_doctor<S: Store>(s: S) {
    let (d, accs) = doctor_and_accounts(&s, 3).await;
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    let found = tx
        .account_by_email("DOCTOR0@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, accs[0]);
    assert_eq!(found.email, "doctor0@example.jp");
    tx.set_password_hash(accs[0].id, "$argon2id$v=19$m=19456,t=2,p=1$abc$def")
        .await
        .unwrap();
    tx.set_binding(accs[0].id, Some(d.id), Verification::Verified)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let err = tx
        .set_binding(accs[1].id, Some(d.id), Verification::Verified)
        .await
        .unwrap_err();
    assert!(
        err.is_conflict_on("accounts_verified_doctor_key"),
        "{err:?}"
    );
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    tx.set_binding(accs[1].id, Some(d.id), Verification::Review)
        .await
        .unwrap();
    assert_eq!(
        tx.verified_account_of(d.id).await.unwrap().unwrap().id,
        accs[0].id
    );
    // suspending the first binding frees the record for another verified account
    tx.set_binding(accs[0].id, Some(d.id), Verification::Suspended)
        .await
        .unwrap();
    tx.set_binding(accs[1].id, Some(d.id), Verification::Verified)
        .await
        .unwrap();
    assert_eq!(
        tx.verified_account_of(d.id).await.unwrap().unwrap().id,
        accs[1].id
    );
    let a0 = tx.account(accs[0].id).await.unwrap().unwrap();
    assert_eq!(
        (a0.verification, a0.doctor_id),
        (Verification::Suspended, Some(d.id))
    );
    assert!(a0.password_hash.unwrap().starts_with("$argon2id$"));

    tx.set_account_status(accs[2].id, AccountStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        tx.account(accs[2].id).await.unwrap().unwrap().status,
        AccountStatus::Suspended
    );
    assert!(
        tx.set_email(accs[2].id, "doctor1@example.jp")
            .await
            .unwrap_err()
            .is_conflict_on("accounts_email_key")
    );
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    tx.set_email(accs[2].id, "New.Address@example.jp")
        .await
        .unwrap();
    assert!(
        tx.account_by_email("new.address@example.jp")
            .await
            .unwrap()
            .is_some()
    );
    tx.set_totp_secret(accs[2].id, Some("c2VjcmV0"))
        .await
        .unwrap();
    assert!(tx.advance_totp_step(accs[2].id, 100).await.unwrap());
    assert!(
        !tx.advance_totp_step(accs[2].id, 100).await.unwrap(),
        "replay of the same step"
    );
    assert!(!tx.advance_totp_step(accs[2].id, 99).await.unwrap());
    assert!(tx.advance_totp_step(accs[2].id, 101).await.unwrap());
    let a2 = tx.account(accs[2].id).await.unwrap().unwrap();
    assert_eq!(
        (a2.totp_secret.as_deref(), a2.totp_last_step),
        (Some("c2VjcmV0"), Some(101))
    );
    tx.set_totp_secret(accs[2].id, None).await.unwrap();
    assert_eq!(
        tx.account(accs[2].id)
            .await
            .unwrap()
            .unwrap()
            .totp_last_step,
        None
    );

    let codes: Vec<String> = (0..10).map(|i| format!("hash{i}")).collect();
    tx.replace_recovery_codes(accs[2].id, &codes).await.unwrap();
    assert_eq!(tx.recovery_codes_left(accs[2].id).await.unwrap(), 10);
    assert!(
        tx.use_recovery_code(accs[2].id, "hash3", now)
            .await
            .unwrap()
    );
    assert!(
        !tx.use_recovery_code(accs[2].id, "hash3", now)
            .await
            .unwrap()
    );
    assert!(
        !tx.use_recovery_code(accs[1].id, "hash4", now)
            .await
            .unwrap(),
        "codes belong to one account"
    );
    assert_eq!(tx.recovery_codes_left(accs[2].id).await.unwrap(), 9);
    tx.replace_recovery_codes(accs[2].id, &codes[..2])
        .await
        .unwrap();
    assert_eq!(tx.recovery_codes_left(accs[2].id).await.unwrap(), 2);
    tx.commit().await.unwrap();
}

fn claim(account: Uuid, node: Option<&str>, at: &str) -> IdentityClaim {
    IdentityClaim {
        account_id: account,
        iseki: IsekiNumber::parse("123456").unwrap(),
        family_name: "山田".into(),
        given_name: "太郎".into(),
        family_kana: KanaName::normalise("ヤマダ").unwrap(),
        given_kana: KanaName::normalise("タロウ").unwrap(),
        birth_date: day("1980-05-17"),
        sex: Sex::Male,
        association: code("P13-0001"),
        member: true,
        failed_matches: 0,
        review_node: node.map(code),
        review_reason: node.map(|_| "no_match".to_owned()),
        submitted_at: t(at),
    }
}

/// The staff queue is read by subtree; failed matches are counted per 医籍登録番号 and day.
pub async fn claims_queue_by_subtree_and_count_failures<S: Store>(s: S) {
    with_counties(&s).await;
    let (_, accs) = doctor_and_accounts(&s, 4).await;
    let mut tx = s.write().await.unwrap();
    tx.put_claim(&claim(accs[0].id, Some("P13-0001"), "2026-05-01T00:00:03Z"))
        .await
        .unwrap();
    tx.put_claim(&claim(accs[1].id, Some("P13"), "2026-05-01T00:00:02Z"))
        .await
        .unwrap();
    tx.put_claim(&claim(accs[2].id, Some("P27-0001"), "2026-05-01T00:00:01Z"))
        .await
        .unwrap();
    tx.put_claim(&claim(accs[3].id, None, "2026-05-01T00:00:00Z"))
        .await
        .unwrap();
    let ids = |v: Vec<IdentityClaim>| v.into_iter().map(|c| c.account_id).collect::<Vec<_>>();
    assert_eq!(
        ids(tx.claims_in_review(&code("P13"), 10).await.unwrap()),
        [accs[1].id, accs[0].id]
    );
    assert_eq!(
        ids(tx.claims_in_review(&code("P13-0001"), 10).await.unwrap()),
        [accs[0].id]
    );
    assert_eq!(
        ids(tx
            .claims_in_review(&AssociationCode::jma(), 10)
            .await
            .unwrap())
        .len(),
        3
    );
    // forwarding and resubmitting replace the claim
    let mut c = claim(accs[0].id, Some("P13"), "2026-05-02T00:00:00Z");
    c.failed_matches = 3;
    tx.put_claim(&c).await.unwrap();
    assert_eq!(tx.claim_of(accs[0].id).await.unwrap().unwrap(), c);
    assert!(
        tx.claims_in_review(&code("P13-0001"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let iseki = IsekiNumber::parse("123456").unwrap();
    assert_eq!(
        tx.bump_match_failures(&iseki, day("2026-05-01"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tx.bump_match_failures(&iseki, day("2026-05-01"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tx.bump_match_failures(&iseki, day("2026-05-02"))
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
}

/// A link works once, only for its purpose, and only before it expires.
pub async fn email_tokens_work_once<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let tok = |h: &str| EmailToken {
        token_hash: h.into(),
        purpose: TokenPurpose::Register,
        account_id: None,
        email: "new@example.jp".into(),
        expires_at: now + Duration::minutes(30),
        used_at: None,
        created_at: now,
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_email_token(&tok("a")).await.unwrap();
    tx.insert_email_token(&tok("b")).await.unwrap();
    assert!(
        tx.use_email_token("a", TokenPurpose::Reset, now)
            .await
            .unwrap()
            .is_none(),
        "wrong purpose"
    );
    assert!(
        tx.use_email_token("zz", TokenPurpose::Register, now)
            .await
            .unwrap()
            .is_none()
    );
    let used = tx
        .use_email_token("a", TokenPurpose::Register, now + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.used_at, Some(now + Duration::minutes(1)));
    assert_eq!(used.email, "new@example.jp");
    assert!(
        tx.use_email_token("a", TokenPurpose::Register, now + Duration::minutes(2))
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    assert!(
        tx.use_email_token("b", TokenPurpose::Register, now + Duration::minutes(30))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    tx.commit().await.unwrap();
}

/// Sessions: touch only moves forward, revocation is per session or for all but one.
pub async fn sessions_and_portal_sessions<S: Store>(s: S) {
    let (_, accs) = doctor_and_accounts(&s, 1).await;
    let a = accs[0].id;
    let now = t("2026-05-01T00:00:00Z");
    let sess = |h: &str, at: Timestamp| crate::Session {
        id_hash: h.into(),
        account_id: a,
        created_at: at,
        last_seen_at: at,
        client_addr: Some("192.0.2.1".into()),
        user_agent: Some("Chromium".into()),
        revoked_at: None,
    };
    let mut tx = s.write().await.unwrap();
    for (i, h) in ["s1", "s2", "s3"].into_iter().enumerate() {
        tx.insert_session(&sess(h, now + Duration::seconds(i as i64)))
            .await
            .unwrap();
    }
    tx.touch_session("s1", now + Duration::minutes(5))
        .await
        .unwrap();
    tx.touch_session("s1", now + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        tx.session("s1").await.unwrap().unwrap().last_seen_at,
        now + Duration::minutes(5)
    );
    assert!(tx.revoke_session("s2", now).await.unwrap());
    assert!(!tx.revoke_session("s2", now).await.unwrap());
    let live: Vec<String> = tx
        .sessions_of(a)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id_hash)
        .collect();
    assert_eq!(live, ["s3", "s1"]);
    assert_eq!(tx.revoke_sessions_of(a, Some("s3"), now).await.unwrap(), 1);
    assert_eq!(tx.sessions_of(a).await.unwrap().len(), 1);
    assert_eq!(tx.revoke_sessions_of(a, None, now).await.unwrap(), 1);
    assert!(tx.sessions_of(a).await.unwrap().is_empty());
    assert_eq!(
        tx.session("s3").await.unwrap().unwrap().revoked_at,
        Some(now)
    );

    let legacy = PortalSession {
        id_hash: "p1".into(),
        subject: PortalSubject::Legacy(MemberId::parse("0012345678").unwrap()),
        created_at: now,
        last_seen_at: now,
        revoked_at: None,
    };
    let mamis = PortalSession {
        id_hash: "p2".into(),
        subject: PortalSubject::Mamis(a),
        ..legacy.clone()
    };
    tx.insert_portal_session(&legacy).await.unwrap();
    tx.insert_portal_session(&mamis).await.unwrap();
    assert_eq!(tx.portal_session("p1").await.unwrap().unwrap(), legacy);
    assert_eq!(tx.portal_session("p2").await.unwrap().unwrap(), mamis);
    tx.touch_portal_session("p1", now + Duration::minutes(3))
        .await
        .unwrap();
    assert_eq!(
        tx.portal_session("p1").await.unwrap().unwrap().last_seen_at,
        now + Duration::minutes(3)
    );
    assert!(tx.portal_rp_state("p2").await.unwrap().is_none());
    tx.set_portal_rp_state("p2", "sealed-state").await.unwrap();
    assert_eq!(
        tx.portal_rp_state("p2").await.unwrap().as_deref(),
        Some("sealed-state")
    );
    assert!(tx.portal_rp_state("missing").await.unwrap().is_none());
    assert!(tx.revoke_portal_session("p1", now).await.unwrap());
    assert!(!tx.revoke_portal_session("p1", now).await.unwrap());
    tx.commit().await.unwrap();
}

/// Twenty concurrent attempts on one name: the throttle row serialises them, so exactly the
/// policy's free attempts are admitted.
pub async fn throttle_admissions_are_serialised<S: Store>(s: S) {
    use mamis_domain::identity::{Admission, Throttle, ThrottlePolicy};
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    let fresh = tx.lock_throttle("name:x", now).await.unwrap();
    assert_eq!(fresh, Throttle::new(now));
    let stored = Throttle {
        failures: 2,
        window_start: now,
        blocked_until: Some(now + Duration::minutes(1)),
    };
    tx.put_throttle("name:x", &stored).await.unwrap();
    assert_eq!(
        tx.lock_throttle("name:x", now + Duration::seconds(5))
            .await
            .unwrap(),
        stored
    );
    tx.clear_throttle("name:x").await.unwrap();
    assert_eq!(
        tx.lock_throttle("name:x", now).await.unwrap(),
        Throttle::new(now)
    );
    tx.commit().await.unwrap();

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = s.write().await.unwrap();
            let th = tx.lock_throttle("name:victim", now).await.unwrap();
            let (next, adm) = th.admit(&ThrottlePolicy::per_name(), now);
            tx.put_throttle("name:victim", &next).await.unwrap();
            tx.commit().await.unwrap();
            adm == Admission::Admitted
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, 5);
}

/// The batched throttle operations a login uses: several keys read, created and written at
/// once in the order given; a batch naming a key twice refused; forgiving clears one key and
/// takes one failure back from the other, never below zero; and concurrent two-key attempts
/// (name and address, always in that order) neither lose a count nor deadlock.
pub async fn throttle_batches_count_and_forgive<S: Store>(s: S) {
    use mamis_domain::identity::Throttle;
    let now = t("2026-05-01T00:00:00Z");
    let later = now + Duration::seconds(30);
    let mut tx = s.write().await.unwrap();
    let kept = Throttle {
        failures: 3,
        window_start: now,
        blocked_until: Some(now + Duration::minutes(2)),
    };
    tx.put_throttle("addr:b", &kept).await.unwrap();
    // The stored key keeps its state; the new one starts fresh at `later`; order as given.
    assert_eq!(
        tx.lock_throttles(&["name:a", "addr:b"], later)
            .await
            .unwrap(),
        vec![Throttle::new(later), kept]
    );
    assert_eq!(
        tx.lock_throttles(&["addr:b", "name:a"], later)
            .await
            .unwrap(),
        vec![kept, Throttle::new(later)]
    );
    assert!(tx.lock_throttles(&["name:a", "name:a"], now).await.is_err());
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let one = Throttle {
        failures: 1,
        window_start: now,
        blocked_until: None,
    };
    tx.put_throttles(&[("name:a", one), ("addr:b", kept)])
        .await
        .unwrap();
    assert!(
        tx.put_throttles(&[("name:a", one), ("name:a", kept)])
            .await
            .is_err()
    );
    tx.commit().await.unwrap();
    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.lock_throttles(&["name:a", "addr:b"], later)
            .await
            .unwrap(),
        vec![one, kept]
    );
    tx.forgive_throttles("name:a", Some("addr:b"))
        .await
        .unwrap();
    // An absent key stays absent (read back as fresh at a new instant, not as stored).
    tx.forgive_throttles("name:none", Some("addr:none"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.lock_throttles(&["name:a", "addr:b", "addr:none"], later)
            .await
            .unwrap(),
        vec![
            Throttle::new(later),
            Throttle {
                failures: 2,
                ..kept
            },
            Throttle::new(later)
        ]
    );
    // Never below zero; the same key as both is simply cleared.
    tx.put_throttle("addr:z", &Throttle::new(now))
        .await
        .unwrap();
    tx.forgive_throttles("name:q", Some("addr:z"))
        .await
        .unwrap();
    tx.put_throttle("name:s", &one).await.unwrap();
    tx.forgive_throttles("name:s", Some("name:s"))
        .await
        .unwrap();
    assert_eq!(
        tx.lock_throttles(&["addr:z", "name:s"], later)
            .await
            .unwrap(),
        vec![Throttle::new(now), Throttle::new(later)]
    );
    tx.commit().await.unwrap();

    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("name:{}", i % 3);
            let mut tx = s.write().await.unwrap();
            let got = tx
                .lock_throttles(&[&name, "addr:shared"], now)
                .await
                .unwrap();
            let bumped: Vec<Throttle> = got
                .iter()
                .map(|t| Throttle {
                    failures: t.failures + 1,
                    ..*t
                })
                .collect();
            tx.put_throttles(&[(&name, bumped[0]), ("addr:shared", bumped[1])])
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut tx = s.write().await.unwrap();
    let after = tx
        .lock_throttles(&["addr:shared", "name:0", "name:1", "name:2"], now)
        .await
        .unwrap();
    let counts: Vec<u32> = after.iter().map(|t| t.failures).collect();
    assert_eq!(counts, vec![12, 4, 4, 4]);
    tx.rollback().await.unwrap();
}

/// Legacy credentials import in bulk, update on re-import, and stay retired once retired.
pub async fn legacy_credentials_import_and_retire<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let creds: Vec<LegacyCredential> = (0..2_500u32)
        .map(|i| LegacyCredential {
            member_id: MemberId::parse(&format!("{:010}", 1_000_000 + i)).unwrap(),
            birth_date: day("1970-01-01") + Duration::days(i64::from(i)),
            password_hash: (i % 3 == 0).then(|| format!("$2b$12${i}")),
            retired_at: None,
            imported_at: now,
        })
        .collect();
    let mut tx = s.write().await.unwrap();
    tx.upsert_legacy_credentials(&creds).await.unwrap();
    let m = MemberId::parse("0001000003").unwrap();
    assert_eq!(tx.legacy_credential(&m).await.unwrap().unwrap(), creds[3]);
    assert!(tx.retire_legacy_credential(&m, now).await.unwrap());
    assert!(!tx.retire_legacy_credential(&m, now).await.unwrap());
    let mut again = creds[3].clone();
    again.password_hash = None;
    again.imported_at = now + Duration::days(1);
    tx.upsert_legacy_credentials(&[again]).await.unwrap();
    let c = tx.legacy_credential(&m).await.unwrap().unwrap();
    assert_eq!(
        (c.password_hash, c.retired_at),
        (None, Some(now)),
        "updated, still retired"
    );
    assert!(
        tx.legacy_credential(&MemberId::parse("0009999999").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
}

/// Signing keys come back newest first with their sealed private half untouched; retiring is once.
pub async fn signing_keys_are_kept_and_retired<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let key = |kid: &str, alg: &str, at: Timestamp| SigningKey {
        kid: kid.into(),
        alg: alg.into(),
        private_key: format!("sealed-{kid}"),
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        created_at: at,
        retired_at: None,
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_signing_key(&key("old", "RS256", now))
        .await
        .unwrap();
    tx.insert_signing_key(&key("new", "RS256", now + Duration::days(1)))
        .await
        .unwrap();
    tx.insert_signing_key(&key(
        "ec",
        "ES256",
        now + Duration::days(1) + Duration::seconds(1),
    ))
    .await
    .unwrap();
    assert!(
        tx.insert_signing_key(&key("old", "RS256", now))
            .await
            .unwrap_err()
            .is_conflict_on("signing_keys_pkey")
    );
    tx.rollback().await.unwrap();
    let mut tx = s.write().await.unwrap();
    tx.insert_signing_key(&key("old", "RS256", now))
        .await
        .unwrap();
    tx.insert_signing_key(&key("new", "RS256", now + Duration::days(1)))
        .await
        .unwrap();
    assert!(
        tx.retire_signing_key("old", now + Duration::days(1))
            .await
            .unwrap()
    );
    assert!(
        !tx.retire_signing_key("old", now + Duration::days(2))
            .await
            .unwrap()
    );
    assert!(!tx.retire_signing_key("missing", now).await.unwrap());
    let keys = tx.signing_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["new", "old"]
    );
    assert_eq!(keys[1].retired_at, Some(now + Duration::days(1)));
    assert_eq!(keys[0], key("new", "RS256", now + Duration::days(1)));
    tx.commit().await.unwrap();
}

/// A client with fixed settings for tests.
pub fn sample_client(id: &str, now: Timestamp) -> OidcClient {
    OidcClient {
        id: id.into(),
        name: format!("{id} の client"),
        secret_hash: Some("ab".repeat(32)),
        redirect_uris: vec![
            "http://127.0.0.1:9/cb".into(),
            "https://rp.example.jp/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://rp.example.jp/".into()],
        first_party: false,
        scopes: vec!["openid".into(), "profile".into(), "offline_access".into()],
        allow_iseki: false,
        id_token_alg: "RS256".into(),
        disabled: false,
        created_at: now,
    }
}

async fn oidc_account<S: Store>(s: &S) -> Uuid {
    let now = t("2026-05-01T00:00:00Z");
    let a = Account::new(
        Uuid::new_v4(),
        &format!("{}@example.jp", Uuid::new_v4().simple()),
        "",
        AccountKind::Doctor,
        now,
    );
    let mut tx = s.write().await.unwrap();
    tx.insert_account(&a).await.unwrap();
    tx.insert_client(&sample_client("rp", now)).await.unwrap();
    tx.commit().await.unwrap();
    a.id
}

/// Clients keep their lists and flags; updates change settings; ids are unique.
pub async fn oidc_clients_round_trip<S: Store>(s: S) {
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    let c = sample_client("b-client", now);
    tx.insert_client(&c).await.unwrap();
    tx.insert_client(&sample_client("a-client", now))
        .await
        .unwrap();
    assert_eq!(tx.client("b-client").await.unwrap().unwrap(), c);
    assert!(
        tx.insert_client(&c)
            .await
            .unwrap_err()
            .is_conflict_on("oidc_clients_pkey")
    );
    tx.rollback().await.unwrap();
    let mut tx = s.write().await.unwrap();
    tx.insert_client(&c).await.unwrap();
    let mut changed = c.clone();
    changed.disabled = true;
    changed.first_party = true;
    changed.allow_iseki = true;
    changed.secret_hash = None;
    changed.redirect_uris = vec!["https://other.example.jp/cb".into()];
    changed.id_token_alg = "ES256".into();
    assert!(tx.update_client(&changed).await.unwrap());
    assert_eq!(tx.client("b-client").await.unwrap().unwrap(), changed);
    assert!(
        !tx.update_client(&sample_client("nobody", now))
            .await
            .unwrap()
    );
    assert!(tx.client("nobody").await.unwrap().is_none());
    tx.commit().await.unwrap();
}

fn auth_code(hash: &str, account: Uuid, now: Timestamp) -> AuthCode {
    AuthCode {
        code_hash: hash.into(),
        client_id: "rp".into(),
        account_id: account,
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        scope: "openid profile".into(),
        auth_time: now,
        amr: "pwd".into(),
        expires_at: now + Duration::seconds(60),
        used_at: None,
        created_at: now,
    }
}

/// A code is taken once; the second take still returns it, marked used, so a reuse is seen.
pub async fn oidc_codes_work_once_and_reuse_is_visible<S: Store>(s: S) {
    let account = oidc_account(&s).await;
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    tx.insert_code(&auth_code("c1", account, now))
        .await
        .unwrap();
    let first = tx
        .take_code("c1", now + Duration::seconds(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, auth_code("c1", account, now));
    let second = tx
        .take_code("c1", now + Duration::seconds(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.used_at, Some(now + Duration::seconds(1)));
    assert!(tx.take_code("c2", now).await.unwrap().is_none());
    tx.commit().await.unwrap();
}

fn token(
    hash: &str,
    kind: TokenKind,
    account: Uuid,
    family: Uuid,
    code_hash: Option<&str>,
    now: Timestamp,
) -> OidcToken {
    OidcToken {
        token_hash: hash.into(),
        kind,
        client_id: "rp".into(),
        account_id: account,
        scope: "openid offline_access".into(),
        code_hash: code_hash.map(str::to_owned),
        family,
        expires_at: now + Duration::minutes(5),
        family_expires_at: now + Duration::days(180),
        auth_time: now,
        amr: "pwd otp".into(),
        used_at: None,
        revoked_at: None,
        created_at: now,
    }
}

/// Refresh tokens are used once; revocation works by chain, by code and by account.
pub async fn oidc_tokens_rotate_and_revoke<S: Store>(s: S) {
    let account = oidc_account(&s).await;
    let now = t("2026-05-01T00:00:00Z");
    let (f1, f2) = (Uuid::new_v4(), Uuid::new_v4());
    let mut tx = s.write().await.unwrap();
    tx.insert_token(&token(
        "a1",
        TokenKind::Access,
        account,
        f1,
        Some("code1"),
        now,
    ))
    .await
    .unwrap();
    tx.insert_token(&token(
        "r1",
        TokenKind::Refresh,
        account,
        f1,
        Some("code1"),
        now,
    ))
    .await
    .unwrap();
    tx.insert_token(&token("r2", TokenKind::Refresh, account, f1, None, now))
        .await
        .unwrap();
    tx.insert_token(&token(
        "a3",
        TokenKind::Access,
        account,
        f2,
        Some("code2"),
        now,
    ))
    .await
    .unwrap();
    tx.insert_token(&token(
        "r3",
        TokenKind::Refresh,
        account,
        f2,
        Some("code2"),
        now,
    ))
    .await
    .unwrap();
    assert_eq!(
        tx.token("r1").await.unwrap().unwrap(),
        token("r1", TokenKind::Refresh, account, f1, Some("code1"), now)
    );
    assert!(tx.use_refresh_token("r1", now).await.unwrap());
    assert!(
        !tx.use_refresh_token("r1", now).await.unwrap(),
        "a refresh token works once"
    );
    assert!(
        !tx.use_refresh_token("a1", now).await.unwrap(),
        "access tokens are not refresh tokens"
    );
    // revoking by code reaches the whole chain that code started, including rotated tokens
    assert_eq!(tx.revoke_by_code("code1", now).await.unwrap(), 3);
    assert!(tx.token("r2").await.unwrap().unwrap().revoked_at.is_some());
    assert!(tx.token("a3").await.unwrap().unwrap().revoked_at.is_none());
    assert_eq!(
        tx.revoke_family(f1, now).await.unwrap(),
        0,
        "already revoked"
    );
    assert_eq!(
        tx.revoke_tokens_of(account, Some(TokenKind::Refresh), now)
            .await
            .unwrap(),
        1
    );
    assert!(
        tx.token("a3").await.unwrap().unwrap().revoked_at.is_none(),
        "only refresh tokens"
    );
    assert_eq!(tx.revoke_tokens_of(account, None, now).await.unwrap(), 1);
    assert_eq!(tx.revoke_family(f2, now).await.unwrap(), 0);
    tx.commit().await.unwrap();
}

/// A consent is per account and client, replaced when the scope set changes.
pub async fn oidc_consents_are_remembered<S: Store>(s: S) {
    let account = oidc_account(&s).await;
    let now = t("2026-05-01T00:00:00Z");
    let mut tx = s.write().await.unwrap();
    assert!(tx.consent(account, "rp").await.unwrap().is_none());
    let c = Consent {
        account_id: account,
        client_id: "rp".into(),
        scope: "openid profile".into(),
        granted_at: now,
    };
    tx.put_consent(&c).await.unwrap();
    assert_eq!(tx.consent(account, "rp").await.unwrap().unwrap(), c);
    let wider = Consent {
        scope: "email openid profile".into(),
        granted_at: now + Duration::days(1),
        ..c.clone()
    };
    tx.put_consent(&wider).await.unwrap();
    assert_eq!(tx.consent(account, "rp").await.unwrap().unwrap(), wider);
    tx.commit().await.unwrap();
}

/// Migration progress counts current JMA members per county (placed by the county membership
/// active on the day) as verified / legacy only / neither, within a node's subtree; the members
/// not yet moved are listed page by page with their contact address.
pub async fn migration_progress_per_county<S: Store>(s: S) {
    with_counties(&s).await;
    let now = t("2026-05-01T00:00:00Z");
    let today = day("2026-06-01");
    let member_id = |n: u32| MemberId::parse(&format!("{:010}", 5_000_000 + n)).unwrap();
    let doctor = |n: u32, email: bool| crate::Doctor {
        member_id: Some(member_id(n)),
        contact_email: email.then(|| format!("doctor{n}@example.jp")),
        ..sample_doctor(n)
    };
    // (doctor, county memberships, JMA membership)
    let jma = |from: &str, to: Option<&str>| Some(membership("JMA", from, to));
    let cases: Vec<(crate::Doctor, Vec<Membership>, Option<Membership>)> = vec![
        // 1: verified MAMIS_ID (its legacy credential not yet retired: the account still wins)
        (
            doctor(1, true),
            vec![membership("P13-0001", "2020-04-01", None)],
            jma("2020-04-01", None),
        ),
        // 2: legacy credential only
        (
            doctor(2, true),
            vec![membership("P13-0001", "2020-04-01", None)],
            jma("2020-04-01", None),
        ),
        // 3: retired credential, account only in review: neither
        (
            doctor(3, true),
            vec![membership("P13-0001", "2020-04-01", None)],
            jma("2020-04-01", None),
        ),
        // 4: neither, no contact address, other county
        (
            doctor(4, false),
            vec![membership("P13-0002", "2020-04-01", None)],
            jma("2020-04-01", None),
        ),
        // 5: left the JMA (still a county member): not counted
        (
            doctor(5, true),
            vec![membership("P13-0001", "2020-04-01", None)],
            jma("2020-04-01", Some("2026-04-01")),
        ),
        // 6: non-member with a legacy credential: not counted
        (doctor(6, true), vec![], None),
        // 7: county member only, not of the JMA: not counted
        (
            doctor(7, true),
            vec![membership("P27-0001", "2020-04-01", None)],
            None,
        ),
        // 8: legacy only in Osaka
        (
            doctor(8, true),
            vec![membership("P27-0001", "2020-04-01", None)],
            jma("2020-04-01", None),
        ),
        // 9: moved from P13-0002 to P13-0001 this year: counted where the member is now
        (
            doctor(9, true),
            vec![
                membership("P13-0002", "2015-04-01", Some("2026-01-01")),
                membership("P13-0001", "2026-01-01", None),
            ],
            jma("2015-04-01", None),
        ),
        // 10: joins the JMA next month: not yet counted
        (
            doctor(10, true),
            vec![membership("P13-0001", "2020-04-01", None)],
            jma("2026-07-01", None),
        ),
    ];
    let mut tx = s.write().await.unwrap();
    for (d, counties, jma) in &cases {
        tx.insert_doctor(d).await.unwrap();
        for m in counties {
            let pref = m.association.prefecture_code().unwrap();
            let at_pref = Membership {
                association: pref,
                ..m.clone()
            };
            tx.insert_memberships(&[(d.id, m.clone()), (d.id, at_pref)])
                .await
                .unwrap();
        }
        if let Some(j) = jma {
            tx.insert_membership(d.id, j).await.unwrap();
        }
    }
    let account = |n: u32, v: Verification| Account {
        doctor_id: Some(sample_doctor(n).id),
        verification: v,
        ..Account::new(
            Uuid::from_u128(0x2000 + u128::from(n)),
            &format!("mamis{n}@example.jp"),
            "",
            AccountKind::Doctor,
            now,
        )
    };
    tx.insert_account(&account(1, Verification::Verified))
        .await
        .unwrap();
    tx.insert_account(&account(3, Verification::Review))
        .await
        .unwrap();
    tx.insert_account(&account(5, Verification::Verified))
        .await
        .unwrap();
    let legacy = |n: u32| LegacyCredential {
        member_id: member_id(n),
        birth_date: day("1980-05-17"),
        password_hash: None,
        retired_at: None,
        imported_at: now,
    };
    tx.upsert_legacy_credentials(&[legacy(1), legacy(2), legacy(3), legacy(6), legacy(8)])
        .await
        .unwrap();
    assert!(
        tx.retire_legacy_credential(&member_id(3), now)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let counts = |c: &str, v: u64, l: u64, n: u64| MigrationCounts {
        county: code(c),
        prefecture: code(c).prefecture_code().unwrap(),
        verified: v,
        legacy_only: l,
        neither: n,
    };
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.migration_progress(&AssociationCode::jma(), today)
            .await
            .unwrap(),
        [
            counts("P13-0001", 1, 1, 2),
            counts("P13-0002", 0, 0, 1),
            counts("P27-0001", 0, 1, 0),
        ]
    );
    assert_eq!(
        tx.migration_progress(&code("P13"), today).await.unwrap(),
        [counts("P13-0001", 1, 1, 2), counts("P13-0002", 0, 0, 1)]
    );
    assert_eq!(
        tx.migration_progress(&code("P13-0002"), today)
            .await
            .unwrap(),
        [counts("P13-0002", 0, 0, 1)]
    );
    assert!(
        tx.migration_progress(&code("P01"), today)
            .await
            .unwrap()
            .is_empty()
    );
    // before doctor 9 moved, it was counted in its old county
    assert_eq!(
        tx.migration_progress(&code("P13-0002"), day("2025-12-31"))
            .await
            .unwrap(),
        [counts("P13-0002", 0, 0, 2)]
    );

    let ids = |v: &[UnmovedMember]| v.iter().map(|m| m.doctor_id).collect::<Vec<_>>();
    let first = tx
        .unmoved_members(&code("P13"), today, None, 2)
        .await
        .unwrap();
    assert_eq!(ids(&first), [sample_doctor(2).id, sample_doctor(3).id]);
    assert_eq!(
        first[0],
        UnmovedMember {
            doctor_id: sample_doctor(2).id,
            member_id: Some(member_id(2)),
            family_name: "山田".into(),
            given_name: "太郎2".into(),
            contact_email: Some("doctor2@example.jp".into()),
            county: code("P13-0001"),
            legacy: true,
        }
    );
    assert!(!first[1].legacy, "a retired credential is no credential");
    let rest = tx
        .unmoved_members(&code("P13"), today, Some(first[1].doctor_id), 2)
        .await
        .unwrap();
    assert_eq!(ids(&rest), [sample_doctor(4).id, sample_doctor(9).id]);
    assert_eq!(
        (rest[0].contact_email.as_deref(), rest[0].county.as_str()),
        (None, "P13-0002")
    );
    assert!(
        tx.unmoved_members(&code("P13"), today, Some(rest[1].doctor_id), 2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&tx
            .unmoved_members(&AssociationCode::jma(), today, None, 100)
            .await
            .unwrap()),
        [2, 3, 4, 8, 9].map(|n| sample_doctor(n).id)
    );
    assert_eq!(
        ids(&tx
            .unmoved_members(&code("P27-0001"), today, None, 100)
            .await
            .unwrap()),
        [sample_doctor(8).id]
    );
    tx.rollback().await.unwrap();
}

/// A first-generation training credit for `doctor` under `origin_key`, with fixed fields, for the
/// ledger cases and the backends' own ledger tests.
pub fn sample_entry(doctor: Uuid, origin_key: &str) -> LedgerEntry {
    LedgerEntry {
        id: Uuid::new_v4(),
        doctor,
        programme: Programme::JmaCme,
        fiscal_year: FiscalYear::new(2026).unwrap(),
        date: day("2026-06-01"),
        source: Source::Training,
        catalogue_version: CURRENT_VERSION.into(),
        code: 10,
        half_units: HalfUnits::new(2),
        origin_key: origin_key.into(),
        generation: 0,
        reverses: None,
        rules_version: "jma_cme-2026.1".into(),
        created_by: "job:ledger-test".into(),
        created_at: t("2026-06-01T09:00:00.123456Z"),
        note: Some("研修会「感染対策」".into()),
    }
}

/// An id that sorts by `n` both as bytes (PostgreSQL) and as text (SQLite).
fn ordered_id(n: u8) -> Uuid {
    Uuid::from_u128((u128::from(n) << 120) | 0xabc)
}

async fn ledger_doctors<S: Store>(s: &S, ns: &[u32]) -> Vec<Uuid> {
    let ds: Vec<_> = ns.iter().map(|n| sample_doctor(*n)).collect();
    let mut tx = s.write().await.unwrap();
    tx.insert_doctors(&ds).await.unwrap();
    tx.commit().await.unwrap();
    ds.iter().map(|d| d.id).collect()
}

/// Entries read back field for field (microseconds, notes, negative units, reversals), a
/// doctor's ledger in (date, created_at, id) order, and the count of all entries.
pub async fn ledger_round_trips_in_date_order<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let (d, other) = (ids[0], ids[1]);
    let at = t("2026-07-01T08:00:00.000001Z");
    let later = t("2026-07-01T08:00:00.789012Z");
    let on = |n: u8, key: &str, date: &str, created_at: Timestamp| LedgerEntry {
        id: ordered_id(n),
        date: day(date),
        created_at,
        ..sample_entry(d, key)
    };
    let adjustment = LedgerEntry {
        source: Source::StaffAdjustment,
        code: 0,
        half_units: HalfUnits::new(-3),
        note: None,
        created_by: "account:staff".into(),
        ..on(9, "adjust-1", "2026-05-01", later)
    };
    let prior = LedgerEntry {
        fiscal_year: FiscalYear::new(2025).unwrap(),
        source: Source::PriorSystem,
        code: 83,
        half_units: HalfUnits::new(7),
        ..on(8, "prior-1", "2026-03-31", at)
    };
    let early = on(7, "item-early", "2026-07-01", at);
    let (x, y, z) = (
        on(3, "item-x", "2026-07-01", later),
        on(5, "item-y", "2026-07-01", later),
        on(10, "item-z", "2026-07-01", later),
    );
    let reversal = x.reversal(
        ordered_id(1),
        day("2026-08-01"),
        "account:staff".into(),
        t("2026-08-01T00:00:00.5Z"),
        Some("出席の取消".into()),
    );
    let elsewhere = sample_entry(other, "item-other");
    let expected = vec![
        prior.clone(),
        adjustment.clone(),
        early.clone(),
        x.clone(),
        y.clone(),
        z.clone(),
        reversal.clone(),
    ];
    let mut tx = s.write().await.unwrap();
    // inserted out of order, the reversal after its target in the same call
    tx.insert_ledger_entries(&[
        z.clone(),
        early,
        elsewhere.clone(),
        x,
        reversal,
        adjustment,
        y,
        prior,
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.ledger_of(d, Programme::JmaCme).await.unwrap(), expected);
    assert_eq!(
        tx.ledger_of(other, Programme::JmaCme).await.unwrap(),
        std::slice::from_ref(&elsewhere)
    );
    for e in expected.iter().chain([&elsewhere]) {
        assert_eq!(tx.ledger_entry(e.id).await.unwrap().as_ref(), Some(e));
    }
    assert!(tx.ledger_entry(Uuid::new_v4()).await.unwrap().is_none());
    assert!(
        tx.ledger_of(sample_doctor(3).id, Programme::JmaCme)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(tx.count_ledger_entries().await.unwrap(), 8);
    tx.insert_ledger_entries(&[]).await.unwrap();
    assert_eq!(tx.count_ledger_entries().await.unwrap(), 8);
}

/// One (programme, origin key, generation) is stored once: a batch repeating a stored key, or
/// repeating a key within itself, wherever the repeat sits (first row, last row, a later chunk),
/// is a conflict on `ledger_origin_key`, and rolling back keeps nothing of the batch. The cases
/// are pseudo-random but fixed (proptest's deterministic runner), so a failure reproduces.
pub async fn ledger_origin_key_is_never_stored_twice<S: Store>(s: S) {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let d = ledger_doctors(&s, &[1]).await[0];
    // stored: keys stored-0..7, generations 0..2 of each
    let stored: Vec<_> = (0..8)
        .flat_map(|k| {
            (0..3).map(move |g| LedgerEntry {
                generation: g,
                ..sample_entry(d, &format!("stored-{k}"))
            })
        })
        .collect();
    let mut tx = s.write().await.unwrap();
    tx.insert_ledger_entries(&stored).await.unwrap();
    tx.commit().await.unwrap();

    // (stored key, generation, batch length, repeat within the batch?, position of the repeat);
    // batches of up to 4,500 rows span up to three of SQLite's 2,000-row statements
    let cases = (
        0u32..8,
        0i32..3,
        1usize..4_500,
        proptest::bool::ANY,
        0usize..4_500,
    );
    let mut runner = TestRunner::deterministic();
    for case in 0..24 {
        let (k, g, len, within, pos) = cases.new_tree(&mut runner).unwrap().current();
        // the extremes first: the very first and the very last row of a batch
        let pos = match case {
            0 => 0,
            1 => len - 1,
            _ => pos % len,
        };
        let mut batch: Vec<_> = (0..len)
            .map(|j| sample_entry(d, &format!("case{case}-{j}")))
            .collect();
        let what = if within && len > 1 {
            let other = if pos == 0 { len - 1 } else { pos / 2 };
            batch[pos].origin_key = batch[other].origin_key.clone();
            format!("row {pos} repeats row {other}")
        } else {
            batch[pos].origin_key = format!("stored-{k}");
            batch[pos].generation = g;
            format!("row {pos} repeats stored-{k}/{g}")
        };
        let mut tx = s.write().await.unwrap();
        let err = tx.insert_ledger_entries(&batch).await.unwrap_err();
        assert!(
            err.is_conflict_on("ledger_origin_key"),
            "case {case} ({len} rows, {what}): {err:?}"
        );
        tx.rollback().await.unwrap();

        let mut tx = s.read().await.unwrap();
        assert_eq!(
            tx.count_ledger_entries().await.unwrap(),
            24,
            "case {case} ({len} rows, {what}) left rows behind"
        );
        assert!(tx.ledger_entry(batch[0].id).await.unwrap().is_none());
        tx.rollback().await.unwrap();
    }
    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.ledger_of(d, Programme::JmaCme).await.unwrap().len(), 24);
}

/// An entry is reversed at most once (`ledger_reverses_key`); looking up origin keys returns
/// every generation, says which are reversed, ignores repeated and unknown keys and keeps
/// (origin key, generation) order however many keys are asked for.
pub async fn ledger_reversal_is_single_and_seen_by_origin<S: Store>(s: S) {
    let d = ledger_doctors(&s, &[1]).await[0];
    let first = sample_entry(d, "item-1");
    let other = sample_entry(d, "item-2");
    let undo = |e: &LedgerEntry| {
        e.reversal(
            Uuid::new_v4(),
            day("2026-06-02"),
            "account:staff".into(),
            t("2026-06-02T00:00:00Z"),
            Some("出席の取消".into()),
        )
    };
    let reversal = undo(&first);
    let mut tx = s.write().await.unwrap();
    tx.insert_ledger_entries(&[first.clone(), other.clone(), reversal.clone()])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // a second reversal of the same entry, even under another origin key or generation
    for again in [
        LedgerEntry {
            generation: 1,
            ..undo(&first)
        },
        LedgerEntry {
            origin_key: "reverse:again".into(),
            ..undo(&first)
        },
    ] {
        let mut tx = s.write().await.unwrap();
        let err = tx.insert_ledger_entries(&[again]).await.unwrap_err();
        assert!(err.is_conflict_on("ledger_reverses_key"), "{err:?}");
        tx.rollback().await.unwrap();
    }
    // two reversals of one entry in one call
    let mut tx = s.write().await.unwrap();
    let err = tx
        .insert_ledger_entries(&[
            undo(&other),
            LedgerEntry {
                generation: 1,
                ..undo(&other)
            },
        ])
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("ledger_reverses_key"), "{err:?}");
    tx.rollback().await.unwrap();

    // re-credited after the reversal: the next generation
    let again = LedgerEntry {
        generation: 1,
        date: day("2026-06-03"),
        ..sample_entry(d, "item-1")
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_ledger_entries(std::slice::from_ref(&again))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let seen = |v: Vec<OriginEntry>| {
        v.into_iter()
            .map(|o| (o.entry, o.reversed))
            .collect::<Vec<_>>()
    };
    let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(
        seen(
            tx.ledger_by_origin(
                Programme::JmaCme,
                &keys(&["item-2", "item-1", "missing", "item-1"])
            )
            .await
            .unwrap()
        ),
        [(first, true), (again, false), (other, false)]
    );
    assert_eq!(
        seen(
            tx.ledger_by_origin(
                Programme::JmaCme,
                std::slice::from_ref(&reversal.origin_key)
            )
            .await
            .unwrap()
        ),
        [(reversal, false)]
    );
    assert!(
        tx.ledger_by_origin(Programme::JmaCme, &[])
            .await
            .unwrap()
            .is_empty()
    );
    tx.rollback().await.unwrap();

    // many keys at once (more than one bound list on SQLite), asked in reverse order
    let many: Vec<_> = (0..1_500)
        .map(|n| sample_entry(d, &format!("many-{n:04}")))
        .collect();
    let mut tx = s.write().await.unwrap();
    tx.insert_ledger_entries(&many).await.unwrap();
    tx.commit().await.unwrap();
    let asked: Vec<_> = (0..2_500).rev().map(|n| format!("many-{n:04}")).collect();
    let mut tx = s.read().await.unwrap();
    let found = tx
        .ledger_by_origin(Programme::JmaCme, &asked)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|o| o.entry.id).collect::<Vec<_>>(),
        many.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert!(found.iter().all(|o| !o.reversed));
}

/// A ledger entry must name a curriculum code of a stored catalogue, a stored doctor and, if a
/// reversal, a stored entry; otherwise it is a `foreign_key` conflict.
pub async fn ledger_refuses_unknown_codes_and_doctors<S: Store>(s: S) {
    let d = ledger_doctors(&s, &[1]).await[0];
    let refused = [
        LedgerEntry {
            code: 84,
            ..sample_entry(d, "code-84")
        },
        LedgerEntry {
            catalogue_version: "1999".into(),
            ..sample_entry(d, "old-catalogue")
        },
        sample_entry(sample_doctor(2).id, "no-doctor"),
        LedgerEntry {
            reverses: Some(Uuid::new_v4()),
            ..sample_entry(d, "reverse:nothing")
        },
    ];
    for e in refused {
        let mut tx = s.write().await.unwrap();
        let err = tx.insert_ledger_entries(&[e]).await.unwrap_err();
        assert!(err.is_conflict_on("foreign_key"), "{err:?}");
        tx.rollback().await.unwrap();
    }
    let mut tx = s.write().await.unwrap();
    let last = LedgerEntry {
        code: 83,
        ..sample_entry(d, "code-83")
    };
    tx.insert_ledger_entries(std::slice::from_ref(&last))
        .await
        .unwrap();
    assert_eq!(tx.ledger_entry(last.id).await.unwrap(), Some(last));
    assert_eq!(tx.count_ledger_entries().await.unwrap(), 1);
}

fn certificate(number: &str, doctor: Uuid, from: i32, to: i32) -> CertificateRecord {
    CertificateRecord {
        id: Uuid::new_v4(),
        number: number.into(),
        doctor,
        programme: Programme::JmaCme,
        from_fy: FiscalYear::new(from).unwrap(),
        to_fy: FiscalYear::new(to).unwrap(),
        issued_on: day(&format!("{}-05-15", to + 1)),
        origin: "mamis".into(),
        created_at: t("2026-05-15T01:02:03.456789Z"),
        verification_code: Some(format!("K7Q2M9XW4RTP6VHC{from}")),
        valid_until: Some(day(&format!("{}-03-31", to + 4))),
        counted: Some((HalfUnits::new(121), 17)),
        revocation: None,
    }
}

/// Certificates read back field for field, a doctor's oldest window first; a number is used once,
/// and a doctor and programme have one certificate per starting fiscal year.
pub async fn certificates_round_trip_and_conflict<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let (d, other) = (ids[0], ids[1]);
    let old = CertificateRecord {
        origin: "prior_system".into(),
        verification_code: None,
        valid_until: None,
        counted: None,
        ..certificate("JMA-2023-000001", d, 2020, 2022)
    };
    let new = certificate("JMA-2026-000001", d, 2023, 2025);
    let theirs = certificate("JMA-2026-000002", other, 2023, 2025);
    let mut tx = s.write().await.unwrap();
    tx.insert_certificates(&[new.clone(), theirs.clone(), old.clone()])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.certificates_of(d, Programme::JmaCme).await.unwrap(),
        [old.clone(), new.clone()]
    );
    assert_eq!(
        tx.certificates_of(other, Programme::JmaCme).await.unwrap(),
        std::slice::from_ref(&theirs)
    );
    assert!(
        tx.certificates_of(sample_doctor(3).id, Programme::JmaCme)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.certificate_by_number("JMA-2026-000002").await.unwrap(),
        Some(theirs)
    );
    assert_eq!(
        tx.certificate_by_number("JMA-2023-000001").await.unwrap(),
        Some(old)
    );
    assert!(
        tx.certificate_by_number("JMA-2026-000003")
            .await
            .unwrap()
            .is_none()
    );
    tx.rollback().await.unwrap();

    let refused = [
        // the number again, for another window and doctor
        (
            certificate("JMA-2026-000001", other, 2026, 2028),
            "certificates_number_key",
        ),
        // a second certificate starting in the same fiscal year
        (
            certificate("JMA-2026-000009", d, 2023, 2023),
            "certificates_window_key",
        ),
        (
            certificate("JMA-2026-000010", sample_doctor(3).id, 2023, 2025),
            "foreign_key",
        ),
    ];
    for (c, constraint) in refused {
        let mut tx = s.write().await.unwrap();
        let err = tx.insert_certificates(&[c]).await.unwrap_err();
        assert!(err.is_conflict_on(constraint), "{constraint}: {err:?}");
        tx.rollback().await.unwrap();
    }
    // two certificates of one window in one call
    let mut tx = s.write().await.unwrap();
    let err = tx
        .insert_certificates(&[
            certificate("JMA-2029-000001", d, 2026, 2028),
            certificate("JMA-2029-000002", d, 2026, 2028),
        ])
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("certificates_window_key"), "{err:?}");
    tx.rollback().await.unwrap();
    // a window ending before it starts
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.insert_certificates(&[certificate("JMA-2029-000003", d, 2028, 2027)])
            .await
            .is_err()
    );
    tx.rollback().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.certificates_of(d, Programme::JmaCme)
            .await
            .unwrap()
            .len(),
        2
    );
}

fn revocation(at: &str, category: &str) -> Revocation {
    Revocation {
        at: t(at),
        category: category.into(),
        reason: format!("{category}: 出席記録の誤り"),
        by: "account:00000000-0000-0000-0000-0000000000aa".into(),
    }
}

/// A certificate keeps what its decision counted, its code and validity (each `Some` or `None`)
/// and a revocation: revoked once, then never again, and an unknown number revokes nothing.
pub async fn certificates_keep_decision_and_revocation<S: Store>(s: S) {
    let d = ledger_doctors(&s, &[1]).await[0];
    let decided = CertificateRecord {
        counted: Some((HalfUnits::new(0), 0)),
        ..certificate("JMA-2026-000001", d, 2023, 2025)
    };
    let bare = CertificateRecord {
        origin: "prior_system".into(),
        verification_code: None,
        valid_until: None,
        counted: None,
        ..certificate("JMA-2020-000001", d, 2017, 2019)
    };
    let mixed = CertificateRecord {
        valid_until: None,
        counted: Some((HalfUnits::new(-5), 84)),
        ..certificate("JMA-2023-000001", d, 2020, 2022)
    };
    let imported_revoked = CertificateRecord {
        verification_code: None,
        revocation: Some(revocation("2019-01-01T00:00:00Z", "other")),
        ..certificate("JMA-2029-000001", d, 2026, 2028)
    };
    let all = [
        decided.clone(),
        bare.clone(),
        mixed.clone(),
        imported_revoked.clone(),
    ];
    let mut tx = s.write().await.unwrap();
    tx.insert_certificates(&all).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    for c in &all {
        assert_eq!(
            tx.certificate_by_number(&c.number).await.unwrap().as_ref(),
            Some(c)
        );
    }
    tx.rollback().await.unwrap();

    let first = revocation("2026-09-01T10:00:00.123456Z", "error");
    let second = revocation("2026-09-02T10:00:00Z", "fraud");
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.revoke_certificate(&decided.number, &first)
            .await
            .unwrap()
    );
    assert!(
        !tx.revoke_certificate(&decided.number, &second)
            .await
            .unwrap()
    );
    assert!(
        !tx.revoke_certificate("JMA-2026-999999", &first)
            .await
            .unwrap()
    );
    assert!(
        !tx.revoke_certificate(&imported_revoked.number, &second)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let revoked = CertificateRecord {
        revocation: Some(first),
        ..decided
    };
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.certificate_by_number(&revoked.number).await.unwrap(),
        Some(revoked.clone())
    );
    assert_eq!(
        tx.certificates_of(d, Programme::JmaCme).await.unwrap(),
        [bare, mixed, revoked, imported_revoked]
    );
}

/// A new series starts at 1; the stored next number is what the next lock returns; every
/// (series, year) counts on its own, and a rolled-back number is not kept.
pub async fn number_series_count_per_series_and_year<S: Store>(s: S) {
    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.lock_number_series("JMA", 2026).await.unwrap(), 1);
    assert_eq!(tx.lock_number_series("JMA", 2026).await.unwrap(), 1);
    tx.set_next_number("JMA", 2026, 5).await.unwrap();
    assert_eq!(tx.lock_number_series("JMA", 2026).await.unwrap(), 5);
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.lock_number_series("JMA", 2026).await.unwrap(), 5);
    assert_eq!(tx.lock_number_series("JMA", 2027).await.unwrap(), 1);
    assert_eq!(tx.lock_number_series("DOC", 2026).await.unwrap(), 1);
    tx.set_next_number("DOC", 2026, 1_000_000).await.unwrap();
    tx.set_next_number("JMA", 2027, 2).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.lock_number_series("JMA", 2026).await.unwrap(), 5);
    tx.set_next_number("JMA", 2026, 50).await.unwrap();
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.lock_number_series("JMA", 2026).await.unwrap(), 5);
    assert_eq!(tx.lock_number_series("JMA", 2027).await.unwrap(), 2);
    assert_eq!(tx.lock_number_series("DOC", 2026).await.unwrap(), 1_000_000);
    tx.commit().await.unwrap();

    // numbers start at 1
    let mut tx = s.write().await.unwrap();
    assert!(tx.set_next_number("JMA", 2026, 0).await.is_err());
    tx.rollback().await.unwrap();
}

/// Two writers numbering one series at once get consecutive numbers: the second waits for the
/// first's lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the row lock) and reads what it stored.
/// Run twice: on a series neither sees yet (both try to create it), then on an existing one.
pub async fn number_series_lock_serialises_writers<S: Store>(s: S) {
    for (round, expected) in [(0, [1, 2]), (1, [3, 4])] {
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut tx = s.write().await.unwrap();
                    let n = tx.lock_number_series("JMA", 2026).await.unwrap();
                    // Hold the lock while "issuing", so the other writer really has to wait.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    tx.set_next_number("JMA", 2026, n + 1).await.unwrap();
                    tx.commit().await.unwrap();
                    n
                })
            })
            .collect();
        let mut got = Vec::new();
        for w in writers {
            got.push(w.await.unwrap());
        }
        got.sort_unstable();
        assert_eq!(got, expected, "round {round}");
    }
    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.lock_number_series("JMA", 2026).await.unwrap(), 5);
    tx.rollback().await.unwrap();
}

/// The ledgers and certificates of many doctors in one call equal each doctor's own, in doctor
/// order, across the 1,000-doctor chunks, whatever order (and repeats) the ids are asked in.
pub async fn ledger_and_certificates_of_many_doctors<S: Store>(s: S) {
    let ds: Vec<_> = (0..1_500).map(sample_doctor).collect();
    // sample_doctor ids sort by n, so 999 | 1000 straddle the first chunk boundary
    let with_rows = [0u32, 1, 998, 999, 1000, 1001, 1499];
    let mut entries = Vec::new();
    let mut certificates = Vec::new();
    for &n in &with_rows {
        let d = ds[n as usize].id;
        for i in 0..6u32 {
            // dates descending, and two entries a day with different creation instants
            entries.push(LedgerEntry {
                date: day("2026-06-30") - Duration::days(i64::from(i / 2)),
                created_at: t("2026-07-01T00:00:00Z") - Duration::microseconds(i64::from(i)),
                ..sample_entry(d, &format!("many-{n}-{i}"))
            });
        }
        if n % 2 == 1 {
            certificates.push(certificate(&format!("JMA-2026-{n:06}"), d, 2023, 2025));
            certificates.push(certificate(&format!("JMA-2023-{n:06}"), d, 2020, 2022));
        }
    }
    entries.reverse();
    let mut tx = s.write().await.unwrap();
    tx.insert_doctors(&ds).await.unwrap();
    tx.insert_ledger_entries(&entries).await.unwrap();
    tx.insert_certificates(&certificates).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let mut expected_entries = Vec::new();
    let mut expected_certificates = Vec::new();
    for d in &ds {
        expected_entries.extend(tx.ledger_of(d.id, Programme::JmaCme).await.unwrap());
        expected_certificates.extend(tx.certificates_of(d.id, Programme::JmaCme).await.unwrap());
    }
    assert_eq!(expected_entries.len(), 42);
    assert_eq!(expected_certificates.len(), 8);
    let mut asked: Vec<_> = ds.iter().rev().map(|d| d.id).collect();
    asked.extend([ds[999].id, ds[0].id, Uuid::new_v4()]);
    let got = tx
        .ledger_of_doctors(Programme::JmaCme, &asked)
        .await
        .unwrap();
    assert_eq!(got, expected_entries);
    let got = tx
        .certificates_of_doctors(Programme::JmaCme, &asked)
        .await
        .unwrap();
    assert_eq!(got, expected_certificates);

    // a few doctors only, one past the others' chunk
    let few = [ds[1001].id, ds[1].id];
    let own = |d: Uuid| {
        expected_entries
            .iter()
            .filter(|e| e.doctor == d)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tx.ledger_of_doctors(Programme::JmaCme, &few).await.unwrap(),
        [own(ds[1].id), own(ds[1001].id)].concat()
    );
    assert!(
        tx.ledger_of_doctors(Programme::JmaCme, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        tx.certificates_of_doctors(Programme::JmaCme, &[ds[2].id])
            .await
            .unwrap()
            .is_empty()
    );
}

/// The decision run's sums equal the lines summed by hand per (doctor, year, source, code), in
/// the years asked only, across the 1,000-doctor chunks; reversals net out (a zero sum is still
/// a key); a doctor whose lines all fall outside the years is still listed as having lines.
pub async fn ledger_sums_of_many_doctors_are_the_lines_summed<S: Store>(s: S) {
    let ds: Vec<_> = (0..1_500).map(sample_doctor).collect();
    let with_rows = [0u32, 3, 999, 1000, 1499];
    let sources = [Source::Training, Source::ELearning, Source::PriorSystem];
    let mut entries = Vec::new();
    for &n in &with_rows {
        let d = ds[n as usize].id;
        for i in 0..24u32 {
            // doctor 3's lines are all in FY2021–2022, outside the years asked
            let year = if n == 3 {
                2021 + (i % 2)
            } else {
                2022 + (i * 7 + n) % 5
            };
            let e = LedgerEntry {
                fiscal_year: FiscalYear::new(year as i32).unwrap(),
                date: FiscalYear::new(year as i32).unwrap().first_day(),
                source: sources[(i % 3) as usize],
                code: (i % 4) as u16,
                half_units: HalfUnits::new(i64::from(1 + i % 5)),
                ..sample_entry(d, &format!("sum-{n}-{i}"))
            };
            if i % 7 == 0 {
                entries.push(e.reversal(Uuid::new_v4(), e.date, "t".into(), e.created_at, None));
            }
            entries.push(e);
        }
    }
    // reversals first in the list would miss their targets: insert targets before them
    entries.sort_by_key(|e| e.reverses.is_some());
    let mut tx = s.write().await.unwrap();
    tx.insert_doctors(&ds).await.unwrap();
    tx.insert_ledger_entries(&entries).await.unwrap();
    tx.commit().await.unwrap();

    let years = FiscalYear::new(2023).unwrap()..=FiscalYear::new(2025).unwrap();
    let mut naive: std::collections::BTreeMap<(Uuid, i32, &str, u16), i64> = Default::default();
    for e in entries.iter().filter(|e| years.contains(&e.fiscal_year)) {
        *naive
            .entry((e.doctor, e.fiscal_year.year(), e.source.as_str(), e.code))
            .or_default() += e.half_units.get();
    }
    assert!(
        naive.values().any(|&h| h == 0),
        "a reversal nets a key to zero"
    );
    let mut asked: Vec<_> = ds.iter().rev().map(|d| d.id).collect();
    asked.extend([ds[999].id, Uuid::new_v4()]);
    let mut tx = s.read().await.unwrap();
    let got = tx
        .ledger_sums_of_doctors(Programme::JmaCme, &asked, years.clone())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let got_keys: std::collections::BTreeMap<(Uuid, i32, &str, u16), i64> = got
        .sums
        .iter()
        .map(|c| {
            (
                (c.doctor, c.fiscal_year.year(), c.source.as_str(), c.code),
                c.half_units.get(),
            )
        })
        .collect();
    assert_eq!(got_keys, naive);
    assert_eq!(got_keys.len(), got.sums.len(), "one row per key");
    let mut doctors: Vec<Uuid> = got.sums.iter().map(|c| c.doctor).collect();
    doctors.dedup();
    let mut sorted = doctors.clone();
    sorted.sort_unstable();
    assert_eq!(doctors, sorted, "sums in doctor order");
    let mut expected: Vec<Uuid> = with_rows.iter().map(|&n| ds[n as usize].id).collect();
    expected.sort_unstable();
    assert_eq!(got.with_entries, expected);
    assert!(!got.sums.iter().any(|c| c.doctor == ds[3].id));

    let mut tx = s.read().await.unwrap();
    let none = tx
        .ledger_sums_of_doctors(Programme::JmaCme, &[ds[5].id], years)
        .await
        .unwrap();
    assert_eq!(none, LedgerSums::default());
}

fn document(number: &str, doctor: Uuid, kind: &str, key: &str, at: &str) -> DocumentRecord {
    DocumentRecord {
        id: Uuid::new_v4(),
        number: number.into(),
        kind: kind.into(),
        doctor,
        programme: Programme::JmaCme,
        content: format!(r#"{{"kind":"{kind}","units":"12.5","key":"{key}"}}"#),
        content_key: key.into(),
        verification_code: "M3D5Q8K2R7T4V9W6X1Y0".into(),
        issued_on: day("2026-05-20"),
        revocation: None,
        created_at: t(at),
    }
}

/// Documents read back field for field and by (doctor, kind, content key), newest first; a
/// number and a doctor's (kind, content key) are each used once; a document is revoked once.
pub async fn documents_round_trip_and_conflict<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let (d, other) = (ids[0], ids[1]);
    let at = "2026-05-20T03:00:00.000001Z";
    let units = document("DOC-2026-000001", d, "annual_units", "k1", at);
    // the same key under another kind, and for another doctor
    let attendance = document("DOC-2026-000002", d, "attendance", "k1", at);
    let theirs = document("DOC-2026-000003", other, "annual_units", "k1", at);
    let newer = DocumentRecord {
        revocation: Some(revocation("2026-05-21T00:00:00Z", "holder_request")),
        ..document(
            "DOC-2026-000004",
            d,
            "annual_units",
            "k2",
            "2026-05-20T03:00:00.000002Z",
        )
    };
    let mut tx = s.write().await.unwrap();
    for doc in [&attendance, &newer, &units, &theirs] {
        tx.insert_document(doc).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    for doc in [&units, &attendance, &theirs, &newer] {
        assert_eq!(
            tx.document_by_number(&doc.number).await.unwrap().as_ref(),
            Some(doc)
        );
    }
    assert!(
        tx.document_by_number("DOC-2026-000009")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        tx.document_by_key(d, "annual_units", "k1").await.unwrap(),
        Some(units.clone())
    );
    assert_eq!(
        tx.document_by_key(other, "annual_units", "k1")
            .await
            .unwrap(),
        Some(theirs.clone())
    );
    assert!(
        tx.document_by_key(other, "attendance", "k1")
            .await
            .unwrap()
            .is_none()
    );
    // newest first; at one instant, the higher number first
    assert_eq!(
        tx.documents_of(d).await.unwrap(),
        [newer.clone(), attendance.clone(), units.clone()]
    );
    assert!(
        tx.documents_of(sample_doctor(3).id)
            .await
            .unwrap()
            .is_empty()
    );
    tx.rollback().await.unwrap();

    let refused = [
        (
            document("DOC-2026-000001", other, "attendance", "k9", at),
            "cme_documents_number_key",
        ),
        (
            document("DOC-2026-000010", d, "annual_units", "k1", at),
            "cme_documents_content_key",
        ),
        (
            document(
                "DOC-2026-000011",
                sample_doctor(3).id,
                "attendance",
                "k1",
                at,
            ),
            "foreign_key",
        ),
    ];
    for (doc, constraint) in refused {
        let mut tx = s.write().await.unwrap();
        let err = tx.insert_document(&doc).await.unwrap_err();
        assert!(err.is_conflict_on(constraint), "{constraint}: {err:?}");
        tx.rollback().await.unwrap();
    }
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.insert_document(&document("DOC-2026-000012", d, "receipt", "k5", at))
            .await
            .is_err(),
        "an unknown kind"
    );
    tx.rollback().await.unwrap();

    let first = revocation("2026-06-01T00:00:00Z", "error");
    let mut tx = s.write().await.unwrap();
    assert!(tx.revoke_document(&units.number, &first).await.unwrap());
    assert!(!tx.revoke_document(&units.number, &first).await.unwrap());
    assert!(!tx.revoke_document(&newer.number, &first).await.unwrap());
    assert!(!tx.revoke_document("DOC-2026-000009", &first).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.document_by_number(&units.number).await.unwrap(),
        Some(DocumentRecord {
            revocation: Some(first),
            ..units
        })
    );
    assert_eq!(
        tx.document_by_number(&newer.number).await.unwrap(),
        Some(newer)
    );
}

/// A decision run's row is stored per (programme, fiscal year) and replaced whole.
pub async fn certificate_runs_are_replaced<S: Store>(s: S) {
    let fy = |y| FiscalYear::new(y).unwrap();
    let started = CertificateRun {
        programme: Programme::JmaCme,
        fiscal_year: fy(2025),
        started_at: t("2026-04-01T00:00:00.000001Z"),
        completed_at: None,
        issued: 0,
    };
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.certificate_run(Programme::JmaCme, fy(2025))
            .await
            .unwrap()
            .is_none()
    );
    tx.put_certificate_run(&started).await.unwrap();
    tx.commit().await.unwrap();

    let done = CertificateRun {
        started_at: t("2026-04-02T00:00:00Z"),
        completed_at: Some(t("2026-04-02T01:30:00.654321Z")),
        issued: 123_456,
        ..started.clone()
    };
    let next = CertificateRun {
        fiscal_year: fy(2026),
        ..started.clone()
    };
    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.certificate_run(Programme::JmaCme, fy(2025))
            .await
            .unwrap(),
        Some(started)
    );
    tx.put_certificate_run(&done).await.unwrap();
    tx.put_certificate_run(&next).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.certificate_run(Programme::JmaCme, fy(2025))
            .await
            .unwrap(),
        Some(done)
    );
    assert_eq!(
        tx.certificate_run(Programme::JmaCme, fy(2026))
            .await
            .unwrap(),
        Some(next)
    );
    assert!(
        tx.certificate_run(Programme::JmaCme, fy(2024))
            .await
            .unwrap()
            .is_none()
    );
}

/// 医籍登録年月日 is set, cleared and read for many doctors (unknown ones left out); decisions
/// are replaced per (programme, doctor, year); only completed runs count as decided years.
pub async fn licence_dates_and_decisions_round_trip<S: Store>(s: S) {
    let fy = |y| FiscalYear::new(y).unwrap();
    let (a, b, c) = (sample_doctor(1), sample_doctor(2), sample_doctor(3));
    let mut tx = s.write().await.unwrap();
    for d in [&a, &b, &c] {
        tx.insert_doctor(d).await.unwrap();
    }
    assert!(
        tx.set_licence_date(a.id, Some(day("2024-05-01")))
            .await
            .unwrap()
    );
    assert!(
        tx.set_licence_date(b.id, Some(day("1999-04-20")))
            .await
            .unwrap()
    );
    assert!(tx.set_licence_date(b.id, None).await.unwrap());
    assert!(
        !tx.set_licence_date(Uuid::new_v4(), Some(day("2024-05-01")))
            .await
            .unwrap()
    );
    let decision = |d: Uuid, y: i32, outcome: &str, at: &str| CmeDecision {
        programme: Programme::JmaCme,
        doctor: d,
        fiscal_year: fy(y),
        from_fy: fy(y - 2),
        outcome: outcome.into(),
        total_half: 118,
        decided_at: t(at),
    };
    tx.put_cme_decisions(&[
        decision(a.id, 2025, "fell_short", "2026-12-01T00:00:00.000001Z"),
        decision(a.id, 2026, "before_licence", "2027-12-01T00:00:00Z"),
        decision(c.id, 2025, "fell_short", "2026-12-01T00:00:00Z"),
    ])
    .await
    .unwrap();
    tx.put_certificate_run(&CertificateRun {
        programme: Programme::JmaCme,
        fiscal_year: fy(2025),
        started_at: t("2026-12-01T00:00:00Z"),
        completed_at: Some(t("2026-12-01T00:10:00Z")),
        issued: 0,
    })
    .await
    .unwrap();
    tx.put_certificate_run(&CertificateRun {
        programme: Programme::JmaCme,
        fiscal_year: fy(2026),
        started_at: t("2027-12-01T00:00:00Z"),
        completed_at: None,
        issued: 0,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    tx.put_cme_decisions(&[decision(a.id, 2025, "achieved", "2027-01-05T00:00:00Z")])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.licence_dates(&[c.id, a.id, b.id, a.id]).await.unwrap(),
        vec![(a.id, day("2024-05-01"))]
    );
    let got = tx.cme_decisions_of(a.id, Programme::JmaCme).await.unwrap();
    assert_eq!(
        got,
        vec![
            decision(a.id, 2025, "achieved", "2027-01-05T00:00:00Z"),
            decision(a.id, 2026, "before_licence", "2027-12-01T00:00:00Z"),
        ]
    );
    assert_eq!(
        tx.cme_decisions_of(c.id, Programme::JmaCme)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        tx.decided_years(Programme::JmaCme).await.unwrap(),
        vec![fy(2025)]
    );
}

/// A certificate has at most one open review item: a second open is refused as `false`, without
/// spoiling the transaction, whose other writes commit; the open list is oldest first.
pub async fn certificate_reviews_open_once_per_certificate<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let (d, other) = (ids[0], ids[1]);
    let mine = certificate("JMA-2026-000001", d, 2023, 2025);
    let theirs = certificate("JMA-2026-000002", other, 2023, 2025);
    let mut tx = s.write().await.unwrap();
    tx.insert_certificates(&[mine.clone(), theirs.clone()])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let review = |c: &CertificateRecord, at: &str| CertificateReview {
        id: Uuid::new_v4(),
        certificate: c.id,
        number: c.number.clone(),
        doctor: c.doctor,
        opened_at: t(at),
        reason: "窓口の合計 48 単位（発行時 52 単位）".into(),
        resolved_at: None,
    };
    let first = review(&mine, "2026-07-01T00:00:00.000002Z");
    let again = review(&mine, "2026-07-02T00:00:00Z");
    let earlier = review(&theirs, "2026-07-01T00:00:00.000001Z");
    let closed = CertificateReview {
        resolved_at: Some(t("2026-06-15T00:00:00Z")),
        ..review(&mine, "2026-06-01T00:00:00Z")
    };
    let later = certificate("JMA-2029-000001", d, 2026, 2028);
    let mut tx = s.write().await.unwrap();
    assert!(tx.open_certificate_review(&first).await.unwrap());
    assert!(!tx.open_certificate_review(&again).await.unwrap());
    // the transaction goes on: more writes after the refusal, then commit
    assert!(tx.open_certificate_review(&earlier).await.unwrap());
    assert!(tx.open_certificate_review(&closed).await.unwrap());
    tx.insert_certificates(std::slice::from_ref(&later))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.open_certificate_reviews(10).await.unwrap(),
        [earlier.clone(), first.clone()]
    );
    assert_eq!(tx.open_certificate_reviews(1).await.unwrap(), [earlier]);
    assert_eq!(
        tx.certificate_by_number(&later.number).await.unwrap(),
        Some(later.clone())
    );
    // still refused in a later transaction
    assert!(
        !tx.open_certificate_review(&review(&mine, "2026-08-01T00:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        tx.open_certificate_review(&review(&later, "2026-08-01T00:00:00Z"))
            .await
            .unwrap()
    );
    assert_eq!(tx.open_certificate_reviews(10).await.unwrap().len(), 3);
    tx.rollback().await.unwrap();

    let unknown = CertificateRecord {
        id: Uuid::new_v4(),
        ..mine
    };
    let mut tx = s.write().await.unwrap();
    let err = tx
        .open_certificate_review(&review(&unknown, "2026-08-01T00:00:00Z"))
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("foreign_key"), "{err:?}");
    tx.rollback().await.unwrap();
}

/// `doctors` sample doctors and `per_doctor` entries of each, doctor after doctor with dates
/// spread over fiscal years 2016–2025: input for the backends' timings of the bulk insert.
pub fn bulk_ledger(doctors: u32, per_doctor: u32) -> (Vec<crate::Doctor>, Vec<LedgerEntry>) {
    let ds: Vec<_> = (0..doctors).map(sample_doctor).collect();
    let first = day("2016-04-01");
    let entries = ds
        .iter()
        .flat_map(|d| {
            (0..per_doctor).map(move |i| {
                let date = first + Duration::days(i64::from(i * 37 % 3_650));
                LedgerEntry {
                    fiscal_year: FiscalYear::of_date(date),
                    date,
                    code: u16::try_from(i % 84).unwrap(),
                    ..sample_entry(d.id, &format!("bulk:{}:{i}", d.id))
                }
            })
        })
        .collect();
    (ds, entries)
}

fn training_session(id: u8, organiser: Organiser, start: &str) -> TrainingSession {
    let start = t(start);
    TrainingSession {
        id: ordered_id(id),
        organiser,
        title: format!("第{id}回 生涯教育講座"),
        venue: training::Venue::Hybrid("県医師会館 大ホール".into()),
        start,
        end: start + Duration::hours(3),
        expected_headcount: Some(120),
        created_at: t("2026-04-01T00:00:00.000001Z"),
        approval: None,
        closed_at: None,
        desk_scan_only: false,
        grace_minutes: 5,
    }
}

async fn training_organisation<S: Store>(s: &S, prefecture: &str) -> Uuid {
    let o = Organisation {
        id: Uuid::new_v4(),
        name: "日本内科学会".into(),
        prefecture: code(prefecture),
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_organisation(&o, t("2026-04-01T00:00:00Z"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    o.id
}

/// Sessions read back field for field, an organiser's latest first and paged; outside
/// organisations' sessions queue for their prefecture until approved once, with a unique number;
/// a session closes once.
pub async fn training_sessions_approve_and_close_once<S: Store>(s: S) {
    let org = training_organisation(&s, "P13").await;
    let elsewhere = training_organisation(&s, "P27").await;
    let own = Organiser::Association(code("P13"));
    let a1 = TrainingSession {
        venue: training::Venue::Online,
        expected_headcount: None,
        ..training_session(1, own.clone(), "2026-06-01T09:00:00Z")
    };
    let a2 = training_session(2, own.clone(), "2026-07-01T09:00:00Z");
    let o1 = training_session(3, Organiser::Organisation(org), "2026-06-15T09:00:00Z");
    let o2 = TrainingSession {
        venue: training::Venue::InPerson("ホテル".into()),
        ..training_session(4, Organiser::Organisation(org), "2026-06-10T09:00:00Z")
    };
    let far = training_session(
        5,
        Organiser::Organisation(elsewhere),
        "2026-06-10T09:00:00Z",
    );
    let mut tx = s.write().await.unwrap();
    for x in [&a1, &a2, &o1, &o2, &far] {
        tx.insert_training_session(x).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.training_session(a1.id).await.unwrap(), Some(a1.clone()));
    assert_eq!(tx.training_session(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        tx.training_sessions_of(&own, 10, 0).await.unwrap(),
        [a2.clone(), a1.clone()]
    );
    assert_eq!(
        tx.training_sessions_of(&own, 1, 1).await.unwrap(),
        std::slice::from_ref(&a1)
    );
    assert_eq!(
        tx.training_sessions_of(&Organiser::Organisation(org), 10, 0)
            .await
            .unwrap(),
        [o1.clone(), o2.clone()]
    );
    assert_eq!(
        tx.sessions_awaiting_approval(&code("P13")).await.unwrap(),
        [o2.clone(), o1.clone()]
    );

    let approval = SessionApproval {
        number: "東医承第2026-0001号".into(),
        at: t("2026-05-01T10:00:00.123456Z"),
        by: "account:staff".into(),
    };
    assert!(tx.approve_training_session(o2.id, &approval).await.unwrap());
    assert!(!tx.approve_training_session(o2.id, &approval).await.unwrap());
    // an association's own session needs no approval and takes none
    assert!(!tx.approve_training_session(a1.id, &approval).await.unwrap());
    assert_eq!(
        tx.sessions_awaiting_approval(&code("P13")).await.unwrap(),
        std::slice::from_ref(&o1)
    );
    assert_eq!(
        tx.training_session(o2.id).await.unwrap().unwrap().approval,
        Some(approval.clone())
    );
    let closed = t("2026-06-10T12:00:00Z");
    assert!(tx.close_training_session(o2.id, closed).await.unwrap());
    assert!(!tx.close_training_session(o2.id, closed).await.unwrap());
    assert!(
        !tx.close_training_session(Uuid::new_v4(), closed)
            .await
            .unwrap()
    );
    assert_eq!(
        tx.training_session(o2.id).await.unwrap().unwrap().closed_at,
        Some(closed)
    );
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let err = tx
        .approve_training_session(o1.id, &approval)
        .await
        .unwrap_err();
    assert!(
        err.is_conflict_on("training_sessions_approval_number_key"),
        "{err:?}"
    );
    tx.rollback().await.unwrap();
    let mut tx = s.write().await.unwrap();
    let err = tx.insert_training_session(&a1).await.unwrap_err();
    assert!(err.is_conflict_on("training_sessions_pkey"), "{err:?}");
    tx.rollback().await.unwrap();
    let mut tx = s.write().await.unwrap();
    let unknown = training_session(
        6,
        Organiser::Organisation(Uuid::new_v4()),
        "2026-06-01T09:00:00Z",
    );
    let err = tx.insert_training_session(&unknown).await.unwrap_err();
    assert!(err.is_conflict_on("foreign_key"), "{err:?}");
    tx.rollback().await.unwrap();
}

fn stored_item(n: u8, start: &str, minutes: u32, kind: training::ItemKind) -> StoredItem {
    StoredItem {
        id: ordered_id(100 + n),
        title: format!("演題 {n}"),
        start: t(start),
        minutes,
        kind,
        catalogue_version: CURRENT_VERSION.into(),
    }
}

/// A programme reads back in the order given, split parts included; replacing it replaces it
/// whole; a closed session's programme no longer changes; unknown codes are refused.
pub async fn programme_items_are_replaced_until_closed<S: Store>(s: S) {
    let session = training_session(
        1,
        Organiser::Association(code("P13")),
        "2026-06-01T09:00:00Z",
    );
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&session).await.unwrap();
    tx.commit().await.unwrap();

    let split = training::ItemKind::Credit {
        parts: vec![
            training::CodePart {
                code: 76,
                minutes: 60,
            },
            training::CodePart {
                code: 75,
                minutes: 30,
            },
        ],
    };
    let first = vec![
        stored_item(
            2,
            "2026-06-01T09:00:00Z",
            10,
            training::ItemKind::NonCredit(training::NonCreditKind::Greeting),
        ),
        stored_item(1, "2026-06-01T09:10:00Z", 90, split),
        stored_item(
            3,
            "2026-06-01T10:40:00Z",
            60,
            training::ItemKind::single(1, 60),
        ),
    ];
    let mut tx = s.write().await.unwrap();
    assert!(
        tx.replace_programme_items(session.id, &first)
            .await
            .unwrap()
    );
    assert_eq!(tx.programme_items(session.id).await.unwrap(), first);
    let second = vec![first[2].clone(), first[0].clone()];
    assert!(
        tx.replace_programme_items(session.id, &second)
            .await
            .unwrap()
    );
    assert_eq!(tx.programme_items(session.id).await.unwrap(), second);
    assert!(
        !tx.replace_programme_items(Uuid::new_v4(), &first)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let bad = vec![stored_item(
        4,
        "2026-06-01T09:00:00Z",
        30,
        training::ItemKind::single(9999, 30),
    )];
    let err = tx
        .replace_programme_items(session.id, &bad)
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("foreign_key"), "{err:?}");
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert!(
        tx.close_training_session(session.id, t("2026-06-01T12:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        !tx.replace_programme_items(session.id, &first)
            .await
            .unwrap()
    );
    assert_eq!(tx.programme_items(session.id).await.unwrap(), second);
    tx.commit().await.unwrap();
}

fn presence(id: u8, session: Uuid, subject: PresenceSubject, in_at: &str) -> PresenceRow {
    PresenceRow {
        id: ordered_id(id),
        session,
        subject,
        in_at: t(in_at),
        out_at: None,
        left_at_end: false,
        channel: PresenceChannel::VenueQr,
        device: Some("phone-1".into()),
        client_addr: Some("203.0.113.7".into()),
        created_at: t(in_at),
        removed_at: None,
    }
}

/// One open interval per session and subject (`presence_open_key`), whatever the channel; once
/// closed, a new one may open; removed rows are kept but not listed; the list is ordered by
/// subject (doctors, then pending numbers) and arrival.
pub async fn presence_opens_once_per_subject<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let (d1, d2) = (ids[0], ids[1]);
    let session = training_session(
        1,
        Organiser::Association(code("P13")),
        "2026-06-01T09:00:00Z",
    );
    let other = training_session(
        2,
        Organiser::Association(code("P13")),
        "2026-06-01T09:00:00Z",
    );
    let iseki = IsekiNumber::parse("654321").unwrap();
    let pending = PendingAttendance {
        id: Uuid::new_v4(),
        session: session.id,
        iseki: iseki.clone(),
        family_kana: Some("スズキ".into()),
        given_kana: Some("ハナコ".into()),
        birth_date: Some(day("1985-01-02")),
        created_at: t("2026-06-01T09:03:00Z"),
        credited: None,
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&session).await.unwrap();
    tx.insert_training_session(&other).await.unwrap();
    tx.commit().await.unwrap();

    let doc = PresenceSubject::Doctor;
    let p1 = presence(1, session.id, doc(d2), "2026-06-01T09:01:00.000001Z");
    let p2 = presence(2, session.id, doc(d1), "2026-06-01T09:02:00Z");
    let pp = PresenceRow {
        channel: PresenceChannel::Desk,
        device: None,
        client_addr: None,
        ..presence(
            3,
            session.id,
            PresenceSubject::Pending(iseki.clone()),
            "2026-06-01T09:03:00Z",
        )
    };
    let mut tx = s.write().await.unwrap();
    // a pending subject needs its attendance row first
    let err = tx.insert_presence(&pp).await.unwrap_err();
    assert!(err.is_conflict_on("foreign_key"), "{err:?}");
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert!(tx.insert_pending_attendance(&pending).await.unwrap());
    for p in [&p1, &p2, &pp] {
        tx.insert_presence(p).await.unwrap();
    }
    // the same doctor open at another session is fine
    tx.insert_presence(&presence(4, other.id, doc(d1), "2026-06-01T09:00:00Z"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for second in [
        PresenceRow {
            channel: PresenceChannel::PersonalQr,
            ..presence(5, session.id, doc(d1), "2026-06-01T09:05:00Z")
        },
        presence(
            6,
            session.id,
            PresenceSubject::Pending(iseki.clone()),
            "2026-06-01T09:06:00Z",
        ),
    ] {
        let mut tx = s.write().await.unwrap();
        let err = tx.insert_presence(&second).await.unwrap_err();
        assert!(err.is_conflict_on("presence_open_key"), "{err:?}");
        tx.rollback().await.unwrap();
    }

    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.open_presence(session.id, &doc(d1)).await.unwrap(),
        Some(p2.clone())
    );
    assert_eq!(
        tx.open_presence(session.id, &PresenceSubject::Pending(iseki.clone()))
            .await
            .unwrap(),
        Some(pp.clone())
    );
    // out before in is refused, and changes nothing
    assert!(
        !tx.set_presence_out(p2.id, t("2026-06-01T09:00:00Z"), false)
            .await
            .unwrap()
    );
    let out = t("2026-06-01T10:00:00.5Z");
    assert!(tx.set_presence_out(p2.id, out, false).await.unwrap());
    assert!(!tx.set_presence_out(p2.id, out, true).await.unwrap());
    assert_eq!(tx.open_presence(session.id, &doc(d1)).await.unwrap(), None);
    let again = presence(7, session.id, doc(d1), "2026-06-01T10:30:00Z");
    tx.insert_presence(&again).await.unwrap();
    assert!(
        tx.set_presence_out(again.id, t("2026-06-01T12:00:00Z"), true)
            .await
            .unwrap()
    );
    let at = t("2026-06-02T00:00:00Z");
    assert!(tx.remove_presence(p1.id, at).await.unwrap());
    assert!(!tx.remove_presence(p1.id, at).await.unwrap());
    assert!(!tx.set_presence_out(p1.id, out, false).await.unwrap());
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let closed = PresenceRow {
        out_at: Some(out),
        ..p2.clone()
    };
    let ended = PresenceRow {
        out_at: Some(t("2026-06-01T12:00:00Z")),
        left_at_end: true,
        ..again.clone()
    };
    // doctors by id (d1 < d2; d2's only row is removed), then pending numbers
    assert_eq!(
        tx.presence_of(session.id).await.unwrap(),
        [closed, ended, pp.clone()]
    );
    // a removed open interval no longer blocks a new one
    assert_eq!(tx.open_presence(session.id, &doc(d2)).await.unwrap(), None);
    tx.rollback().await.unwrap();
    let mut tx = s.write().await.unwrap();
    tx.insert_presence(&presence(8, session.id, doc(d2), "2026-06-01T11:00:00Z"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Pending attendance is kept once per session and number, listed by number until credited,
/// and credited once.
pub async fn pending_attendance_is_credited_once<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1]).await;
    let own = Organiser::Association(code("P13"));
    let s1 = training_session(1, own.clone(), "2026-06-01T09:00:00Z");
    let s2 = training_session(2, own, "2026-07-01T09:00:00Z");
    let iseki = IsekiNumber::parse("654321").unwrap();
    let pending = |session: Uuid, at: &str| PendingAttendance {
        id: Uuid::new_v4(),
        session,
        iseki: iseki.clone(),
        family_kana: None,
        given_kana: None,
        birth_date: None,
        created_at: t(at),
        credited: None,
    };
    let later = pending(s2.id, "2026-07-01T09:00:00Z");
    let first = PendingAttendance {
        family_kana: Some("スズキ".into()),
        birth_date: Some(day("1985-01-02")),
        ..pending(s1.id, "2026-06-01T09:00:00Z")
    };
    let other = PendingAttendance {
        iseki: IsekiNumber::parse("7").unwrap(),
        ..pending(s1.id, "2026-06-01T09:00:00Z")
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&s1).await.unwrap();
    tx.insert_training_session(&s2).await.unwrap();
    assert!(tx.insert_pending_attendance(&later).await.unwrap());
    assert!(tx.insert_pending_attendance(&first).await.unwrap());
    assert!(tx.insert_pending_attendance(&other).await.unwrap());
    // a second capture of the same number keeps the first details
    assert!(
        !tx.insert_pending_attendance(&pending(s1.id, "2026-06-01T10:00:00Z"))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.pending_for_iseki(&iseki).await.unwrap(),
        [first.clone(), later.clone()]
    );
    let at = t("2026-08-01T00:00:00.000001Z");
    assert_eq!(
        tx.mark_pending_credited(&[first.id, later.id], ids[0], at)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        tx.mark_pending_credited(&[first.id], ids[0], at)
            .await
            .unwrap(),
        0
    );
    assert!(tx.pending_for_iseki(&iseki).await.unwrap().is_empty());
    assert_eq!(
        tx.pending_for_iseki(&other.iseki).await.unwrap(),
        std::slice::from_ref(&other)
    );
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let err = tx
        .mark_pending_credited(&[other.id], Uuid::new_v4(), at)
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("foreign_key"), "{err:?}");
    tx.rollback().await.unwrap();
}

/// The capture options read back as written, from every read of a session; a grace period
/// beyond 30 minutes is refused by the schema.
pub async fn training_session_options_round_trip<S: Store>(s: S) {
    let org = training_organisation(&s, "P13").await;
    let own = Organiser::Association(code("P13"));
    let strict = TrainingSession {
        desk_scan_only: true,
        grace_minutes: 0,
        ..training_session(1, own.clone(), "2026-06-01T09:00:00Z")
    };
    let lenient = TrainingSession {
        grace_minutes: 30,
        ..training_session(2, own.clone(), "2026-07-01T09:00:00Z")
    };
    let outside = TrainingSession {
        desk_scan_only: true,
        grace_minutes: 30,
        ..training_session(3, Organiser::Organisation(org), "2026-06-15T09:00:00Z")
    };
    let mut tx = s.write().await.unwrap();
    for x in [&strict, &lenient, &outside] {
        tx.insert_training_session(x).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    for x in [&strict, &lenient, &outside] {
        assert_eq!(tx.training_session(x.id).await.unwrap().as_ref(), Some(x));
    }
    assert_eq!(
        tx.training_sessions_of(&own, 10, 0).await.unwrap(),
        [lenient.clone(), strict.clone()]
    );
    assert_eq!(
        tx.sessions_awaiting_approval(&code("P13")).await.unwrap(),
        std::slice::from_ref(&outside)
    );
    assert_eq!(
        tx.training_sessions_by_ids(&[outside.id, strict.id])
            .await
            .unwrap(),
        [strict.clone(), outside.clone()]
    );
    tx.rollback().await.unwrap();

    let mut tx = s.write().await.unwrap();
    let too_lenient = TrainingSession {
        grace_minutes: 31,
        ..training_session(4, own, "2026-08-01T09:00:00Z")
    };
    assert!(tx.insert_training_session(&too_lenient).await.is_err());
    tx.rollback().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.training_session(too_lenient.id).await.unwrap(), None);
    tx.rollback().await.unwrap();
}

/// Sessions by id come back once each, by start then id, whatever the order and repeats of the
/// ids asked for; unknown ids are skipped, also among more ids than one statement binds.
pub async fn training_sessions_by_ids_in_start_order<S: Store>(s: S) {
    let own = Organiser::Association(code("P13"));
    let late = training_session(1, own.clone(), "2026-07-01T09:00:00Z");
    let tie_b = training_session(3, own.clone(), "2026-06-01T09:00:00Z");
    let tie_a = training_session(2, own.clone(), "2026-06-01T09:00:00Z");
    let early = training_session(4, own.clone(), "2026-05-01T09:00:00Z");
    let unasked = training_session(5, own, "2026-04-01T09:00:00Z");
    let mut tx = s.write().await.unwrap();
    for x in [&late, &tie_b, &tie_a, &early, &unasked] {
        tx.insert_training_session(x).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert!(tx.training_sessions_by_ids(&[]).await.unwrap().is_empty());
    assert!(
        tx.training_sessions_by_ids(&[Uuid::new_v4()])
            .await
            .unwrap()
            .is_empty()
    );
    let expected = [early.clone(), tie_a.clone(), tie_b.clone(), late.clone()];
    assert_eq!(
        tx.training_sessions_by_ids(&[late.id, tie_b.id, early.id, tie_a.id, late.id])
            .await
            .unwrap(),
        expected
    );
    // well past one statement's worth of ids, the known ones spread among them
    let mut many: Vec<Uuid> = (0..1_200).map(|_| Uuid::new_v4()).collect();
    many.insert(0, late.id);
    many.insert(400, tie_a.id);
    many.insert(800, early.id);
    many.push(tie_b.id);
    many.push(early.id);
    assert_eq!(tx.training_sessions_by_ids(&many).await.unwrap(), expected);
    tx.rollback().await.unwrap();
}

/// A doctor's presence across sessions: their own rows and those of their number captured
/// while pending, by arrival then id; removed rows, other doctors and other numbers are left
/// out.
pub async fn presence_of_doctor_spans_sessions_and_pending<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let (d1, d2) = (ids[0], ids[1]);
    let own = Organiser::Association(code("P13"));
    let s1 = training_session(1, own.clone(), "2026-06-01T09:00:00Z");
    let s2 = training_session(2, own.clone(), "2026-07-01T09:00:00Z");
    let s3 = training_session(3, own, "2026-08-01T09:00:00Z");
    let mine = IsekiNumber::parse("654321").unwrap();
    let theirs = IsekiNumber::parse("7").unwrap();
    let pending = |session: Uuid, iseki: &IsekiNumber| PendingAttendance {
        id: Uuid::new_v4(),
        session,
        iseki: iseki.clone(),
        family_kana: None,
        given_kana: None,
        birth_date: None,
        created_at: t("2026-06-01T09:00:00Z"),
        credited: None,
    };
    let doc = PresenceSubject::Doctor;
    let as_pending = PresenceSubject::Pending(mine.clone());
    // in arrival order: captured pending at s1, then as a doctor at s2 (two rows at one
    // instant, ordered by id) and s3
    let p_pending = PresenceRow {
        out_at: Some(t("2026-06-01T10:00:00Z")),
        channel: PresenceChannel::Desk,
        ..presence(9, s1.id, as_pending.clone(), "2026-06-01T09:05:00Z")
    };
    let p_tie_a = PresenceRow {
        out_at: Some(t("2026-07-01T09:30:00Z")),
        ..presence(4, s2.id, doc(d1), "2026-07-01T09:00:00Z")
    };
    let p_tie_b = presence(6, s2.id, doc(d1), "2026-07-01T09:00:00Z");
    let p_later = presence(2, s3.id, doc(d1), "2026-08-01T09:00:00.000001Z");
    let removed = presence(1, s1.id, doc(d1), "2026-06-01T09:00:00Z");
    let mut tx = s.write().await.unwrap();
    for x in [&s1, &s2, &s3] {
        tx.insert_training_session(x).await.unwrap();
    }
    assert!(
        tx.insert_pending_attendance(&pending(s1.id, &mine))
            .await
            .unwrap()
    );
    assert!(
        tx.insert_pending_attendance(&pending(s1.id, &theirs))
            .await
            .unwrap()
    );
    for p in [&p_later, &p_tie_b, &removed, &p_pending, &p_tie_a] {
        tx.insert_presence(p).await.unwrap();
    }
    // other subjects at the same sessions
    tx.insert_presence(&presence(3, s2.id, doc(d2), "2026-07-01T08:00:00Z"))
        .await
        .unwrap();
    tx.insert_presence(&presence(
        5,
        s1.id,
        PresenceSubject::Pending(theirs.clone()),
        "2026-06-01T08:00:00Z",
    ))
    .await
    .unwrap();
    assert!(
        tx.remove_presence(removed.id, t("2026-06-02T00:00:00Z"))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.presence_of_doctor(d1, &mine).await.unwrap(),
        [p_pending.clone(), p_tie_a, p_tie_b, p_later]
    );
    // the number alone finds the pending rows; a doctor without rows finds nothing
    assert_eq!(
        tx.presence_of_doctor(Uuid::new_v4(), &mine).await.unwrap(),
        [p_pending]
    );
    assert!(
        tx.presence_of_doctor(Uuid::new_v4(), &IsekiNumber::parse("1").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    tx.rollback().await.unwrap();
}

/// The live count: open rows of the session only, not removed, falling as intervals close.
pub async fn open_presence_count_follows_departures<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2, 3]).await;
    let own = Organiser::Association(code("P13"));
    let session = training_session(1, own.clone(), "2026-06-01T09:00:00Z");
    let other = training_session(2, own, "2026-06-01T09:00:00Z");
    let iseki = IsekiNumber::parse("654321").unwrap();
    let doc = PresenceSubject::Doctor;
    let a = presence(1, session.id, doc(ids[0]), "2026-06-01T09:00:00Z");
    let b = presence(2, session.id, doc(ids[1]), "2026-06-01T09:01:00Z");
    let c = presence(3, session.id, doc(ids[2]), "2026-06-01T09:02:00Z");
    let p = presence(
        4,
        session.id,
        PresenceSubject::Pending(iseki.clone()),
        "2026-06-01T09:03:00Z",
    );
    let left = PresenceRow {
        out_at: Some(t("2026-06-01T09:30:00Z")),
        ..presence(5, session.id, doc(ids[0]), "2026-06-01T08:50:00Z")
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&session).await.unwrap();
    tx.insert_training_session(&other).await.unwrap();
    assert_eq!(tx.open_presence_count(session.id).await.unwrap(), 0);
    assert!(
        tx.insert_pending_attendance(&PendingAttendance {
            id: Uuid::new_v4(),
            session: session.id,
            iseki,
            family_kana: None,
            given_kana: None,
            birth_date: None,
            created_at: t("2026-06-01T09:03:00Z"),
            credited: None,
        })
        .await
        .unwrap()
    );
    for x in [&a, &b, &c, &p, &left] {
        tx.insert_presence(x).await.unwrap();
    }
    tx.insert_presence(&presence(6, other.id, doc(ids[0]), "2026-06-01T09:00:00Z"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.open_presence_count(session.id).await.unwrap(), 4);
    assert_eq!(tx.open_presence_count(other.id).await.unwrap(), 1);
    assert!(
        tx.set_presence_out(a.id, t("2026-06-01T10:00:00Z"), false)
            .await
            .unwrap()
    );
    assert_eq!(tx.open_presence_count(session.id).await.unwrap(), 3);
    assert!(
        tx.remove_presence(b.id, t("2026-06-01T10:00:00Z"))
            .await
            .unwrap()
    );
    assert_eq!(tx.open_presence_count(session.id).await.unwrap(), 2);
    assert!(
        tx.set_presence_out(p.id, t("2026-06-01T12:00:00Z"), true)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.open_presence_count(session.id).await.unwrap(), 1);
    assert_eq!(tx.open_presence_count(other.id).await.unwrap(), 1);
    assert_eq!(tx.open_presence_count(Uuid::new_v4()).await.unwrap(), 0);
    tx.rollback().await.unwrap();
}

/// A session's pending attendances, credited ones included, by number (as text) with their
/// details; other sessions' are left out.
pub async fn pending_of_session_lists_every_number<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1]).await;
    let own = Organiser::Association(code("P13"));
    let s1 = training_session(1, own.clone(), "2026-06-01T09:00:00Z");
    let s2 = training_session(2, own, "2026-07-01T09:00:00Z");
    let pending = |session: Uuid, iseki: &str, at: &str| PendingAttendance {
        id: Uuid::new_v4(),
        session,
        iseki: IsekiNumber::parse(iseki).unwrap(),
        family_kana: Some("スズキ".into()),
        given_kana: Some("ハナコ".into()),
        birth_date: Some(day("1985-01-02")),
        created_at: t(at),
        credited: None,
    };
    let seven = pending(s1.id, "7", "2026-06-01T09:00:00Z");
    let big = PendingAttendance {
        given_kana: None,
        birth_date: None,
        ..pending(s1.id, "654321", "2026-06-01T09:01:00Z")
    };
    let hundred = pending(s1.id, "100", "2026-06-01T09:02:00.000001Z");
    let elsewhere = pending(s2.id, "5", "2026-07-01T09:00:00Z");
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&s1).await.unwrap();
    tx.insert_training_session(&s2).await.unwrap();
    assert!(tx.pending_of_session(s1.id).await.unwrap().is_empty());
    for p in [&seven, &big, &hundred, &elsewhere] {
        assert!(tx.insert_pending_attendance(p).await.unwrap());
    }
    let at = t("2026-08-01T00:00:00.000001Z");
    assert_eq!(
        tx.mark_pending_credited(&[big.id], ids[0], at)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let credited = PendingAttendance {
        credited: Some((ids[0], at)),
        ..big
    };
    assert_eq!(
        tx.pending_of_session(s1.id).await.unwrap(),
        [hundred, credited, seven]
    );
    assert_eq!(tx.pending_of_session(s2.id).await.unwrap(), [elsewhere]);
    assert!(
        tx.pending_of_session(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
    tx.rollback().await.unwrap();
}

/// An organisation is read back by id; an unknown id is `None`.
pub async fn organisation_is_found_by_id<S: Store>(s: S) {
    let o = Organisation {
        id: Uuid::new_v4(),
        name: "日本外科学会".into(),
        prefecture: code("P27"),
    };
    let mut tx = s.write().await.unwrap();
    tx.insert_organisation(&o, t("2026-04-01T00:00:00Z"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.organisation(o.id).await.unwrap(), Some(o));
    assert_eq!(tx.organisation(Uuid::new_v4()).await.unwrap(), None);
    tx.rollback().await.unwrap();
}

/// Doctors named by id come back once each, in id order, unknown ids skipped; long lists whole.
pub async fn doctors_are_read_by_ids_in_one_call<S: Store>(s: S) {
    let doctors: Vec<_> = (1..=700).map(sample_doctor).collect();
    let mut tx = s.write().await.unwrap();
    tx.insert_doctors(&doctors).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert!(tx.doctors_by_ids(&[]).await.unwrap().is_empty());
    let mut ask: Vec<Uuid> = doctors.iter().rev().map(|d| d.id).collect();
    ask.push(doctors[3].id);
    ask.push(Uuid::from_u128(0xDEAD_BEEF));
    let got = tx.doctors_by_ids(&ask).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(got.len(), 700);
    assert_eq!(got, doctors, "field for field, in id order");
}

/// Register entries of the numbers given (unknown ones and repeats dropped), by number as
/// text, each with its verified account only; long lists are resolved whole.
pub async fn register_matches_resolve_numbers_with_verified_accounts<S: Store>(s: S) {
    let now = t("2026-04-01T00:00:00Z");
    let mut doctors: Vec<_> = (1..=1200).map(sample_doctor).collect();
    // "99" sorts after "101200" as text, as IsekiNumber orders
    let short = crate::Doctor {
        id: Uuid::from_u128(0x9999),
        iseki: IsekiNumber::parse("99").unwrap(),
        contact_email: None,
        ..sample_doctor(9999)
    };
    doctors.push(short.clone());
    let account = |n: u128, doctor: Uuid, v: Verification| Account {
        doctor_id: Some(doctor),
        verification: v,
        ..Account::new(
            Uuid::from_u128(0x2000 + n),
            &format!("match{n}@example.jp"),
            "",
            AccountKind::Doctor,
            now,
        )
    };
    let verified = account(1, doctors[0].id, Verification::Verified);
    let mut tx = s.write().await.unwrap();
    tx.insert_doctors(&doctors).await.unwrap();
    tx.insert_account(&verified).await.unwrap();
    // a second, unverified claim on the same doctor neither shows nor doubles the match
    tx.insert_account(&account(2, doctors[0].id, Verification::Review))
        .await
        .unwrap();
    tx.insert_account(&account(3, doctors[1].id, Verification::Review))
        .await
        .unwrap();
    tx.insert_account(&account(4, short.id, Verification::Unverified))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let number = |s: &str| IsekiNumber::parse(s).unwrap();
    let mut tx = s.read().await.unwrap();
    assert!(tx.register_matches(&[]).await.unwrap().is_empty());
    let found = tx
        .register_matches(&[
            number("100003"),
            number("5555555"),
            number("99"),
            number("100001"),
            number("100002"),
            number("100001"),
        ])
        .await
        .unwrap();
    let expected = vec![
        RegisterMatch {
            doctor: doctors[0].clone(),
            verified_account: Some(verified.id),
        },
        RegisterMatch {
            doctor: doctors[1].clone(),
            verified_account: None,
        },
        RegisterMatch {
            doctor: doctors[2].clone(),
            verified_account: None,
        },
        RegisterMatch {
            doctor: short.clone(),
            verified_account: None,
        },
    ];
    assert_eq!(found, expected);

    // 1,200 known numbers plus unknown ones, in reverse: every chunk is resolved and merged
    let mut numbers: Vec<IsekiNumber> = doctors[..1200].iter().map(|d| d.iseki.clone()).collect();
    numbers.extend((1..=300).map(|n| number(&(2_000_000 + n).to_string())));
    numbers.reverse();
    let found = tx.register_matches(&numbers).await.unwrap();
    assert_eq!(found.len(), 1200);
    assert_eq!(
        found.iter().map(|m| m.doctor.clone()).collect::<Vec<_>>(),
        doctors[..1200]
    );
    assert_eq!(found[0].verified_account, Some(verified.id));
    assert!(found[1..].iter().all(|m| m.verified_account.is_none()));
    tx.rollback().await.unwrap();
}

/// A closed or open interval of `subject`, numbered `n` in a bulk test.
fn bulk_presence(
    n: u128,
    session: Uuid,
    subject: PresenceSubject,
    in_at: Timestamp,
    open: bool,
) -> PresenceRow {
    PresenceRow {
        id: Uuid::from_u128((n << 64) | 0xb01c),
        session,
        subject,
        in_at,
        out_at: (!open).then(|| in_at + Duration::seconds(61)),
        left_at_end: false,
        channel: if n.is_multiple_of(2) {
            PresenceChannel::List
        } else {
            PresenceChannel::Desk
        },
        device: n.is_multiple_of(3).then(|| format!("desk-{n}")),
        client_addr: None,
        created_at: in_at + Duration::microseconds(1),
        removed_at: None,
    }
}

/// Thousands of intervals go in with one call and read back field for field; a batch that
/// would open a second interval for a subject, or name a pending number without its
/// attendance, fails as [`TrainingStore::insert_presence`] does.
pub async fn presences_are_inserted_in_bulk<S: Store>(s: S) {
    let doctors = ledger_doctors(&s, &(1..=40).collect::<Vec<_>>()).await;
    let session = training_session(
        1,
        Organiser::Association(code("P13")),
        "2026-06-01T09:00:00Z",
    );
    let numbers: Vec<IsekiNumber> = (1..=5)
        .map(|n| IsekiNumber::parse(&(700 + n).to_string()).unwrap())
        .collect();
    let pending: Vec<PendingAttendance> = numbers
        .iter()
        .map(|iseki| PendingAttendance {
            id: Uuid::new_v4(),
            session: session.id,
            iseki: iseki.clone(),
            family_kana: None,
            given_kana: None,
            birth_date: None,
            created_at: t("2026-06-01T09:00:00Z"),
            credited: None,
        })
        .collect();
    let mut subjects: Vec<(PresenceSubject, u32)> = doctors
        .iter()
        .map(|d| (PresenceSubject::Doctor(*d), 50))
        .collect();
    subjects.extend(
        numbers
            .iter()
            .map(|i| (PresenceSubject::Pending(i.clone()), 100)),
    );
    let start = t("2026-06-01T09:00:00.000001Z");
    let mut rows = Vec::new();
    for (subject, count) in &subjects {
        for i in 0..*count {
            let n = rows.len() as u128;
            let in_at = start + Duration::minutes(2 * i64::from(i));
            // each subject's last interval is still open
            rows.push(bulk_presence(
                n,
                session.id,
                subject.clone(),
                in_at,
                i + 1 == *count,
            ));
        }
    }
    assert_eq!(rows.len(), 2500);
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&session).await.unwrap();
    assert_eq!(tx.insert_pending_attendances(&pending).await.unwrap(), 5);
    tx.insert_presences(&[]).await.unwrap();
    tx.insert_presences(&rows).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let mut expected = rows.clone();
    expected.sort_by(|a, b| (&a.subject, a.in_at, a.id).cmp(&(&b.subject, b.in_at, b.id)));
    assert_eq!(tx.presence_of(session.id).await.unwrap(), expected);
    assert_eq!(tx.open_presence_count(session.id).await.unwrap(), 45);
    tx.rollback().await.unwrap();

    let later = t("2026-06-01T12:00:00Z");
    let fresh = bulk_presence(
        9_000,
        session.id,
        PresenceSubject::Doctor(doctors[0]),
        later,
        false,
    );
    // a second open interval of a subject already open
    let mut tx = s.write().await.unwrap();
    let err = tx
        .insert_presences(&[
            fresh.clone(),
            bulk_presence(
                9_001,
                session.id,
                PresenceSubject::Pending(numbers[2].clone()),
                later,
                true,
            ),
        ])
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("presence_open_key"), "{err:?}");
    tx.rollback().await.unwrap();
    // two open intervals of one subject within the batch
    let unseen = ledger_doctors(&s, &[41]).await[0];
    let mut tx = s.write().await.unwrap();
    let err = tx
        .insert_presences(&[
            bulk_presence(
                9_002,
                session.id,
                PresenceSubject::Doctor(unseen),
                later,
                true,
            ),
            bulk_presence(
                9_003,
                session.id,
                PresenceSubject::Doctor(unseen),
                later + Duration::minutes(1),
                true,
            ),
        ])
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("presence_open_key"), "{err:?}");
    tx.rollback().await.unwrap();
    // a pending number without its attendance
    let mut tx = s.write().await.unwrap();
    let err = tx
        .insert_presences(&[
            fresh,
            bulk_presence(
                9_004,
                session.id,
                PresenceSubject::Pending(IsekiNumber::parse("999").unwrap()),
                later,
                true,
            ),
        ])
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("foreign_key"), "{err:?}");
    tx.rollback().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.presence_of(session.id).await.unwrap().len(), 2500);
    tx.rollback().await.unwrap();
}

/// Bulk pending attendance writes each (session, number) once, keeping the first details,
/// and counts only what it wrote.
pub async fn pending_attendances_are_inserted_in_bulk_once<S: Store>(s: S) {
    let own = Organiser::Association(code("P13"));
    let s1 = training_session(1, own.clone(), "2026-06-01T09:00:00Z");
    let s2 = training_session(2, own, "2026-07-01T09:00:00Z");
    let pending = |session: Uuid, iseki: &str, kana: &str| PendingAttendance {
        id: Uuid::new_v4(),
        session,
        iseki: IsekiNumber::parse(iseki).unwrap(),
        family_kana: Some(kana.into()),
        given_kana: None,
        birth_date: Some(day("1985-01-02")),
        created_at: t("2026-06-01T09:00:00.000001Z"),
        credited: None,
    };
    let seven = pending(s1.id, "7", "スズキ");
    let eight = PendingAttendance {
        family_kana: None,
        birth_date: None,
        ..pending(s1.id, "8", "")
    };
    let elsewhere = pending(s2.id, "7", "サトウ");
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&s1).await.unwrap();
    tx.insert_training_session(&s2).await.unwrap();
    assert_eq!(tx.insert_pending_attendances(&[]).await.unwrap(), 0);
    assert_eq!(
        tx.insert_pending_attendances(&[seven.clone(), eight.clone(), elsewhere.clone()])
            .await
            .unwrap(),
        3
    );
    tx.commit().await.unwrap();

    let nine = pending(s1.id, "9", "タカハシ");
    let mut tx = s.write().await.unwrap();
    // the same (session, number) again keeps the first row
    assert_eq!(
        tx.insert_pending_attendances(&[pending(s1.id, "7", "タナカ")])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        tx.insert_pending_attendances(&[pending(s1.id, "8", "タナカ"), nine.clone()])
            .await
            .unwrap(),
        1
    );
    // repeats within one call are written once
    let five = pending(s2.id, "5", "イトウ");
    assert_eq!(
        tx.insert_pending_attendances(&[five.clone(), pending(s2.id, "5", "タナカ")])
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.pending_of_session(s1.id).await.unwrap(),
        [seven, eight, nine]
    );
    assert_eq!(
        tx.pending_of_session(s2.id).await.unwrap(),
        [five, elsewhere]
    );
    tx.rollback().await.unwrap();
}

/// Bulk removal withdraws the rows not yet removed (unknown ids ignored), counts them, and
/// counts nothing twice; removed rows are no longer listed.
pub async fn presences_are_removed_in_bulk<S: Store>(s: S) {
    let d = ledger_doctors(&s, &[1]).await[0];
    let own = Organiser::Association(code("P13"));
    let session = training_session(1, own.clone(), "2026-06-01T09:00:00Z");
    let other = training_session(2, own, "2026-06-01T09:00:00Z");
    let start = t("2026-06-01T09:00:00Z");
    let rows: Vec<PresenceRow> = (0..1200)
        .map(|i| {
            bulk_presence(
                i,
                session.id,
                PresenceSubject::Doctor(d),
                start + Duration::minutes(2 * i64::try_from(i).unwrap()),
                i == 1199,
            )
        })
        .collect();
    let elsewhere = bulk_presence(5_000, other.id, PresenceSubject::Doctor(d), start, true);
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&session).await.unwrap();
    tx.insert_training_session(&other).await.unwrap();
    tx.insert_presences(&rows).await.unwrap();
    tx.insert_presence(&elsewhere).await.unwrap();
    tx.commit().await.unwrap();

    let at = t("2026-06-02T00:00:00.000001Z");
    let mut ids: Vec<Uuid> = rows[..1100].iter().map(|r| r.id).collect();
    ids.extend((0..50).map(|_| Uuid::new_v4()));
    let mut tx = s.write().await.unwrap();
    assert_eq!(tx.remove_presences(&[], at).await.unwrap(), 0);
    assert_eq!(tx.remove_presences(&ids, at).await.unwrap(), 1100);
    assert_eq!(tx.remove_presences(&ids, at).await.unwrap(), 0);
    // only the rows not yet removed count
    assert_eq!(
        tx.remove_presences(&[rows[0].id, rows[1100].id], at)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.presence_of(session.id).await.unwrap(), rows[1101..]);
    assert_eq!(tx.presence_of(other.id).await.unwrap(), [elsewhere]);
    // a removed row still blocks nothing and is not updated again
    assert!(!tx.remove_presence(rows[5].id, at).await.unwrap());
    tx.rollback().await.unwrap();
}

/// Previewed uploads: taken once, only by their uploader for their session, counted per account
/// and per owner oldest first, purged when expired.
pub async fn upload_previews_are_taken_once_by_their_uploader<S: Store>(s: S) {
    let own = Organiser::Association(code("P13"));
    let session = training_session(1, own.clone(), "2026-06-01T09:00:00Z");
    let other_session = training_session(2, own, "2026-06-02T09:00:00Z");
    let now = t("2026-06-01T12:00:00Z");
    let accounts: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    let mut tx = s.write().await.unwrap();
    tx.insert_training_session(&session).await.unwrap();
    tx.insert_training_session(&other_session).await.unwrap();
    for (i, id) in accounts.iter().enumerate() {
        let a = Account::new(
            *id,
            &format!("uploader{i}@example.jp"),
            "",
            AccountKind::Staff,
            now,
        );
        tx.insert_account(&a).await.unwrap();
    }
    let preview = |n: u8, account: Uuid, owner: &str, at: Timestamp| UploadPreview {
        id: ordered_id(n),
        session: session.id,
        account,
        owner: owner.into(),
        // every byte value survives, including NUL and invalid UTF-8
        content: (0..=255u8).chain([n]).collect(),
        created_at: at,
    };
    let first = preview(10, accounts[0], "P13", now);
    let second = preview(11, accounts[0], "P13", now + Duration::seconds(1));
    let theirs = preview(12, accounts[1], "P13", now + Duration::seconds(2));
    let elsewhere = preview(13, accounts[1], "P27", now - Duration::minutes(31));
    for p in [&second, &first, &theirs, &elsewhere] {
        tx.insert_upload_preview(p).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = s.write().await.unwrap();
    assert_eq!(
        tx.upload_previews_of(accounts[0], "P13").await.unwrap(),
        (
            vec![first.id, second.id],
            vec![first.id, second.id, theirs.id]
        )
    );
    // someone else's, or for another session: nothing taken
    assert_eq!(
        tx.take_upload_preview(first.id, session.id, accounts[1])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tx.take_upload_preview(first.id, other_session.id, accounts[0])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tx.take_upload_preview(first.id, session.id, accounts[0])
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        tx.take_upload_preview(first.id, session.id, accounts[0])
            .await
            .unwrap(),
        None,
        "taken once"
    );
    assert!(tx.delete_upload_preview(second.id).await.unwrap());
    assert!(!tx.delete_upload_preview(second.id).await.unwrap());
    assert_eq!(
        tx.purge_upload_previews(now - Duration::minutes(30))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        tx.upload_previews_of(accounts[1], "P27").await.unwrap(),
        (vec![theirs.id], vec![])
    );
    tx.commit().await.unwrap();
}
