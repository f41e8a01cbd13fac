//! The OpenAPI 3.1 document of `/api/v1`, gathered from every capability's API handlers and
//! types in one place, like the router.

use axum::http::header;
use axum::response::IntoResponse;
use mamis_api_types as dto;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

// The register's handlers are named without their module: the document has always listed them
// untagged, and utoipa tags a path given with a module by that module's name.
use crate::registry::{__path_association, __path_associations, __path_members};
use crate::shell::error::{ApiError, Failure};

/// The OpenAPI 3.1 document, generated from the handlers and types below.
#[derive(OpenApi)]
#[openapi(
    info(title = "MAMIS API", version = "1", description = "JSON API of MAMIS for medical associations' systems. Authenticate with `Authorization: Bearer <API token>` (created with `mamis token create`)."),
    paths(
        associations, association, members,
        crate::cme::api::my_summary, crate::cme::api::my_ledger, crate::cme::api::doctor_summary,
        crate::cme::api::doctor_ledger, crate::cme::api::adjust, crate::cme::api::reverse,
        crate::training::api::list_sessions, crate::training::api::create_session,
        crate::training::api::upload_attendance,
        crate::members::api::search, crate::members::api::member,
    ),
    components(schemas(
        dto::Association, dto::AssociationDetail, dto::Member, dto::MembersPage, dto::Problem,
        dto::CmeSummary, dto::CmeDoctor, dto::CmeYear, dto::CmeSourceUnits, dto::CmeWindow,
        dto::CmeNextWindow, dto::CmeWhatIf, dto::CmeCertificate, dto::CmeLedger, dto::CmeEntry,
        dto::CmeAdjustmentRequest, dto::CmeUnitsInput, dto::CmeReversalRequest,
        dto::CmeAdjustmentRefusal, dto::CmeNetBySource,
        dto::TrainingVenue, dto::TrainingApproval, dto::TrainingSession, dto::TrainingSessionsPage,
        dto::TrainingCodePart, dto::TrainingItemRequest, dto::TrainingSessionRequest,
        dto::TrainingDiffLine, dto::TrainingImportProblem, dto::TrainingImportResult,
        dto::TrainingImportRefusal,
        dto::MemberMembership, dto::MemberHit, dto::MemberSearchPage, dto::ProcedureDueState,
        dto::ProcedureState, dto::MemberRecord,
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = doc.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
            // The `/api/v1/me/…` reads use the My Page login (`__Host-mamis_session` over https).
            c.add_security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("mamis_session"))),
            );
        }
    }
}

/// The OpenAPI document as pretty JSON (served, and printed by `mamis openapi`).
pub fn openapi_json() -> Result<String, String> {
    ApiDoc::openapi()
        .to_pretty_json()
        .map_err(|e| e.to_string())
}

/// Serves the OpenAPI document.
pub async fn openapi() -> impl IntoResponse {
    match openapi_json() {
        Ok(s) => ([(header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(_) => ApiError(Failure::Internal).into_response(),
    }
}
