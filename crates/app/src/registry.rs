//! The registry: association tree, doctors and memberships, read through the rule table and
//! audited whenever personal data is shown.

use mamis_domain::{Action, Association, AssociationCode, Principal, Target, time::japan_date};
use mamis_store::{Doctor, RegistryStore, Store, Tx};

use crate::audit::{self, Entry};
use crate::authz::require;
use crate::{App, AppError};

/// The node and everything below it.
pub async fn subtree<S: Store>(
    app: &App<S>,
    actor: &Principal,
    root: &AssociationCode,
) -> Result<Vec<Association>, AppError> {
    require(actor, Action::ViewAssociations, &Target::Association(root))?;
    let mut tx = app.store.read().await?;
    let v = tx.associations_under(root).await?;
    tx.rollback().await?;
    if v.is_empty() {
        return Err(AppError::NotFound);
    }
    Ok(v)
}

/// One association and its direct children.
pub async fn association<S: Store>(
    app: &App<S>,
    actor: &Principal,
    code: &AssociationCode,
) -> Result<(Association, Vec<Association>), AppError> {
    let all = subtree(app, actor, code).await?;
    let mut it = all.into_iter();
    let node = it.next().ok_or(AppError::NotFound)?;
    let children = it
        .filter(|a| a.code.parent().as_ref() == Some(code))
        .collect();
    Ok((node, children))
}

/// A page of the doctors who are members of `code` today (Japan date). Shows personal data, so
/// the view itself is audited, in the same transaction that reads it.
pub async fn members<S: Store>(
    app: &App<S>,
    actor: &Principal,
    code: &AssociationCode,
    limit: u32,
    offset: u64,
    client_addr: Option<String>,
) -> Result<Vec<Doctor>, AppError> {
    require(actor, Action::ViewDoctors, &Target::Association(code))?;
    let now = app.now();
    let mut tx = app.store.write().await?;
    if tx.association(code).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let doctors = tx
        .members_of(code, japan_date(now), limit.min(500), offset)
        .await?;
    let entry = Entry {
        actor,
        action: "doctor.list_view",
        target: format!("association:{code}"),
        client_addr,
        details: serde_json::json!({
            "offset": offset,
            "doctors": doctors.iter().map(|d| d.id).collect::<Vec<_>>(),
        }),
    };
    audit::record(&mut tx, &app.config.audit_key, now, entry).await?;
    tx.commit().await?;
    Ok(doctors)
}

/// Every association's code and names: public facts (no personal data), for forms where a doctor
/// chooses their association.
pub async fn public_tree<S: Store>(app: &App<S>) -> Result<Vec<Association>, AppError> {
    let mut tx = app.store.read().await?;
    let v = tx.associations_under(&AssociationCode::jma()).await?;
    tx.rollback().await?;
    Ok(v)
}
