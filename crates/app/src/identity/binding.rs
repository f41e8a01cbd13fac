//! Staff side of identity: the review queue, verification of an unmatched account against
//! evidence, forwarding, suspension of bindings and accounts, and the doctor's "this was not me".
//! Every action is authorised on the claim's node (or the doctor's) and audited.

use mamis_domain::membership::scope_nodes;
use mamis_domain::time::japan_date;
use mamis_domain::{Action, AssociationCode, Principal, Target};
use mamis_store::{
    AccessStore, Account, AccountStatus, IdentityClaim, IdentityStore, OidcStore, RegistryStore,
    Store, TokenPurpose, Tx, Verification,
};
use uuid::Uuid;

use super::crypto::sha256_hex;
use super::{IdResult, IdentityError};
use crate::audit::Entry;
use crate::authz::require;
use crate::mail::{self, Outgoing};
use crate::{App, AppError};

/// Claims waiting at `node` or below, for staff whose grant covers `node`.
pub async fn queue<S: Store>(
    app: &App<S>,
    staff: &Principal,
    node: &AssociationCode,
) -> IdResult<Vec<IdentityClaim>> {
    require(staff, Action::VerifyIdentity, &Target::Association(node))?;
    let mut tx = app.store.read().await?;
    let v = tx.claims_in_review(node, 500).await?;
    tx.rollback().await?;
    Ok(v)
}

/// The queue with each account's status, for the office page (suspend or reactivate).
pub async fn queue_with_status<S: Store>(
    app: &App<S>,
    staff: &Principal,
    node: &AssociationCode,
) -> IdResult<Vec<(IdentityClaim, AccountStatus)>> {
    let claims = queue(app, staff, node).await?;
    let mut tx = app.store.read().await?;
    let mut out = Vec::with_capacity(claims.len());
    for c in claims {
        let status = tx
            .account(c.account_id)
            .await?
            .map_or(AccountStatus::Active, |a| a.status);
        out.push((c, status));
    }
    tx.rollback().await?;
    Ok(out)
}

async fn claim_for<T: IdentityStore + Send>(tx: &mut T, account: Uuid) -> IdResult<IdentityClaim> {
    tx.claim_of(account)
        .await?
        .ok_or(IdentityError::App(AppError::NotFound))
}

fn claim_node(c: &IdentityClaim) -> AssociationCode {
    c.review_node
        .clone()
        .unwrap_or_else(|| c.association.clone())
}

/// Binds an account to a doctor record after staff checked `evidence` (e.g. "licence copy seen").
/// Refuses while another verified account holds the record: suspend that binding first.
pub async fn verify<S: Store>(
    app: &App<S>,
    staff: &Principal,
    account: Uuid,
    doctor: Uuid,
    evidence: &str,
    client_addr: Option<String>,
) -> IdResult<()> {
    let evidence = evidence.trim();
    if evidence.is_empty() || evidence.chars().count() > 500 {
        return Err(IdentityError::State("evidence required"));
    }
    let now = app.now();
    let mut tx = app.store.write().await?;
    let mut claim = claim_for(&mut tx, account).await?;
    require(
        staff,
        Action::VerifyIdentity,
        &Target::Association(&claim_node(&claim)),
    )?;
    let acc = tx
        .account(account)
        .await?
        .ok_or(IdentityError::App(AppError::NotFound))?;
    let d = tx
        .doctor(doctor)
        .await?
        .ok_or(IdentityError::App(AppError::NotFound))?;
    // The record must be in the staff member's scope too, not only the claim.
    let memberships = tx.memberships_of(d.id).await?;
    let nodes = scope_nodes(&memberships, d.home_prefecture.as_ref(), japan_date(now));
    require(staff, Action::VerifyIdentity, &Target::Doctor(&nodes))?;
    if tx
        .verified_account_of(d.id)
        .await?
        .is_some_and(|h| h.id != account)
    {
        return Err(IdentityError::State(
            "record already bound; suspend that binding first",
        ));
    }
    tx.set_binding(account, Some(d.id), Verification::Verified)
        .await?;
    crate::training::credit_pending(&mut tx, &d, now).await?;
    if let Some(m) = &d.member_id {
        tx.retire_legacy_credential(m, now).await?;
    }
    claim.review_node = None;
    claim.review_reason = None;
    tx.put_claim(&claim).await?;
    app.audit(
        &mut tx,
        Entry::new(staff, "identity.verify", format!("account:{account}"))
            .from(client_addr)
            .details(serde_json::json!({ "doctor": d.id, "evidence": evidence })),
    )
    .await?;
    mail::queue(
        &mut tx,
        now,
        Outgoing {
            to: acc.email.clone(),
            subject: "【MAMIS】本人確認が完了しました / Your MAMIS_ID is verified".into(),
            body_text: "医師会が本人確認を行い、あなたの MAMIS_ID を医籍情報と結び付けました。\n\n\
                        Your medical association verified your identity and linked your MAMIS_ID to your record.\n"
                .into(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends a claim to another node (e.g. the county forwards to the prefecture).
pub async fn forward<S: Store>(
    app: &App<S>,
    staff: &Principal,
    account: Uuid,
    to: &AssociationCode,
) -> IdResult<()> {
    let mut tx = app.store.write().await?;
    let mut claim = claim_for(&mut tx, account).await?;
    require(
        staff,
        Action::VerifyIdentity,
        &Target::Association(&claim_node(&claim)),
    )?;
    if tx.association(to).await?.is_none() {
        return Err(IdentityError::Invalid(
            mamis_domain::DomainError::InvalidAssociationCode,
        ));
    }
    let from = claim_node(&claim);
    claim.review_node = Some(to.clone());
    tx.put_claim(&claim).await?;
    app.audit(
        &mut tx,
        Entry::new(staff, "identity.forward", format!("account:{account}"))
            .details(serde_json::json!({ "from": from, "to": to })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Where an account sits in staff scopes: its bound doctor's memberships (or home prefecture),
/// else the node of its claim.
async fn account_nodes<T: IdentityStore + RegistryStore + Send>(
    tx: &mut T,
    acc: &Account,
    today: chrono::NaiveDate,
) -> IdResult<Vec<AssociationCode>> {
    if let Some(d) = acc.doctor_id
        && let Some(doc) = tx.doctor(d).await?
    {
        let ms = tx.memberships_of(d).await?;
        let nodes = scope_nodes(&ms, doc.home_prefecture.as_ref(), today);
        if !nodes.is_empty() {
            return Ok(nodes);
        }
    }
    Ok(tx
        .claim_of(acc.id)
        .await?
        .map(|c| vec![claim_node(&c), c.association])
        .unwrap_or_default())
}

/// Suspends or reactivates an account within the staff member's subtree; suspension ends its
/// sessions at once.
pub async fn set_account_status<S: Store>(
    app: &App<S>,
    staff: &Principal,
    account: Uuid,
    status: AccountStatus,
    reason: &str,
) -> IdResult<()> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let acc = tx
        .account(account)
        .await?
        .ok_or(IdentityError::App(AppError::NotFound))?;
    let nodes = account_nodes(&mut tx, &acc, japan_date(now)).await?;
    require(staff, Action::SuspendAccounts, &Target::Doctor(&nodes))?;
    tx.set_account_status(account, status).await?;
    if status == AccountStatus::Suspended {
        tx.revoke_sessions_of(account, None, now).await?;
        tx.revoke_tokens_of(account, None, now).await?;
    }
    app.audit(
        &mut tx,
        Entry::new(
            staff,
            if status == AccountStatus::Suspended {
                "account.suspend"
            } else {
                "account.unsuspend"
            },
            format!("account:{account}"),
        )
        .details(serde_json::json!({ "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The account a status change would hit, for the confirmation step (staff over the account's
/// nodes only, like the change itself).
pub async fn account_for_status<S: Store>(
    app: &App<S>,
    staff: &Principal,
    account: Uuid,
) -> IdResult<mamis_store::Account> {
    let mut tx = app.store.read().await?;
    let acc = tx
        .account(account)
        .await?
        .ok_or(IdentityError::App(AppError::NotFound))?;
    let nodes = account_nodes(&mut tx, &acc, japan_date(app.now())).await?;
    tx.rollback().await?;
    require(staff, Action::SuspendAccounts, &Target::Doctor(&nodes))?;
    Ok(acc)
}

/// Suspends a verified binding (staff), freeing the record for a verification after review.
pub async fn suspend_binding<S: Store>(
    app: &App<S>,
    staff: &Principal,
    account: Uuid,
    reason: &str,
) -> IdResult<()> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let acc = tx
        .account(account)
        .await?
        .ok_or(IdentityError::App(AppError::NotFound))?;
    if acc.verification != Verification::Verified {
        return Err(IdentityError::State("not verified"));
    }
    let nodes = account_nodes(&mut tx, &acc, japan_date(now)).await?;
    require(staff, Action::SuspendAccounts, &Target::Doctor(&nodes))?;
    tx.set_binding(account, acc.doctor_id, Verification::Suspended)
        .await?;
    app.audit(
        &mut tx,
        Entry::new(
            staff,
            "identity.suspend_binding",
            format!("account:{account}"),
        )
        .details(serde_json::json!({ "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The "this was not me" link from a binding notice: the binding is suspended, the account's
/// sessions end, and the claim goes to staff of its node.
pub async fn not_me<S: Store>(
    app: &App<S>,
    secret: &str,
    client_addr: Option<String>,
) -> IdResult<()> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let token = tx
        .use_email_token(&sha256_hex(secret), TokenPurpose::NotMe, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    let account = token.account_id.ok_or(IdentityError::LinkInvalid)?;
    let acc = tx
        .account(account)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    tx.set_binding(account, acc.doctor_id, Verification::Suspended)
        .await?;
    tx.revoke_sessions_of(account, None, now).await?;
    tx.revoke_tokens_of(account, None, now).await?;
    if let Some(mut c) = tx.claim_of(account).await? {
        c.review_node = Some(c.association.clone());
        c.review_reason = Some("not_me".into());
        tx.put_claim(&c).await?;
    }
    let who = Principal::Job {
        kind: "not-me-link".into(),
    };
    app.audit(
        &mut tx,
        Entry::new(&who, "identity.not_me", format!("account:{account}"))
            .from(client_addr)
            .details(serde_json::json!({ "reported_by": token.email })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
