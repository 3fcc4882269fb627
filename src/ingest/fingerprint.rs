//! Stable content fingerprints: equal fingerprint means "nothing to write".

use std::borrow::Cow;
use std::io::Write;
use std::sync::OnceLock;

use xxhash_rust::xxh3::Xxh3;

use crate::model::{ClientId, DeviceSnapshot, Reported};

/// Bumped whenever the fingerprint input changes shape, so old fingerprints simply mismatch
/// (one extra write per device) instead of hiding a change.
const FINGERPRINT_VERSION: u8 = 1;

/// The fingerprint of a snapshot as it would be applied with `client`: 32 hex digits of a
/// 128-bit xxh3 over the snapshot's canonical JSON (map keys sorted) and the client.
pub fn fingerprint(snapshot: &DeviceSnapshot, client: Option<ClientId>) -> String {
    let snapshot = canonical(snapshot);
    let mut hasher = ChunkedHasher::new();
    hasher.feed(&[FINGERPRINT_VERSION]);
    serde_json::to_writer(&mut hasher, snapshot.as_ref()).expect("snapshots always serialize");
    match client {
        Some(c) => hasher.feed(c.as_uuid().as_bytes()),
        None => hasher.feed(&[0]),
    }
    format!("{:032x}", hasher.finish())
}

/// The snapshot with every JSON object's keys sorted. serde_json keeps maps sorted unless its
/// `preserve_order` feature is on, and any crate in the host's dependency graph may turn that
/// on; then provider metadata would hash differently per key order, and stored fingerprints
/// would stop matching. Sorting only the JSON-valued fields (struct fields keep their order)
/// gives the same bytes either way, and costs nothing when maps are already sorted.
fn canonical(snapshot: &DeviceSnapshot) -> Cow<'_, DeviceSnapshot> {
    let d = &snapshot.details;
    let has_json = snapshot.metadata.value().is_some_and(|m| !m.is_empty())
        || d.system_info.value().is_some_and(|m| !m.is_empty())
        || d.installed_software.value().is_some_and(|v| !v.is_empty());
    if !has_json || !maps_keep_insertion_order() {
        return Cow::Borrowed(snapshot);
    }
    let mut s = snapshot.clone();
    let sort_map = |m: &mut serde_json::Map<String, serde_json::Value>| {
        m.sort_keys();
        m.values_mut().for_each(serde_json::Value::sort_all_objects);
    };
    if let Reported::Value(m) = &mut s.metadata {
        sort_map(m);
    }
    if let Reported::Value(m) = &mut s.details.system_info {
        sort_map(m);
    }
    if let Reported::Value(v) = &mut s.details.installed_software {
        v.iter_mut().for_each(serde_json::Value::sort_all_objects);
    }
    Cow::Owned(s)
}

/// Whether serde_json maps iterate in insertion order (its `preserve_order` feature).
fn maps_keep_insertion_order() -> bool {
    static KEEPS: OnceLock<bool> = OnceLock::new();
    *KEEPS.get_or_init(|| {
        let mut m = serde_json::Map::new();
        m.insert("b".into(), serde_json::Value::Null);
        m.insert("a".into(), serde_json::Value::Null);
        m.keys().next().is_some_and(|k| k == "b")
    })
}

/// Streams bytes into xxh3 in chunks. serde_json writes token by token (a quote, a key, a
/// colon), and one hasher call per token costs more than the hashing; a stack buffer turns them
/// into a few large updates without allocating, whatever the snapshot's size. Same digest as
/// hashing the bytes in one piece.
struct ChunkedHasher {
    hasher: Xxh3,
    buf: [u8; 4096],
    len: usize,
}

impl ChunkedHasher {
    fn new() -> Self {
        Self {
            hasher: Xxh3::new(),
            buf: [0; 4096],
            len: 0,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.buf.len() {
            self.hasher.update(&self.buf[..self.len]);
            self.len = 0;
            if bytes.len() >= self.buf.len() {
                self.hasher.update(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn finish(mut self) -> u128 {
        self.hasher.update(&self.buf[..self.len]);
        self.hasher.digest128()
    }
}

impl Write for ChunkedHasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.feed(bytes);
        Ok(bytes.len())
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

    /// Stored fingerprints must survive upgrades: a change here means every device of every
    /// user is rewritten once. Bump FINGERPRINT_VERSION deliberately instead.
    #[test]
    fn fingerprints_are_stable_across_releases() {
        let mut s = DeviceSnapshot::new("d1", "s1", DeviceKind::Server, "srv-01");
        s.serial_number = Reported::Value("SN-1".into());
        let mut meta = serde_json::Map::new();
        meta.insert(
            "zeta".into(),
            serde_json::json!({"b": 1, "a": [true, null]}),
        );
        meta.insert("alpha".into(), serde_json::json!("ä \"quoted\""));
        s.metadata = Reported::Value(meta);
        assert_eq!(fingerprint(&s, None), "d79fb92ef92ca77872f8f3c00b721f49");
        assert_eq!(
            fingerprint(&s, Some(ClientId::from_name("acme"))),
            "b554f457730ce150933dba5e595d3e80"
        );
    }

    /// The chunked hasher equals hashing the whole serialization at once, across chunk
    /// boundaries and for writes larger than a chunk.
    #[test]
    fn chunking_does_not_change_the_digest() {
        for software in [0usize, 40, 400] {
            let mut s = DeviceSnapshot::new("d1", "s1", DeviceKind::Workstation, "pc");
            s.details.installed_software = Reported::Value(
                (0..software)
                    .map(|i| serde_json::json!({"name": format!("app-{i}"), "version": "1.0"}))
                    .collect(),
            );
            s.metadata = Reported::Value(serde_json::Map::from_iter([(
                "blob".to_owned(),
                serde_json::Value::String("x".repeat(software * 30)),
            )]));
            let mut bytes = vec![FINGERPRINT_VERSION];
            bytes.extend(serde_json::to_vec(&s).unwrap());
            bytes.push(0);
            let whole = xxhash_rust::xxh3::xxh3_128(&bytes);
            assert_eq!(
                fingerprint(&s, None),
                format!("{whole:032x}"),
                "{software} apps"
            );
        }
    }
}
