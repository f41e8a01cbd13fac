//! Forms that carry documents (a name change's proof, a new resident's licence copy, a programme
//! application's evidence): their text fields and files, read from the multipart body in one
//! place; and a stored document served back to the staff who may see it.

use std::collections::HashMap;

use axum::extract::Multipart;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use mamis_app::membership::NewEvidence;

use crate::shell::error::{Failure, PageError};

/// What such a form posted.
pub(crate) struct Posted {
    /// The text fields by name (the last one wins when a name repeats).
    pub(crate) fields: HashMap<String, String>,
    /// The files of the form's file field, in the order sent (an empty part is no file).
    pub(crate) files: Vec<NewEvidence>,
}

impl Posted {
    /// A text field, or empty.
    pub(crate) fn get(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// Reads the whole form; a body that is not well-formed multipart is a bad request with the
/// `broken` message of the capability.
pub(crate) async fn read(
    mut mp: Multipart,
    file_field: &str,
    broken: &'static str,
) -> Result<Posted, PageError> {
    let broken = || PageError(Failure::BadRequest(broken));
    let mut posted = Posted {
        fields: HashMap::new(),
        files: Vec::new(),
    };
    while let Some(field) = mp.next_field().await.map_err(|_| broken())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == file_field {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|_| broken())?;
            if !bytes.is_empty() {
                posted.files.push(NewEvidence {
                    file_name,
                    content_type,
                    bytes: bytes.to_vec(),
                });
            }
        } else {
            let v = field.text().await.map_err(|_| broken())?;
            posted.fields.insert(name, v);
        }
    }
    Ok(posted)
}

/// A stored document as an attachment (never shown inline, so nothing in it runs in the
/// page's origin), named by its id.
pub(crate) fn attachment(e: &mamis_store::Evidence, bytes: Vec<u8>) -> Response {
    let ext = match e.content_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    };
    (
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
        .into_response()
}
