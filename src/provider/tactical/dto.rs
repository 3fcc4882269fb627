//! Wire types: the JSON Tactical RMM sends, as far as the adapter reads it. Unknown fields are
//! ignored and most fields default, so older and newer servers decode alike.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A client from `GET /clients/`, with its sites.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct ClientDto {
    pub(crate) id: i64,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) sites: Vec<SiteDto>,
    #[serde(default)]
    pub(crate) agent_count: Option<u64>,
}

/// A site nested in a client.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct SiteDto {
    pub(crate) id: i64,
    pub(crate) name: String,
}

/// One page of a DRF `PageNumberPagination` listing.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BetaPage<T> {
    pub(crate) count: u64,
    #[serde(default)]
    pub(crate) next: Option<String>,
    pub(crate) results: Vec<T>,
}

/// The raw agent model: rows of `GET /beta/v1/agent/` and the body of `GET /agents/<id>/`
/// (which adds computed fields this adapter derives itself, so both give the same snapshot).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AgentModelDto {
    pub(crate) agent_id: String,
    pub(crate) hostname: String,
    /// Site primary key (a foreign key on the model).
    #[serde(deserialize_with = "lenient_i64")]
    pub(crate) site: Option<i64>,
    pub(crate) monitoring_type: Option<String>,
    pub(crate) plat: Option<String>,
    pub(crate) goarch: Option<String>,
    pub(crate) operating_system: Option<String>,
    pub(crate) version: Option<String>,
    #[serde(deserialize_with = "lenient_time")]
    pub(crate) last_seen: Option<DateTime<Utc>>,
    pub(crate) boot_time: Option<f64>,
    pub(crate) public_ip: Option<String>,
    pub(crate) total_ram: Option<f64>,
    pub(crate) disks: Option<serde_json::Value>,
    pub(crate) logged_in_username: Option<String>,
    pub(crate) last_logged_in_user: Option<String>,
    pub(crate) needs_reboot: Option<bool>,
    pub(crate) maintenance_mode: Option<bool>,
    pub(crate) offline_time: Option<u32>,
    pub(crate) overdue_time: Option<u32>,
    pub(crate) wmi_detail: Option<serde_json::Value>,
    #[serde(deserialize_with = "lenient_time")]
    pub(crate) patches_last_installed: Option<DateTime<Utc>>,
    pub(crate) description: Option<String>,
}

/// A row of the classic `GET /agents/` table listing (`AgentTableSerializer`): names instead
/// of ids, server-computed status and hardware summaries, no RAM or volumes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AgentTableDto {
    pub(crate) agent_id: String,
    pub(crate) hostname: String,
    pub(crate) site_name: Option<String>,
    pub(crate) client_name: Option<String>,
    pub(crate) monitoring_type: Option<String>,
    pub(crate) status: Option<String>,
    #[serde(deserialize_with = "lenient_time")]
    pub(crate) last_seen: Option<DateTime<Utc>>,
    pub(crate) boot_time: Option<f64>,
    pub(crate) needs_reboot: Option<bool>,
    pub(crate) has_patches_pending: Option<bool>,
    pub(crate) maintenance_mode: Option<bool>,
    pub(crate) logged_username: Option<String>,
    pub(crate) italic: Option<bool>,
    pub(crate) plat: Option<String>,
    pub(crate) goarch: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) operating_system: Option<String>,
    pub(crate) public_ip: Option<String>,
    pub(crate) cpu_model: Option<Vec<String>>,
    pub(crate) local_ips: Option<String>,
    pub(crate) make_model: Option<String>,
    pub(crate) serial_number: Option<String>,
}

/// `POST /v2/checkcreds/` success: a token (no 2FA) or `{"totp": true}`.
#[derive(Clone, Deserialize)]
pub(crate) struct CheckCredsDto {
    #[serde(default)]
    pub(crate) totp: bool,
    #[serde(default)]
    pub(crate) token: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub(crate) expiry: Option<DateTime<Utc>>,
}

/// `POST /v2/login/` success.
#[derive(Clone, Deserialize)]
pub(crate) struct LoginDto {
    pub(crate) token: String,
    #[serde(default, deserialize_with = "lenient_time")]
    pub(crate) expiry: Option<DateTime<Utc>>,
}

/// Timestamps as DRF writes them (`…Z`, `…+00:00`, with or without fractions); anything
/// unreadable is treated as unknown rather than failing the whole page.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.as_deref().and_then(parse_time))
}

/// Parses an ISO 8601 / RFC 3339 timestamp, also with a space instead of `T` (Python's
/// `str(datetime)`); naive times are UTC.
pub(crate) fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let t_form = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&t_form) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(&t_form, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// A foreign key as a number, or as a numeric string.
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_in_drf_and_python_forms() {
        let want = Utc.with_ymd_and_hms(2026, 11, 27, 21, 43, 8).unwrap();
        let micros = want + chrono::Duration::microseconds(662_803);
        assert_eq!(parse_time("2026-11-27T21:43:08.662803Z"), Some(micros));
        assert_eq!(parse_time("2026-11-27T21:43:08Z"), Some(want));
        assert_eq!(parse_time("2026-11-27 21:43:08.662803+00:00"), Some(micros));
        assert_eq!(parse_time("2026-11-27T22:43:08+01:00"), Some(want));
        assert_eq!(parse_time("2026-11-27T21:43:08"), Some(want));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn model_rows_tolerate_missing_and_odd_fields() {
        let row: AgentModelDto = serde_json::from_value(serde_json::json!({
            "id": 7, "agent_id": "abc", "hostname": "pc", "site": "3",
            "last_seen": "garbage", "total_ram": 16, "unknown_field": [1, 2]
        }))
        .unwrap();
        assert_eq!(row.site, Some(3));
        assert_eq!(row.last_seen, None);
        assert_eq!(row.total_ram, Some(16.0));
        assert_eq!(row.offline_time, None);
    }
}
