//! Timestamps as Go prints them in signature output: RFC 3339, in UTC or in the local
//! zone (`time.Unix(ts, 0)` marshals to JSON in local time).

use std::time::{SystemTime, UNIX_EPOCH};

/// `secs` since the epoch as RFC 3339 with the given UTC offset (`Z` for zero).
pub fn rfc3339(secs: i64, offset_secs: i64) -> String {
    let local = secs + offset_secs;
    let (days, rem) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let zone = if offset_secs == 0 {
        "Z".to_string()
    } else {
        let sign = if offset_secs < 0 { '-' } else { '+' };
        let o = offset_secs.abs();
        format!("{sign}{:02}:{:02}", o / 3600, o % 3600 / 60)
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{zone}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

/// A `SystemTime` in UTC, for messages.
pub fn utc(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    rfc3339(secs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339(1796407759, 0), "2026-12-04T18:09:19Z");
        assert_eq!(rfc3339(1796407759, 3600), "2026-12-04T19:09:19+01:00");
        assert_eq!(rfc3339(0, -5 * 3600 - 1800), "1969-12-31T18:30:00-05:30");
    }
}
