//! Renders each document and reads it back with poppler and zbar: text, fonts, inked glyphs,
//! the QR code, page counts and byte stability.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod tools;

use chrono::NaiveDate;
use mamis_pdf::{AttendanceLine, Certificate, CodeLine, Document, Holder, PdfError, render};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

const VERIFY: &str = "https://mamis.example.jp/verify/JMA-2026-000123?c=K7Q2M9XR4T";

fn certificate(document: Document) -> Certificate {
    Certificate {
        number: "JMA-2026-000123".to_owned(),
        issued_on: d(2026, 12, 1),
        issuer: "公益社団法人 日本医師会".to_owned(),
        verify_url: VERIFY.to_owned(),
        holder: Holder {
            name: "山田 太郎".to_owned(),
            kana: "ヤマダ タロウ".to_owned(),
            iseki: "123456".to_owned(),
        },
        document,
    }
}

const CODE_NAMES: [&str; 6] = [
    "医師のプロフェッショナリズム",
    "医療倫理：臨床倫理",
    "医療情報",
    "地域医療",
    "感染対策",
    "災害医療",
];

fn annual(codes: usize) -> Certificate {
    certificate(Document::AnnualUnits {
        fiscal_year: 2025,
        half_units: 121,
        codes: (0..codes)
            .map(|i| CodeLine {
                code: i as u16 + 1,
                name: format!("{}{}", CODE_NAMES[i % CODE_NAMES.len()], i + 1),
                half_units: (i as i64 % 3) + 1,
            })
            .collect(),
    })
}

fn cme_certificate() -> Certificate {
    certificate(Document::CmeCertificate {
        from_fy: 2023,
        to_fy: 2025,
        half_units: 92,
        codes: 30,
        valid_until: d(2029, 3, 31),
    })
}

fn attendance(n: usize) -> Certificate {
    certificate(Document::Attendance {
        from: d(2025, 4, 1),
        to: d(2026, 3, 31),
        elearning_only: false,
        lines: (0..n)
            .map(|i| AttendanceLine {
                date: d(2025, 4, 1) + chrono::Duration::days(i as i64 * 3 % 365),
                title: format!("生涯教育講座 症例検討 No.{:03}", i + 1),
                source_label: if i % 2 == 0 {
                    "研修会"
                } else {
                    "e-ラーニング"
                }
                .to_owned(),
                code: (i % 84) as u16,
                half_units: 1 + (i as i64 % 4),
            })
            .collect(),
        attended: n as u32,
    })
}

/// Whether `want` is in `text`, also across wrapped lines (whitespace ignored).
fn contains(text: &str, want: &str) -> bool {
    let collapse = |s: &str| s.split_whitespace().collect::<String>();
    text.contains(want) || collapse(text).contains(&collapse(want))
}

/// Renders and checks what every document shares: text, embedded subset font, ink, QR.
fn read_back(test: &str, c: &Certificate, expected: &[&str]) -> Option<(String, usize)> {
    let pdf = render(c).unwrap();
    if !tools::available(test) {
        return None;
    }
    let scratch = tools::Scratch::new(test);
    let path = scratch.pdf(&pdf);

    let text = tools::text(&path);
    for want in expected.iter().chain(&[
        "山田 太郎",
        "JMA-2026-000123",
        "公益社団法人 日本医師会",
        VERIFY,
    ]) {
        assert!(
            contains(&text, want),
            "{test}: {want:?} missing from text:\n{text}"
        );
    }
    assert!(
        text.contains("2026年12月1日（令和8年12月1日）"),
        "{test}: issue date"
    );
    assert!(text.contains("この証明書の真正性は上記URLで確認できます"));

    let fonts = tools::fonts(&path);
    assert_eq!(fonts.len(), 1, "{test}: one font: {fonts:?}");
    let cols: Vec<&str> = fonts[0].split_whitespace().collect();
    let (name, tail) = (cols[0], &cols[cols.len() - 5..]);
    let (tag, base) = name.split_once('+').unwrap();
    assert!(
        tag.len() == 6 && tag.chars().all(|c| c.is_ascii_uppercase()),
        "{name}"
    );
    assert_eq!(base, "IPAexMincho");
    assert_eq!(
        tail[..3],
        ["yes", "yes", "yes"],
        "{test}: emb sub uni: {}",
        fonts[0]
    );

    let page = tools::raster_gray(&path, &scratch, 100);
    // The 24 pt title around y = 40 mm, and the holder's name at y = 66 mm.
    let title = page.dark_fraction(65.0, 30.0, 80.0, 12.0);
    let name = page.dark_fraction(64.0, 59.0, 40.0, 9.0);
    let margin = page.dark_fraction(15.0, 100.0, 8.0, 100.0);
    let whole = page.dark_fraction(0.0, 0.0, 210.0, 297.0);
    assert!(title > 0.05, "{test}: title not inked ({title})");
    assert!(name > 0.05, "{test}: name not inked ({name})");
    assert!(margin < 0.001, "{test}: margin should be blank ({margin})");
    assert!((0.01..0.5).contains(&whole), "{test}: page ink {whole}");

    assert_eq!(
        tools::qr_codes(&path, &scratch, 150),
        [VERIFY],
        "{test}: QR"
    );
    Some((text, tools::pages(&path)))
}

#[test]
fn annual_units_reads_back() {
    read_back(
        "annual",
        &annual(12),
        &[
            "学習単位取得証",
            "2025年度（令和7年度）",
            "60.5",
            "医師のプロフェッショナリズム1",
            "災害医療12",
            "ヤマダ タロウ",
            "123456",
        ],
    );
}

#[test]
fn annual_units_with_84_codes_continues_on_a_second_page() {
    let Some((text, pages)) = read_back("annual84", &annual(84), &["学習単位取得証"]) else {
        return;
    };
    assert!(pages >= 2, "{pages} pages");
    for i in 0..84 {
        let name = format!("{}{}", CODE_NAMES[i % CODE_NAMES.len()], i + 1);
        assert!(text.contains(&name), "{name} missing");
    }
    assert!(text.contains("学習単位取得証（続き）"));
    assert!(contains(&text, &format!("1 / {pages}")));
}

#[test]
fn cme_certificate_reads_back() {
    read_back(
        "certificate",
        &cme_certificate(),
        &[
            "日医生涯教育認定証",
            "2023年度から2025年度までの3年間",
            "合計76.0",
            "46.0 単位",
            "2029年3月31日（令和11年3月31日）",
            "有効期限",
        ],
    );
}

#[test]
fn attendance_reads_back() {
    read_back(
        "attendance",
        &attendance(5),
        &[
            "受講証明書",
            "2025年4月1日（令和7年4月1日）",
            "2026年3月31日（令和8年3月31日）",
            "生涯教育講座 症例検討 No.005",
            "e-ラーニング",
            "日医雑誌の問題解答による単位を除く",
        ],
    );
}

#[test]
fn attendance_with_120_lines_paginates() {
    let Some((text, pages)) = read_back("attendance120", &attendance(120), &["受講証明書"])
    else {
        return;
    };
    assert!(pages > 1, "{pages} pages");
    for i in 1..=120 {
        let title = format!("生涯教育講座 症例検討 No.{i:03}");
        assert!(text.contains(&title), "{title} missing");
    }
    assert!(text.contains("受講証明書（続き）"));
    for p in 1..=pages {
        assert!(contains(&text, &format!("{p} / {pages}")), "folio {p}");
    }
    // Units: 120 lines of 1..=4 half units → 300 half units.
    assert!(contains(&text, "120 件 合計 150.0 単位"), "total");
}

#[test]
fn same_input_same_bytes_and_different_input_different_bytes() {
    for c in [annual(20), cme_certificate(), attendance(60)] {
        let a = render(&c).unwrap();
        assert_eq!(a, render(&c).unwrap());
        let mut other = c.clone();
        other.holder.name = "山田 花子".to_owned();
        assert_ne!(a, render(&other).unwrap());
        let mut later = c.clone();
        later.issued_on = d(2026, 12, 2);
        assert_ne!(a, render(&later).unwrap());
    }
}

#[test]
fn pdf_a_metadata_comes_from_the_input() {
    let c = cme_certificate();
    let pdf = render(&c).unwrap();
    let xmp = String::from_utf8_lossy(&pdf);
    assert!(
        xmp.contains("<pdfaid:part>2</pdfaid:part>"),
        "PDF/A-2 identification"
    );
    assert!(xmp.contains("<pdfaid:conformance>B</pdfaid:conformance>"));
    if !tools::available("metadata") {
        return;
    }
    let scratch = tools::Scratch::new("metadata");
    let info = tools::info(&scratch.pdf(&pdf));
    assert!(
        info.contains("日医生涯教育認定証 JMA-2026-000123"),
        "{info}"
    );
    assert!(info.contains("2026"), "{info}");
    assert!(info.contains("595.276 x 841.89 pts (A4)"), "{info}");
}

#[test]
fn rare_kanji_print_and_missing_ones_are_refused() {
    let mut c = cme_certificate();
    c.holder.name = "髙橋 德子".to_owned();
    if let Some((text, _)) = read_back_name("rare", &c) {
        assert!(text.contains("髙橋 德子"), "{text}");
    }

    // No font has an emoji: refused with the field, never printed as a blank box.
    c.holder.name = "𠮷田 😀".to_owned();
    match render(&c) {
        Err(PdfError::MissingGlyph { field, ch }) => {
            assert_eq!((field, ch), ("氏名", '😀'));
        }
        other => panic!("expected MissingGlyph, got {other:?}"),
    }
    let mut a = attendance(3);
    if let Document::Attendance { lines, .. } = &mut a.document {
        lines[1].title = "𠮷野家セミナー\u{1F600}".to_owned();
    }
    assert!(matches!(
        render(&a),
        Err(PdfError::MissingGlyph {
            field: "研修名",
            ch: '\u{1F600}'
        })
    ));
}

/// The fonts `pdffonts` lists for `pdf`, and whether every one is embedded and subset.
fn fonts_of(path: &std::path::Path) -> (Vec<String>, bool) {
    let fonts = tools::fonts(path);
    let all = !fonts.is_empty()
        && fonts.iter().all(|l| {
            // name type encoding emb sub uni object ID
            let cols: Vec<&str> = l.split_whitespace().collect();
            let n = cols.len();
            n >= 7 && cols[n - 5] == "yes" && cols[n - 4] == "yes" && l.contains('+')
        });
    (fonts, all)
}

#[test]
fn names_outside_ipaex_print_with_the_fallback_font() {
    // 𠮷 is not in IPAex; 髙 is; both fonts end up embedded and subset.
    let mut c = cme_certificate();
    c.holder.name = "𠮷田 髙橋".to_owned();
    c.holder.kana = "ヨシダ タカハシ".to_owned();
    let pdf = render(&c).unwrap();
    assert_eq!(
        render(&c).unwrap(),
        pdf,
        "still reproducible with two fonts"
    );
    if !tools::available("fallback") {
        return;
    }
    let scratch = tools::Scratch::new("fallback");
    let path = scratch.pdf(&pdf);
    let text = tools::text(&path);
    assert!(text.contains("𠮷田 髙橋"), "{text}");
    let (fonts, all) = fonts_of(&path);
    assert!(all, "{fonts:?}");
    assert!(fonts.iter().any(|l| l.contains("IPAexMincho")), "{fonts:?}");
    assert!(fonts.iter().any(|l| l.contains("IPAmjMincho")), "{fonts:?}");
}

#[test]
fn variation_sequences_are_kept() {
    // 渡邉󠄀 with IVS U+E0100 (drawn by IPAmj, the selector kept in the text) and 﨑 with
    // U+E0102, a form only IPAmj has; 山 and the plain 﨑 stay with IPAex.
    let mut c = cme_certificate();
    c.holder.name = "山﨑 渡邉\u{E0100}".to_owned();
    let pdf = render(&c).unwrap();
    if let Some((text, _)) = read_back_name("ivs-mj", &{
        let mut c = c.clone();
        c.holder.name = "山﨑\u{E0102} 渡邉\u{E0110}".to_owned();
        c
    }) {
        assert!(text.contains("山﨑\u{E0102} 渡邉\u{E0110}"), "{text}");
    }
    if !tools::available("ivs") {
        return;
    }
    let scratch = tools::Scratch::new("ivs");
    let path = scratch.pdf(&pdf);
    let text = tools::text(&path);
    assert!(text.contains("山﨑 渡邉"), "{text}");
    assert!(
        text.contains("渡邉\u{E0100}"),
        "the selector is kept in the text: {:?}",
        text.lines().find(|l| l.contains("渡邉"))
    );
    assert!(
        !text.contains("﨑\u{E0100}"),
        "no selector invented: {text}"
    );
    let (fonts, all) = fonts_of(&path);
    assert!(all, "{fonts:?}");
    assert!(fonts.iter().any(|l| l.contains("IPAexMincho")), "{fonts:?}");
    assert!(fonts.iter().any(|l| l.contains("IPAmjMincho")), "{fonts:?}");
}

/// Text of a document whose holder name differs from the fixture.
fn read_back_name(test: &str, c: &Certificate) -> Option<(String, usize)> {
    let pdf = render(c).unwrap();
    if !tools::available(test) {
        return None;
    }
    let scratch = tools::Scratch::new(test);
    let path = scratch.pdf(&pdf);
    Some((tools::text(&path), tools::pages(&path)))
}

#[test]
fn periods_that_cannot_be_certified_are_refused() {
    // A period ending after the issue date.
    let mut c = attendance(2);
    if let Document::Attendance { to, .. } = &mut c.document {
        *to = d(2026, 12, 2);
    }
    assert!(matches!(render(&c), Err(PdfError::Invalid(_))));
    // A line outside its period.
    let mut c = attendance(2);
    if let Document::Attendance { lines, .. } = &mut c.document {
        lines[0].date = d(2025, 3, 31);
    }
    assert!(matches!(render(&c), Err(PdfError::Invalid(_))));
    // A window that ends before it starts.
    let mut c = cme_certificate();
    if let Document::CmeCertificate { to_fy, .. } = &mut c.document {
        *to_fy = 2022;
    }
    assert!(matches!(render(&c), Err(PdfError::Invalid(_))));
}

#[test]
fn a_long_verification_url_still_prints_whole_and_decodes() {
    let mut c = annual(3);
    let url = format!(
        "https://verify.certificates.prefecture-medical-association.example.jp/verify/{}?c={}",
        "JMA-2026-000123-ABCDEFGHIJ", "Q7M2K9XR4TZ8P3W6N5B1V0C4D7F2G9H8"
    );
    c.verify_url = url.clone();
    let pdf = render(&c).unwrap();
    if !tools::available("long-url") {
        return;
    }
    let scratch = tools::Scratch::new("long-url");
    let path = scratch.pdf(&pdf);
    let text: String = tools::text(&path).split_whitespace().collect();
    assert!(text.contains(&url), "URL not printed whole:\n{text}");
    assert_eq!(tools::qr_codes(&path, &scratch, 200), [url]);
}

/// 受講件数 prints the attendances the caller counted, not the lines: a session's three code
/// lines and one e-learning content are 2 attendances; a count the lines cannot hold is refused.
#[test]
fn the_attendance_count_is_the_callers_not_the_lines() {
    let mut c = attendance(4);
    if let Document::Attendance {
        lines, attended, ..
    } = &mut c.document
    {
        for l in lines.iter_mut().take(3) {
            l.title = "学術講演会「高血圧」".to_owned();
            l.date = d(2025, 6, 1);
            l.source_label = "研修会".to_owned();
        }
        *attended = 2;
    }
    for bad in [0, 5] {
        let mut wrong = c.clone();
        if let Document::Attendance { attended, .. } = &mut wrong.document {
            *attended = bad;
        }
        assert!(
            matches!(render(&wrong), Err(PdfError::Invalid(_))),
            "{bad} attendances for 4 lines"
        );
    }
    if let Some((text, _)) = read_back_name("attended", &c) {
        // units: 1 + 2 + 3 + 4 half units = 5.0
        assert!(contains(&text, "2 件 合計 5.0 単位"), "{text}");
        assert!(!contains(&text, "4 件"), "{text}");
    }
}

#[test]
fn an_empty_table_says_so() {
    let c = attendance(0);
    if let Some((text, pages)) = read_back_name("empty", &c) {
        assert_eq!(pages, 1);
        assert!(text.contains("該当する受講記録はありません"));
        assert!(contains(&text, "0 件 合計 0.0 単位"));
    }
}

#[test]
fn a_long_title_wraps_inside_its_cell() {
    let mut c = attendance(3);
    let long = "日本医師会生涯教育講座「地域包括ケアシステムにおける在宅医療と多職種連携の実践：症例から学ぶ退院支援と看取りの質の向上」";
    if let Document::Attendance { lines, .. } = &mut c.document {
        lines[1].title = long.to_owned();
    }
    if let Some((text, pages)) = read_back_name("long-title", &c) {
        assert_eq!(pages, 1);
        let collapsed: String = text.split_whitespace().collect();
        assert!(
            collapsed.contains("日本医師会生涯教育講座「地域包括ケア"),
            "{text}"
        );
        assert!(collapsed.contains("看取りの質の向上」"), "{text}");
        assert!(contains(&text, "生涯教育講座 症例検討 No.003"));
    }
}
