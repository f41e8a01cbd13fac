use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mamis_app::jobs::{BoxFuture, JobHandler, Ran, enqueue};
use mamis_app::{App, mail};
use mamis_store::{Job, JobStatus, JobStore, Store, Tx};
use mamis_testkit::{TestApp, app_test};

/// Counts its runs; fails the first `fail_first` of them.
struct Counter {
    runs: AtomicUsize,
    fail_first: usize,
}

impl Counter {
    fn new(fail_first: usize) -> Arc<Self> {
        Arc::new(Self {
            runs: AtomicUsize::new(0),
            fail_first,
        })
    }
    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

impl<S: Store> JobHandler<S> for Counter {
    fn kind(&self) -> &'static str {
        "test.count"
    }
    fn run<'a>(&'a self, _app: &'a App<S>, _job: &'a Job) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let n = self.runs.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first {
                Err(format!("planned failure {n}"))
            } else {
                Ok(())
            }
        })
    }
}

async fn rolled_back<S: Store>(t: TestApp<S>) {
    let counter = Counter::new(0);
    let worker = t.worker(vec![counter.clone()]);
    let now = t.app.now();
    let mut tx = t.app.store.write().await.unwrap();
    enqueue(&mut tx, now, "test.count", serde_json::json!({}), None)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(worker.run_once().await.unwrap(), Ran::Idle);
    t.clock.advance(chrono::Duration::days(1));
    assert_eq!(worker.drain().await.unwrap(), 0);
    assert_eq!(
        counter.runs(),
        0,
        "a job of a rolled-back transaction never runs"
    );
}
app_test!(job_in_rolled_back_transaction_never_runs, rolled_back);

async fn dead_worker<S: Store>(t: TestApp<S>) {
    let counter = Counter::new(0);
    let worker = t.worker(vec![counter.clone()]);
    let now = t.app.now();
    let mut tx = t.app.store.write().await.unwrap();
    let id = enqueue(&mut tx, now, "test.count", serde_json::json!({}), None)
        .await
        .unwrap()
        .id();
    tx.commit().await.unwrap();
    // a worker claims the job and dies without finishing it
    let mut tx = t.app.store.write().await.unwrap();
    let claimed = tx
        .claim_job(now, t.app.config.job_lease)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.id, id);
    // while the lease holds nobody else runs it
    t.clock
        .advance(t.app.config.job_lease - chrono::Duration::seconds(1));
    assert_eq!(worker.run_once().await.unwrap(), Ran::Idle);
    // after the lease it is picked up again and completes
    t.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(worker.run_once().await.unwrap(), Ran::Done(id));
    assert_eq!(counter.runs(), 1);
    let mut tx = t.app.store.read().await.unwrap();
    let job = tx.job(id).await.unwrap().unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Done, 2));
}
app_test!(
    job_of_a_dead_worker_is_picked_up_after_its_lease,
    dead_worker
);

async fn idempotent<S: Store>(t: TestApp<S>) {
    let counter = Counter::new(0);
    let worker = t.worker(vec![counter.clone()]);
    for _ in 0..3 {
        let now = t.app.now();
        let mut tx = t.app.store.write().await.unwrap();
        enqueue(
            &mut tx,
            now,
            "test.count",
            serde_json::json!({}),
            Some("once:42".into()),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        worker.drain().await.unwrap();
    }
    assert_eq!(counter.runs(), 1);
}
app_test!(same_idempotency_key_runs_once, idempotent);

async fn retries<S: Store>(t: TestApp<S>) {
    let counter = Counter::new(2);
    let worker = t.worker(vec![counter.clone()]);
    let now = t.app.now();
    let mut tx = t.app.store.write().await.unwrap();
    let id = enqueue(&mut tx, now, "test.count", serde_json::json!({}), None)
        .await
        .unwrap()
        .id();
    tx.commit().await.unwrap();
    assert_eq!(
        worker.run_once().await.unwrap(),
        Ran::Retry(id, now + chrono::Duration::seconds(10))
    );
    assert_eq!(
        worker.run_once().await.unwrap(),
        Ran::Idle,
        "back-off holds the retry"
    );
    t.clock.advance(chrono::Duration::seconds(10));
    assert_eq!(
        worker.run_once().await.unwrap(),
        Ran::Retry(id, now + chrono::Duration::seconds(30))
    );
    t.clock.advance(chrono::Duration::seconds(20));
    assert_eq!(worker.run_once().await.unwrap(), Ran::Done(id));
    assert_eq!(counter.runs(), 3);

    // a job nobody can run ends dead, kept for an operator
    let mut tx = t.app.store.write().await.unwrap();
    let orphan = enqueue(
        &mut tx,
        t.app.now(),
        "no.such.kind",
        serde_json::json!({}),
        None,
    )
    .await
    .unwrap()
    .id();
    tx.commit().await.unwrap();
    assert_eq!(worker.run_once().await.unwrap(), Ran::Dead(orphan));
    let mut tx = t.app.store.read().await.unwrap();
    let dead = tx.jobs_with_status(JobStatus::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no handler")
    );
}
app_test!(failed_jobs_back_off_then_succeed_or_die, retries);

async fn outbox<S: Store>(t: TestApp<S>) {
    let now = t.app.now();
    let mut tx = t.app.store.write().await.unwrap();
    let out = mail::Outgoing {
        to: "doctor@example.jp".into(),
        subject: "お知らせ".into(),
        body_text: "本文".into(),
    };
    let id = mail::queue(&mut tx, now, out).await.unwrap();
    tx.commit().await.unwrap();
    // without SMTP the send job finishes and the mail stays pending in the outbox
    assert_eq!(t.worker(vec![]).drain().await.unwrap(), 1);
    let mails = t.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        (mails[0].id, mails[0].status),
        (id, mamis_store::MailStatus::Pending)
    );
    assert_eq!(mails[0].subject, "お知らせ");
}
app_test!(mail_without_smtp_stays_in_the_outbox, outbox);
