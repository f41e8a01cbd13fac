//! `/office/members/stats`: members per class per association as of a date (default: the
//! JMA's 1 December) and the node's joins, transfers and withdrawals per month, as tables and
//! server-rendered SVG bar charts (no script), and as CSV.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use chrono::NaiveDate;
use mamis_app::members::stats::{self, Stats, jma_count_day};
use mamis_domain::{AssociationCode, Principal};
use mamis_store::Store;

use super::{grant_nodes, pick};
use crate::WebState;
use crate::shell::auth::StaffUser;
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::query_pairs;
use crate::shell::i18n::{Catalogues, Lang};

/// One bar of a chart.
pub(crate) struct Bar {
    pub(crate) label: String,
    /// One value per series.
    pub(crate) values: Vec<u64>,
}

/// A grouped bar chart as an SVG document fragment: one group per bar, one colour per series,
/// the largest value at full height, values written above the bars and a legend. Text is
/// escaped; the numbers are the same as the table beside it.
pub(crate) fn bar_chart(title: &str, series: &[String], bars: &[Bar]) -> String {
    const W: usize = 640;
    const H: usize = 240;
    const TOP: usize = 30;
    const BOTTOM: usize = 40;
    const COLOURS: [&str; 4] = ["#1f5fa8", "#2e8540", "#b35900", "#8a1c4a"];
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let max = bars
        .iter()
        .flat_map(|b| b.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let groups = bars.len().max(1);
    let group_w = (W - 20) / groups;
    let per = series.len().max(1);
    let bar_w = ((group_w.saturating_sub(6)) / per).max(2);
    let plot_h = H - TOP - BOTTOM;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"{}\" class=\"chart\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    out.push_str(&format!(
        "<line x1=\"10\" y1=\"{y}\" x2=\"{x}\" y2=\"{y}\" stroke=\"#555\"/>",
        y = H - BOTTOM,
        x = W - 10
    ));
    for (g, b) in bars.iter().enumerate() {
        let x0 = 10 + g * group_w + 3;
        for (k, v) in b.values.iter().enumerate() {
            let h = (*v as usize * plot_h) / max as usize;
            let x = x0 + k * bar_w;
            let y = H - BOTTOM - h;
            out.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{c}\"><title>{l}: {v}</title></rect>",
                w = bar_w.saturating_sub(1).max(1),
                c = COLOURS[k % COLOURS.len()],
                l = esc(&format!("{} {}", b.label, series.get(k).map_or("", |s| s.as_str()))),
            ));
            if *v > 0 {
                out.push_str(&format!(
                    "<text x=\"{tx}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"middle\">{v}</text>",
                    tx = x + bar_w / 2,
                    ty = y.saturating_sub(2)
                ));
            }
        }
        out.push_str(&format!(
            "<text x=\"{tx}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\">{l}</text>",
            tx = x0 + (bar_w * per) / 2,
            ty = H - BOTTOM + 14,
            l = esc(&b.label)
        ));
    }
    for (k, s) in series.iter().enumerate() {
        let x = 10 + k * 150;
        out.push_str(&format!(
            "<rect x=\"{x}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{tx}\" y=\"16\" font-size=\"12\">{l}</text>",
            c = COLOURS[k % COLOURS.len()],
            tx = x + 16,
            l = esc(s)
        ));
    }
    out.push_str("</svg>");
    out
}

struct Row {
    code: String,
    name: String,
    counts: Vec<u64>,
    total: u64,
}

struct MonthView {
    month: String,
    joins: u64,
    transfers_in: u64,
    transfers_out: u64,
    withdrawals: u64,
}

#[derive(Template)]
#[template(path = "members/stats.html")]
struct StatsView<'a> {
    c: Chrome<'a>,
    choices: Vec<(String, String)>,
    node: String,
    day: String,
    error: Option<String>,
    classes: Vec<String>,
    rows: Vec<Row>,
    months: Vec<MonthView>,
    class_chart: String,
    flow_chart: String,
    csv: String,
}

/// The node and day asked for (defaults: the widest grant, the last 1 December).
fn request(
    staff: &Principal,
    q: Option<&str>,
    today: NaiveDate,
) -> Result<(AssociationCode, NaiveDate), &'static str> {
    let pairs = query_pairs(q).ok_or("invalid-query")?;
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let node = match get("node") {
        Some(n) => AssociationCode::parse(&n).map_err(|_| "invalid-association-code")?,
        None => grant_nodes(staff)
            .into_iter()
            .next()
            .ok_or("members-error-no-node")?,
    };
    let day = match get("day") {
        Some(d) => mamis_domain::dates::parse_date(&d).map_err(|_| "members-error-date")?,
        None => jma_count_day(today),
    };
    Ok((node, day))
}

fn charts(cat: &Catalogues, lang: Lang, s: &Stats) -> (String, String) {
    let t = |k: &str| cat.text(lang, k, &[]);
    let node_row = s.associations.iter().find(|a| a.code == s.node);
    let class_bars: Vec<Bar> = s
        .classes
        .iter()
        .map(|c| Bar {
            label: c.clone(),
            values: vec![
                s.associations
                    .iter()
                    .filter(|a| a.code == s.node || node_row.is_none())
                    .flat_map(|a| a.classes.iter())
                    .filter(|(k, _)| k == c)
                    .map(|(_, n)| *n)
                    .sum(),
            ],
        })
        .collect();
    let class_chart = bar_chart(
        &t("members-stats-chart-classes"),
        &[t("members-stats-members")],
        &class_bars,
    );
    let flow_bars: Vec<Bar> = s
        .months
        .iter()
        .map(|m| Bar {
            label: m
                .month
                .map(|d| d.format("%m").to_string())
                .unwrap_or_default(),
            values: vec![m.joins, m.transfers_in, m.transfers_out, m.withdrawals],
        })
        .collect();
    let flow_chart = bar_chart(
        &t("members-stats-chart-flows"),
        &[
            t("members-stats-joins"),
            t("members-stats-transfers-in"),
            t("members-stats-transfers-out"),
            t("members-stats-withdrawals"),
        ],
        &flow_bars,
    );
    (class_chart, flow_chart)
}

/// The statistics page.
pub async fn show<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let today = mamis_domain::time::japan_date(st.app.now());
    let tree = mamis_app::registry::public_tree(&st.app).await?;
    let roots = grant_nodes(&staff);
    let choices = tree
        .iter()
        .filter(|a| {
            roots.iter().any(|g| g.contains(&a.code))
                || roots
                    .iter()
                    .any(|g| g.level() == mamis_domain::AssociationLevel::Jma)
        })
        .map(|a| {
            (
                a.code.to_string(),
                format!("{}（{}）", pick(ctx.lang, &a.name_ja, &a.name_en), a.code),
            )
        })
        .collect();
    let mut view = StatsView {
        c: ctx.chrome(cat),
        choices,
        node: String::new(),
        day: jma_count_day(today).to_string(),
        error: None,
        classes: Vec::new(),
        rows: Vec::new(),
        months: Vec::new(),
        class_chart: String::new(),
        flow_chart: String::new(),
        csv: String::new(),
    };
    let (node, day) = match request(&staff, q.as_deref(), today) {
        Ok(v) => v,
        Err(key) => {
            view.error = Some(cat.text(ctx.lang, key, &[]));
            let mut r = html(page_render(&view))?;
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(r);
        }
    };
    view.node = node.to_string();
    view.day = day.to_string();
    let s = stats::statistics(&st.app, &staff, &node, day).await?;
    view.classes = s.classes.clone();
    view.rows = s
        .associations
        .iter()
        .map(|a| Row {
            code: a.code.to_string(),
            name: pick(ctx.lang, &a.name_ja, &a.name_en),
            counts: s
                .classes
                .iter()
                .map(|c| {
                    a.classes
                        .iter()
                        .find(|(k, _)| k == c)
                        .map_or(0, |(_, n)| *n)
                })
                .collect(),
            total: a.total,
        })
        .collect();
    view.months = s
        .months
        .iter()
        .map(|m| MonthView {
            month: m
                .month
                .map(|d| d.format("%Y-%m").to_string())
                .unwrap_or_default(),
            joins: m.joins,
            transfers_in: m.transfers_in,
            transfers_out: m.transfers_out,
            withdrawals: m.withdrawals,
        })
        .collect();
    (view.class_chart, view.flow_chart) = charts(cat, ctx.lang, &s);
    view.csv = format!("/office/members/stats.csv?node={node}&day={day}");
    html(page_render(&view))
}

fn page_render(view: &StatsView<'_>) -> Result<axum::response::Html<String>, PageError> {
    page(view.render())
}

/// The statistics as CSV (UTF-8 with BOM).
pub async fn csv<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let today = mamis_domain::time::japan_date(st.app.now());
    let (node, day) =
        request(&staff, q.as_deref(), today).map_err(|k| PageError(Failure::BadRequest(k)))?;
    let s = stats::statistics(&st.app, &staff, &node, day).await?;
    let bytes = stats::to_csv(&s)?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"mamis-stats-{node}-{}.csv\"",
        day.format("%Y%m%d")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_escape_text() {
        let svg = bar_chart(
            "<t>",
            &["a".into(), "b".into()],
            &[
                Bar {
                    label: "x&y".into(),
                    values: vec![10, 5],
                },
                Bar {
                    label: "z".into(),
                    values: vec![0, 20],
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("&lt;t&gt;"));
        assert!(svg.contains("x&amp;y"));
        // the tallest bar fills the plot (170 px), half the value half the height
        assert!(svg.contains("height=\"170\""));
        assert!(svg.contains("height=\"85\""));
        assert!(svg.contains("height=\"42\""));
        assert_eq!(svg.matches("<rect").count(), 4 + 2);
    }
}
