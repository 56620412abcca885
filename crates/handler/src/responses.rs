//! The error answers operations share, for the OpenAPI document: each set
//! is listed in an operation's `responses(...)` instead of repeating its
//! statuses. Every body is a [`Problem`]; the descriptions are generic, so
//! two sets naming the same status (a body's `400` and a path's) agree.
//! A status whose meaning is the resource's own (`409` for a taken value)
//! stays with its operation.

use crate::problem::Problem;

/// What any operation may answer to a malformed request: a path or query
/// parameter that does not parse (for instance an id that is not a UUID).
#[derive(Debug, utoipa::IntoResponses)]
pub enum RequestErrors {
    /// A path or query parameter, or the JSON body, does not parse; `errors`
    /// names the parameters at fault.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
}

/// What an operation on one item (`/{id}`) may answer besides
/// [`RequestErrors`].
#[derive(Debug, utoipa::IntoResponses)]
pub enum ItemErrors {
    /// A path or query parameter, or the JSON body, does not parse; `errors`
    /// names the parameters at fault.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No item has this id.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// What an operation with a JSON body may answer about the body.
#[derive(Debug, utoipa::IntoResponses)]
pub enum BodyErrors {
    /// A path or query parameter, or the JSON body, does not parse; `errors`
    /// names the parameters at fault.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// The body is over the size limit.
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// Well-formed, but breaks the rules: the invalid fields are listed in
    /// `errors` (an `Idempotency-Key` reused for another request is one).
    #[response(status = 422, content_type = "application/problem+json")]
    Validation(Problem),
}

/// The server errors any API route may answer, for the OpenAPI document.
#[derive(Debug, utoipa::IntoResponses)]
pub enum ServerErrors {
    /// Unexpected error; the body says nothing internal, quote `request_id`.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// A dependency (the database) is unavailable; retry after `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
    /// The request outlived the server's deadline.
    #[response(status = 504, content_type = "application/problem+json")]
    Timeout(Problem),
}

/// The answers of an operation that needs a bearer token, for the
/// OpenAPI document.
#[derive(Debug, utoipa::IntoResponses)]
pub enum AuthErrors {
    /// No bearer token (`WWW-Authenticate: Bearer`), or one that was
    /// refused (`Bearer error="invalid_token"`): expired, not yet valid,
    /// another issuer or audience, a bad signature, an unknown key, an
    /// algorithm other than RS256 or ES256.
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "The RFC 6750 challenge"))
    )]
    Unauthorized(Problem),
    /// A valid token without the scope the operation needs;
    /// `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."`
    /// names it.
    #[response(
        status = 403,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "The RFC 6750 challenge, naming the scope"))
    )]
    Forbidden(Problem),
}
