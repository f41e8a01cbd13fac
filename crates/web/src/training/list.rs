//! The organisers' list of sessions, and how a programme is shown.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use mamis_app::cme::PROGRAMME;
use mamis_app::training;
use mamis_domain::Catalogue;
use mamis_domain::rules::Rules;
use mamis_domain::training::{ItemKind, NonCreditKind};
use mamis_store::{Store, StoredItem, TrainingSession};

use super::{
    SESSIONS_SHOWN, approval_prefectures, approval_text, fail, jst, organiser_label,
    organiser_param, organisers_of, render, venue_text, when,
};
use crate::WebState;
use crate::shell::auth::StaffUser;
use crate::shell::chrome::{Chrome, PageCtx, PageResult};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::{Fmt, hm};
use crate::shell::i18n::Lang;

/// One code's share of an item, with what it earns.
pub(super) struct PartRow {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) minutes: u32,
    pub(super) units: String,
}

/// One programme item as the session and approval pages show it.
pub(super) struct ItemRow {
    pub(super) time: String,
    pub(super) title: String,
    pub(super) minutes: u32,
    /// The non-credit slot's kind; `None` for a talk.
    pub(super) non_credit: Option<String>,
    pub(super) parts: Vec<PartRow>,
}

fn kind_label(f: &Fmt<'_>, k: NonCreditKind) -> String {
    f.t(
        &format!("training-office-kind-{}", k.as_str().replace('_', "-")),
        &[],
    )
}

fn code_name(lang: Lang, version: &str, number: u16) -> String {
    Catalogue::embedded()
        .entries(version)
        .find(|e| e.number == number)
        .map(|e| match lang {
            Lang::Ja => e.name_ja.clone(),
            Lang::En => e.name_en.clone(),
        })
        .unwrap_or_default()
}

/// The programme with the units of each part under the current rules (0.5 steps), and the
/// session's total.
pub(super) fn programme_rows(
    f: &Fmt<'_>,
    lang: Lang,
    items: &[StoredItem],
) -> Result<(Vec<ItemRow>, String), PageError> {
    let rules = Rules::embedded(PROGRAMME);
    let checked = training::programme(items, rules).map_err(|e| PageError(e.into()))?;
    let mut total = mamis_domain::HalfUnits::new(0);
    let rows = checked
        .iter()
        .map(|item| {
            let credits = item.credits(rules);
            let (non_credit, parts) = match item.kind() {
                ItemKind::NonCredit(k) => (Some(kind_label(f, *k)), Vec::new()),
                ItemKind::Credit { parts } => (
                    None,
                    parts
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            let earned = credits
                                .iter()
                                .find(|c| c.part == i)
                                .map_or(mamis_domain::HalfUnits::new(0), |c| c.half_units);
                            total = total + earned;
                            PartRow {
                                code: p.code.to_string(),
                                name: code_name(lang, item.catalogue_version(), p.code),
                                minutes: p.minutes,
                                units: f
                                    .t("training-office-units", &[("units", &earned.to_string())]),
                            }
                        })
                        .collect(),
                ),
            };
            ItemRow {
                time: format!("{}–{}", hm(item.start()), hm(item.end())),
                title: item.title().to_owned(),
                minutes: item.minutes(),
                non_credit,
                parts,
            }
        })
        .collect();
    Ok((
        rows,
        f.t("training-office-units", &[("units", &total.to_string())]),
    ))
}

// ---------------------------------------------------------------- 1. the list

/// One session of the list.
struct SessionRow {
    href: String,
    title: String,
    when: String,
    venue: String,
    approval: String,
    approval_class: &'static str,
    state: String,
    closed: bool,
}

/// One organiser's sessions.
struct OrganiserBlock {
    label: String,
    new_href: String,
    sessions: Vec<SessionRow>,
}

#[derive(Template)]
#[template(path = "training/list.html")]
struct ListView<'a> {
    c: Chrome<'a>,
    blocks: Vec<OrganiserBlock>,
    approvals: bool,
}

fn session_row(f: &Fmt<'_>, s: &TrainingSession) -> SessionRow {
    let (approval, approval_class) = approval_text(f, s);
    SessionRow {
        href: format!("/office/training/{}", s.id),
        title: s.title.clone(),
        when: when(f, s.start, s.end),
        venue: venue_text(f, &s.venue),
        approval,
        approval_class,
        state: match s.closed_at {
            Some(t) => f.t("training-office-state-closed", &[("date", &jst(t))]),
            None => f.t("training-office-state-open", &[]),
        },
        closed: s.closed_at.is_some(),
    }
}

/// `/office/training`: the sessions of every organiser the staff member runs.
pub async fn list<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let approvals = !approval_prefectures(&staff).is_empty();
    let organisers = organisers_of(&staff);
    if organisers.is_empty() && !approvals {
        return Err(PageError(Failure::Forbidden));
    }
    let mut blocks = Vec::new();
    for o in organisers {
        let sessions = training::sessions_of(&st.app, &staff, &o, SESSIONS_SHOWN, 0)
            .await
            .map_err(fail)?;
        blocks.push(OrganiserBlock {
            label: organiser_label(&st, &o, ctx.lang).await?,
            new_href: format!("/office/training/new?organiser={}", organiser_param(&o)),
            sessions: sessions.iter().map(|s| session_row(&f, s)).collect(),
        });
    }
    let view = ListView {
        c: ctx.chrome(cat),
        blocks,
        approvals,
    };
    render(view.render(), StatusCode::OK)
}
