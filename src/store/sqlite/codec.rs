//! How values are stored: uuids as hyphenated TEXT, timestamps as fixed-width RFC 3339 TEXT with
//! six fractional digits (exact at microsecond precision; text order = time order), JSON as TEXT.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};

/// The stored form of a timestamp.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The stored form of an optional timestamp.
pub(super) fn ts_opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(ts)
}

/// Parses a stored timestamp; also accepts the `YYYY-MM-DD HH:MM:SS[.f]` form that SQLite's
/// own date functions produce, read as UTC.
pub(super) fn parse_ts(column: &str, s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|_| decode_error(column, format!("{s:?} is not a timestamp")))
}

/// Parses an optional stored timestamp.
pub(super) fn parse_ts_opt(column: &str, s: Option<String>) -> Result<Option<DateTime<Utc>>> {
    s.map(|s| parse_ts(column, &s)).transpose()
}

/// The stored form of a uuid.
pub(super) fn id(u: &Uuid) -> String {
    u.hyphenated().to_string()
}

/// Parses a stored uuid.
pub(super) fn parse_id(column: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| decode_error(column, format!("{s:?} is not a uuid")))
}

/// JSON text of a value.
pub(super) fn json<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| {
        Error::new(ErrorKind::Store, "could not encode a value as JSON").with_source(e)
    })
}

/// JSON text of an optional value (`None` stays SQL NULL).
pub(super) fn json_opt<T: Serialize>(v: Option<&T>) -> Result<Option<String>> {
    v.map(json).transpose()
}

/// Parses JSON text. A JSON string that itself holds JSON (the reference sometimes stored
/// settings that way) is unwrapped once.
pub(super) fn parse_json<T: DeserializeOwned>(column: &str, s: &str) -> Result<T> {
    match serde_json::from_str::<T>(s) {
        Ok(v) => Ok(v),
        Err(first) => match serde_json::from_str::<String>(s) {
            Ok(inner) => serde_json::from_str(&inner)
                .map_err(|e| decode_error(column, format!("invalid JSON: {e}"))),
            Err(_) => Err(decode_error(column, format!("invalid JSON: {first}"))),
        },
    }
}

/// Parses optional JSON text.
pub(super) fn parse_json_opt<T: DeserializeOwned>(
    column: &str,
    s: Option<String>,
) -> Result<Option<T>> {
    s.map(|s| parse_json(column, &s)).transpose()
}

/// A JSON array of strings: the one parameter `json_each(?)` expands into a set.
pub(super) fn json_array<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<String> {
    json(&items.into_iter().collect::<Vec<_>>())
}

fn decode_error(column: &str, what: String) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("sqlite store: column {column}: {what}"),
    )
    .with_context("column", column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_round_trip_exactly_and_sort_as_text() {
        let a = Utc.timestamp_opt(1_790_000_000, 123_456_000).unwrap();
        let b = Utc.timestamp_opt(1_790_000_000, 123_457_000).unwrap();
        let whole = Utc.timestamp_opt(1_790_000_001, 0).unwrap();
        assert_eq!(ts(a), "2026-09-21T14:13:20.123456Z");
        assert_eq!(ts(whole).len(), ts(a).len(), "fixed width");
        for t in [a, b, whole] {
            assert_eq!(parse_ts("t", &ts(t)).unwrap(), t);
        }
        assert!(ts(a) < ts(b) && ts(b) < ts(whole));
        assert_eq!(
            parse_ts("t", "2026-09-21 14:13:20.5").unwrap(),
            Utc.timestamp_opt(1_790_000_000, 500_000_000).unwrap()
        );
        let err = parse_ts("last_seen_at", "yesterday").unwrap_err();
        assert!(err.to_string().contains("last_seen_at"), "{err}");
    }

    #[test]
    fn json_strings_holding_json_are_unwrapped() {
        let v: serde_json::Map<String, serde_json::Value> =
            parse_json("settings", r#""{\"a\":1}""#).unwrap();
        assert_eq!(serde_json::Value::Object(v), serde_json::json!({"a": 1}));
        assert!(parse_json::<serde_json::Value>("settings", "{").is_err());
    }
}
