//! [`Email`]: a normalised, syntactically valid e-mail address.

use std::fmt;

use email_address::{EmailAddress, Options};

/// An e-mail address, trimmed and lower-cased, at most [`Email::MAX_LEN`]
/// characters, with a dotted domain and no display name.
///
/// Lower-casing the whole address makes uniqueness case-insensitive with a
/// plain unique index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`Email::MAX_LEN`].
    #[error("must be at most {} characters", Email::MAX_LEN)]
    TooLong,
    /// Not an address.
    #[error("is not a valid e-mail address")]
    Invalid,
}

impl Email {
    /// Longest value accepted, in characters.
    pub const MAX_LEN: usize = 254;

    /// Normalises and validates `raw`.
    ///
    /// # Errors
    /// [`EmailError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let options = Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        EmailAddress::parse_with_options(&normalised, options).map_err(|_| EmailError::Invalid)?;
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lower_cases() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for raw in [
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "ada@@example.com",
            "Ada <ada@example.com>",
            "ada@[127.0.0.1]",
            "ada lovelace@example.com",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError::Invalid), "{raw}");
        }
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn length_limit_is_254_characters() {
        let domain = "@example.com";
        let at_limit = format!("{}{domain}", "a".repeat(Email::MAX_LEN - domain.len()));
        // Local parts are limited to 64 characters by the RFC, so build the
        // length out of domain labels instead.
        let labels = "b".repeat(60);
        let long_domain = format!("a@{labels}.{labels}.{labels}.{labels}.com");
        assert!(long_domain.len() <= Email::MAX_LEN);
        assert!(Email::parse(&long_domain).is_ok());
        assert_eq!(
            Email::parse(&format!("{at_limit}x")),
            Err(EmailError::TooLong)
        );
    }
}
