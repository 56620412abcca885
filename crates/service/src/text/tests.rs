//! Unit tests of [`display_text`], and of [`FORBIDDEN`], [`SPACES`] and
//! [`display_text_pattern`] against Unicode and a regex engine for every
//! `char`.

use regex_automata::meta::Regex;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

use super::*;

fn every_char() -> impl Iterator<Item = char> {
    char::MIN..=char::MAX
}

fn parse(raw: &str) -> Result<&str, TextError> {
    display_text(raw, 100)
}

#[test]
fn rejects_empty_and_spoofing_characters() {
    for empty in ["", " ", " \u{3000} "] {
        assert_eq!(parse(empty), Err(TextError::Empty), "{empty:?}");
    }
    for spoof in [
        "Ada\nLovelace",
        "Ada\u{0}",
        "\tAda",
        "Ada\u{85}",
        "evil\u{202E}gpj.exe",
        "Ad\u{200B}a",
        "\u{FEFF}Ada",
        "Ada\u{2028}",
        "Ada\u{E0041}",
        "\u{2066}Ada\u{2069}",
    ] {
        assert_eq!(
            parse(spoof),
            Err(TextError::ForbiddenCharacter),
            "{spoof:?}"
        );
    }
}

#[test]
fn tables_are_sorted_and_disjoint() {
    for table in [FORBIDDEN, SPACES] {
        for (low, high) in table {
            assert!(low <= high, "{low:?}..={high:?}");
        }
        for pair in table.windows(2) {
            assert!(pair[0].1 < pair[1].0, "{pair:?}");
        }
    }
}

#[test]
fn forbidden_is_exactly_cc_cf_zl_zp() {
    let wrong: Vec<String> = every_char()
        .filter(|&c| {
            let category = matches!(
                c.general_category(),
                GeneralCategory::Control
                    | GeneralCategory::Format
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            );
            category != is_in(FORBIDDEN, c)
        })
        .map(|c| format!("U+{:04X} {:?}", u32::from(c), c.general_category()))
        .collect();
    assert!(wrong.is_empty(), "FORBIDDEN disagrees on {wrong:?}");
}

#[test]
fn spaces_are_the_whitespace_forbidden_leaves() {
    for c in every_char().filter(|&c| !is_in(FORBIDDEN, c)) {
        assert_eq!(
            is_in(SPACES, c),
            c.is_whitespace(),
            "U+{:04X}",
            u32::from(c)
        );
    }
    for &(low, high) in SPACES {
        for c in low..=high {
            assert_eq!(c.general_category(), GeneralCategory::SpaceSeparator);
        }
    }
}

#[test]
fn the_pattern_accepts_exactly_what_parse_accepts() {
    let pattern = display_text_pattern();
    let regex = Regex::new(&pattern).unwrap();
    for c in every_char() {
        for text in [format!("{c}"), format!("a{c}"), format!(" {c} ")] {
            assert_eq!(regex.is_match(&text), parse(&text).is_ok(), "{text:?}");
        }
    }
    for text in ["", "   ", "Ada", " Ada ", "\u{A0}", "Ada\n", "\nAda"] {
        assert_eq!(regex.is_match(text), parse(text).is_ok(), "{text:?}");
    }
}

#[test]
fn the_pattern_spells_the_bmp_with_escapes() {
    let pattern = display_text_pattern();
    assert!(pattern.starts_with(
        r"^[\u0020\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]*[^\u0000-\u001F\u007F-\u009F"
    ));
    // Above the BMP there is no escape ECMA-262 and Python share: the
    // characters themselves, and only those.
    assert!(
        pattern
            .chars()
            .all(|c| c.is_ascii() || u32::from(c) > 0xFFFF)
    );
    assert!(pattern.contains("\u{E0020}-\u{E007F}"));
    assert!(pattern.ends_with("]*$"));
}
