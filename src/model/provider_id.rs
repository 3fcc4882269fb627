//! The open provider identifier.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;

/// Identifies a provider product. Open: the built-ins are [`ProviderId::TANIUM`],
/// [`ProviderId::NINJAONE`] and [`ProviderId::TACTICALRMM`], and a third-party adapter brings
/// its own slug with [`ProviderId::new`].
///
/// A slug is 1–50 characters of lowercase ASCII letters, digits, `_` and `-`; it is what the
/// stores write into `assets.rmm_provider` and `tenant_external_entity_mappings.integration_type`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProviderId(Cow<'static, str>);

impl ProviderId {
    /// Tanium (Gateway GraphQL).
    pub const TANIUM: ProviderId = ProviderId(Cow::Borrowed("tanium"));
    /// NinjaOne (REST v2).
    pub const NINJAONE: ProviderId = ProviderId(Cow::Borrowed("ninjaone"));
    /// Tactical RMM (REST).
    pub const TACTICALRMM: ProviderId = ProviderId(Cow::Borrowed("tacticalrmm"));

    /// A provider id from a slug, validated.
    pub fn new(slug: impl Into<String>) -> Result<Self, Error> {
        let slug = slug.into();
        validate_slug(&slug)?;
        Ok(Self(Cow::Owned(slug)))
    }

    /// A provider id from a static slug, validated at first use. Useful for `const`-like
    /// declarations in third-party adapters.
    pub fn from_static(slug: &'static str) -> Result<Self, Error> {
        validate_slug(slug)?;
        Ok(Self(Cow::Borrowed(slug)))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate_slug(slug: &str) -> Result<(), Error> {
    let ok = !slug.is_empty()
        && slug.len() <= 50
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_config(
            "provider",
            format!("provider id {slug:?} is not a slug (1-50 characters of a-z, 0-9, '_' or '-')"),
        ))
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProviderId({})", self.0)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ProviderId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "tanium" => Ok(Self::TANIUM),
            "ninjaone" => Ok(Self::NINJAONE),
            "tacticalrmm" => Ok(Self::TACTICALRMM),
            other => Self::new(other),
        }
    }
}

impl<'de> Deserialize<'de> for ProviderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_to_constants() {
        assert_eq!("tanium".parse::<ProviderId>().unwrap(), ProviderId::TANIUM);
        assert_eq!(
            "tacticalrmm".parse::<ProviderId>().unwrap(),
            ProviderId::TACTICALRMM
        );
    }

    #[test]
    fn third_party_slugs_are_validated() {
        assert_eq!(ProviderId::new("acme-rmm").unwrap().as_str(), "acme-rmm");
        let err = ProviderId::new("Acme RMM").unwrap_err();
        assert!(err.to_string().contains("Acme RMM"), "{err}");
        assert!(ProviderId::new("").is_err());
        assert!(ProviderId::new("x".repeat(51)).is_err());
        assert!(serde_json::from_str::<ProviderId>("\"BAD!\"").is_err());
    }
}
