//! [`UserName`]: a person's display name, by the rules of
//! [`display_text`](crate::text::display_text).

use std::fmt;

use crate::text::{TextError, display_text, display_text_pattern};

/// A display name: at most [`UserName::MAX_LEN`] characters as sent, no
/// control or format characters, not blank; surrounding whitespace is
/// trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// Longest value accepted, in characters (Unicode scalar values, what
    /// JSON Schema's `maxLength` counts), before trimming.
    pub const MAX_LEN: usize = 100;

    /// Validates and trims `raw`.
    ///
    /// # Errors
    /// [`TextError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        display_text(raw, Self::MAX_LEN).map(|name| Self(name.to_owned()))
    }

    /// The rule of [`UserName::parse`] but the length, as a regular
    /// expression for JSON Schema's `pattern`.
    pub fn pattern() -> String {
        display_text_pattern()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_surrounding_spaces() {
        assert_eq!(
            UserName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert_eq!(
            UserName::parse("\u{3000}Ada\u{A0}").unwrap().as_str(),
            "Ada"
        );
        // Inner spaces stay.
        assert_eq!(
            UserName::parse("A\u{2003}B").unwrap().as_str(),
            "A\u{2003}B"
        );
    }

    #[test]
    fn counts_characters_as_sent() {
        let hundred = "é".repeat(UserName::MAX_LEN);
        assert!(UserName::parse(&hundred).is_ok());
        assert_eq!(
            UserName::parse(&format!("{hundred}é")),
            Err(TextError::TooLong {
                max: UserName::MAX_LEN
            })
        );
        // The limit applies before trimming, as JSON Schema's maxLength does.
        let padded = format!("{} ", "a".repeat(UserName::MAX_LEN));
        assert_eq!(
            UserName::parse(&padded),
            Err(TextError::TooLong {
                max: UserName::MAX_LEN
            })
        );
        let padded = format!(" {}", "a".repeat(UserName::MAX_LEN - 1));
        assert_eq!(UserName::parse(&padded).unwrap().as_str().len(), 99);
    }

    #[test]
    fn spoofing_characters_are_refused() {
        assert_eq!(
            UserName::parse("evil\u{202E}gpj.exe"),
            Err(TextError::ForbiddenCharacter)
        );
        assert_eq!(UserName::parse(" "), Err(TextError::Empty));
    }
}
