//! The application form with its evidence files (scans or photos of the 研修手帳 pages, an
//! activity report) and the reviewer's download of each file.

use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use mamis_app::membership::NewEvidence;
use mamis_app::programmes::applications::{self, ApplyInput, MAX_FILES};
use mamis_domain::programmes::CertifiedProgramme;
use mamis_store::Store;
use uuid::Uuid;

use crate::WebState;
use crate::shell::auth::{CurrentUser, RequestOrigin, StaffUser};
use crate::shell::error::{Failure, PageError};

/// The largest application form body: five files of 10 MB and the text fields.
pub(super) const APPLY_FORM_LIMIT: usize = MAX_FILES * 10 * 1024 * 1024 + 64 * 1024;

/// What the application form posted.
#[derive(Default)]
struct ApplyPosted {
    evidence: String,
    declared: bool,
    paper: bool,
    files: Vec<NewEvidence>,
}

/// Reads the multipart form; a body that is not well-formed is a bad request.
async fn read(mut mp: Multipart) -> Result<ApplyPosted, PageError> {
    let broken = || PageError(Failure::BadRequest("programmes-error-file"));
    let mut posted = ApplyPosted::default();
    while let Some(field) = mp.next_field().await.map_err(|_| broken())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "files" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|_| broken())?;
            // a file input left empty still sends one empty part
            if !bytes.is_empty() {
                posted.files.push(NewEvidence {
                    file_name,
                    content_type,
                    bytes: bytes.to_vec(),
                });
            }
        } else {
            let v = field.text().await.map_err(|_| broken())?;
            match name.as_str() {
                "evidence" => posted.evidence = v,
                "declared" => posted.declared = true,
                "paper" => posted.paper = true,
                _ => {}
            }
        }
    }
    Ok(posted)
}

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
    let f = read(mp).await?;
    if f.paper && f.evidence.trim().is_empty() && f.files.is_empty() {
        return Err(PageError(Failure::Unprocessable(
            "programmes-error-paper-evidence",
        )));
    }
    applications::apply(
        &st.app,
        &cur.doctor_principal(),
        programme,
        ApplyInput {
            evidence: Some(f.evidence),
            declared_activity: f.declared,
            paper_units_pending: f.paper,
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
    let ext = match e.content_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    };
    Ok((
        [
            (header::CONTENT_TYPE, e.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"evidence-{}.{ext}\"", e.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}
