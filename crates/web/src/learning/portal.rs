//! The members' pages: quiz sets (answer once; score, key and explanations from the
//! publication date), e-learning contents and their self-assessment (retry below 80 %, locked
//! after a pass), and journal articles. Lists show titles to everyone; content only to members.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use mamis_app::learning::{
    self as learning, AnswerError, AttemptError, Gate, Item, elearning, quiz,
};
use mamis_store::{LearningKind, LearningStore, Store, Tx};

use super::{
    Access, JOIN, QuestionView, access, answers_from, item_id, paragraphs, private, question_views,
    refuse,
};
use crate::WebState;
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;

/// One line of a list.
struct Line {
    href: String,
    title: String,
    issue: String,
    detail: String,
    done: bool,
}

#[derive(Template)]
#[template(path = "learning/list.html")]
struct ListView<'a> {
    c: Chrome<'a>,
    area: &'static str,
    title: String,
    lead: String,
    lines: Vec<Line>,
    member: bool,
    /// For non-members: why, and where to go.
    notice: Option<(String, &'static str, String)>,
}

/// For a list page: why the titles lead nowhere yet, and where to go (`None` for members).
fn gate_notice<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    a: &Access,
) -> Option<(String, &'static str, String)> {
    let cat = &st.shared.catalogues;
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    match a {
        Access::Member(..) => None,
        Access::Other(Gate::Login | Gate::LoginAgain) => Some((
            t("learning-login-first"),
            "/cme/login",
            t("cme-login-mamis-id"),
        )),
        Access::Other(Gate::Unverified) => Some((
            t("cme-members-unverified"),
            "/mypage/identity",
            t("cme-members-verify"),
        )),
        Access::Other(_) => Some((t("learning-not-member"), JOIN, t("learning-join"))),
    }
}

async fn list<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    headers: &HeaderMap,
    kind: LearningKind,
) -> PageResult {
    let a = access(st, headers).await?;
    let items = learning::open_items(&st.app, kind)
        .await
        .map_err(|e| PageError(e.into()))?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let (area, title, lead, base) = match kind {
        LearningKind::Quiz => ("quiz", "cme-area-quiz", "learning-quiz-lead", "/cme/quiz"),
        LearningKind::Content => (
            "elearning",
            "cme-area-elearning",
            "learning-elearning-lead",
            "/cme/elearning",
        ),
        LearningKind::Article => (
            "journal",
            "cme-area-journal",
            "learning-journal-lead",
            "/cme/journal",
        ),
    };
    let passed = match (&a, kind) {
        (Access::Member(d, _), LearningKind::Content) => elearning::passed_contents(&st.app, *d)
            .await
            .map_err(|e| PageError(e.into()))?,
        _ => Vec::new(),
    };
    let lines = items
        .iter()
        .map(|i| {
            let detail = match (&i.doc, i.quiz_dates()) {
                (learning::Doc::Quiz(_), Some(d)) => f.t(
                    "learning-quiz-dates",
                    &[("date", &f.date(d.deadline)), ("to", &f.date(d.answers_on))],
                ),
                (learning::Doc::Content(c), _) => {
                    let mut s = f.t("learning-code", &[("code", &c.code.to_string())]);
                    if c.specialist_common {
                        s.push_str(" · ");
                        s.push_str(&f.t("learning-specialist", &[]));
                    }
                    s
                }
                (learning::Doc::Article(a), _) => a.authors.clone(),
                _ => String::new(),
            };
            Line {
                href: format!("{base}/{}", i.version.item_id),
                title: i.version.title.clone(),
                issue: i.version.issue.clone().unwrap_or_default(),
                detail,
                done: passed.contains(&i.version.item_id),
            }
        })
        .collect();
    let view = ListView {
        c: ctx.chrome(cat),
        area,
        title: cat.text(ctx.lang, title, &[]),
        lead: cat.text(ctx.lang, lead, &[]),
        lines,
        member: matches!(a, Access::Member(..)),
        notice: gate_notice(st, ctx, &a),
    };
    html(page(view.render())).map(private)
}

/// `GET /cme/quiz`.
pub async fn quiz_list<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
) -> PageResult {
    list(&st, &ctx, &headers, LearningKind::Quiz).await
}

/// `GET /cme/elearning`.
pub async fn content_list<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
) -> PageResult {
    list(&st, &ctx, &headers, LearningKind::Content).await
}

/// `GET /cme/journal`: titles for everyone, the text for members.
pub async fn journal_list<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
) -> PageResult {
    list(&st, &ctx, &headers, LearningKind::Article).await
}

#[derive(Template)]
#[template(path = "learning/quiz.html")]
struct QuizView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    issue: String,
    intro: Vec<String>,
    dates: String,
    credits: String,
    /// `form`, `closed`, `waiting` or `result`.
    state: &'static str,
    questions: Vec<QuestionView>,
    score: String,
    passed: bool,
    error: Option<String>,
}

fn app_fail(e: mamis_app::AppError) -> PageError {
    PageError(e.into())
}

async fn quiz_render<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    doctor: uuid::Uuid,
    id: uuid::Uuid,
    error: Option<String>,
) -> PageResult {
    let v = quiz::view(&st.app, doctor, id).await.map_err(app_fail)?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let doc = v.item.quiz().ok_or(PageError(Failure::NotFound))?;
    let dates = v.item.quiz_dates().ok_or(PageError(Failure::NotFound))?;
    let given = match &v.answer {
        Some(a) => quiz::decode(&a.answers).map_err(app_fail)?,
        None => Vec::new(),
    };
    let state = match (&v.answer, v.published, v.open) {
        (Some(_), true, _) => "result",
        (Some(_), false, _) => "waiting",
        (None, _, true) => "form",
        (None, _, false) => "closed",
    };
    let credits = doc
        .credits
        .iter()
        .map(|c| {
            f.t(
                "learning-credit",
                &[
                    ("code", &c.code.to_string()),
                    ("units", &c.half_units.to_string()),
                ],
            )
        })
        .collect::<Vec<_>>()
        .join("、");
    let score = v
        .score
        .map(|s| {
            f.t(
                "learning-score",
                &[
                    ("n", &s.correct.to_string()),
                    ("total", &s.total.to_string()),
                    ("pct", &s.percent().to_string()),
                ],
            )
        })
        .unwrap_or_default();
    let view = QuizView {
        c: ctx.chrome(cat),
        id: id.to_string(),
        title: v.item.version.title.clone(),
        issue: v.item.version.issue.clone().unwrap_or_default(),
        intro: paragraphs(&doc.intro),
        dates: f.t(
            "learning-quiz-dates",
            &[
                ("date", &f.date(dates.deadline)),
                ("to", &f.date(dates.answers_on)),
            ],
        ),
        credits,
        state,
        questions: question_views(&doc.questions, &given, state == "result"),
        score,
        passed: v
            .score
            .is_some_and(|s| s.reaches(mamis_domain::learning::QUIZ_PASS_PERCENT)),
        error,
    };
    html(page(view.render())).map(private)
}

/// `GET /cme/quiz/{id}`: the form, the wait for publication, or the result.
pub async fn quiz_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let here = format!("/cme/quiz/{id}");
    let id = item_id(&id)?;
    match access(&st, &headers).await? {
        Access::Member(d, _) => quiz_render(&st, &ctx, d, id, None).await,
        Access::Other(g) => refuse(&st, &ctx, g, &here),
    }
}

/// `POST /cme/quiz/{id}`: records the answer once.
pub async fn quiz_answer<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult {
    let here = format!("/cme/quiz/{id}");
    let id = item_id(&id)?;
    let (doctor, actor) = match access(&st, &headers).await? {
        Access::Member(d, a) => (d, a),
        Access::Other(g) => return refuse(&st, &ctx, g, &here),
    };
    let item = learning::open_item(&st.app, LearningKind::Quiz, id)
        .await
        .map_err(app_fail)?;
    let questions = item.quiz().map(|q| q.questions.clone()).unwrap_or_default();
    let answers = answers_from(&body, &questions);
    let cat = &st.shared.catalogues;
    let key = match quiz::answer(&st.app, doctor, &actor, id, answers).await {
        Ok(()) => return Ok(Redirect::to(&here).into_response()),
        Err(AnswerError::Closed) => "learning-quiz-closed",
        Err(AnswerError::AlreadyAnswered) => "learning-quiz-already",
        Err(AnswerError::NotMember) => return refuse(&st, &ctx, Gate::NotMember, &here),
        Err(AnswerError::Invalid(_)) => "learning-answer-invalid",
        Err(AnswerError::App(e)) => return Err(app_fail(e)),
    };
    let mut r = quiz_render(&st, &ctx, doctor, id, Some(cat.text(ctx.lang, key, &[]))).await?;
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(r)
}

#[derive(Template)]
#[template(path = "learning/content.html")]
struct ContentView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    code: String,
    specialist: bool,
    text: Vec<String>,
    video: Option<String>,
    slides: bool,
    attempts: Vec<String>,
    passed: Option<String>,
}

/// `GET /cme/elearning/{id}`: the lesson, the member's attempts and the way to the assessment.
pub async fn content_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let here = format!("/cme/elearning/{id}");
    let id = item_id(&id)?;
    let doctor = match access(&st, &headers).await? {
        Access::Member(d, _) => d,
        Access::Other(g) => return refuse(&st, &ctx, g, &here),
    };
    let v = elearning::view(&st.app, doctor, id)
        .await
        .map_err(app_fail)?;
    let doc = v.item.content().ok_or(PageError(Failure::NotFound))?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let score = |a: &mamis_store::AttemptRow| {
        let s = mamis_domain::learning::Score {
            correct: a.correct,
            total: a.total,
        };
        f.t(
            "learning-score",
            &[
                ("n", &s.correct.to_string()),
                ("total", &s.total.to_string()),
                ("pct", &s.percent().to_string()),
            ],
        )
    };
    let view = ContentView {
        c: ctx.chrome(cat),
        id: id.to_string(),
        title: v.item.version.title.clone(),
        code: f.t("learning-code", &[("code", &doc.code.to_string())]),
        specialist: doc.specialist_common,
        text: paragraphs(&doc.text),
        video: doc.video_url.clone(),
        slides: doc.slides.is_some(),
        attempts: v
            .attempts
            .iter()
            .map(|a| format!("{} — {}", f.date(a.answered_on), score(a)))
            .collect(),
        passed: v.passed().map(|a| {
            f.t(
                "learning-passed",
                &[(
                    "date",
                    &f.date(mamis_domain::learning::content_visible_from(a.answered_on)),
                )],
            )
        }),
    };
    html(page(view.render())).map(private)
}

#[derive(Template)]
#[template(path = "learning/assessment.html")]
struct AssessmentView<'a> {
    c: Chrome<'a>,
    id: String,
    title: String,
    questions: Vec<QuestionView>,
    /// The last attempt's outcome.
    result: Option<(bool, String)>,
    locked: bool,
    error: Option<String>,
}

async fn assessment_render<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    doctor: uuid::Uuid,
    id: uuid::Uuid,
    result: Option<(bool, String)>,
    error: Option<String>,
) -> PageResult {
    let v = elearning::view(&st.app, doctor, id)
        .await
        .map_err(app_fail)?;
    let doc = v.item.content().ok_or(PageError(Failure::NotFound))?;
    let view = AssessmentView {
        c: ctx.chrome(&st.shared.catalogues),
        id: id.to_string(),
        title: v.item.version.title.clone(),
        questions: question_views(&doc.questions, &[], false),
        locked: v.passed().is_some(),
        result,
        error,
    };
    html(page(view.render())).map(private)
}

/// `GET /cme/elearning/{id}/assessment`: the self-assessment (members only; locked after a pass).
pub async fn assessment_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let here = format!("/cme/elearning/{id}/assessment");
    let id = item_id(&id)?;
    match access(&st, &headers).await? {
        Access::Member(d, _) => assessment_render(&st, &ctx, d, id, None, None).await,
        Access::Other(g) => refuse(&st, &ctx, g, &here),
    }
}

/// `POST /cme/elearning/{id}/assessment`: marks an attempt.
pub async fn assessment_submit<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult {
    let here = format!("/cme/elearning/{id}/assessment");
    let id = item_id(&id)?;
    let doctor = match access(&st, &headers).await? {
        Access::Member(d, _) => d,
        Access::Other(g) => return refuse(&st, &ctx, g, &here),
    };
    let item: Item = learning::open_item(&st.app, LearningKind::Content, id)
        .await
        .map_err(app_fail)?;
    let questions = item
        .content()
        .map(|c| c.questions.clone())
        .unwrap_or_default();
    let answers = answers_from(&body, &questions);
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    match elearning::attempt(&st.app, doctor, id, answers).await {
        Ok(o) => {
            let s = o.score;
            let mut text = f.t(
                "learning-score",
                &[
                    ("n", &s.correct.to_string()),
                    ("total", &s.total.to_string()),
                    ("pct", &s.percent().to_string()),
                ],
            );
            text.push(' ');
            text.push_str(&match o.visible_from {
                Some(d) => f.t("learning-passed", &[("date", &f.date(d))]),
                None => f.t("learning-failed", &[]),
            });
            assessment_render(&st, &ctx, doctor, id, Some((o.passed, text)), None).await
        }
        Err(AttemptError::Locked) => {
            let m = cat.text(ctx.lang, "learning-locked", &[]);
            let mut r = assessment_render(&st, &ctx, doctor, id, None, Some(m)).await?;
            *r.status_mut() = StatusCode::CONFLICT;
            Ok(r)
        }
        Err(AttemptError::NotMember) => refuse(&st, &ctx, Gate::NotMember, &here),
        Err(AttemptError::Invalid(_)) => {
            let m = cat.text(ctx.lang, "learning-answer-invalid", &[]);
            let mut r = assessment_render(&st, &ctx, doctor, id, None, Some(m)).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(AttemptError::App(e)) => Err(app_fail(e)),
    }
}

/// `GET /cme/elearning/{id}/slides`: the slide PDF (members only).
pub async fn slides<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let here = format!("/cme/elearning/{id}/slides");
    let id = item_id(&id)?;
    if let Access::Other(g) = access(&st, &headers).await? {
        return refuse(&st, &ctx, g, &here);
    }
    let item = learning::open_item(&st.app, LearningKind::Content, id)
        .await
        .map_err(app_fail)?;
    let sha = item
        .content()
        .and_then(|c| c.slides.clone())
        .ok_or(PageError(Failure::NotFound))?;
    let mut tx = st.app.store.read().await.map_err(|e| app_fail(e.into()))?;
    let file = tx
        .learning_file(&sha)
        .await
        .map_err(|e| app_fail(e.into()))?;
    tx.rollback().await.map_err(|e| app_fail(e.into()))?;
    let (ct, bytes) = file.ok_or(PageError(Failure::NotFound))?;
    Ok(private(
        ([(header::CONTENT_TYPE, ct)], bytes).into_response(),
    ))
}

#[derive(Template)]
#[template(path = "learning/article.html")]
struct ArticleView<'a> {
    c: Chrome<'a>,
    title: String,
    issue: String,
    authors: String,
    text: Vec<String>,
}

/// `GET /cme/journal/{id}`: an article's text, members only.
pub async fn article_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let here = format!("/cme/journal/{id}");
    let id = item_id(&id)?;
    if let Access::Other(g) = access(&st, &headers).await? {
        return refuse(&st, &ctx, g, &here);
    }
    let item = learning::open_item(&st.app, LearningKind::Article, id)
        .await
        .map_err(app_fail)?;
    let a = item.article().ok_or(PageError(Failure::NotFound))?;
    let view = ArticleView {
        c: ctx.chrome(&st.shared.catalogues),
        title: item.version.title.clone(),
        issue: item.version.issue.clone().unwrap_or_default(),
        authors: a.authors.clone(),
        text: paragraphs(&a.text),
    };
    html(page(view.render())).map(private)
}
