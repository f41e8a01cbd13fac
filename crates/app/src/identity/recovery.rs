//! Recovery and account changes: password reset by mail link (asking for the second factor when
//! one is enrolled), password change, MAMIS_ID (e-mail) change with verification of the new
//! address and a notice to the old one, and staff enrolment links. A password change or reset
//! ends every session.

use mamis_domain::identity::{Email, PasswordContext, check_password};
use mamis_domain::{AssociationCode, Principal, Role, RoleGrant, Scope};
use mamis_store::{
    AccessStore, Account, AccountKind, EmailToken, IdentityStore, OidcStore, RegistryStore, Store,
    TokenPurpose, Tx,
};
use uuid::Uuid;

use super::crypto::{new_secret, sha256_hex};
use super::passwords::Checked;
use super::{ENROL_TTL, IdResult, IdentityError, LINK_TTL, RESET_TTL, link};
use crate::audit::Entry;
use crate::mail::{self, Outgoing};
use crate::{App, AppError};

async fn issue<T: IdentityStore + Send>(
    tx: &mut T,
    purpose: TokenPurpose,
    account: Option<Uuid>,
    email: &str,
    ttl: chrono::Duration,
    now: mamis_domain::Timestamp,
) -> IdResult<String> {
    let (secret, hash) = new_secret();
    tx.insert_email_token(&EmailToken {
        token_hash: hash,
        purpose,
        account_id: account,
        email: email.to_owned(),
        expires_at: now + ttl,
        used_at: None,
        created_at: now,
    })
    .await?;
    Ok(secret)
}

/// Asks for a reset link; answers the same whether or not the address is known, after the same
/// work: one queued [`super::mail_requests::ResetMailJob`] with the address.
pub async fn request_reset<S: Store>(app: &App<S>, email: &str) -> IdResult<()> {
    let email = Email::parse(email)?;
    super::mail_requests::queue(app, super::mail_requests::RESET_KIND, &email).await
}

/// Writes the reset link mail for `email` if an account uses it; an unknown address gets
/// nothing. Runs in the job, never on the request path.
pub(super) async fn write_reset_mail<S: Store>(app: &App<S>, email: &Email) -> IdResult<()> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    if let Some(acc) = tx.account_by_email(email.as_str()).await? {
        let secret = issue(
            &mut tx,
            TokenPurpose::Reset,
            Some(acc.id),
            &acc.email,
            RESET_TTL,
            now,
        )
        .await?;
        let url = link(&app.config.base_url, "/reset/continue", &secret);
        mail::queue(
            &mut tx,
            now,
            Outgoing {
                to: acc.email.clone(),
                subject: "【MAMIS】パスワード再設定 / Reset your password".into(),
                body_text: format!(
                    "パスワードを再設定するには、1時間以内に次のリンクを開いてください（1回限り有効）。\n{url}\n\
                     お心当たりがない場合は、このメールを破棄してください。\n\n\
                     To reset your password, open this link within one hour (it works once):\n{url}\n"
                ),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether a reset link is still usable and whether it will ask for a second factor (for the
/// form); spends nothing.
pub async fn reset_needs_second_factor<S: Store>(app: &App<S>, secret: &str) -> IdResult<bool> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let token = tx
        .use_email_token(&sha256_hex(secret), TokenPurpose::Reset, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    let acc = tx
        .account(token.account_id.ok_or(IdentityError::LinkInvalid)?)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    // Looking must not use the link up.
    tx.rollback().await?;
    Ok(acc.totp_secret.is_some())
}

/// Completes a reset: the link, a new password, and — when enrolled — a TOTP or recovery code.
/// Ends every session and clears login waits. A wrong second factor leaves the link usable.
pub async fn complete_reset<S: Store>(
    app: &App<S>,
    secret: &str,
    password: &str,
    second_factor: Option<&str>,
) -> IdResult<()> {
    let now = app.now();
    let hash_key = sha256_hex(secret);
    let mut tx = app.store.write().await?;
    let token = tx
        .use_email_token(&hash_key, TokenPurpose::Reset, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    let acc = tx
        .account(token.account_id.ok_or(IdentityError::LinkInvalid)?)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    let birth = match acc.doctor_id {
        Some(d) => tx.doctor(d).await?.map(|d| (d.birth_date, d.member_id)),
        None => None,
    };
    tx.rollback().await?;
    let email = Email::parse(&acc.email)?;
    let ctx = PasswordContext {
        birth_date: birth.as_ref().map(|b| b.0),
        member_id: birth.as_ref().and_then(|b| b.1.as_ref()),
        email: Some(&email),
    };
    check_password(password, &ctx).map_err(IdentityError::Password)?;
    if acc.totp_secret.is_some() {
        // The same throttle as the login's second step: a reset link gives no extra guesses.
        let key = format!("mfa:{}", acc.id);
        if !super::login::admit(
            app,
            &key,
            &super::sessions::Origin::default(),
            Some(&acc.email),
        )
        .await?
        {
            return Err(IdentityError::SecondFactorFailed);
        }
        if !super::totp::check(app, &acc, second_factor.unwrap_or("")).await? {
            return Err(IdentityError::SecondFactorFailed);
        }
        super::login::forgive(app, &key, &super::sessions::Origin::default()).await?;
    }
    let new_hash = app.hasher.hash(password.to_owned()).await?;
    let mut tx = app.store.write().await?;
    // Spend the link for real now; a concurrent use wins only once.
    tx.use_email_token(&hash_key, TokenPurpose::Reset, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    tx.set_password_hash(acc.id, &new_hash).await?;
    tx.revoke_sessions_of(acc.id, None, now).await?;
    // Services lose their refresh tokens too: a reset means the old password may be known.
    tx.revoke_tokens_of(acc.id, Some(mamis_store::TokenKind::Refresh), now)
        .await?;
    tx.clear_throttle(&format!("login:{}", sha256_hex(&acc.email)))
        .await?;
    let who = Principal::Doctor {
        account_id: acc.id,
        doctor_id: acc.doctor_id,
    };
    app.audit(
        &mut tx,
        Entry::new(
            &who,
            "account.password_reset",
            format!("account:{}", acc.id),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks a logged-in account's current password under the login's lockout rule, counted per
/// account and before any hashing: a stolen session cannot guess faster than the login page.
async fn check_current_password<S: Store>(
    app: &App<S>,
    acc: &Account,
    presented: &str,
) -> IdResult<()> {
    if crate::limits::admit_password_check(app, acc.id)
        .await?
        .is_err()
    {
        return Err(IdentityError::LoginFailed);
    }
    if app
        .hasher
        .verify(acc.password_hash.clone(), presented.to_owned())
        .await?
        == Checked::Mismatch
    {
        return Err(IdentityError::LoginFailed);
    }
    crate::limits::password_check_passed(app, acc.id).await?;
    Ok(())
}

/// Changes the password of a logged-in account (current password required); other sessions end.
pub async fn change_password<S: Store>(
    app: &App<S>,
    acc: &Account,
    current: &str,
    new: &str,
    keep_session: &str,
) -> IdResult<()> {
    check_current_password(app, acc, current).await?;
    super::registration::set_password(app, acc, new).await?;
    let mut tx = app.store.write().await?;
    tx.revoke_sessions_of(acc.id, Some(keep_session), app.now())
        .await?;
    tx.revoke_tokens_of(acc.id, Some(mamis_store::TokenKind::Refresh), app.now())
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Asks to change the MAMIS_ID: a link goes to the new address, a notice to the old one.
pub async fn request_email_change<S: Store>(
    app: &App<S>,
    acc: &Account,
    new_email: &str,
    password: &str,
) -> IdResult<()> {
    let new_email = Email::parse(new_email)?;
    check_current_password(app, acc, password).await?;
    let now = app.now();
    let mut tx = app.store.write().await?;
    let secret = issue(
        &mut tx,
        TokenPurpose::EmailChange,
        Some(acc.id),
        new_email.as_str(),
        LINK_TTL,
        now,
    )
    .await?;
    let url = link(&app.config.base_url, "/mypage/email/confirm", &secret);
    mail::queue(
        &mut tx,
        now,
        Outgoing {
            to: new_email.to_string(),
            subject: "【MAMIS】MAMIS_ID 変更の確認 / Confirm your new MAMIS_ID".into(),
            body_text: format!(
                "このアドレスを新しい MAMIS_ID にするには、24時間以内に次のリンクを開いてください。\n{url}\n\n\
                 To make this address your MAMIS_ID, open this link within 24 hours:\n{url}\n"
            ),
        },
    )
    .await?;
    mail::queue(
        &mut tx,
        now,
        Outgoing {
            to: acc.email.clone(),
            subject: "【MAMIS】MAMIS_ID の変更が申請されました / A change of your MAMIS_ID was requested".into(),
            body_text: "MAMIS_ID（ログイン用メールアドレス）の変更が申請されました。お心当たりがない場合は、パスワードを変更し、医師会にご連絡ください。\n\n\
                        A change of your MAMIS_ID (login address) was requested. If this was not you, change your password and contact your association.\n"
                .into(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Confirms the new address from its link.
pub async fn confirm_email_change<S: Store>(app: &App<S>, secret: &str) -> IdResult<String> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let token = tx
        .use_email_token(&sha256_hex(secret), TokenPurpose::EmailChange, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    let account = token.account_id.ok_or(IdentityError::LinkInvalid)?;
    let acc = tx
        .account(account)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    tx.set_email(account, &token.email)
        .await
        .map_err(|e| match e {
            mamis_store::StoreError::Conflict { .. } => IdentityError::State("address taken"),
            other => other.into(),
        })?;
    let who = Principal::Doctor {
        account_id: account,
        doctor_id: acc.doctor_id,
    };
    app.audit(
        &mut tx,
        Entry::new(&who, "account.email_change", format!("account:{account}"))
            .details(serde_json::json!({ "from": acc.email, "to": token.email })),
    )
    .await?;
    mail::queue(
        &mut tx,
        now,
        Outgoing {
            to: acc.email.clone(),
            subject: "【MAMIS】MAMIS_ID が変更されました / Your MAMIS_ID was changed".into(),
            body_text: format!(
                "MAMIS_ID は {} に変更されました。\nYour MAMIS_ID is now {}.\n",
                token.email, token.email
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token.email)
}

/// Creates a staff account with one role grant and returns its one-time enrolment link.
pub async fn create_staff<S: Store>(
    app: &App<S>,
    actor: &Principal,
    email: &str,
    name: &str,
    grant: RoleGrant,
) -> IdResult<String> {
    crate::authz::require(
        actor,
        mamis_domain::Action::ManageRoleGrants,
        &mamis_domain::Target::System,
    )?;
    let email = Email::parse(email)?;
    let now = app.now();
    let mut tx = app.store.write().await?;
    if let Scope::Association(c) = grant.scope()
        && tx.association(c).await?.is_none()
    {
        return Err(IdentityError::Invalid(
            mamis_domain::DomainError::InvalidAssociationCode,
        ));
    }
    let acc = Account::new(
        Uuid::now_v7(),
        email.as_str(),
        name,
        AccountKind::Staff,
        now,
    );
    tx.insert_account(&acc).await.map_err(|e| match e {
        mamis_store::StoreError::Conflict { .. } => IdentityError::State("address taken"),
        other => other.into(),
    })?;
    tx.insert_role_grant(acc.id, &grant, now).await?;
    let secret = issue(
        &mut tx,
        TokenPurpose::StaffEnrol,
        Some(acc.id),
        email.as_str(),
        ENROL_TTL,
        now,
    )
    .await?;
    app.audit(
        &mut tx,
        Entry::new(actor, "staff.create", format!("account:{}", acc.id))
            .details(serde_json::json!({ "role": grant.role().as_str(), "scope": grant.scope() })),
    )
    .await?;
    tx.commit().await?;
    Ok(link(&app.config.base_url, "/staff/enrol", &secret))
}

/// Spends a staff enrolment link: sets the password and logs in; TOTP enrolment follows.
pub async fn enrol_staff<S: Store>(
    app: &App<S>,
    secret: &str,
    password: &str,
    origin: &super::sessions::Origin,
) -> IdResult<String> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let token = tx
        .use_email_token(&sha256_hex(secret), TokenPurpose::StaffEnrol, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    let acc = tx
        .account(token.account_id.ok_or(IdentityError::LinkInvalid)?)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    let email = Email::parse(&acc.email)?;
    check_password(
        password,
        &PasswordContext {
            email: Some(&email),
            ..Default::default()
        },
    )
    .map_err(IdentityError::Password)?;
    tx.rollback().await?;
    let hash = app.hasher.hash(password.to_owned()).await?;
    let mut tx = app.store.write().await?;
    tx.use_email_token(&sha256_hex(secret), TokenPurpose::StaffEnrol, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    tx.set_password_hash(acc.id, &hash).await?;
    let cookie = super::sessions::open(&mut tx, acc.id, origin, now).await?;
    tx.commit().await?;
    Ok(cookie)
}

/// The grants of a staff account, as a principal (for the office pages).
pub async fn staff_principal<S: Store>(app: &App<S>, acc: &Account) -> Result<Principal, AppError> {
    let mut tx = app.store.read().await?;
    let grants = tx.grants_of(acc.id).await?;
    tx.rollback().await?;
    Ok(Principal::Staff {
        account_id: acc.id,
        grants,
    })
}

/// Parses `--role` and `--scope` of `mamis staff create`.
pub fn parse_grant(role: &str, scope: &str) -> Result<RoleGrant, String> {
    let role = Role::parse(role)
        .map_err(|_| format!("unknown role '{role}'; use jma_admin, jma_staff, prefecture_staff, county_staff or organiser"))?;
    let scope = if role == Role::Organiser {
        Scope::Organisation(
            Uuid::parse_str(scope)
                .map_err(|_| "organiser takes an organisation id as --scope".to_owned())?,
        )
    } else {
        Scope::Association(AssociationCode::parse(scope).map_err(|_| {
            format!("scope '{scope}' is not an association code (JMA, P01–P47, P13-0001)")
        })?)
    };
    RoleGrant::new(role, scope).map_err(|_| {
        "that role cannot be granted on that scope: JMA roles on JMA, prefecture_staff on Pnn, county_staff on Pnn-nnnn".to_owned()
    })
}
