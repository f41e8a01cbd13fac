//! Where everything goes on the page: the first page (title, holder, statement, details,
//! issue block with the QR code) and continuation pages for long tables.

use chrono::Datelike;
use krilla::metadata::{DateTime, Metadata};

use crate::typeset::{
    Align, Breaks, Fit, PAGE_H, PAGE_W, Page, check_glyphs, fit_size, measure, mm, wrap,
};
use crate::wareki::{date_ja, date_short, fiscal_year_ja, units_text};
use crate::{Certificate, Document, PdfError, qr};

/// Content edges (the frame sits at 12 mm).
const LEFT: f32 = 25.0;
const RIGHT: f32 = 185.0;
/// Label and value columns of the holder block and the details.
const LABEL_X: f32 = 32.0;
const VALUE_X: f32 = 75.0;
/// Page 1 tables stop here, above the issue block and the QR code's quiet zone.
const FIRST_TABLE_BOTTOM: f32 = 214.0;
/// Table area of continuation pages.
const NEXT_TABLE_TOP: f32 = 38.0;
const NEXT_TABLE_BOTTOM: f32 = 272.0;
/// Issue block and QR code (30 mm square, bottom right).
const QR_SIZE: f32 = 30.0;
const QR_TOP: f32 = 222.0;
/// Page numbers, inside the frame.
const FOLIO_Y: f32 = 281.0;

/// 学習単位取得証 / 日医生涯教育認定証 / 受講証明書.
fn title(d: &Document) -> &str {
    match d {
        Document::AnnualUnits { .. } => "学習単位取得証",
        Document::CmeCertificate { .. } => "日医生涯教育認定証",
        Document::ProgrammeRecord { title, .. } => title,
        Document::Attendance { .. } => "受講証明書",
    }
}

/// Rejects input that cannot be printed or certified, before any layout work.
pub(crate) fn check(c: &Certificate) -> Result<(), PdfError> {
    for (field, value, empty) in [
        ("氏名", &c.holder.name, "the holder name is empty"),
        ("証明書番号", &c.number, "the certificate number is empty"),
        ("発行者", &c.issuer, "the issuer is empty"),
        ("検証URL", &c.verify_url, "the verification URL is empty"),
    ] {
        if value.trim().is_empty() {
            return Err(PdfError::Invalid(empty));
        }
        check_glyphs(field, value)?;
    }
    check_glyphs("フリガナ", &c.holder.kana)?;
    check_glyphs("医籍登録番号", &c.holder.iseki)?;
    match &c.document {
        Document::AnnualUnits { codes, .. } => {
            for line in codes {
                check_glyphs("カリキュラムコード名", &line.name)?;
            }
        }
        Document::CmeCertificate { from_fy, to_fy, .. } => {
            if from_fy > to_fy {
                return Err(PdfError::Invalid(
                    "the certificate window ends before it starts",
                ));
            }
        }
        Document::ProgrammeRecord {
            title,
            programme,
            valid_from,
            valid_until,
            ..
        } => {
            check_glyphs("表題", title)?;
            check_glyphs("制度", programme)?;
            if valid_from > valid_until {
                return Err(PdfError::Invalid("the validity ends before it starts"));
            }
        }
        Document::Attendance {
            from,
            to,
            lines,
            attended,
            ..
        } => {
            let count = usize::try_from(*attended).unwrap_or(usize::MAX);
            if count > lines.len() || (count == 0 && !lines.is_empty()) {
                return Err(PdfError::Invalid(
                    "the attendance count must be between one and the number of records",
                ));
            }
            if from > to {
                return Err(PdfError::Invalid(
                    "the attendance period ends before it starts",
                ));
            }
            if *to > c.issued_on {
                return Err(PdfError::Invalid(
                    "the attendance period must end on or before the issue date",
                ));
            }
            for line in lines {
                if line.date < *from || line.date > *to {
                    return Err(PdfError::Invalid(
                        "an attendance line lies outside the certified period",
                    ));
                }
                check_glyphs("研修名", &line.title)?;
                check_glyphs("区分", &line.source_label)?;
            }
        }
    }
    Ok(())
}

/// Title, language, author and dates from the input only, so the bytes are reproducible.
pub(crate) fn metadata(c: &Certificate) -> Result<Metadata, PdfError> {
    let year = u16::try_from(c.issued_on.year())
        .map_err(|_| PdfError::Invalid("the issue date is out of range"))?;
    // Month and day come from a valid date, so they fit in u8.
    let (month, day) = (c.issued_on.month() as u8, c.issued_on.day() as u8);
    let date = DateTime::new(year)
        .month(month)
        .day(day)
        .hour(0)
        .minute(0)
        .second(0)
        .utc_offset_hour(9)
        .utc_offset_minute(0);
    Ok(Metadata::new()
        .title(format!("{} {}", title(&c.document), c.number))
        .language("ja".to_owned())
        .authors(vec![c.issuer.clone()])
        .creator("MAMIS".to_owned())
        .creation_date(date)
        .document_id(c.number.clone()))
}

/// All pages of the document, page numbers included.
pub(crate) fn compose(c: &Certificate) -> Result<Vec<Page>, PdfError> {
    let mut first = Page::default();
    frame(&mut first);
    first.text_fit(
        mm(RIGHT),
        mm(22.0),
        Fit {
            size: 9.0,
            min: 6.0,
            max_w: mm(100.0),
        },
        Align::Right,
        &format!("証明書番号　{}", c.number),
    )?;
    first.text(
        PAGE_W / 2.0,
        mm(40.0),
        24.0,
        Align::Center,
        title(&c.document),
    )?;
    if let Document::AnnualUnits { fiscal_year, .. } = &c.document {
        first.text(
            PAGE_W / 2.0,
            mm(50.0),
            13.0,
            Align::Center,
            &fiscal_year_ja(*fiscal_year),
        )?;
    }
    let mut y = holder_block(&mut first, c, mm(66.0))?;
    y = paragraph(&mut first, &statement(&c.document), y + mm(8.0))?;
    y = details(&mut first, &c.document, y + mm(5.0))?;
    issue_block(&mut first, c)?;

    let mut pages = vec![first];
    if let Some(table) = table(&c.document) {
        place_table(&mut pages, &table, y + mm(4.0), c)?;
    }
    let n = pages.len();
    for (i, page) in pages.iter_mut().enumerate() {
        page.text(
            PAGE_W / 2.0,
            mm(FOLIO_Y),
            8.0,
            Align::Center,
            &format!("{} / {}", i + 1, n),
        )?;
    }
    Ok(pages)
}

/// A double rule around the page, as on printed certificates.
fn frame(page: &mut Page) {
    for (inset, weight) in [(mm(12.0), 1.2), (mm(13.6), 0.4)] {
        let (x0, y0, x1, y1) = (inset, inset, PAGE_W - inset, PAGE_H - inset);
        page.rect(
            x0 - weight / 2.0,
            y0 - weight / 2.0,
            x1 - x0 + weight,
            weight,
            0,
        );
        page.rect(
            x0 - weight / 2.0,
            y1 - weight / 2.0,
            x1 - x0 + weight,
            weight,
            0,
        );
        page.rect(x0 - weight / 2.0, y0, weight, y1 - y0, 0);
        page.rect(x1 - weight / 2.0, y0, weight, y1 - y0, 0);
    }
}

/// 氏名, フリガナ, 医籍登録番号 with underlined values; returns the y below the block.
fn holder_block(page: &mut Page, c: &Certificate, top: f32) -> Result<f32, PdfError> {
    let rows = [
        ("氏名", c.holder.name.as_str(), 17.0),
        ("フリガナ", c.holder.kana.as_str(), 10.5),
        ("医籍登録番号", c.holder.iseki.as_str(), 11.0),
    ];
    let mut y = top;
    for (label, value, size) in rows {
        page.text(mm(LABEL_X), y, 10.0, Align::Left, label)?;
        page.text_fit(
            mm(VALUE_X - 10.0),
            y,
            Fit {
                size,
                min: 8.0,
                max_w: mm(RIGHT - VALUE_X),
            },
            Align::Left,
            value,
        )?;
        page.hrule(mm(VALUE_X - 12.0), mm(RIGHT - 10.0), y + 4.0, 0.5, 0);
        y += mm(10.0);
    }
    Ok(y)
}

/// The sentence that says what is certified.
fn statement(d: &Document) -> String {
    match d {
        Document::AnnualUnits { fiscal_year, .. } => format!(
            "あなたは日本医師会生涯教育制度において、{}に下記のとおり学習単位を取得したことを証します。",
            fiscal_year_ja(*fiscal_year)
        ),
        Document::CmeCertificate {
            from_fy,
            to_fy,
            half_units,
            codes,
            ..
        } => format!(
            "あなたは日本医師会生涯教育制度において、{from_fy}年度から{to_fy}年度までの{}年間に取得単位数とカリキュラムコード数の合計{}を修め、認定基準を満たしたことを証します。",
            to_fy - from_fy + 1,
            units_text(half_units + 2 * i64::from(*codes))
        ),
        Document::ProgrammeRecord {
            programme,
            record_only: true,
            ..
        } => format!(
            "上記の者が{programme}として認定されていることの記録です。認定証は日本医師会が紙で交付します。この書面は認定証そのものではありません。"
        ),
        Document::ProgrammeRecord { programme, .. } => {
            format!("あなたは{programme}の要件を満たしたことを証します。")
        }
        Document::Attendance { from, to, .. } => format!(
            "上記の者が、{}から{}までの期間に、日本医師会生涯教育制度において下記のとおり受講したことを証明します。",
            date_short(*from),
            date_short(*to)
        ),
    }
}

/// A wrapped paragraph across the content width; returns the y below it.
fn paragraph(page: &mut Page, text: &str, top: f32) -> Result<f32, PdfError> {
    let size = 11.5;
    let line_h = 20.0;
    let mut y = top;
    for line in wrap(text, size, mm(RIGHT - LABEL_X - 7.0), Breaks::Prose)? {
        page.text(mm(LABEL_X), y, size, Align::Left, &line)?;
        y += line_h;
    }
    Ok(y)
}

/// The label/value lines under the statement; returns the y below them.
fn details(page: &mut Page, d: &Document, top: f32) -> Result<f32, PdfError> {
    let rows: Vec<(&str, String)> = match d {
        Document::AnnualUnits {
            fiscal_year,
            half_units,
            codes,
        } => vec![
            ("対象年度", fiscal_year_ja(*fiscal_year)),
            ("取得単位数", format!("{} 単位", units_text(*half_units))),
            ("カリキュラムコード数", codes.len().to_string()),
        ],
        Document::CmeCertificate {
            from_fy,
            to_fy,
            half_units,
            codes,
            valid_until,
        } => vec![
            (
                "認定期間",
                format!("{} 〜 {}", fiscal_year_ja(*from_fy), fiscal_year_ja(*to_fy)),
            ),
            ("取得単位数", format!("{} 単位", units_text(*half_units))),
            ("カリキュラムコード数", codes.to_string()),
            ("合計", units_text(half_units + 2 * i64::from(*codes))),
            ("有効期限", date_ja(*valid_until)),
        ],
        Document::ProgrammeRecord {
            programme,
            valid_from,
            valid_until,
            record_only,
            ..
        } => vec![
            ("制度", programme.clone()),
            (
                "有効期間",
                format!("{} 〜 {}", date_ja(*valid_from), date_ja(*valid_until)),
            ),
            ("有効期限", date_ja(*valid_until)),
            (
                "書面の種類",
                if *record_only {
                    "認定の記録（認定証ではありません）".to_owned()
                } else {
                    "認定証".to_owned()
                },
            ),
        ],
        Document::Attendance {
            from,
            to,
            elearning_only,
            lines,
            attended,
        } => vec![
            (
                "証明期間",
                format!("{} 〜 {}", date_ja(*from), date_ja(*to)),
            ),
            (
                "対象",
                if *elearning_only {
                    "日本医師会 e-ラーニングによる受講のみ".to_owned()
                } else {
                    "記録されたすべての受講（日医雑誌の問題解答による単位を除く）".to_owned()
                },
            ),
            (
                "受講件数・単位数",
                format!(
                    "{} 件　合計 {} 単位",
                    attended,
                    units_text(lines.iter().map(|l| l.half_units).sum())
                ),
            ),
        ],
    };
    let mut y = top;
    for (label, value) in rows {
        page.text(mm(LABEL_X), y, 10.0, Align::Left, label)?;
        page.text_fit(
            mm(VALUE_X),
            y,
            Fit {
                size: 11.0,
                min: 7.0,
                max_w: mm(RIGHT - VALUE_X),
            },
            Align::Left,
            &value,
        )?;
        y += mm(7.5);
    }
    Ok(y)
}

/// 発行日, issuer, and the QR code with its URL and the verification note (page 1 only).
fn issue_block(page: &mut Page, c: &Certificate) -> Result<(), PdfError> {
    page.text(mm(LABEL_X), mm(232.0), 10.0, Align::Left, "発行日")?;
    page.text(
        mm(LABEL_X + 16.0),
        mm(232.0),
        10.5,
        Align::Left,
        &date_ja(c.issued_on),
    )?;
    page.text_fit(
        mm(LABEL_X),
        mm(246.0),
        Fit {
            size: 15.0,
            min: 9.0,
            max_w: mm(RIGHT - QR_SIZE - LABEL_X - 8.0),
        },
        Align::Left,
        &c.issuer,
    )?;

    let qr_x = mm(RIGHT - QR_SIZE);
    qr::draw(page, &c.verify_url, qr_x, mm(QR_TOP), mm(QR_SIZE))?;
    // The URL is printed under the QR code, right-aligned, shrunk and then wrapped to fit.
    let max_w = mm(RIGHT - LEFT - 40.0);
    let size = fit_size(&c.verify_url, 7.0, 5.5, max_w)?;
    let mut y = mm(QR_TOP + QR_SIZE + 5.0);
    let lines = if measure(&c.verify_url, size)? > max_w {
        wrap(&c.verify_url, size, max_w, Breaks::Anywhere)?
    } else {
        vec![c.verify_url.clone()]
    };
    for line in lines {
        page.text(mm(RIGHT), y, size, Align::Right, &line)?;
        y += size * 1.3;
    }
    page.text(
        mm(RIGHT),
        y + 2.0,
        7.5,
        Align::Right,
        "この証明書の真正性は上記URLで確認できます",
    )?;
    Ok(())
}

/// One table column: header, width in mm, alignment.
struct Column {
    header: &'static str,
    width: f32,
    align: Align,
}

/// A table that may run over several pages, `blocks` side by side per page.
struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
    blocks: usize,
    empty: &'static str,
}

fn table(d: &Document) -> Option<Table> {
    match d {
        Document::AnnualUnits { codes, .. } => Some(Table {
            columns: vec![
                Column {
                    header: "コード",
                    width: 12.0,
                    align: Align::Center,
                },
                Column {
                    header: "カリキュラムコード名",
                    width: 50.0,
                    align: Align::Left,
                },
                Column {
                    header: "単位",
                    width: 15.0,
                    align: Align::Right,
                },
            ],
            rows: codes
                .iter()
                .map(|l| vec![l.code.to_string(), l.name.clone(), units_text(l.half_units)])
                .collect(),
            // Up to 84 codes: two blocks keep most years on one or two pages.
            blocks: 2,
            empty: "取得したカリキュラムコードはありません",
        }),
        Document::CmeCertificate { .. } | Document::ProgrammeRecord { .. } => None,
        Document::Attendance { lines, .. } => Some(Table {
            columns: vec![
                Column {
                    header: "受講日",
                    width: 27.0,
                    align: Align::Left,
                },
                Column {
                    header: "研修名",
                    width: 86.0,
                    align: Align::Left,
                },
                Column {
                    header: "区分",
                    width: 21.0,
                    align: Align::Center,
                },
                Column {
                    header: "コード",
                    width: 12.0,
                    align: Align::Center,
                },
                Column {
                    header: "単位",
                    width: 14.0,
                    align: Align::Right,
                },
            ],
            rows: lines
                .iter()
                .map(|l| {
                    vec![
                        date_short(l.date),
                        l.title.clone(),
                        l.source_label.clone(),
                        l.code.to_string(),
                        units_text(l.half_units),
                    ]
                })
                .collect(),
            blocks: 1,
            empty: "該当する受講記録はありません",
        }),
    }
}

const CELL_SIZE: f32 = 9.0;
const CELL_MIN: f32 = 7.0;
const CELL_PAD: f32 = 4.0;
const ROW_H: f32 = 14.0;
const LINE_H: f32 = 10.0;
const HEADER_H: f32 = 15.0;

/// A cell as it will be drawn: its lines and font size.
struct Cell {
    lines: Vec<String>,
    size: f32,
}

/// Shrinks a cell to fit its column, down to `CELL_MIN`, then wraps it.
fn cell(text: &str, width: f32) -> Result<Cell, PdfError> {
    let avail = width - 2.0 * CELL_PAD;
    let size = fit_size(text, CELL_SIZE, CELL_MIN, avail)?;
    let lines = if measure(text, size)? > avail {
        wrap(text, size, avail, Breaks::Prose)?
    } else {
        vec![text.to_owned()]
    };
    Ok(Cell { lines, size })
}

/// Lays the table out from `top` on page 1, continuing on new pages with a repeated header.
fn place_table(
    pages: &mut Vec<Page>,
    table: &Table,
    top: f32,
    c: &Certificate,
) -> Result<(), PdfError> {
    let block_w: f32 = table.columns.iter().map(|col| mm(col.width)).sum();
    let gutter = if table.blocks > 1 {
        (mm(RIGHT - LEFT) - block_w * table.blocks as f32) / (table.blocks - 1) as f32
    } else {
        0.0
    };
    if table.rows.is_empty() {
        if let Some(first) = pages.first_mut() {
            first.text(mm(LABEL_X), top + 10.0, 10.0, Align::Left, table.empty)?;
        }
        return Ok(());
    }

    let mut page_top = top;
    let mut bottom = mm(FIRST_TABLE_BOTTOM);
    let mut block = 0;
    let mut y = page_top;
    let mut header_drawn = false;
    for row in &table.rows {
        let cells = row
            .iter()
            .zip(&table.columns)
            .map(|(text, col)| cell(text, mm(col.width)))
            .collect::<Result<Vec<_>, _>>()?;
        let lines = cells.iter().map(|c| c.lines.len()).max().unwrap_or(1);
        let h = ROW_H + (lines.saturating_sub(1)) as f32 * LINE_H;
        loop {
            let fresh = !header_drawn;
            let needed = h + if header_drawn { 0.0 } else { HEADER_H };
            // A row taller than an empty block is drawn anyway rather than looping forever.
            let empty_block = y <= page_top;
            if y + needed <= bottom || (fresh && empty_block && pages.len() > 1) {
                break;
            }
            block += 1;
            if block == table.blocks {
                block = 0;
                pages.push(continuation(c)?);
                page_top = mm(NEXT_TABLE_TOP);
                bottom = mm(NEXT_TABLE_BOTTOM);
            }
            y = page_top;
            header_drawn = false;
        }
        let x = mm(LEFT) + block as f32 * (block_w + gutter);
        let Some(page) = pages.last_mut() else {
            return Ok(());
        };
        if !header_drawn {
            page.rect(x, y, block_w, HEADER_H, 225);
            page.hrule(x, x + block_w, y, 0.6, 0);
            page.hrule(x, x + block_w, y + HEADER_H, 0.6, 0);
            let mut cx = x;
            for col in &table.columns {
                page.text(
                    cx + mm(col.width) / 2.0,
                    y + 10.5,
                    8.5,
                    Align::Center,
                    col.header,
                )?;
                cx += mm(col.width);
            }
            y += HEADER_H;
            header_drawn = true;
        }
        let mut cx = x;
        for (cell, col) in cells.iter().zip(&table.columns) {
            let w = mm(col.width);
            let ax = match col.align {
                Align::Left => cx + CELL_PAD,
                Align::Center => cx + w / 2.0,
                Align::Right => cx + w - CELL_PAD,
            };
            for (k, line) in cell.lines.iter().enumerate() {
                page.text(ax, y + 10.0 + k as f32 * LINE_H, cell.size, col.align, line)?;
            }
            cx += w;
        }
        y += h;
        page.hrule(x, x + block_w, y, 0.3, 150);
    }
    Ok(())
}

/// A new page for a table's continuation: frame, title with （続き）, holder and number.
fn continuation(c: &Certificate) -> Result<Page, PdfError> {
    let mut page = Page::default();
    frame(&mut page);
    page.text(
        PAGE_W / 2.0,
        mm(24.0),
        13.0,
        Align::Center,
        &format!("{}（続き）", title(&c.document)),
    )?;
    page.text_fit(
        PAGE_W / 2.0,
        mm(31.0),
        Fit {
            size: 9.0,
            min: 6.0,
            max_w: mm(RIGHT - LEFT),
        },
        Align::Center,
        &format!("氏名　{}　　証明書番号　{}", c.holder.name, c.number),
    )?;
    Ok(page)
}
