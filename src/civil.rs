//! UTC calendar arithmetic without a time-zone database: the civil date and time of a Unix
//! timestamp (proleptic Gregorian, days-from-civil inverted). Used for RFC 3339 timestamps in
//! provenance and image configs, and for the MS-DOS timestamps of zip entries.

/// A UTC date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
}

/// The UTC date and time of `secs` seconds since 1970-01-01T00:00:00Z.
pub fn from_unix(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let small = |v: i64| u32::try_from(v).expect("a day, month or time field is small");
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: small(month),
        day: small(day),
        hour: small(rem / 3600),
        minute: small(rem % 3600 / 60),
        second: small(rem % 60),
    }
}
