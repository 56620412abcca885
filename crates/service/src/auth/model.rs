//! What a verified token says about its bearer, and why a token is
//! refused.

use std::collections::BTreeSet;

/// The scopes a token grants, from its space-separated `scope` claim
/// (RFC 9068 §2.2.3, RFC 8693 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Reads a `scope` claim: scopes separated by spaces; empty entries
    /// (repeated spaces) are ignored.
    pub fn parse(claim: &str) -> Self {
        Self(
            claim
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether `scope` is granted, compared exactly (scopes are
    /// case-sensitive).
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// The granted scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// The bearer of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: the user, or the client acting for itself.
    pub subject: String,
    /// What the token allows.
    pub scopes: Scopes,
}

/// Why a token was refused. The messages are general on purpose: they
/// reach the caller, and say nothing a forger could tune a token by beyond
/// which rule it broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS with a JSON header and claims, or too long.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The header names an algorithm other than RS256 or ES256, or one the
    /// key it names is not for.
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    /// No cached key has the token's key id (after the one fetch per
    /// interval an unknown id may cause).
    #[error("the token was not signed by a known key")]
    UnknownKey,
    /// The signature does not verify with the key.
    #[error("the token's signature is not valid")]
    Signature,
    /// `exp` is past, beyond the leeway.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is ahead, beyond the leeway.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by another issuer")]
    Issuer,
    /// `aud` does not contain the configured audience.
    #[error("the token is meant for another audience")]
    Audience,
    /// A required claim (`exp`, `iss`, `aud`, `sub`) is missing or of the
    /// wrong type.
    #[error("the token lacks a required claim")]
    Claims,
    /// No key has been fetched yet (start-up, or the provider has been
    /// unreachable since): no token can be checked, good or bad.
    #[error("the identity provider's keys are not loaded yet")]
    KeysUnavailable,
}

impl TokenError {
    /// A short, fixed label for metrics and logs.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Claims => "claims",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }

    /// Every error, for registering metrics in advance.
    pub const ALL: [Self; 10] = [
        Self::Malformed,
        Self::Algorithm,
        Self::UnknownKey,
        Self::Signature,
        Self::Expired,
        Self::NotYetValid,
        Self::Issuer,
        Self::Audience,
        Self::Claims,
        Self::KeysUnavailable,
    ];
}

#[cfg(test)]
mod tests {
    use super::{Scopes, TokenError};

    #[test]
    fn scopes_are_split_on_spaces_and_compared_exactly() {
        let scopes = Scopes::parse("orders:read  orders:write openid");
        assert!(scopes.contains("orders:read"));
        assert!(scopes.contains("orders:write"));
        assert!(!scopes.contains("Orders:read"));
        assert!(!scopes.contains("orders"));
        assert!(!scopes.contains(""));
        assert_eq!(
            scopes.iter().collect::<Vec<_>>(),
            ["openid", "orders:read", "orders:write"]
        );
        assert_eq!(Scopes::parse("").iter().count(), 0);
    }

    #[test]
    fn reasons_are_distinct() {
        let mut reasons: Vec<_> = TokenError::ALL.iter().map(|e| e.reason()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), TokenError::ALL.len());
    }
}
