//! HTTP, job, audit and browser tests against a real in-process server (SQLite and PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod audit;
mod browser;
mod busy;
mod certificates;
mod certificates_http;
mod cme_decisions;
mod cme_history;
mod cme_http;
mod demo;
mod identity;
mod imports;
mod jobs;
mod learning;
mod learning_browser;
mod learning_http;
mod limits;
mod mail;
mod members;
mod members_http;
mod membership;
mod membership_browser;
mod membership_forms;
mod migration;
mod mypage_http;
mod office_portal;
mod oidc_cases;
mod oidc_flow;
mod oidc_keys;
mod oidc_rfc;
mod pages_browser;
mod portal_rp;
mod previews;
mod programmes;
mod programmes_browser;
mod programmes_http;
mod sso_browser;
mod training;
mod training_doctor_http;
mod training_http;
mod web;
