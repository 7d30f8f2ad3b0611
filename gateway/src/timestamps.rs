//! Timestamps as the REST answers spell them: RFC 3339 in UTC.

use std::time::{Duration, UNIX_EPOCH};

use prost_types::Timestamp;

/// The first second humantime cannot write (year 10000).
const YEAR_10000: i64 = 253_402_300_800;

/// `at` in RFC 3339, exactly as prost's `Display` writes it (a fraction of 3, 6 or 9
/// digits, none on a whole second, and `Z`), but by humantime's digit writer rather
/// than the general formatting machinery: a page of books writes two per book, so
/// this is on the hot path of every listing. Outside the years 1970 to 9999,
/// which no stored time reaches, prost writes it.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    let in_range = (0..YEAR_10000).contains(&at.seconds) && (0..1_000_000_000).contains(&at.nanos);
    if !in_range {
        return at.to_string();
    }
    let nanos = at.nanos as u32;
    let time = UNIX_EPOCH + Duration::new(at.seconds as u64, nanos);
    let written = match nanos {
        0 => humantime::format_rfc3339_seconds(time),
        _ if nanos.is_multiple_of(1_000_000) => humantime::format_rfc3339_millis(time),
        _ if nanos.is_multiple_of(1_000) => humantime::format_rfc3339_micros(time),
        _ => humantime::format_rfc3339_nanos(time),
    };
    written.to_string()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn every_timestamp_reads_as_prost_writes_it(
            seconds in -100_000_000_000i64..300_000_000_000,
            nanos in 0i32..1_000_000_000,
            precision in 0usize..4,
        ) {
            // Stored times are whole milliseconds; every precision is checked anyway.
            let nanos = [0, nanos - nanos % 1_000_000, nanos - nanos % 1_000, nanos][precision];
            let at = Timestamp { seconds, nanos };
            prop_assert_eq!(rfc3339(at), at.to_string());
        }
    }
}
