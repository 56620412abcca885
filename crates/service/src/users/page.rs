//! Keyset pagination: [`PageLimit`], the opaque [`Cursor`], and [`Page`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{User, UserId};

/// How many items a page holds: 1 to [`PageLimit::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

/// A limit outside 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number from 1 to {}", PageLimit::MAX)]
pub struct PageLimitError;

impl PageLimit {
    /// Largest page.
    pub const MAX: u32 = 100;
    /// Page size when the client does not say.
    pub const DEFAULT: Self = Self(20);

    /// Validates a requested limit.
    ///
    /// # Errors
    /// [`PageLimitError`] outside 1..=100.
    pub fn new(limit: u32) -> Result<Self, PageLimitError> {
        if (1..=Self::MAX).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(PageLimitError)
        }
    }

    /// Parses the text of a query parameter.
    ///
    /// # Errors
    /// [`PageLimitError`] when it is not a number in 1..=100.
    pub fn parse(raw: &str) -> Result<Self, PageLimitError> {
        raw.trim()
            .parse()
            .map_err(|_| PageLimitError)
            .and_then(Self::new)
    }

    /// The limit.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where the next page starts: after the user with this creation time and
/// id. Clients see it only as an opaque string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Creation time of the last user on the previous page.
    pub created_at: OffsetDateTime,
    /// Its id, which breaks ties between equal creation times.
    pub id: UserId,
}

/// A string that is not a cursor this service issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor returned by this API")]
pub struct CursorError;

impl Cursor {
    /// The cursor that continues after `user`.
    pub fn after(user: &User) -> Self {
        Self {
            created_at: user.created_at,
            id: user.id,
        }
    }

    /// The opaque text form: base64url of the creation time in
    /// microseconds (8 bytes, big-endian) followed by the id (16 bytes).
    pub fn encode(&self) -> String {
        let micros =
            i64::try_from(self.created_at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
        let mut bytes = [0_u8; 24];
        bytes[..8].copy_from_slice(&micros.to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_uuid().as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor produced by [`Cursor::encode`].
    ///
    /// # Errors
    /// [`CursorError`] for anything else.
    pub fn decode(raw: &str) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| CursorError)?;
        let bytes: [u8; 24] = bytes.try_into().map_err(|_| CursorError)?;
        let (micros, id) = bytes.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| CursorError)?);
        let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .map_err(|_| CursorError)?;
        let id = Uuid::from_slice(id).map_err(|_| CursorError)?;
        Ok(Self {
            created_at,
            id: UserId::from_uuid(id),
        })
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in creation order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn limit_bounds() {
        assert_eq!(PageLimit::default().get(), 20);
        assert_eq!(PageLimit::parse("1").unwrap().get(), 1);
        assert_eq!(PageLimit::parse("100").unwrap().get(), 100);
        for bad in ["0", "101", "-1", "ten", "", "1.5"] {
            assert_eq!(PageLimit::parse(bad), Err(PageLimitError), "{bad}");
        }
    }

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor {
            created_at: datetime!(2026-11-22 10:00:00.123456 UTC),
            id: UserId::generate(),
        };
        let text = cursor.encode();
        assert_eq!(text.len(), 32);
        assert_eq!(Cursor::decode(&text), Ok(cursor));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        for bad in ["", "abc", "!!!!", &"A".repeat(33), &"A".repeat(31)] {
            assert_eq!(Cursor::decode(bad), Err(CursorError), "{bad}");
        }
    }
}
