//! Properties of the ingestion engine over generated snapshots (proptest): fingerprints are
//! canonical, ingestion is idempotent and order independent, and absent fields never change
//! what is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::select;
use rmm_sync::ingest::{EngineOptions, IngestContext, IngestionEngine, fingerprint};
use rmm_sync::model::{
    AssetId, ClientId, DeviceKind, DeviceSnapshot, ExternalDeviceId, ExternalScopeId,
    IntegrationId, Lifecycle, MappingId, Outcome, ProviderId, Reported, ScopeKind, ScopeSnapshot,
    TenantId,
};
use rmm_sync::store::{AssetStore, InMemoryStore, ScopeAssignment};
use serde_json::{Map, Value};

const MAPPED: &[&str] = &["a", "b"];
const ALL_SCOPES: &[&str] = &["a", "b", "unmapped"];

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn reported<T: Clone + std::fmt::Debug>(
    value: impl Strategy<Value = T>,
) -> impl Strategy<Value = Reported<T>> {
    prop_oneof![
        Just(Reported::Absent),
        Just(Reported::Null),
        value.prop_map(Reported::Value)
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
}

/// Metadata entries with distinct keys, in generation order.
fn entries() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

fn to_map(entries: &[(String, Value)]) -> Map<String, Value> {
    entries.iter().cloned().collect()
}

/// A valid snapshot of device `id` in one of `scopes`, any optional field absent, null or set.
fn snapshot(id: String, scopes: &'static [&'static str]) -> impl Strategy<Value = DeviceSnapshot> {
    let kinds = vec![
        DeviceKind::Workstation,
        DeviceKind::Server,
        DeviceKind::NetworkDevice,
        DeviceKind::Unknown,
    ];
    let identity = (
        select(scopes),
        select(kinds),
        select(vec![Lifecycle::Active, Lifecycle::Offline]),
        "[a-z][a-z0-9-]{0,10}",
        reported("[A-Z0-9]{4,10}"),
        reported("[A-Za-z ]{1,10}"),
        reported((0i64..100_000).prop_map(|m| epoch() - Duration::minutes(m))),
        reported(entries().prop_map(|e| to_map(&e))),
    );
    let details = (
        reported("(Windows|Linux|macOS)"),
        reported("10\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}"),
        reported(1i32..256),
        reported(0.5f64..1024.0),
        reported("[a-z]{1,8}"),
        reported("[0-9]\\.[0-9]\\.[0-9]"),
        reported(0i32..500),
    );
    (identity, details).prop_map(move |(i, d)| {
        let (scope, kind, lifecycle, name, serial, location, last_seen, metadata) = i;
        let mut s = DeviceSnapshot::new(id.clone(), scope, kind, name);
        s.lifecycle = lifecycle;
        s.serial_number = serial;
        s.location = location;
        s.last_seen_at = last_seen;
        s.metadata = metadata;
        (
            s.details.os_type,
            s.details.lan_ip,
            s.details.cpu_cores,
            s.details.ram_gb,
            s.details.current_user,
            s.details.agent_version,
            s.details.pending_patches,
        ) = d;
        s
    })
}

/// Snapshots of devices `d0..dn`, one each.
fn batch(
    max: usize,
    scopes: &'static [&'static str],
) -> impl Strategy<Value = Vec<DeviceSnapshot>> {
    (1..=max).prop_flat_map(move |n| {
        (0..n)
            .map(|i| snapshot(format!("d{i}"), scopes))
            .collect::<Vec<_>>()
    })
}

/// A store with scopes `a` and `b` mapped and `unmapped` not, and a context for it.
struct World {
    store: Arc<dyn AssetStore>,
    engine: IngestionEngine,
    ctx: IngestContext,
}

impl World {
    async fn new(batch_size: usize) -> Self {
        let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let integration = IntegrationId::from_name("properties");
        let scopes: Vec<ScopeSnapshot> = ALL_SCOPES
            .iter()
            .map(|s| ScopeSnapshot::new(*s, *s, ScopeKind::Organization))
            .collect();
        store
            .sync_scopes(tenant, integration, &scopes, true, epoch())
            .await
            .unwrap();
        for s in MAPPED {
            let map = ScopeAssignment {
                client_id: Some(Some(ClientId::from_name(s))),
                ..Default::default()
            };
            store
                .assign_scope(tenant, integration, &ExternalScopeId::new(*s), &map)
                .await
                .unwrap();
        }
        let options = EngineOptions {
            batch_size,
            ..EngineOptions::default()
        };
        let engine = IngestionEngine::with_options(Arc::clone(&store), options);
        let provider = ProviderId::new("prop").unwrap();
        let ctx = IngestContext::new(tenant, provider, integration).at(epoch());
        Self { store, engine, ctx }
    }

    /// The context one hour after the previous one (a later run).
    fn later(&mut self) {
        self.ctx = self.ctx.clone().at(self.ctx.now + Duration::hours(1));
    }

    async fn ingest(&self, snapshots: Vec<DeviceSnapshot>) -> Vec<Outcome> {
        let result = self.engine.ingest(&self.ctx, snapshots).await.unwrap();
        result.outcomes.into_iter().map(|o| o.outcome).collect()
    }

    /// Everything stored about the devices, keyed by external id, with generated ids blanked.
    async fn state(&self, devices: &[ExternalDeviceId]) -> BTreeMap<String, String> {
        let nil_asset = AssetId::from_uuid(uuid::Uuid::nil());
        let mut out = BTreeMap::new();
        for id in devices {
            let (tenant, integration) = (self.ctx.tenant, self.ctx.integration_id);
            let Some(mut m) = self
                .store
                .get_mapping(tenant, integration, id)
                .await
                .unwrap()
            else {
                continue;
            };
            let asset = self.store.get_asset(tenant, m.asset_id).await.unwrap();
            let rows = self.store.extension_rows(tenant, m.asset_id).await.unwrap();
            let asset = asset.map(|mut a| {
                a.asset_id = nil_asset;
                a
            });
            m.id = MappingId::from_uuid(uuid::Uuid::nil());
            m.asset_id = nil_asset;
            out.insert(id.to_string(), format!("{m:?}\n{asset:?}\n{rows:?}"));
        }
        out
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn ids(snapshots: &[DeviceSnapshot]) -> Vec<ExternalDeviceId> {
    snapshots.iter().map(|s| s.external_id.clone()).collect()
}

proptest! {
    // serde_json keeps maps sorted unless its `preserve_order` feature is on (feature
    // unification lets any crate of a host turn it on); CI also runs this file with
    // `--features testkit,serde_json/preserve_order` so the insertion-ordered case is covered.
    #[test]
    fn fingerprint_ignores_metadata_key_insertion_order(
        base in snapshot("d".into(), ALL_SCOPES),
        (ordered, shuffled) in entries().prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
        mapped in any::<bool>(),
    ) {
        let build = |entries: &[(String, Value)]| {
            let mut s = base.clone();
            let mut meta = to_map(entries);
            meta.insert("nested".into(), Value::Object(to_map(entries)));
            s.metadata = Reported::Value(meta);
            s.details.system_info = Reported::Value(to_map(entries));
            s
        };
        let client = mapped.then(|| ClientId::from_name("a"));
        prop_assert_eq!(
            fingerprint(&build(&ordered), client),
            fingerprint(&build(&shuffled), client)
        );
    }

    #[test]
    fn ingesting_the_same_batch_twice_is_all_unchanged(
        snapshots in batch(12, MAPPED),
        batch_size in 1usize..5,
    ) {
        block_on(async {
            let mut world = World::new(batch_size).await;
            let first = world.ingest(snapshots.clone()).await;
            prop_assert!(first.iter().all(|o| *o == Outcome::Created), "{:?}", first);
            let stored = world.state(&ids(&snapshots)).await;
            world.later();

            let second = world.ingest(snapshots.clone()).await;

            prop_assert!(second.iter().all(|o| *o == Outcome::Unchanged), "{:?}", second);
            prop_assert_eq!(world.state(&ids(&snapshots)).await, stored);
            Ok(())
        })?;
    }

    #[test]
    fn ingesting_a_batch_in_any_order_gives_the_same_store(
        initial in batch(10, ALL_SCOPES),
        (update, shuffled) in batch(14, ALL_SCOPES).prop_flat_map(|mut b| {
            // Some devices of the update batch are explicit deletions.
            for (i, s) in b.iter_mut().enumerate() {
                if i % 5 == 4 {
                    *s = DeviceSnapshot::deleted(s.external_id.clone(), s.scope_id.clone());
                }
            }
            (Just(b.clone()), Just(b).prop_shuffle())
        }),
        batch_size in 1usize..5,
    ) {
        block_on(async {
            let mut in_order = World::new(batch_size).await;
            let mut reordered = World::new(batch_size).await;
            for w in [&mut in_order, &mut reordered] {
                w.ingest(initial.clone()).await;
                w.later();
            }

            in_order.ingest(update.clone()).await;
            reordered.ingest(shuffled).await;

            let devices = ids(&update);
            prop_assert_eq!(in_order.state(&devices).await, reordered.state(&devices).await);
            Ok(())
        })?;
    }

    #[test]
    fn absent_fields_never_change_stored_values(
        full in snapshot("d".into(), MAPPED).prop_map(fill),
        replacement in snapshot("d".into(), MAPPED).prop_map(fill),
        absent in prop::collection::vec(any::<bool>(), FIELDS),
        kind_absent in any::<bool>(),
    ) {
        block_on(async {
            let mut world = World::new(10).await;
            let mut full = full;
            full.kind = DeviceKind::Workstation;
            world.ingest(vec![full.clone()]).await;
            world.later();
            let mut partial = replacement;
            partial.scope_id = full.scope_id.clone();
            partial.kind = if kind_absent { DeviceKind::Unknown } else { DeviceKind::Workstation };
            blank(&mut partial, &absent);

            let outcome = world.ingest(vec![partial.clone()]).await;

            prop_assert!(!matches!(outcome[0], Outcome::Failed { .. }), "{:?}", outcome);
            let (tenant, integration) = (world.ctx.tenant, world.ctx.integration_id);
            let m = world.store.get_mapping(tenant, integration, &full.external_id).await.unwrap().unwrap();
            let a = world.store.get_asset(tenant, m.asset_id).await.unwrap().unwrap();
            prop_assert_eq!(a.asset_type, DeviceKind::Workstation);
            let e = a.extension.clone().expect("a workstation keeps its row");
            let stored: [String; FIELDS] = [
                format!("{:?}", a.serial_number),
                format!("{:?}", a.location),
                format!("{:?}", a.last_seen_at),
                format!("{:?}", m.metadata),
                format!("{:?}", e.os_type),
                format!("{:?}", e.lan_ip),
                format!("{:?}", e.cpu_cores),
                format!("{:?}", e.ram_gb),
                format!("{:?}", e.current_user),
                format!("{:?}", e.agent_version),
                format!("{:?}", e.pending_patches),
            ];
            let expected = values(&full);
            let reported = values(&partial);
            for i in 0..FIELDS {
                let want = if absent[i] { &expected[i] } else { &reported[i] };
                prop_assert_eq!(&stored[i], want, "field {}", i);
            }
            Ok(())
        })?;
    }
}

/// The fields [`absent_fields_never_change_stored_values`] checks, in [`values`] order.
const FIELDS: usize = 11;

/// Every optional field reported with a value (absent and null ones get one).
fn fill(mut s: DeviceSnapshot) -> DeviceSnapshot {
    fn or<T>(r: &mut Reported<T>, v: T) {
        if r.value().is_none() {
            *r = Reported::Value(v);
        }
    }
    or(&mut s.serial_number, "SN0000".into());
    or(&mut s.location, "Somewhere".into());
    or(&mut s.last_seen_at, epoch());
    or(&mut s.metadata, to_map(&[("k".into(), Value::from(1))]));
    let d = &mut s.details;
    or(&mut d.os_type, "Linux".into());
    or(&mut d.lan_ip, "10.0.0.9".into());
    or(&mut d.cpu_cores, 2);
    or(&mut d.ram_gb, 3.5);
    or(&mut d.current_user, "root".into());
    or(&mut d.agent_version, "1.0.0".into());
    or(&mut d.pending_patches, 0);
    s
}

/// Makes the fields selected by `absent` absent.
fn blank(s: &mut DeviceSnapshot, absent: &[bool]) {
    let d = &mut s.details;
    for (field, _) in absent.iter().enumerate().filter(|(_, a)| **a) {
        match field {
            0 => s.serial_number = Reported::Absent,
            1 => s.location = Reported::Absent,
            2 => s.last_seen_at = Reported::Absent,
            3 => s.metadata = Reported::Absent,
            4 => d.os_type = Reported::Absent,
            5 => d.lan_ip = Reported::Absent,
            6 => d.cpu_cores = Reported::Absent,
            7 => d.ram_gb = Reported::Absent,
            8 => d.current_user = Reported::Absent,
            9 => d.agent_version = Reported::Absent,
            _ => d.pending_patches = Reported::Absent,
        }
    }
}

/// The checked fields of a filled snapshot, formatted as the stored values would be.
fn values(s: &DeviceSnapshot) -> [String; FIELDS] {
    let d = &s.details;
    [
        format!("{:?}", s.serial_number.value()),
        format!("{:?}", s.location.value()),
        format!("{:?}", s.last_seen_at.value()),
        format!("{:?}", s.metadata.value().cloned().unwrap_or_default()),
        format!("{:?}", d.os_type.value()),
        format!("{:?}", d.lan_ip.value()),
        format!("{:?}", d.cpu_cores.value()),
        format!("{:?}", d.ram_gb.value()),
        format!("{:?}", d.current_user.value()),
        format!("{:?}", d.agent_version.value()),
        format!("{:?}", d.pending_patches.value()),
    ]
}
