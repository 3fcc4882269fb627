//! Reading Tanium's text values: empty strings, sensor errors, sizes, percentages, times.
//!
//! Tanium returns "non-null" strings that are empty, and sensor failures as text
//! (`Error: …`, `TSE-Error: …`, `[no results]`). Empty means "no value"; a sensor error means
//! "unknown right now".

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::model::Reported;

/// What one Tanium text value really says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Text<'a> {
    /// A usable value (trimmed).
    Value(&'a str),
    /// Empty: the endpoint has no value.
    Empty,
    /// A sensor error or placeholder: the value is unknown right now.
    SensorError,
}

/// Placeholders Tanium sensors return instead of a value.
const SENSOR_PLACEHOLDERS: &[&str] = &[
    "[no results]",
    "[current result unavailable]",
    "[results currently unavailable]",
    "[too many results]",
    "[error]",
];

/// Classifies a Tanium text value.
pub(crate) fn text(raw: &str) -> Text<'_> {
    let t = raw.trim();
    if t.is_empty() {
        return Text::Empty;
    }
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("error:")
        || lower.starts_with("error -")
        || lower.starts_with("tse-error")
        || SENSOR_PLACEHOLDERS.contains(&lower.as_str())
    {
        return Text::SensorError;
    }
    Text::Value(t)
}

/// The clean value, if any.
pub(crate) fn clean(raw: &str) -> Option<&str> {
    match text(raw) {
        Text::Value(v) => Some(v),
        _ => None,
    }
}

/// A text field as a report: value, null when empty, absent on a sensor error.
pub(crate) fn reported_text(raw: &str) -> Reported<String> {
    match text(raw) {
        Text::Value(v) => Reported::Value(v.to_owned()),
        Text::Empty => Reported::Null,
        Text::SensorError => Reported::Absent,
    }
}

/// The first usable value of several sources; absent if any source had a sensor error (the real
/// value may be there), null if all are empty.
pub(crate) fn first_reported(sources: &[&str]) -> Reported<String> {
    let mut saw_error = false;
    for s in sources {
        match text(s) {
            Text::Value(v) => return Reported::Value(v.to_owned()),
            Text::SensorError => saw_error = true,
            Text::Empty => {}
        }
    }
    if saw_error {
        Reported::Absent
    } else {
        Reported::Null
    }
}

/// Parses a size such as `"16 GB"`, `"15.7 GB"`, `"16384 MB"`, `"1.5TB"` or `"512"` into GB
/// (binary units, two decimals). A bare number is taken as GB, as Tanium's RAM and disk sensors
/// report GB when they omit the unit.
pub(crate) fn parse_size_gb(raw: &str) -> Option<f64> {
    let t = clean(raw)?;
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let factor = match unit.as_str() {
        "" | "g" | "gb" | "gib" => 1.0,
        "t" | "tb" | "tib" => 1024.0,
        "p" | "pb" | "pib" => 1024.0 * 1024.0,
        "m" | "mb" | "mib" => 1.0 / 1024.0,
        "k" | "kb" | "kib" => 1.0 / (1024.0 * 1024.0),
        "b" | "bytes" => 1.0 / (1024.0 * 1024.0 * 1024.0),
        _ => return None,
    };
    let gb = value * factor;
    gb.is_finite().then(|| round2(gb))
}

/// Parses `"75 %"`, `"75%"` or `"75.5"` into a percentage in 0–100.
pub(crate) fn parse_percent(raw: &str) -> Option<f64> {
    let t = clean(raw)?;
    let v: f64 = t.trim_end_matches('%').trim().parse().ok()?;
    (v.is_finite() && (0.0..=100.0).contains(&v)).then_some(v)
}

pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Parses a Gateway `Time` (RFC 3339; a zone-less timestamp is taken as UTC).
pub(crate) fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let t = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(n.and_utc());
    }
    DateTime::parse_from_rfc2822(t)
        .ok()
        .map(|dt| dt.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_errors_and_empty_strings_are_told_apart() {
        assert_eq!(text("  jdoe "), Text::Value("jdoe"));
        assert_eq!(text(""), Text::Empty);
        assert_eq!(text("   "), Text::Empty);
        for e in [
            "Error: No inventory has been collected",
            "TSE-Error: Failed to send to sensor child process: timed out",
            "[no results]",
            "[current result unavailable]",
        ] {
            assert_eq!(text(e), Text::SensorError, "{e}");
        }
        assert_eq!(reported_text(""), Reported::Null);
        assert_eq!(reported_text("[no results]"), Reported::Absent);
        assert_eq!(
            first_reported(&["Error: nothing", "ACME\\jdoe"]),
            Reported::Value("ACME\\jdoe".into())
        );
        assert_eq!(first_reported(&["", "TSE-Error: x"]), Reported::Absent);
        assert_eq!(first_reported(&["", " "]), Reported::Null);
    }

    #[test]
    fn sizes_and_percentages_parse() {
        assert_eq!(parse_size_gb("16 GB"), Some(16.0));
        assert_eq!(parse_size_gb("15.7 GB"), Some(15.7));
        assert_eq!(parse_size_gb("16384 MB"), Some(16.0));
        assert_eq!(parse_size_gb("1.5TB"), Some(1536.0));
        assert_eq!(parse_size_gb("512"), Some(512.0));
        assert_eq!(parse_size_gb("8 GiB"), Some(8.0));
        assert_eq!(parse_size_gb("lots"), None);
        assert_eq!(parse_size_gb(""), None);
        assert_eq!(parse_size_gb("TSE-Error: x"), None);
        assert_eq!(parse_size_gb("12 parsecs"), None);
        assert_eq!(parse_percent("75 %"), Some(75.0));
        assert_eq!(parse_percent("3.5%"), Some(3.5));
        assert_eq!(parse_percent("120%"), None);
    }
}
