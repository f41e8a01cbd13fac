//! The doctor's side: each programme's picture (held, until when, missing by category) with the
//! application form, and the small card My Page shows.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mamis_app::identity::jst;
use mamis_app::identity::sessions::Current;
use mamis_app::programmes::progress::{self, ProgrammeProgress};
use mamis_domain::programmes::{CertifiedProgramme, LineMeasure, Requirement};
use mamis_store::Store;
use mamis_store::programmes::{ApplicationKind, ApplicationStatus};

use super::{LineRow, line_rows, programme_name, standing_words};
use crate::WebState;
use crate::shell::auth::CurrentUser;
use crate::shell::chrome::{Chrome, PageCtx, page};
use crate::shell::error::{Failure, PageError};
use crate::shell::fmt::Fmt;
use crate::shell::i18n::Lang;

/// One programme on the doctor's page.
pub struct ProgrammeView {
    key: String,
    name: String,
    standing: String,
    class: &'static str,
    certificate: Option<(String, String, String, String, String)>,
    record_note: bool,
    target: String,
    gauge: Option<(String, String, i64)>,
    lines: Vec<LineRow>,
    application: Option<String>,
    returned: Option<String>,
    can_apply: bool,
    offer_paper: bool,
    offer_declaration: bool,
    active: bool,
}

#[derive(Template)]
#[template(path = "programmes/mine.html")]
struct MineView<'a> {
    c: Chrome<'a>,
    programmes: Vec<ProgrammeView>,
}

fn view_of(f: &Fmt<'_>, lang: Lang, p: &ProgrammeProgress) -> ProgrammeView {
    let (standing, class) = standing_words(f, p);
    let rules = p.programme.rules();
    let lines = line_rows(f, lang, p.programme, &p.assessment.lines);
    let gauge = p
        .assessment
        .lines
        .first()
        .filter(|l| l.measure == LineMeasure::HalfUnits)
        .zip(lines.first())
        .map(|(_, r)| (r.have.clone(), r.need.clone(), r.pct));
    let application = p.application.as_ref().map(|a| {
        let state = match a.status {
            ApplicationStatus::Open => f.t(
                "programmes-application-open",
                &[(
                    "name",
                    a.route
                        .get(a.step as usize)
                        .map(|c| c.as_str())
                        .unwrap_or_default(),
                )],
            ),
            ApplicationStatus::Approved => f.t("programmes-application-approved", &[]),
            ApplicationStatus::Returned => f.t("programmes-application-returned", &[]),
        };
        format!("{} — {}", jst(a.created_at), state)
    });
    let returned = p
        .application
        .as_ref()
        .filter(|a| a.status == ApplicationStatus::Returned)
        .and_then(|a| a.return_reason.clone());
    let renewal_declares = matches!(
        (&p.target, &rules.renewal),
        (
            ApplicationKind::Renewal,
            Some(Requirement::DatedWindow {
                requires_declaration: true,
                ..
            })
        )
    );
    ProgrammeView {
        key: p.programme.as_str().to_owned(),
        name: programme_name(f, p.programme),
        standing,
        class,
        certificate: p.certificate.as_ref().map(|c| {
            (
                c.number.clone(),
                f.date(c.valid_from),
                f.date(c.valid_until),
                format!(
                    "/verify/{}?c={}",
                    super::enc(&c.number),
                    super::enc(&c.verification_code)
                ),
                format!("/mypage/programmes/record/{}", super::enc(&c.number)),
            )
        }),
        record_note: rules.paper_certificate,
        target: f.t(
            match p.target {
                ApplicationKind::New => "programmes-target-new",
                ApplicationKind::Renewal => "programmes-target-renewal",
            },
            &[],
        ),
        gauge,
        lines,
        application,
        returned,
        can_apply: p.can_apply() || renewal_declares && !p.open(),
        offer_paper: !p.open() && !p.assessment.met && p.programme == CertifiedProgramme::Sangyoui,
        offer_declaration: renewal_declares,
        active: p.active,
    }
}

/// `GET /mypage/programmes`: every programme's picture and the application forms.
pub async fn mine<S: Store>(
    State(st): State<WebState<S>>,
    ctx: PageCtx,
    CurrentUser(cur): CurrentUser,
) -> Result<Response, PageError> {
    if cur.verified_doctor().is_none() {
        return Err(PageError(Failure::Because(
            Box::new(Failure::Forbidden),
            "programmes-error-unverified",
        )));
    }
    let cat = &st.shared.catalogues;
    let f = Fmt::new(cat, ctx.lang);
    let programmes = progress::mine(&st.app, &cur.doctor_principal())
        .await?
        .iter()
        .map(|p| view_of(&f, ctx.lang, p))
        .collect();
    Ok(page(
        MineView {
            c: ctx.chrome(cat),
            programmes,
        }
        .render(),
    )?
    .into_response())
}

/// The My Page card: one line per programme the doctor takes part in.
pub(crate) struct ProgrammeCard {
    /// (name, standing, class) per active programme.
    pub lines: Vec<(String, String, &'static str)>,
}

/// The card for a verified doctor; `None` otherwise.
pub(crate) async fn mypage_card<S: Store>(
    st: &WebState<S>,
    lang: Lang,
    u: &Current,
) -> Result<Option<ProgrammeCard>, PageError> {
    if u.verified_doctor().is_none() {
        return Ok(None);
    }
    let f = Fmt::new(&st.shared.catalogues, lang);
    let lines = progress::mine(&st.app, &u.doctor_principal())
        .await?
        .iter()
        .filter(|p| p.active)
        .map(|p| {
            let (s, class) = standing_words(&f, p);
            (programme_name(&f, p.programme), s, class)
        })
        .collect();
    Ok(Some(ProgrammeCard { lines }))
}

/// `GET /mypage/programmes/record/{number}`: the doctor's certificate, or the record of a
/// certification the JMA issues on paper, as PDF.
pub async fn record<S: Store>(
    State(st): State<WebState<S>>,
    CurrentUser(cur): CurrentUser,
    Path(number): Path<String>,
) -> Result<Response, PageError> {
    let (name, pdf) =
        mamis_app::programmes::certificates::record_pdf(&st.app, &cur.doctor_principal(), &number)
            .await?;
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        pdf,
    )
        .into_response())
}
