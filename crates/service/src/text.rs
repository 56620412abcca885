//! Display text: what a name shown to other people may hold, and the one
//! table of the characters it may not.
//!
//! Such text must look like what it is: no control characters (category
//! Cc), no format characters (Cf: bidi overrides such as U+202E that reverse
//! what follows, zero-width spaces and joiners, the BOM, tag characters) and
//! no line or paragraph separators (Zl, Zp). `FORBIDDEN` lists them once;
//! [`display_text`] checks against it and [`display_text_pattern`] spells
//! the same rule as the regular expression the OpenAPI document carries, so
//! the two cannot drift. Each resource's name type wraps them with its own
//! length.

/// Every character of the general categories Cc, Cf, Zl and Zp (Unicode 18,
/// checked against `unicode-properties` for every `char` by a test), as
/// sorted, disjoint, inclusive ranges. A new Unicode version may assign more
/// format characters: the test then fails and says which to add.
const FORBIDDEN: &[(char, char)] = &[
    ('\u{0000}', '\u{001F}'),   // C0 controls
    ('\u{007F}', '\u{009F}'),   // DEL, C1 controls
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{0600}', '\u{0605}'),   // Arabic number signs
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark
    ('\u{0890}', '\u{0891}'),   // Arabic pound and piastre marks above
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah
    ('\u{180E}', '\u{180E}'),   // Mongolian vowel separator
    ('\u{200B}', '\u{200F}'),   // zero-width space, (non-)joiner, LRM, RLM
    ('\u{2028}', '\u{202E}'),   // line, paragraph separators; bidi embeddings, overrides
    ('\u{2060}', '\u{2064}'),   // word joiner, invisible operators
    ('\u{2066}', '\u{206F}'),   // bidi isolates, deprecated format characters
    ('\u{FEFF}', '\u{FEFF}'),   // zero-width no-break space (BOM)
    ('\u{FFF9}', '\u{FFFB}'),   // interlinear annotation
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol format controls
    ('\u{E0001}', '\u{E0001}'), // language tag
    ('\u{E0020}', '\u{E007F}'), // tag characters
];

/// The whitespace [`display_text`] trims from both ends: the characters
/// of `char::is_whitespace` that [`FORBIDDEN`] leaves (category Zs; a test
/// checks both).
const SPACES: &[(char, char)] = &[
    ('\u{0020}', '\u{0020}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

fn is_in(table: &[(char, char)], c: char) -> bool {
    table
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Why a string is not display text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// Longer than the limit, in characters.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Contains a character of the `FORBIDDEN` table.
    #[error(
        "must not contain control or format characters (such as bidi controls or \
         zero-width characters) or line and paragraph separators"
    )]
    ForbiddenCharacter,
}

/// Checks `raw` and trims it: at most `max_len` characters (Unicode scalar
/// values, what JSON Schema's `maxLength` counts) as sent, so that the rule
/// and the schema agree; none of them in the `FORBIDDEN` table; at least one
/// that is not whitespace. Surrounding whitespace (the `SPACES` table) is
/// trimmed.
///
/// # Errors
/// [`TextError`] saying what is wrong.
pub fn display_text(raw: &str, max_len: usize) -> Result<&str, TextError> {
    if raw.chars().count() > max_len {
        return Err(TextError::TooLong { max: max_len });
    }
    if raw.chars().any(|c| is_in(FORBIDDEN, c)) {
        return Err(TextError::ForbiddenCharacter);
    }
    let trimmed = raw.trim_matches(|c| is_in(SPACES, c));
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    Ok(trimmed)
}

/// The rule of [`display_text`] but the length, as a regular expression
/// for JSON Schema's `pattern`: any number of spaces, one character that is
/// neither forbidden nor a space, then anything not forbidden.
///
/// ECMA-262 with the `u` flag (as JSON Schema validators read patterns),
/// Python's `re` and Rust's `regex` read it alike: it uses only character
/// classes, `\uXXXX` escapes for the Basic Multilingual Plane, the
/// characters themselves above it, and the anchors `^` and `$`. (Checked
/// for every character against Node's `RegExp` with `u`, and
/// jsonschema-rs, which schemathesis uses. Without `u`, ECMA-262 reads
/// UTF-16 units and refuses the pattern as out-of-order ranges rather than
/// reading it differently; Python's `$` also matches before a final
/// newline, which schemathesis reads as the end of the string.)
pub fn display_text_pattern() -> String {
    let forbidden = class(FORBIDDEN);
    let spaces = class(SPACES);
    format!("^[{spaces}]*[^{forbidden}{spaces}][^{forbidden}]*$")
}

/// The contents of a character class matching `table`.
fn class(table: &[(char, char)]) -> String {
    let one = |c: char| match u16::try_from(u32::from(c)) {
        Ok(unit) => format!("\\u{unit:04X}"),
        Err(_) => c.to_string(),
    };
    table
        .iter()
        .map(|&(low, high)| {
            if low == high {
                one(low)
            } else {
                format!("{}-{}", one(low), one(high))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
