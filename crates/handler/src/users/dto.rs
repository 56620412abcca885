//! Request and response bodies of the users API, and their conversion to
//! and from domain types.

use serde::{Deserialize, Serialize};
use service::users::{Email, NewUser, User, UserName, UserPatch};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};
use uuid::Uuid;

use crate::body::{field, require};
use crate::error::ApiError;
use crate::problem::FieldError;

/// Body of `POST /api/v1/users`.
///
/// Fields are optional in Rust so a missing one is reported by name with the
/// other problems, rather than as a parse error that stops at the first; a
/// field sent as `null` is told apart from a missing one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// The e-mail address (rules in the schema).
    #[serde(default, deserialize_with = "crate::body::present")]
    #[schema(schema_with = email_schema, required = true)]
    pub email: Option<Option<String>>,
    /// The display name (rules in the schema).
    #[serde(default, deserialize_with = "crate::body::present")]
    #[schema(schema_with = name_schema, required = true)]
    pub name: Option<Option<String>>,
}

/// Body of `PATCH /api/v1/users/{id}`: at least one field; a field left
/// out is not changed, and none may be `null`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateUserRequest {
    /// New e-mail address (rules in the schema).
    #[serde(default, deserialize_with = "crate::body::present")]
    #[schema(schema_with = email_schema, required = false)]
    pub email: Option<Option<String>>,
    /// New name (rules in the schema).
    #[serde(default, deserialize_with = "crate::body::present")]
    #[schema(schema_with = name_schema, required = false)]
    pub name: Option<Option<String>>,
}

/// An e-mail address: the pattern and the lengths of [`Email::parse`].
fn email_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .description(Some(format!(
            "An e-mail address as sent, nothing trimmed: at most {} printable ASCII \
             characters (no spaces; an internationalised domain in its xn-- form, \
             internationalised local parts are refused); a dot-atom local part of \
             at most 64 characters (no quoted strings); a domain of two or more \
             labels that is a valid IDNA host name (no address literals). Stored \
             lower-cased, unique case-insensitively.",
            Email::MAX_LEN
        )))
        .min_length(Some(1))
        .max_length(Some(Email::MAX_LEN))
        .pattern(Some(Email::PATTERN))
        .examples(["ada@example.com"])
        .build()
}

/// A name: the pattern is built from the same table [`UserName::parse`]
/// checks, so the document and the service cannot disagree.
fn name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "A display name: 1 to {} characters as sent, at least one of them \
             not whitespace; no control or format characters (Unicode categories \
             Cc and Cf: bidi controls, zero-width characters, tags) and no line \
             or paragraph separators (Zl, Zp). Surrounding whitespace is trimmed.",
            UserName::MAX_LEN
        )))
        .min_length(Some(1))
        .max_length(Some(UserName::MAX_LEN))
        .pattern(Some(UserName::pattern()))
        .examples(["Ada Lovelace"])
        .build()
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// UUIDv7 assigned by the service.
    pub id: Uuid,
    /// Normalised (lower-case) e-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// RFC 3339 creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// RFC 3339 time of the last change.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// One page of users.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    /// Users in creation order.
    pub items: Vec<UserResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(schema_with = crate::paging::next_cursor_schema, required = true)]
    pub next_cursor: Option<String>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

impl TryFrom<CreateUserRequest> for NewUser {
    type Error = ApiError;

    fn try_from(body: CreateUserRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        require(&mut errors, &[("email", &body.email), ("name", &body.name)]);
        let email = field(&mut errors, "email", &body.email, Email::parse);
        let name = field(&mut errors, "name", &body.name, UserName::parse);
        match (email, name) {
            (Some(email), Some(name)) if errors.is_empty() => Ok(Self { email, name }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

impl TryFrom<UpdateUserRequest> for UserPatch {
    type Error = ApiError;

    fn try_from(body: UpdateUserRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let email = field(&mut errors, "email", &body.email, Email::parse);
        let name = field(&mut errors, "name", &body.name, UserName::parse);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Self::new(email, name)
            .map_err(|err| ApiError::Validation(vec![FieldError::new("body", err)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_reports_every_field() {
        let body = CreateUserRequest {
            email: Some(Some("nope".to_owned())),
            name: None,
        };
        let Err(ApiError::Validation(errors)) = NewUser::try_from(body) else {
            panic!("expected a validation error");
        };
        assert_eq!(
            errors,
            [
                FieldError::new("name", "is required"),
                FieldError::new("email", "is not a valid e-mail address"),
            ]
        );
    }

    #[test]
    fn empty_patch_is_a_validation_error() {
        let body = UpdateUserRequest {
            email: None,
            name: None,
        };
        let Err(ApiError::Validation(errors)) = UserPatch::try_from(body) else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "body");
    }

    #[test]
    fn null_is_refused_and_missing_is_unchanged() {
        let body: UpdateUserRequest = serde_json::from_str(r#"{"name": null}"#).unwrap();
        assert_eq!((&body.email, &body.name), (&None, &Some(None)));
        let Err(ApiError::Validation(errors)) = UserPatch::try_from(body) else {
            panic!("expected a validation error");
        };
        assert_eq!(
            errors,
            [FieldError::new("name", "must be a string, not null")]
        );
        let body: CreateUserRequest =
            serde_json::from_str(r#"{"email": null, "name": "Ada"}"#).unwrap();
        let Err(ApiError::Validation(errors)) = NewUser::try_from(body) else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].field, "email");
    }
}
