//! The second step before what cannot be undone (revoking a certificate, suspending an account,
//! closing a session, mailing members, removing an attendance, approving a session): a page that
//! says what will happen to whom, and posts the same form again with `confirmed=1`.

use askama::Template;

use crate::shell::chrome::{Chrome, PageResult, html, page};

/// Whether a posted form is the confirmed second step (its `confirmed` field is `1`); without it
/// a destructive form only asks.
pub fn is_confirmed(value: Option<&str>) -> bool {
    value == Some("1")
}

/// The confirmation page.
#[derive(Template)]
#[template(path = "shell/confirm.html")]
pub struct Confirm<'a> {
    /// The layout context.
    pub c: Chrome<'a>,
    /// The question (「この証明書を取り消しますか」).
    pub title: String,
    /// What will happen, in sentences.
    pub lead: Vec<String>,
    /// What the action is aimed at, as label and value (holder, type, period …).
    pub facts: Vec<(String, String)>,
    /// Where the confirmed form posts.
    pub action: String,
    /// The fields posted again, as typed in the first step.
    pub fields: Vec<(String, String)>,
    /// The danger button's text (「取り消す」).
    pub submit: String,
    /// Where cancelling leads, and its text.
    pub cancel: (String, String),
    /// Whether the action is still possible (false: the page only explains, e.g. already revoked).
    pub possible: bool,
}

impl Confirm<'_> {
    /// The rendered page.
    pub fn respond(&self) -> PageResult {
        html(page(self.render()))
    }
}
