//! The adapter's own listing cursor: the Gateway cursor plus what the adapter must remember
//! between pages (whether the listing is `eidLastSeen`-filtered, whether it already restarted
//! after an expired cursor, and how many endpoints it has yielded, to catch short listings).

use crate::error::{Error, ErrorKind, Result};
use crate::provider::Cursor;

const PREFIX: &str = "tn1";

/// Where a listing stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListingCursor {
    /// The listing uses the `eidLastSeen` filter.
    pub(crate) filtered: bool,
    /// The listing already restarted once after an expired Gateway cursor.
    pub(crate) restarted: bool,
    /// Endpoints yielded since the listing (re)started.
    pub(crate) yielded: u64,
    /// The Gateway's `endCursor` to continue from.
    pub(crate) after: String,
}

impl ListingCursor {
    pub(crate) fn encode(&self) -> Cursor {
        Cursor::new(format!(
            "{PREFIX}.{}{}.{}.{}",
            if self.filtered { 'f' } else { 'a' },
            if self.restarted { 'r' } else { '-' },
            self.yielded,
            self.after
        ))
    }

    pub(crate) fn decode(cursor: &Cursor) -> Result<Self> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidInput,
                "this cursor was not issued by the Tanium adapter (or by an incompatible version); restart the listing",
            )
        };
        let mut parts = cursor.as_str().splitn(4, '.');
        if parts.next() != Some(PREFIX) {
            return Err(bad());
        }
        let flags = parts.next().ok_or_else(bad)?.as_bytes();
        let yielded = parts.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        let after = parts.next().filter(|a| !a.is_empty()).ok_or_else(bad)?;
        match flags {
            [f @ (b'f' | b'a'), r @ (b'r' | b'-')] => Ok(Self {
                filtered: *f == b'f',
                restarted: *r == b'r',
                yielded,
                after: after.to_owned(),
            }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_dots_in_gateway_cursors() {
        let c = ListingCursor {
            filtered: true,
            restarted: false,
            yielded: 1500,
            after: "Y3Vyc29y.Lm1pZA==".into(),
        };
        assert_eq!(ListingCursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "abc",
            "tn1.xx.1.c",
            "tn1.f-.n.c",
            "tn1.f-.1.",
            "tn2.f-.1.c",
        ] {
            assert!(ListingCursor::decode(&Cursor::new(bad)).is_err(), "{bad}");
        }
    }
}
