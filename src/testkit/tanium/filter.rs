//! `EndpointFieldFilter` evaluation: group membership, a handful of paths, the comparison
//! operators, `negated`, and `filters` trees combined with `any`.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::fleet::{SimEndpoint, SimGroup};

/// A filter as the Gateway receives it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Filter {
    path: Option<String>,
    member_of: Option<MemberOf>,
    sensor: Option<serde_json::Value>,
    op: Option<String>,
    negated: Option<bool>,
    value: Option<String>,
    filters: Option<Vec<Filter>>,
    any: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberOf {
    id: Option<String>,
    name: Option<String>,
}

/// Evaluation settings.
pub(crate) struct FilterContext<'a> {
    pub(crate) groups: &'a [SimGroup],
    /// Behave like a tenant that refuses `eidLastSeen` filters.
    pub(crate) reject_eid_last_seen: bool,
}

impl Filter {
    /// Checks the filter once, so a bad filter fails the request even when nothing matches.
    pub(crate) fn validate(&self, ctx: &FilterContext<'_>) -> Result<(), String> {
        if self.sensor.is_some() {
            return Err("sensor filters are not supported by the simulator".into());
        }
        if let Some(path) = &self.path {
            if path == "eidLastSeen" && ctx.reject_eid_last_seen {
                return Err(
                    "invalid filter: path \"eidLastSeen\" cannot be used to filter endpoints"
                        .into(),
                );
            }
            field_kind(path).ok_or_else(|| format!("invalid filter: unknown path \"{path}\""))?;
            let op = self.op.as_deref().unwrap_or("EQ");
            if !matches!(
                op,
                "EQ" | "LT" | "LTE" | "GT" | "GTE" | "CONTAINS" | "STARTS_WITH" | "ENDS_WITH"
            ) {
                return Err(format!(
                    "invalid filter: operator {op} is not supported by the simulator"
                ));
            }
            if field_kind(path) == Some(Kind::Time) {
                let value = self.value.as_deref().unwrap_or("");
                parse_time(value)
                    .ok_or_else(|| format!("invalid filter: {value:?} is not a time"))?;
            }
        }
        for f in self.filters.iter().flatten() {
            f.validate(ctx)?;
        }
        Ok(())
    }

    /// A group every match must be a member of, when the filter says so (lets the simulator
    /// scan only that group's members).
    pub(crate) fn required_group(&self) -> Option<&str> {
        if self.negated.unwrap_or(false) {
            return None;
        }
        if let Some(id) = self.member_of.as_ref().and_then(|m| m.id.as_deref()) {
            return Some(id);
        }
        if self.any.unwrap_or(false) {
            return None;
        }
        self.filters
            .iter()
            .flatten()
            .find_map(Filter::required_group)
    }

    /// Whether `e` matches (call [`Filter::validate`] first).
    pub(crate) fn matches(&self, e: &SimEndpoint, ctx: &FilterContext<'_>) -> bool {
        let mut result = true;
        if let Some(m) = &self.member_of {
            let by_id = m.id.as_ref().is_none_or(|id| e.groups.contains(id));
            let by_name = m.name.as_ref().is_none_or(|name| {
                ctx.groups
                    .iter()
                    .any(|g| &g.name == name && e.groups.contains(&g.id))
            });
            result &= by_id && by_name;
        }
        if let Some(path) = &self.path {
            result &= self.compare(path, e);
        }
        if let Some(children) = self.filters.as_ref().filter(|f| !f.is_empty()) {
            let combined = if self.any.unwrap_or(false) {
                children.iter().any(|f| f.matches(e, ctx))
            } else {
                children.iter().all(|f| f.matches(e, ctx))
            };
            result &= combined;
        }
        result != self.negated.unwrap_or(false)
    }

    fn compare(&self, path: &str, e: &SimEndpoint) -> bool {
        let op = self.op.as_deref().unwrap_or("EQ");
        let want = self.value.as_deref().unwrap_or("");
        let ordering = match field_kind(path) {
            Some(Kind::Time) => {
                let have = match path {
                    "eidLastSeen" => e.eid_last_seen,
                    _ => e.eid_first_seen,
                };
                match (have, parse_time(want)) {
                    (Some(h), Some(w)) => h.cmp(&w),
                    _ => return false,
                }
            }
            Some(Kind::Text) => {
                let have = text_field(path, e);
                let (h, w) = (have.to_ascii_lowercase(), want.to_ascii_lowercase());
                match op {
                    "CONTAINS" => return h.contains(&w),
                    "STARTS_WITH" => return h.starts_with(&w),
                    "ENDS_WITH" => return h.ends_with(&w),
                    _ => {}
                }
                match (have.parse::<u64>(), want.parse::<u64>()) {
                    (Ok(a), Ok(b)) => a.cmp(&b),
                    _ => h.cmp(&w),
                }
            }
            None => return false,
        };
        match op {
            "EQ" => ordering == Ordering::Equal,
            "LT" => ordering == Ordering::Less,
            "LTE" => ordering != Ordering::Greater,
            "GT" => ordering == Ordering::Greater,
            "GTE" => ordering != Ordering::Less,
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Time,
}

fn field_kind(path: &str) -> Option<Kind> {
    match path {
        "eidLastSeen" | "eidFirstSeen" => Some(Kind::Time),
        "id" | "name" | "computerID" | "systemUUID" | "serialNumber" | "domainName"
        | "ipAddress" => Some(Kind::Text),
        _ => None,
    }
}

fn text_field<'a>(path: &str, e: &'a SimEndpoint) -> &'a str {
    match path {
        "id" => &e.id,
        "name" => &e.name,
        "computerID" => &e.computer_id,
        "systemUUID" => &e.system_uuid,
        "serialNumber" => &e.serial_number,
        "domainName" => &e.domain_name,
        _ => &e.ip_address,
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn endpoint() -> SimEndpoint {
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let mut e = SimEndpoint::generate(1, 40001, "100", 7, now);
        e.eid_last_seen = Some(now);
        e.groups = vec!["100".into(), "101".into()];
        e
    }

    fn eval(filter: serde_json::Value, reject: bool) -> Result<bool, String> {
        let f: Filter = serde_json::from_value(filter).map_err(|e| e.to_string())?;
        let groups = vec![super::super::generate::generate_group(0)];
        let ctx = FilterContext {
            groups: &groups,
            reject_eid_last_seen: reject,
        };
        f.validate(&ctx)?;
        Ok(f.matches(&endpoint(), &ctx))
    }

    #[test]
    fn membership_paths_trees_and_negation() {
        assert!(eval(json!({"memberOf": {"id": "101"}}), false).unwrap());
        assert!(!eval(json!({"memberOf": {"id": "102"}}), false).unwrap());
        assert!(eval(json!({"memberOf": {"name": "Acme Corp"}}), false).unwrap());
        assert!(eval(json!({"path": "id", "value": "40001"}), false).unwrap());
        assert!(eval(json!({"path": "id", "op": "GT", "value": "9999"}), false).unwrap());
        let since = json!({"path": "eidLastSeen", "op": "GT", "value": "2026-11-01T11:00:00Z"});
        assert!(
            eval(
                json!({"filters": [{"memberOf": {"id": "100"}}, since.clone()]}),
                false
            )
            .unwrap()
        );
        assert!(
            !eval(
                json!({"filters": [{"memberOf": {"id": "999"}}, since.clone()]}),
                false
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"any": true, "filters": [{"memberOf": {"id": "999"}}, since.clone()]}),
                false
            )
            .unwrap()
        );
        assert!(!eval(json!({"negated": true, "memberOf": {"id": "100"}}), false).unwrap());
        let e = eval(since, true).unwrap_err();
        assert!(e.contains("eidLastSeen"), "{e}");
        assert!(eval(json!({"path": "nope", "value": "1"}), false).is_err());
        assert!(
            eval(
                json!({"path": "eidLastSeen", "op": "GT", "value": "yesterday"}),
                false
            )
            .is_err()
        );
    }
}
