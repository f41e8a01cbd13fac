//! The learning part of `serve --demo`: a quiz set open for answers, one whose answers are
//! published (the demo member answered and is credited), three e-learning contents, two
//! journal articles and a month of credit-awarding sessions in the calendar. Ids are fixed and
//! dates follow the clock, so every run builds the same thing relative to its day.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate};
use mamis_domain::learning::{Question, QuestionKind, QuizCredit};
use mamis_domain::training::{CodePart, ItemKind, Venue};
use mamis_domain::{AssociationCode, HalfUnits, Principal};
use mamis_store::{
    AnswerChannel, LearningStore, Organiser, QuizAnswerRow, Store, StoredItem, TrainingSession,
    TrainingStore, Tx,
};
use uuid::Uuid;

use super::authoring::{Draft, save};
use super::{ArticleDoc, ContentDoc, Doc, QuizDoc, day_start, quiz, today};
use crate::{App, AppError};

fn q(text: &str, kind: QuestionKind, choices: &[&str], key: &[u8], why: &str) -> Question {
    Question {
        text: text.into(),
        kind,
        choices: choices.iter().map(|c| (*c).to_owned()).collect(),
        key: key.iter().copied().collect(),
        explanation: why.into(),
    }
}

fn hypertension() -> Vec<Question> {
    use QuestionKind::{Multiple, Single};
    vec![
        q(
            "診察室血圧による高血圧の基準はどれか。",
            Single,
            &[
                "120/80 mmHg 以上",
                "130/85 mmHg 以上",
                "140/90 mmHg 以上",
                "160/100 mmHg 以上",
            ],
            &[2],
            "診察室血圧 140/90 mmHg 以上を高血圧とします。",
        ),
        q(
            "家庭血圧による高血圧の基準はどれか。",
            Single,
            &["125/75 mmHg 以上", "135/85 mmHg 以上", "145/95 mmHg 以上"],
            &[1],
            "家庭血圧では 135/85 mmHg 以上です。",
        ),
        q(
            "生活習慣の修正として正しいものをすべて選べ。",
            Multiple,
            &["減塩", "適正体重の維持", "節酒", "喫煙本数を減らせばよい"],
            &[0, 1, 2],
            "禁煙が推奨され、本数を減らすだけでは不十分です。",
        ),
        q(
            "二次性高血圧を疑う所見はどれか。",
            Single,
            &["若年発症の重症高血圧", "60歳での軽症高血圧", "白衣高血圧"],
            &[0],
            "若年発症・重症例では二次性高血圧を検索します。",
        ),
        q(
            "降圧目標（75歳未満の成人）はどれか。",
            Single,
            &["<150/90 mmHg", "<140/90 mmHg", "<130/80 mmHg"],
            &[2],
            "75歳未満の成人では 130/80 mmHg 未満が目標です。",
        ),
    ]
}

fn sid(n: u128) -> Uuid {
    Uuid::from_u128(0xD0_5100 + n)
}

/// What the console prints: (what, where).
pub type Look = Vec<(String, String)>;

/// Seeds the learning demo; `member` answered the published set and is credited for it.
pub async fn seed<S: Store>(app: &App<S>, member: Uuid) -> Result<Look, AppError> {
    let system = Principal::Job {
        kind: "demo".into(),
    };
    let t = today(app);
    let issue = |d: NaiveDate| format!("{}-{:02}", d.year(), d.month());
    let fail = |e: super::SaveError| AppError::Internal(format!("learning demo: {e:?}"));
    let credits = vec![
        QuizCredit {
            code: 74,
            half_units: HalfUnits::new(2),
        },
        QuizCredit {
            code: 80,
            half_units: HalfUnits::new(1),
        },
    ];
    let quiz_doc = |intro: &str| {
        Doc::Quiz(QuizDoc {
            intro: intro.into(),
            questions: hypertension(),
            credits: credits.clone(),
        })
    };
    let draft = |title: String, issue: String, open: NaiveDate, doc: Doc| Draft {
        item: None,
        issue: Some(issue),
        title,
        published_on: Some(open),
        deadline: None,
        answers_on: None,
        doc,
        slides: None,
    };
    let last_month = t - Duration::days(35);
    let (open_set, _) = save(
        app,
        &system,
        Draft {
            deadline: Some(t + Duration::days(25)),
            answers_on: Some(t + Duration::days(40)),
            ..draft(
                format!("日本医師会雑誌 {} 号 問題", issue(t)),
                issue(t),
                t - Duration::days(5),
                quiz_doc("特集: 高血圧診療の最前線"),
            )
        },
    )
    .await
    .map_err(fail)?;
    let (published_set, _) = save(
        app,
        &system,
        Draft {
            deadline: Some(t - Duration::days(25)),
            answers_on: Some(t - Duration::days(10)),
            ..draft(
                format!("日本医師会雑誌 {} 号 問題", issue(last_month)),
                issue(last_month),
                t - Duration::days(60),
                quiz_doc("特集: 在宅での血圧管理"),
            )
        },
    )
    .await
    .map_err(fail)?;
    // the member answered the published set on the web (4 of 5) before its deadline
    let mut tx = app.store.write().await?;
    let answers: Vec<BTreeSet<u8>> = [&[2u8][..], &[1], &[0, 1, 2], &[0], &[1]]
        .iter()
        .map(|a| a.iter().copied().collect())
        .collect();
    tx.insert_quiz_answer(&QuizAnswerRow {
        set_id: published_set,
        doctor_id: member,
        channel: AnswerChannel::Web,
        answers: quiz::encode(&answers),
        answered_on: t - Duration::days(40),
        recorded_by: "demo".into(),
        recorded_at: day_start(t - Duration::days(40)),
    })
    .await?;
    tx.commit().await?;
    quiz::publish(app, published_set).await?;

    let mut contents = Vec::new();
    for (n, code, title, specialist) in [
        (1u8, 74u16, "高血圧症の診断と治療", false),
        (2, 80, "在宅医療の始め方", false),
        (3, 8, "院内感染対策の基本", true),
    ] {
        let doc = Doc::Content(ContentDoc {
            text: format!(
                "{title}について、日常診療で押さえておきたい要点を解説します。\n\n\
                 確認問題で 80% 以上正解すると、1単位とカリキュラムコード {code} を取得できます。"
            ),
            video_url: Some(format!("https://www.med.or.jp/cme/demo/video{n}")),
            slides: None,
            code,
            specialist_common: specialist,
            questions: hypertension(),
        });
        let (id, _) = save(
            app,
            &system,
            Draft {
                issue: None,
                ..draft(title.into(), String::new(), t - Duration::days(30), doc)
            },
        )
        .await
        .map_err(fail)?;
        contents.push(id);
    }
    for (title, authors) in [
        ("高血圧治療ガイドラインの要点", "日医 太郎"),
        ("在宅医療と地域連携", "医師会 花子"),
    ] {
        save(
            app,
            &system,
            draft(
                title.into(),
                issue(t),
                t - Duration::days(5),
                Doc::Article(ArticleDoc {
                    authors: authors.into(),
                    text: format!("{title}\n\n本文は日医会員の方のみご覧いただけます。（デモ）"),
                }),
            ),
        )
        .await
        .map_err(fail)?;
    }
    sessions(app, t).await?;
    Ok(vec![
        (
            "日医雑誌 問題解答 (an open set; the member's published result)".into(),
            format!("/cme/quiz/{open_set} , /cme/quiz/{published_set}"),
        ),
        (
            "日医e-ラーニング (three contents), 日医雑誌 on-line (two articles)".into(),
            format!("/cme/elearning/{} , /cme/journal", contents[0]),
        ),
        (
            "Non-members (nonmember@demo.mamis.jp) see titles and the way to join".into(),
            "/cme/quiz , /cme/journal".into(),
        ),
        (
            "研修会カレンダー (a month of sessions, public) and its iCalendar feed".into(),
            "/calendar , /calendar.ics?prefecture=P13".into(),
        ),
        (
            "JMA staff author sets, contents and articles and import postcards".into(),
            "/office/learning".into(),
        ),
    ])
}

/// Thirty sessions over the next month: Tokyo, Osaka and Sapporo associations, on site,
/// online and hybrid, with varied codes (74 and 80 among them).
async fn sessions<S: Store>(app: &App<S>, t: NaiveDate) -> Result<(), AppError> {
    let organisers = ["P13", "P13-0001", "P13-0002", "P27", "P27-0001", "P01-0001"];
    let codes: [&[u16]; 6] = [&[74], &[80, 12], &[76], &[8, 74], &[1], &[80]];
    let mut tx = app.store.write().await?;
    for n in 0..30u128 {
        let i = usize::try_from(n).unwrap_or(0);
        let day = t + Duration::days(1 + i as i64);
        let start = day_start(day) + Duration::hours(19);
        let venue = match n % 4 {
            0 => Venue::Online,
            2 => Venue::Hybrid("医師会館 会議室".into()),
            _ => Venue::InPerson("医師会館 講堂".into()),
        };
        let organiser = AssociationCode::parse(organisers[i % organisers.len()])?;
        let s = TrainingSession {
            id: sid(n),
            organiser: Organiser::Association(organiser),
            title: format!("生涯教育講座 第{}回", n + 1),
            venue,
            start,
            end: start + Duration::hours(2),
            expected_headcount: Some(80),
            created_at: day_start(t),
            approval: None,
            closed_at: None,
            desk_scan_only: false,
            grace_minutes: 5,
        };
        tx.insert_training_session(&s).await?;
        let parts: &[u16] = codes[i % codes.len()];
        let items: Vec<StoredItem> = parts
            .iter()
            .enumerate()
            .map(|(k, &code)| StoredItem {
                id: Uuid::from_u128(0xD0_5200 + n * 8 + k as u128),
                title: format!("講演 {}", k + 1),
                start: start + Duration::minutes(60 * k as i64),
                minutes: 60,
                kind: ItemKind::Credit {
                    parts: vec![CodePart { code, minutes: 60 }],
                },
                catalogue_version: mamis_domain::curriculum::CURRENT_VERSION.into(),
            })
            .collect();
        tx.replace_programme_items(s.id, &items).await?;
    }
    tx.commit().await?;
    Ok(())
}
