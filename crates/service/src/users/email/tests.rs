//! Unit tests of [`Email`], and of [`Email::PATTERN`] against the parser.

use regex_automata::meta::Regex;

use super::*;

#[test]
fn lower_cases() {
    let email = Email::parse("Ada.Lovelace@Example.COM").unwrap();
    assert_eq!(email.as_str(), "ada.lovelace@example.com");
    let email = Email::parse("o'Brien+tag/x=y@sub-1.Example.org").unwrap();
    assert_eq!(email.as_str(), "o'brien+tag/x=y@sub-1.example.org");
}

#[test]
fn nothing_is_trimmed_and_nothing_but_printable_ascii_passes() {
    for raw in [
        " ada@example.com",
        "ada@example.com\n",
        "ada lovelace@example.com",
        "ada@exa\u{0}mple.com",
        "adé@example.com",
        "ada@bücher.example",
        "ada@例え.jp",
        "ada\u{200B}@example.com",
    ] {
        assert_eq!(Email::parse(raw), Err(EmailError::NotAscii), "{raw:?}");
    }
}

#[test]
fn internationalised_domains_pass_in_their_ascii_form() {
    for raw in [
        "ada@xn--bcher-kva.example",
        "ada@XN--BCHER-KVA.example",
        "ada@xn--4gbrim.xn--ngbrx",
        "ada@a--b.example",
    ] {
        assert!(Email::parse(raw).is_ok(), "{raw}");
    }
    // Hyphens in third and fourth place are for A-labels, which must decode.
    for raw in [
        "ada@ab--c.example",
        "ada@xn--zz.example",
        "ada@xn--.example",
    ] {
        assert_eq!(Email::parse(raw), Err(EmailError::Invalid), "{raw}");
    }
}

#[test]
fn rejects_what_is_not_an_address() {
    for raw in [
        "ada",
        "ada@",
        "@example.com",
        "ada@localhost",
        "ada@@example.com",
        "Ada<ada@example.com>",
        "ada@[127.0.0.1]",
        "\"ada\"@example.com",
        ".ada@example.com",
        "ada.@example.com",
        "a..da@example.com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@example..com",
        "ada@example.com.",
        "ada@exa_mple.com",
    ] {
        assert_eq!(Email::parse(raw), Err(EmailError::Invalid), "{raw}");
    }
}

#[test]
fn rejects_empty() {
    assert_eq!(Email::parse(""), Err(EmailError::Empty));
}

#[test]
fn lengths() {
    let label = "b".repeat(MAX_LABEL_LEN);
    let local = "a".repeat(MAX_LOCAL_LEN);
    assert!(Email::parse(&format!("{local}@{label}.com")).is_ok());
    assert_eq!(
        Email::parse(&format!("{local}a@{label}.com")),
        Err(EmailError::Invalid)
    );
    assert_eq!(
        Email::parse(&format!("a@{label}b.com")),
        Err(EmailError::Invalid)
    );
    // 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 characters.
    let at_limit = format!("{local}@{label}.{label}.{}", "c".repeat(61));
    assert_eq!(at_limit.len(), Email::MAX_LEN);
    assert!(Email::parse(&at_limit).is_ok());
    assert_eq!(
        Email::parse(&format!("{at_limit}c")),
        Err(EmailError::TooLong)
    );
}

/// Strings near the rule: made of the characters it is about, in shapes
/// that pass and that almost pass.
fn near_misses(rng: &mut fastrand::Rng) -> String {
    const PIECES: &[&str] = &[
        "a", "b", "Z", "0", "9", "ab", "a.b", "a-b", "-", ".", "@", "xn--", "--", "!", "~", "`",
        "{", "_", "+", "é", " ", "..",
    ];
    let parts = rng.usize(1..12);
    (0..parts)
        .map(|_| {
            let piece = PIECES[rng.usize(..PIECES.len())];
            piece.repeat(rng.usize(1..4))
        })
        .collect()
}

#[test]
fn the_pattern_states_the_syntax_the_parser_checks() {
    let regex = Regex::new(Email::PATTERN).unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    let (mut matched, mut accepted) = (0, 0);
    for _ in 0..200_000 {
        let mut text = near_misses(&mut rng);
        if rng.bool() {
            text = format!("{text}@{}.com", near_misses(&mut rng));
        }
        let syntax = regex.is_match(&text);
        let rest = text.len() <= Email::MAX_LEN
            && text.split_once('@').is_some_and(|(local, domain)| {
                local.len() <= MAX_LOCAL_LEN && idna::domain_to_ascii_strict(domain).is_ok()
            });
        let ok = Email::parse(&text).is_ok();
        assert_eq!(ok, syntax && rest, "{text:?}");
        matched += usize::from(syntax);
        accepted += usize::from(ok);
    }
    // The sample reaches both sides of the rule.
    assert!(matched > 1_000 && accepted > 500, "{matched} {accepted}");
}
