//! Normalization of hardware identifiers for cross-provider matching, with junk filtering.

use crate::model::IdentityHints;
use crate::store::IdentityQuery;

/// Serial numbers that BIOSes and hypervisors report when they have none.
const JUNK_SERIALS: &[&str] = &[
    "",
    "0",
    "00000000",
    "0000000000",
    "123456789",
    "1234567890",
    "none",
    "null",
    "n/a",
    "na",
    "unknown",
    "default",
    "default string",
    "system serial number",
    "to be filled by o.e.m.",
    "to be filled by oem",
    "not specified",
    "not applicable",
    "chassis serial number",
    "invalid",
    "empty",
];

/// A serial number worth matching on, upper-cased and trimmed; `None` for junk.
pub fn normalize_serial(serial: &str) -> Option<String> {
    let s = serial.trim();
    let lower = s.to_ascii_lowercase();
    if JUNK_SERIALS.contains(&lower.as_str())
        || s.len() < 4
        || s.chars()
            .all(|c| c == '0' || c == 'f' || c == 'F' || c == '-' || c == ' ')
        || lower.starts_with("vmware-")
    {
        // VMware serials embed the VM UUID and are matched through the system UUID instead.
        return None;
    }
    Some(s.to_ascii_uppercase())
}

/// A MAC address as 12 lowercase hex digits; `None` for malformed, all-zero, broadcast or
/// locally administered (random/virtual) addresses.
pub fn normalize_mac(mac: &str) -> Option<String> {
    let hex: String = mac
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase();
    let separators_ok = mac
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.' | ' '));
    if hex.len() != 12 || !separators_ok {
        return None;
    }
    if hex == "000000000000" || hex == "ffffffffffff" {
        return None;
    }
    let first = u8::from_str_radix(&hex[..2], 16).ok()?;
    if first & 0b10 != 0 {
        return None; // locally administered: virtual adapters, randomised Wi-Fi MACs
    }
    Some(hex)
}

/// A system UUID, lowercase and hyphenated; `None` for malformed and placeholder UUIDs.
pub fn normalize_uuid(uuid: &str) -> Option<String> {
    let parsed = uuid::Uuid::parse_str(uuid.trim()).ok()?;
    let bytes = parsed.as_bytes();
    if bytes.iter().all(|b| *b == 0) || bytes.iter().all(|b| *b == 0xff) {
        return None;
    }
    // "03000200-0400-0500-0006-000700080009" and friends: the famous OEM placeholder.
    if parsed.to_string() == "03000200-0400-0500-0006-000700080009" {
        return None;
    }
    Some(parsed.to_string())
}

/// The normalized identifiers of one device.
pub fn identity_keys(hints: &IdentityHints, serial: Option<&str>) -> IdentityQuery {
    let mut q = IdentityQuery::default();
    for s in hints
        .serial_numbers
        .iter()
        .map(String::as_str)
        .chain(serial)
    {
        if let Some(n) = normalize_serial(s)
            && !q.serial_numbers.contains(&n)
        {
            q.serial_numbers.push(n);
        }
    }
    for m in &hints.mac_addresses {
        if let Some(n) = normalize_mac(m)
            && !q.mac_addresses.contains(&n)
        {
            q.mac_addresses.push(n);
        }
    }
    if let Some(n) = hints.system_uuid.as_deref().and_then(normalize_uuid) {
        q.system_uuids.push(n);
    }
    q
}

/// Whether two normalized key sets share an identifier.
pub fn keys_overlap(a: &IdentityQuery, b: &IdentityQuery) -> bool {
    a.serial_numbers
        .iter()
        .any(|s| b.serial_numbers.contains(s))
        || a.mac_addresses.iter().any(|m| b.mac_addresses.contains(m))
        || a.system_uuids.iter().any(|u| b.system_uuids.contains(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_serials_are_ignored() {
        for junk in [
            "",
            "0",
            "To be filled by O.E.M.",
            "System Serial Number",
            "000000000",
            "ffff",
        ] {
            assert_eq!(normalize_serial(junk), None, "{junk:?}");
        }
        assert_eq!(
            normalize_serial(" c02xk1abjg5h ").as_deref(),
            Some("C02XK1ABJG5H")
        );
    }

    #[test]
    fn macs_normalize_and_filter() {
        assert_eq!(
            normalize_mac("00:1A:2B:3C:4D:5E").as_deref(),
            Some("001a2b3c4d5e")
        );
        assert_eq!(
            normalize_mac("001a.2b3c.4d5e").as_deref(),
            Some("001a2b3c4d5e")
        );
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(
            normalize_mac("02:42:ac:11:00:02"),
            None,
            "locally administered"
        );
        assert_eq!(normalize_mac("zz:1A:2B:3C:4D:5E"), None);
    }

    #[test]
    fn placeholder_uuids_are_ignored() {
        assert_eq!(normalize_uuid("00000000-0000-0000-0000-000000000000"), None);
        assert_eq!(normalize_uuid("03000200-0400-0500-0006-000700080009"), None);
        assert_eq!(
            normalize_uuid("4C4C4544-0042-3510-8052-B4C04F4A4D32").as_deref(),
            Some("4c4c4544-0042-3510-8052-b4c04f4a4d32")
        );
    }
}
