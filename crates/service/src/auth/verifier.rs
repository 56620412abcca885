//! [`TokenVerifier`], the port the HTTP edge checks bearer tokens through,
//! and [`JwtVerifier`], which checks JWT access tokens against the
//! identity provider's keys.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::keys::{KeyCache, Lookup};
use super::model::{Principal, Scopes, TokenError};

/// Clock skew tolerated on `exp` and `nbf`, between the provider's clock
/// and ours.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Longest token considered. Real access tokens are a few hundred bytes to
/// a few KiB; anything longer is refused before any decoding.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// `typ` values of an access token (RFC 9068 §4 asks for `at+jwt`; most
/// providers still send `JWT`). Other types, such as a logout token or a
/// DPoP proof the same provider signed, are refused.
const ACCEPTED_TYPES: &[&str] = &["at+jwt", "application/at+jwt", "JWT"];

/// Checks a bearer token and says whose it is.
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// The token's bearer, when the token is valid now.
    ///
    /// # Errors
    /// Why the token is refused, or [`TokenError::KeysUnavailable`] when
    /// no token can be checked yet.
    async fn verify(&self, token: &str) -> Result<Principal, TokenError>;
}

/// Verifies JWT access tokens signed with the identity provider's keys.
#[derive(Debug)]
pub struct JwtVerifier {
    keys: Arc<KeyCache>,
    issuer: String,
    audience: String,
}

impl JwtVerifier {
    /// A verifier accepting tokens from `issuer` for `audience`, signed by
    /// a key in `keys`.
    pub fn new(
        keys: Arc<KeyCache>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation
    }
}

/// The header fields read before choosing a key.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

/// The claims kept once the token is valid. `sub` is optional here only
/// so that a missing one is reported as a missing claim by the validation.
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    scope: Option<String>,
}

/// Reads the header of a compact JWS (`header.claims.signature`) without
/// trusting anything in it yet.
fn header(token: &str) -> Result<Header, TokenError> {
    if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

fn refusal(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => TokenError::Claims,
        _ => TokenError::Malformed,
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let header = header(token)?;
        // Only the two asymmetric algorithms, named exactly: `none`,
        // `HS256` and spellings such as `rs256` never reach a key.
        let algorithm = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            _ => return Err(TokenError::Algorithm),
        };
        if let Some(typ) = &header.typ
            && !ACCEPTED_TYPES.iter().any(|t| typ.eq_ignore_ascii_case(t))
        {
            return Err(TokenError::Malformed);
        }
        let key = match self.keys.find_or_fetch(header.kid.as_deref()).await {
            Lookup::Found(key) => key,
            Lookup::Unknown => return Err(TokenError::UnknownKey),
            Lookup::NotLoaded => return Err(TokenError::KeysUnavailable),
        };
        // The key decides the algorithm: an RS256 header on an EC key (or
        // the reverse) is refused, whatever the signature.
        if key.algorithm != algorithm {
            return Err(TokenError::Algorithm);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation(key.algorithm))
            .map_err(|err| refusal(err.kind()))?;
        Ok(Principal {
            subject: data.claims.sub.unwrap_or_default(),
            scopes: Scopes::parse(data.claims.scope.as_deref().unwrap_or_default()),
        })
    }
}
