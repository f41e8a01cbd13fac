//! The TOTP second factor: enrolment by QR code, recovery codes stored hashed, the last accepted
//! step stored so a code works once; seeds encrypted at rest under `MAMIS_SECRET_KEY`.

use base64::Engine;
use mamis_domain::Principal;
use mamis_domain::identity::totp as rfc6238;
use mamis_store::{Account, IdentityStore, Store, Tx};
use rand::RngCore;

use super::crypto::{open, seal, sha256_hex};
use super::{IdResult, IdentityError};
use crate::audit::Entry;
use crate::{App, AppError};

const SEED_PURPOSE: &str = "totp-seed";
const ENROL_PURPOSE: &str = "totp-enrol";

/// What the enrolment page shows: the QR code (SVG), the secret for manual entry, and a sealed
/// copy of the secret that the confirmation form carries back.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app.
    pub secret_base32: String,
    /// The `otpauth://` URI in the QR code.
    pub uri: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
    /// The secret sealed for the round trip through the form.
    pub sealed: String,
}

/// Seals a TOTP seed for storage (demo data and enrolment use the same sealing).
pub fn seal_seed<S: Store>(app: &App<S>, secret: &[u8]) -> IdResult<String> {
    Ok(seal(&app.config.secret_key, SEED_PURPOSE, secret)?)
}

/// Starts enrolment: a fresh 160-bit secret (RFC 4226 recommends at least 128).
pub fn begin<S: Store>(app: &App<S>, account: &Account) -> IdResult<Enrolment> {
    let mut secret = [0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    let uri = rfc6238::otpauth_uri(&secret, &account.email);
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrolment {
        secret_base32: rfc6238::base32(&secret),
        uri,
        qr_svg,
        sealed: seal(&app.config.secret_key, ENROL_PURPOSE, &secret)?,
    })
}

/// Confirms enrolment with a first code; stores the seed and returns ten one-time recovery codes
/// (shown once, stored hashed).
pub async fn confirm<S: Store>(
    app: &App<S>,
    account: &Account,
    sealed: &str,
    code: &str,
) -> IdResult<Vec<String>> {
    let secret = open(&app.config.secret_key, ENROL_PURPOSE, sealed)
        .map_err(|_| IdentityError::LinkInvalid)?;
    let now = app.now();
    let step =
        rfc6238::verify(&secret, code, now, None).ok_or(IdentityError::SecondFactorFailed)?;
    let stored = seal(&app.config.secret_key, SEED_PURPOSE, &secret)?;
    let codes: Vec<String> = (0..10).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| sha256_hex(&normalise_recovery(c)))
        .collect();
    let mut tx = app.store.write().await?;
    tx.set_totp_secret(account.id, Some(&stored)).await?;
    tx.advance_totp_step(account.id, step).await?;
    tx.replace_recovery_codes(account.id, &hashes).await?;
    let who = Principal::Doctor {
        account_id: account.id,
        doctor_id: account.doctor_id,
    };
    app.audit(
        &mut tx,
        Entry::new(&who, "totp.enrol", format!("account:{}", account.id)),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

fn recovery_code() -> String {
    let mut b = [0u8; 8];
    rand::rng().fill_bytes(&mut b);
    let s = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(b)
        .to_ascii_lowercase()
        .replace(['-', '_'], "x");
    format!("{}-{}", &s[..5], &s[5..10])
}

fn normalise_recovery(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace([' ', '-'], "")
}

/// Checks a TOTP code (once per step) or spends a recovery code.
pub async fn check<S: Store>(app: &App<S>, account: &Account, code: &str) -> IdResult<bool> {
    let Some(sealed) = &account.totp_secret else {
        return Ok(false);
    };
    let secret = open(&app.config.secret_key, SEED_PURPOSE, sealed)?;
    let now = app.now();
    let mut tx = app.store.write().await?;
    let ok = match rfc6238::verify(&secret, code, now, account.totp_last_step) {
        Some(step) => tx.advance_totp_step(account.id, step).await?,
        None => {
            let normal = normalise_recovery(code);
            normal.len() == 10
                && tx
                    .use_recovery_code(account.id, &sha256_hex(&normal), now)
                    .await?
        }
    };
    tx.commit().await?;
    Ok(ok)
}
