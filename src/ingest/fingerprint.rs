//! Stable content fingerprints: equal fingerprint means "nothing to write".

use std::io::Write;

use xxhash_rust::xxh3::Xxh3;

use crate::model::{ClientId, DeviceSnapshot};

/// Bumped whenever the fingerprint input changes shape, so old fingerprints simply mismatch
/// (one extra write per device) instead of hiding a change.
const FINGERPRINT_VERSION: u8 = 1;

/// The fingerprint of a snapshot as it would be applied with `client`: 32 hex digits of a
/// 128-bit xxh3 over the snapshot's canonical JSON (map keys sorted) and the client.
pub fn fingerprint(snapshot: &DeviceSnapshot, client: Option<ClientId>) -> String {
    let mut hasher = HashWriter(Xxh3::new());
    hasher.0.update(&[FINGERPRINT_VERSION]);
    // serde_json writes maps of a BTreeMap-backed `Map` in key order, so the encoding is
    // canonical; writing into the hasher avoids an intermediate buffer.
    serde_json::to_writer(&mut hasher, snapshot).expect("snapshots always serialize");
    match client {
        Some(c) => hasher.0.update(c.as_uuid().as_bytes()),
        None => hasher.0.update(&[0]),
    }
    format!("{:032x}", hasher.0.digest128())
}

struct HashWriter(Xxh3);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeviceKind, Reported};

    #[test]
    fn fingerprint_changes_with_content_and_client() {
        let a = DeviceSnapshot::new("d1", "s1", DeviceKind::Workstation, "pc");
        let mut b = a.clone();
        assert_eq!(fingerprint(&a, None), fingerprint(&b, None));
        b.serial_number = Reported::Value("X".into());
        assert_ne!(fingerprint(&a, None), fingerprint(&b, None));
        let mut c = a.clone();
        c.serial_number = Reported::Null;
        assert_ne!(
            fingerprint(&a, None),
            fingerprint(&c, None),
            "absent differs from null"
        );
        assert_ne!(
            fingerprint(&a, None),
            fingerprint(&a, Some(ClientId::from_name("x")))
        );
        assert_eq!(fingerprint(&a, None).len(), 32);
    }
}
