//! The application form with its evidence files (scans or photos of the 研修手帳 pages, an
//! activity report) and the reviewer's download of each file.

use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::programmes::applications::{self, ApplyInput, MAX_FILES};
use mamis_domain::programmes::CertifiedProgramme;
use mamis_store::Store;
use uuid::Uuid;

use crate::WebState;
use crate::shell::auth::{CurrentUser, RequestOrigin, StaffUser};
use crate::shell::error::{Failure, PageError};

/// The largest application form body: five files of 10 MB and the text fields.
pub(super) const APPLY_FORM_LIMIT: usize = MAX_FILES * mamis_app::membership::MAX_BYTES + 64 * 1024;

/// `POST /mypage/programmes/{programme}/apply`: files an application with its evidence.
pub async fn apply<S: Store>(
    State(st): State<WebState<S>>,
    CurrentUser(cur): CurrentUser,
    RequestOrigin(origin): RequestOrigin,
    Path(programme): Path<String>,
    mp: Multipart,
) -> Result<Response, PageError> {
    let programme =
        CertifiedProgramme::parse(&programme).map_err(|_| PageError(Failure::NotFound))?;
    let f = crate::membership::upload::read(mp, "files", "programmes-error-file").await?;
    let (evidence, paper) = (f.get("evidence"), f.fields.contains_key("paper"));
    if paper && evidence.trim().is_empty() && f.files.is_empty() {
        return Err(PageError(Failure::Unprocessable(
            "programmes-error-paper-evidence",
        )));
    }
    applications::apply(
        &st.app,
        &cur.doctor_principal(),
        programme,
        ApplyInput {
            evidence: Some(evidence),
            declared_activity: f.fields.contains_key("declared"),
            paper_units_pending: paper,
            files: f.files,
        },
        origin.client_addr,
    )
    .await?;
    Ok(Redirect::to("/mypage/programmes").into_response())
}

/// `GET /office/programmes/applications/{id}/files/{file}`: one evidence file as uploaded
/// (audited); an attachment, so nothing in it runs in the page's origin.
pub async fn download<S: Store>(
    State(st): State<WebState<S>>,
    StaffUser(_, who): StaffUser,
    RequestOrigin(origin): RequestOrigin,
    Path((id, file)): Path<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    let (e, bytes) = applications::file(&st.app, &who, id, file, origin.client_addr).await?;
    Ok(crate::membership::upload::attachment(&e, bytes))
}
