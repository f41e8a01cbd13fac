//! The migration dashboard: how far the current JMA members under a node have moved from the
//! legacy CME login (member ID + birth-date password) to a verified MAMIS_ID, per prefecture and
//! county; the export of those not yet moved (for postal mail too); and the reminder mail to them.
//!
//! Reminders are idempotent per member and cut-over ("campaign"): each reminder's send job carries
//! the idempotency key `migration-remind:{doctor_id}:{campaign}`, so a second run finds the key
//! taken and queues nothing for that member, even when two staff members run it at once.

use std::collections::HashMap;

use chrono::NaiveDate;
use mamis_domain::time::{japan_date, to_japan};
use mamis_domain::{Action, AssociationCode, Principal, Target};
use mamis_store::{
    Enqueued, MailStatus, MigrationCounts, OutboxMail, OutboxStore, RegistryStore, Store, Tx,
    UnmovedMember,
};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::Entry;
use crate::authz::require;
use crate::jobs::{BoxFuture, JobHandler};
use crate::{App, AppError, jobs, mail};

/// Members read per page when exporting (bounded memory per query, one read snapshot).
const EXPORT_PAGE: u32 = 1_000;
/// Members handled per write transaction when reminding, so a national run never holds the
/// database's write lock for long.
const REMIND_PAGE: u32 = 500;

/// How many members stand where in the move to MAMIS_ID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Members bound to a verified MAMIS_ID: moved.
    pub verified: u64,
    /// Members still depending on the legacy credential alone.
    pub legacy_only: u64,
    /// Members with no working login at all.
    pub neither: u64,
}

impl Progress {
    /// All counted members, the base of the percentages.
    pub fn total(&self) -> u64 {
        self.verified + self.legacy_only + self.neither
    }

    /// `part` as a share of [`Progress::total`] in tenths of a percent, rounded half up (0 for an
    /// empty group), so pages show exact decimal figures without floating point.
    pub fn permille(&self, part: u64) -> u64 {
        let total = self.total();
        (part.saturating_mul(1_000) + total / 2)
            .checked_div(total)
            .unwrap_or(0)
    }

    /// `part` as a percentage with one decimal, e.g. `66.7%`, for pages.
    pub fn percent(&self, part: u64) -> String {
        let p = self.permille(part);
        format!("{}.{}%", p / 10, p % 10)
    }

    fn add(&mut self, other: &Progress) {
        self.verified += other.verified;
        self.legacy_only += other.legacy_only;
        self.neither += other.neither;
    }
}

impl From<&MigrationCounts> for Progress {
    fn from(c: &MigrationCounts) -> Self {
        Self {
            verified: c.verified,
            legacy_only: c.legacy_only,
            neither: c.neither,
        }
    }
}

/// One county association's line of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountyProgress {
    /// The county association (drill-down target).
    pub code: AssociationCode,
    /// Its Japanese name, for Japanese pages and the export.
    pub name_ja: String,
    /// Its English name, for English pages.
    pub name_en: String,
    /// Its members' counts.
    pub progress: Progress,
}

/// One prefecture's table of the dashboard, with its total line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrefectureProgress {
    /// The prefectural association.
    pub code: AssociationCode,
    /// Its Japanese name.
    pub name_ja: String,
    /// Its English name.
    pub name_en: String,
    /// The sum over its counties shown.
    pub progress: Progress,
    /// Its county associations with current JMA members, in code order.
    pub counties: Vec<CountyProgress>,
}

/// The migration dashboard of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    /// The node whose subtree is counted.
    pub node: AssociationCode,
    /// The Japan date on which membership was judged.
    pub day: NaiveDate,
    /// The sum over every prefecture shown.
    pub total: Progress,
    /// One table per prefecture, in code order.
    pub prefectures: Vec<PrefectureProgress>,
}

/// What one reminder run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RemindReport {
    /// Members not yet moved who were mailed by this run.
    pub queued: u64,
    /// Members not yet moved without a contact address: they need a postal reminder.
    pub without_address: u64,
    /// Members not yet moved who had already been reminded for this cut-over (not mailed again).
    pub already_reminded: u64,
}

/// Names of the nodes the dashboard shows: the subtree, plus the prefecture above a county node.
async fn names<T: RegistryStore + Send>(
    tx: &mut T,
    node: &AssociationCode,
) -> Result<HashMap<AssociationCode, (String, String)>, AppError> {
    let mut names: HashMap<AssociationCode, (String, String)> = tx
        .associations_under(node)
        .await?
        .into_iter()
        .map(|a| (a.code, (a.name_ja, a.name_en)))
        .collect();
    if let Some(pref) = node.prefecture_code()
        && !names.contains_key(&pref)
        && let Some(a) = tx.association(&pref).await?
    {
        names.insert(a.code, (a.name_ja, a.name_en));
    }
    Ok(names)
}

/// Refuses unknown nodes with `NotFound` (after the permission check, so staff learn nothing
/// about nodes outside their scope).
async fn known<T: RegistryStore + Send>(
    tx: &mut T,
    node: &AssociationCode,
) -> Result<(), AppError> {
    match tx.association(node).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound),
    }
}

/// Migration progress of the current JMA members under `node`, per prefecture and county.
/// Counts only (no personal data), so the view is not audited.
pub async fn dashboard<S: Store>(
    app: &App<S>,
    principal: &Principal,
    node: &AssociationCode,
) -> Result<Dashboard, AppError> {
    require(principal, Action::ViewDoctors, &Target::Association(node))?;
    let day = japan_date(app.now());
    let mut tx = app.store.read().await?;
    known(&mut tx, node).await?;
    let rows = tx.migration_progress(node, day).await?;
    let names = names(&mut tx, node).await?;
    tx.rollback().await?;

    let name = |c: &AssociationCode| {
        names
            .get(c)
            .cloned()
            .unwrap_or_else(|| (c.to_string(), c.to_string()))
    };
    let mut total = Progress::default();
    let mut prefectures: Vec<PrefectureProgress> = Vec::new();
    for row in &rows {
        let progress = Progress::from(row);
        total.add(&progress);
        let (name_ja, name_en) = name(&row.county);
        let county = CountyProgress {
            code: row.county.clone(),
            name_ja,
            name_en,
            progress,
        };
        match prefectures.last_mut() {
            Some(p) if p.code == row.prefecture => {
                p.progress.add(&progress);
                p.counties.push(county);
            }
            _ => {
                let (name_ja, name_en) = name(&row.prefecture);
                prefectures.push(PrefectureProgress {
                    code: row.prefecture.clone(),
                    name_ja,
                    name_en,
                    progress,
                    counties: vec![county],
                });
            }
        }
    }
    Ok(Dashboard {
        node: node.clone(),
        day,
        total,
        prefectures,
    })
}

/// Every member not yet moved under `node`, in one read snapshot.
async fn all_unmoved<T: RegistryStore + Send>(
    tx: &mut T,
    node: &AssociationCode,
    day: NaiveDate,
) -> Result<Vec<UnmovedMember>, AppError> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = tx.unmoved_members(node, day, after, EXPORT_PAGE).await?;
        let done = page.len() < EXPORT_PAGE as usize;
        after = page.last().map(|m| m.doctor_id);
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// The contact address to remind at, if the register holds a usable one.
fn contact(m: &UnmovedMember) -> Option<&str> {
    m.contact_email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// Keeps spreadsheet programs from running a cell as a formula (CSV injection).
fn cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// The header of the export: Japanese and English in each cell, so one file serves both.
pub const CSV_HEADER: [&str; 8] = [
    "会員ID / Member ID",
    "氏名 / Name",
    "都道府県医師会 / Prefecture",
    "郡市区等医師会コード / County code",
    "郡市区等医師会 / County association",
    "状況 / Status",
    "連絡先メール / Contact e-mail",
    "メール送付可 / Contact address on file",
];

/// The members not yet moved under `node` as CSV (UTF-8 with BOM, so spreadsheet programs in
/// Japan open it correctly): one row per member, by county and member ID, saying whether a
/// contact address exists (those without need a postal reminder). Personal data: the export is
/// audited before it is handed out.
pub async fn export_csv<S: Store>(
    app: &App<S>,
    principal: &Principal,
    node: &AssociationCode,
    client_addr: Option<String>,
) -> Result<String, AppError> {
    require(principal, Action::ViewDoctors, &Target::Association(node))?;
    let now = app.now();
    let day = japan_date(now);
    let mut tx = app.store.read().await?;
    known(&mut tx, node).await?;
    let mut members = all_unmoved(&mut tx, node, day).await?;
    let names = names(&mut tx, node).await?;
    tx.rollback().await?;
    members.sort_by(|a, b| {
        (&a.county, a.member_id.as_ref().map(|m| m.as_str()))
            .cmp(&(&b.county, b.member_id.as_ref().map(|m| m.as_str())))
    });

    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let csv_err = |e: csv::Error| AppError::Internal(format!("csv: {e}"));
    w.write_record(CSV_HEADER).map_err(csv_err)?;
    let name_ja = |c: &AssociationCode| {
        names
            .get(c)
            .map_or_else(|| c.to_string(), |(ja, _)| ja.clone())
    };
    let without_address = members.iter().filter(|m| contact(m).is_none()).count();
    for m in &members {
        let pref = m
            .county
            .prefecture_code()
            .map(|p| name_ja(&p))
            .unwrap_or_default();
        let status = if m.legacy {
            "従来IDのみ / Legacy ID only"
        } else {
            "未移行・従来IDなし / Neither"
        };
        let has_address = if contact(m).is_some() {
            "あり / yes"
        } else {
            "なし / no"
        };
        w.write_record([
            m.member_id
                .as_ref()
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
            cell(&format!("{} {}", m.family_name, m.given_name)),
            pref,
            m.county.to_string(),
            name_ja(&m.county),
            status.to_owned(),
            cell(contact(m).unwrap_or("")),
            has_address.to_owned(),
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(format!("csv: {e}")))?;
    let body = String::from_utf8(bytes).map_err(|e| AppError::Internal(format!("csv: {e}")))?;

    let mut tx = app.store.write().await?;
    let entry = Entry::new(principal, "migration.export", format!("association:{node}"))
        .from(client_addr)
        .details(serde_json::json!({
            "day": day,
            "rows": members.len(),
            "without_address": without_address,
        }));
    app.audit(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(format!("\u{feff}{body}"))
}

/// The reminder campaign: one per cut-over instant, so each member is reminded once for it.
pub fn campaign<S: Store>(app: &App<S>) -> String {
    to_japan(app.config.legacy_until)
        .format("%Y%m%dT%H%M")
        .to_string()
}

/// The idempotency key of one member's reminder in one campaign.
pub fn remind_key(doctor: Uuid, campaign: &str) -> String {
    format!("migration-remind:{doctor}:{campaign}")
}

/// The bilingual reminder: how to register for My Page, and that the old user ID stops (or has
/// stopped) working at the cut-over.
fn reminder_text<S: Store>(app: &App<S>, m: &UnmovedMember, to: &str) -> OutboxMail {
    let now = app.now();
    let cutover = to_japan(app.config.legacy_until)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let passed = now >= app.config.legacy_until;
    let (ja_when, en_when) = if passed {
        ("使えなくなりました", "stopped working on")
    } else {
        ("使えなくなります", "stops working on")
    };
    let base = &app.config.base_url;
    let (family, given) = (&m.family_name, &m.given_name);
    OutboxMail {
        id: Uuid::now_v7(),
        to_addr: to.to_owned(),
        subject: "【MAMIS】MAMIS_ID への移行のお願い / Please move to MAMIS_ID".into(),
        body_text: format!(
            "{family} {given} 先生\n\n\
             日本医師会生涯教育 on-line へのログインは MAMIS_ID に一元化されます。\
             従来のユーザーID（日医会員IDと生年月日のパスワード）は {cutover}（日本時間）をもって{ja_when}。\n\
             マイページで MAMIS_ID を登録してください: {base}register\n\
             登録では、メールアドレスの確認のあと、医籍登録番号・氏名（カナ）・生年月日で本人確認を行います。\n\
             ご不明な点は、所属の医師会にお問い合わせください。\n\
             （このメールは、医師会に登録されている連絡先アドレスにお送りしています。）\n\n\
             Dear Dr {family} {given},\n\n\
             Logins to the JMA CME portal (生涯教育 on-line) move to MAMIS_ID. \
             The old user ID (your JMA member ID with the birth-date password) {en_when} {cutover} (Japan time).\n\
             Please register your MAMIS_ID on My Page: {base}register\n\
             After confirming your e-mail address, you prove who you are with your 医籍登録番号, \
             your name in kana and your date of birth.\n\
             If you have questions, please contact your medical association.\n\
             (This mail goes to the contact address your medical association holds for you.)\n"
        ),
        status: MailStatus::Pending,
        attempts: 0,
        last_error: None,
        created_at: now,
        sent_at: None,
    }
}

/// Mails every member not yet moved under `node` who has a contact address, once per cut-over:
/// a member reminded before (by any run, for any node) is counted, not mailed again. Members
/// without an address are counted for postal mail (the export lists them). Each page of members
/// commits with its mail, send jobs and audit record.
pub async fn remind<S: Store>(
    app: &App<S>,
    principal: &Principal,
    node: &AssociationCode,
    client_addr: Option<String>,
) -> Result<RemindReport, AppError> {
    require(principal, Action::EditDoctors, &Target::Association(node))?;
    let campaign = campaign(app);
    let mut report = RemindReport::default();
    let mut after = None;
    let mut first = true;
    loop {
        let now = app.now();
        let day = japan_date(now);
        let mut tx = app.store.write().await?;
        if first {
            known(&mut tx, node).await?;
            first = false;
        }
        let page = tx.unmoved_members(node, day, after, REMIND_PAGE).await?;
        let mut mailed = Vec::new();
        let (mut no_address, mut already) = (0u64, 0u64);
        for m in &page {
            let Some(to) = contact(m) else {
                no_address += 1;
                continue;
            };
            let out = reminder_text(app, m, to);
            // The send job is the reminder's record: its key is taken once per member and
            // campaign, and the mail row is written only by the run that took it.
            let job = jobs::enqueue(
                &mut tx,
                now,
                mail::SEND_KIND,
                serde_json::json!({ "mail": out.id }),
                Some(remind_key(m.doctor_id, &campaign)),
            )
            .await?;
            match job {
                Enqueued::Created(_) => {
                    tx.insert_mail(&out).await?;
                    mailed.push(m.doctor_id);
                }
                Enqueued::Duplicate(_) => already += 1,
            }
        }
        report.queued += mailed.len() as u64;
        report.without_address += no_address;
        report.already_reminded += already;
        let entry = Entry::new(principal, "migration.remind", format!("association:{node}"))
            .from(client_addr.clone())
            .details(serde_json::json!({
                "campaign": campaign,
                "day": day,
                "mailed": mailed,
                "without_address": no_address,
                "already_reminded": already,
            }));
        app.audit(&mut tx, entry).await?;
        tx.commit().await?;
        if page.len() < REMIND_PAGE as usize {
            return Ok(report);
        }
        after = page.last().map(|m| m.doctor_id);
    }
}

/// The job kind of a reminder run asked for on the dashboard: a run over a prefecture or the
/// whole country reads every member and takes longer than a page should wait.
pub const REMIND_KIND: &str = "migration.remind";

/// Queues a reminder run for `node` (authorised and audited now, run by a worker); the run itself
/// is [`remind`] and so mails nobody twice, however often it is asked for.
pub async fn request_remind<S: Store>(
    app: &App<S>,
    principal: &Principal,
    node: &AssociationCode,
    client_addr: Option<String>,
) -> Result<(), AppError> {
    require(principal, Action::EditDoctors, &Target::Association(node))?;
    let mut tx = app.store.write().await?;
    known(&mut tx, node).await?;
    jobs::enqueue(
        &mut tx,
        app.now(),
        REMIND_KIND,
        serde_json::json!({ "node": node.as_str(), "requested_by": principal.audit_name() }),
        None,
    )
    .await?;
    let entry = Entry::new(
        principal,
        "migration.remind_request",
        format!("association:{node}"),
    )
    .from(client_addr);
    app.audit(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// Runs a reminder run queued by [`request_remind`].
pub struct RemindJob;

impl<S: Store> JobHandler<S> for RemindJob {
    fn kind(&self) -> &'static str {
        REMIND_KIND
    }

    fn run<'a>(
        &'a self,
        app: &'a App<S>,
        job: &'a mamis_store::Job,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let node = job
                .payload
                .get("node")
                .and_then(|v| v.as_str())
                .and_then(|s| AssociationCode::parse(s).ok())
                .ok_or("payload without a valid association code")?;
            let who = Principal::Job {
                kind: REMIND_KIND.into(),
            };
            remind(app, &who, &node, None)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_up_and_survive_empty_groups() {
        let p = Progress {
            verified: 1,
            legacy_only: 1,
            neither: 1,
        };
        assert_eq!(p.total(), 3);
        assert_eq!(p.percent(p.verified), "33.3%");
        assert_eq!(p.percent(2), "66.7%");
        assert_eq!(Progress::default().percent(0), "0.0%");
        let all = Progress {
            verified: 7,
            ..Progress::default()
        };
        assert_eq!(all.percent(all.verified), "100.0%");
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("山田 太郎"), "山田 太郎");
    }
}
