//! My Page registration (マイページ登録): e-mail → single-use link → identity data → password.
//! Identity data are matched to the register by 医籍登録番号 + birth date + kana name; a match
//! binds at once and is announced to the doctor's contact address; anything doubtful goes to
//! staff. Pages never reveal whether an address is registered or which field failed.

use chrono::NaiveDate;
use mamis_domain::identity::{Email, PasswordContext, check_password};
use mamis_domain::time::japan_date;
use mamis_domain::{
    AssociationCode, AssociationLevel, IsekiNumber, KanaName, Principal, Sex, names,
};
use mamis_store::{
    AccessStore, Account, AccountKind, EmailToken, IdentityClaim, IdentityStore, RegistryStore,
    Store, TokenPurpose, Tx, Verification,
};
use uuid::Uuid;

use super::crypto::{new_secret, sha256_hex};
use super::sessions::{self, Origin};
use super::{IdResult, IdentityError, LINK_TTL, link};
use crate::App;
use crate::audit::Entry;
use crate::mail::{self, Outgoing};

/// Failed automatic matches before a claim goes to staff.
pub const MATCHES_BEFORE_REVIEW: i32 = 3;
/// Failed matches per 医籍登録番号 per Japan day above which staff are alerted.
pub const ALERT_AFTER_FAILURES: i64 = 5;

/// Step 1: asks for a registration link. Always succeeds the same way, after the same work,
/// whether or not the address is known: one queued
/// [`super::mail_requests::RegisterMailJob`] with the address.
pub async fn start<S: Store>(app: &App<S>, email: &str) -> IdResult<()> {
    let email = Email::parse(email)?;
    super::mail_requests::queue(app, super::mail_requests::REGISTER_KIND, &email).await
}

/// Writes the registration mail for `email`: the link for a new address, a "you already have a
/// MAMIS_ID" notice for a known one. Runs in the job, never on the request path.
pub(super) async fn write_registration_mail<S: Store>(app: &App<S>, email: &Email) -> IdResult<()> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    if tx.account_by_email(email.as_str()).await?.is_some() {
        let out = Outgoing {
            to: email.to_string(),
            subject: "【MAMIS】マイページ登録について / About your registration".into(),
            body_text: format!(
                "このアドレスはすでに MAMIS_ID として登録されています。ログインしてください。パスワードをお忘れの場合は再設定できます: {base}reset\n\n\
                 This address is already a MAMIS_ID. Please log in; if you forgot the password, reset it: {base}reset\n",
                base = app.config.base_url
            ),
        };
        mail::queue(&mut tx, now, out).await?;
    } else {
        let (secret, hash) = new_secret();
        tx.insert_email_token(&EmailToken {
            token_hash: hash,
            purpose: TokenPurpose::Register,
            account_id: None,
            email: email.to_string(),
            expires_at: now + LINK_TTL,
            used_at: None,
            created_at: now,
        })
        .await?;
        let url = link(&app.config.base_url, "/register/continue", &secret);
        let out = Outgoing {
            to: email.to_string(),
            subject: "【MAMIS】マイページ登録のご案内 / Your MAMIS registration link".into(),
            body_text: format!(
                "マイページ登録を続けるには、24時間以内に次のリンクを開いてください（1回限り有効）。\n{url}\n\
                 お心当たりがない場合は、このメールを破棄してください。\n\n\
                 To continue your registration, open this link within 24 hours (it works once):\n{url}\n\
                 If you did not ask for it, ignore this mail.\n"
            ),
        };
        mail::queue(&mut tx, now, out).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Step 2: the link from the mail creates the (unverified) account and logs it in; returns the
/// session cookie value.
pub async fn confirm<S: Store>(app: &App<S>, secret: &str, origin: &Origin) -> IdResult<String> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    let token = tx
        .use_email_token(&sha256_hex(secret), TokenPurpose::Register, now)
        .await?
        .ok_or(IdentityError::LinkInvalid)?;
    if tx.account_by_email(&token.email).await?.is_some() {
        return Err(IdentityError::LinkInvalid);
    }
    let account = Account::new(Uuid::now_v7(), &token.email, "", AccountKind::Doctor, now);
    tx.insert_account(&account).await?;
    let cookie = sessions::open(&mut tx, account.id, origin, now).await?;
    let who = Principal::Doctor {
        account_id: account.id,
        doctor_id: None,
    };
    app.audit(
        &mut tx,
        Entry::new(&who, "account.register", format!("account:{}", account.id))
            .from(origin.client_addr.clone()),
    )
    .await?;
    tx.commit().await?;
    Ok(cookie)
}

/// The identity form as typed; parsed here so every field gets its own message.
#[derive(Debug, Clone, Default)]
pub struct IdentityForm {
    /// 医籍登録番号.
    pub iseki: String,
    /// 氏 (kanji).
    pub family_name: String,
    /// 名 (kanji).
    pub given_name: String,
    /// 氏 (kana).
    pub family_kana: String,
    /// 名 (kana).
    pub given_kana: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    /// `male` or `female`.
    pub sex: String,
    /// `member` or `non_member`.
    pub membership: String,
    /// County association code (members) or prefecture code (non-members).
    pub association: String,
    /// 医籍登録年月日 YYYY-MM-DD, optional (empty: unknown); fills in the register's when it has
    /// none, so no CME window starts before the licence year.
    pub licensed_on: String,
}

/// A parse problem of one field of the identity form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The form field.
    pub field: &'static str,
    /// The message key explaining what to enter.
    pub key: &'static str,
}

/// The identity data, parsed.
#[derive(Debug, Clone)]
pub struct IdentityData {
    iseki: IsekiNumber,
    family_name: String,
    given_name: String,
    family_kana: KanaName,
    given_kana: KanaName,
    birth_date: NaiveDate,
    sex: Sex,
    member: bool,
    association: AssociationCode,
    licensed_on: Option<NaiveDate>,
}

fn name(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t.chars().count() <= 60 && !t.chars().any(char::is_control))
        .then(|| t.to_owned())
}

/// Parses the form, reporting every bad field at once.
pub fn parse_identity(f: &IdentityForm) -> Result<IdentityData, Vec<FieldError>> {
    let mut errs = Vec::new();
    let mut err = |field, key| errs.push(FieldError { field, key });
    // an empty field says it is required, not what shape a filled one must have
    let blank = |v: &str| v.trim().is_empty();
    let iseki = IsekiNumber::parse(&f.iseki)
        .map_err(|_| {
            err(
                "iseki",
                if blank(&f.iseki) {
                    "field-required"
                } else {
                    "invalid-iseki"
                },
            )
        })
        .ok();
    let family_name = name(&f.family_name).or_else(|| {
        err(
            "family_name",
            if blank(&f.family_name) {
                "field-required"
            } else {
                "invalid-name"
            },
        );
        None
    });
    let given_name = name(&f.given_name).or_else(|| {
        err(
            "given_name",
            if blank(&f.given_name) {
                "field-required"
            } else {
                "invalid-name"
            },
        );
        None
    });
    let family_kana = KanaName::normalise(&f.family_kana)
        .map_err(|_| {
            err(
                "family_kana",
                if blank(&f.family_kana) {
                    "field-required"
                } else {
                    "invalid-kana"
                },
            )
        })
        .ok();
    let given_kana = KanaName::normalise(&f.given_kana)
        .map_err(|_| {
            err(
                "given_kana",
                if blank(&f.given_kana) {
                    "field-required"
                } else {
                    "invalid-kana"
                },
            )
        })
        .ok();
    let birth_date = parse_date(&f.birth_date).or_else(|| {
        err(
            "birth_date",
            if blank(&f.birth_date) {
                "field-required"
            } else {
                "invalid-birth-date"
            },
        );
        None
    });
    let licensed_on = if f.licensed_on.trim().is_empty() {
        None
    } else {
        match parse_date(&f.licensed_on) {
            Some(l) if birth_date.is_none_or(|b| l > b) => Some(l),
            _ => {
                err("licensed_on", "invalid-licence-date");
                None
            }
        }
    };
    let sex = Sex::parse(&f.sex)
        .map_err(|_| {
            err(
                "sex",
                if blank(&f.sex) {
                    "field-choose"
                } else {
                    "invalid-sex"
                },
            )
        })
        .ok();
    let member = match f.membership.as_str() {
        "member" => Some(true),
        "non_member" => Some(false),
        "" => {
            err("membership", "field-choose");
            None
        }
        _ => {
            err("membership", "invalid-membership");
            None
        }
    };
    let association = AssociationCode::parse(&f.association)
        .ok()
        .filter(|c| match member {
            Some(true) => c.level() == AssociationLevel::County,
            Some(false) => c.level() == AssociationLevel::Prefecture,
            None => true,
        });
    if association.is_none() {
        err(
            "association",
            if blank(&f.association) {
                "field-choose"
            } else if member == Some(false) {
                "invalid-prefecture"
            } else {
                "invalid-county"
            },
        );
    }
    match (
        iseki,
        family_name,
        given_name,
        family_kana,
        given_kana,
        birth_date,
        sex,
        member,
        association,
    ) {
        (
            Some(iseki),
            Some(family_name),
            Some(given_name),
            Some(family_kana),
            Some(given_kana),
            Some(birth_date),
            Some(sex),
            Some(member),
            Some(association),
        ) if errs.is_empty() => Ok(IdentityData {
            iseki,
            family_name,
            given_name,
            family_kana,
            given_kana,
            birth_date,
            sex,
            member,
            association,
            licensed_on,
        }),
        _ => Err(errs),
    }
}

/// A date in any form of the one date parser ([`mamis_domain::dates`]: YYYY-MM-DD, YYYY/M/D,
/// YYYYMMDD, YYYY年M月D日, 和暦, full-width digits too), years 1900–2100.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let d = mamis_domain::dates::parse_date(s).ok()?;
    (1900..=2100)
        .contains(&chrono::Datelike::year(&d))
        .then_some(d)
}

/// The outcome of submitting identity data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityOutcome {
    /// Matched and bound; the doctor's contact address was told.
    Verified,
    /// Waiting for staff (no match after the allowed attempts, or the record is already bound).
    Review,
    /// No match; the doctor may check the data and try again `attempts_left` more times.
    NotMatched {
        /// Tries before the claim goes to staff.
        attempts_left: i32,
    },
}

/// Step 3: identity data. Matching never says which field differed.
pub async fn submit_identity<S: Store>(
    app: &App<S>,
    account: &Account,
    data: IdentityData,
    origin: &Origin,
) -> IdResult<IdentityOutcome> {
    // Two submissions matching one free record at once: the loser's transaction hits the unique
    // binding and is retried once, when it sees the winner and goes to review like any other.
    match submit_identity_once(app, account, data.clone(), origin).await {
        Err(IdentityError::App(crate::AppError::Conflict(c)))
            if c == "accounts_verified_doctor_key" =>
        {
            submit_identity_once(app, account, data, origin).await
        }
        other => other,
    }
}

async fn submit_identity_once<S: Store>(
    app: &App<S>,
    account: &Account,
    data: IdentityData,
    origin: &Origin,
) -> IdResult<IdentityOutcome> {
    let now = app.now();
    let mut tx = app.store.write().await?;
    // Only an account that was never matched may submit: a claim in review waits for staff, and
    // a binding suspended by "this was not me" is for staff to judge (no unlimited guessing).
    let current = tx
        .account(account.id)
        .await?
        .ok_or(IdentityError::State("no account"))?;
    match current.verification {
        Verification::Unverified => {}
        Verification::Verified => return Err(IdentityError::State("already verified")),
        // Nothing changes and nothing is matched: the answer is the same as before.
        Verification::Review | Verification::Suspended => return Ok(IdentityOutcome::Review),
    }
    if tx.association(&data.association).await?.is_none() {
        return Err(IdentityError::Invalid(
            mamis_domain::DomainError::InvalidAssociationCode,
        ));
    }
    let previous = tx.claim_of(account.id).await?;
    let mut claim = IdentityClaim {
        account_id: account.id,
        iseki: data.iseki.clone(),
        family_name: data.family_name.clone(),
        given_name: data.given_name.clone(),
        family_kana: data.family_kana.clone(),
        given_kana: data.given_kana.clone(),
        birth_date: data.birth_date,
        sex: data.sex,
        association: data.association.clone(),
        member: data.member,
        failed_matches: previous.as_ref().map_or(0, |c| c.failed_matches),
        review_node: None,
        review_reason: None,
        submitted_at: now,
    };
    let who = Principal::Doctor {
        account_id: account.id,
        doctor_id: account.doctor_id,
    };
    let doctor = tx.doctor_by_iseki(&data.iseki).await?;
    // Kana compared through the one name normaliser: the whole name, so a family/given split
    // at another place (カトウユウ ト) still matches.
    let matched = doctor.filter(|d| {
        d.birth_date == data.birth_date
            && names::same_kana(
                &format!("{}{}", d.family_kana.as_str(), d.given_kana.as_str()),
                &format!("{}{}", data.family_kana.as_str(), data.given_kana.as_str()),
            )
    });
    let outcome = match matched {
        Some(d) => match tx.verified_account_of(d.id).await? {
            Some(holder) => {
                claim.review_node = Some(data.association.clone());
                claim.review_reason = Some("already_bound".into());
                tx.set_binding(account.id, Some(d.id), Verification::Review)
                    .await?;
                mail::queue(&mut tx, now, already_bound_notice(&holder.email)).await?;
                IdentityOutcome::Review
            }
            None => {
                tx.set_binding(account.id, Some(d.id), Verification::Verified)
                    .await?;
                // the register's 医籍登録年月日 stands; the form's fills it in when unknown
                if let Some(l) = data.licensed_on
                    && tx.licence_dates(&[d.id]).await?.is_empty()
                {
                    tx.set_licence_date(d.id, Some(l)).await?;
                }
                crate::training::credit_pending(&mut tx, &d, now).await?;
                if let Some(m) = &d.member_id {
                    tx.retire_legacy_credential(m, now).await?;
                }
                if let Some(contact) = &d.contact_email {
                    let (secret, hash) = new_secret();
                    tx.insert_email_token(&EmailToken {
                        token_hash: hash,
                        purpose: TokenPurpose::NotMe,
                        account_id: Some(account.id),
                        email: contact.clone(),
                        expires_at: now + chrono::Duration::days(30),
                        used_at: None,
                        created_at: now,
                    })
                    .await?;
                    let url = link(&app.config.base_url, "/not-me", &secret);
                    mail::queue(&mut tx, now, binding_notice(contact, &account.email, &url))
                        .await?;
                }
                IdentityOutcome::Verified
            }
        },
        None => {
            claim.failed_matches += 1;
            let today = tx.bump_match_failures(&data.iseki, japan_date(now)).await?;
            if today == ALERT_AFTER_FAILURES + 1 {
                app.audit(
                    &mut tx,
                    Entry::new(
                        &who,
                        "identity.match_alert",
                        format!("iseki:{}", data.iseki),
                    )
                    .from(origin.client_addr.clone())
                    .details(serde_json::json!({ "failures_today": today })),
                )
                .await?;
                // Staff of the association named in the attempt (and its prefecture) are told.
                let mut nodes = vec![data.association.clone()];
                nodes.extend(data.association.prefecture_code());
                for to in tx.staff_emails(&nodes).await? {
                    let out = Outgoing {
                        to,
                        subject: "【MAMIS】本人確認の照合失敗が続いています / Repeated failed identity matches".into(),
                        body_text: format!(
                            "医籍登録番号 {iseki} について、本日 {today} 回の照合失敗がありました。なりすましの可能性があります。事務局画面の確認待ち一覧をご確認ください。\n\n\
                             Identity matching for medical register number {iseki} failed {today} times today, which may be an impersonation attempt. Please check the review queue in the office pages.\n",
                            iseki = data.iseki
                        ),
                    };
                    mail::queue(&mut tx, now, out).await?;
                }
            }
            if claim.failed_matches >= MATCHES_BEFORE_REVIEW {
                claim.review_node = Some(data.association.clone());
                claim.review_reason = Some("no_match".into());
                tx.set_binding(account.id, None, Verification::Review)
                    .await?;
                IdentityOutcome::Review
            } else {
                IdentityOutcome::NotMatched {
                    attempts_left: MATCHES_BEFORE_REVIEW - claim.failed_matches,
                }
            }
        }
    };
    tx.put_claim(&claim).await?;
    app.audit(
        &mut tx,
        Entry::new(&who, "identity.submit", format!("account:{}", account.id))
            .from(origin.client_addr.clone())
            .details(serde_json::json!({ "outcome": format!("{outcome:?}") })),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

fn binding_notice(contact: &str, mamis_id: &str, not_me: &str) -> Outgoing {
    Outgoing {
        to: contact.to_owned(),
        subject: "【MAMIS】MAMIS_ID が登録されました / A MAMIS_ID was linked to your record".into(),
        body_text: format!(
            "あなたの医籍情報に MAMIS_ID({mamis_id})が登録されました。\n\
             お心当たりがない場合は、次のリンクを開いてください。登録を停止し、医師会が確認します。\n{not_me}\n\n\
             A MAMIS_ID ({mamis_id}) was linked to your register record. If this was not you, open this link: \
             the link is suspended and your medical association will review it.\n{not_me}\n"
        ),
    }
}

fn already_bound_notice(holder: &str) -> Outgoing {
    Outgoing {
        to: holder.to_owned(),
        subject: "【MAMIS】あなたの医籍情報で別の登録がありました / Another registration used your record".into(),
        body_text: "あなたの医籍情報で、別の MAMIS_ID の登録が試みられました。その登録は医師会の確認待ちで、あなたの MAMIS_ID はそのまま使えます。\n\
             お心当たりがない場合は、所属の医師会にご連絡ください。\n\n\
             Someone tried to register another MAMIS_ID with your register record. It waits for your association's \
             review; your MAMIS_ID keeps working. If this was not you, please contact your association.\n"
            .into(),
    }
}

/// Step 4: the password, checked against the policy with everything we know about the doctor.
pub async fn set_password<S: Store>(
    app: &App<S>,
    account: &Account,
    password: &str,
) -> IdResult<()> {
    let email = Email::parse(&account.email)?;
    let mut tx = app.store.read().await?;
    let claim = tx.claim_of(account.id).await?;
    let doctor = match account.doctor_id {
        Some(d) => tx.doctor(d).await?,
        None => None,
    };
    tx.rollback().await?;
    let birth = doctor
        .as_ref()
        .map(|d| d.birth_date)
        .or(claim.as_ref().map(|c| c.birth_date));
    let ctx = PasswordContext {
        birth_date: birth,
        member_id: doctor.as_ref().and_then(|d| d.member_id.as_ref()),
        email: Some(&email),
    };
    check_password(password, &ctx).map_err(IdentityError::Password)?;
    let hash = app.hasher.hash(password.to_owned()).await?;
    let mut tx = app.store.write().await?;
    tx.set_password_hash(account.id, &hash).await?;
    let who = Principal::Doctor {
        account_id: account.id,
        doctor_id: account.doctor_id,
    };
    app.audit(
        &mut tx,
        Entry::new(
            &who,
            "account.password_set",
            format!("account:{}", account.id),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
