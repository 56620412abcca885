//! Request and response bodies of the widgets API, and their conversion
//! to and from domain types.

use serde::{Deserialize, Serialize};
use service::widgets::{NewWidget, Widget, WidgetName, WidgetPatch};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use uuid::Uuid;

use crate::body::{field, require};
use crate::error::ApiError;
use crate::problem::FieldError;

/// Body of `POST /api/v1/widgets`.
///
/// Fields are optional in Rust so a missing one is reported by name with the
/// other problems, rather than as a parse error that stops at the first; a
/// field sent as `null` is told apart from a missing one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWidgetRequest {
    /// The display name (rules in the schema).
    #[serde(default, deserialize_with = "crate::body::present")]
    #[schema(schema_with = name_schema, required = true)]
    pub name: Option<Option<String>>,
}

/// Body of `PATCH /api/v1/widgets/{id}`: at least one field; a field left
/// out is not changed, and none may be `null`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateWidgetRequest {
    /// New name (rules in the schema).
    #[serde(default, deserialize_with = "crate::body::present")]
    #[schema(schema_with = name_schema, required = false)]
    pub name: Option<Option<String>>,
}

/// A name: the pattern is the rule [`WidgetName::parse`] checks, so the
/// document and the service cannot disagree.
fn name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "A display name: 1 to {} characters as sent, at least one of them \
             not whitespace; no control or format characters (Unicode categories \
             Cc and Cf) and no line or paragraph separators (Zl, Zp). Surrounding \
             whitespace is trimmed.",
            WidgetName::MAX_LEN
        )))
        .min_length(Some(1))
        .max_length(Some(WidgetName::MAX_LEN))
        .pattern(Some(WidgetName::pattern()))
        .examples(["Blue widget"])
        .build()
}

/// A widget.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetResponse {
    /// UUIDv7 assigned by the service.
    pub id: Uuid,
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

/// One page of widgets.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetPage {
    /// The widgets, in creation order.
    pub items: Vec<WidgetResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(schema_with = crate::paging::next_cursor_schema, required = true)]
    pub next_cursor: Option<String>,
}

impl From<Widget> for WidgetResponse {
    fn from(widget: Widget) -> Self {
        Self {
            id: widget.id.as_uuid(),
            name: widget.name.as_str().to_owned(),
            created_at: widget.created_at,
            updated_at: widget.updated_at,
        }
    }
}

impl TryFrom<CreateWidgetRequest> for NewWidget {
    type Error = ApiError;

    fn try_from(body: CreateWidgetRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        require(&mut errors, &[("name", &body.name)]);
        let name = field(&mut errors, "name", &body.name, WidgetName::parse);
        match name {
            Some(name) if errors.is_empty() => Ok(Self { name }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

impl TryFrom<UpdateWidgetRequest> for WidgetPatch {
    type Error = ApiError;

    fn try_from(body: UpdateWidgetRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let name = field(&mut errors, "name", &body.name, WidgetName::parse);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Self::new(name).map_err(|err| ApiError::Validation(vec![FieldError::new("body", err)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(result: Result<impl std::fmt::Debug, ApiError>) -> Vec<FieldError> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn create_names_a_missing_or_invalid_name() {
        let body: CreateWidgetRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(
            errors(NewWidget::try_from(body)),
            [FieldError::new("name", "is required")]
        );
        let body: CreateWidgetRequest = serde_json::from_str(r#"{"name": " "}"#).unwrap();
        assert_eq!(
            errors(NewWidget::try_from(body)),
            [FieldError::new("name", "must not be empty")]
        );
    }

    #[test]
    fn an_empty_or_null_patch_is_refused() {
        let body: UpdateWidgetRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(errors(WidgetPatch::try_from(body))[0].field, "body");
        let body: UpdateWidgetRequest = serde_json::from_str(r#"{"name": null}"#).unwrap();
        assert_eq!(
            errors(WidgetPatch::try_from(body)),
            [FieldError::new("name", "must be a string, not null")]
        );
    }

    #[test]
    fn unknown_members_are_refused() {
        assert!(serde_json::from_str::<CreateWidgetRequest>(r#"{"name": "a", "x": 1}"#).is_err());
    }
}
