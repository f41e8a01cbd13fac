//! Certificate decisions: in order, exactly once per window, gap-free numbers under concurrent
//! and interrupted runs, the decision job, review items after later corrections, and the PDFs'
//! QR codes leading to the verification answer.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use mamis_app::cme::{self, NewCredit, certificates, documents};
use mamis_domain::{FiscalYear, HalfUnits, Principal, Source};
use mamis_store::conformance::sample_doctor;
use mamis_store::{CertificateRecord, CertificateStore, LedgerStore, RegistryStore, Store, Tx};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

fn job() -> Principal {
    Principal::Job {
        kind: "test".into(),
    }
}

fn fy(y: i32) -> FiscalYear {
    FiscalYear::new(y).unwrap()
}

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

/// `n` doctors whose FY2023–2025 window holds 30 units in 30 codes (= 60), plus one doctor who
/// falls short; returns the ids of the ones who reach it.
async fn doctors_reaching_60<S: Store>(t: &TestApp<S>, n: u32) -> Vec<Uuid> {
    let mut tx = t.app.store.write().await.unwrap();
    let mut credits = Vec::new();
    let mut ids = Vec::new();
    for k in 0..=n {
        let d = sample_doctor(k);
        tx.insert_doctor(&d).await.unwrap();
        let codes = if k == n { 0..25 } else { 0..30 };
        for code in codes {
            let (date, source) = if code < 20 {
                (day("2024-03-31"), Source::PriorSystem)
            } else {
                (day("2025-10-04"), Source::Training)
            };
            credits.push(NewCredit {
                doctor: d.id,
                date,
                source,
                code,
                half_units: HalfUnits::new(2),
                origin_key: format!("t:{k}:{code}"),
                note: None,
            });
        }
        if k < n {
            ids.push(d.id);
        }
    }
    cme::credit(&mut tx, &credits, "test", t.app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ids
}

async fn all_certificates<S: Store>(t: &TestApp<S>, ids: &[Uuid]) -> Vec<CertificateRecord> {
    let mut tx = t.app.store.read().await.unwrap();
    let v = tx
        .certificates_of_doctors(cme::PROGRAMME, ids)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    v
}

/// Each reaching doctor holds exactly one certificate for FY2023–2025, numbered N<year>-000001
/// upward with no gap and no repeat.
fn assert_once_and_gap_free(certs: &[CertificateRecord], ids: &[Uuid]) {
    assert_eq!(
        certs.len(),
        ids.len(),
        "one certificate per reaching doctor"
    );
    let holders: BTreeSet<Uuid> = certs.iter().map(|c| c.doctor).collect();
    assert_eq!(holders, ids.iter().copied().collect());
    let mut numbers: Vec<String> = certs.iter().map(|c| c.number.clone()).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=ids.len() as i64)
        .map(|n| certificates::format_number(certificates::SERIES, 2026, n))
        .collect();
    assert_eq!(numbers, expected);
    for c in certs {
        assert_eq!((c.from_fy, c.to_fy), (fy(2023), fy(2025)));
        assert_eq!(c.counted, Some((HalfUnits::new(60), 30)));
        assert_eq!(c.verification_code.as_ref().map(String::len), Some(16));
        assert_eq!(c.valid_until, Some(day("2029-05-31")));
    }
}

async fn concurrent_batches<S: Store>(t: TestApp<S>) {
    let ids = doctors_reaching_60(&t, 40).await;
    let who = job();
    let (a, b) = tokio::join!(
        certificates::decide_paged(&t.app, &who, fy(2025), 3, |_, _| ControlFlow::Continue(())),
        certificates::decide_paged(&t.app, &who, fy(2025), 5, |_, _| ControlFlow::Continue(())),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.completed && b.completed);
    assert_eq!(a.issued + b.issued, 40, "between them, every window once");
    assert_once_and_gap_free(&all_certificates(&t, &ids).await, &ids);
    // a third run finds nothing left to issue
    let c = certificates::decide(&t.app, &who, fy(2025), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert_eq!(c.issued, 0);
}
app_test!(
    concurrent_batches_give_unique_gap_free_numbers,
    concurrent_batches
);

async fn interrupted_batch<S: Store>(t: TestApp<S>) {
    let ids = doctors_reaching_60(&t, 20).await;
    let who = job();
    let mut pages = 0;
    let first = certificates::decide_paged(&t.app, &who, fy(2025), 4, |_, _| {
        pages += 1;
        if pages == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
    .unwrap();
    assert!(!first.completed);
    assert!(first.issued > 0 && first.issued < 20, "{first:?}");
    let rest =
        certificates::decide_paged(&t.app, &who, fy(2025), 4, |_, _| ControlFlow::Continue(()))
            .await
            .unwrap();
    assert!(rest.completed);
    assert_eq!(first.issued + rest.issued, 20);
    assert_once_and_gap_free(&all_certificates(&t, &ids).await, &ids);
}
app_test!(
    a_killed_batch_rerun_issues_each_certificate_once,
    interrupted_batch
);

async fn order_and_dates<S: Store>(t: TestApp<S>) {
    doctors_reaching_60(&t, 2).await;
    let who = job();
    // FY2026 has not ended on 2026-06-01
    let e = certificates::decide(&t.app, &who, fy(2026), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("has not ended"), "{e}");
    // before MAMIS, the prior system decided
    let e = certificates::decide(&t.app, &who, fy(2024), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("prior system"), "{e}");
    // county staff cannot run decisions
    let county = Principal::Staff {
        account_id: Uuid::new_v4(),
        grants: vec![
            mamis_domain::RoleGrant::new(
                mamis_domain::Role::CountyStaff,
                mamis_domain::Scope::Association(
                    mamis_domain::AssociationCode::parse("P13-0001").unwrap(),
                ),
            )
            .unwrap(),
        ],
    };
    assert!(matches!(
        certificates::decide(&t.app, &county, fy(2025), |_, _| ControlFlow::Continue(())).await,
        Err(mamis_app::AppError::Forbidden)
    ));
    // a year later, FY2026 waits for FY2025: windows are decided strictly in order
    t.clock.set(
        chrono::DateTime::parse_from_rfc3339("2027-06-01T09:00:00+09:00")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let e = certificates::decide(&t.app, &who, fy(2026), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("FY2025 first"), "{e}");
    let first = certificates::decide(&t.app, &who, fy(2025), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert_eq!(first.issued, 2);
    let second = certificates::decide(&t.app, &who, fy(2026), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    assert!(second.completed);
    assert_eq!(second.issued, 0, "their years are consumed");
}
app_test!(decisions_follow_order_and_dates, order_and_dates);

/// The job scheduled at start-up runs on the decision date (1 December of N+1, Japan time).
async fn decision_job<S: Store>(t: TestApp<S>) {
    let ids = doctors_reaching_60(&t, 3).await;
    certificates::schedule(&t.app).await.unwrap();
    let worker = t.worker(vec![]);
    worker.drain().await.unwrap();
    assert!(
        all_certificates(&t, &ids).await.is_empty(),
        "nothing before the date"
    );
    t.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:01+09:00")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    worker.drain().await.unwrap();
    let certs = all_certificates(&t, &ids).await;
    assert_eq!(certs.len(), 3);
    assert!(certs.iter().all(|c| c.issued_on == day("2026-12-01")));
    // scheduling again after the run adds no second run for that year
    certificates::schedule(&t.app).await.unwrap();
    worker.drain().await.unwrap();
    assert_eq!(all_certificates(&t, &ids).await.len(), 3);
}
app_test!(the_decision_job_runs_on_its_date, decision_job);

/// A later reversal never changes the certificate, but opens one review item when the window
/// falls below 60.
async fn later_corrections<S: Store>(t: TestApp<S>) {
    let ids = doctors_reaching_60(&t, 1).await;
    let who = job();
    certificates::decide(&t.app, &who, fy(2025), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    let before = all_certificates(&t, &ids).await;
    let mut tx = t.app.store.read().await.unwrap();
    let entries = tx.ledger_of(ids[0], cme::PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    for e in entries.iter().take(2) {
        cme::reverse(&t.app, &who, e.id, "entered twice", None)
            .await
            .unwrap();
    }
    assert_eq!(
        all_certificates(&t, &ids).await,
        before,
        "the certificate stands"
    );
    let open = certificates::reviews(&t.app, &who, 10).await.unwrap();
    assert_eq!(open.len(), 1, "one open item, not one per reversal");
    assert_eq!(open[0].number, before[0].number);
    assert!(open[0].reason.contains("58"), "{}", open[0].reason);
}
app_test!(
    later_corrections_open_a_review_not_a_change,
    later_corrections
);

fn tool(name: &str) -> bool {
    let found = std::process::Command::new("which")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is missing in CI (poppler-utils, zbar-tools)"
        );
        eprintln!("SKIPPED (pdf tools): {name} missing — apt-get install poppler-utils zbar-tools");
    }
    found
}

/// The certificate PDF names its holder and number, and its QR code leads to a verification
/// answer of "valid" for that number; the same PDF downloaded twice is byte-identical.
async fn pdf_qr_verifies<S: Store>(t: TestApp<S>) {
    if !(tool("pdftotext") && tool("pdftoppm") && tool("zbarimg")) {
        return;
    }
    let ids = doctors_reaching_60(&t, 1).await;
    let who = job();
    certificates::decide(&t.app, &who, fy(2025), |_, _| ControlFlow::Continue(()))
        .await
        .unwrap();
    let c = &all_certificates(&t, &ids).await[0];
    let printed = documents::certificate_pdf(&t.app, &who, &c.number)
        .await
        .unwrap()
        .into_pdf()
        .unwrap();
    let again = documents::certificate_pdf(&t.app, &who, &c.number)
        .await
        .unwrap()
        .into_pdf()
        .unwrap();
    assert_eq!(printed.pdf, again.pdf, "byte-stable");
    let dir = std::env::temp_dir().join(format!("mamis-cert-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join("c.pdf");
    std::fs::write(&pdf, &printed.pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .args([pdf.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for needle in ["日医生涯教育認定証", "山田", &c.number] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    let png = dir.join("page");
    assert!(
        std::process::Command::new("pdftoppm")
            .args(["-r", "200", "-png", "-singlefile"])
            .arg(&pdf)
            .arg(&png)
            .status()
            .unwrap()
            .success()
    );
    let out = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(dir.join("page.png"))
        .output()
        .unwrap();
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let expected = documents::verify_url(
        &t.app.config.base_url,
        &c.number,
        c.verification_code.as_deref().unwrap(),
    );
    assert_eq!(url, expected);
    let path = url.strip_prefix(&t.base_url).unwrap();
    let page = t.get(path).await;
    assert_eq!(page.status(), 200);
    let _ = std::fs::remove_dir_all(&dir);
}
app_test!(
    the_certificate_qr_leads_to_its_verification,
    pdf_qr_verifies
);
