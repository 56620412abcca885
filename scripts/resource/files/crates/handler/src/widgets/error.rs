//! How the widget use cases' errors answer over HTTP.

use service::widgets::WidgetError;

use crate::error::ApiError;
use crate::problem::FieldError;

impl From<WidgetError> for ApiError {
    fn from(err: WidgetError) -> Self {
        match err {
            WidgetError::NotFound => Self::NotFound("no widget has this id".to_owned()),
            WidgetError::KeyReused => Self::Validation(vec![FieldError::new(
                "Idempotency-Key",
                "was already used for a different request; use a new key for a new request",
            )]),
            WidgetError::KeyInFlight => Self::InFlight(
                "a request with this Idempotency-Key is still being processed; retry after the delay in Retry-After"
                    .to_owned(),
            ),
            WidgetError::Unavailable(source) => Self::Unavailable(source),
            WidgetError::Internal(source) => Self::Internal(source),
        }
    }
}
