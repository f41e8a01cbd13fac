//! The one Japanese name normaliser: every import, the identity check and member search compare
//! names through it, so a name typed in hiragana, half-width kana, with or without a space or a
//! middle dot, or with a kanji variant (髙/高, 﨑/崎, 邉/辺) matches the register's form.
//!
//! Folding is for comparing only: what is stored and printed stays as the register holds it,
//! and a message about a name that still differs shows the register's own form.

use std::collections::HashMap;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;

/// "variant<TAB>folded" pairs; the file names its source and licence.
const VARIANTS_TSV: &str = include_str!("../data/kanji_variants.tsv");

static VARIANTS: LazyLock<HashMap<char, char>> = LazyLock::new(|| {
    VARIANTS_TSV
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (a, b) = l.split_once('\t')?;
            let mut a = a.chars();
            let mut b = b.chars();
            match (a.next(), a.next(), b.next(), b.next()) {
                (Some(a), None, Some(b), None) => Some((a, b)),
                _ => None,
            }
        })
        .collect()
});

/// Hiragana (and its iteration marks) as the katakana of the same sound.
pub fn hiragana_to_katakana(c: char) -> char {
    match c {
        '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => {
            char::from_u32(c as u32 + 0x60).unwrap_or(c)
        }
        _ => c,
    }
}

/// Katakana letters, the long-vowel mark, the middle dot and the iteration marks.
pub fn is_katakana(c: char) -> bool {
    matches!(c, '\u{30A1}'..='\u{30FA}' | '\u{30FB}'..='\u{30FE}')
}

/// Separators people put between family and given name, ignored when comparing.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '・' | '･' | '·')
}

/// Variation selectors (standardised and ideographic): the same name with or without one.
fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Kana as typed, made standard: NFKC (half-width → full-width), hiragana → katakana, runs of
/// whitespace (U+3000 too) as one ASCII space, trimmed. Middle dots stay: a foreign name may
/// use one. The result is what a list row stores; compare with [`kana_key`].
pub fn fold_kana(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut space = false;
    for c in input.nfkc().map(hiragana_to_katakana) {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Whether a folded kana text (see [`fold_kana`]) is only katakana and spaces.
pub fn is_kana_text(folded: &str) -> bool {
    !folded.is_empty() && folded.chars().all(|c| c == ' ' || is_katakana(c))
}

/// The comparison key of a kana name: [`fold_kana`] without spaces and middle dots, so
/// 「かとう ゆうと」, 「ｶﾄｳﾕｳﾄ」 and 「カトウ・ユウト」 all give 「カトウユウト」.
pub fn kana_key(input: &str) -> String {
    fold_kana(input)
        .chars()
        .filter(|&c| !is_separator(c))
        .collect()
}

/// The comparison key of a name in kanji (or any script): NFKC, kana folded as in
/// [`kana_key`], variation selectors dropped, and kanji variants folded through the data file
/// (髙橋 and 高橋, 山﨑 and 山崎, 渡邉󠄀 and 渡辺 give one key).
pub fn name_key(input: &str) -> String {
    input
        .nfkc()
        .filter(|&c| !is_variation_selector(c) && !is_separator(c))
        .map(hiragana_to_katakana)
        .map(|c| VARIANTS.get(&c).copied().unwrap_or(c))
        .collect()
}

/// The stored search key of a name given in parts (氏 and 名, or their kana): the parts joined
/// and folded by [`name_key`], so member search matches a typed prefix in any of the forms
/// [`name_key`] folds (hiragana for katakana, widths, spaces, kanji variants).
pub fn search_key(parts: &[&str]) -> String {
    name_key(&parts.concat())
}

/// Whether a folded search key starts with what was typed, folded the same way: the rule the
/// stores implement as an index range, kept here as the reference the tests compare against.
pub fn key_has_prefix(key: &str, typed: &str) -> bool {
    let folded = name_key(typed);
    !folded.is_empty() && key.starts_with(&folded)
}

/// Whether a folded search key is kana only: it is then looked up among the kana keys, and
/// anything else among the kanji keys (one index range, in the order lists are sorted by).
pub fn is_kana_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(is_katakana)
}

/// Whether two kana names are the same name (see [`kana_key`]).
pub fn same_kana(a: &str, b: &str) -> bool {
    kana_key(a) == kana_key(b)
}

/// Whether two names are the same name (see [`name_key`]).
pub fn same_name(a: &str, b: &str) -> bool {
    name_key(a) == name_key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_forms_compare_equal() {
        let cases: &[(&str, &str, bool)] = &[
            ("カトウ ユウト", "カトウユウト", true),
            ("かとう ゆうと", "カトウ ユウト", true),
            ("ｶﾄｳ ﾕｳﾄ", "カトウ ユウト", true),
            ("ｶﾞｯｺｳ", "ガッコウ", true),
            ("カトウ　ユウト", "カトウ ユウト", true),
            ("カトウ・ユウト", "カトウ ユウト", true),
            ("ｶﾄｳ･ﾕｳﾄ", "カトウ ユウト", true),
            ("  カトウ  ユウト ", "カトウ ユウト", true),
            ("ゞ", "ヾ", true),
            ("カトウ ユウト", "カトウ ユウジ", false),
            ("カトウ", "カトオ", false),
            ("ヤマダ", "", false),
        ];
        for (a, b, same) in cases {
            assert_eq!(same_kana(a, b), *same, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn fold_kana_keeps_one_space_and_refuses_nothing_itself() {
        assert_eq!(
            fold_kana("  かとう\u{3000}\u{3000}ゆうと "),
            "カトウ ユウト"
        );
        assert_eq!(fold_kana("ｽﾐｽ･ｼﾞｮﾝ"), "スミス・ジョン");
        assert!(is_kana_text(&fold_kana("やまだ たろう")));
        assert!(is_kana_text(&fold_kana("ヤマダー")));
        for junk in ["山田", "yamada", "ヤマダ1", "", "   ", "=cmd|' /C calc'!A0"] {
            assert!(!is_kana_text(&fold_kana(junk)), "{junk:?}");
        }
    }

    #[test]
    fn kanji_variants_compare_equal() {
        let cases: &[(&str, &str, bool)] = &[
            ("髙橋", "高橋", true),
            ("山﨑", "山崎", true),
            ("山嵜", "山崎", true),
            ("渡邉", "渡辺", true),
            ("渡邊", "渡辺", true),
            ("渡邉\u{E0100}", "渡辺", true),
            ("渡邉\u{E0101}", "渡邊", true),
            ("齋藤", "斎藤", true),
            ("斎藤", "斉藤", false),
            ("德永", "徳永", true),
            ("濵田", "浜田", true),
            ("𠮷田", "𠮷田", true),
            ("𠮷田", "吉田", false),
            ("山田 太郎", "山田太郎", true),
            ("山田　太郎", "山田・太郎", true),
            ("山田", "山本", false),
        ];
        for (a, b, same) in cases {
            assert_eq!(same_name(a, b), *same, "{a:?} vs {b:?}");
        }
    }

    /// Member search: what a staff member types against how the register holds the name.
    #[test]
    fn search_prefixes_fold_like_names() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["タカハシ", "ハナコ"], "たかはし", true),
            (&["タカハシ", "ハナコ"], "ﾀｶﾊｼ", true),
            (&["タカハシ", "ハナコ"], "タカハシ　ハナ", true),
            (&["タカハシ", "ハナコ"], "たかはし・はなこ", true),
            (&["タカハシ", "ハナコ"], "タカ", true),
            (&["タカハシ", "ハナコ"], "ハナコ", false),
            (&["髙橋", "花子"], "高橋", true),
            (&["高橋", "花子"], "髙橋 花", true),
            (&["山﨑", "一郎"], "山崎一", true),
            (&["渡邉\u{E0100}", "太郎"], "渡辺", true),
            (&["齋藤", "健"], "斎藤", true),
            (&["齋藤", "健"], "斉藤", false),
            (&["ＡＢＥ", "ジョン"], "abe", false),
            (&["ＡＢＥ", "ジョン"], "ABE", true),
            (&["山田", "太郎"], "", false),
            (&["山田", "太郎"], "   ", false),
        ];
        for (parts, typed, hit) in cases {
            let key = search_key(parts);
            assert_eq!(key_has_prefix(&key, typed), *hit, "{parts:?} vs {typed:?}");
        }
        for (typed, kana) in [
            ("たかはし", true),
            ("ﾀｶ", true),
            ("タカ ハシ", true),
            ("高橋", false),
            ("山田さ", false),
            ("ABE", false),
        ] {
            assert_eq!(is_kana_key(&name_key(typed)), kana, "{typed}");
        }
    }

    proptest::proptest! {
        /// Against a naive model written from the rule: a typed text matches when, read
        /// character by character with hiragana as katakana and spaces dropped, the register's
        /// katakana starts with it.
        #[test]
        fn kana_prefixes_match_the_naive_model(
            name in "[ァ-ヶ]{1,6}",
            typed in "[ぁ-ゖァ-ヶ ]{0,4}",
        ) {
            let naive_typed: String = typed
                .chars()
                .filter(|&c| c != ' ')
                .map(|c| if ('\u{3041}'..='\u{3096}').contains(&c) {
                    char::from_u32(c as u32 + 0x60).unwrap_or(c)
                } else { c })
                .collect();
            let naive = !naive_typed.is_empty() && name.starts_with(&naive_typed);
            proptest::prop_assert_eq!(key_has_prefix(&search_key(&[&name]), &typed), naive);
        }
    }

    #[test]
    fn the_data_file_is_well_formed() {
        let pairs = VARIANTS_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        assert_eq!(
            VARIANTS.len(),
            pairs,
            "each line is one char, a tab, one char"
        );
        for (a, b) in VARIANTS.iter() {
            assert_ne!(a, b);
            assert!(
                !VARIANTS.contains_key(b),
                "{b} is folded again: chain {a}→{b}"
            );
            let nfkc: String = a.to_string().nfkc().collect();
            assert_eq!(nfkc, a.to_string(), "{a} is already folded by NFKC");
        }
    }
}
