//! Table tests from the sources' thresholds and property tests against naive models written from
//! the rules' text (domain-research §4.3, §7).

use super::*;
use crate::LedgerEntry;
use crate::time::japan_date;
use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn entry(n: u128, p: CertifiedProgramme, cat: &str, date: NaiveDate, half: i64) -> ProgrammeEntry {
    ProgrammeEntry {
        id: Uuid::from_u128(n),
        doctor: Uuid::from_u128(7),
        programme: p,
        category: cat.to_owned(),
        date,
        half_units: HalfUnits::new(half),
        web_session: false,
        lecture: None,
        source: Source::Training,
        origin_key: format!("k{n}"),
        generation: 0,
        reverses: None,
        rules_version: "t".into(),
        created_by: "test".into(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        note: None,
    }
}

fn san(n: u128, cat: &str, date: &str, units: f64) -> ProgrammeEntry {
    entry(
        n,
        CertifiedProgramme::Sangyoui,
        cat,
        d(date),
        (units * 2.0) as i64,
    )
}

fn web(mut e: ProgrammeEntry) -> ProgrammeEntry {
    e.web_session = true;
    e
}

fn line<'a>(a: &'a Assessment, key: &LineKey) -> &'a Line {
    a.lines.iter().find(|l| &l.key == key).unwrap()
}

fn cat(k: &str) -> LineKey {
    LineKey::Category(k.into())
}

fn new_of(p: CertifiedProgramme) -> &'static Requirement {
    &p.rules().new
}

fn renewal_of(p: CertifiedProgramme) -> &'static Requirement {
    p.rules().renewal.as_ref().unwrap()
}

#[test]
fn every_embedded_rules_file_parses_and_names_its_programme() {
    for p in CertifiedProgramme::ALL {
        let r = p.rules();
        assert_eq!(r.programme, p);
        assert_eq!(CertifiedProgramme::parse(p.as_str()), Ok(p));
    }
    assert_eq!(CertifiedProgramme::Sangyoui.rules().validity_years, 5);
    assert_eq!(CertifiedProgramme::Kakaritsuke.rules().validity_years, 3);
    assert!(CertifiedProgramme::Sangyoui.rules().paper_certificate);
    assert!(CertifiedProgramme::parse("jma_cme").is_err());
}

#[test]
fn the_parser_refuses_unknown_fields_kinds_and_categories() {
    let text = include_str!("../../rules/sangyoui.toml");
    assert!(ProgrammeRules::from_toml(text).is_ok());
    let extra = format!("{text}\nsurprise = 1\n");
    assert!(ProgrammeRules::from_toml(&extra).is_err());
    let kind = text.replace("kind = \"category_thresholds\"", "kind = \"lottery\"");
    assert!(ProgrammeRules::from_toml(&kind).is_err());
    let undeclared = text.replace("minimum = { koushin = 1,", "minimum = { nope = 1,");
    let e = ProgrammeRules::from_toml(&undeclared).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let field = text.replace("web_session_cap = 5", "web_session_cap = 5\nweb_cap = 3");
    assert!(ProgrammeRules::from_toml(&field).is_err());
}

#[test]
fn unit_step_and_validity() {
    let r = CertifiedProgramme::Sangyoui.rules();
    assert_eq!(r.half_units_for_minutes(60), HalfUnits::new(2));
    assert_eq!(r.half_units_for_minutes(30), HalfUnits::new(1));
    assert_eq!(r.half_units_for_minutes(29), HalfUnits::ZERO);
    assert_eq!(r.half_units_for_minutes(89), HalfUnits::new(2));
    assert_eq!(r.valid_until(d("2025-04-01")), d("2030-03-31"));
    assert_eq!(r.valid_until(d("2028-02-29")), d("2033-02-27"));
    let k = CertifiedProgramme::Kakaritsuke.rules();
    assert_eq!(k.valid_until(d("2026-04-01")), d("2029-03-31"));
    assert_eq!(r.route(true), &[Tier::Prefecture, Tier::Jma]);
    assert_eq!(k.route(true), &[Tier::County, Tier::Prefecture]);
    assert_eq!(k.route(false), &[Tier::Prefecture]);
}

/// New 産業医: ≥ 50 units with 前期 ≥ 14, 実地 ≥ 10, 後期 ≥ 26.
#[test]
fn sangyoui_new_table() {
    let req = new_of(CertifiedProgramme::Sangyoui);
    let f = Facts::default();
    // (前期, 実地, 後期, met, missing 実地 half-units)
    let cases: [(f64, f64, f64, bool, i64); 7] = [
        (14.0, 10.0, 26.0, true, 0),
        (14.0, 9.0, 26.0, false, 2),
        (20.0, 9.0, 26.0, false, 2),
        (13.5, 10.0, 26.5, false, 0),
        (14.0, 10.0, 25.5, false, 0),
        (20.0, 15.0, 30.0, true, 0),
        (0.0, 0.0, 0.0, false, 20),
    ];
    for (zenki, jitchi, kouki, met, missing) in cases {
        let es = vec![
            san(1, "kiso_zenki", "2025-05-01", zenki),
            san(2, "kiso_jitchi", "2025-06-01", jitchi),
            san(3, "kiso_kouki", "2025-07-01", kouki),
            // Lifelong training never counts towards the basic training.
            san(4, "koushin", "2025-07-01", 30.0),
        ];
        let a = assess(req, &es, &f);
        assert_eq!(a.met, met, "{zenki}/{jitchi}/{kouki}");
        assert_eq!(line(&a, &cat("kiso_jitchi")).missing(), missing);
        assert_eq!(
            line(&a, &LineKey::Total).have,
            ((zenki + jitchi + kouki) * 2.0) as i64
        );
    }
}

#[test]
fn a_reversed_credit_no_longer_counts() {
    let req = new_of(CertifiedProgramme::Sangyoui);
    let credit = san(2, "kiso_jitchi", "2025-06-01", 10.0);
    let rev = credit.reversal(
        Uuid::from_u128(9),
        "t".into(),
        Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
    );
    let es = vec![
        san(1, "kiso_zenki", "2025-05-01", 14.0),
        credit,
        san(3, "kiso_kouki", "2025-07-01", 26.0),
    ];
    assert!(assess(req, &es, &Facts::default()).met);
    let mut with_rev = es.clone();
    with_rev.push(rev);
    let a = assess(req, &with_rev, &Facts::default());
    assert!(!a.met);
    assert_eq!(line(&a, &cat("kiso_jitchi")).have, 0);
}

/// Renewal: ≥ 20 units within the 5 years ending on the expiry date, ≥ 1 each of 更新, 実地,
/// 専門, at most 5 from individual web sessions and only 更新 or 専門.
#[test]
fn sangyoui_renewal_table() {
    let req = renewal_of(CertifiedProgramme::Sangyoui);
    let expiry = d("2030-03-31");
    let f = Facts {
        window_end: Some(expiry),
        ..Facts::default()
    };
    let base = vec![
        san(1, "koushin", "2026-01-10", 1.0),
        san(2, "shogai_jitchi", "2027-01-10", 1.0),
        san(3, "senmon", "2028-01-10", 18.0),
    ];
    let a = assess(req, &base, &f);
    assert!(a.met);
    assert_eq!(a.window, Some((d("2025-04-01"), expiry)));

    // One short: 19.5.
    let mut short = base.clone();
    short[2] = san(3, "senmon", "2028-01-10", 17.5);
    let a = assess(req, &short, &f);
    assert!(!a.met);
    assert_eq!(line(&a, &LineKey::Total).missing(), 1);

    // No 実地: 20 units but a category is missing.
    let no_jitchi = vec![
        san(1, "koushin", "2026-01-10", 2.0),
        san(3, "senmon", "2028-01-10", 18.0),
    ];
    let a = assess(req, &no_jitchi, &f);
    assert!(!a.met);
    assert_eq!(line(&a, &cat("shogai_jitchi")).missing(), 2);

    // Window edges: the expiry date counts, the day after does not; the first day counts, the
    // day before does not.
    for (date, counts) in [
        ("2030-03-31", true),
        ("2030-04-01", false),
        ("2025-04-01", true),
        ("2025-03-31", false),
    ] {
        let mut es = short.clone();
        es.push(san(10, "senmon", date, 0.5));
        assert_eq!(assess(req, &es, &f).met, counts, "{date}");
    }

    // Web sessions: 8 units of 専門 from the web count as 5.
    let webby = vec![
        san(1, "koushin", "2026-01-10", 1.0),
        san(2, "shogai_jitchi", "2027-01-10", 1.0),
        san(3, "senmon", "2028-01-10", 12.0),
        web(san(4, "senmon", "2028-02-10", 8.0)),
    ];
    let a = assess(req, &webby, &f);
    assert_eq!(line(&a, &LineKey::Total).have, 19 * 2);
    assert!(!a.met);
    // Web 実地 never counts.
    let web_jitchi = vec![
        san(1, "koushin", "2026-01-10", 1.0),
        web(san(2, "shogai_jitchi", "2027-01-10", 1.0)),
        san(3, "senmon", "2028-01-10", 19.0),
    ];
    let a = assess(req, &web_jitchi, &f);
    assert!(!a.met);
    assert_eq!(line(&a, &cat("shogai_jitchi")).have, 0);
    // 5 web units of 更新/専門 are fine.
    let web_ok = vec![
        web(san(1, "koushin", "2026-01-10", 3.0)),
        san(2, "shogai_jitchi", "2027-01-10", 1.0),
        web(san(3, "senmon", "2028-01-10", 2.0)),
        san(4, "senmon", "2028-03-10", 14.0),
    ];
    assert!(assess(req, &web_ok, &f).met);
}

/// 健康スポーツ医: new = 前期 and 後期 courses; renewal = ≥ 5 units of 再研修会 + declaration.
#[test]
fn sports_doctor_table() {
    let p = CertifiedProgramme::SportsDoctor;
    let e = |n, c: &str, date: &str, u: f64| entry(n, p, c, d(date), (u * 2.0) as i64);
    let f = Facts::default();
    let both = vec![
        e(1, "course_zenki", "2025-08-01", 19.0),
        e(2, "course_kouki", "2025-09-01", 20.0),
    ];
    assert!(assess(new_of(p), &both, &f).met);
    let a = assess(new_of(p), &both[..1], &f);
    assert!(!a.met);
    assert!(!line(&a, &LineKey::Course("course_kouki".into())).met());

    let req = renewal_of(p);
    let expiry = d("2030-06-30");
    let declared = Facts {
        window_end: Some(expiry),
        declared_activity: true,
        ..Facts::default()
    };
    let undeclared = Facts {
        declared_activity: false,
        ..declared.clone()
    };
    let five = vec![
        e(1, "saikenshu", "2026-01-01", 3.0),
        e(2, "saikenshu", "2029-01-01", 2.0),
    ];
    assert!(assess(req, &five, &declared).met);
    let a = assess(req, &five, &undeclared);
    assert!(!a.met);
    assert!(!line(&a, &LineKey::Declaration).met());
    let four_half = vec![
        e(1, "saikenshu", "2026-01-01", 3.0),
        e(2, "saikenshu", "2029-01-01", 1.5),
    ];
    assert!(!assess(req, &four_half, &declared).met);
    // Course units are not 再研修会 units.
    let wrong = vec![e(1, "course_zenki", "2026-01-01", 10.0)];
    assert!(!assess(req, &wrong, &declared).met);
}

fn lectures() -> Vec<Lecture> {
    (1..=8)
        .map(|n| Lecture {
            key: format!("L{n}"),
            group: if n <= 6 { Some(n as u8) } else { None },
        })
        .collect()
}

fn kak(n: u128, c: &str, date: &str, u: f64, lecture: Option<&str>) -> ProgrammeEntry {
    let mut e = entry(
        n,
        CertifiedProgramme::Kakaritsuke,
        c,
        d(date),
        (u * 2.0) as i64,
    );
    e.lecture = lecture.map(str::to_owned);
    e
}

/// かかりつけ医機能研修制度: valid CME certificate; ≥ 10 units of designated lectures within 3 years,
/// the same lecture at most twice; Mie's groups ①–⑥; ≥ 2 practical activities of 5 units.
#[test]
fn kakaritsuke_table() {
    let req = new_of(CertifiedProgramme::Kakaritsuke);
    let lects = lectures();
    let today = d("2027-03-01");
    let f = Facts {
        window_end: Some(today),
        cme_certificate_until: Some(d("2028-11-30")),
        lectures: &lects,
        ..Facts::default()
    };
    let mut es: Vec<ProgrammeEntry> = (1..=5)
        .map(|n| {
            let l = format!("L{n}");
            kak(n, "ouyou", "2025-06-01", 2.0, Some(&l))
        })
        .collect();
    es.push(kak(20, "kakari_jitchi", "2025-07-01", 5.0, None));
    es.push(kak(21, "kakari_jitchi", "2025-08-01", 5.0, None));
    assert!(assess(req, &es, &f).met);

    // No valid CME certificate (expired before the day judged, or none).
    let expired = Facts {
        cme_certificate_until: Some(d("2027-02-28")),
        ..f.clone()
    };
    assert!(!assess(req, &es, &expired).met);
    let none = Facts {
        cme_certificate_until: None,
        ..f.clone()
    };
    assert!(!line(&assess(req, &es, &none), &LineKey::CmeCertificate).met());

    // The same lecture a third time does not count.
    let mut repeats: Vec<ProgrammeEntry> = (1..=3)
        .map(|n| kak(n, "ouyou", "2025-06-01", 2.0, Some("L1")))
        .collect();
    repeats.extend((4..=6).map(|n| kak(n, "ouyou", "2025-06-01", 2.0, Some("L2"))));
    repeats.extend(es[5..].iter().cloned());
    let a = assess(req, &repeats, &f);
    assert_eq!(line(&a, &LineKey::Lectures).have, 8 * 2);
    assert!(!a.met);

    // A lecture not designated, and one outside 3 years, do not count.
    let mut odd = es.clone();
    odd[0] = kak(1, "ouyou", "2025-06-01", 2.0, Some("NOT-DESIGNATED"));
    assert!(!assess(req, &odd, &f).met);
    let mut old = es.clone();
    old[0] = kak(1, "ouyou", "2024-03-01", 2.0, Some("L1"));
    assert!(!assess(req, &old, &f).met);

    // An activity worth less than 5 units is not an activity.
    let mut weak = es.clone();
    weak[6] = kak(21, "kakari_jitchi", "2025-08-01", 4.5, None);
    let a = assess(req, &weak, &f);
    assert_eq!(line(&a, &LineKey::Activities).have, 1);
    assert!(!a.met);

    // Mie (P24) requires groups ①–⑥: lectures 1–5 miss group 6.
    let mie = Facts {
        prefecture: Some("P24"),
        ..f.clone()
    };
    let a = assess(req, &es, &mie);
    assert!(!a.met);
    assert!(!line(&a, &LineKey::LectureGroup(6)).met());
    let mut all_groups = es.clone();
    all_groups.push(kak(6, "ouyou", "2025-06-01", 1.0, Some("L6")));
    assert!(assess(req, &all_groups, &mie).met);
    // Tokyo has no group rule.
    let tokyo = Facts {
        prefecture: Some("P13"),
        ..f.clone()
    };
    assert!(assess(req, &es, &tokyo).met);
}

fn cme(n: u128, date: &str, half: i64) -> LedgerEntry {
    LedgerEntry {
        id: Uuid::from_u128(n),
        doctor: Uuid::from_u128(7),
        programme: crate::Programme::JmaCme,
        fiscal_year: crate::FiscalYear::of_date(d(date)),
        date: d(date),
        source: Source::Training,
        catalogue_version: "2016-2022.04".into(),
        code: (n % 80) as u16,
        half_units: HalfUnits::new(half),
        origin_key: format!("c{n}"),
        generation: 0,
        reverses: None,
        rules_version: "t".into(),
        created_by: "t".into(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        note: None,
    }
}

/// かかりつけ医機能報告制度: CME units only (codes unused) + the president's approval.
#[test]
fn kakaritsuke_report_table() {
    let req = new_of(CertifiedProgramme::KakaritsukeReport);
    // Ten 1-unit credits in one code: codes do not matter.
    let es: Vec<LedgerEntry> = (0..10).map(|i| cme(80 * i + 1, "2025-10-01", 2)).collect();
    let f = Facts {
        window_end: Some(d("2026-03-01")),
        cme_entries: &es,
        practical_approved: true,
        ..Facts::default()
    };
    assert!(assess(req, &[], &f).met);
    let unapproved = Facts {
        practical_approved: false,
        ..f.clone()
    };
    assert!(!assess(req, &[], &unapproved).met);
    let nine = &es[..9];
    let short = Facts {
        cme_entries: nine,
        ..f.clone()
    };
    let a = assess(req, &[], &short);
    assert_eq!(line(&a, &LineKey::CmeUnits).missing(), 2);
}

// ---- property tests -------------------------------------------------------------------------

const SAN_CATS: [&str; 6] = [
    "kiso_zenki",
    "kiso_jitchi",
    "kiso_kouki",
    "koushin",
    "shogai_jitchi",
    "senmon",
];

fn arb_san_entries() -> impl Strategy<Value = Vec<ProgrammeEntry>> {
    prop::collection::vec((0usize..6, 0i64..4000, 1i64..12, any::<bool>()), 0..30).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (c, day, half, w))| {
                let date = d("2024-01-01") + Duration::days(day);
                let mut e = entry(
                    i as u128 + 1,
                    CertifiedProgramme::Sangyoui,
                    SAN_CATS[c],
                    date,
                    half,
                );
                e.web_session = w;
                e
            })
            .collect()
    })
}

proptest! {
    /// A unit is never counted in two categories: what counts per category adds up to the
    /// total, and no entry counts for more than it is worth.
    #[test]
    fn a_unit_is_never_counted_twice(es in arb_san_entries(), end_day in 0i64..4000) {
        let end = d("2024-01-01") + Duration::days(end_day);
        let f = Facts { window_end: Some(end), ..Facts::default() };
        for req in [new_of(CertifiedProgramme::Sangyoui), renewal_of(CertifiedProgramme::Sangyoui)] {
            let a = assess(req, &es, &f);
            let cats: i64 = a.lines.iter().filter(|l| matches!(l.key, LineKey::Category(_))).map(|l| l.have).sum();
            let total = line(&a, &LineKey::Total).have;
            // Every counted category has a minimum in the 産業医 files, so the lines cover all.
            prop_assert_eq!(cats, total);
            let counted: i64 = a.counted.values().map(|h| h.get()).sum();
            prop_assert_eq!(counted, total);
            for e in &es {
                if let Some(c) = a.counted.get(&e.id) {
                    prop_assert!(c.get() > 0 && *c <= e.half_units);
                }
            }
        }
    }

    /// Web-session units beyond 5 are not counted, and never in 実地: compared with a naive
    /// model that sums non-web units and adds the web units of 更新/専門 capped at 5.
    #[test]
    fn web_session_units_beyond_five_are_not_counted(es in arb_san_entries(), end_day in 1500i64..4000) {
        let end = d("2024-01-01") + Duration::days(end_day);
        let start = end + Duration::days(1) - Duration::days(0);
        let start = start.checked_sub_months(Months::new(60)).unwrap();
        let in_window = |e: &ProgrammeEntry| e.date >= start && e.date <= end;
        let lifelong = |e: &ProgrammeEntry| ["koushin", "shogai_jitchi", "senmon"].contains(&e.category.as_str());
        let plain: i64 = es.iter().filter(|e| in_window(e) && lifelong(e) && !e.web_session).map(|e| e.half_units.get()).sum();
        let web: i64 = es.iter().filter(|e| in_window(e) && e.web_session && (e.category == "koushin" || e.category == "senmon")).map(|e| e.half_units.get()).sum();
        let naive = plain + web.min(10);
        let f = Facts { window_end: Some(end), ..Facts::default() };
        let a = assess(renewal_of(CertifiedProgramme::Sangyoui), &es, &f);
        prop_assert_eq!(line(&a, &LineKey::Total).have, naive);
        let web_counted: i64 = es.iter().filter(|e| e.web_session).filter_map(|e| a.counted.get(&e.id)).map(|h| h.get()).sum();
        prop_assert!(web_counted <= 10);
    }

    /// The renewal window ends on the expiry date in Japan time: a unit earned at an instant
    /// counts exactly when that instant is before midnight (JST) ending the expiry day, i.e.
    /// before 15:00 UTC of the expiry date, and not before the window's first day in JST.
    #[test]
    fn the_renewal_window_ends_on_the_expiry_date_in_japan_time(
        minutes in -3000i64..3000, from_day in 0i64..3000, at_start in any::<bool>()
    ) {
        // a certificate's expiry: valid from `first_day` for five years, the last day included
        // (an expiry such as 28 Feb 2032, which no five-year validity ends on, is not drawn:
        // the five years ending on it would start on a 29 February that does not exist)
        let valid_from = d("2024-01-01") + Duration::days(from_day);
        let ends = |f: NaiveDate| f.checked_add_months(Months::new(60)).unwrap() - Duration::days(1);
        let expiry = ends(valid_from);
        // 28 and 29 February of a leap year start validities with the same expiry: the window
        // opens on the earlier one (the doctor gets the longer window)
        let day_before = valid_from - Duration::days(1);
        let first_day = if ends(day_before) == expiry { day_before } else { valid_from };
        let expiry_midnight_utc = Utc.from_utc_datetime(&expiry.and_hms_opt(15, 0, 0).unwrap());
        let first_midnight_utc = Utc.from_utc_datetime(&first_day.and_hms_opt(0, 0, 0).unwrap()) - Duration::hours(9);
        let instant = if at_start { first_midnight_utc } else { expiry_midnight_utc } + Duration::minutes(minutes);
        let naive = instant >= first_midnight_utc && instant < expiry_midnight_utc;
        let es = vec![
            san(1, "koushin", "2029-01-01", 1.0),
            san(2, "shogai_jitchi", "2029-01-01", 1.0),
            entry(3, CertifiedProgramme::Sangyoui, "senmon", japan_date(instant), 36),
        ];
        let es: Vec<_> = es.into_iter().map(|mut e| { if e.id != Uuid::from_u128(3) { e.date = expiry; } e }).collect();
        let f = Facts { window_end: Some(expiry), ..Facts::default() };
        let a = assess(renewal_of(CertifiedProgramme::Sangyoui), &es, &f);
        prop_assert_eq!(a.met, naive);
    }

    /// Designated lectures: at most twice each, compared with a naive count.
    #[test]
    fn a_lecture_counts_at_most_twice(picks in prop::collection::vec((1u8..9, 1i64..5), 0..25)) {
        let lects = lectures();
        let es: Vec<ProgrammeEntry> = picks.iter().enumerate().map(|(i, (l, h))| {
            let mut e = entry(i as u128 + 1, CertifiedProgramme::Kakaritsuke, "ouyou", d("2026-01-01") + Duration::days(i as i64), *h);
            e.lecture = Some(format!("L{l}"));
            e
        }).collect();
        let mut seen = std::collections::HashMap::new();
        let mut naive = 0;
        for (l, h) in &picks {
            let n = seen.entry(*l).or_insert(0);
            *n += 1;
            if *n <= 2 { naive += h; }
        }
        let f = Facts { window_end: Some(d("2027-01-01")), cme_certificate_until: Some(d("2028-01-01")), lectures: &lects, ..Facts::default() };
        let a = assess(new_of(CertifiedProgramme::Kakaritsuke), &es, &f);
        prop_assert_eq!(line(&a, &LineKey::Lectures).have, naive);
    }
}
