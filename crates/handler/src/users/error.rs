//! How the user use cases' errors answer over HTTP.

use service::users::UserError;

use crate::error::ApiError;
use crate::problem::FieldError;

impl From<UserError> for ApiError {
    fn from(err: UserError) -> Self {
        match err {
            UserError::NotFound => Self::NotFound("no user has this id".to_owned()),
            UserError::EmailTaken => {
                Self::Conflict("another user already has this e-mail address".to_owned())
            }
            UserError::KeyReused => Self::Validation(vec![FieldError::new(
                "Idempotency-Key",
                "was already used for a different request; use a new key for a new request",
            )]),
            UserError::KeyInFlight => Self::InFlight(
                "a request with this Idempotency-Key is still being processed; retry after the delay in Retry-After"
                    .to_owned(),
            ),
            UserError::Unavailable(source) => Self::Unavailable(source),
            UserError::Internal(source) => Self::Internal(source),
        }
    }
}
