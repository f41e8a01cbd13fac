//! Mail really leaves through SMTP: a minimal SMTP server on 127.0.0.1 (the protocol peer, not a
//! stand-in for our code) receives what the send job delivers.

use std::sync::{Arc, Mutex};

use mamis_app::jobs::{JobHandler, Ran, Worker};
use mamis_app::{App, AppConfig, mail};
use mamis_store::{MailStatus, Store, Tx};
use mamis_testkit::{TestApp, app_test};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Default, Clone)]
struct Received {
    rcpt: Vec<String>,
    data: String,
}

/// Serves SMTP sessions; rejects RCPT with 550 for the first `reject_first` sessions.
async fn smtp_server(reject_first: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let inbox: Arc<Mutex<Vec<Received>>> = Arc::default();
    let store = inbox.clone();
    tokio::spawn(async move {
        let mut session = 0usize;
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let reject = session < reject_first;
            session += 1;
            let store = store.clone();
            tokio::spawn(async move {
                w.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut msg = Received::default();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 test\r\n"
                    } else if upper.starts_with("MAIL FROM") {
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        if reject {
                            b"550 mailbox unavailable\r\n"
                        } else {
                            msg.rcpt.push(line[8..].trim().to_owned());
                            b"250 ok\r\n"
                        }
                    } else if upper == "DATA" {
                        w.write_all(b"354 go ahead\r\n").await.unwrap();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            msg.data.push_str(&l);
                            msg.data.push('\n');
                        }
                        store.lock().unwrap().push(msg.clone());
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        w.write_all(b"221 bye\r\n").await.unwrap();
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (url, inbox)
}

fn with_smtp<S: Store>(t: &TestApp<S>, url: &str) -> Worker<S> {
    let config = AppConfig {
        smtp_url: Some(url.to_owned()),
        ..(*t.app.config).clone()
    };
    let app = App::new(t.app.store.clone(), t.app.clock.clone(), config).unwrap();
    let handlers: Vec<Arc<dyn JobHandler<S>>> = vec![Arc::new(mail::SendMail)];
    Worker::new(app, handlers)
}

async fn queue<S: Store>(t: &TestApp<S>) -> uuid::Uuid {
    let mut tx = t.app.store.write().await.unwrap();
    let out = mail::Outgoing {
        to: "doctor@example.jp".into(),
        subject: "MAMIS_ID 登録のご案内".into(),
        body_text: "山田 太郎 様\nご登録ありがとうございます。".into(),
    };
    let id = mail::queue(&mut tx, t.app.now(), out).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn delivered<S: Store>(t: TestApp<S>) {
    let (url, inbox) = smtp_server(0).await;
    let id = queue(&t).await;
    assert_eq!(with_smtp(&t, &url).drain().await.unwrap(), 1);
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt, ["<doctor@example.jp>"]);
    assert!(
        got[0].data.contains(&format!("Message-ID: <{id}@mamis>")),
        "{}",
        got[0].data
    );
    let data = &got[0].data;
    assert!(
        data.contains("Subject: MAMIS_ID =?utf-8?b?"),
        "a Japanese subject is RFC 2047-encoded: {data}"
    );
    assert!(
        data.contains("Date: Mon, 01 Jun 2026 00:00:00 +0000"),
        "dated by the app's clock: {data}"
    );
    // the body survives the trip byte for byte
    let b64: String = data.split("\n\n").nth(1).unwrap().lines().collect();
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(
        String::from_utf8(body).unwrap().replace("\r\n", "\n"),
        "山田 太郎 様\nご登録ありがとうございます。"
    );
    let m = t.mails().await.into_iter().find(|m| m.id == id).unwrap();
    assert_eq!((m.status, m.attempts), (MailStatus::Sent, 1));
    assert!(m.sent_at.is_some());
}
app_test!(mail_is_delivered_over_smtp, delivered);

async fn refused_then_retried<S: Store>(t: TestApp<S>) {
    let (url, inbox) = smtp_server(1).await;
    let id = queue(&t).await;
    let worker = with_smtp(&t, &url);
    assert!(matches!(worker.run_once().await.unwrap(), Ran::Retry(..)));
    let m = t.mails().await.into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(m.status, MailStatus::Pending);
    assert!(
        m.last_error.as_deref().unwrap().contains("550"),
        "{:?}",
        m.last_error
    );
    assert!(inbox.lock().unwrap().is_empty());
    t.clock.advance(chrono::Duration::seconds(10));
    assert!(matches!(worker.run_once().await.unwrap(), Ran::Done(_)));
    assert_eq!(inbox.lock().unwrap().len(), 1);
    let m = t.mails().await.into_iter().find(|m| m.id == id).unwrap();
    assert_eq!((m.status, m.attempts), (MailStatus::Sent, 2));
}
app_test!(refused_mail_is_retried_with_back_off, refused_then_retried);
