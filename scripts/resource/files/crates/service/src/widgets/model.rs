//! The widget entity and the inputs that create and change it.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use super::WidgetName;

/// A widget's id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WidgetId(Uuid);

impl WidgetId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an id that came from a request or a store.
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The underlying UUID.
    pub const fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for WidgetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    /// Its id.
    pub id: WidgetId,
    /// Its display name.
    pub name: WidgetName,
    /// When it was created, to the microsecond.
    pub created_at: OffsetDateTime,
    /// When it last changed, to the microsecond; never goes backwards.
    pub updated_at: OffsetDateTime,
}

/// What a new widget is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWidget {
    /// The display name.
    pub name: WidgetName,
}

/// A change to a widget: at least one field is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetPatch {
    name: Option<WidgetName>,
}

/// A patch that would change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at least one of the fields must be given")]
pub struct EmptyPatch;

impl WidgetPatch {
    /// A patch setting the given fields.
    ///
    /// # Errors
    /// [`EmptyPatch`] when no field is given.
    pub fn new(name: Option<WidgetName>) -> Result<Self, EmptyPatch> {
        if name.is_none() {
            return Err(EmptyPatch);
        }
        Ok(Self { name })
    }
}

impl Widget {
    /// A new widget created at `now`.
    pub(crate) fn create(new: NewWidget, now: OffsetDateTime) -> Self {
        Self {
            id: WidgetId::generate(),
            name: new.name,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies `patch` at `now`. Returns `false`, leaving the widget
    /// untouched, when the patch sets every field to the value it already
    /// has.
    ///
    /// `updated_at` moves forward by at least a microsecond even if the
    /// clock went backwards, so it orders the widget's changes.
    pub(crate) fn apply(&mut self, patch: WidgetPatch, now: OffsetDateTime) -> bool {
        let Some(name) = patch.name.filter(|n| *n != self.name) else {
            return false;
        };
        self.name = name;
        let next = self.updated_at + time::Duration::microseconds(1);
        self.updated_at = now.max(next);
        true
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn widget() -> Widget {
        Widget::create(
            NewWidget {
                name: WidgetName::parse("Blue").unwrap(),
            },
            datetime!(2026-01-01 00:00:00 UTC),
        )
    }

    fn rename(to: &str) -> WidgetPatch {
        WidgetPatch::new(Some(WidgetName::parse(to).unwrap())).unwrap()
    }

    #[test]
    fn empty_patch_is_rejected() {
        assert_eq!(WidgetPatch::new(None), Err(EmptyPatch));
    }

    #[test]
    fn patch_changes_the_name_and_moves_updated_at() {
        let mut w = widget();
        let later = datetime!(2026-01-02 00:00:00 UTC);
        assert!(w.apply(rename("Red"), later));
        assert_eq!(w.name.as_str(), "Red");
        assert_eq!(w.updated_at, later);
        assert_eq!(w.created_at, datetime!(2026-01-01 00:00:00 UTC));
    }

    #[test]
    fn patch_to_the_same_name_changes_nothing() {
        let mut w = widget();
        let before = w.clone();
        assert!(!w.apply(rename(" Blue "), datetime!(2026-01-02 00:00:00 UTC)));
        assert_eq!(w, before);
    }

    #[test]
    fn updated_at_never_goes_backwards() {
        let mut w = widget();
        let before = w.updated_at;
        assert!(w.apply(rename("Red"), datetime!(2025-12-31 00:00:00 UTC)));
        assert_eq!(w.updated_at, before + time::Duration::microseconds(1));
    }

    #[test]
    fn generated_ids_are_v7_and_ordered() {
        let a = WidgetId::generate();
        let b = WidgetId::generate();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }
}
