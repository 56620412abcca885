//! [`Email`]: a normalised, syntactically valid e-mail address, and the
//! rule's regular expression for the OpenAPI document.
//!
//! The rule, checked on the value as sent (nothing is trimmed):
//!
//! - at most [`Email::MAX_LEN`] characters, all printable ASCII: no spaces,
//!   no internationalised addresses (RFC 6531); a domain with non-ASCII
//!   characters is written in its ASCII (`xn--`) form;
//! - a local part that is a dot-atom (RFC 5322 `atext` characters, single
//!   dots between them), at most 64 characters: no quoted strings;
//! - `@`, then a domain of two or more labels of letters, digits and
//!   hyphens, each 1 to 63 characters, not starting or ending with a
//!   hyphen; no address literals such as `[127.0.0.1]`;
//! - the domain is a valid IDNA name (UTS 46, strict): a label with hyphens
//!   in its third and fourth places must be an `xn--` label that decodes to
//!   a valid internationalised label.
//!
//! The address is then lower-cased, which makes uniqueness case-insensitive
//! with a plain unique index.
//!
//! [`Email::PATTERN`] states the first three points; the schema's
//! `format: email` (RFC 5321 lengths, valid host names) states the rest.

use std::fmt;

/// An e-mail address following the module's rule, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an [`Email`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// The empty string.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`Email::MAX_LEN`].
    #[error("must be at most {} characters", Email::MAX_LEN)]
    TooLong,
    /// A character other than printable ASCII (a space, a control character,
    /// any non-ASCII character).
    #[error(
        "must be printable ASCII without spaces (write an internationalised domain in its xn-- form)"
    )]
    NotAscii,
    /// Not an address of the accepted form.
    #[error("is not a valid e-mail address")]
    Invalid,
}

/// RFC 5322 `atext`: the characters of a dot-atom besides the dots.
const ATEXT_PUNCTUATION: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
/// Longest local part (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;
/// Longest domain label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

impl Email {
    /// Longest value accepted, in characters (RFC 5321's path limit less
    /// the angle brackets).
    pub const MAX_LEN: usize = 254;

    /// [`Email::parse`]'s rule but the lengths and IDNA validity, as a
    /// regular expression for JSON Schema's `pattern` (ECMA-262, Python's
    /// `re` and Rust's `regex` read it alike).
    pub const PATTERN: &str = concat!(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
        r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
    );

    /// Validates `raw` as sent and lower-cases it.
    ///
    /// # Errors
    /// [`EmailError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        if raw.is_empty() {
            return Err(EmailError::Empty);
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(EmailError::NotAscii);
        }
        let (local, domain) = raw.split_once('@').ok_or(EmailError::Invalid)?;
        if !is_dot_atom(local) || local.len() > MAX_LOCAL_LEN || !is_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `atext` runs separated by single dots, not starting or ending with one.
fn is_dot_atom(text: &str) -> bool {
    let atext = |b: u8| b.is_ascii_alphanumeric() || ATEXT_PUNCTUATION.contains(&b);
    text.split('.')
        .all(|run| !run.is_empty() && run.bytes().all(atext))
}

/// Two or more letter-digit-hyphen labels that make a valid IDNA name.
fn is_domain(domain: &str) -> bool {
    let label = |label: &str| {
        let bytes = label.as_bytes();
        let ldh = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-';
        matches!((bytes.first(), bytes.last()), (Some(first), Some(last))
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric())
            && bytes.len() <= MAX_LABEL_LEN
            && bytes.iter().all(ldh)
    };
    domain.split('.').count() >= 2
        && domain.split('.').all(label)
        // Hyphens in third and fourth place, `xn--` labels that do not
        // decode to a valid label: what the syntax above lets through.
        && idna::domain_to_ascii_strict(domain).is_ok()
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests;
