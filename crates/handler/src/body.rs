//! Reading a JSON request body member by member, so that every problem
//! with a body is reported at once, by name.
//!
//! A body's struct keeps each member as `Option<Option<String>>` with
//! `#[serde(default, deserialize_with = "crate::body::present")]`: `None`
//! when it is missing, `Some(None)` when it is `null`. [`field`] then runs
//! the domain's parse constructor and records what is wrong.

use serde::{Deserialize, Deserializer};

use crate::problem::FieldError;

/// A member that is present: `Some(None)` when it is `null`. With
/// `#[serde(default)]`, a missing member stays `None`.
pub fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Parses a member that may be missing (`None`), recording what is wrong
/// with it; `null` is wrong.
pub fn field<T, E: ToString>(
    errors: &mut Vec<FieldError>,
    name: &str,
    member: &Option<Option<String>>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    let Some(raw) = member.as_ref()? else {
        errors.push(FieldError::new(name, "must be a string, not null"));
        return None;
    };
    match parse(raw) {
        Ok(value) => Some(value),
        Err(err) => {
            errors.push(FieldError::new(name, err));
            None
        }
    }
}

/// Records "is required" for each of `members` that is missing.
pub fn require(errors: &mut Vec<FieldError>, members: &[(&str, &Option<Option<String>>)]) {
    for (name, member) in members {
        if member.is_none() {
            errors.push(FieldError::new(*name, "is required"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "present")]
        name: Option<Option<String>>,
    }

    fn parse(json: &str) -> (Option<usize>, Vec<FieldError>) {
        let body: Body = serde_json::from_str(json).unwrap();
        let mut errors = Vec::new();
        require(&mut errors, &[("name", &body.name)]);
        let len = field(&mut errors, "name", &body.name, |raw| {
            if raw.is_empty() {
                Err("is empty")
            } else {
                Ok(raw.len())
            }
        });
        (len, errors)
    }

    #[test]
    fn missing_null_and_invalid_members_are_told_apart() {
        assert_eq!(parse(r#"{"name": "Ada"}"#), (Some(3), vec![]));
        assert_eq!(
            parse("{}"),
            (None, vec![FieldError::new("name", "is required")])
        );
        assert_eq!(
            parse(r#"{"name": null}"#),
            (
                None,
                vec![FieldError::new("name", "must be a string, not null")]
            )
        );
        assert_eq!(
            parse(r#"{"name": ""}"#),
            (None, vec![FieldError::new("name", "is empty")])
        );
    }
}
