//! History from before MAMIS: prior-system credits and certificates imported all-or-nothing,
//! in UTF-8 or CP932, idempotently, with every bad line reported — on both backends.

use chrono::NaiveDate;
use mamis_app::cme::history::{
    CREATED_BY, HistoryReport, import_certificate_history, import_ledger_history,
};
use mamis_app::cme::{self, PROGRAMME};
use mamis_domain::rules::WindowStatus;
use mamis_domain::{FiscalYear, HalfUnits, LedgerEntry, Principal, Source};
use mamis_store::conformance::sample_doctor;
use mamis_store::{AuditStore, CertificateRecord, LedgerStore, RegistryStore, Store, Tx};
use mamis_testkit::{TestApp, app_test};
use uuid::Uuid;

/// The ledger file of the tests: Japanese headers, full-width digits on line 3.
const LEDGER: &str = "医籍登録番号,年度,カリキュラムコード,単位
100001,2023,74,1.5
１００００２,２０２４,７６,２
100001,2024,0,0.5
100002,2022,12,3
";

/// [`LEDGER`] in CP932, as Excel saves it in Japan.
const LEDGER_CP932: &[u8] = b"\x88\xE3\x90\xD0\x93o\x98^\x94\xD4\x8D\x86,\x94N\x93x,\
\x83J\x83\x8A\x83L\x83\x85\x83\x89\x83\x80\x83R\x81[\x83h,\x92P\x88\xCA\n\
100001,2023,74,1.5\n\
\x82P\x82O\x82O\x82O\x82O\x82Q,\x82Q\x82O\x82Q\x82S,\x82V\x82U,\x82Q\n\
100001,2024,0,0.5\n\
100002,2022,12,3\n";

fn job() -> Principal {
    Principal::Job {
        kind: "cli:test".into(),
    }
}

fn fy(y: i32) -> FiscalYear {
    FiscalYear::new(y).unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn doctor(n: u32) -> Uuid {
    sample_doctor(n).id
}

async fn seed<S: Store>(t: &TestApp<S>, ns: &[u32]) {
    let mut tx = t.app.store.write().await.unwrap();
    for n in ns {
        tx.insert_doctor(&sample_doctor(*n)).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn ledger<S: Store>(t: &TestApp<S>, n: u32) -> Vec<LedgerEntry> {
    let mut tx = t.app.store.read().await.unwrap();
    let es = tx.ledger_of(doctor(n), PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    es
}

async fn certificates<S: Store>(t: &TestApp<S>, n: u32) -> Vec<CertificateRecord> {
    let mut tx = t.app.store.read().await.unwrap();
    let cs = tx.certificates_of(doctor(n), PROGRAMME).await.unwrap();
    tx.rollback().await.unwrap();
    cs
}

async fn entry_count<S: Store>(t: &TestApp<S>) -> u64 {
    let mut tx = t.app.store.read().await.unwrap();
    let n = tx.count_ledger_entries().await.unwrap();
    tx.rollback().await.unwrap();
    n
}

async fn audit_actions<S: Store>(t: &TestApp<S>) -> Vec<(String, String)> {
    let mut tx = t.app.store.read().await.unwrap();
    let rows = tx.audit_rows(0, 10_000).await.unwrap();
    tx.rollback().await.unwrap();
    rows.into_iter().map(|r| (r.action, r.details)).collect()
}

/// (fiscal year, code, half-units, date, origin key, generation) of each entry, in ledger order.
fn lines(es: &[LedgerEntry]) -> Vec<(i32, u16, i64, NaiveDate, String, i32)> {
    es.iter()
        .map(|e| {
            assert_eq!(e.source, Source::PriorSystem);
            assert_eq!(e.created_by, CREATED_BY);
            (
                e.fiscal_year.year(),
                e.code,
                e.half_units.get(),
                e.date,
                e.origin_key.clone(),
                e.generation,
            )
        })
        .collect()
}

/// The entries [`LEDGER`] gives each doctor.
async fn assert_ledger_imported<S: Store>(t: &TestApp<S>) {
    assert_eq!(
        lines(&ledger(t, 1).await),
        [
            (
                2023,
                74,
                3,
                day("2024-03-31"),
                "prior:100001:2023:74".into(),
                0
            ),
            (
                2024,
                0,
                1,
                day("2025-03-31"),
                "prior:100001:2024:0".into(),
                0
            ),
        ]
    );
    assert_eq!(
        lines(&ledger(t, 2).await),
        [
            (
                2022,
                12,
                6,
                day("2023-03-31"),
                "prior:100002:2022:12".into(),
                0
            ),
            (
                2024,
                76,
                4,
                day("2025-03-31"),
                "prior:100002:2024:76".into(),
                0
            ),
        ]
    );
}

fn problems(r: &HistoryReport) -> Vec<(u64, Option<&str>, &str)> {
    r.problems
        .iter()
        .map(|p| (p.line, p.column.as_deref(), p.message.as_str()))
        .collect()
}

async fn utf8_file_with_bom_imports<S: Store>(t: TestApp<S>) {
    seed(&t, &[1, 2]).await;
    let file = format!("\u{FEFF}{LEDGER}");
    let r = import_ledger_history(&t.app, &job(), file.as_bytes())
        .await
        .unwrap();
    assert!(r.applied(), "{r:?}");
    assert_eq!(
        (r.encoding, r.rows, r.written, r.unchanged),
        ("UTF-8", 4, 4, 0)
    );
    assert_ledger_imported(&t).await;
    let audit = audit_actions(&t).await;
    let (_, details) = audit
        .iter()
        .find(|(a, _)| a == "cme.import_history")
        .expect("the import is audited");
    let details: serde_json::Value = serde_json::from_str(details).unwrap();
    assert_eq!(details["written"], 4);

    // The standing counts the imported years like any other.
    let s = cme::summary(&t.app, &job(), doctor(1), None).await.unwrap();
    let y = &s.standing.years;
    assert_eq!(y[&fy(2023)].half_units, HalfUnits::new(3));
    assert_eq!(y[&fy(2023)].codes().collect::<Vec<_>>(), [74]);
    assert_eq!(y[&fy(2024)].half_units, HalfUnits::new(1));
    assert_eq!(y[&fy(2024)].codes().collect::<Vec<_>>(), [0]);
    assert_eq!(
        y[&fy(2024)].per_source[&Source::PriorSystem],
        HalfUnits::new(1)
    );
    let s = cme::summary(&t.app, &job(), doctor(2), None).await.unwrap();
    assert_eq!(s.standing.years[&fy(2022)].half_units, HalfUnits::new(6));
    assert_eq!(s.standing.years[&fy(2024)].half_units, HalfUnits::new(4));
}
app_test!(ledger_history_utf8, utf8_file_with_bom_imports);

async fn cp932_file_imports_once<S: Store>(t: TestApp<S>) {
    // the bytes are not UTF-8: `decode` says CP932 only then
    assert_eq!(
        mamis_app::identity::legacy::decode(LEDGER_CP932).unwrap(),
        (LEDGER.to_owned(), "CP932")
    );
    seed(&t, &[1, 2]).await;
    let r = import_ledger_history(&t.app, &job(), LEDGER_CP932)
        .await
        .unwrap();
    assert!(r.applied(), "{r:?}");
    assert_eq!((r.encoding, r.written), ("CP932", 4));
    assert_ledger_imported(&t).await;

    // Re-running the file changes nothing.
    let again = import_ledger_history(&t.app, &job(), LEDGER_CP932)
        .await
        .unwrap();
    assert!(again.applied(), "{again:?}");
    assert_eq!((again.rows, again.written, again.unchanged), (4, 0, 4));
    assert_eq!(entry_count(&t).await, 4);

    // A line staff reversed is credited again, as the next generation.
    let first = ledger(&t, 1).await.remove(0);
    cme::reverse(
        &t.app,
        &job(),
        first.id,
        "imported twice by the old system",
        None,
    )
    .await
    .unwrap();
    let r = import_ledger_history(&t.app, &job(), LEDGER_CP932)
        .await
        .unwrap();
    assert_eq!((r.written, r.unchanged), (1, 3), "{r:?}");
    let recredit = ledger(&t, 1)
        .await
        .into_iter()
        .find(|e| e.origin_key == first.origin_key && e.generation == 1)
        .expect("the reversed line is credited again");
    assert_eq!(recredit.half_units, first.half_units);
    assert_eq!(entry_count(&t).await, 6);

    // Another amount for a line already recorded is refused, not silently added.
    let changed = "iseki_number,fiscal_year,code,half_units\n100001,2024,0,2\n";
    let r = import_ledger_history(&t.app, &job(), changed.as_bytes())
        .await
        .unwrap();
    assert!(!r.applied());
    assert_eq!(
        problems(&r),
        [(
            2,
            Some("half_units"),
            "the amount 1 differs from the value imported earlier: 0.5 units; reverse that entry first if the new amount is right"
        )]
    );
    assert_eq!(entry_count(&t).await, 6);
}
app_test!(ledger_history_cp932_and_rerun, cp932_file_imports_once);

async fn one_bad_line_refuses_the_file<S: Store>(t: TestApp<S>) {
    seed(&t, &[1, 2]).await;
    import_ledger_history(&t.app, &job(), LEDGER.as_bytes())
        .await
        .unwrap();
    let before = entry_count(&t).await;
    let audits_before = audit_actions(&t).await.len();
    let file = "iseki_number,fiscal_year,code,units
100001,2021,74,1.5
999999,2021,74,1
100001,2025,74,1
100001,2021,84,1
100001,2021,75,0.3
100001,2021,74,1.5
100001,2021
100002,2021,1,1
";
    let r = import_ledger_history(&t.app, &job(), file.as_bytes())
        .await
        .unwrap();
    assert!(!r.applied());
    assert_eq!((r.rows, r.written, r.total_problems), (8, 0, 6));
    assert_eq!(
        problems(&r),
        [
            (
                3,
                Some("iseki_number"),
                "no doctor with 医籍登録番号 999999 is in the register; register the doctor first or remove the line"
            ),
            (
                4,
                Some("fiscal_year"),
                "FY2025 and later are recorded in MAMIS itself; history ends with FY2024"
            ),
            (
                5,
                Some("code"),
                "'84' is not a curriculum code of the 2016-2022.04 catalogue (0–83)"
            ),
            (
                6,
                Some("units"),
                "'0.3' is not a positive multiple of 0.5 units up to 200 (e.g. 1.5)"
            ),
            (
                7,
                None,
                "duplicate of line 2 (same 医籍登録番号, fiscal year and code); merge the two lines into one"
            ),
            (
                8,
                None,
                "the line has 2 cells but the header 4; check for a missing or extra comma"
            ),
        ]
    );
    assert_eq!(entry_count(&t).await, before, "nothing was written");
    assert_eq!(audit_actions(&t).await.len(), audits_before);

    // Header problems refuse the file before any line is read.
    let r = import_ledger_history(&t.app, &job(), b"iseki_number,year,code\n1,2020,1\n")
        .await
        .unwrap();
    let got = problems(&r);
    assert_eq!(got[0].0, 1);
    assert_eq!(got[0].1, Some("year"));
    assert!(got[0].2.starts_with("unknown column 'year'"), "{got:?}");
    assert_eq!(entry_count(&t).await, before);
}
app_test!(ledger_history_all_or_nothing, one_bad_line_refuses_the_file);

async fn licences<S: Store>(t: &TestApp<S>, ns: &[u32]) -> Vec<Option<NaiveDate>> {
    let mut tx = t.app.store.read().await.unwrap();
    let mut out = Vec::new();
    for n in ns {
        out.push(
            tx.licence_dates(&[doctor(*n)])
                .await
                .unwrap()
                .first()
                .map(|l| l.1),
        );
    }
    tx.rollback().await.unwrap();
    out
}

/// The ledger history may carry 医籍登録年月日 (optional column, optional cell): it fills in the
/// register's where it has none, in any accepted date form; an empty cell leaves it unknown; a
/// date the register already has changes nothing; a different one, a future one, an unreadable
/// one or two dates for one doctor refuse the file, each named by line and column.
async fn licence_column<S: Store>(t: TestApp<S>) {
    seed(&t, &[1, 2, 3, 4]).await;
    let mut tx = t.app.store.write().await.unwrap();
    tx.set_licence_date(doctor(3), Some(day("2010-04-01")))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let file = "医籍登録番号,年度,カリキュラムコード,単位,医籍登録年月日
100001,2023,1,1,2022-04-20
100001,2024,2,1,R4.4.20
100002,2023,1,1,
100003,2023,1,1,2010/4/1
";
    let r = import_ledger_history(&t.app, &job(), file.as_bytes())
        .await
        .unwrap();
    assert!(r.applied(), "{:?}", problems(&r));
    assert_eq!((r.written, r.licences), (4, 1));
    assert_eq!(
        licences(&t, &[1, 2, 3, 4]).await,
        [Some(day("2022-04-20")), None, Some(day("2010-04-01")), None]
    );

    let file = "iseki_number,fiscal_year,code,units,licensed_on
100001,2023,3,1,2022-04-21
100002,2023,4,1,2999-01-01
100003,2023,5,1,yesterday
100004,2023,1,1,2001-04-01
100004,2023,2,1,2001-04-02
";
    let before = entry_count(&t).await;
    let r = import_ledger_history(&t.app, &job(), file.as_bytes())
        .await
        .unwrap();
    assert!(!r.applied());
    let got: Vec<(u64, Option<&str>)> = problems(&r).iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(
        got,
        [
            (2, Some("licensed_on")),
            (3, Some("licensed_on")),
            (4, Some("licensed_on")),
            (6, Some("licensed_on")),
        ],
        "{:?}",
        problems(&r)
    );
    let texts: Vec<&str> = problems(&r).iter().map(|p| p.2).collect();
    assert!(
        texts[0].contains("register's 医籍登録年月日 2022-04-20"),
        "{}",
        texts[0]
    );
    assert!(texts[1].contains("in the future"), "{}", texts[1]);
    assert!(texts[3].contains("on line 5"), "{}", texts[3]);
    assert_eq!(entry_count(&t).await, before, "nothing was written");
    assert_eq!(
        licences(&t, &[1, 2, 3, 4]).await,
        [Some(day("2022-04-20")), None, Some(day("2010-04-01")), None],
        "no licence date written from a refused file"
    );
}
app_test!(ledger_history_fills_in_the_licence_date, licence_column);

async fn many_problems_are_counted<S: Store>(t: TestApp<S>) {
    seed(&t, &[1]).await;
    let mut file = String::from("医籍登録番号,年度,カリキュラムコード,半単位\n");
    for _ in 0..1_500 {
        file.push_str("100001,2025,1,2\n");
    }
    let r = import_ledger_history(&t.app, &job(), file.as_bytes())
        .await
        .unwrap();
    assert_eq!((r.rows, r.total_problems), (1_500, 1_500));
    assert_eq!(r.problems.len(), 1_000);
    assert_eq!(r.problems.first().unwrap().line, 2);
    assert_eq!(r.problems.last().unwrap().line, 1_001);
    assert_eq!(entry_count(&t).await, 0);
}
app_test!(ledger_history_problem_cap, many_problems_are_counted);

async fn certificate_history<S: Store>(t: TestApp<S>) {
    seed(&t, &[1, 2, 3]).await;
    let file = "証書番号,医籍登録番号,開始年度,終了年度,発行日
C-2019-0001,100001,2019,2021,2022/12/1
C-2022-0002,１００００２,2022,2024,20251201
";
    let r = import_certificate_history(&t.app, &job(), file.as_bytes())
        .await
        .unwrap();
    assert!(r.applied(), "{r:?}");
    assert_eq!((r.rows, r.written, r.unchanged), (2, 2, 0));
    let c = &certificates(&t, 1).await[0];
    assert_eq!(
        (
            c.number.as_str(),
            c.from_fy,
            c.to_fy,
            c.issued_on,
            c.origin.as_str()
        ),
        (
            "C-2019-0001",
            fy(2019),
            fy(2021),
            day("2022-12-01"),
            "prior_system"
        )
    );
    assert!(
        audit_actions(&t)
            .await
            .iter()
            .any(|(a, _)| a == "certificates.import_history")
    );

    // The imported certificates consume their years in the standing.
    let s = cme::summary(&t.app, &job(), doctor(1), None).await.unwrap();
    let w = &s.standing.windows[0];
    assert_eq!(
        (w.from, w.to, w.status),
        (fy(2019), fy(2021), WindowStatus::Certified)
    );
    let s = cme::summary(&t.app, &job(), doctor(2), None).await.unwrap();
    assert!(
        s.standing
            .windows
            .iter()
            .any(|w| (w.from, w.to, w.status) == (fy(2022), fy(2024), WindowStatus::Certified))
    );
    let next = s.standing.next_window().unwrap();
    assert_eq!((next.from, next.to), (fy(2025), fy(2027)));

    // Overlaps, wrong windows and MAMIS-era years are refused, each on its line; nothing is kept.
    let bad = "number,iseki_number,from_fy,to_fy,issued_on
C-X-1,100001,2020,2022,2023-12-01
C-X-2,100001,2022,2023,2024-12-01
C-X-3,100002,2025,2027,2026-01-01
C-X-4,100003,2016,2018,2019-12-01
C-X-5,100003,2018,2020,2021-12-01
C-2019-0001,100001,2019,2021,2022-12-02
";
    let r = import_certificate_history(&t.app, &job(), bad.as_bytes())
        .await
        .unwrap();
    assert!(!r.applied());
    assert_eq!((r.rows, r.written, r.total_problems), (6, 0, 5));
    assert_eq!(
        problems(&r),
        [
            (
                2,
                Some("from_fy"),
                "FY2020–FY2022 overlap certificate C-2019-0001 (FY2019–FY2021, already recorded); a fiscal year counts toward one certificate only"
            ),
            (
                3,
                Some("to_fy"),
                "FY2022–FY2023 is 2 fiscal years; a certificate covers 3 consecutive fiscal years"
            ),
            (
                4,
                Some("to_fy"),
                "windows ending in FY2025 or later are decided by MAMIS itself; history ends with windows ending in FY2024"
            ),
            (
                6,
                Some("from_fy"),
                "FY2018–FY2020 overlap certificate C-X-4 (FY2016–FY2018, on line 5); a fiscal year counts toward one certificate only"
            ),
            (
                7,
                Some("number"),
                "certificate number C-2019-0001 is already recorded differently (this doctor, FY2019–FY2021, issued 2022-12-01); correct the line or leave it out"
            ),
        ]
    );
    assert!(certificates(&t, 3).await.is_empty(), "nothing was written");

    // Re-importing the first file changes nothing.
    let r = import_certificate_history(&t.app, &job(), file.as_bytes())
        .await
        .unwrap();
    assert!(r.applied(), "{r:?}");
    assert_eq!((r.rows, r.written, r.unchanged), (2, 0, 2));
    assert_eq!(certificates(&t, 1).await.len(), 1);
    assert_eq!(certificates(&t, 2).await.len(), 1);
}
app_test!(certificate_history_imports, certificate_history);
