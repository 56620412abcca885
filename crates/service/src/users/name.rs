//! [`UserName`]: a person's display name.

use std::fmt;

/// A display name: trimmed, 1 to [`UserName::MAX_LEN`] characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

/// Why a string is not a [`UserName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserNameError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`UserName::MAX_LEN`].
    #[error("must be at most {} characters", UserName::MAX_LEN)]
    TooLong,
    /// Contains a control character such as a newline or NUL.
    #[error("must not contain control characters")]
    ControlCharacter,
}

impl UserName {
    /// Longest value accepted, in characters.
    pub const MAX_LEN: usize = 100;

    /// Trims and validates `raw`.
    ///
    /// # Errors
    /// [`UserNameError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, UserNameError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(UserNameError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(UserNameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(UserNameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
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
    fn trims() {
        assert_eq!(
            UserName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        let hundred = "é".repeat(UserName::MAX_LEN);
        assert!(UserName::parse(&hundred).is_ok());
        assert_eq!(
            UserName::parse(&format!("{hundred}é")),
            Err(UserNameError::TooLong)
        );
    }

    #[test]
    fn rejects_empty_and_control_characters() {
        assert_eq!(UserName::parse(" \t "), Err(UserNameError::Empty));
        assert_eq!(
            UserName::parse("Ada\nLovelace"),
            Err(UserNameError::ControlCharacter)
        );
        assert_eq!(
            UserName::parse("Ada\u{0}"),
            Err(UserNameError::ControlCharacter)
        );
    }
}
