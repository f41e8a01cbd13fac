//! Issue 21 through the app layer on both backends: the quiz (exact sets, 60 %, publication
//! job, corrected key only adds), e-learning (80 %, next-day credit, retries, lock), postcards
//! (CP932, duplicate skipped, late refused, all-or-nothing, re-import no-op), authoring rules
//! and My Page ①'s ranking by missing codes.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use mamis_app::cme::{self, NewCredit, PROGRAMME};
use mamis_app::jobs::JobHandler;
use mamis_app::learning::authoring::{self, Problem};
use mamis_app::learning::postcards::{self, CardProblem, Outcome};
use mamis_app::learning::{
    ArticleDoc, ContentDoc, Doc, Draft, QuizDoc, SaveError, calendar, elearning, quiz,
};
use mamis_domain::learning::{LearningError, Question, QuestionKind, QuizCredit};
use mamis_domain::training::{CodePart, ItemKind, Venue};
use mamis_domain::{
    AssociationCode, HalfUnits, LedgerEntry, MemberClass, MemberId, Membership, Principal, Role,
    RoleGrant, Scope, Source,
};
use mamis_store::conformance::sample_doctor;
use mamis_store::{
    LedgerStore, Organiser, RegistryStore, Store, StoredItem, TrainingSession, TrainingStore, Tx,
};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

pub(crate) fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub(crate) fn author() -> Principal {
    Principal::Staff {
        account_id: Uuid::from_u128(0x5747),
        grants: vec![
            RoleGrant::new(Role::JmaStaff, Scope::Association(AssociationCode::jma())).unwrap(),
        ],
    }
}

fn county_staff() -> Principal {
    Principal::Staff {
        account_id: Uuid::from_u128(0x5748),
        grants: vec![
            RoleGrant::new(
                Role::CountyStaff,
                Scope::Association(AssociationCode::parse("P13-0001").unwrap()),
            )
            .unwrap(),
        ],
    }
}

pub(crate) fn single(key: u8) -> Question {
    Question {
        text: format!("正解は {} 番", key + 1),
        kind: QuestionKind::Single,
        choices: (1..=4).map(|i| format!("選択肢 {i}")).collect(),
        key: [key].into_iter().collect(),
        explanation: "解説".into(),
    }
}

pub(crate) fn multiple(key: &[u8]) -> Question {
    Question {
        kind: QuestionKind::Multiple,
        key: key.iter().copied().collect(),
        ..single(0)
    }
}

fn set(v: &[u8]) -> BTreeSet<u8> {
    v.iter().copied().collect()
}

/// Four single-choice questions keyed 0 and one multiple-choice keyed {0, 2}.
pub(crate) fn quiz_doc() -> QuizDoc {
    QuizDoc {
        intro: "特集: 感染症".into(),
        questions: vec![
            single(0),
            single(0),
            single(0),
            single(0),
            multiple(&[0, 2]),
        ],
        credits: vec![
            QuizCredit {
                code: 74,
                half_units: HalfUnits::new(2),
            },
            QuizCredit {
                code: 80,
                half_units: HalfUnits::new(1),
            },
        ],
    }
}

pub(crate) fn quiz_draft(item: Option<Uuid>, issue: &str, doc: QuizDoc) -> Draft {
    Draft {
        item,
        issue: Some(issue.into()),
        title: format!("日医雑誌 {issue} 問題"),
        published_on: Some(day("2026-06-01")),
        deadline: Some(day("2026-06-30")),
        answers_on: Some(day("2026-07-15")),
        doc: Doc::Quiz(doc),
        slides: None,
    }
}

pub(crate) fn content_draft(code: u16, title: &str) -> Draft {
    Draft {
        item: None,
        issue: None,
        title: title.into(),
        published_on: Some(day("2026-06-01")),
        deadline: None,
        answers_on: None,
        doc: Doc::Content(ContentDoc {
            text: "本文".into(),
            video_url: Some("https://video.example.jp/1".into()),
            slides: None,
            code,
            specialist_common: code == 74,
            questions: (0..5).map(|_| single(1)).collect(),
        }),
        slides: None,
    }
}

/// A doctor with county, prefecture and JMA memberships (the JMA one ending on `left_on`),
/// and a member ID `81000000nn`.
pub(crate) async fn member<S: Store>(t: &TestApp<S>, n: u32, left_on: Option<&str>) -> Uuid {
    let mut d = sample_doctor(n);
    d.member_id = Some(MemberId::parse(&format!("81{n:08}")).unwrap());
    let m = |c: &str, left: Option<&str>| Membership {
        association: AssociationCode::parse(c).unwrap(),
        class: MemberClass::A1.into(),
        joined_on: day("2010-04-01"),
        left_on: left.map(day),
    };
    let mut tx = t.app.store.write().await.unwrap();
    tx.upsert_association(&mamis_domain::Association {
        code: AssociationCode::parse("P13-0001").unwrap(),
        name_ja: "千代田区医師会".into(),
        name_en: "Chiyoda".into(),
    })
    .await
    .unwrap();
    tx.insert_doctor(&d).await.unwrap();
    tx.insert_memberships(&[
        (d.id, m("P13-0001", None)),
        (d.id, m("P13", None)),
        (d.id, m("JMA", left_on)),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    d.id
}

async fn ledger<S: Store>(t: &TestApp<S>, d: Uuid) -> Vec<LedgerEntry> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx.ledger_of(d, PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    v
}

fn handlers<S: Store>() -> Vec<Arc<dyn JobHandler<S>>> {
    vec![
        Arc::new(mamis_app::learning::PublishJob),
        Arc::new(mamis_app::learning::CreditJob),
    ]
}

async fn quiz_rules<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    let (a, b, c) = (
        member(&t, 1, None).await,
        member(&t, 2, None).await,
        member(&t, 3, Some("2026-06-01")).await,
    );
    // only JMA staff author; a special issue carries no quiz
    assert!(matches!(
        authoring::save(
            &t.app,
            &county_staff(),
            quiz_draft(None, "2026-06", quiz_doc())
        )
        .await,
        Err(SaveError::App(mamis_app::AppError::Forbidden))
    ));
    match authoring::save(&t.app, &author(), quiz_draft(None, "2026-S1", quiz_doc())).await {
        Err(SaveError::Invalid(p)) => {
            assert_eq!(p, vec![Problem::Issue(LearningError::SpecialIssue)])
        }
        other => panic!("{other:?}"),
    }
    let (id, v) = authoring::save(&t.app, &author(), quiz_draft(None, "2026-06", quiz_doc()))
        .await
        .unwrap();
    assert_eq!(v, 1);

    // A: 3 right of 5 (60 %); B: the multiple choice partly right → 2 of 5
    let right = set(&[0]);
    let wrong = set(&[1]);
    quiz::answer(
        &t.app,
        a,
        "t",
        id,
        vec![
            right.clone(),
            right.clone(),
            right.clone(),
            wrong.clone(),
            set(&[1]),
        ],
    )
    .await
    .unwrap();
    quiz::answer(
        &t.app,
        b,
        "t",
        id,
        vec![
            right.clone(),
            right.clone(),
            wrong.clone(),
            wrong.clone(),
            set(&[0]),
        ],
    )
    .await
    .unwrap();
    assert!(matches!(
        quiz::answer(&t.app, a, "t", id, vec![right.clone(); 5]).await,
        Err(quiz::AnswerError::AlreadyAnswered)
    ));
    assert!(matches!(
        quiz::answer(&t.app, c, "t", id, vec![right.clone(); 5]).await,
        Err(quiz::AnswerError::NotMember)
    ));
    assert!(matches!(
        quiz::answer(&t.app, c, "t", id, vec![set(&[0, 1])]).await,
        Err(quiz::AnswerError::Invalid(LearningError::Answer(1)))
    ));

    // nothing visible or credited before the publication date, whatever the jobs do
    let w = t.worker(handlers());
    w.drain().await.unwrap();
    let view = quiz::view(&t.app, a, id).await.unwrap();
    assert!(!view.published && view.score.is_none() && view.answer.is_some());
    assert!(ledger(&t, a).await.is_empty());
    t.clock.set(jst("2026-07-14T23:59:00"));
    w.drain().await.unwrap();
    assert!(ledger(&t, a).await.is_empty());
    assert!(quiz::view(&t.app, a, id).await.unwrap().score.is_none());
    // the answers are closed after the deadline
    assert!(matches!(
        quiz::answer(&t.app, c, "t", id, vec![]).await,
        Err(quiz::AnswerError::Closed)
    ));

    // on the publication date: A passes at 60 %, dated on the answer day; B does not
    t.clock.set(jst("2026-07-15T00:00:01"));
    w.drain().await.unwrap();
    let mut got: Vec<(Source, u16, i64, NaiveDate)> = ledger(&t, a)
        .await
        .iter()
        .map(|e| (e.source, e.code, e.half_units.get(), e.date))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (Source::JournalQuiz, 74, 2, day("2026-06-10")),
            (Source::JournalQuiz, 80, 1, day("2026-06-10"))
        ]
    );
    assert!(ledger(&t, b).await.is_empty());
    let view = quiz::view(&t.app, a, id).await.unwrap();
    assert!(view.published);
    assert_eq!(view.score.map(|s| (s.correct, s.total)), Some((3, 5)));

    // after publication the credits and question shape stay; a corrected key is a new version
    let mut frozen = quiz_doc();
    frozen.credits[0].half_units = HalfUnits::new(4);
    match authoring::save(&t.app, &author(), quiz_draft(Some(id), "2026-06", frozen)).await {
        Err(SaveError::Invalid(p)) => assert_eq!(p, vec![Problem::CreditsFrozen]),
        other => panic!("{other:?}"),
    }
    // the corrected key of question 3 is choice 2: B now has 3 of 5, A only 2 of 5
    let mut corrected = quiz_doc();
    corrected.questions[2] = single(1);
    let (_, v2) = authoring::save(
        &t.app,
        &author(),
        quiz_draft(Some(id), "2026-06", corrected),
    )
    .await
    .unwrap();
    assert_eq!(v2, 2);
    w.drain().await.unwrap();
    assert_eq!(
        ledger(&t, b).await.len(),
        2,
        "the corrected key adds B's credit"
    );
    assert_eq!(ledger(&t, a).await.len(), 2, "and removes none of A's");
    assert!(quiz::credited(&t.app, a, id).await.unwrap());
    // running the job again writes nothing twice
    assert_eq!(
        mamis_app::learning::quiz::publish(&t.app, id)
            .await
            .unwrap(),
        0
    );
}
app_test!(quiz_marks_publishes_and_corrects_only_upward, quiz_rules);

async fn elearning_rules<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    let a = member(&t, 1, None).await;
    let (content, _) = authoring::save(&t.app, &author(), content_draft(74, "院内感染対策"))
        .await
        .unwrap();
    let right = set(&[1]);
    let wrong = set(&[0]);
    // 3 of 5 (60 %) fails; a retry with 4 of 5 (80 %) passes; then it is locked
    let first = elearning::attempt(
        &t.app,
        a,
        content,
        vec![
            right.clone(),
            right.clone(),
            right.clone(),
            wrong.clone(),
            wrong.clone(),
        ],
    )
    .await
    .unwrap();
    assert!(!first.passed);
    let second = elearning::attempt(
        &t.app,
        a,
        content,
        vec![
            right.clone(),
            right.clone(),
            right.clone(),
            right.clone(),
            wrong.clone(),
        ],
    )
    .await
    .unwrap();
    assert!(second.passed);
    assert_eq!(second.visible_from, Some(day("2026-06-11")));
    assert!(matches!(
        elearning::attempt(&t.app, a, content, vec![right.clone(); 5]).await,
        Err(elearning::AttemptError::Locked)
    ));
    // not on the pass day…
    let w = t.worker(handlers());
    w.drain().await.unwrap();
    assert!(ledger(&t, a).await.is_empty());
    // …from the next day, dated on the pass day
    t.clock.set(jst("2026-06-11T00:00:01"));
    w.drain().await.unwrap();
    let got: Vec<(Source, u16, i64, NaiveDate, String)> = ledger(&t, a)
        .await
        .iter()
        .map(|e| {
            (
                e.source,
                e.code,
                e.half_units.get(),
                e.date,
                e.origin_key.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(
            Source::ELearning,
            74,
            2,
            day("2026-06-10"),
            format!("elearning:{content}:{a}")
        )]
    );
    let flagged = mamis_app::learning::specialist_contents(&t.app)
        .await
        .unwrap();
    assert!(mamis_app::learning::is_specialist_key(&got[0].4, &flagged));
    let view = elearning::view(&t.app, a, content).await.unwrap();
    assert_eq!(view.attempts.len(), 2);
    assert!(view.passed().is_some());
}
app_test!(
    elearning_passes_at_80_credits_next_day_and_locks,
    elearning_rules
);

/// The postcard file of the acceptance test: line 2 a card of a doctor who answered on the
/// web, line 3 a good card, line 4 a late card (received after the 30 June deadline).
fn cards(late_received: &str) -> Vec<u8> {
    let text = format!(
        "会員ID,号,解答,受付日\n8100000001,2026-06,1/1/1/1/1・3,2026/06/20\n\
         8100000002,2026-06,1/1/1/2/1・3,2026/06/25\n8100000003,2026-06,1/1/1/1/1,{late_received}\n"
    );
    let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!bad);
    bytes.into_owned()
}

async fn postcard_import<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    let a = member(&t, 1, None).await;
    let b = member(&t, 2, None).await;
    let c = member(&t, 3, None).await;
    let (id, _) = authoring::save(&t.app, &author(), quiz_draft(None, "2026-06", quiz_doc()))
        .await
        .unwrap();
    quiz::answer(&t.app, a, "t", id, vec![set(&[0]); 5])
        .await
        .unwrap();
    t.clock.set(jst("2026-07-16T10:00:00"));
    // county staff cannot import the JMA's cards
    assert!(
        postcards::import(&t.app, &county_staff(), &cards("2026/06/30"))
            .await
            .is_err()
    );
    let refused = postcards::import(&t.app, &author(), &cards("2026/07/01"))
        .await
        .unwrap();
    assert_eq!(refused.encoding, "CP932");
    assert!(!refused.applied);
    assert_eq!(
        refused.lines,
        vec![
            (2, Outcome::SkippedWeb),
            (3, Outcome::Imported),
            (4, Outcome::Error(CardProblem::Late))
        ]
    );
    assert!(ledger(&t, b).await.is_empty(), "nothing of a refused file");
    let mut tx = t.app.store.read().await.unwrap();
    use mamis_store::LearningStore;
    assert_eq!(tx.quiz_answers_of_set(id).await.unwrap().len(), 1);
    tx.rollback().await.unwrap();

    // fixed: received on the deadline; the set is already published, so credits come at once
    let fixed = cards("2026/06/30");
    let done = postcards::import(&t.app, &author(), &fixed).await.unwrap();
    assert!(done.applied, "{:?}", done.lines);
    assert_eq!((done.imported, done.skipped), (2, 1));
    // B: 4 of 5 right → credited, dated on the received day; C: 4 of 5 → credited
    let mut got: Vec<_> = ledger(&t, b)
        .await
        .iter()
        .map(|e| (e.code, e.date))
        .collect();
    got.sort();
    assert_eq!(got, vec![(74, day("2026-06-25")), (80, day("2026-06-25"))]);
    assert_eq!(ledger(&t, c).await.len(), 2);
    let before: Vec<_> = [a, b, c].into_iter().collect();
    let mut counts = Vec::new();
    for d in &before {
        counts.push(ledger(&t, *d).await.len());
    }
    // re-import: nothing changes
    let again = postcards::import(&t.app, &author(), &fixed).await.unwrap();
    assert!(again.applied);
    assert_eq!((again.imported, again.skipped, again.credited), (0, 3, 0));
    assert_eq!(
        again.lines,
        vec![
            (2, Outcome::SkippedWeb),
            (3, Outcome::SkippedAlready),
            (4, Outcome::SkippedAlready)
        ]
    );
    for (d, n) in before.iter().zip(counts) {
        assert_eq!(ledger(&t, *d).await.len(), n);
    }
    // other problems, line by line, in UTF-8
    let bad = "member_id,issue,answers,received_on\n123,2026-06,1/1/1/1/1,2026-06-20\n\
               9999999999,2026-06,1/1/1/1/1,2026-06-20\n8100000001,2026-05,1/1/1/1/1,2026-06-20\n\
               8100000002,2026-06,1/1/1,2026-06-20\n8100000002,2026-06,1/1/1/1/1,2026-06-31\n";
    let r = postcards::import(&t.app, &author(), bad.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.encoding, "UTF-8");
    assert_eq!(
        r.lines,
        vec![
            (2, Outcome::Error(CardProblem::MemberId)),
            (3, Outcome::Error(CardProblem::UnknownMember)),
            (4, Outcome::Error(CardProblem::NoSet)),
            (5, Outcome::Error(CardProblem::Answers)),
            (6, Outcome::Error(CardProblem::Date)),
        ]
    );
    let r = postcards::import(&t.app, &author(), b"a,b\n1,2\n")
        .await
        .unwrap();
    assert_eq!(r.lines, vec![(1, Outcome::Error(CardProblem::Header))]);
}
app_test!(
    postcards_skip_duplicates_refuse_late_cards_and_reimport_nothing,
    postcard_import
);

async fn session<S: Store>(
    t: &TestApp<S>,
    n: u128,
    organiser: Organiser,
    venue: Venue,
    start: &str,
    parts: &[(u16, u32)],
) -> Uuid {
    let start = jst(start);
    let s = TrainingSession {
        id: Uuid::from_u128(0x5E55_0000 + n),
        organiser,
        title: format!("研修会 {n}"),
        venue,
        start,
        end: start + chrono::Duration::hours(3),
        expected_headcount: None,
        created_at: start - chrono::Duration::days(30),
        approval: None,
        closed_at: None,
        desk_scan_only: false,
        grace_minutes: 5,
    };
    let mut tx = t.app.store.write().await.unwrap();
    tx.insert_training_session(&s).await.unwrap();
    let item = StoredItem {
        id: Uuid::from_u128(0x17E3_0000 + n),
        title: "講演".into(),
        start,
        minutes: parts.iter().map(|p| p.1).sum(),
        kind: ItemKind::Credit {
            parts: parts
                .iter()
                .map(|&(code, minutes)| CodePart { code, minutes })
                .collect(),
        },
        catalogue_version: mamis_domain::curriculum::CURRENT_VERSION.into(),
    };
    tx.replace_programme_items(s.id, &[item]).await.unwrap();
    tx.commit().await.unwrap();
    s.id
}

async fn ranking<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    let a = member(&t, 1, None).await;
    // every code but 74 and 80 earned in FY2026 at 0.5 unit
    let credits: Vec<NewCredit> = mamis_domain::Catalogue::embedded()
        .entries(mamis_domain::curriculum::CURRENT_VERSION)
        .map(|e| e.number)
        .filter(|c| *c != 74 && *c != 80)
        .map(|code| NewCredit {
            doctor: a,
            date: day("2026-05-01"),
            source: Source::Training,
            code,
            half_units: HalfUnits::new(1),
            origin_key: format!("test:{code}"),
            note: None,
        })
        .collect();
    let mut tx = t.app.store.write().await.unwrap();
    cme::credit(&mut tx, &credits, "test", t.app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tokyo = Organiser::Association(AssociationCode::parse("P13").unwrap());
    let osaka = Organiser::Association(AssociationCode::parse("P27").unwrap());
    let earned_long = session(
        &t,
        1,
        tokyo.clone(),
        Venue::InPerson("会館".into()),
        "2026-06-12T14:00:00",
        &[(1, 180)],
    )
    .await;
    let one_missing = session(
        &t,
        2,
        tokyo.clone(),
        Venue::InPerson("会館".into()),
        "2026-06-20T14:00:00",
        &[(74, 60)],
    )
    .await;
    let two_missing_online = session(
        &t,
        3,
        osaka.clone(),
        Venue::Online,
        "2026-06-25T14:00:00",
        &[(74, 30), (80, 30)],
    )
    .await;
    let elsewhere = session(
        &t,
        4,
        osaka,
        Venue::InPerson("大阪".into()),
        "2026-06-15T14:00:00",
        &[(80, 60)],
    )
    .await;
    let past = session(
        &t,
        5,
        tokyo,
        Venue::InPerson("会館".into()),
        "2026-06-01T14:00:00",
        &[(74, 60)],
    )
    .await;
    let (c74, _) = authoring::save(&t.app, &author(), content_draft(74, "感染対策"))
        .await
        .unwrap();
    let (c1, _) = authoring::save(&t.app, &author(), content_draft(1, "職業倫理"))
        .await
        .unwrap();

    let job = Principal::Job {
        kind: "test".into(),
    };
    let summary = cme::summary(&t.app, &job, a, None).await.unwrap();
    let s = calendar::for_summary(&t.app, &summary).await.unwrap();
    assert_eq!(s.missing, vec![74, 80]);
    let order: Vec<Uuid> = s.sessions.iter().map(|(l, _)| l.row.session).collect();
    assert_eq!(order, vec![two_missing_online, one_missing, earned_long]);
    assert!(!order.contains(&elsewhere) && !order.contains(&past));
    let contents: Vec<Uuid> = s.contents.iter().map(|(i, _)| i.version.item_id).collect();
    assert_eq!(contents, vec![c74, c1]);

    // a non-member is shown sessions only
    let s = calendar::suggestions(&t.app, a, &[74, 80], 4, false)
        .await
        .unwrap();
    assert!(s.contents.is_empty());
    assert_eq!(s.sessions.len(), 3);
    // with a shortfall of 5 points, what closes more of it comes first: 74+80 online (1 unit
    // + 2 codes = 6 half-points) and 3 units in an earned code (6) before 1 unit in 74 (4);
    // of equal closing, the one carrying more missing codes
    let s = calendar::suggestions(&t.app, a, &[74, 80], 10, true)
        .await
        .unwrap();
    let ranked: Vec<(Uuid, i64)> = s
        .sessions
        .iter()
        .map(|(l, c)| (l.row.session, *c))
        .collect();
    assert_eq!(
        ranked,
        vec![(two_missing_online, 6), (earned_long, 6), (one_missing, 4)]
    );
    // capped at the shortfall
    let s = calendar::suggestions(&t.app, a, &[74, 80], 3, true)
        .await
        .unwrap();
    assert!(s.sessions.iter().all(|(_, c)| *c == 3));
    assert_eq!(s.contents[0].0.version.item_id, c74);
}
app_test!(suggestions_put_missing_codes_first, ranking);

/// Articles are kept per issue; drafts and future items stay hidden from members.
async fn drafts_are_hidden<S: Store>(t: TestApp<S>) {
    t.clock.set(jst("2026-06-10T10:00:00"));
    let article = |title: &str, published: Option<&str>| Draft {
        item: None,
        issue: Some("2026-06".into()),
        title: title.into(),
        published_on: published.map(day),
        deadline: None,
        answers_on: None,
        doc: Doc::Article(ArticleDoc {
            authors: "日医 太郎".into(),
            text: "本文".into(),
        }),
        slides: None,
    };
    let (open, _) = authoring::save(&t.app, &author(), article("公開", Some("2026-06-01")))
        .await
        .unwrap();
    let (draft, _) = authoring::save(&t.app, &author(), article("下書き", None))
        .await
        .unwrap();
    let (future, _) = authoring::save(&t.app, &author(), article("予定", Some("2026-07-01")))
        .await
        .unwrap();
    let listed: Vec<Uuid> =
        mamis_app::learning::open_items(&t.app, mamis_store::LearningKind::Article)
            .await
            .unwrap()
            .iter()
            .map(|i| i.version.item_id)
            .collect();
    assert_eq!(listed, vec![open]);
    for id in [draft, future] {
        assert!(matches!(
            mamis_app::learning::open_item(&t.app, mamis_store::LearningKind::Article, id).await,
            Err(mamis_app::AppError::NotFound)
        ));
    }
    // a slide file must be a PDF; a video link https
    let mut d = content_draft(74, "x");
    d.slides = Some(b"not a pdf".to_vec());
    if let Doc::Content(c) = &mut d.doc {
        c.video_url = Some("http://insecure.example/v".into());
    }
    match authoring::save(&t.app, &author(), d).await {
        Err(SaveError::Invalid(p)) => assert_eq!(p, vec![Problem::VideoUrl, Problem::Slides]),
        other => panic!("{other:?}"),
    }
    let versions = authoring::versions(&t.app, &author(), open).await.unwrap();
    assert_eq!(versions.len(), 1);
}
app_test!(drafts_and_future_items_stay_hidden, drafts_are_hidden);
