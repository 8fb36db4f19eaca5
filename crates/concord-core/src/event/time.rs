//! Event times: RFC 3339 on the wire, integer nanoseconds inside.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant with nanosecond precision, ordered on the UTC timeline.
///
/// Kept as an integer so that comparing two event times — the heart of last-writer-wins —
/// is exact and cheap whatever offsets the senders wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i128);

impl Timestamp {
    pub const fn from_unix_nanos(nanos: i128) -> Self {
        Timestamp(nanos)
    }

    pub const fn unix_nanos(self) -> i128 {
        self.0
    }

    /// Parses an RFC 3339 timestamp, any offset, any number of fraction digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| Timestamp(t.unix_timestamp_nanos()))
            .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))
    }

    /// RFC 3339 in UTC with microsecond precision, the form Concord raises its own events with.
    ///
    /// Every event a command raises is stamped with this text, so it is written digit by digit
    /// into a fixed buffer: `format!` with seven padded fields cost some 3 000 instructions.
    pub fn to_rfc3339(self) -> String {
        let micros = self.0.div_euclid(1000) * 1000;
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(micros).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let date = t.date();
        let Some(year) = u32::try_from(date.year()).ok().filter(|year| *year <= 9999) else {
            // Outside the four digits (a time read as `0000-01-01T00:00:00+01:00` is in year
            // -1): written by `format!`, as it always was.
            return formatted(t);
        };
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        let fields = [
            (0..4, year),
            (5..7, u32::from(u8::from(date.month()))),
            (8..10, u32::from(date.day())),
            (11..13, u32::from(t.hour())),
            (14..16, u32::from(t.minute())),
            (17..19, u32::from(t.second())),
            (20..26, t.microsecond()),
        ];
        for (range, mut value) in fields {
            for digit in text[range].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        String::from_utf8(text.to_vec()).expect("digits and separators are ASCII")
    }

    /// The smallest step Concord's own clocks take: one microsecond.
    pub fn next_tick(self) -> Self {
        Timestamp(self.0 + 1000)
    }
}

/// `to_rfc3339` by `format!`: for years the digit writer does not take, and its tests.
fn formatted(t: OffsetDateTime) -> String {
    let date = t.date();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        date.year(),
        u8::from(date.month()),
        date.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_format_wrote_them_and_read_back() {
        let second = 1_000_000_000i128;
        let mut stamps = vec![
            0,
            -1,
            1,
            999,
            1_000,
            -62_167_219_200 * second,               // 0000-01-01T00:00:00Z
            253_402_300_799 * second + 999_999_999, // 9999-12-31T23:59:59.999999999Z
            951_782_400 * second,                   // 2000-02-29, a leap day
            1_796_083_199 * second + 123_456_789,
        ];
        // A deterministic walk over four centuries, nanoseconds included.
        let mut nanos: i128 = -2_208_988_800 * second;
        while nanos < 10_000_000_000 * second {
            stamps.push(nanos);
            nanos += 7_777_777_777_777_777;
        }
        for nanos in stamps {
            let stamp = Timestamp::from_unix_nanos(nanos);
            let text = stamp.to_rfc3339();
            let micros = nanos.div_euclid(1000) * 1000;
            let t = OffsetDateTime::from_unix_timestamp_nanos(micros).unwrap();
            assert_eq!(text, formatted(t), "{nanos}");
            assert_eq!(
                Timestamp::parse(&text).unwrap().unix_nanos(),
                micros,
                "{text}"
            );
        }
    }

    #[test]
    fn a_time_before_year_zero_is_still_written() {
        let stamp = Timestamp::from_unix_nanos(-62_167_219_201 * 1_000_000_000);
        assert!(stamp.to_rfc3339().starts_with("-001-12-31T23:59:59"));
    }
}
