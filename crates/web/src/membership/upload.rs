//! Forms that carry one document (a name change's proof, a new resident's licence copy): their
//! text fields and the file, read from the multipart body in one place.

use std::collections::HashMap;

use axum::extract::Multipart;
use mamis_app::membership::NewEvidence;

use crate::shell::error::{Failure, PageError};

/// What such a form posted.
pub(super) struct Posted {
    /// The text fields by name (the last one wins when a name repeats).
    pub(super) fields: HashMap<String, String>,
    /// The file of `file_field`, when one was chosen (an empty part is no file).
    pub(super) file: Option<NewEvidence>,
}

impl Posted {
    /// A text field, or empty.
    pub(super) fn get(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// Reads the whole form; a body that is not well-formed multipart is a bad request.
pub(super) async fn read(mut mp: Multipart, file_field: &str) -> Result<Posted, PageError> {
    let broken = || PageError(Failure::BadRequest("membership-problem-evidence-file"));
    let mut posted = Posted {
        fields: HashMap::new(),
        file: None,
    };
    while let Some(field) = mp.next_field().await.map_err(|_| broken())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == file_field {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|_| broken())?;
            if !bytes.is_empty() {
                posted.file = Some(NewEvidence {
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
