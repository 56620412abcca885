//! [`now`]: the time every stored timestamp starts from.

use time::OffsetDateTime;

/// The current time, truncated to what PostgreSQL stores (microseconds), so
/// a value returned to a client equals the one read back later.
pub fn now() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.microsecond();
    // `micros * 1000` is below one second, so this cannot fail; keep the
    // original value rather than panic if that ever changed.
    t.replace_nanosecond(micros * 1_000).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn now_is_truncated_to_microseconds() {
        let t = datetime!(2026-01-01 00:00:00.123456789 UTC);
        assert_eq!(
            truncate_to_micros(t),
            datetime!(2026-01-01 00:00:00.123456 UTC)
        );
        assert_eq!(now().nanosecond() % 1_000, 0);
    }
}
