//! The back office's certificate page (JMA staff): revocation, and the open review items.

use askama::Template;
use axum::extract::{Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use mamis_app::AppError;
use mamis_app::cme::certificates::{self, REVOKE_CATEGORIES};
use mamis_domain::Principal;
use mamis_store::Store;
use serde::Deserialize;

use super::verify::{category_key, enc, param, period_words};
use crate::WebState;
use crate::shell::auth::{RequestOrigin, StaffUser};
use crate::shell::chrome::{Chrome, PageCtx, PageResult, html, page};
use crate::shell::confirm::{Confirm, is_confirmed};
use crate::shell::error::PageError;
use crate::shell::fmt::Fmt;
use crate::shell::fmt::query_pairs;

/// One open review item.
struct ReviewRow {
    number: String,
    opened: String,
    reason: String,
}

/// A reason category's option.
struct CategoryChoice {
    value: &'static str,
    label: String,
    selected: bool,
}

/// The revocation form as typed, and why it was refused.
#[derive(Debug, Default)]
struct RevokeRetry {
    number: String,
    category: String,
    reason: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "certificates/office.html")]
struct OfficeView<'a> {
    c: Chrome<'a>,
    done: Option<String>,
    form: RevokeRetry,
    categories: Vec<CategoryChoice>,
    reviews: Vec<ReviewRow>,
}

/// Open review items shown at most.
const REVIEWS_SHOWN: u32 = 200;

/// Renders the office page (403 for staff who may not manage certificates).
async fn render_office<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    staff: &Principal,
    form: RevokeRetry,
    done: Option<String>,
    status: StatusCode,
) -> PageResult {
    let reviews = certificates::reviews(&st.app, staff, REVIEWS_SHOWN).await?;
    let cat = &st.shared.catalogues;
    let view = OfficeView {
        c: ctx.chrome(cat),
        done,
        categories: REVOKE_CATEGORIES
            .into_iter()
            .map(|value| CategoryChoice {
                value,
                label: cat.text(ctx.lang, &category_key(value), &[]),
                selected: form.category == value,
            })
            .collect(),
        form,
        reviews: reviews
            .into_iter()
            .map(|r| ReviewRow {
                number: r.number,
                opened: mamis_app::identity::jst(r.opened_at),
                reason: r.reason,
            })
            .collect(),
    };
    let mut r = html(page(view.render()))?;
    *r.status_mut() = status;
    Ok(r)
}

/// Whether `s` looks like a printed number (`N2026-000001`), so only those are echoed back.
fn is_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[0].is_ascii_uppercase()
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b'-'
        && b[6..].iter().all(u8::is_ascii_digit)
}

/// `/office/certificates`: the revocation form and the open review items (JMA staff).
pub async fn office_page<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RawQuery(q): RawQuery,
) -> PageResult {
    let pairs = query_pairs(q.as_deref()).unwrap_or_default();
    let done = Some(param(&pairs, "revoked"))
        .filter(|n| is_number(n))
        .map(|n| {
            st.shared
                .catalogues
                .text(ctx.lang, "certificates-revoked-notice", &[("number", n)])
        });
    render_office(
        &st,
        &ctx,
        &staff,
        RevokeRetry::default(),
        done,
        StatusCode::OK,
    )
    .await
}

/// The revocation form as posted.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    reason: String,
    /// `1` on the confirmation step's form; without it the page only asks.
    #[serde(default)]
    confirmed: Option<String>,
}

/// Longest revocation reason (the app's limit, checked here to say so on the form).
const MAX_REASON_CHARS: usize = 500;

/// The number, category and reason of the form, or the message key saying what to fix.
fn parse_revoke(f: &RevokeForm) -> Result<(String, &'static str, &str), &'static str> {
    let number = f.number.trim().to_ascii_uppercase();
    if number.is_empty() {
        return Err("certificates-revoke-error-number");
    }
    let category = REVOKE_CATEGORIES
        .into_iter()
        .find(|c| *c == f.category)
        .ok_or("certificates-revoke-error-category")?;
    let reason = f.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err("certificates-revoke-error-reason");
    }
    Ok((number, category, reason))
}

/// What the revocation form says when the app refuses; other failures (403 …) are pages.
fn revoke_refusal(e: AppError) -> Result<(&'static str, StatusCode), PageError> {
    match e {
        AppError::NotFound => Ok(("certificates-revoke-error-unknown", StatusCode::NOT_FOUND)),
        // category and reason are checked before the call: the one conflict left
        AppError::Conflict(_) => Ok(("certificates-revoke-error-already", StatusCode::CONFLICT)),
        e => Err(e.into()),
    }
}

/// Revokes a certificate or document by number; the app audits it and mails the holder.
/// Refusals come back on the form with what was typed.
pub async fn office_revoke<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    StaffUser(_, staff): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<RevokeForm>,
) -> PageResult {
    let (key, status) = match parse_revoke(&f) {
        Err(key) => (key, StatusCode::UNPROCESSABLE_ENTITY),
        Ok((number, category, reason)) if !is_confirmed(f.confirmed.as_deref()) => {
            match certificates::revocation_preview(&st.app, &staff, &number, origin.client_addr)
                .await
            {
                Ok(p) if !p.revoked => {
                    return confirm_page(&st, &ctx, &p, category, reason);
                }
                Ok(_) => ("certificates-revoke-error-already", StatusCode::CONFLICT),
                Err(e) => revoke_refusal(e)?,
            }
        }
        Ok((number, category, reason)) => {
            let client = origin.client_addr;
            match certificates::revoke(&st.app, &staff, &number, category, reason, client).await {
                Ok(()) => {
                    let to = format!("/office/certificates?revoked={}", enc(&number));
                    return Ok(Redirect::to(&to).into_response());
                }
                Err(e) => revoke_refusal(e)?,
            }
        }
    };
    let retry = RevokeRetry {
        error: Some(st.shared.catalogues.text(ctx.lang, key, &[])),
        number: f.number,
        category: f.category,
        reason: f.reason,
    };
    render_office(&st, &ctx, &staff, retry, None, status).await
}

/// The second step: whose certificate the typed number is, and what revoking it does.
fn confirm_page<S: Store>(
    st: &WebState<S>,
    ctx: &PageCtx,
    p: &certificates::RevocationPreview,
    category: &str,
    reason: &str,
) -> PageResult {
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let t = |k: &str| cat.text(ctx.lang, k, &[]);
    Confirm {
        c: ctx.chrome(cat),
        title: t("certificates-confirm-title"),
        lead: vec![t("certificates-confirm-lead")],
        facts: vec![
            (t("certificates-col-number"), p.number.clone()),
            (t("certificates-confirm-holder"), p.holder.clone()),
            (t("certificates-confirm-iseki"), p.iseki.clone()),
            (
                t("certificates-confirm-kind"),
                t(&format!("certificates-kind-{}", p.kind.replace('_', "-"))),
            ),
            (
                t("certificates-confirm-period"),
                period_words(&f, &p.period),
            ),
            (t("certificates-confirm-issued"), f.date(p.issued_on)),
            (
                t("certificates-revoke-category"),
                t(&category_key(category)),
            ),
            (t("certificates-revoke-reason"), reason.to_owned()),
        ],
        action: "/office/certificates/revoke".to_owned(),
        fields: vec![
            ("number".to_owned(), p.number.clone()),
            ("category".to_owned(), category.to_owned()),
            ("reason".to_owned(), reason.to_owned()),
        ],
        submit: t("certificates-confirm-submit"),
        cancel: ("/office/certificates".to_owned(), t("confirm-cancel")),
        possible: true,
    }
    .respond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_forms_parse_or_name_the_problem() {
        let form = |number: &str, category: &str, reason: &str| RevokeForm {
            number: number.into(),
            category: category.into(),
            reason: reason.into(),
            confirmed: None,
        };
        assert_eq!(
            parse_revoke(&form(" n2026-000001 ", "fraud", " 二重登録 ")),
            Ok(("N2026-000001".to_owned(), "fraud", "二重登録"))
        );
        for (f, key) in [
            (form("", "error", "x"), "certificates-revoke-error-number"),
            (
                form("N1", "misc", "x"),
                "certificates-revoke-error-category",
            ),
            (
                form("N1", "error", "  "),
                "certificates-revoke-error-reason",
            ),
            (
                form("N1", "error", &"あ".repeat(501)),
                "certificates-revoke-error-reason",
            ),
        ] {
            assert_eq!(parse_revoke(&f), Err(key), "{f:?}");
        }
    }

    #[test]
    fn only_printed_numbers_are_echoed() {
        assert!(is_number("N2026-000001"));
        assert!(is_number("U2027-123456"));
        for s in [
            "",
            "n2026-000001",
            "N2026-00001",
            "N2026_000001",
            "<b>2026-000001",
        ] {
            assert!(!is_number(s), "{s}");
        }
    }
}
