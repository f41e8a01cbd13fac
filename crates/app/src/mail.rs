//! Outgoing mail: written to the outbox in the transaction of the change that causes it, then
//! sent by a job. Without an SMTP relay, mail stays in the outbox (`mamis mail list` lists it
//! with ids, `mamis mail show ID` prints one whole).

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mamis_domain::Timestamp;
use mamis_store::{Job, JobStore, MailStatus, OutboxMail, OutboxStore, Store, StoreError, Tx};
use uuid::Uuid;

use crate::jobs::{BoxFuture, JobHandler, enqueue};
use crate::{App, AppError};

/// The job kind that sends one outbox mail.
pub const SEND_KIND: &str = "mail.send";

/// A mail to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Recipient address, e.g. a doctor's contact address on file (never a login).
    pub to: String,
    /// Subject line in its final form: the caller localises it, the outbox sends it as is.
    pub subject: String,
    /// Body, sent as `text/plain` (no HTML mail).
    pub body_text: String,
}

/// Queues a mail and the job that sends it, inside the caller's transaction.
pub async fn queue<T: OutboxStore + JobStore + Send>(
    tx: &mut T,
    now: Timestamp,
    m: Outgoing,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    tx.insert_mail(&OutboxMail {
        id,
        to_addr: m.to,
        subject: m.subject,
        body_text: m.body_text,
        status: MailStatus::Pending,
        attempts: 0,
        last_error: None,
        created_at: now,
        sent_at: None,
    })
    .await?;
    enqueue(
        tx,
        now,
        SEND_KIND,
        serde_json::json!({ "mail": id }),
        Some(format!("mail:{id}")),
    )
    .await?;
    Ok(id)
}

/// Checks an SMTP URL at start-up so a typo fails fast with a clear message.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("MAMIS_SMTP_URL is not a URL ({e})"))?;
    match parsed.scheme() {
        "smtp" => {}
        other => {
            return Err(format!(
                "MAMIS_SMTP_URL scheme '{other}' is not supported: use smtp://host:port (a local relay; TLS relays are not built in yet)"
            ));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("MAMIS_SMTP_URL needs a host, e.g. smtp://127.0.0.1:25".into());
    }
    Ok(())
}

/// Sends outbox mail over SMTP.
pub struct SendMail;

impl<S: Store> JobHandler<S> for SendMail {
    fn kind(&self) -> &'static str {
        SEND_KIND
    }

    fn run<'a>(&'a self, app: &'a App<S>, job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let id = job
                .payload
                .get("mail")
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or("payload without mail id")?;
            let mut tx = app.store.read().await.map_err(|e| e.to_string())?;
            let mail = tx.mail(id).await.map_err(|e| e.to_string())?;
            tx.rollback().await.map_err(|e| e.to_string())?;
            let Some(mail) = mail else { return Ok(()) };
            if mail.status == MailStatus::Sent {
                return Ok(());
            }
            let Some(url) = app.config.smtp_url.as_deref() else {
                // No relay configured: the mail stays pending in the outbox for an operator.
                return Ok(());
            };
            let result = send(url, &app.config.mail_from, &mail, app.now()).await;
            let now = app.now();
            let mut tx = app.store.write().await.map_err(|e| e.to_string())?;
            match &result {
                Ok(()) => tx.mark_mail_sent(id, now).await,
                Err(e) => tx.mark_mail_failed(id, e).await,
            }
            .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            result
        })
    }
}

async fn send(
    url: &str,
    from: &str,
    mail: &OutboxMail,
    now: mamis_domain::Timestamp,
) -> Result<(), String> {
    let from: Mailbox = from.parse().map_err(|e| format!("sender address: {e}"))?;
    let to: Mailbox = mail
        .to_addr
        .parse()
        .map_err(|e| format!("recipient address: {e}"))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(&mail.subject)
        .message_id(Some(format!("<{}@mamis>", mail.id)))
        // The injected clock, not the OS clock: mail sent in tests is dated deterministically.
        .date(std::time::SystemTime::from(now))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body_text.clone())
        .map_err(|e| format!("building mail: {e}"))?;
    let parsed = url::Url::parse(url).map_err(|e| format!("SMTP URL: {e}"))?;
    let host = parsed.host_str().ok_or("SMTP URL without host")?;
    // A plain-text relay on the local network (check_smtp_url refuses anything else).
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(parsed.port().unwrap_or(25))
        .build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP: {e}"))
}

/// Lists the outbox, newest first (for `mamis mail list` and the test harness).
pub async fn list<S: Store>(store: &S, limit: u32) -> Result<Vec<OutboxMail>, AppError> {
    let mut tx = store.read().await?;
    let v = tx.mails(limit).await?;
    tx.rollback().await?;
    Ok(v)
}

/// One outbox mail by its id (for `mamis mail show`, so an operator or a demo visitor can read
/// a link the mail carries); `None` when no mail has it.
pub async fn show<S: Store>(store: &S, id: Uuid) -> Result<Option<OutboxMail>, AppError> {
    let mut tx = store.read().await?;
    let m = tx.mail(id).await?;
    tx.rollback().await?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(
            check_smtp_url("smtps://mail.example.jp")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            check_smtp_url("not a url")
                .unwrap_err()
                .contains("not a URL")
        );
        assert!(check_smtp_url("http://x").is_err());
    }
}
