//! The office side of the learning areas (JMA staff): lists of quiz sets, contents and
//! articles with drafts; one form to create or edit (every save a new version, with a preview
//! and the history); the postcard import with its line-by-line report.

use std::collections::BTreeSet;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use chrono::NaiveDate;
use mamis_app::learning::authoring::{self, Problem};
use mamis_app::learning::postcards::{self, CardProblem, Outcome};
use mamis_app::learning::{ArticleDoc, ContentDoc, Doc, Draft, Item, QuizDoc, SaveError};
use mamis_domain::learning::{Question, QuestionKind, QuizCredit};
use mamis_domain::{HalfUnits, Principal};
use mamis_store::{LearningKind, Store};
use uuid::Uuid;

use super::{QuestionView, item_id, question_views};
use crate::WebState;
use crate::shell::auth::StaffUser;
use crate::shell::chrome::{Chrome, ErrorSummary, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;

/// Largest form accepted (slides up to 10 MiB and the text).
const FORM_LIMIT: usize = authoring::MAX_SLIDES + 1024 * 1024;

fn kind_key(k: LearningKind) -> &'static str {
    match k {
        LearningKind::Quiz => "quiz",
        LearningKind::Content => "content",
        LearningKind::Article => "article",
    }
}

fn kind_of(s: &str) -> Option<LearningKind> {
    match s {
        "quiz" => Some(LearningKind::Quiz),
        "content" => Some(LearningKind::Content),
        "article" => Some(LearningKind::Article),
        _ => None,
    }
}

struct Row {
    href: String,
    title: String,
    issue: String,
    state: String,
    version: i32,
}

#[derive(Template)]
#[template(path = "learning/office_list.html")]
struct ListView<'a> {
    c: Chrome<'a>,
    sections: Vec<(&'static str, String, Vec<Row>)>,
}

fn state_text(f: &Fmt<'_>, i: &Item, today: NaiveDate) -> String {
    match i.version.published_on {
        None => f.t("learning-office-draft", &[]),
        Some(d) if d > today => f.t("learning-office-scheduled", &[("date", &f.date(d))]),
        Some(d) => f.t("learning-office-published", &[("date", &f.date(d))]),
    }
}

fn fail(e: mamis_app::AppError) -> PageError {
    PageError(e.into())
}

/// `GET /office/learning`: every item by kind, drafts included.
pub async fn list<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let today = mamis_app::learning::today(&st.app);
    let mut sections = Vec::new();
    for kind in [
        LearningKind::Quiz,
        LearningKind::Content,
        LearningKind::Article,
    ] {
        let items = authoring::list(&st.app, &who, kind).await.map_err(fail)?;
        let rows = items
            .iter()
            .map(|i| Row {
                href: format!("/office/learning/{}", i.version.item_id),
                title: i.version.title.clone(),
                issue: i.version.issue.clone().unwrap_or_default(),
                state: state_text(&f, i, today),
                version: i.version.version,
            })
            .collect();
        let key = kind_key(kind);
        sections.push((key, f.t(&format!("learning-office-kind-{key}"), &[]), rows));
    }
    html(page(
        ListView {
            c: ctx.chrome(cat),
            sections,
        }
        .render(),
    ))
}

/// The form's fields as typed.
#[derive(Default)]
struct Fields {
    title: String,
    issue: String,
    published_on: String,
    deadline: String,
    answers_on: String,
    intro: String,
    text: String,
    authors: String,
    video_url: String,
    code: String,
    specialist: bool,
    credits: String,
    questions: String,
    slides: Option<Vec<u8>>,
}

#[derive(Template)]
#[template(path = "learning/office_edit.html")]
struct EditView<'a> {
    c: Chrome<'a>,
    kind: &'static str,
    action: String,
    heading: String,
    f: Fields,
    summary: Option<ErrorSummary>,
    preview: Vec<QuestionView>,
    versions: Vec<String>,
}

/// Questions in the authoring markup: `? text` (single choice) or `?? text` (multiple), then
/// `- choice` and `* right choice` lines, then `> explanation`.
fn questions_text(qs: &[Question]) -> String {
    let mut out = String::new();
    for q in qs {
        let mark = if q.kind == QuestionKind::Multiple {
            "??"
        } else {
            "?"
        };
        out.push_str(&format!("{mark} {}\n", q.text));
        for (i, c) in q.choices.iter().enumerate() {
            let right = u8::try_from(i).is_ok_and(|i| q.key.contains(&i));
            out.push_str(&format!("{} {c}\n", if right { "*" } else { "-" }));
        }
        if !q.explanation.is_empty() {
            out.push_str(&format!("> {}\n", q.explanation));
        }
        out.push('\n');
    }
    out
}

/// Reads the markup; `Err(line)` names the first line that fits no rule.
fn parse_questions(text: &str) -> Result<Vec<Question>, usize> {
    let mut out: Vec<Question> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line
            .strip_prefix("??")
            .or_else(|| line.strip_prefix("？？"))
        {
            out.push(new_question(rest, QuestionKind::Multiple));
        } else if let Some(rest) = line.strip_prefix('?').or_else(|| line.strip_prefix('？')) {
            out.push(new_question(rest, QuestionKind::Single));
        } else {
            let Some(q) = out.last_mut() else {
                return Err(n + 1);
            };
            if let Some(c) = line.strip_prefix('-') {
                q.choices.push(c.trim().to_owned());
            } else if let Some(c) = line.strip_prefix('*') {
                q.key
                    .insert(u8::try_from(q.choices.len()).map_err(|_| n + 1)?);
                q.choices.push(c.trim().to_owned());
            } else if let Some(e) = line.strip_prefix('>') {
                if !q.explanation.is_empty() {
                    q.explanation.push('\n');
                }
                q.explanation.push_str(e.trim());
            } else {
                return Err(n + 1);
            }
        }
    }
    Ok(out)
}

fn new_question(text: &str, kind: QuestionKind) -> Question {
    Question {
        text: text.trim().to_owned(),
        kind,
        choices: Vec::new(),
        key: BTreeSet::new(),
        explanation: String::new(),
    }
}

/// `74:1, 80:0.5` → credits; `Err(())` when a pair does not read.
fn parse_credits(s: &str) -> Result<Vec<QuizCredit>, ()> {
    s.split([',', '、'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (c, u) = p.split_once(':').ok_or(())?;
            let code = c.trim().parse::<u16>().map_err(|_| ())?;
            let units: f64 = u.trim().parse().map_err(|_| ())?;
            let half = (units * 2.0).round();
            if (units * 2.0 - half).abs() > 1e-9 || !(0.0..=200.0).contains(&half) {
                return Err(());
            }
            Ok(QuizCredit {
                code,
                half_units: HalfUnits::new(half as i64),
            })
        })
        .collect()
}

fn fields_of(i: &Item) -> Fields {
    let v = &i.version;
    let d = |x: Option<NaiveDate>| x.map(|d| d.to_string()).unwrap_or_default();
    let mut f = Fields {
        title: v.title.clone(),
        issue: v.issue.clone().unwrap_or_default(),
        published_on: d(v.published_on),
        deadline: d(v.deadline),
        answers_on: d(v.answers_on),
        ..Fields::default()
    };
    match &i.doc {
        Doc::Quiz(q) => {
            f.intro = q.intro.clone();
            f.credits = q
                .credits
                .iter()
                .map(|c| format!("{}:{}", c.code, c.half_units))
                .collect::<Vec<_>>()
                .join(", ");
            f.questions = questions_text(&q.questions);
        }
        Doc::Content(c) => {
            f.text = c.text.clone();
            f.video_url = c.video_url.clone().unwrap_or_default();
            f.code = c.code.to_string();
            f.specialist = c.specialist_common;
            f.questions = questions_text(&c.questions);
        }
        Doc::Article(a) => {
            f.text = a.text.clone();
            f.authors = a.authors.clone();
        }
    }
    f
}

/// Reads the multipart form (the CSRF middleware has read the token, the first field).
async fn read_form(req: Request) -> Result<Fields, PageError> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, FORM_LIMIT)
        .await
        .map_err(|_| PageError(Failure::BadRequest("invalid-value")))?;
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|_| PageError(Failure::BadRequest("invalid-value")))?;
    let mut f = Fields::default();
    while let Ok(Some(field)) = mp.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "slides" {
            let b: Bytes = field.bytes().await.unwrap_or_default();
            if !b.is_empty() {
                f.slides = Some(b.to_vec());
            }
            continue;
        }
        let v = field.text().await.unwrap_or_default();
        match name.as_str() {
            "title" => f.title = v,
            "issue" => f.issue = v,
            "published_on" => f.published_on = v,
            "deadline" => f.deadline = v,
            "answers_on" => f.answers_on = v,
            "intro" => f.intro = v,
            "text" => f.text = v,
            "authors" => f.authors = v,
            "video_url" => f.video_url = v,
            "code" => f.code = v,
            "specialist" => f.specialist = !v.is_empty(),
            "credits" => f.credits = v,
            "questions" => f.questions = v,
            _ => {}
        }
    }
    Ok(f)
}

/// Field problems found before the use case (markup, numbers, dates): (field id, message key,
/// line for the markup).
type Early = Vec<(&'static str, &'static str, Option<usize>)>;

fn draft_of(kind: LearningKind, item: Option<Uuid>, f: &Fields) -> (Draft, Early) {
    let mut early: Early = Vec::new();
    let mut date = |s: &str, id: &'static str| -> Option<NaiveDate> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        let d = NaiveDate::parse_from_str(&s.replace('/', "-"), "%Y-%m-%d").ok();
        if d.is_none() {
            early.push((id, "learning-office-bad-date", None));
        }
        d
    };
    let published_on = date(&f.published_on, "published_on");
    let deadline = date(&f.deadline, "deadline");
    let answers_on = date(&f.answers_on, "answers_on");
    let questions = match parse_questions(&f.questions) {
        Ok(q) => q,
        Err(line) => {
            early.push(("questions", "learning-office-bad-markup", Some(line)));
            Vec::new()
        }
    };
    let doc = match kind {
        LearningKind::Quiz => Doc::Quiz(QuizDoc {
            intro: f.intro.trim().to_owned(),
            questions,
            credits: parse_credits(&f.credits).unwrap_or_else(|()| {
                early.push(("credits", "learning-office-bad-credits", None));
                Vec::new()
            }),
        }),
        LearningKind::Content => Doc::Content(ContentDoc {
            text: f.text.trim().to_owned(),
            video_url: Some(f.video_url.trim().to_owned()).filter(|v| !v.is_empty()),
            slides: None,
            code: f.code.trim().parse().unwrap_or_else(|_| {
                early.push(("code", "learning-office-bad-code", None));
                u16::MAX
            }),
            specialist_common: f.specialist,
            questions,
        }),
        LearningKind::Article => Doc::Article(ArticleDoc {
            authors: f.authors.trim().to_owned(),
            text: f.text.trim().to_owned(),
        }),
    };
    let draft = Draft {
        item,
        issue: Some(f.issue.trim().to_owned()).filter(|i| !i.is_empty()),
        title: f.title.clone(),
        published_on,
        deadline,
        answers_on,
        doc,
        slides: f.slides.clone(),
    };
    (draft, early)
}

fn problem_text(f: &Fmt<'_>, p: &Problem) -> (&'static str, String) {
    use mamis_domain::learning::LearningError as E;
    match p {
        Problem::Title => ("title", f.t("learning-office-p-title", &[])),
        Problem::Issue(E::SpecialIssue) => ("issue", f.t("learning-office-p-special", &[])),
        Problem::Issue(_) => ("issue", f.t("learning-office-p-issue", &[])),
        Problem::Dates => ("deadline", f.t("learning-office-p-dates", &[])),
        Problem::Questions(E::Choices(n)) | Problem::Questions(E::Key(n)) => (
            "questions",
            f.t("learning-office-p-question", &[("n", &n.to_string())]),
        ),
        Problem::Questions(_) => ("questions", f.t("learning-office-p-questions", &[])),
        Problem::Credits => ("credits", f.t("learning-office-p-credits", &[])),
        Problem::UnknownCode(c) => (
            "code",
            f.t("learning-office-p-code", &[("code", &c.to_string())]),
        ),
        Problem::VideoUrl => ("video_url", f.t("learning-office-p-video", &[])),
        Problem::Slides => ("slides", f.t("learning-office-p-slides", &[])),
        Problem::CreditsFrozen => ("credits", f.t("learning-office-p-frozen", &[])),
        Problem::ShapeFrozen => ("questions", f.t("learning-office-p-shape", &[])),
        Problem::KindChanged => ("title", f.t("learning-office-p-kind", &[])),
    }
}

#[allow(clippy::too_many_arguments)]
fn edit_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    kind: LearningKind,
    action: String,
    f: Fields,
    problems: Vec<(String, String, String)>,
    versions: &[Item],
    status: StatusCode,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let fmt = Fmt::new(cat, ctx.lang);
    let latest = versions.last();
    let preview = match latest.map(|i| &i.doc) {
        Some(Doc::Quiz(q)) => question_views(&q.questions, &[], true),
        Some(Doc::Content(c)) => question_views(&c.questions, &[], true),
        _ => Vec::new(),
    };
    let key = kind_key(kind);
    let view = EditView {
        c: ctx.chrome(cat),
        kind: key,
        action,
        heading: fmt.t(&format!("learning-office-kind-{key}"), &[]),
        f,
        summary: ErrorSummary::of(cat, ctx.lang, problems),
        preview,
        versions: versions
            .iter()
            .rev()
            .map(|i| {
                format!(
                    "v{} — {} — {}",
                    i.version.version,
                    crate::shell::fmt::hm(i.version.saved_at),
                    i.version.saved_by
                )
            })
            .collect(),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = status;
    Ok(r)
}

/// `GET /office/learning/new/{kind}`.
pub async fn new_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    Path(kind): Path<String>,
) -> PageResult {
    let kind = kind_of(&kind).ok_or(PageError(Failure::NotFound))?;
    authoring::list(&st.app, &who, kind).await.map_err(fail)?;
    let action = format!("/office/learning/new/{}", kind_key(kind));
    edit_page(
        &st,
        &ctx,
        kind,
        action,
        Fields::default(),
        Vec::new(),
        &[],
        StatusCode::OK,
    )
}

/// `GET /office/learning/{id}`: the newest version in the form, its preview and the history.
pub async fn edit_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    Path(id): Path<String>,
) -> PageResult {
    let id = item_id(&id)?;
    let versions = authoring::versions(&st.app, &who, id).await.map_err(fail)?;
    let latest = versions.last().ok_or(PageError(Failure::NotFound))?;
    let kind = latest.version.kind;
    let f = fields_of(latest);
    edit_page(
        &st,
        &ctx,
        kind,
        format!("/office/learning/{id}"),
        f,
        Vec::new(),
        &versions,
        StatusCode::OK,
    )
}

async fn save<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    who: &Principal,
    kind: LearningKind,
    item: Option<Uuid>,
    req: Request,
) -> PageResult {
    let f = read_form(req).await?;
    let (draft, early) = draft_of(kind, item, &f);
    let cat = &st.shared.catalogues;
    let fmt = Fmt::new(cat, ctx.lang);
    let action = match item {
        Some(id) => format!("/office/learning/{id}"),
        None => format!("/office/learning/new/{}", kind_key(kind)),
    };
    let versions = match item {
        Some(id) => authoring::versions(&st.app, who, id).await.map_err(fail)?,
        None => Vec::new(),
    };
    let mut problems: Vec<(String, String, String)> = early
        .iter()
        .map(|(id, key, line)| {
            let n = line.map(|l| l.to_string()).unwrap_or_default();
            ((*id).to_owned(), String::new(), fmt.t(key, &[("n", &n)]))
        })
        .collect();
    if problems.is_empty() {
        match authoring::save(&st.app, who, draft).await {
            Ok((id, _)) => {
                return Ok(Redirect::to(&format!("/office/learning/{id}")).into_response());
            }
            Err(SaveError::Invalid(ps)) => {
                for p in ps {
                    let (id, text) = problem_text(&fmt, &p);
                    problems.push((id.to_owned(), String::new(), text));
                }
            }
            Err(SaveError::App(e)) => return Err(fail(e)),
        }
    }
    edit_page(
        st,
        ctx,
        kind,
        action,
        f,
        problems,
        &versions,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

/// `POST /office/learning/new/{kind}`: the first version (a draft without a publication date).
pub async fn create<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    Path(kind): Path<String>,
    req: Request,
) -> PageResult {
    let kind = kind_of(&kind).ok_or(PageError(Failure::NotFound))?;
    save(&st, &ctx, &who, kind, None, req).await
}

/// `POST /office/learning/{id}`: the next version.
pub async fn update<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    Path(id): Path<String>,
    req: Request,
) -> PageResult {
    let id = item_id(&id)?;
    let versions = authoring::versions(&st.app, &who, id).await.map_err(fail)?;
    let kind = versions
        .last()
        .map(|i| i.version.kind)
        .ok_or(PageError(Failure::NotFound))?;
    save(&st, &ctx, &who, kind, Some(id), req).await
}

#[derive(Template)]
#[template(path = "learning/postcards.html")]
struct PostcardsView<'a> {
    c: Chrome<'a>,
    encoding: String,
    lines: Vec<(String, String, bool)>,
    applied: Option<(u64, u64, u64)>,
    refused: bool,
}

fn card_text(f: &Fmt<'_>, o: &Outcome) -> (String, bool) {
    let key = match o {
        Outcome::Imported => "learning-card-imported",
        Outcome::SkippedWeb => "learning-card-skipped-web",
        Outcome::SkippedAlready => "learning-card-skipped-already",
        Outcome::Error(p) => match p {
            CardProblem::Encoding => "learning-card-encoding",
            CardProblem::Header => "learning-card-header",
            CardProblem::Empty => "learning-card-empty",
            CardProblem::Broken => "learning-card-broken",
            CardProblem::Columns => "learning-card-columns",
            CardProblem::MemberId => "learning-card-member-id",
            CardProblem::UnknownMember => "learning-card-unknown-member",
            CardProblem::NotMember => "learning-card-not-member",
            CardProblem::Issue => "learning-card-issue",
            CardProblem::NoSet => "learning-card-no-set",
            CardProblem::Answers => "learning-card-answers",
            CardProblem::Date => "learning-card-date",
            CardProblem::Late => "learning-card-late",
            CardProblem::Early => "learning-card-early",
            CardProblem::Repeated(first) => {
                return (
                    f.t("learning-card-repeated", &[("n", &first.to_string())]),
                    true,
                );
            }
        },
    };
    (f.t(key, &[]), matches!(o, Outcome::Error(_)))
}

/// `GET /office/learning/postcards`.
pub async fn postcards_form<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
) -> PageResult {
    // the form is for those who may import
    mamis_app::authz::require(
        &who,
        mamis_domain::Action::EditCredits,
        &mamis_domain::Target::System,
    )
    .map_err(fail)?;
    let view = PostcardsView {
        c: ctx.chrome(&st.shared.catalogues),
        encoding: String::new(),
        lines: Vec::new(),
        applied: None,
        refused: false,
    };
    html(page(view.render()))
}

/// `POST /office/learning/postcards`: imports a file whole or refuses it with its lines.
pub async fn postcards_upload<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, who): StaffUser,
    req: Request,
) -> PageResult {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, postcards::MAX_BYTES + 64 * 1024)
        .await
        .map_err(|_| PageError(Failure::BadRequest("invalid-value")))?;
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|_| PageError(Failure::BadRequest("invalid-value")))?;
    let mut file = Vec::new();
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("file") {
            file = field.bytes().await.unwrap_or_default().to_vec();
        }
    }
    let report = postcards::import(&st.app, &who, &file)
        .await
        .map_err(fail)?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let view = PostcardsView {
        c: ctx.chrome(cat),
        encoding: report.encoding.to_owned(),
        lines: report
            .lines
            .iter()
            .map(|(line, o)| {
                let (text, error) = card_text(&f, o);
                (line.to_string(), text, error)
            })
            .collect(),
        applied: report
            .applied
            .then_some((report.imported, report.skipped, report.credited)),
        refused: !report.applied,
    };
    let mut r = html(page(view.render()))?;
    if !report.applied {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_markup_round_trips_and_names_bad_lines() {
        let text = "? 一つ選ぶ\n- a\n* b\n> b が正しい\n\n?? 全部選ぶ\n* x\n- y\n* z\n";
        let qs = parse_questions(text).unwrap();
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].key, [1].into_iter().collect());
        assert_eq!(qs[1].kind, QuestionKind::Multiple);
        assert_eq!(qs[1].key, [0, 2].into_iter().collect());
        assert_eq!(parse_questions(&questions_text(&qs)).unwrap(), qs);
        assert_eq!(parse_questions("- before any question"), Err(1));
        assert_eq!(parse_questions("? q\n- a\nno marker"), Err(3));
        assert_eq!(
            parse_credits("74:1, 80:0.5").unwrap(),
            vec![
                QuizCredit {
                    code: 74,
                    half_units: HalfUnits::new(2)
                },
                QuizCredit {
                    code: 80,
                    half_units: HalfUnits::new(1)
                }
            ]
        );
        assert!(parse_credits("74:0.3").is_err());
        assert!(parse_credits("74").is_err());
    }
}
