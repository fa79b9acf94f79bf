//! Times as Go formats them. Two layouts: `time.RFC3339` (whole seconds) and
//! `time.RFC3339Nano`, which is also how `time.Time` marshals to JSON (the fraction
//! without its trailing zeros, none at all when it is zero). Both write `Z` for a zero
//! UTC offset. With a whole second the two are the same text.

use std::time::{SystemTime, UNIX_EPOCH};

/// Go's `time.RFC3339`: `secs` since the epoch at the given UTC offset, e.g.
/// `time.Unix(secs, 0).Format(time.RFC3339)` in a zone `offset_secs` east of UTC.
pub fn rfc3339(secs: i64, offset_secs: i64) -> String {
    rfc3339_nano_at(secs, 0, offset_secs)
}

/// Go's `time.RFC3339Nano` (a `time.Time` in JSON) of a Unix time, in UTC. Go writes the
/// machine's zone where it formats `time.Unix(…)`; the instant is the same.
pub fn rfc3339_nano(secs: i64, nanos: u32) -> String {
    rfc3339_nano_at(secs, nanos, 0)
}

/// [`rfc3339`] of a `SystemTime`, in UTC (the fraction of a second dropped).
pub fn utc_rfc3339(t: SystemTime) -> String {
    rfc3339(unix(t).0, 0)
}

/// [`rfc3339_nano`] of a `SystemTime`, e.g. a file's `FileInfo.ModTime()`.
pub fn utc_rfc3339_nano(t: SystemTime) -> String {
    let (secs, nanos) = unix(t);
    rfc3339_nano(secs, nanos)
}

/// `time.Now().UTC()` in JSON.
pub fn now_rfc3339_nano() -> String {
    utc_rfc3339_nano(SystemTime::now())
}

/// The local zone's UTC offset at `secs` (from the C library, which honours $TZ).
pub fn local_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` it is given; `t` outlives the call.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// The parts of a time as written, for a caller that has them already (a parsed time).
pub struct Fields {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub nanos: u32,
    pub offset_secs: i64,
}

impl Fields {
    /// `time.RFC3339Nano` of these parts.
    pub fn rfc3339_nano(&self) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos > 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        if self.offset_secs == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let o = self.offset_secs.abs();
            out.push_str(&format!("{sign}{:02}:{:02}", o / 3600, o % 3600 / 60));
        }
        out
    }
}

fn rfc3339_nano_at(secs: i64, nanos: u32, offset_secs: i64) -> String {
    let local = secs + offset_secs;
    let (days, rem) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    Fields {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        nanos,
        offset_secs,
    }
    .rfc3339_nano()
}

/// Seconds and nanoseconds since the epoch, rounded down (before 1970 too).
fn unix(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (secs, nanos) = (-(d.as_secs() as i64), d.subsec_nanos());
            if nanos > 0 {
                (secs - 1, 1_000_000_000 - nanos)
            } else {
                (secs, 0)
            }
        }
    }
}

/// A proleptic Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of `civil_from_days`).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn days_and_dates_convert_both_ways() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in [-719_468, -1, 0, 11_017, 20_791, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339(1796407759, 0), "2026-12-04T18:09:19Z");
        assert_eq!(rfc3339(1796407759, 3600), "2026-12-04T19:09:19+01:00");
        assert_eq!(rfc3339(0, -5 * 3600 - 1800), "1969-12-31T18:30:00-05:30");
    }

    #[test]
    fn nanoseconds_lose_their_trailing_zeros() {
        assert_eq!(rfc3339_nano(1796407759, 0), "2026-12-04T18:09:19Z");
        assert_eq!(
            rfc3339_nano(1796407759, 500_000_000),
            "2026-12-04T18:09:19.5Z"
        );
        assert_eq!(rfc3339_nano(0, 1), "1970-01-01T00:00:00.000000001Z");
        let before = UNIX_EPOCH - Duration::from_millis(250);
        assert_eq!(utc_rfc3339_nano(before), "1969-12-31T23:59:59.75Z");
        assert_eq!(
            utc_rfc3339(UNIX_EPOCH + Duration::from_millis(1500)),
            "1970-01-01T00:00:01Z"
        );
    }

    #[test]
    fn timestamps_look_like_go() {
        let t = now_rfc3339_nano();
        assert!(
            t.ends_with('Z') && t.len() >= 20 && t.as_bytes()[10] == b'T',
            "{t}"
        );
    }
}
