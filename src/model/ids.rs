//! Typed identifiers. Nothing crosses a trait boundary as a bare `String` or `Uuid`.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// A new random (v4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a provider-side identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The identifier as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

uuid_id!(
    /// The host's tenant. Every store operation is scoped to exactly one tenant.
    TenantId
);
uuid_id!(
    /// One configured connection to one provider instance (for example "Tanium, production").
    IntegrationId
);
uuid_id!(
    /// The host's client (customer) that assets belong to.
    ClientId
);
uuid_id!(
    /// An asset in the store.
    AssetId
);
uuid_id!(
    /// The id of one external-entity mapping row.
    MappingId
);
uuid_id!(
    /// The id of one sync run (v7, so ids sort by start time).
    RunId
);

string_id!(
    /// A provider's scope id: a Tanium computer group, a NinjaOne organization or location, a
    /// Tactical client or site.
    ExternalScopeId
);
string_id!(
    /// A provider's device id: a Tanium endpoint id, a NinjaOne device id, a Tactical agent id.
    ExternalDeviceId
);

impl IntegrationId {
    /// A stable id derived from a human name (UUID v5 in a fixed namespace), so a config file
    /// can say `id = "tanium-main"` and get the same integration on every run.
    pub fn from_name(name: &str) -> Self {
        Self(Uuid::new_v5(&NAME_NAMESPACE, name.as_bytes()))
    }
}

impl ClientId {
    /// A stable client id derived from a name (UUID v5), used by automatic scope mapping.
    pub fn from_name(name: &str) -> Self {
        Self(Uuid::new_v5(
            &NAME_NAMESPACE,
            format!("client:{name}").as_bytes(),
        ))
    }
}

impl RunId {
    /// A new time-ordered run id.
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }
}

/// Namespace for name-derived ids (a fixed random UUID; never change it).
const NAME_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a57_93d4_4c1e_b0a8_5e2f_71c3_9d04);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_derived_ids_are_stable_and_distinct() {
        assert_eq!(IntegrationId::from_name("a"), IntegrationId::from_name("a"));
        assert_ne!(IntegrationId::from_name("a"), IntegrationId::from_name("b"));
        assert_ne!(
            IntegrationId::from_name("a").as_uuid(),
            ClientId::from_name("a").as_uuid()
        );
    }

    #[test]
    fn ids_serialize_transparently() {
        let id = ExternalDeviceId::new("dev-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"dev-1\"");
        let t = TenantId::from_uuid(Uuid::nil());
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"00000000-0000-0000-0000-000000000000\""
        );
    }
}
