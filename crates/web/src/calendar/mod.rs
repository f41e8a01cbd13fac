//! 研修会カレンダー (public): every session that awards credit, searchable by prefecture, date,
//! code, online / on site and organiser; a session's page with its programme (units and codes);
//! the iCalendar feed of any search (`/calendar.ics` with the same query).

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use mamis_app::learning::calendar::{self, Listing, Search, SearchProblem};
use mamis_domain::training::ItemKind;
use mamis_domain::{HalfUnits, Timestamp};
use mamis_store::Store;

use crate::WebState;
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::{Fmt, hm, query_pairs};

/// The calendar's routes.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/calendar", get(search::<S>))
        .route("/calendar.ics", get(feed::<S>))
        .route("/calendar/sessions/{id}", get(session::<S>))
}

/// The query's pairs and the search they make (or its problems).
type Parsed = (Vec<(String, String)>, Result<Search, Vec<SearchProblem>>);

fn parse(q: Option<&str>) -> Parsed {
    let pairs = query_pairs(q).unwrap_or_default();
    let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let s = Search::parse(get);
    (pairs, s)
}

fn problem_key(p: SearchProblem) -> (&'static str, &'static str) {
    match p {
        SearchProblem::Date => ("from", "calendar-p-date"),
        SearchProblem::Range => ("to", "calendar-p-range"),
        SearchProblem::Prefecture => ("prefecture", "calendar-p-prefecture"),
        SearchProblem::Code => ("code", "calendar-p-code"),
        SearchProblem::Mode => ("mode", "calendar-p-mode"),
        SearchProblem::Page => ("page", "calendar-p-page"),
    }
}

struct Line {
    href: String,
    title: String,
    when: String,
    organiser: String,
    mode: String,
    credits: String,
}

#[derive(Template)]
#[template(path = "calendar/search.html")]
struct SearchView<'a> {
    c: Chrome<'a>,
    q: Vec<(String, String)>,
    prefectures: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    lines: Vec<Line>,
    ics: String,
    next: Option<String>,
    prev: Option<String>,
}

impl SearchView<'_> {
    fn v(&self, k: &str) -> String {
        self.q
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

fn when(f: &Fmt<'_>, start: Timestamp, end: Timestamp) -> String {
    format!(
        "{} {}–{}",
        f.date(mamis_domain::time::japan_date(start)),
        hm(start),
        hm(end)
    )
}

fn credits_text(credits: &[(u16, HalfUnits)]) -> String {
    credits
        .iter()
        .map(|(c, h)| format!("CC{c} {h}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn line(f: &Fmt<'_>, l: &Listing) -> Line {
    let r = &l.row;
    let mode = match r.venue_kind.as_str() {
        "online" => f.t("calendar-online", &[]),
        "hybrid" => f.t(
            "calendar-hybrid",
            &[("place", r.place.as_deref().unwrap_or(""))],
        ),
        _ => r.place.clone().unwrap_or_default(),
    };
    Line {
        href: format!("/calendar/sessions/{}", r.session),
        title: r.title.clone(),
        when: when(f, r.start, r.end),
        organiser: r.organiser.clone(),
        mode,
        credits: credits_text(&l.credits),
    }
}

fn with_page(q: &[(String, String)], page: u32) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q.iter().filter(|(k, _)| k != "page") {
        s.append_pair(k, v);
    }
    s.append_pair("page", &page.to_string());
    format!("/calendar?{}", s.finish())
}

/// `GET /calendar`: the search form and one page of sessions.
pub async fn search<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RawQuery(q): RawQuery,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let (pairs, parsed) = parse(q.as_deref());
    let prefectures = calendar::prefectures(&st.app)
        .await
        .map_err(|e| PageError(e.into()))?
        .into_iter()
        .map(|(code, ja, en)| {
            let name = if ctx.lang == crate::shell::i18n::Lang::Ja {
                ja
            } else {
                en
            };
            (code, name)
        })
        .collect();
    let mut view = SearchView {
        c: ctx.chrome(cat),
        q: pairs.clone(),
        prefectures,
        errors: Vec::new(),
        lines: Vec::new(),
        ics: format!(
            "/calendar.ics{}",
            q.as_deref().map(|q| format!("?{q}")).unwrap_or_default()
        ),
        next: None,
        prev: None,
    };
    match parsed {
        Ok(s) => {
            let found = calendar::search(&st.app, &s)
                .await
                .map_err(|e| PageError(e.into()))?;
            if found.len() == calendar::PAGE as usize {
                view.next = Some(with_page(&pairs, s.page + 1));
            }
            if s.page > 0 {
                view.prev = Some(with_page(&pairs, s.page - 1));
            }
            view.lines = found.iter().map(|l| line(&f, l)).collect();
            html(page(view.render()))
        }
        Err(ps) => {
            view.errors = ps
                .into_iter()
                .map(|p| {
                    let (id, key) = problem_key(p);
                    (id.to_owned(), f.t(key, &[]))
                })
                .collect();
            let mut r = html(page(view.render()))?;
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
    }
}

/// `GET /calendar.ics`: the same search as an iCalendar feed.
pub async fn feed<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    RawQuery(q): RawQuery,
) -> PageResult {
    let (_, parsed) = parse(q.as_deref());
    let Ok(s) = parsed else {
        let cat = &st.shared.catalogues;
        return Ok((
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            cat.text(ctx.lang, "calendar-p-feed", &[]),
        )
            .into_response());
    };
    let found = calendar::search(&st.app, &s)
        .await
        .map_err(|e| PageError(e.into()))?;
    let body = calendar::ical(&found, &st.app.config.base_url, st.app.now());
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"mamis-calendar.ics\"",
            ),
        ],
        body,
    )
        .into_response())
}

struct ItemLine {
    title: String,
    when: String,
    credits: String,
}

#[derive(Template)]
#[template(path = "calendar/session.html")]
struct SessionView<'a> {
    c: Chrome<'a>,
    title: String,
    when: String,
    organiser: String,
    place: String,
    approval: Option<String>,
    items: Vec<ItemLine>,
    total: String,
}

/// `GET /calendar/sessions/{id}`: a session's programme with units and codes.
pub async fn session<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> PageResult {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| PageError(Failure::NotFound))?;
    let p = calendar::session(&st.app, id)
        .await
        .map_err(|e| PageError(e.into()))?;
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let mut total = HalfUnits::ZERO;
    let items = p
        .items
        .iter()
        .map(|i| {
            let credits = match &i.kind {
                ItemKind::Credit { parts } => {
                    let cs: Vec<(u16, HalfUnits)> = parts
                        .iter()
                        .map(|x| (x.code, HalfUnits::from_minutes(x.minutes)))
                        .collect();
                    total = cs.iter().fold(total, |t, (_, h)| t + *h);
                    credits_text(&cs)
                }
                ItemKind::NonCredit(_) => f.t("calendar-no-credit", &[]),
            };
            ItemLine {
                title: i.title.clone(),
                when: format!(
                    "{}–{}",
                    hm(i.start),
                    hm(i.start + chrono::Duration::minutes(i64::from(i.minutes)))
                ),
                credits,
            }
        })
        .collect();
    let s = &p.session;
    let view = SessionView {
        c: ctx.chrome(cat),
        title: s.title.clone(),
        when: when(&f, s.start, s.end),
        organiser: p.organiser.clone(),
        place: s
            .venue
            .place()
            .map(str::to_owned)
            .unwrap_or_else(|| f.t("calendar-online", &[])),
        approval: s.approval.as_ref().map(|a| a.number.clone()),
        items,
        total: total.to_string(),
    };
    html(page(view.render()))
}
