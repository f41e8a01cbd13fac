//! The member back office (会員管理): search across the staff member's subtree with its CSV
//! export, one member's whole record, register imports, statistics as of a date with
//! server-rendered SVG charts; and the scoped API (`/api/v1/members…`).

pub(crate) mod api;
mod import;
mod record;
mod search;
mod stats;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use mamis_app::members::SearchInput;
use mamis_domain::{AssociationCode, Principal, Scope};
use mamis_store::Store;

use crate::WebState;
use crate::shell::i18n::Lang;

/// Largest register upload read (the app refuses beyond its own limit with a message).
const UPLOAD_LIMIT: usize = mamis_app::members::import::MAX_BYTES + 1024 * 1024;

/// The routes of the member back office.
pub fn routes<S: Store>() -> Router<WebState<S>> {
    Router::new()
        .route("/office/members", get(search::search::<S>))
        .route("/office/members/export", get(search::export_report::<S>))
        .route("/office/members/export.csv", get(search::export_file::<S>))
        .route(
            "/office/members/import",
            get(import::form::<S>)
                .post(import::upload::<S>)
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/office/members/stats", get(stats::show::<S>))
        .route("/office/members/stats.csv", get(stats::csv::<S>))
        .route("/office/members/{id}", get(record::record::<S>))
        .route("/api/v1/members", get(api::search::<S>))
        .route("/api/v1/members/{id}", get(api::member::<S>))
}

/// The search fields of a query string (repeated `cols` gathered); unknown names are ignored
/// by pages (links keep working when a field goes) but refused by the API.
pub(crate) fn search_input(pairs: &[(String, String)]) -> (SearchInput, Vec<String>, bool) {
    let mut input = SearchInput::default();
    let mut cols = Vec::new();
    let mut bad_number = false;
    for (k, v) in pairs {
        match k.as_str() {
            "q" => input.q = v.clone(),
            "workplace" => input.workplace = v.clone(),
            "municipality" => input.municipality = v.clone(),
            "level" => input.level = v.clone(),
            "class" => input.class = v.clone(),
            "status" => input.status = v.clone(),
            "joined_from" => input.joined_from = v.clone(),
            "joined_to" => input.joined_to = v.clone(),
            "sort" => input.sort = v.clone(),
            "dir" => input.dir = v.clone(),
            "page" if !v.is_empty() => match v.parse() {
                Ok(n) if n >= 1 => input.page = n,
                _ => bad_number = true,
            },
            "per_page" if !v.is_empty() => match v.parse() {
                Ok(n) if n >= 1 => input.per_page = n,
                _ => bad_number = true,
            },
            "cols" => cols.push(v.clone()),
            _ => {}
        }
    }
    (input, cols, bad_number)
}

/// The query string of a search (without paging), to build links that keep the filters.
pub(crate) fn search_query(i: &SearchInput) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", &i.q),
        ("workplace", &i.workplace),
        ("municipality", &i.municipality),
        ("level", &i.level),
        ("class", &i.class),
        ("status", &i.status),
        ("joined_from", &i.joined_from),
        ("joined_to", &i.joined_to),
        ("sort", &i.sort),
        ("dir", &i.dir),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

/// The association nodes of a staff member's grants, widest first (default views).
pub(crate) fn grant_nodes(p: &Principal) -> Vec<AssociationCode> {
    let Principal::Staff { grants, .. } = p else {
        return Vec::new();
    };
    let mut codes: Vec<AssociationCode> = grants
        .iter()
        .filter_map(|g| match g.scope() {
            Scope::Association(c) => Some(c.clone()),
            Scope::Organisation(_) => None,
        })
        .collect();
    codes.sort_by(|a, b| (a.level(), a.as_str()).cmp(&(b.level(), b.as_str())));
    codes.dedup();
    codes
}

/// A name in the page's language.
pub(crate) fn pick(lang: Lang, ja: &str, en: &str) -> String {
    match lang {
        Lang::Ja => ja.to_owned(),
        Lang::En => en.to_owned(),
    }
}

/// The message key of a member status.
pub(crate) fn status_key(s: mamis_store::MemberStatus) -> &'static str {
    match s {
        mamis_store::MemberStatus::Member => "members-status-member",
        mamis_store::MemberStatus::Former => "members-status-former",
        mamis_store::MemberStatus::InProcedure => "members-status-in-procedure",
    }
}
