//! Text and rectangles on A4 pages: the embedded font, shaping and measuring, line breaking
//! with kinsoku, and writing the pages out with krilla.
//!
//! Pages are first built as display lists ([`Page`]) so that the layout knows the page count
//! (for "1 / 3") before anything is written.

use std::sync::LazyLock;

use krilla::color::luma;
use krilla::configure::{Archival, ConfigurationBuilder};
use krilla::geom::{PathBuilder, Point, Rect, Size};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::{Data, Document, SerializeSettings};

use crate::PdfError;

/// IPAex Mincho 004.01 (IPA Font License v1.0, see assets/fonts/): the main face, used for
/// every character it has.
static FONT_DATA: &[u8] = include_bytes!("../../../assets/fonts/ipaexm.ttf");

/// IPAmj Mincho 005.01 (IPA Font License v1.0, see assets/fonts/): the fallback for name
/// characters IPAex lacks (𠮷, JIS X 0213 plane 2, MJ characters) and for ideographic variation
/// sequences (渡邉󠄀) IPAex cannot draw; subset like the main face.
static FALLBACK_DATA: &[u8] = include_bytes!("../../../assets/fonts/ipamjm.ttf");

/// One face parsed for shaping and for krilla.
struct Face {
    pdf: Font,
    face: rustybuzz::Face<'static>,
    /// Every line is shaped as Han script, left to right: Japanese with Latin digits needs
    /// nothing script-specific from these fonts, and one plan keeps shaping uniform.
    plan: rustybuzz::ShapePlan,
}

impl Face {
    fn load(data: &'static [u8]) -> Option<Face> {
        let face = rustybuzz::Face::from_slice(data, 0)?;
        let plan = rustybuzz::ShapePlan::new(
            &face,
            rustybuzz::Direction::LeftToRight,
            Some(rustybuzz::script::HAN),
            None,
            &[],
        );
        Some(Face {
            pdf: Font::new(Data::from(data), 0)?,
            face,
            plan,
        })
    }

    /// Whether this face draws `ch` followed by the variation selector `vs`, if any.
    fn draws(&self, ch: char, vs: Option<char>) -> bool {
        match vs {
            Some(vs) => self.face.glyph_variation_index(ch, vs).is_some(),
            None => self.face.glyph_index(ch).is_some(),
        }
    }
}

/// Parsed once per process: krilla hashes the whole font when it is loaded, and compiling a
/// shaping plan per line would cost a sixth of the render time.
struct Fonts {
    /// [main, fallback], indexed by [`Segment::font`].
    faces: [Face; 2],
}

static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    Some(Fonts {
        faces: [Face::load(FONT_DATA)?, Face::load(FALLBACK_DATA)?],
    })
});

fn fonts() -> Result<&'static Fonts, PdfError> {
    FONTS.as_ref().ok_or(PdfError::Font)
}

/// Variation selectors (standardised and ideographic), which belong to the character before.
fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Which face draws the character `ch` (with its variation selector `vs`): the main face when
/// it has that exact form, else the fallback; a sequence neither face knows (渡邉 with U+E0100
/// is in neither cmap) is drawn as its base character by the fallback, the face made for
/// registered name forms, else by the main face — the selector is kept in the text either way;
/// `None` when no face has `ch`.
fn face_for(fonts: &Fonts, ch: char, vs: Option<char>) -> Option<usize> {
    let [main, fallback] = &fonts.faces;
    if main.draws(ch, vs) {
        Some(0)
    } else if fallback.draws(ch, vs) || (vs.is_some() && fallback.draws(ch, None)) {
        Some(1)
    } else if vs.is_some() && main.draws(ch, None) {
        Some(0)
    } else {
        None
    }
}

/// `text` cut into (face, byte range) pieces, each drawn by one face; a variation selector
/// stays with its base character. Fails with the first character no face has.
fn segments(
    text: &str,
    field: &'static str,
) -> Result<Vec<(usize, std::ops::Range<usize>)>, PdfError> {
    let fonts = fonts()?;
    let mut out: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        let vs = chars
            .peek()
            .map(|&(_, c)| c)
            .filter(|&c| is_variation_selector(c));
        let end = match vs {
            Some(v) => {
                chars.next();
                at + ch.len_utf8() + v.len_utf8()
            }
            None => at + ch.len_utf8(),
        };
        // A lone selector (none before it) is drawn by nothing: the main face ignores it.
        let face = if is_variation_selector(ch) {
            Some(out.last().map_or(0, |s| s.0))
        } else {
            face_for(fonts, ch, vs)
        };
        let Some(face) = face else {
            return Err(PdfError::MissingGlyph { field, ch });
        };
        match out.last_mut() {
            Some((f, range)) if *f == face => range.end = end,
            _ => out.push((face, at..end)),
        }
    }
    Ok(out)
}

/// A4 in points.
pub(crate) const PAGE_W: f32 = 595.276;
/// A4 in points.
pub(crate) const PAGE_H: f32 = 841.89;

/// Millimetres to points.
pub(crate) fn mm(v: f32) -> f32 {
    v * 72.0 / 25.4
}

/// Fails with the first character of `text` that no font can draw.
pub(crate) fn check_glyphs(field: &'static str, text: &str) -> Result<(), PdfError> {
    segments(text, field).map(|_| ())
}

/// A piece of a line drawn by one face; glyph ranges are relative to `range`.
#[derive(Debug, Clone)]
struct Segment {
    /// Index into [`Fonts::faces`].
    font: usize,
    /// Byte range of the line's text.
    range: std::ops::Range<usize>,
    glyphs: Vec<KrillaGlyph>,
    width_em: f32,
}

/// A shaped single line of text; advances are in ems.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    text: String,
    segments: Vec<Segment>,
    width_em: f32,
}

/// Shapes `text` with one face.
fn shape(face: &Face, text: &str) -> Result<(Vec<KrillaGlyph>, f32), PdfError> {
    let upem = face.face.units_per_em() as f32;
    let mut buffer = rustybuzz::UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.set_direction(rustybuzz::Direction::LeftToRight);
    buffer.set_script(rustybuzz::script::HAN);
    let out = rustybuzz::shape_with_plan(&face.face, &face.plan, buffer);
    let infos = out.glyph_infos();
    let positions = out.glyph_positions();
    let mut glyphs = Vec::with_capacity(infos.len());
    let mut width_em = 0.0;
    for (i, (info, pos)) in infos.iter().zip(positions).enumerate() {
        let start = info.cluster as usize;
        if info.glyph_id == 0 {
            let ch = text[start..].chars().next().unwrap_or('\u{FFFD}');
            return Err(PdfError::MissingGlyph { field: "text", ch });
        }
        // A cluster ends where the next different cluster starts (left to right).
        let end = infos[i + 1..]
            .iter()
            .map(|n| n.cluster as usize)
            .find(|&c| c != start)
            .unwrap_or(text.len());
        let advance = pos.x_advance as f32 / upem;
        width_em += advance;
        glyphs.push(KrillaGlyph::new(
            GlyphId::new(info.glyph_id),
            advance,
            pos.x_offset as f32 / upem,
            pos.y_offset as f32 / upem,
            pos.y_advance as f32 / upem,
            start..end,
            None,
        ));
    }
    Ok((glyphs, width_em))
}

impl Run {
    /// Shapes `text` as one left-to-right line, each piece with the face that draws it.
    pub(crate) fn new(text: &str) -> Result<Run, PdfError> {
        let fonts = fonts()?;
        let mut segments = Vec::new();
        let mut width_em = 0.0;
        for (font, range) in self::segments(text, "text")? {
            let (glyphs, w) = shape(&fonts.faces[font], &text[range.clone()])?;
            width_em += w;
            segments.push(Segment {
                font,
                range,
                glyphs,
                width_em: w,
            });
        }
        Ok(Run {
            text: text.to_owned(),
            segments,
            width_em,
        })
    }

    /// Each glyph's advance in ems with the byte offset in the line where its cluster starts.
    fn advances(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.segments.iter().flat_map(|s| {
            s.glyphs
                .iter()
                .map(move |g| (s.range.start + g.text_range.start, g.x_advance))
        })
    }

    /// Width in points at `size`.
    pub(crate) fn width(&self, size: f32) -> f32 {
        self.width_em * size
    }
}

/// Width of `text` in points at `size`.
pub(crate) fn measure(text: &str, size: f32) -> Result<f32, PdfError> {
    Ok(Run::new(text)?.width(size))
}

/// Horizontal alignment relative to the x given to [`Page::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Center,
    Right,
}

/// How lines may break: Japanese prose keeps Latin words and numbers whole; URLs break anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Breaks {
    Prose,
    Anywhere,
}

#[derive(Debug, Clone)]
enum Op {
    Text { x: f32, y: f32, size: f32, run: Run },
    Rect { rect: Rect, gray: u8 },
}

/// A line's preferred size, shrunk until it fits `max_w` but never below `min` (where it may
/// overflow): user-supplied names and URLs have no length limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fit {
    pub(crate) size: f32,
    pub(crate) min: f32,
    pub(crate) max_w: f32,
}

/// One page as a display list, coordinates in points from the top left, text at its baseline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    ops: Vec<Op>,
}

impl Page {
    /// Draws one line aligned at `x`; returns its width.
    pub(crate) fn text(
        &mut self,
        x: f32,
        y: f32,
        size: f32,
        align: Align,
        text: &str,
    ) -> Result<f32, PdfError> {
        let run = Run::new(text)?;
        let w = run.width(size);
        let x = match align {
            Align::Left => x,
            Align::Center => x - w / 2.0,
            Align::Right => x - w,
        };
        self.ops.push(Op::Text { x, y, size, run });
        Ok(w)
    }

    /// Draws one line shrunk to fit (see [`Fit`]); returns the size used.
    pub(crate) fn text_fit(
        &mut self,
        x: f32,
        y: f32,
        fit: Fit,
        align: Align,
        text: &str,
    ) -> Result<f32, PdfError> {
        let size = fit_size(text, fit.size, fit.min, fit.max_w)?;
        self.text(x, y, size, align, text)?;
        Ok(size)
    }

    /// Fills a rectangle with a grey level (0 = black).
    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, gray: u8) {
        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
            self.ops.push(Op::Rect { rect, gray });
        }
    }

    /// A horizontal rule of `weight` points.
    pub(crate) fn hrule(&mut self, x1: f32, x2: f32, y: f32, weight: f32, gray: u8) {
        self.rect(x1, y - weight / 2.0, x2 - x1, weight, gray);
    }
}

/// The largest size in `[min, size]` (in 0.25 pt steps) at which `text` fits `max_w`.
pub(crate) fn fit_size(text: &str, size: f32, min: f32, max_w: f32) -> Result<f32, PdfError> {
    let w = measure(text, size)?;
    if w <= max_w || w <= 0.0 {
        return Ok(size);
    }
    let exact = size * max_w / w;
    Ok(((exact * 4.0).floor() / 4.0).max(min))
}

/// Characters that must not start a line (行頭禁則).
fn no_line_start(ch: char) -> bool {
    "、。，．,.・：；:;？！?!ー－）」』】〕｝〉》)]}ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々〜…"
        .contains(ch)
}

/// Characters that must not end a line (行末禁則).
fn no_line_end(ch: char) -> bool {
    "（「『【〔｛〈《([{".contains(ch)
}

fn word_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || ".,-_%".contains(ch)
}

/// Splits `text` into lines no wider than `max_w` at `size`, honouring kinsoku; a line may
/// overflow only by one hanging punctuation mark or an unbreakable word longer than a line.
pub(crate) fn wrap(
    text: &str,
    size: f32,
    max_w: f32,
    breaks: Breaks,
) -> Result<Vec<String>, PdfError> {
    let run = Run::new(text)?;
    // Width of each character: glyph advances summed per cluster start.
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut widths = vec![0.0f32; chars.len()];
    for (start, advance) in run.advances() {
        if let Ok(i) = chars.binary_search_by_key(&start, |&(b, _)| b) {
            widths[i] += advance * size;
        }
    }
    let can_break_before = |i: usize| -> bool {
        if i == 0 || i >= chars.len() {
            return false;
        }
        let (a, b) = (chars[i - 1].1, chars[i].1);
        if no_line_start(b) || no_line_end(a) {
            return false;
        }
        breaks == Breaks::Anywhere || !(word_char(a) && word_char(b))
    };
    let mut lines = Vec::new();
    let mut start = 0;
    let mut w = 0.0f32;
    let mut i = 0;
    while i < chars.len() {
        if w + widths[i] > max_w && i > start {
            // Break at the last allowed position in (start, i]; else hang punctuation; else force.
            let brk = (start + 1..=i).rev().find(|&k| can_break_before(k));
            let at = match brk {
                Some(k) => k,
                None if no_line_start(chars[i].1) => i + 1,
                None => i,
            };
            lines.push(slice(text, &chars, start, at));
            start = at;
            w = widths[start..i.max(start)].iter().sum();
            i = i.max(start);
            continue;
        }
        w += widths[i];
        i += 1;
    }
    if start < chars.len() {
        lines.push(slice(text, &chars, start, chars.len()));
    }
    Ok(lines
        .into_iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect())
}

fn slice(text: &str, chars: &[(usize, char)], from: usize, to: usize) -> String {
    let a = chars.get(from).map_or(text.len(), |c| c.0);
    let b = chars.get(to).map_or(text.len(), |c| c.0);
    text[a..b].to_owned()
}

/// Writes the pages as one PDF/A-2b document.
pub(crate) fn emit(pages: &[Page], metadata: &Metadata) -> Result<Vec<u8>, PdfError> {
    let fonts = fonts()?;
    let configuration = ConfigurationBuilder::new()
        .with_archival_validator(Archival::A2_B)
        .finish()
        .map_err(|e| PdfError::Pdf(format!("{e:?}")))?;
    let settings = SerializeSettings {
        configuration,
        enable_tagging: false,
        ..SerializeSettings::default()
    };
    let size = Size::from_wh(PAGE_W, PAGE_H).ok_or(PdfError::Pdf("page size".into()))?;
    let mut document = Document::new_with(settings);
    document.set_metadata(metadata.clone());
    for page in pages {
        let mut p = document.start_page_with(PageSettings::new(size));
        let mut surface = p.surface();
        let mut ops = page.ops.iter().peekable();
        while let Some(op) = ops.next() {
            match op {
                Op::Text { x, y, size, run } => {
                    surface.set_fill(Some(Fill::default()));
                    let mut at = *x;
                    for seg in &run.segments {
                        surface.draw_glyphs(
                            Point::from_xy(at, *y),
                            &seg.glyphs,
                            fonts.faces[seg.font].pdf.clone(),
                            &run.text[seg.range.clone()],
                            *size,
                            false,
                        );
                        at += seg.width_em * *size;
                    }
                }
                Op::Rect { rect, gray } => {
                    // Consecutive rectangles of one grey become one path (a QR code has hundreds).
                    let mut pb = PathBuilder::new();
                    pb.push_rect(*rect);
                    while let Some(Op::Rect { rect, gray: g }) = ops.peek() {
                        if g != gray {
                            break;
                        }
                        pb.push_rect(*rect);
                        ops.next();
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_fill(Some(Fill {
                            paint: luma::Color::new(*gray).into(),
                            ..Fill::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        p.finish();
    }
    document
        .finish()
        .map_err(|e| PdfError::Pdf(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kinsoku_keeps_punctuation_off_line_starts() {
        let text = "あなたは日本医師会生涯教育制度において、2023年度から2025年度までの3年間に取得単位数とカリキュラムコード数の合計76.0を修め、認定基準を満たしたことを証します。";
        for width in [60.0, 100.0, 150.0, 230.0, 400.0] {
            let lines = wrap(text, 11.5, width, Breaks::Prose).unwrap();
            assert_eq!(lines.concat(), text, "width {width}");
            for line in &lines {
                let first = line.chars().next().unwrap();
                assert!(!no_line_start(first), "{line:?} at width {width}");
                assert!(!no_line_end(line.chars().last().unwrap()), "{line:?}");
            }
            // Numbers are never split.
            assert!(
                lines
                    .iter()
                    .all(|l| !l.ends_with("202") && !l.ends_with("76."))
            );
        }
    }

    #[test]
    fn missing_glyphs_are_named() {
        assert!(check_glyphs("氏名", "髙橋 﨑 德").is_ok());
        // 𠮷 is not in IPAex: the fallback draws it.
        assert!(check_glyphs("氏名", "𠮷田").is_ok());
        assert!(matches!(
            check_glyphs("氏名", "田😀"),
            Err(PdfError::MissingGlyph {
                field: "氏名",
                ch: '😀'
            })
        ));
        assert!(matches!(
            Run::new("a😀"),
            Err(PdfError::MissingGlyph { ch: '😀', .. })
        ));
    }

    #[test]
    fn each_character_goes_to_the_face_that_draws_it() {
        let run = Run::new("山田 𠮷川 渡邉\u{E0110}").unwrap();
        let pieces: Vec<(usize, &str)> = run
            .segments
            .iter()
            .map(|s| (s.font, &run.text[s.range.clone()]))
            .collect();
        assert_eq!(
            pieces,
            [(0, "山田 "), (1, "𠮷"), (0, "川 渡"), (1, "邉\u{E0110}")]
        );
        // The variant glyph itself is drawn, not the base character's.
        let fb = &fonts().unwrap().faces[1].face;
        let variant = fb.glyph_variation_index('邉', '\u{E0110}').unwrap();
        assert_ne!(Some(variant), fb.glyph_index('邉'));
        let last = run.segments.last().unwrap();
        assert_eq!(last.glyphs.len(), 1, "one glyph for the sequence");
        assert_eq!(last.glyphs[0].glyph_id, GlyphId::new(u32::from(variant.0)));
        assert_eq!(last.glyphs[0].text_range, 0.."邉\u{E0110}".len());
    }

    proptest! {
        /// Wrapping loses no character, and every line fits unless it is a single unbreakable
        /// piece or ends with one hanging punctuation mark.
        #[test]
        fn wrap_keeps_text_and_fits(
            text in "[あ-んア-ン日本医師会生涯教育、。「」（）0-9a-z]{0,120}",
            width in 20.0f32..300.0,
        ) {
            let lines = wrap(&text, 10.0, width, Breaks::Prose).unwrap();
            prop_assert_eq!(lines.concat(), text.clone());
            for line in &lines {
                let w = measure(line, 10.0).unwrap();
                let shorter: String = {
                    let mut c = line.chars();
                    c.next_back();
                    c.collect()
                };
                let fits = w <= width + 0.01
                    || line.chars().count() == 1
                    || measure(&shorter, 10.0).unwrap() <= width + 0.01
                    || line.chars().all(word_char);
                prop_assert!(fits, "{:?} is {} wide at width {}", line, w, width);
            }
        }
    }
}
