//! The OpenID Provider's protocol logic: clients, the authorization-code flow with PKCE S256 for
//! every client, the token endpoint (codes and rotating refresh tokens with reuse detection),
//! userinfo, revocation and RP-initiated logout. HTTP lives in the web crate; this module speaks
//! in requests and outcomes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use mamis_domain::membership::scope_nodes;
use mamis_domain::time::japan_date;
use mamis_domain::{AssociationCode, AssociationLevel, MemberClass, Principal};
use mamis_store::{
    AccessStore, Account, AccountStatus, AuthCode, Bearer, Consent, OidcClient, OidcStore,
    OidcToken, Rotation, Store, TokenKind, Tx, Verification, wants_refresh,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::keys::{self, Alg};
use crate::audit::Entry;
use crate::identity::crypto::{new_secret, sha256_hex};
use crate::identity::sessions::Current;
use crate::{App, AppError};

/// Access tokens live five minutes, so membership changes reach services within minutes.
pub const ACCESS_TTL: Duration = Duration::minutes(5);
/// A refresh token unused for this long expires.
pub const REFRESH_IDLE: Duration = Duration::days(30);
/// A refresh chain ends this long after the login that started it.
pub const REFRESH_ABSOLUTE: Duration = Duration::days(180);
/// Authorization codes work once, within a minute.
pub const CODE_TTL: Duration = Duration::seconds(60);
/// ID tokens are short-lived assertions of the login.
pub const ID_TOKEN_TTL: Duration = Duration::minutes(10);

/// The provider's token lifetimes, configurable per deployment; [`Default`] is the product's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Access tokens: how soon a membership change reaches the services.
    pub access: Duration,
    /// A refresh token unused this long expires.
    pub refresh_idle: Duration,
    /// A refresh chain ends this long after its login.
    pub refresh_absolute: Duration,
    /// Authorization codes (at most 60 s).
    pub code: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access: ACCESS_TTL,
            refresh_idle: REFRESH_IDLE,
            refresh_absolute: REFRESH_ABSOLUTE,
            code: CODE_TTL,
        }
    }
}

impl Lifetimes {
    /// Refuses lifetimes that would break a promise: codes over a minute, access tokens long
    /// enough to hide a membership change, an idle limit beyond the absolute one.
    pub fn check(&self) -> Result<(), String> {
        if self.code < Duration::seconds(10) || self.code > CODE_TTL {
            return Err("the authorization code lifetime must be 10–60 seconds".into());
        }
        if self.access < Duration::minutes(1) || self.access > Duration::hours(1) {
            return Err("the access token lifetime must be 60–3600 seconds".into());
        }
        if self.refresh_idle < Duration::days(1) || self.refresh_idle > self.refresh_absolute {
            return Err(
                "the refresh idle lifetime must be at least 1 day and at most the absolute one"
                    .into(),
            );
        }
        if self.refresh_absolute > Duration::days(730) {
            return Err("the refresh absolute lifetime must be at most 730 days".into());
        }
        Ok(())
    }
}

/// Scopes the provider knows; others are ignored.
pub const SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "mamis",
    "iseki",
    "offline_access",
];

/// The issuer: the base URL without a trailing slash.
pub fn issuer<S: Store>(app: &App<S>) -> String {
    app.config
        .base_url
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

/// The discovery document (`/.well-known/openid-configuration`).
pub fn discovery<S: Store>(app: &App<S>) -> Value {
    let iss = issuer(app);
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks.json"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "end_session_endpoint": format!("{iss}/oauth2/logout"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "name", "family_name",
            "given_name", "name_kana", "email", "email_verified", "jma_member", "member_class",
            "county_association", "prefecture_association", "verification", "iseki_number"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

// ------------------------------------------------------------------------------------ clients

/// What `mamis client create` asks for.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// Shown on the consent page.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Where logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE only).
    pub public: bool,
    /// Run by the associations: no consent page.
    pub first_party: bool,
    /// Scopes it may receive (default: all but `iseki`).
    pub scopes: Vec<String>,
    /// May receive the 医籍登録番号.
    pub allow_iseki: bool,
    /// `RS256` or `ES256`.
    pub id_token_alg: Alg,
}

/// Client administration is the JMA admins' (and the operator's CLI).
fn require_client_admin(actor: &Principal) -> Result<(), AppError> {
    crate::authz::require(
        actor,
        mamis_domain::Action::ManageRoleGrants,
        &mamis_domain::Target::System,
    )
}

/// Why a client's fields are refused, so pages can say it in the user's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientProblem {
    /// The name is empty.
    NoName,
    /// No redirect URI was given.
    NoRedirect,
    /// This URI is not an absolute URL.
    NotAbsolute(String),
    /// This URI is neither https nor http on a loopback address.
    NotHttps(String),
    /// This URI carries a fragment.
    Fragment(String),
}

impl std::fmt::Display for ClientProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoName | Self::NoRedirect => {
                f.write_str("a client needs a name and at least one redirect URI")
            }
            Self::NotAbsolute(u) => write!(f, "'{u}' is not an absolute URL"),
            Self::NotHttps(u) => write!(f, "'{u}' must be https (or http on a loopback address)"),
            Self::Fragment(u) => write!(f, "'{u}' must not have a fragment"),
        }
    }
}

/// What every client must have, whether registered or edited.
pub fn client_fields_problem(
    name: &str,
    redirects: &[String],
    post_logout: &[String],
) -> Result<(), ClientProblem> {
    if name.trim().is_empty() {
        return Err(ClientProblem::NoName);
    }
    if redirects.is_empty() {
        return Err(ClientProblem::NoRedirect);
    }
    for u in redirects.iter().chain(post_logout) {
        check_redirect(u)?;
    }
    Ok(())
}

fn check_fields(name: &str, redirects: &[String], post_logout: &[String]) -> Result<(), AppError> {
    client_fields_problem(name, redirects, post_logout)
        .map_err(|p| AppError::Conflict(p.to_string()))
}

fn check_redirect(uri: &str) -> Result<(), ClientProblem> {
    let u = url::Url::parse(uri).map_err(|_| ClientProblem::NotAbsolute(uri.to_owned()))?;
    let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if u.scheme() != "https" && !(u.scheme() == "http" && loopback) {
        return Err(ClientProblem::NotHttps(uri.to_owned()));
    }
    if u.fragment().is_some() {
        return Err(ClientProblem::Fragment(uri.to_owned()));
    }
    Ok(())
}

/// Registers a client; returns it and, for a confidential client, its secret (shown once).
pub async fn create_client<S: Store>(
    app: &App<S>,
    actor: &Principal,
    c: NewClient,
) -> Result<(OidcClient, Option<String>), AppError> {
    register(app, actor, c, None).await
}

/// Registers a client under a given id and secret: the demo's clients are the same on every
/// fresh demo database, as its logins are.
pub(crate) async fn create_client_fixed<S: Store>(
    app: &App<S>,
    actor: &Principal,
    c: NewClient,
    id: &str,
    secret: &str,
) -> Result<(OidcClient, Option<String>), AppError> {
    register(app, actor, c, Some((id, secret))).await
}

async fn register<S: Store>(
    app: &App<S>,
    actor: &Principal,
    c: NewClient,
    fixed: Option<(&str, &str)>,
) -> Result<(OidcClient, Option<String>), AppError> {
    require_client_admin(actor)?;
    check_fields(&c.name, &c.redirect_uris, &c.post_logout_redirect_uris)?;
    let unknown: Vec<&String> = c
        .scopes
        .iter()
        .filter(|s| !SCOPES.contains(&s.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(AppError::Conflict(format!("unknown scopes: {unknown:?}")));
    }
    let (id, secret) = match fixed {
        Some((id, secret)) => (id.to_owned(), (!c.public).then(|| secret.to_owned())),
        None => (
            format!("c_{}", &new_secret().0[..22]),
            (!c.public).then(|| new_secret().0),
        ),
    };
    let mut scopes = if c.scopes.is_empty() {
        SCOPES
            .iter()
            .filter(|s| **s != "iseki")
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        c.scopes.clone()
    };
    if c.allow_iseki && !scopes.iter().any(|s| s == "iseki") {
        scopes.push("iseki".into());
    }
    let now = app.now();
    let client = OidcClient {
        id,
        name: c.name.trim().to_owned(),
        secret_hash: secret.as_deref().map(sha256_hex),
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        first_party: c.first_party,
        scopes,
        allow_iseki: c.allow_iseki,
        id_token_alg: c.id_token_alg.as_str().to_owned(),
        disabled: false,
        created_at: now,
    };
    let mut tx = app.store.write().await?;
    tx.insert_client(&client).await?;
    app.audit(&mut tx, Entry::new(actor, "oidc.client_create", format!("client:{}", client.id)).details(json!({
        "name": client.name, "first_party": client.first_party, "public": secret.is_none(), "allow_iseki": client.allow_iseki,
    })))
    .await?;
    tx.commit().await?;
    Ok((client, secret))
}

// ------------------------------------------------------------------------------ authorization

/// The parameters of an authorization request, as received.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    /// `client_id`.
    pub client_id: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// `response_type` (must be `code`).
    pub response_type: String,
    /// `scope`, space-separated.
    pub scope: String,
    /// `state`, echoed.
    pub state: Option<String>,
    /// `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method` (must be `S256`).
    pub code_challenge_method: Option<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// Whether a `request` object was sent (not supported: OIDC Core §6).
    pub request_object: bool,
    /// Whether a `request_uri` was sent (not supported).
    pub request_uri: bool,
}

/// What the authorization endpoint does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// The request cannot be trusted to redirect (unknown client, unregistered redirect URI):
    /// show an error page; the message key says why.
    Refuse(&'static str),
    /// Send the user agent to the client with these query parameters.
    Redirect(String),
    /// The user must log in (again) first.
    Login {
        /// Ask for a fresh login even with a live session (`prompt=login`, `max_age`).
        fresh: bool,
    },
    /// A third-party client needs the user's consent for these scopes.
    Consent {
        /// The client's display name.
        client_name: String,
        /// The scopes to consent to.
        scopes: Vec<String>,
    },
}

fn redirect_with(uri: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut u = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(_) => return uri.to_owned(),
    };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    u.to_string()
}

fn granted_scopes(client: &OidcClient, requested: &str) -> Vec<String> {
    let mut v: Vec<String> = requested
        .split_whitespace()
        .filter(|s| SCOPES.contains(s) && client.scopes.iter().any(|c| c == s))
        .filter(|s| *s != "iseki" || client.allow_iseki)
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Decides an authorization request for the (possibly absent) logged-in user, issuing a code
/// when everything holds. `consented` is true when the user just approved the consent page.
pub async fn authorize<S: Store>(
    app: &App<S>,
    req: &AuthorizeRequest,
    user: Option<&Current>,
    consented: bool,
) -> Result<AuthorizeOutcome, AppError> {
    let mut tx = app.store.read().await?;
    let client = tx.client(&req.client_id).await?;
    tx.rollback().await?;
    let Some(client) = client.filter(|c| !c.disabled) else {
        return Ok(AuthorizeOutcome::Refuse("oidc-unknown-client"));
    };
    if !redirect_registered(&client, &req.redirect_uri) {
        return Ok(AuthorizeOutcome::Refuse("oidc-bad-redirect"));
    }
    let iss = issuer(app);
    let state = req.state.as_deref();
    let error = |code: &str, desc: &str| {
        AuthorizeOutcome::Redirect(redirect_with(
            &req.redirect_uri,
            &[
                ("error", Some(code)),
                ("error_description", Some(desc)),
                ("state", state),
                ("iss", Some(&iss)),
            ],
        ))
    };
    if req.request_object {
        return Ok(error(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if req.request_uri {
        return Ok(error(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if req.response_type != "code" {
        return Ok(error(
            "unsupported_response_type",
            "only the authorization code flow is supported",
        ));
    }
    let challenge_ok = req
        .code_challenge
        .as_deref()
        .is_some_and(|c| (43..=128).contains(&c.len()));
    if !challenge_ok || req.code_challenge_method.as_deref() != Some("S256") {
        return Ok(error(
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required",
        ));
    }
    let scopes = granted_scopes(&client, &req.scope);
    if !scopes.iter().any(|s| s == "openid") {
        return Ok(error("invalid_scope", "the openid scope is required"));
    }
    let prompt: Vec<&str> = req
        .prompt
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let now = app.now();
    let Some(user) = user.filter(|u| u.account.status == AccountStatus::Active) else {
        return Ok(if prompt.contains(&"none") {
            error("login_required", "no session")
        } else {
            AuthorizeOutcome::Login { fresh: false }
        });
    };
    let auth_time = user.session.created_at;
    let too_old = req
        .max_age
        .is_some_and(|m| now - auth_time > Duration::seconds(m.max(0)));
    if too_old || prompt.contains(&"login") {
        return Ok(if prompt.contains(&"none") {
            error("login_required", "re-authentication needed")
        } else {
            AuthorizeOutcome::Login { fresh: true }
        });
    }
    if !client.first_party && !consented {
        let mut tx = app.store.read().await?;
        let consent = tx.consent(user.account.id, &client.id).await?;
        tx.rollback().await?;
        let covered = consent.is_some_and(|c| {
            scopes
                .iter()
                .all(|s| c.scope.split_whitespace().any(|g| g == s))
        });
        if !covered || prompt.contains(&"consent") {
            if prompt.contains(&"none") {
                return Ok(error("consent_required", "the user has not consented"));
            }
            return Ok(AuthorizeOutcome::Consent {
                client_name: client.name.clone(),
                scopes,
            });
        }
    }
    let (code, hash) = new_secret();
    let amr = if user.account.totp_secret.is_some() {
        "pwd otp"
    } else {
        "pwd"
    };
    let mut tx = app.store.write().await?;
    if consented && !client.first_party {
        // Consent accumulates: what was granted before stays granted.
        let mut all: Vec<String> = tx
            .consent(user.account.id, &client.id)
            .await?
            .map(|c| c.scope.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        all.extend(scopes.iter().cloned());
        all.sort();
        all.dedup();
        tx.put_consent(&Consent {
            account_id: user.account.id,
            client_id: client.id.clone(),
            scope: all.join(" "),
            granted_at: now,
        })
        .await?;
    }
    tx.insert_code(&AuthCode {
        code_hash: hash,
        client_id: client.id.clone(),
        account_id: user.account.id,
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone().unwrap_or_default(),
        nonce: req.nonce.clone(),
        scope: scopes.join(" "),
        auth_time,
        amr: amr.into(),
        expires_at: now + app.config.oidc.code,
        used_at: None,
        created_at: now,
    })
    .await?;
    tx.commit().await?;
    Ok(AuthorizeOutcome::Redirect(redirect_with(
        &req.redirect_uri,
        &[("code", Some(&code)), ("state", state), ("iss", Some(&iss))],
    )))
}

/// Whether `redirect_uri` is registered for the enabled client `client_id` — the only condition
/// under which the provider may send a user agent there (e.g. to say the user declined).
pub async fn redirect_allowed<S: Store>(
    app: &App<S>,
    client_id: &str,
    redirect_uri: &str,
) -> Result<bool, AppError> {
    let mut tx = app.store.read().await?;
    let client = tx.client(client_id).await?;
    tx.rollback().await?;
    Ok(client.is_some_and(|c| !c.disabled && redirect_registered(&c, redirect_uri)))
}

/// Whether `uri` is one of the client's redirect URIs: exactly, or — for a public (native)
/// client — a registered loopback URI on any port (RFC 8252 §7.3: the app picks a free port at
/// run time). Only `http://127.0.0.1` and `http://[::1]`; path and query must match exactly.
pub fn redirect_registered(client: &OidcClient, uri: &str) -> bool {
    if client.redirect_uris.iter().any(|u| u == uri) {
        return true;
    }
    if client.secret_hash.is_some() {
        return false;
    }
    let Ok(asked) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && matches!(u.host_str(), Some("127.0.0.1" | "[::1]"))
            && u.username().is_empty()
            && u.password().is_none()
            && u.fragment().is_none()
    };
    loopback(&asked)
        && client.redirect_uris.iter().any(|r| {
            url::Url::parse(r).is_ok_and(|r| {
                loopback(&r)
                    && r.host_str() == asked.host_str()
                    && r.path() == asked.path()
                    && r.query() == asked.query()
            })
        })
}

/// The origin a page's form may send the browser on to when it continues an authorization
/// request: that of the request's redirect URI, once the client and the URI check out. The
/// login, second-factor and consent pages add it to their CSP `form-action`, since the browser
/// applies that directive to every redirect that follows the form's submission.
pub async fn redirect_origin<S: Store>(
    app: &App<S>,
    client_id: &str,
    redirect_uri: &str,
) -> Result<Option<String>, AppError> {
    if !redirect_allowed(app, client_id, redirect_uri).await? {
        return Ok(None);
    }
    Ok(url::Url::parse(redirect_uri)
        .ok()
        .map(|u| u.origin().ascii_serialization()))
}

/// [`redirect_origin`] of the authorization request a login returns to (`next` =
/// `/oauth2/authorize?…`); `None` for any other `next`.
pub async fn login_return_origin<S: Store>(
    app: &App<S>,
    next: &str,
) -> Result<Option<String>, AppError> {
    let Some(query) = next.strip_prefix("/oauth2/authorize?") else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match (get("client_id"), get("redirect_uri")) {
        (Some(c), Some(r)) => redirect_origin(app, c, r).await,
        _ => Ok(None),
    }
}

// ------------------------------------------------------------------------------------- tokens

/// An OAuth error response (`error`, `error_description`, HTTP status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The OAuth error code.
    pub error: &'static str,
    /// A human-readable explanation.
    pub description: String,
    /// 400, or 401 for failed client authentication.
    pub status: u16,
}

impl OAuthError {
    /// An error with its code; `invalid_client` answers 401, every other 400.
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status: if error == "invalid_client" { 401 } else { 400 },
        }
    }
}

impl From<AppError> for OAuthError {
    fn from(e: AppError) -> Self {
        tracing::error!(error = %e, "token endpoint");
        Self {
            error: "server_error",
            description: "try again later".into(),
            status: 500,
        }
    }
}

impl From<mamis_store::StoreError> for OAuthError {
    fn from(e: mamis_store::StoreError) -> Self {
        AppError::from(e).into()
    }
}

/// A token request after the web layer read the form and the Authorization header.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    /// `grant_type`.
    pub grant_type: String,
    /// `code`.
    pub code: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `code_verifier`.
    pub code_verifier: Option<String>,
    /// `refresh_token`.
    pub refresh_token: Option<String>,
    /// From HTTP Basic or the form.
    pub client_id: Option<String>,
    /// From HTTP Basic or the form.
    pub client_secret: Option<String>,
}

/// What the token endpoint returns.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The opaque access token.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// A new refresh token, when the grant has one.
    pub refresh_token: Option<String>,
    /// The signed ID token: at a login, never at a refresh (OIDC Core §12.2 lets it be left
    /// out, and its RSA signature was half the grant's cost).
    pub id_token: Option<String>,
    /// Granted scopes.
    pub scope: String,
}

/// Authenticates the client of a token or revocation request.
async fn client_auth<S: Store>(
    app: &App<S>,
    id: Option<&str>,
    secret: Option<&str>,
) -> Result<OidcClient, OAuthError> {
    let id =
        id.ok_or_else(|| OAuthError::new("invalid_client", "client authentication is missing"))?;
    let mut tx = app.store.snapshot().await?;
    let client = tx.client(id).await?;
    tx.rollback().await?;
    let client = client
        .filter(|c| !c.disabled)
        .ok_or_else(|| OAuthError::new("invalid_client", "unknown client"))?;
    match (&client.secret_hash, secret) {
        (None, _) => Ok(client),
        (Some(h), Some(s)) if bool::from(h.as_bytes().ct_eq(sha256_hex(s).as_bytes())) => {
            Ok(client)
        }
        _ => Err(OAuthError::new(
            "invalid_client",
            "client authentication failed",
        )),
    }
}

fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid
        && bool::from(
            B64.encode(Sha256::digest(verifier.as_bytes()))
                .as_bytes()
                .ct_eq(challenge.as_bytes()),
        )
}

/// Handles `POST /oauth2/token`.
pub async fn token<S: Store>(
    app: &App<S>,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    if req.grant_type.is_empty() {
        return Err(OAuthError::new("invalid_request", "grant_type is required"));
    }
    if req.grant_type == "refresh_token"
        && let Some(done) = rotate_at_once(app, req).await?
    {
        return Ok(done);
    }
    let client = client_auth(app, req.client_id.as_deref(), req.client_secret.as_deref()).await?;
    match req.grant_type.as_str() {
        "authorization_code" => code_grant(app, &client, req).await,
        "refresh_token" => refresh_grant(app, &client, req).await,
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "use authorization_code or refresh_token",
        )),
    }
}

async fn code_grant<S: Store>(
    app: &App<S>,
    client: &OidcClient,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let invalid = |d: &str| OAuthError::new("invalid_grant", d);
    let code = req
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "code is missing"))?;
    let now = app.now();
    let hash = sha256_hex(code);
    let signer = signer_for(app, client).await?;
    let mut tx = app.store.write().await?;
    let Some(found) = tx.take_code(&hash, now).await? else {
        return Err(invalid("unknown code"));
    };
    if found.used_at.is_some() {
        // A replayed code: whatever the first exchange issued is revoked (RFC 6749 §4.1.2).
        let n = tx.revoke_by_code(&hash, now).await?;
        tx.commit().await?;
        tracing::warn!(client = %client.id, revoked = n, "authorization code reused");
        return Err(invalid("code already used"));
    }
    // Any refusal below spends the code too: a code is single-use, whoever presents it.
    let refusal = if found.client_id != client.id {
        Some("code issued to another client")
    } else if now >= found.expires_at {
        Some("code expired")
    } else if req.redirect_uri.as_deref() != Some(found.redirect_uri.as_str()) {
        Some("redirect_uri does not match the authorization request")
    } else if !req
        .code_verifier
        .as_deref()
        .is_some_and(|v| pkce_ok(v, &found.code_challenge))
    {
        Some("code_verifier does not match the code_challenge")
    } else {
        None
    };
    if let Some(why) = refusal {
        tx.commit().await?;
        return Err(invalid(why));
    }
    let account = tx
        .account(found.account_id)
        .await?
        .filter(|a| a.status == AccountStatus::Active);
    let Some(account) = account else {
        return Err(invalid("the account is not active"));
    };
    let family = Uuid::now_v7();
    let issued = issue(
        app,
        &mut tx,
        client,
        &account,
        &found.scope,
        Some(&hash),
        family,
        now + app.config.oidc.refresh_absolute,
        found.auth_time,
        &found.amr,
    )
    .await?;
    tx.commit().await?;
    // Signed after the commit, so the database lock is never held for an RSA signature.
    let claims = id_claims(
        app,
        client,
        account.id,
        found.auth_time,
        &found.amr,
        found.nonce.as_deref(),
        &issued.access_token,
    );
    Ok(TokenResponse {
        id_token: Some(signer.sign(&claims)?),
        ..issued
    })
}

/// The usual refresh grant in one step, client authentication included (one statement on
/// PostgreSQL, outside any transaction). `None`, with nothing written, for anything else: an
/// unknown, disabled or wrongly authenticated client, or a token that is unknown, reused,
/// expired, another client's or of an inactive account. The caller then authenticates the client
/// and takes the slow path, which says which.
async fn rotate_at_once<S: Store>(
    app: &App<S>,
    req: &TokenRequest,
) -> Result<Option<TokenResponse>, OAuthError> {
    let (Some(client_id), Some(presented)) =
        (req.client_id.as_deref(), req.refresh_token.as_deref())
    else {
        return Ok(None);
    };
    let now = app.now();
    let (access, access_hash) = new_secret();
    let (refresh, refresh_hash) = new_secret();
    let rotation = Rotation {
        presented: sha256_hex(presented),
        client_id: client_id.to_owned(),
        client_secret: req.client_secret.as_deref().map(sha256_hex),
        now,
        access_hash,
        access_expires_at: now + app.config.oidc.access,
        refresh_hash,
        refresh_idle_until: now + app.config.oidc.refresh_idle,
    };
    let mut one = app.store.write_single().await?;
    let Some(rotated) = one.rotate_refresh(&rotation).await? else {
        one.rollback().await?;
        return Ok(None);
    };
    one.commit().await?;
    let refresh = rotated.refreshed.then_some(refresh);
    Ok(Some(token_response(
        app,
        access,
        refresh,
        rotated.old.scope,
    )))
}

async fn refresh_grant<S: Store>(
    app: &App<S>,
    client: &OidcClient,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let invalid = |d: &str| OAuthError::new("invalid_grant", d);
    let presented = req
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is missing"))?;
    let now = app.now();
    let hash = sha256_hex(presented);
    // `rotate_at_once` wrote nothing: this reads the token afresh in a transaction of its own
    // and tells which refusal it is, ending a reused chain.
    let mut tx = app.store.write().await?;
    let old = tx
        .token(&hash)
        .await?
        .filter(|t| t.kind == TokenKind::Refresh)
        .ok_or_else(|| invalid("unknown refresh token"))?;
    if old.client_id != client.id {
        return Err(invalid("refresh token of another client"));
    }
    if old.revoked_at.is_some() || now >= old.expires_at || now >= old.family_expires_at {
        return Err(invalid("refresh token expired or revoked"));
    }
    if !tx.use_refresh_token(&hash, now).await? {
        // Reuse of a rotated token: someone holds a copy. The whole chain ends.
        let n = tx.revoke_family(old.family, now).await?;
        tx.commit().await?;
        tracing::warn!(client = %client.id, revoked = n, "refresh token reused; chain revoked");
        return Err(invalid("refresh token already used"));
    }
    let account = tx
        .account(old.account_id)
        .await?
        .filter(|a| a.status == AccountStatus::Active);
    let Some(account) = account else {
        return Err(invalid("the account is not active"));
    };
    let issued = issue(
        app,
        &mut tx,
        client,
        &account,
        &old.scope,
        None,
        old.family,
        old.family_expires_at,
        old.auth_time,
        &old.amr,
    )
    .await?;
    tx.commit().await?;
    Ok(issued)
}

#[allow(clippy::too_many_arguments)]
async fn issue<S: Store>(
    app: &App<S>,
    tx: &mut S::Tx,
    client: &OidcClient,
    account: &Account,
    scope: &str,
    code_hash: Option<&str>,
    family: Uuid,
    family_expires_at: mamis_domain::Timestamp,
    auth_time: mamis_domain::Timestamp,
    amr: &str,
) -> Result<TokenResponse, OAuthError> {
    let now = app.now();
    let base = |hash: String, kind, expires_at| OidcToken {
        token_hash: hash,
        kind,
        client_id: client.id.clone(),
        account_id: account.id,
        scope: scope.to_owned(),
        code_hash: code_hash.map(str::to_owned),
        family,
        expires_at,
        family_expires_at,
        auth_time,
        amr: amr.to_owned(),
        used_at: None,
        revoked_at: None,
        created_at: now,
    };
    let (access, access_hash) = new_secret();
    tx.insert_token(&base(
        access_hash,
        TokenKind::Access,
        now + app.config.oidc.access,
    ))
    .await?;
    let refresh = if wants_refresh(client.first_party, scope) {
        let (r, h) = new_secret();
        tx.insert_token(&base(
            h,
            TokenKind::Refresh,
            (now + app.config.oidc.refresh_idle).min(family_expires_at),
        ))
        .await?;
        Some(r)
    } else {
        None
    };
    Ok(token_response(app, access, refresh, scope.to_owned()))
}

/// The ID token's claims for a new access token at a login.
fn id_claims<S: Store>(
    app: &App<S>,
    client: &OidcClient,
    account: Uuid,
    auth_time: mamis_domain::Timestamp,
    amr: &str,
    nonce: Option<&str>,
    access: &str,
) -> Value {
    let now = app.now();
    let mut claims = json!({
        "iss": issuer(app),
        "sub": account.to_string(),
        "aud": client.id,
        "iat": now.timestamp(),
        "exp": (now + ID_TOKEN_TTL).timestamp(),
        "auth_time": auth_time.timestamp(),
        "amr": amr.split_whitespace().collect::<Vec<_>>(),
        "at_hash": at_hash(access),
    });
    if let (Some(n), Some(o)) = (nonce, claims.as_object_mut()) {
        o.insert("nonce".into(), Value::String(n.to_owned()));
    }
    claims
}

/// The stored tokens' answer, without an ID token (a refresh's whole answer; a login adds one).
fn token_response<S: Store>(
    app: &App<S>,
    access: String,
    refresh: Option<String>,
    scope: String,
) -> TokenResponse {
    TokenResponse {
        access_token: access,
        expires_in: app.config.oidc.access.num_seconds(),
        refresh_token: refresh,
        id_token: None,
        scope,
    }
}

/// The client's signing key, read before any write transaction opens (a second connection
/// taken while holding the write lock could wait on a pool the waiting writers have filled).
async fn signer_for<S: Store>(
    app: &App<S>,
    client: &OidcClient,
) -> Result<keys::Signer, OAuthError> {
    let alg = Alg::parse(&client.id_token_alg).unwrap_or(Alg::Rs256);
    Ok(keys::signer(app, alg).await?)
}

/// OIDC `at_hash`: the left half of SHA-256 of the access token, base64url (RS256/ES256).
fn at_hash(access: &str) -> String {
    let d = Sha256::digest(access.as_bytes());
    B64.encode(&d[..16])
}

// ----------------------------------------------------------------------------------- userinfo

/// Claims for a bearer access token, read from the registry as it is now (one statement).
pub async fn userinfo<S: Store>(app: &App<S>, bearer: &str) -> Result<Value, AppError> {
    let now = app.now();
    let found = app.store.bearer(&sha256_hex(bearer)).await?;
    let Some(Bearer {
        token: t,
        client_live,
        client_allow_iseki,
        account,
        doctor,
        memberships,
    }) = found
    else {
        return Err(AppError::Unauthenticated);
    };
    if t.kind != TokenKind::Access || t.revoked_at.is_some() || now >= t.expires_at || !client_live
    {
        return Err(AppError::Unauthenticated);
    }
    let account = account
        .filter(|a| a.status == AccountStatus::Active)
        .ok_or(AppError::Unauthenticated)?;
    let scopes: Vec<&str> = t.scope.split_whitespace().collect();
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), json!(account.id.to_string()));
    let verified = account.verification == Verification::Verified;
    let doctor = doctor.filter(|_| verified);
    if scopes.contains(&"email") {
        claims.insert("email".into(), json!(account.email));
        claims.insert("email_verified".into(), json!(true));
    }
    if scopes.contains(&"profile") {
        if let Some(d) = &doctor {
            claims.insert(
                "name".into(),
                json!(format!("{} {}", d.family_name, d.given_name)),
            );
            claims.insert("family_name".into(), json!(d.family_name));
            claims.insert("given_name".into(), json!(d.given_name));
            claims.insert(
                "name_kana".into(),
                json!(format!("{} {}", d.family_kana, d.given_kana)),
            );
        } else if !account.display_name.is_empty() {
            claims.insert("name".into(), json!(account.display_name));
        }
    }
    if scopes.contains(&"mamis") {
        let (mut jma, mut class, mut county, mut prefecture) = (
            false,
            None::<MemberClass>,
            None::<AssociationCode>,
            None::<AssociationCode>,
        );
        if let Some(d) = &doctor {
            let today = japan_date(now);
            for m in memberships.iter().filter(|m| m.active_on(today)) {
                match m.association.level() {
                    AssociationLevel::Jma => {
                        jma = true;
                        class = m.class.jma_class();
                    }
                    AssociationLevel::Prefecture => prefecture = Some(m.association.clone()),
                    AssociationLevel::County => county = Some(m.association.clone()),
                }
            }
            if prefecture.is_none() {
                prefecture = scope_nodes(&memberships, d.home_prefecture.as_ref(), today)
                    .into_iter()
                    .find(|n| n.level() == AssociationLevel::Prefecture);
            }
        }
        claims.insert("jma_member".into(), json!(jma));
        claims.insert("member_class".into(), json!(class.map(MemberClass::as_str)));
        claims.insert(
            "county_association".into(),
            json!(county.map(|c| c.to_string())),
        );
        claims.insert(
            "prefecture_association".into(),
            json!(prefecture.map(|c| c.to_string())),
        );
        claims.insert("verification".into(), json!(account.verification.as_str()));
    }
    if scopes.contains(&"iseki")
        && client_allow_iseki
        && let Some(d) = &doctor
    {
        claims.insert("iseki_number".into(), json!(d.iseki.to_string()));
    }
    Ok(Value::Object(claims))
}

// ---------------------------------------------------------------------------- revocation, logout

/// RFC 7009: revokes a token of the calling client (a refresh token takes its chain with it).
/// Unknown tokens are not an error.
pub async fn revoke<S: Store>(
    app: &App<S>,
    client_id: Option<&str>,
    secret: Option<&str>,
    token: &str,
) -> Result<(), OAuthError> {
    if token.is_empty() {
        // RFC 7009 §2.1: the token parameter is required
        return Err(OAuthError::new("invalid_request", "token is required"));
    }
    let client = client_auth(app, client_id, secret).await?;
    let now = app.now();
    let mut tx = app.store.write().await?;
    if let Some(t) = tx
        .token(&sha256_hex(token))
        .await?
        .filter(|t| t.client_id == client.id)
    {
        tx.revoke_family(t.family, now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Where RP-initiated logout returns: the registered `post_logout_redirect_uri` of the client named
/// by a valid `id_token_hint` (signature checked; expiry ignored, as logout may come later).
pub async fn logout_redirect<S: Store>(
    app: &App<S>,
    id_token_hint: Option<&str>,
    post_logout: Option<&str>,
    state: Option<&str>,
) -> Result<Option<String>, AppError> {
    let (Some(hint), Some(uri)) = (id_token_hint, post_logout) else {
        return Ok(None);
    };
    let Some(aud) = hinted_client(app, hint).await? else {
        return Ok(None);
    };
    post_logout_redirect(app, &aud, uri, state).await
}

/// Where logout returns for a client named by `client_id` (RP-Initiated Logout §2 allows it
/// without a hint; the user has then confirmed the logout on our page): the URI with `state`
/// when it is one of the client's registered post-logout URIs, else `None`.
pub async fn post_logout_redirect<S: Store>(
    app: &App<S>,
    client_id: &str,
    uri: &str,
    state: Option<&str>,
) -> Result<Option<String>, AppError> {
    let mut tx = app.store.read().await?;
    let client = tx.client(client_id).await?;
    tx.rollback().await?;
    Ok(client
        .filter(|c| !c.disabled && c.post_logout_redirect_uris.iter().any(|u| u == uri))
        .map(|_| redirect_with(uri, &[("state", state)])))
}

/// The client an `id_token_hint` was issued to, when it is an ID token of ours (signature and
/// issuer checked; expiry ignored, as logout may come later). RP-Initiated Logout §2: without
/// a valid hint the user is asked before the session ends.
pub async fn hinted_client<S: Store>(app: &App<S>, hint: &str) -> Result<Option<String>, AppError> {
    let jwks = keys::jwks(app).await?;
    let Ok(claims) = keys::verify(&jwks, hint) else {
        return Ok(None);
    };
    if claims.get("iss").and_then(Value::as_str) != Some(issuer(app).as_str()) {
        return Ok(None);
    }
    Ok(claims.get("aud").and_then(Value::as_str).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_rfc7636_example() {
        // RFC 7636 appendix B
        assert!(pkce_ok(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_ok(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_ok(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn redirect_params_are_encoded() {
        let u = redirect_with(
            "https://rp.example.jp/cb?x=1",
            &[
                ("code", Some("a b")),
                ("state", None),
                ("iss", Some("https://m")),
            ],
        );
        assert_eq!(
            u,
            "https://rp.example.jp/cb?x=1&code=a+b&iss=https%3A%2F%2Fm"
        );
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        assert!(check_redirect("https://rp.example.jp/cb").is_ok());
        assert!(check_redirect("http://127.0.0.1:8765/cb").is_ok());
        assert!(check_redirect("http://rp.example.jp/cb").is_err());
        assert!(check_redirect("https://rp.example.jp/cb#x").is_err());
        assert!(check_redirect("/cb").is_err());
    }
}

// ------------------------------------------------------------------------- client administration

/// Every registered client (JMA admins only).
pub async fn list_clients<S: Store>(
    app: &App<S>,
    actor: &Principal,
) -> Result<Vec<OidcClient>, AppError> {
    require_client_admin(actor)?;
    let mut tx = app.store.read().await?;
    let v = tx.clients().await?;
    tx.rollback().await?;
    Ok(v)
}

/// One client, for its edit page (JMA admins).
pub async fn client<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: &str,
) -> Result<OidcClient, AppError> {
    require_client_admin(actor)?;
    let mut tx = app.store.read().await?;
    let c = tx.client(id).await?;
    tx.rollback().await?;
    c.ok_or(AppError::NotFound)
}

/// What an admin may change about a client.
#[derive(Debug, Clone)]
pub struct ClientEdit {
    /// Shown on the consent page.
    pub name: String,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Where logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// No consent page.
    pub first_party: bool,
    /// May receive the 医籍登録番号.
    pub allow_iseki: bool,
    /// ID-token algorithm.
    pub id_token_alg: Alg,
    /// Disabled clients cannot start flows or use their tokens.
    pub disabled: bool,
}

/// Changes a client's settings (audited); a disabled client's tokens stop working at once.
pub async fn edit_client<S: Store>(
    app: &App<S>,
    actor: &Principal,
    id: &str,
    e: ClientEdit,
) -> Result<OidcClient, AppError> {
    require_client_admin(actor)?;
    check_fields(&e.name, &e.redirect_uris, &e.post_logout_redirect_uris)?;
    let mut tx = app.store.write().await?;
    let mut c = tx.client(id).await?.ok_or(AppError::NotFound)?;
    let before = (c.disabled, c.first_party, c.allow_iseki);
    c.name = e.name.trim().to_owned();
    c.redirect_uris = e.redirect_uris;
    c.post_logout_redirect_uris = e.post_logout_redirect_uris;
    c.first_party = e.first_party;
    c.allow_iseki = e.allow_iseki;
    if e.allow_iseki && !c.scopes.iter().any(|s| s == "iseki") {
        c.scopes.push("iseki".into());
    }
    if !e.allow_iseki {
        c.scopes.retain(|s| s != "iseki");
    }
    c.id_token_alg = e.id_token_alg.as_str().to_owned();
    c.disabled = e.disabled;
    tx.update_client(&c).await?;
    app.audit(
        &mut tx,
        Entry::new(actor, "oidc.client_edit", format!("client:{id}")).details(json!({
            "before": { "disabled": before.0, "first_party": before.1, "allow_iseki": before.2 },
            "after": { "disabled": c.disabled, "first_party": c.first_party, "allow_iseki": c.allow_iseki },
            "redirect_uris": c.redirect_uris,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}
