//! Identifier rows: none until a matching run correlates, then built for the whole tenant and
//! kept equal to what a rebuild would give by every write, matching or not.

use std::sync::Arc;

use rmm_sync::ingest::IngestionEngine;
use rmm_sync::model::{ProviderId, Reported};
use rmm_sync::store::{AssetFilter, AssetStore, IntegrationSpec};
use rmm_sync::testkit::{generate_device, generate_fleet};
use uuid::Uuid;

use super::common::{connect, count, prepare, tenant};
use super::harness::TestDb;

async fn expected_rows(store: &dyn AssetStore) -> Vec<(Uuid, String, String)> {
    let assets = store
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .unwrap();
    let mut rows = Vec::new();
    for a in &assets {
        let k = rmm_sync::ingest::identity::identity_keys(&a.identity, a.serial_number.as_deref());
        for (kind, list) in [
            ("s", k.serial_numbers),
            ("m", k.mac_addresses),
            ("u", k.system_uuids),
        ] {
            rows.extend(
                list.into_iter()
                    .map(|v| (*a.asset_id.as_uuid(), kind.to_owned(), v)),
            );
        }
    }
    rows.sort();
    rows
}

async fn stored_rows(db: &TestDb) -> Vec<(Uuid, String, String)> {
    sqlx::query_as(
        "SELECT asset_id, kind::text, value FROM rmm_sync_asset_identifiers
         ORDER BY asset_id, kind, value",
    )
    .fetch_all(&mut db.conn().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn identifier_rows_exist_only_once_matching_ran_and_then_follow_every_write() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = connect(&db.url).await;
    let (scopes, _) = generate_fleet(0, 4, 11);
    let spec = IntegrationSpec::new(
        rmm_sync::model::IntegrationId::from_name("ids"),
        ProviderId::TANIUM,
    );
    let integration = prepare(&store, &spec, &scopes).await;
    let ctx = rmm_sync::ingest::IngestContext::new(tenant(), ProviderId::TANIUM, integration);
    let engine = IngestionEngine::new(Arc::clone(&store) as Arc<dyn AssetStore>);
    let devices =
        |r: std::ops::Range<u64>| r.map(|i| generate_device(i, 4, 11)).collect::<Vec<_>>();
    engine.ingest(&ctx, devices(0..60)).await.unwrap();
    let marker = "SELECT count(*) FROM rmm_sync_identifier_tenants";
    assert!(
        stored_rows(&db).await.is_empty(),
        "no identifiers while no run matches"
    );
    assert_eq!(count(&mut db.conn().await, marker).await, 0);

    let on = ctx.clone().with_cross_provider_matching(true);
    engine.ingest(&on, devices(60..80)).await.unwrap();
    assert_eq!(count(&mut db.conn().await, marker).await, 1);
    let expected = expected_rows(store.as_ref()).await;
    assert!(
        expected.len() >= 80,
        "the fleet has identifiers ({})",
        expected.len()
    );
    assert_eq!(stored_rows(&db).await, expected);

    let mut changed = devices(0..30);
    for d in &mut changed {
        d.serial_number = Reported::Value(format!("CHANGED-{}", d.external_id.as_str()));
    }
    engine.ingest(&ctx, changed).await.unwrap();
    engine.ingest(&ctx, devices(80..100)).await.unwrap();
    let asset = store
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .unwrap()[0]
        .asset_id;
    let edit = rmm_sync::store::HostAssetUpdate {
        serial_number: Some(Some("HOST-EDITED-1".into())),
        ..Default::default()
    };
    store
        .update_asset(tenant(), asset, &edit, chrono::Utc::now())
        .await
        .unwrap();
    engine.ingest(&on, devices(60..80)).await.unwrap();
    assert_eq!(stored_rows(&db).await, expected_rows(store.as_ref()).await);
    assert_eq!(count(&mut db.conn().await, marker).await, 1);
}
