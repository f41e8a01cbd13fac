//! PDF rendering benchmark (not a test): PDFs per second for each document type, on one thread
//! and on every available core, and the size of each PDF.
//!
//! `cargo bench -p mamis-pdf --bench render`
//! - `MAMIS_BENCH_SECS` (default 5) per type and thread count.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use mamis_pdf::{AttendanceLine, Certificate, CodeLine, Document, Holder, render};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn certificate(document: Document) -> Certificate {
    Certificate {
        number: "JMA-2026-000123".to_owned(),
        issued_on: d(2026, 12, 1),
        issuer: "公益社団法人 日本医師会".to_owned(),
        verify_url: "https://mamis.example.jp/verify/JMA-2026-000123?c=K7Q2M9XR4T".to_owned(),
        holder: Holder {
            name: "山田 太郎".to_owned(),
            kana: "ヤマダ タロウ".to_owned(),
            iseki: "123456".to_owned(),
        },
        document,
    }
}

/// The three documents at realistic sizes: a year with 20 codes, a certificate, and a year of
/// attendance (60 records) — plus the worst cases, 84 codes and 240 records.
fn cases() -> Vec<(&'static str, Certificate)> {
    let codes = |n: u16| {
        (1..=n)
            .map(|i| CodeLine {
                code: i,
                name: format!("カリキュラムコード名 {i}"),
                half_units: 2,
            })
            .collect()
    };
    let lines = |n: i64| {
        (0..n)
            .map(|i| AttendanceLine {
                date: d(2025, 4, 1) + chrono::Duration::days(i % 365),
                title: format!("生涯教育講座 症例検討 第{}回", i + 1),
                source_label: "e-ラーニング".to_owned(),
                code: (i % 84) as u16,
                half_units: 1,
            })
            .collect()
    };
    vec![
        (
            "AnnualUnits, 20 codes",
            certificate(Document::AnnualUnits {
                fiscal_year: 2025,
                half_units: 121,
                codes: codes(20),
            }),
        ),
        (
            "AnnualUnits, 84 codes",
            certificate(Document::AnnualUnits {
                fiscal_year: 2025,
                half_units: 168,
                codes: codes(84),
            }),
        ),
        (
            "CmeCertificate",
            certificate(Document::CmeCertificate {
                from_fy: 2023,
                to_fy: 2025,
                half_units: 92,
                codes: 30,
                valid_until: d(2029, 3, 31),
            }),
        ),
        (
            "Attendance, 60 lines",
            certificate(Document::Attendance {
                from: d(2025, 4, 1),
                to: d(2026, 3, 31),
                elearning_only: true,
                lines: lines(60),
                attended: 60,
            }),
        ),
        (
            "Attendance, 240 lines",
            certificate(Document::Attendance {
                from: d(2025, 4, 1),
                to: d(2026, 3, 31),
                elearning_only: false,
                lines: lines(240),
                attended: 240,
            }),
        ),
    ]
}

/// PDFs per second with `threads` threads rendering `c` for `secs`.
fn rate(c: &Certificate, threads: usize, secs: u64) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(render(c).unwrap());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs = std::env::var("MAMIS_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The first render parses and hashes the 7.8 MB font once per process.
    let t = Instant::now();
    render(&cases()[2].1).unwrap();
    println!(
        "first render (font load): {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!("{secs} s per row; {cores} threads = available parallelism");
    println!(
        "{:<28} {:>6} {:>9} {:>12} {:>13}",
        "document",
        "pages",
        "bytes",
        "PDF/s 1 thr",
        format!("PDF/s {cores} thr")
    );
    for (name, c) in cases() {
        let pdf = render(&c).unwrap();
        let text = String::from_utf8_lossy(&pdf);
        let pages = text.matches("/Type/Page").count() - text.matches("/Type/Pages").count();
        let one = rate(&c, 1, secs);
        let all = rate(&c, cores, secs);
        println!(
            "{name:<28} {pages:>6} {:>9} {one:>12.1} {all:>13.1}",
            pdf.len()
        );
    }
}
