//! Keyset pagination, for every resource listed in creation order:
//! [`PageLimit`], the opaque [`Cursor`] (creation time and id of the last
//! item), and [`Page`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use uuid::Uuid;

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

    /// Parses the text of a query parameter: decimal digits only (no sign,
    /// no spaces, nothing trimmed), a value in 1..=100.
    ///
    /// # Errors
    /// [`PageLimitError`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, PageLimitError> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PageLimitError);
        }
        raw.parse().map_err(|_| PageLimitError).and_then(Self::new)
    }

    /// The limit.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// How many rows to ask the store for: one more than the limit, which
    /// says whether another page follows (see [`Page::from_rows`]).
    pub const fn rows_to_fetch(self) -> u32 {
        self.0 + 1
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where the next page starts: after the item with this creation time and
/// id. Clients see it only as an opaque string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Creation time of the last item on the previous page.
    pub created_at: OffsetDateTime,
    /// Its id, which breaks ties between equal creation times.
    pub id: Uuid,
}

/// A string that is not a cursor: not [`Cursor::LEN`] base64url characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor returned by this API")]
pub struct CursorError;

/// The earliest and latest creation times a cursor can name, in microseconds
/// since the epoch: 0001-01-01 and the last microsecond of 9999, which both
/// `time` and PostgreSQL represent. A decoded time outside is clamped to
/// them, which names the same place in the list: nothing is created before
/// year 1 or after 9999.
const EARLIEST_MICROS: i64 = -62_135_596_800_000_000;
const LATEST_MICROS: i64 = 253_402_300_799_999_999;

impl Cursor {
    /// The cursor that continues after the item created at `created_at`
    /// with `id`.
    pub const fn after(created_at: OffsetDateTime, id: Uuid) -> Self {
        Self { created_at, id }
    }

    /// The opaque text form: base64url of the creation time in
    /// microseconds (8 bytes, big-endian) followed by the id (16 bytes).
    pub fn encode(&self) -> String {
        let micros =
            i64::try_from(self.created_at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
        let mut bytes = [0_u8; 24];
        bytes[..8].copy_from_slice(&micros.to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Length of the text form: 24 bytes in unpadded base64url.
    pub const LEN: usize = 32;

    /// The text form as a regular expression (ECMA-262 and Python read it
    /// alike): exactly the strings [`Cursor::decode`] accepts.
    pub const PATTERN: &str = "^[A-Za-z0-9_-]{32}$";

    /// Reads the text form. Every string of [`Cursor::LEN`] base64url
    /// characters is a cursor (nothing is trimmed); a time past what a
    /// timestamp holds is clamped, which names the same place in the list.
    ///
    /// # Errors
    /// [`CursorError`] for anything else.
    pub fn decode(raw: &str) -> Result<Self, CursorError> {
        let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if raw.len() != Self::LEN || !raw.bytes().all(alphabet) {
            return Err(CursorError);
        }
        // 32 characters of the alphabet are exactly 24 bytes (no partial
        // byte, so no non-canonical trailing bits): neither step can fail.
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| CursorError)?;
        let bytes: [u8; 24] = bytes.try_into().map_err(|_| CursorError)?;
        let (micros, id) = bytes.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| CursorError)?);
        let micros = micros.clamp(EARLIEST_MICROS, LATEST_MICROS);
        // Within the clamp, the time is always representable.
        let created_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
            .map_err(|_| CursorError)?;
        let id = Uuid::from_slice(id).map_err(|_| CursorError)?;
        Ok(Self { created_at, id })
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

impl<T> Page<T> {
    /// The page of `rows` (fetched with [`PageLimit::rows_to_fetch`], in
    /// creation order), with a cursor after its last item, made by
    /// `cursor_of`, when more rows follow.
    pub fn from_rows(mut rows: Vec<T>, limit: PageLimit, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let limit = limit.get() as usize;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if has_more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
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
        assert_eq!(PageLimit::parse("007").unwrap().get(), 7);
        for bad in [
            "0",
            "101",
            "-1",
            "ten",
            "",
            "1.5",
            " 1",
            "1 ",
            "+1",
            "1e1",
            "\u{663}",
            "99999999999",
        ] {
            assert_eq!(PageLimit::parse(bad), Err(PageLimitError), "{bad:?}");
        }
    }

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor {
            created_at: datetime!(2026-11-22 10:00:00.123456 UTC),
            id: Uuid::now_v7(),
        };
        let text = cursor.encode();
        assert_eq!(text.len(), 32);
        assert_eq!(Cursor::decode(&text), Ok(cursor));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        let valid = Cursor {
            created_at: datetime!(2026-11-22 10:00:00 UTC),
            id: Uuid::now_v7(),
        }
        .encode();
        for bad in [
            "",
            "abc",
            "!!!!",
            &"A".repeat(33),
            &"A".repeat(31),
            &format!(" {}", &valid[1..]),
            &format!("{} ", &valid[1..]),
            &format!("{}=", &valid[1..]),
            &format!("{}+", &valid[1..]),
            &format!("{}/", &valid[1..]),
            &format!("{}\u{e9}", &valid[2..]),
        ] {
            assert_eq!(Cursor::decode(bad), Err(CursorError), "{bad:?}");
        }
    }

    #[test]
    fn every_string_of_the_pattern_is_a_cursor() {
        let alphabet: Vec<char> = ('A'..='Z')
            .chain('a'..='z')
            .chain('0'..='9')
            .chain(['-', '_'])
            .collect();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut samples: Vec<String> = alphabet
            .iter()
            .map(|c| c.to_string().repeat(Cursor::LEN))
            .collect();
        samples.extend((0..10_000).map(|_| {
            (0..Cursor::LEN)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect()
        }));
        for text in samples {
            let cursor = Cursor::decode(&text).unwrap_or_else(|_| panic!("{text}"));
            // Re-encoding gives the text back unless the time was clamped.
            let micros = cursor.created_at.unix_timestamp_nanos() / 1_000;
            if micros > i128::from(EARLIEST_MICROS) && micros < i128::from(LATEST_MICROS) {
                assert_eq!(cursor.encode(), text);
            }
        }
    }

    #[test]
    fn times_out_of_range_are_clamped() {
        let id = Uuid::now_v7();
        for (micros, expected) in [
            (i64::MIN, datetime!(0001-01-01 00:00:00 UTC)),
            (i64::MAX, datetime!(9999-12-31 23:59:59.999999 UTC)),
        ] {
            let mut bytes = [0_u8; 24];
            bytes[..8].copy_from_slice(&micros.to_be_bytes());
            bytes[8..].copy_from_slice(id.as_bytes());
            let cursor = Cursor::decode(&URL_SAFE_NO_PAD.encode(bytes)).unwrap();
            assert_eq!(
                cursor,
                Cursor {
                    created_at: expected,
                    id
                }
            );
        }
    }

    #[test]
    fn a_page_says_whether_more_follow() {
        let at = datetime!(2026-11-23 10:00:00 UTC);
        let limit = PageLimit::new(2).unwrap();
        assert_eq!(limit.rows_to_fetch(), 3);
        let cursor_of = |n: &u8| Cursor::after(at, Uuid::from_u128(u128::from(*n)));
        let full = Page::from_rows(vec![1, 2, 3], limit, cursor_of);
        assert_eq!(full.items, [1, 2]);
        assert_eq!(full.next_cursor, Some(cursor_of(&2)));
        let last = Page::from_rows(vec![1, 2], limit, cursor_of);
        assert_eq!((last.items, last.next_cursor), (vec![1, 2], None));
    }
}
