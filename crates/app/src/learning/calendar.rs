//! 研修会カレンダー: every session that awards credit (an association's own, or an outside
//! organisation's once approved), public and searchable; a session's page with its programme;
//! an iCalendar feed per search; and My Page ①'s suggestions — upcoming sessions in the
//! doctor's prefecture or online, and e-learning contents, that carry codes still missing in
//! the current window, ranked by how much of the shortfall each closes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use mamis_domain::learning::closes;
use mamis_domain::training::ItemKind;
use mamis_domain::{AssociationCode, AssociationLevel, HalfUnits, Timestamp};
use mamis_store::{
    CalendarQuery, CalendarRow, LearningKind, LearningStore, Organiser, RegistryStore, Store,
    StoredItem, TrainingSession, TrainingStore, Tx,
};
use uuid::Uuid;

use super::{Item, day_start, today};
use crate::{App, AppError};

/// Rows per calendar page.
pub const PAGE: u32 = 50;
/// How far ahead My Page ① looks for sessions.
const SUGGEST_DAYS: i64 = 120;
/// How many suggestions of each kind My Page ① shows.
pub const SUGGEST_MAX: usize = 5;

/// A search as typed (query string), checked by [`Search::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// From this Japan date (default today).
    pub from: Option<NaiveDate>,
    /// Through this Japan date.
    pub to: Option<NaiveDate>,
    /// In this prefecture (`P13`).
    pub prefecture: Option<AssociationCode>,
    /// Carrying this code.
    pub code: Option<u16>,
    /// Online (true) or on site (false).
    pub online: Option<bool>,
    /// Organiser name contains.
    pub organiser: Option<String>,
    /// 0-based page.
    pub page: u32,
}

/// A field of a search that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchProblem {
    /// Not a date.
    Date,
    /// `to` before `from`.
    Range,
    /// Not a prefecture code `P01`–`P47`.
    Prefecture,
    /// Not a curriculum code.
    Code,
    /// Not `online` or `onsite`.
    Mode,
    /// Not a page number.
    Page,
}

impl Search {
    /// Reads a query's fields (empty means unset); lists every problem.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<SearchProblem>> {
        let val = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut p = Vec::new();
        let mut date = |k: &str| {
            val(k).and_then(|v| {
                let d = NaiveDate::parse_from_str(&v.replace('/', "-"), "%Y-%m-%d").ok();
                if d.is_none() {
                    p.push(SearchProblem::Date);
                }
                d
            })
        };
        let from = date("from");
        let to = date("to");
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            p.push(SearchProblem::Range);
        }
        let prefecture = val("prefecture").and_then(|v| {
            let c = AssociationCode::parse(&v)
                .ok()
                .filter(|c| c.level() == AssociationLevel::Prefecture);
            if c.is_none() {
                p.push(SearchProblem::Prefecture);
            }
            c
        });
        let code = val("code").and_then(|v| {
            let version =
                &mamis_domain::rules::Rules::embedded(crate::cme::PROGRAMME).catalogue_version;
            let c = v.parse::<u16>().ok().filter(|n| {
                mamis_domain::Catalogue::embedded()
                    .parse(version, i64::from(*n))
                    .is_ok()
            });
            if c.is_none() {
                p.push(SearchProblem::Code);
            }
            c
        });
        let online = match val("mode").as_deref() {
            None => None,
            Some("online") => Some(true),
            Some("onsite") => Some(false),
            Some(_) => {
                p.push(SearchProblem::Mode);
                None
            }
        };
        let page = match val("page") {
            None => 0,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 10_000)
                .unwrap_or_else(|| {
                    p.push(SearchProblem::Page);
                    0
                }),
        };
        let organiser = val("organiser").map(|o| o.chars().take(100).collect());
        if p.is_empty() {
            Ok(Self {
                from,
                to,
                prefecture,
                code,
                online,
                organiser,
                page,
            })
        } else {
            Err(p)
        }
    }

    /// The store query for this search on `today`.
    pub fn query(&self, today: NaiveDate) -> CalendarQuery {
        CalendarQuery {
            from: Some(day_start(self.from.unwrap_or(today))),
            to: self.to.and_then(|t| t.succ_opt()).map(day_start),
            prefecture: self.prefecture.clone(),
            codes: self.code.into_iter().collect(),
            online: self.online,
            organiser: self.organiser.clone(),
            limit: PAGE,
            offset: self.page.saturating_mul(PAGE),
        }
    }
}

/// One calendar line with the units per code its programme awards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The session.
    pub row: CalendarRow,
    /// Units per code (in code order).
    pub credits: Vec<(u16, HalfUnits)>,
}

impl Listing {
    /// Total units.
    pub fn units(&self) -> HalfUnits {
        self.credits.iter().map(|(_, h)| *h).sum()
    }
}

async fn listings<T: LearningStore + Send>(
    tx: &mut T,
    rows: Vec<CalendarRow>,
) -> Result<Vec<Listing>, AppError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.session).collect();
    let mut per: BTreeMap<Uuid, BTreeMap<u16, HalfUnits>> = BTreeMap::new();
    for (s, code, minutes) in tx.calendar_parts(&ids).await? {
        *per.entry(s).or_default().entry(code).or_default() = per
            .get(&s)
            .and_then(|m| m.get(&code))
            .copied()
            .unwrap_or_default()
            + HalfUnits::from_minutes(minutes);
    }
    Ok(rows
        .into_iter()
        .map(|row| Listing {
            credits: per
                .get(&row.session)
                .map(|m| m.iter().map(|(c, h)| (*c, *h)).collect())
                .unwrap_or_default(),
            row,
        })
        .collect())
}

/// One page of the public calendar.
pub async fn search<S: Store>(app: &App<S>, s: &Search) -> Result<Vec<Listing>, AppError> {
    let q = s.query(today(app));
    let mut tx = app.store.read().await?;
    let rows = tx.calendar_search(&q).await?;
    let out = listings(&mut tx, rows).await?;
    tx.rollback().await?;
    Ok(out)
}

/// The 47 prefectures (code, Japanese name, English name), for the search form.
pub async fn prefectures<S: Store>(
    app: &App<S>,
) -> Result<Vec<(String, String, String)>, AppError> {
    let mut tx = app.store.read().await?;
    let all = tx.associations_under(&AssociationCode::jma()).await?;
    tx.rollback().await?;
    Ok(all
        .into_iter()
        .filter(|a| a.code.level() == AssociationLevel::Prefecture)
        .map(|a| (a.code.as_str().to_owned(), a.name_ja, a.name_en))
        .collect())
}

/// A session's page: the session and its programme (credit items with their codes).
#[derive(Debug, Clone)]
pub struct SessionPage {
    /// The session.
    pub session: TrainingSession,
    /// Organiser name.
    pub organiser: String,
    /// The programme in order.
    pub items: Vec<StoredItem>,
}

/// A credit-awarding session's page; `NotFound` for an unapproved outside session.
pub async fn session<S: Store>(app: &App<S>, id: Uuid) -> Result<SessionPage, AppError> {
    let mut tx = app.store.read().await?;
    let Some(session) = tx.training_session(id).await? else {
        tx.rollback().await?;
        return Err(AppError::NotFound);
    };
    let organiser = match &session.organiser {
        Organiser::Association(c) => tx
            .association(c)
            .await?
            .map(|a| a.name_ja)
            .unwrap_or_else(|| c.as_str().to_owned()),
        Organiser::Organisation(o) => {
            if session.approval.is_none() {
                tx.rollback().await?;
                return Err(AppError::NotFound);
            }
            tx.organisation(*o)
                .await?
                .map(|o| o.name)
                .unwrap_or_default()
        }
    };
    let items = tx.programme_items(id).await?;
    tx.rollback().await?;
    if !items
        .iter()
        .any(|i| matches!(i.kind, ItemKind::Credit { .. }))
    {
        return Err(AppError::NotFound);
    }
    Ok(SessionPage {
        session,
        organiser,
        items,
    })
}

/// Escapes an iCalendar TEXT value (RFC 5545 §3.3.11).
fn ics_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets without splitting a UTF-8 character (RFC 5545 §3.1).
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for ch in line.chars() {
        let n = ch.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += n;
    }
    out.push_str("\r\n");
    out
}

fn ics_time(t: Timestamp) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The iCalendar feed of a search's listings.
pub fn ical(listings: &[Listing], base: &url::Url, now: Timestamp) -> String {
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//MAMIS//研修会カレンダー//JA",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:研修会カレンダー",
    ] {
        out.push_str(&fold(l));
    }
    let host = base.host_str().unwrap_or("mamis");
    for l in listings {
        let r = &l.row;
        let url = base
            .join(&format!("/calendar/sessions/{}", r.session))
            .map(|u| u.to_string())
            .unwrap_or_default();
        let codes: Vec<String> = l
            .credits
            .iter()
            .map(|(c, h)| format!("CC{c} {h}単位"))
            .collect();
        let description = format!("{}\n{}", r.organiser, codes.join(" / "));
        let location = r.place.clone().unwrap_or_else(|| "オンライン".into());
        for line in [
            "BEGIN:VEVENT".to_owned(),
            format!("UID:{}@{host}", r.session),
            format!("DTSTAMP:{}", ics_time(now)),
            format!("DTSTART:{}", ics_time(r.start)),
            format!("DTEND:{}", ics_time(r.end)),
            format!("SUMMARY:{}", ics_text(&r.title)),
            format!("LOCATION:{}", ics_text(&location)),
            format!("DESCRIPTION:{}", ics_text(&description)),
            format!("URL:{url}"),
            "END:VEVENT".to_owned(),
        ] {
            out.push_str(&fold(&line));
        }
    }
    out.push_str(&fold("END:VCALENDAR"));
    out
}

/// What My Page ① suggests.
#[derive(Debug, Clone, Default)]
pub struct Suggestions {
    /// Codes still missing in the current window.
    pub missing: Vec<u16>,
    /// Half-points the window still lacks.
    pub shortfall_half: i64,
    /// Upcoming sessions (with what each closes), best first.
    pub sessions: Vec<(Listing, i64)>,
    /// E-learning contents (with what each closes), best first; members only.
    pub contents: Vec<(Item, i64)>,
}

/// How an offer ranks: what it closes of the shortfall (capped), then how many missing codes
/// it carries, then everything it adds (uncapped), larger first.
fn rank(
    shortfall_half: i64,
    missing: &BTreeSet<u16>,
    offer: &[(u16, HalfUnits)],
) -> (i64, i64, i64) {
    let carried = offer
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| missing.contains(c))
        .collect::<BTreeSet<_>>()
        .len() as i64;
    (
        closes(shortfall_half, missing, offer),
        carried,
        closes(i64::MAX, missing, offer),
    )
}

/// My Page ①'s suggestions from a doctor's standing: the current window's missing codes and
/// shortfall decide the order.
pub async fn for_summary<S: Store>(
    app: &App<S>,
    s: &crate::cme::Summary,
) -> Result<Suggestions, AppError> {
    let Some(w) = s.standing.next_window() else {
        return Ok(Suggestions::default());
    };
    let e = w.explain(s.rules);
    suggestions(
        app,
        s.doctor.id,
        &e.missing_codes,
        e.shortfall_half,
        s.jma_member,
    )
    .await
}

/// Upcoming sessions in the doctor's prefecture or online and (members only) contents not yet
/// passed, those carrying codes still missing first, ranked by how much of the shortfall each
/// closes (then by missing codes carried, units, and date).
pub async fn suggestions<S: Store>(
    app: &App<S>,
    doctor: Uuid,
    missing: &[u16],
    shortfall_half: i64,
    member: bool,
) -> Result<Suggestions, AppError> {
    let mut out = Suggestions {
        missing: missing.to_vec(),
        shortfall_half,
        ..Suggestions::default()
    };
    let missing_set: BTreeSet<u16> = missing.iter().copied().collect();
    let now = app.now();
    let day = today(app);
    let mut tx = app.store.read().await?;
    let prefecture = {
        let ms = tx.memberships_of(doctor).await?;
        let from_membership = ms
            .iter()
            .filter(|m| m.active_on(day))
            .find_map(|m| m.association.prefecture_code());
        match from_membership {
            Some(p) => Some(p),
            None => tx.doctor(doctor).await?.and_then(|d| d.home_prefecture),
        }
    };
    let window = CalendarQuery {
        from: Some(now),
        to: Some(now + chrono::Duration::days(SUGGEST_DAYS)),
        limit: 200,
        ..CalendarQuery::default()
    };
    // sessions carrying missing codes first; others only to fill the list
    let mut rows = Vec::new();
    let passes: Vec<Vec<u16>> = if missing.is_empty() {
        vec![Vec::new()]
    } else {
        vec![missing.to_vec(), Vec::new()]
    };
    for codes in passes {
        if rows.len() >= SUGGEST_MAX {
            break;
        }
        let q = CalendarQuery {
            codes,
            ..window.clone()
        };
        if let Some(p) = &prefecture {
            rows.extend(
                tx.calendar_search(&CalendarQuery {
                    prefecture: Some(p.clone()),
                    ..q.clone()
                })
                .await?,
            );
        }
        rows.extend(
            tx.calendar_search(&CalendarQuery {
                online: Some(true),
                ..q
            })
            .await?,
        );
        let mut seen = BTreeSet::new();
        rows.retain(|r| seen.insert(r.session));
    }
    let mut sessions: Vec<(Listing, (i64, i64, i64))> = listings(&mut tx, rows)
        .await?
        .into_iter()
        .map(|l| {
            let r = rank(shortfall_half, &missing_set, &l.credits);
            (l, r)
        })
        .collect();
    sessions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.row.start.cmp(&b.0.row.start)));
    sessions.truncate(SUGGEST_MAX);
    out.sessions = sessions.into_iter().map(|(l, r)| (l, r.0)).collect();
    if member {
        let passed: BTreeSet<Uuid> = tx
            .attempts_of(doctor)
            .await?
            .into_iter()
            .filter(|a| a.passed)
            .map(|a| a.content_id)
            .collect();
        let mut contents = Vec::new();
        for v in tx.learning_items(LearningKind::Content).await? {
            let item = Item::from_version(v)?;
            if !item.is_open(day) || passed.contains(&item.version.item_id) {
                continue;
            }
            if let Some(c) = item.content() {
                let r = rank(shortfall_half, &missing_set, &[(c.code, HalfUnits::new(2))]);
                contents.push((item, r));
            }
        }
        contents.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(a.0.version.title.cmp(&b.0.version.title))
        });
        contents.truncate(SUGGEST_MAX);
        out.contents = contents.into_iter().map(|(i, r)| (i, r.0)).collect();
    }
    tx.rollback().await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_characters_whole_and_lines_short() {
        let long = format!("SUMMARY:{}", "研修会".repeat(30));
        let folded = fold(&long);
        for l in folded.split("\r\n") {
            assert!(l.len() <= 75, "{l}");
        }
        let back: String = folded.replace("\r\n ", "").replace("\r\n", "");
        assert_eq!(back, long);
        assert_eq!(ics_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }

    #[test]
    fn searches_are_checked_field_by_field() {
        let q = |pairs: &'static [(&'static str, &'static str)]| {
            Search::parse(|k| {
                pairs
                    .iter()
                    .find(|(a, _)| *a == k)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let ok = q(&[("prefecture", "P13"), ("code", "74"), ("mode", "online")]).unwrap();
        assert_eq!(ok.code, Some(74));
        assert_eq!(ok.online, Some(true));
        assert_eq!(
            q(&[("prefecture", "P13-0001"), ("code", "99"), ("mode", "x")]).unwrap_err(),
            vec![
                SearchProblem::Prefecture,
                SearchProblem::Code,
                SearchProblem::Mode
            ]
        );
        assert_eq!(
            q(&[("from", "2026-05-01"), ("to", "2026-04-01")]).unwrap_err(),
            vec![SearchProblem::Range]
        );
        assert_eq!(
            q(&[("from", "2026-13-01")]).unwrap_err(),
            vec![SearchProblem::Date]
        );
    }
}
