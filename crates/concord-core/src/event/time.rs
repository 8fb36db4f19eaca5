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
    pub fn to_rfc3339(self) -> String {
        let micros = self.0.div_euclid(1000) * 1000;
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(micros).unwrap_or(OffsetDateTime::UNIX_EPOCH);
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

    /// The smallest step Concord's own clocks take: one microsecond.
    pub fn next_tick(self) -> Self {
        Timestamp(self.0 + 1000)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}
