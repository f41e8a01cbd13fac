//! The portal's OpenID client: its first-party registration, the login round trip, and the
//! members-only check on every request (access tokens live five minutes; when one has expired
//! the portal refreshes it and re-reads userinfo, so a membership that ended is seen within
//! minutes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use hmac::{Hmac, Mac};
use mamis_domain::{MemberId, Timestamp};
use mamis_store::{
    IdentityStore, OidcClient, OidcStore, PortalSession, PortalSubject, RegistryStore, Store, Tx,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::identity::crypto::{new_secret, open, seal, sha256_hex};
use crate::identity::sessions;
use crate::oidc::keys;
use crate::{App, AppError};

/// The portal's `client_id`.
pub const CLIENT_ID: &str = "mamis-cme";
const FLOW_PURPOSE: &str = "cme-rp-flow";
const STATE_PURPOSE: &str = "cme-rp-state";
/// The login round trip must come back within this.
const FLOW_TTL: Duration = Duration::minutes(10);

fn base<S: Store>(app: &App<S>) -> String {
    app.config
        .base_url
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

fn redirect_uri<S: Store>(app: &App<S>) -> String {
    format!("{}/cme/callback", base(app))
}

/// The portal's client secret, derived from `MAMIS_SECRET_KEY` (so it is stored nowhere; the
/// provider keeps only its SHA-256).
fn client_secret<S: Store>(app: &App<S>) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(app.config.secret_key.expose()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"mamis cme portal client secret v1");
    B64.encode(mac.finalize().into_bytes())
}

/// Registers (or corrects) the portal as a first-party confidential client; at every start.
pub async fn ensure_client<S: Store>(app: &App<S>) -> Result<(), AppError> {
    let want = OidcClient {
        id: CLIENT_ID.into(),
        name: "日本医師会生涯教育 on-line".into(),
        secret_hash: Some(sha256_hex(&client_secret(app))),
        redirect_uris: vec![redirect_uri(app)],
        post_logout_redirect_uris: vec![format!("{}/cme", base(app))],
        first_party: true,
        scopes: ["openid", "profile", "mamis", "offline_access"]
            .map(str::to_owned)
            .to_vec(),
        allow_iseki: false,
        id_token_alg: "RS256".into(),
        disabled: false,
        created_at: app.now(),
    };
    let mut tx = app.store.write().await?;
    match tx.client(CLIENT_ID).await? {
        None => tx.insert_client(&want).await?,
        Some(have) => {
            let fixed = OidcClient {
                created_at: have.created_at,
                disabled: have.disabled,
                ..want
            };
            if fixed != have {
                tx.update_client(&fixed).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    until: i64,
    next: String,
}

/// Starts a login: the provider's authorize URL, and the sealed flow (state, nonce, PKCE
/// verifier) for a short-lived cookie.
pub fn start<S: Store>(app: &App<S>, next: &str) -> Result<(String, String), AppError> {
    let (state, _) = new_secret();
    let (nonce, _) = new_secret();
    let (verifier, _) = new_secret();
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let flow = Flow {
        state: state.clone(),
        nonce: nonce.clone(),
        verifier,
        until: (app.now() + FLOW_TTL).timestamp(),
        next: next.to_owned(),
    };
    let sealed = seal(
        &app.config.secret_key,
        FLOW_PURPOSE,
        &serde_json::to_vec(&flow).map_err(|e| AppError::Internal(e.to_string()))?,
    )?;
    let mut url = url::Url::parse(&format!("{}/oauth2/authorize", base(app)))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri(app))
        .append_pair("scope", "openid profile mamis offline_access")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok((url.to_string(), sealed))
}

/// What the portal remembers about a MAMIS_ID login (sealed in the portal session row).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RpState {
    access_token: String,
    refresh_token: Option<String>,
    access_expires_at: i64,
    /// The userinfo claims read with the current access token.
    pub claims: Value,
}

/// Why a login round trip failed (all of them mean: start again).
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// The state, nonce, issuer or flow cookie do not match, or the flow expired.
    #[error("the login response does not belong to this browser's login: {0}")]
    Mismatch(&'static str),
    /// The provider refused (e.g. the user denied, or a code was replayed).
    #[error("the provider refused: {0}")]
    Provider(String),
    /// Anything else.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<mamis_store::StoreError> for RpError {
    fn from(e: mamis_store::StoreError) -> Self {
        RpError::App(e.into())
    }
}

fn http_err(e: reqwest::Error) -> RpError {
    RpError::Provider(format!("HTTP: {e}"))
}

async fn token_call(
    http: &reqwest::Client,
    app_base: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Result<Value, RpError> {
    let r = http
        .post(format!("{app_base}/oauth2/token"))
        .basic_auth(CLIENT_ID, Some(secret))
        .form(form)
        .send()
        .await
        .map_err(http_err)?;
    let ok = r.status().is_success();
    let body: Value = r.json().await.map_err(http_err)?;
    if !ok {
        return Err(RpError::Provider(
            body.get("error")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_owned(),
        ));
    }
    Ok(body)
}

async fn userinfo_call(
    http: &reqwest::Client,
    app_base: &str,
    access: &str,
) -> Result<Option<Value>, RpError> {
    let r = http
        .get(format!("{app_base}/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .map_err(http_err)?;
    if r.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    if !r.status().is_success() {
        return Err(RpError::Provider(format!("userinfo {}", r.status())));
    }
    Ok(Some(r.json().await.map_err(http_err)?))
}

/// The end of the login round trip: checks state and issuer, exchanges the code over HTTP,
/// verifies the ID token against the provider's JWKS (fetched over HTTP), reads userinfo and
/// opens a `PortalSession::Mamis`. Returns the portal cookie value and where to go next.
pub async fn finish<S: Store>(
    app: &App<S>,
    http: &reqwest::Client,
    flow_cookie: &str,
    params: &[(String, String)],
) -> Result<(String, String), RpError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let raw = open(&app.config.secret_key, FLOW_PURPOSE, flow_cookie)
        .map_err(|_| RpError::Mismatch("flow cookie"))?;
    let flow: Flow = serde_json::from_slice(&raw).map_err(|_| RpError::Mismatch("flow cookie"))?;
    if app.now().timestamp() > flow.until {
        return Err(RpError::Mismatch("expired"));
    }
    if get("state").as_deref() != Some(flow.state.as_str()) {
        return Err(RpError::Mismatch("state"));
    }
    let iss = base(app);
    if get("iss").is_some_and(|i| i != iss) {
        return Err(RpError::Mismatch("issuer"));
    }
    if let Some(e) = get("error") {
        return Err(RpError::Provider(e));
    }
    let code = get("code").ok_or(RpError::Mismatch("code"))?;
    let secret = client_secret(app);
    let redirect = redirect_uri(app);
    let tokens = token_call(
        http,
        &iss,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &flow.verifier),
        ],
    )
    .await?;
    let id_token = tokens
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or(RpError::Provider("no id_token".into()))?;
    let jwks: Value = http
        .get(format!("{iss}/jwks.json"))
        .send()
        .await
        .map_err(http_err)?
        .json()
        .await
        .map_err(http_err)?;
    let claims =
        keys::verify(&jwks, id_token).map_err(|_| RpError::Mismatch("ID token signature"))?;
    let now = app.now().timestamp();
    let checks = [
        claims.get("iss").and_then(Value::as_str) == Some(iss.as_str()),
        claims.get("aud").and_then(Value::as_str) == Some(CLIENT_ID),
        claims.get("nonce").and_then(Value::as_str) == Some(flow.nonce.as_str()),
        claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|e| now < e),
    ];
    if checks.contains(&false) {
        return Err(RpError::Mismatch("ID token claims"));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or(RpError::Mismatch("sub"))?;
    let access = tokens
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or(RpError::Provider("no access_token".into()))?
        .to_owned();
    let info = userinfo_call(http, &iss, &access)
        .await?
        .ok_or(RpError::Provider("userinfo refused".into()))?;
    let state = RpState {
        access_token: access,
        refresh_token: tokens
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_owned),
        access_expires_at: now
            + tokens
                .get("expires_in")
                .and_then(Value::as_i64)
                .unwrap_or(300),
        claims: info,
    };
    let mut tx = app.store.write().await?;
    let cookie = sessions::open_portal(&mut tx, PortalSubject::Mamis(sub), app.now())
        .await
        .map_err(|e| RpError::App(AppError::Internal(e.to_string())))?;
    tx.set_portal_rp_state(&sha256_hex(&cookie), &seal_state(app, &state)?)
        .await?;
    tx.commit().await?;
    Ok((cookie, flow.next))
}

fn seal_state<S: Store>(app: &App<S>, s: &RpState) -> Result<String, AppError> {
    seal(
        &app.config.secret_key,
        STATE_PURPOSE,
        &serde_json::to_vec(s).map_err(|e| AppError::Internal(e.to_string()))?,
    )
}

/// Whether the person behind a portal session may see members-only content, decided now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// An active JMA member (with a verified MAMIS_ID, or by the legacy member ID).
    Member,
    /// Logged in, but not a JMA member today.
    NotMember,
    /// Logged in with a MAMIS_ID that is not yet verified as a doctor of the register.
    Unverified,
    /// The provider no longer accepts the session's tokens: log in again.
    LoginAgain,
}

/// Checks membership on every request: MAMIS_ID sessions through the provider (refreshing the
/// ≤ 5-minute access token and re-reading userinfo when it expired), legacy sessions through the
/// member ID's current JMA membership in the register.
pub async fn access<S: Store>(
    app: &App<S>,
    http: &reqwest::Client,
    cookie: &str,
    session: &PortalSession,
) -> Result<Access, AppError> {
    match &session.subject {
        PortalSubject::Legacy(m) => legacy_access(app, m).await,
        PortalSubject::Mamis(_) => {
            let hash = sha256_hex(cookie);
            let mut tx = app.store.read().await?;
            let sealed = tx.portal_rp_state(&hash).await?;
            tx.rollback().await?;
            let Some(sealed) = sealed else {
                return Ok(Access::LoginAgain);
            };
            let raw = open(&app.config.secret_key, STATE_PURPOSE, &sealed)?;
            let mut state: RpState =
                serde_json::from_slice(&raw).map_err(|e| AppError::Internal(e.to_string()))?;
            let now = app.now().timestamp();
            if now >= state.access_expires_at {
                let iss = base(app);
                let Some(refresh) = state.refresh_token.clone() else {
                    return Ok(Access::LoginAgain);
                };
                let renewed = token_call(
                    http,
                    &iss,
                    &client_secret(app),
                    &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                )
                .await;
                let Ok(tokens) = renewed else {
                    return Ok(Access::LoginAgain);
                };
                let Some(access) = tokens.get("access_token").and_then(Value::as_str) else {
                    return Ok(Access::LoginAgain);
                };
                let info = userinfo_call(http, &iss, access)
                    .await
                    .map_err(|e| AppError::Unavailable(e.to_string()))?;
                let Some(info) = info else {
                    return Ok(Access::LoginAgain);
                };
                state = RpState {
                    access_token: access.to_owned(),
                    refresh_token: tokens
                        .get("refresh_token")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .or(state.refresh_token),
                    access_expires_at: now
                        + tokens
                            .get("expires_in")
                            .and_then(Value::as_i64)
                            .unwrap_or(300),
                    claims: info,
                };
                let mut tx = app.store.write().await?;
                tx.set_portal_rp_state(&hash, &seal_state(app, &state)?)
                    .await?;
                tx.commit().await?;
            }
            let c = &state.claims;
            Ok(
                if c.get("verification").and_then(Value::as_str) != Some("verified") {
                    Access::Unverified
                } else if c.get("jma_member").and_then(Value::as_bool) == Some(true) {
                    Access::Member
                } else {
                    Access::NotMember
                },
            )
        }
    }
}

async fn legacy_access<S: Store>(app: &App<S>, member: &MemberId) -> Result<Access, AppError> {
    let today = mamis_domain::time::japan_date(app.now());
    let mut tx = app.store.read().await?;
    let doctor = tx.doctor_by_member_id(member).await?;
    let ok = match doctor {
        Some(d) => tx.memberships_of(d.id).await?.iter().any(|m| {
            m.association.level() == mamis_domain::AssociationLevel::Jma && m.active_on(today)
        }),
        None => false,
    };
    tx.rollback().await?;
    Ok(if ok {
        Access::Member
    } else {
        Access::NotMember
    })
}

/// The claims the portal last read for a MAMIS_ID session (to greet the doctor by name).
pub async fn claims<S: Store>(app: &App<S>, cookie: &str) -> Result<Option<Value>, AppError> {
    let mut tx = app.store.read().await?;
    let sealed = tx.portal_rp_state(&sha256_hex(cookie)).await?;
    tx.rollback().await?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let raw = open(&app.config.secret_key, STATE_PURPOSE, &sealed)?;
    let state: RpState =
        serde_json::from_slice(&raw).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Some(state.claims))
}

/// Instant helper for tests of expiry.
pub fn expires_at(state: &RpState) -> Timestamp {
    chrono::DateTime::from_timestamp(state.access_expires_at, 0).unwrap_or_default()
}
