//! [`WidgetName`]: a widget's display name.

use std::fmt;

use crate::text::{TextError, display_text, display_text_pattern};

/// A display name: at most [`WidgetName::MAX_LEN`] characters as sent, no
/// control or format characters, not blank; surrounding whitespace is
/// trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetName(String);

impl WidgetName {
    /// Longest value accepted, in characters, before trimming.
    pub const MAX_LEN: usize = 100;

    /// Validates and trims `raw`.
    ///
    /// # Errors
    /// [`TextError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        display_text(raw, Self::MAX_LEN).map(|name| Self(name.to_owned()))
    }

    /// The rule of [`WidgetName::parse`] but the length, as a regular
    /// expression for JSON Schema's `pattern`.
    pub fn pattern() -> String {
        display_text_pattern()
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WidgetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_inner_spaces() {
        assert_eq!(
            WidgetName::parse("  Blue one ").unwrap().as_str(),
            "Blue one"
        );
    }

    #[test]
    fn refuses_blank_long_and_spoofing_names() {
        assert_eq!(WidgetName::parse(" \u{3000} "), Err(TextError::Empty));
        let longest = "é".repeat(WidgetName::MAX_LEN);
        assert!(WidgetName::parse(&longest).is_ok());
        assert_eq!(
            WidgetName::parse(&format!("{longest}é")),
            Err(TextError::TooLong {
                max: WidgetName::MAX_LEN
            })
        );
        assert_eq!(
            WidgetName::parse("evil\u{202E}gpj.exe"),
            Err(TextError::ForbiddenCharacter)
        );
    }
}
