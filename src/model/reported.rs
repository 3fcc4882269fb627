//! The tri-state for optional provider fields: not reported, reported as null, reported value.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a provider said about one optional field.
///
/// The difference between [`Reported::Absent`] and [`Reported::Null`] is the heart of the
/// "absent ≠ null" rule: an absent field leaves the stored value untouched, a null clears it.
///
/// In serde, use it with `#[serde(default, skip_serializing_if = "Reported::is_absent")]`:
/// a missing key deserializes to `Absent`, `null` to `Null`, anything else to `Value`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reported<T> {
    /// The provider did not report this field; the stored value stays as it is.
    #[default]
    Absent,
    /// The provider reported that the field has no value; the stored value is cleared.
    Null,
    /// The provider reported a value.
    Value(T),
}

impl<T> Reported<T> {
    /// `true` for [`Reported::Absent`].
    pub fn is_absent(&self) -> bool {
        matches!(self, Reported::Absent)
    }

    /// The value, if one was reported.
    pub fn value(&self) -> Option<&T> {
        match self {
            Reported::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Borrowing view.
    pub fn as_ref(&self) -> Reported<&T> {
        match self {
            Reported::Absent => Reported::Absent,
            Reported::Null => Reported::Null,
            Reported::Value(v) => Reported::Value(v),
        }
    }

    /// Maps a reported value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reported<U> {
        match self {
            Reported::Absent => Reported::Absent,
            Reported::Null => Reported::Null,
            Reported::Value(v) => Reported::Value(f(v)),
        }
    }

    /// Applies this report to a stored value: `Absent` keeps `current`, `Null` clears it,
    /// `Value` replaces it.
    pub fn apply_to(self, current: Option<T>) -> Option<T> {
        match self {
            Reported::Absent => current,
            Reported::Null => None,
            Reported::Value(v) => Some(v),
        }
    }

    /// Like [`Reported::apply_to`] on a borrowed report.
    pub fn merged(&self, current: Option<&T>) -> Option<T>
    where
        T: Clone,
    {
        match self {
            Reported::Absent => current.cloned(),
            Reported::Null => None,
            Reported::Value(v) => Some(v.clone()),
        }
    }
}

impl<T> From<Option<T>> for Reported<T> {
    /// `Some(v)` is a reported value and `None` a reported null.
    fn from(v: Option<T>) -> Self {
        match v {
            Some(v) => Reported::Value(v),
            None => Reported::Null,
        }
    }
}

impl<T> From<T> for Reported<T> {
    fn from(v: T) -> Self {
        Reported::Value(v)
    }
}

impl<T: Serialize> Serialize for Reported<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // Reached only without `skip_serializing_if`; null is the closest JSON meaning.
            Reported::Absent | Reported::Null => s.serialize_none(),
            Reported::Value(v) => s.serialize_some(v),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Reported<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Probe {
        #[serde(default, skip_serializing_if = "Reported::is_absent")]
        a: Reported<u32>,
    }

    #[test]
    fn serde_distinguishes_missing_null_and_value() {
        assert_eq!(
            serde_json::from_str::<Probe>("{}").unwrap().a,
            Reported::Absent
        );
        assert_eq!(
            serde_json::from_str::<Probe>(r#"{"a":null}"#).unwrap().a,
            Reported::Null
        );
        assert_eq!(
            serde_json::from_str::<Probe>(r#"{"a":7}"#).unwrap().a,
            Reported::Value(7)
        );
        for p in [Reported::Absent, Reported::Null, Reported::Value(3)] {
            let probe = Probe { a: p };
            let json = serde_json::to_string(&probe).unwrap();
            assert_eq!(serde_json::from_str::<Probe>(&json).unwrap(), probe);
        }
    }

    #[test]
    fn apply_to_follows_absent_null_value() {
        assert_eq!(Reported::<u8>::Absent.apply_to(Some(1)), Some(1));
        assert_eq!(Reported::<u8>::Null.apply_to(Some(1)), None);
        assert_eq!(Reported::Value(2).apply_to(Some(1)), Some(2));
    }
}
