//! The query and the page body every list operation shares: `limit` and
//! `cursor` in, `next_cursor` out, with the schemas the document gives
//! them (built from what [`Cursor`] accepts, so the two cannot disagree).

use serde::Deserialize;
use service::page::{Cursor, PageLimit};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::error::ApiError;
use crate::problem::FieldError;

/// Query of a list operation. Kept as text so a bad value gets a `400`
/// naming the parameter. Parameters it does not name are ignored; a named
/// one given twice is a `400`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20): decimal digits only, nothing
    /// around them.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page (the schema carries the
    /// description).
    #[param(schema_with = cursor_schema)]
    pub cursor: Option<String>,
}

impl ListQuery {
    /// Where the page starts and how long it is.
    ///
    /// # Errors
    /// A `400` naming every bad parameter.
    pub fn parse(&self) -> Result<(Option<Cursor>, PageLimit), ApiError> {
        let mut errors = Vec::new();
        let limit = match self.limit.as_deref() {
            None => PageLimit::default(),
            Some(raw) => PageLimit::parse(raw).unwrap_or_else(|err| {
                errors.push(FieldError::new("limit", err));
                PageLimit::default()
            }),
        };
        let cursor = match self.cursor.as_deref() {
            None => None,
            Some(raw) => Cursor::decode(raw)
                .inspect_err(|err| errors.push(FieldError::new("cursor", err)))
                .ok(),
        };
        if !errors.is_empty() {
            return Err(ApiError::BadRequest {
                detail: "invalid query parameters; see `errors`".to_owned(),
                errors,
            });
        }
        Ok((cursor, limit))
    }
}

/// The `cursor` parameter: the pattern [`Cursor::decode`] accepts.
fn cursor_schema() -> Object {
    cursor_text(Type::String.into())
        .description(Some(format!(
            "`next_cursor` of the previous page, as it was returned: {} base64url \
             characters, nothing around them.",
            Cursor::LEN
        )))
        .build()
}

/// `next_cursor` of a page body: what [`Cursor::encode`] writes, or
/// `null`. Use as `#[schema(schema_with = next_cursor_schema, required = true)]`.
pub fn next_cursor_schema() -> Object {
    cursor_text([Type::String, Type::Null].into_iter().collect())
        .description(Some(
            "Pass as `cursor` to get the next page; `null` on the last page.",
        ))
        .build()
}

fn cursor_text(schema_type: SchemaType) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(schema_type)
        .min_length(Some(Cursor::LEN))
        .max_length(Some(Cursor::LEN))
        .pattern(Some(Cursor::PATTERN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<&str>, cursor: Option<&str>) -> ListQuery {
        ListQuery {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn defaults_to_the_first_page() {
        let (cursor, limit) = query(None, None).parse().unwrap();
        assert_eq!((cursor, limit), (None, PageLimit::default()));
    }

    #[test]
    fn names_every_bad_parameter() {
        let Err(ApiError::BadRequest { errors, .. }) =
            query(Some("0"), Some("not-a-cursor")).parse()
        else {
            panic!("expected a bad request");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "cursor"]);
    }

    #[test]
    fn a_returned_cursor_is_accepted() {
        let at = time::macros::datetime!(2026-11-23 10:00:00.5 UTC);
        let next = Cursor::after(at, uuid::Uuid::now_v7());
        let (cursor, limit) = query(Some("5"), Some(&next.encode())).parse().unwrap();
        assert_eq!(cursor, Some(next));
        assert_eq!(limit.get(), 5);
    }
}
