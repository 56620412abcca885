//! The user entity and the inputs that create and change it.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Email, UserName};

/// A user's id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
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

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Its unique (case-insensitively) e-mail address.
    pub email: Email,
    /// Its display name.
    pub name: UserName,
    /// When it was created, to the microsecond.
    pub created_at: OffsetDateTime,
    /// When it last changed, to the microsecond; never goes backwards.
    pub updated_at: OffsetDateTime,
}

/// What a new user is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The e-mail address.
    pub email: Email,
    /// The display name.
    pub name: UserName,
}

/// A change to a user: at least one field is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPatch {
    email: Option<Email>,
    name: Option<UserName>,
}

/// A patch that would change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at least one of `email` and `name` must be given")]
pub struct EmptyPatch;

impl UserPatch {
    /// A patch setting the given fields.
    ///
    /// # Errors
    /// [`EmptyPatch`] when neither field is given.
    pub fn new(email: Option<Email>, name: Option<UserName>) -> Result<Self, EmptyPatch> {
        if email.is_none() && name.is_none() {
            return Err(EmptyPatch);
        }
        Ok(Self { email, name })
    }
}

impl User {
    /// A new user created at `now`.
    pub(crate) fn create(new: NewUser, now: OffsetDateTime) -> Self {
        Self {
            id: UserId::generate(),
            email: new.email,
            name: new.name,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies `patch` at `now`. Returns `false`, leaving the user untouched,
    /// when the patch sets every field to the value it already has.
    ///
    /// `updated_at` moves forward by at least a microsecond even if the clock
    /// went backwards, because the cache uses it as a version.
    pub(crate) fn apply(&mut self, patch: UserPatch, now: OffsetDateTime) -> bool {
        let email = patch.email.filter(|e| *e != self.email);
        let name = patch.name.filter(|n| *n != self.name);
        if email.is_none() && name.is_none() {
            return false;
        }
        if let Some(email) = email {
            self.email = email;
        }
        if let Some(name) = name {
            self.name = name;
        }
        let next = self.updated_at + time::Duration::microseconds(1);
        self.updated_at = now.max(next);
        true
    }

    /// `updated_at` as microseconds since the epoch: a version number that
    /// grows with every change.
    pub fn version(&self) -> i64 {
        let micros = self.updated_at.unix_timestamp_nanos() / 1_000;
        i64::try_from(micros).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn user() -> User {
        User::create(
            NewUser {
                email: Email::parse("ada@example.com").unwrap(),
                name: UserName::parse("Ada").unwrap(),
            },
            datetime!(2026-01-01 00:00:00 UTC),
        )
    }

    #[test]
    fn empty_patch_is_rejected() {
        assert_eq!(UserPatch::new(None, None), Err(EmptyPatch));
    }

    #[test]
    fn patch_changes_fields_and_moves_updated_at() {
        let mut u = user();
        let later = datetime!(2026-01-02 00:00:00 UTC);
        let patch = UserPatch::new(None, Some(UserName::parse("Ada L.").unwrap())).unwrap();
        assert!(u.apply(patch, later));
        assert_eq!(u.name.as_str(), "Ada L.");
        assert_eq!(u.email.as_str(), "ada@example.com");
        assert_eq!(u.updated_at, later);
        assert_eq!(u.created_at, datetime!(2026-01-01 00:00:00 UTC));
    }

    #[test]
    fn patch_to_same_values_changes_nothing() {
        let mut u = user();
        let before = u.clone();
        let patch = UserPatch::new(Some(Email::parse("ADA@example.com").unwrap()), None).unwrap();
        assert!(!u.apply(patch, datetime!(2026-01-02 00:00:00 UTC)));
        assert_eq!(u, before);
    }

    #[test]
    fn updated_at_never_goes_backwards() {
        let mut u = user();
        let earlier = datetime!(2025-12-31 00:00:00 UTC);
        let v0 = u.version();
        let patch = UserPatch::new(None, Some(UserName::parse("B").unwrap())).unwrap();
        assert!(u.apply(patch, earlier));
        assert_eq!(u.version(), v0 + 1);
    }

    #[test]
    fn generated_ids_are_v7_and_ordered() {
        let a = UserId::generate();
        let b = UserId::generate();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }
}
