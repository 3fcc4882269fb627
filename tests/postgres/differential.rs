//! `correlate` returns exactly what the in-memory reference store returns, on a batch that
//! exercises every section: own mappings, another integration's mapping of the same asset,
//! adoption and identity candidates, scopes and suppressed devices.

use std::sync::Arc;

use rmm_sync::ingest::now_micros;
use rmm_sync::model::{
    AgentStatus, AssetId, ClientId, DeviceKind, ExtensionKind, ExtensionRow, ExternalDeviceId,
    IdentityHints, IntegrationId, MappingId, ProviderId, ScopeKind, ScopeSnapshot,
};
use rmm_sync::store::{
    AssetRecord, AssetStore, AssetWrite, Correlation, CorrelationQuery, DeviceWrite,
    ExtensionWrite, IdentityQuery, InMemoryStore, IntegrationSpec, MappingRecord, MappingStatus,
    ScopeAssignment,
};

use super::common::tenant;
use super::guarded::Guarded;

fn asset(provider: &str, device: &str, serial: Option<&str>) -> AssetRecord {
    let now = now_micros();
    AssetRecord {
        asset_id: AssetId::new_random(),
        client_id: ClientId::from_name("acme"),
        asset_type: DeviceKind::Workstation,
        asset_tag: format!("{provider}:{device}"),
        name: device.into(),
        serial_number: serial.map(Into::into),
        status: "active".into(),
        location: None,
        rmm_provider: Some(ProviderId::new(provider).unwrap()),
        rmm_device_id: Some(device.into()),
        rmm_organization_id: Some("s1".into()),
        agent_status: Some(AgentStatus::Online),
        last_seen_at: Some(now),
        last_rmm_sync_at: Some(now),
        identity: IdentityHints {
            hostname: Some(device.into()),
            ..IdentityHints::default()
        },
        created_at: now,
        updated_at: now,
        extension: None,
    }
}

fn mapping(
    a: &AssetRecord,
    provider: &str,
    integration: IntegrationId,
    device: &str,
) -> MappingRecord {
    MappingRecord {
        id: MappingId::new_random(),
        provider: ProviderId::new(provider).unwrap(),
        integration_id: integration,
        asset_id: a.asset_id,
        external_id: device.into(),
        scope_id: "s1".into(),
        status: MappingStatus::Synced,
        last_synced_at: now_micros(),
        deleted_at: None,
        metadata: Default::default(),
        fingerprint: Some("f".into()),
        written: None,
        created_at: now_micros(),
    }
}

fn write(a: &AssetRecord, m: MappingRecord) -> DeviceWrite {
    DeviceWrite {
        external_id: m.external_id.clone(),
        asset: AssetWrite::Insert(a.clone()),
        extension: ExtensionWrite {
            upsert: Some((
                ExtensionKind::Workstation,
                ExtensionRow {
                    os_type: Some("Windows".into()),
                    ram_gb: Some(15.7),
                    ..ExtensionRow::default()
                },
            )),
            delete: Vec::new(),
        },
        asset_id: a.asset_id,
        mapping: m,
    }
}

fn sorted(mut c: Correlation) -> Correlation {
    c.mappings.sort_by_key(|m| m.id);
    c.candidate_mappings.sort_by_key(|m| m.id);
    c.assets.sort_by_key(|a| a.asset_id);
    c.scopes.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    for s in &mut c.scopes {
        // Generated independently by each store.
        s.mapping_id = MappingId::from_uuid(uuid::Uuid::nil());
    }
    c.suppressed.sort();
    c
}

#[tokio::test]
async fn correlate_matches_the_in_memory_store() {
    let Some(pg) = Guarded::create().await else {
        return;
    };
    let memory: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
    let (i1, i2, i3) = (
        IntegrationId::from_name("one"),
        IntegrationId::from_name("two"),
        IntegrationId::from_name("three"),
    );
    let a1 = asset("pp", "d1", Some("SN-OWN-0001"));
    let a2 = asset("pp", "d2", None);
    let a3 = asset("qq", "d9", Some("SN-SHARED-1"));
    let a4 = asset("pp", "d4", None);
    let batch = [
        write(&a1, mapping(&a1, "pp", i1, "d1")),
        write(&a3, mapping(&a3, "qq", i3, "d9")),
        write(&a4, mapping(&a4, "pp", i1, "d4")),
    ];
    let shared = DeviceWrite {
        asset: AssetWrite::Keep,
        extension: ExtensionWrite::default(),
        ..write(&a1, mapping(&a1, "pp", i2, "x1"))
    };
    let unmapped = DeviceWrite {
        extension: ExtensionWrite::default(),
        ..write(&a2, mapping(&a2, "pp", i2, "unused"))
    };
    let now = now_micros();
    for store in [&pg, &memory] {
        for (i, p) in [(i1, "pp"), (i2, "pp"), (i3, "qq")] {
            let spec = IntegrationSpec {
                integration_id: i,
                provider: ProviderId::new(p).unwrap(),
                instance_url: None,
                is_active: true,
                settings: Default::default(),
            };
            store.upsert_integration(tenant(), &spec).await.unwrap();
        }
        let scopes = [ScopeSnapshot::new("s1", "S1", ScopeKind::Site)];
        store
            .sync_scopes(tenant(), i1, &scopes, true, now)
            .await
            .unwrap();
        let assign = ScopeAssignment {
            client_id: Some(Some(ClientId::from_name("acme"))),
            auto_sync_assets: None,
        };
        store
            .assign_scope(tenant(), i1, &"s1".into(), &assign)
            .await
            .unwrap();
        store.apply(tenant(), &batch).await.unwrap();
        store
            .apply(tenant(), std::slice::from_ref(&shared))
            .await
            .unwrap();
        // a2 carries d2's rmm columns but another integration maps it under another id: an
        // adoption candidate with a candidate mapping.
        store
            .apply(tenant(), std::slice::from_ref(&unmapped))
            .await
            .unwrap();
        store
            .set_suppressed(tenant(), i1, &"d3".into(), true)
            .await
            .unwrap();
    }
    let query = CorrelationQuery {
        provider: ProviderId::new("pp").unwrap(),
        integration_id: i1,
        external_ids: ["d1", "d2", "d3"].map(ExternalDeviceId::new).to_vec(),
        scope_ids: vec!["s1".into(), "missing".into()],
        identity: Some(IdentityQuery {
            serial_numbers: vec!["SN-SHARED-1".into()],
            ..IdentityQuery::default()
        }),
    };
    let expected = sorted(memory.correlate(tenant(), &query).await.unwrap());
    let found = sorted(pg.correlate(tenant(), &query).await.unwrap());
    assert_eq!(found.mappings, expected.mappings);
    assert_eq!(found.candidate_mappings, expected.candidate_mappings);
    assert_eq!(found.assets, expected.assets);
    assert_eq!(found.scopes, expected.scopes);
    assert_eq!(found.suppressed, expected.suppressed);
    // The batch really exercised every section.
    assert_eq!(expected.mappings.len(), 1);
    assert_eq!(
        expected.candidate_mappings.len(),
        3,
        "{:?}",
        expected.candidate_mappings
    );
    assert_eq!(expected.assets.len(), 3);
    assert_eq!(expected.suppressed.len(), 1);
}
