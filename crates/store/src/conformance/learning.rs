//! Conformance cases of the learning store (0019): versions kept whole, one quiz answer per
//! doctor and set, e-learning attempts locked after a pass, slide files, and the calendar.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use mamis_domain::*;
use uuid::Uuid;

use super::{ledger_doctors, ordered_id, stored_item, training_organisation, training_session};
use crate::*;

fn t(s: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn version(item: Uuid, v: i32, kind: LearningKind, title: &str) -> LearningVersion {
    let quiz = kind == LearningKind::Quiz;
    LearningVersion {
        item_id: item,
        version: v,
        kind,
        issue: Some("2026-04".into()),
        title: title.into(),
        body: format!("{{\"v\":{v}}}"),
        published_on: (v > 1).then(|| day("2026-04-01")),
        deadline: quiz.then(|| day("2026-04-30")),
        answers_on: quiz.then(|| day("2026-05-15")),
        saved_by: "account:staff".into(),
        saved_at: t("2026-03-01T00:00:00.000001Z") + Duration::seconds(i64::from(v)),
    }
}

/// Every version is kept and read back field for field; the newest is the item; a kind's list
/// holds each item once at its newest version; a version saved twice is refused.
pub async fn learning_versions_are_kept_whole<S: Store>(s: S) {
    let (quiz, article, content) = (ordered_id(1), ordered_id(2), ordered_id(3));
    let q1 = version(quiz, 1, LearningKind::Quiz, "4月号");
    let q2 = version(quiz, 2, LearningKind::Quiz, "4月号（訂正）");
    let a1 = LearningVersion {
        issue: Some("2026-S1".into()),
        ..version(article, 1, LearningKind::Article, "特集")
    };
    let c1 = LearningVersion {
        issue: None,
        ..version(content, 1, LearningKind::Content, "感染対策")
    };
    let mut tx = s.write().await.unwrap();
    for v in [&q1, &q2, &a1, &c1] {
        assert!(tx.insert_learning_version(v).await.unwrap());
    }
    assert!(
        !tx.insert_learning_version(&LearningVersion {
            title: "second editor".into(),
            ..q2.clone()
        })
        .await
        .unwrap(),
        "a version is saved once"
    );
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(tx.learning_item(quiz).await.unwrap(), Some(q2.clone()));
    assert_eq!(
        tx.learning_versions(quiz).await.unwrap(),
        vec![q1.clone(), q2.clone()]
    );
    assert_eq!(
        tx.learning_items(LearningKind::Quiz).await.unwrap(),
        vec![q2]
    );
    assert_eq!(
        tx.learning_items(LearningKind::Article).await.unwrap(),
        vec![a1]
    );
    assert_eq!(
        tx.learning_items(LearningKind::Content).await.unwrap(),
        vec![c1]
    );
    assert_eq!(tx.learning_item(Uuid::new_v4()).await.unwrap(), None);
    tx.rollback().await.unwrap();
}

/// A doctor answers a set once, whichever channel comes second; answers read back per set and
/// per doctor.
pub async fn quiz_answers_once_per_doctor_and_set<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let (set, other_set) = (ordered_id(1), ordered_id(2));
    let web = QuizAnswerRow {
        set_id: set,
        doctor_id: ids[0],
        channel: AnswerChannel::Web,
        answers: "[[0],[1,2]]".into(),
        answered_on: day("2026-04-10"),
        recorded_by: "account:x".into(),
        recorded_at: t("2026-04-10T01:00:00.000001Z"),
    };
    let card = QuizAnswerRow {
        channel: AnswerChannel::Postcard,
        answers: "[[1],[2]]".into(),
        recorded_by: "import:y".into(),
        ..web.clone()
    };
    let second = QuizAnswerRow {
        doctor_id: ids[1],
        ..card.clone()
    };
    let elsewhere = QuizAnswerRow {
        set_id: other_set,
        ..web.clone()
    };
    let mut tx = s.write().await.unwrap();
    assert!(tx.insert_quiz_answer(&web).await.unwrap());
    assert!(!tx.insert_quiz_answer(&card).await.unwrap(), "one channel");
    assert!(tx.insert_quiz_answer(&second).await.unwrap());
    assert!(tx.insert_quiz_answer(&elsewhere).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    let mut want = vec![web.clone(), second];
    want.sort_by_key(|a| a.doctor_id);
    assert_eq!(tx.quiz_answers_of_set(set).await.unwrap(), want);
    let mut mine = vec![web, elsewhere];
    mine.sort_by_key(|a| a.set_id);
    assert_eq!(tx.quiz_answers_of_doctor(ids[0]).await.unwrap(), mine);
    tx.rollback().await.unwrap();
}

/// Failing attempts are kept as many times as taken; the first pass is kept and a second pass
/// of the same content by the same doctor is refused (the content is locked).
pub async fn attempts_lock_a_passed_content<S: Store>(s: S) {
    let ids = ledger_doctors(&s, &[1, 2]).await;
    let content = ordered_id(3);
    let attempt = |n: u8, doctor: Uuid, correct: u32, passed: bool| AttemptRow {
        id: ordered_id(10 + n),
        content_id: content,
        version: 1,
        doctor_id: doctor,
        correct,
        total: 10,
        passed,
        answered_on: day("2026-04-10"),
        at: t("2026-04-10T01:00:00.000001Z") + Duration::minutes(i64::from(n)),
    };
    let fail1 = attempt(1, ids[0], 7, false);
    let fail2 = attempt(2, ids[0], 5, false);
    let pass = attempt(3, ids[0], 8, true);
    let pass_again = attempt(4, ids[0], 10, true);
    let other = attempt(5, ids[1], 9, true);
    let mut tx = s.write().await.unwrap();
    for a in [&fail1, &fail2, &pass] {
        assert!(tx.insert_attempt(a).await.unwrap());
    }
    assert!(!tx.insert_attempt(&pass_again).await.unwrap(), "locked");
    assert!(tx.insert_attempt(&other).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.attempts_of(ids[0]).await.unwrap(),
        vec![fail1, fail2, pass.clone()]
    );
    assert_eq!(tx.attempt(pass.id).await.unwrap(), Some(pass));
    assert_eq!(tx.attempt(pass_again.id).await.unwrap(), None);
    tx.rollback().await.unwrap();
}

/// A file is kept under its hash, byte for byte, once.
pub async fn learning_files_are_kept_by_hash<S: Store>(s: S) {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let mut tx = s.write().await.unwrap();
    tx.put_learning_file("abc", "application/pdf", &bytes)
        .await
        .unwrap();
    tx.put_learning_file("abc", "text/plain", b"other")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = s.read().await.unwrap();
    assert_eq!(
        tx.learning_file("abc").await.unwrap(),
        Some(("application/pdf".to_owned(), bytes))
    );
    assert_eq!(tx.learning_file("nope").await.unwrap(), None);
    tx.rollback().await.unwrap();
}

fn credit(parts: &[(u16, u32)]) -> training::ItemKind {
    training::ItemKind::Credit {
        parts: parts
            .iter()
            .map(|&(code, minutes)| training::CodePart { code, minutes })
            .collect(),
    }
}

/// The calendar lists credit-awarding sessions only (an association's, or an outside one once
/// approved; at least one code), by start, filtered by dates, prefecture, codes, online or on
/// site and organiser name, one page at a time; parts come back per session.
pub async fn calendar_lists_credit_sessions_by_filter<S: Store>(s: S) {
    let org = training_organisation(&s, "P27").await;
    let p13 = Organiser::Association(AssociationCode::parse("P13").unwrap());
    let mut a = training_session(1, p13.clone(), "2026-06-01T09:00:00Z");
    a.venue = training::Venue::InPerson("会館".into());
    let mut b = training_session(2, Organiser::Organisation(org), "2026-06-02T09:00:00Z");
    b.venue = training::Venue::Online;
    let unapproved = training_session(3, Organiser::Organisation(org), "2026-06-03T09:00:00Z");
    let no_credit = training_session(4, p13.clone(), "2026-06-04T09:00:00Z");
    let later = training_session(5, p13, "2026-08-01T09:00:00Z");
    let mut tx = s.write().await.unwrap();
    for x in [&a, &b, &unapproved, &no_credit, &later] {
        tx.insert_training_session(x).await.unwrap();
    }
    let item = |n: u8, session: &TrainingSession, kind| {
        stored_item(n, &session.start.to_rfc3339(), 90, kind)
    };
    tx.replace_programme_items(a.id, &[item(1, &a, credit(&[(74, 60), (80, 30)]))])
        .await
        .unwrap();
    tx.replace_programme_items(b.id, &[item(2, &b, credit(&[(80, 90)]))])
        .await
        .unwrap();
    tx.replace_programme_items(unapproved.id, &[item(3, &unapproved, credit(&[(74, 90)]))])
        .await
        .unwrap();
    tx.replace_programme_items(
        no_credit.id,
        &[item(
            4,
            &no_credit,
            training::ItemKind::NonCredit(training::NonCreditKind::Break),
        )],
    )
    .await
    .unwrap();
    tx.replace_programme_items(later.id, &[item(5, &later, credit(&[(1, 60)]))])
        .await
        .unwrap();
    tx.approve_training_session(
        b.id,
        &SessionApproval {
            number: "P27-2026-001".into(),
            at: t("2026-05-01T00:00:00Z"),
            by: "account:x".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = s.read().await.unwrap();
    let ids = |rows: Vec<CalendarRow>| rows.into_iter().map(|r| r.session).collect::<Vec<_>>();
    let all = CalendarQuery {
        limit: 50,
        ..CalendarQuery::default()
    };
    let rows = tx.calendar_search(&all).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].organiser, "東京都医師会");
    assert_eq!(rows[0].prefecture.as_deref(), Some("P13"));
    assert_eq!(rows[0].venue_kind, "in_person");
    assert_eq!(rows[1].organiser, "日本内科学会");
    assert_eq!(rows[1].prefecture.as_deref(), Some("P27"));
    assert_eq!(rows[1].place, None);
    assert_eq!(ids(rows), vec![a.id, b.id, later.id]);
    let q = |f: &dyn Fn(&mut CalendarQuery)| {
        let mut q = all.clone();
        f(&mut q);
        q
    };
    let june = q(&|q| {
        q.from = Some(t("2026-06-01T00:00:00Z"));
        q.to = Some(t("2026-07-01T00:00:00Z"));
    });
    assert_eq!(
        ids(tx.calendar_search(&june).await.unwrap()),
        vec![a.id, b.id]
    );
    let osaka = q(&|q| q.prefecture = Some(AssociationCode::parse("P27").unwrap()));
    assert_eq!(ids(tx.calendar_search(&osaka).await.unwrap()), vec![b.id]);
    let tokyo = q(&|q| q.prefecture = Some(AssociationCode::parse("P13").unwrap()));
    assert_eq!(
        ids(tx.calendar_search(&tokyo).await.unwrap()),
        vec![a.id, later.id]
    );
    let c74 = q(&|q| q.codes = vec![74]);
    assert_eq!(ids(tx.calendar_search(&c74).await.unwrap()), vec![a.id]);
    let c80_1 = q(&|q| q.codes = vec![80, 1]);
    assert_eq!(
        ids(tx.calendar_search(&c80_1).await.unwrap()),
        vec![a.id, b.id, later.id]
    );
    let online = q(&|q| q.online = Some(true));
    // `later` is hybrid (the sample's venue): both online and on site
    assert_eq!(
        ids(tx.calendar_search(&online).await.unwrap()),
        vec![b.id, later.id]
    );
    let on_site = q(&|q| q.online = Some(false));
    assert_eq!(
        ids(tx.calendar_search(&on_site).await.unwrap()),
        vec![a.id, later.id]
    );
    let by_name = q(&|q| q.organiser = Some("内科".into()));
    assert_eq!(ids(tx.calendar_search(&by_name).await.unwrap()), vec![b.id]);
    let page2 = q(&|q| {
        q.limit = 2;
        q.offset = 2;
    });
    assert_eq!(
        ids(tx.calendar_search(&page2).await.unwrap()),
        vec![later.id]
    );
    let parts = tx.calendar_parts(&[a.id, b.id]).await.unwrap();
    let mut want = vec![(a.id, 74, 60), (a.id, 80, 30), (b.id, 80, 90)];
    want.sort_by_key(|p| p.0);
    let mut got = parts.clone();
    got.sort_by_key(|p| p.0);
    assert_eq!(got, want);
    assert!(tx.calendar_parts(&[]).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
}
