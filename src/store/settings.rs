//! Settings are merged, never replaced wholesale.

use serde_json::{Map, Value};

/// Deep-merges `patch` into `target`: objects merge key by key, `null` removes a key, any other
/// value replaces. (JSON Merge Patch, RFC 7396.)
pub fn merge_settings(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(p) => match target.get_mut(key) {
                Some(Value::Object(t)) => merge_settings(t, p),
                _ => {
                    let mut fresh = Map::new();
                    merge_settings(&mut fresh, p);
                    target.insert(key.clone(), Value::Object(fresh));
                }
            },
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_unrelated_keys() {
        let mut t = json!({"deviceSync": {"enabled": true, "intervalMinutes": 60}, "alertPolling": {"enabled": true}})
            .as_object()
            .unwrap()
            .clone();
        let p =
            json!({"deviceSync": {"intervalMinutes": 30}, "region": "eu", "alertPolling": null})
                .as_object()
                .unwrap()
                .clone();
        merge_settings(&mut t, &p);
        assert_eq!(
            Value::Object(t),
            json!({"deviceSync": {"enabled": true, "intervalMinutes": 30}, "region": "eu"})
        );
    }
}
