//! Numbers and times as people read them on a page.

/// `1.5` → "1.5", `2.0` → "2", rounded to 2 places.
pub fn num(x: &f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r}")
    }
}

/// MiB as people read them: `512 MiB`, `1.5 GiB`.
pub fn mib(x: &f64) -> String {
    if *x >= 1024.0 {
        format!("{} GiB", num(&(x / 1024.0)))
    } else {
        format!("{} MiB", num(x))
    }
}

/// `used` of `total` as a whole percentage (0 when nothing).
pub fn pct(used: &f64, total: &f64) -> u32 {
    if *total > 0.0 {
        (used / total * 100.0).clamp(0.0, 100.0).round() as u32
    } else {
        0
    }
}

/// Seconds since the epoch as `2026-12-04 09:30:12 UTC`.
pub fn when(t: &f64) -> String {
    if *t <= 0.0 {
        return "—".into();
    }
    let secs = *t as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(num(&2.0), "2");
        assert_eq!(num(&(0.1 + 0.2)), "0.3");
        assert_eq!(mib(&1536.0), "1.5 GiB");
        assert_eq!(pct(&1.0, &0.0), 0);
        assert_eq!(when(&0.0), "—");
        assert_eq!(when(&1_796_376_612.0), "2026-12-04 09:30:12 UTC");
    }
}
