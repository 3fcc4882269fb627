//! NinjaOne v2 JSON shapes (the subset this adapter reads), decoded leniently.
//!
//! Every field is a [`Reported`]: a missing key is `Absent`, `null` is `Null`, and a value of
//! the wrong type is `Absent` too (logged at debug) — one odd field never loses a device, and an
//! unreadable value never wipes a stored one. Only a record's `id` is required.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::model::Reported;

/// How a field type is read leniently (see the module docs).
pub(crate) trait Lenient: Sized {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error>;
}

fn lenient<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<Reported<T>, D::Error> {
    T::lenient(d)
}

fn ignored<T>(what: &str) -> Reported<T> {
    tracing::debug!(found = what, "NinjaOne field of an unexpected type ignored");
    Reported::Absent
}

/// Objects and arrays: through a JSON value, so a wrong shape costs only this field.
fn via_value<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Reported<T>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None => Ok(Reported::Null),
        Some(v) => Ok(serde_json::from_value::<T>(v)
            .map(Reported::Value)
            .unwrap_or_else(|e| ignored(&e.to_string()))),
    }
}

/// One JSON scalar, read without building a value tree (the hot path of large pages).
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Other,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// Reads a scalar field: `null` is `Null`, a convertible value is `Value`, anything else
/// `Absent`.
fn scalar<'de, D: Deserializer<'de>, T>(
    d: D,
    convert: impl FnOnce(Scalar) -> Option<T>,
) -> Result<Reported<T>, D::Error> {
    Ok(match d.deserialize_any(ScalarVisitor)? {
        Scalar::Null => Reported::Null,
        other => convert(other).map_or_else(|| ignored("a value of another type"), Reported::Value),
    })
}

impl Lenient for String {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
        scalar(d, |s| match s {
            Scalar::Str(v) => Some(v),
            _ => None,
        })
    }
}

impl Lenient for bool {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
        scalar(d, |s| match s {
            Scalar::Bool(v) => Some(v),
            _ => None,
        })
    }
}

impl Lenient for f64 {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
        scalar(d, |s| match s {
            Scalar::Int(v) => Some(v as f64),
            Scalar::Float(v) => Some(v),
            _ => None,
        })
    }
}

fn integer(s: Scalar) -> Option<i64> {
    match s {
        Scalar::Int(v) => Some(v),
        Scalar::Float(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(v as i64),
        Scalar::Str(v) => v.trim().parse().ok(),
        _ => None,
    }
}

impl Lenient for i64 {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
        scalar(d, integer)
    }
}

impl Lenient for i32 {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
        scalar(d, |s| integer(s).and_then(|v| i32::try_from(v).ok()))
    }
}

impl<T: DeserializeOwned> Lenient for Vec<T> {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
        via_value(d)
    }
}

/// A record id: a JSON integer, or a string holding one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Id(pub(crate) i64);

impl Lenient for Id {
    fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
        scalar(d, |s| integer(s).map(Id))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Id::lenient(d)?
            .value()
            .copied()
            .ok_or_else(|| de::Error::custom("id is not an integer"))
    }
}

/// Declares a wire struct whose fields are all lenient `Reported`s.
macro_rules! wire {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name {
            $(
                $(#[$fm])*
                #[serde(default, deserialize_with = "lenient")]
                pub(crate) $field: Reported<$ty>,
            )*
        }

        impl Lenient for $name {
            fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Reported<Self>, D::Error> {
                via_value(d)
            }
        }
    };
}

wire!(
    /// `Organization` (`GET /v2/organizations`).
    Organization {
        id: Id,
        name: String,
        description: String,
        node_approval_mode: String,
        tags: Vec<String>,
    }
);

wire!(
    /// `LocationWithOrganizationRef` (`GET /v2/locations`).
    Location {
        id: Id,
        name: String,
        address: String,
        description: String,
        organization_id: Id,
        tags: Vec<String>,
    }
);

wire!(
    /// `Device` and its `AgentDevice` subtype (`GET /v2/devices-detailed`).
    Device {
        id: Id,
        uid: String,
        parent_device_id: Id,
        organization_id: Id,
        location_id: Id,
        node_class: String,
        node_role_id: Id,
        approval_status: String,
        offline: bool,
        display_name: String,
        system_name: String,
        dns_name: String,
        netbios_name: String,
        /// Epoch seconds (fractional).
        created: f64,
        /// Epoch seconds (fractional).
        last_contact: f64,
        tags: Vec<String>,
        maintenance: Maintenance,
        references: References,
        ip_addresses: Vec<String>,
        mac_addresses: Vec<String>,
        #[serde(rename = "publicIP")]
        public_ip: String,
        device_type: String,
        os: OperatingSystem,
        system: ComputerSystem,
        memory: Memory,
        processors: Vec<Processor>,
        volumes: Vec<Volume>,
        last_logged_in_user: String,
    }
);

wire!(
    /// `Maintenance`.
    Maintenance { status: String }
);

wire!(
    /// `NodeReferences` (present when the API expands references).
    References { location: NamedRef, organization: NamedRef }
);

wire!(
    /// An expanded reference with a name.
    NamedRef { name: String }
);

wire!(
    /// `OperatingSystem`.
    OperatingSystem {
        manufacturer: String,
        name: String,
        architecture: String,
        /// Epoch seconds.
        last_boot_time: f64,
        build_number: String,
        release_id: String,
        needs_reboot: bool,
    }
);

wire!(
    /// `ComputerSystem`.
    ComputerSystem {
        name: String,
        manufacturer: String,
        model: String,
        bios_serial_number: String,
        serial_number: String,
        domain: String,
        domain_role: String,
        total_physical_memory: i64,
        virtual_machine: bool,
        chassis_type: String,
    }
);

wire!(
    /// `Memory`.
    Memory { capacity: i64 }
);

wire!(
    /// `Processor`.
    Processor {
        name: String,
        num_cores: i32,
        num_logical_cores: i32,
    }
);

wire!(
    /// `Volume` (sizes in bytes).
    Volume {
        name: String,
        drive_letter: String,
        label: String,
        file_system: String,
        capacity: i64,
        free_space: i64,
    }
);

wire!(
    /// `Activity`, also the body of a webhook delivery.
    Activity {
        id: Id,
        /// Epoch seconds.
        activity_time: f64,
        device_id: Id,
        activity_type: String,
        status_code: String,
        status: String,
        device: ActivityDevice,
    }
);

wire!(
    /// The `device` a webhook expands.
    ActivityDevice {
        id: Id,
        organization_id: Id,
        location_id: Id,
    }
);

/// `ActivitiesResponse` (`GET /v2/activities`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivitiesResponse {
    /// The newest activity id of the account (the head of the log).
    #[serde(default, deserialize_with = "lenient")]
    pub(crate) last_activity_id: Reported<Id>,
    /// One page, newest first. Elements are decoded one by one (see [`decode_each`]).
    #[serde(default)]
    pub(crate) activities: Vec<Value>,
}

/// The OAuth token endpoint's answer.
#[derive(Clone, Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    /// Seconds; NinjaOne sends 3600.
    #[serde(default)]
    pub(crate) expires_in: Option<f64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// An RFC 6749 error body (`{"error": "invalid_grant", "error_description": "..."}`).
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct OAuthError {
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

/// Decodes each element of a JSON array on its own; elements that are not the expected shape
/// (not an object, no usable `id`) are returned as errors next to the good ones.
pub(crate) fn decode_each<T: DeserializeOwned>(
    items: Vec<Value>,
) -> (Vec<T>, Vec<serde_json::Error>) {
    let mut good = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for item in items {
        match serde_json::from_value(item) {
            Ok(t) => good.push(t),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_the_wrong_type_are_absent_not_fatal() {
        let d: Device = serde_json::from_value(json!({
            "id": "42",
            "offline": "yes",
            "lastContact": 1795878120.5,
            "displayName": null,
            "system": {"serialNumber": 123, "model": "HP"},
            "volumes": "n/a"
        }))
        .unwrap();
        assert_eq!(d.id, Reported::Value(Id(42)));
        assert_eq!(d.offline, Reported::Absent);
        assert_eq!(d.last_contact, Reported::Value(1795878120.5));
        assert_eq!(d.display_name, Reported::Null);
        assert_eq!(d.system_name, Reported::Absent);
        let system = d.system.value().unwrap();
        assert_eq!(system.serial_number, Reported::Absent);
        assert_eq!(system.model, Reported::Value("HP".into()));
        assert_eq!(d.volumes, Reported::Absent);
    }

    #[test]
    fn public_ip_keeps_its_odd_spelling() {
        let d: Device =
            serde_json::from_value(json!({"id": 1, "publicIP": "203.0.113.9"})).unwrap();
        assert_eq!(d.public_ip, Reported::Value("203.0.113.9".into()));
    }

    #[test]
    fn decode_each_separates_bad_elements() {
        let (good, bad) = decode_each::<Organization>(vec![json!({"id": 1}), json!(7)]);
        assert_eq!(good.len(), 1);
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn token_responses_never_print_tokens() {
        let t: TokenResponse = serde_json::from_value(
            json!({"access_token": "AT-secret", "refresh_token": "RT-secret", "expires_in": 3600}),
        )
        .unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
