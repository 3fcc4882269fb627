//! SQL errors map to typed errors, and no error or `Debug` output carries the password.

use std::sync::Arc;
use std::time::Duration;

use rmm_sync::ErrorKind;
use rmm_sync::ingest::{IngestContext, IngestionEngine};
use rmm_sync::model::{DeviceKind, DeviceSnapshot, MappingId};
use rmm_sync::store::postgres::PostgresStore;
use rmm_sync::store::{AssetFilter, AssetStore, AssetWrite, DeviceWrite, ExtensionWrite};
use rmm_sync::testkit::ScriptedProvider;
use sqlx::postgres::PgPoolOptions;

use super::common::{connect, prepare, tenant};
use super::harness::{TestDb, with_database};

#[tokio::test]
async fn unique_violations_are_conflicts_and_roll_back_the_batch() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = connect(&db.url).await;
    let p = ScriptedProvider::new();
    let spec = p.integration_spec("dupes");
    let id = prepare(
        &store,
        &spec,
        &[rmm_sync::model::ScopeSnapshot::new(
            "s1",
            "S1",
            rmm_sync::model::ScopeKind::Organization,
        )],
    )
    .await;
    let engine = IngestionEngine::new(Arc::clone(&store) as Arc<dyn AssetStore>);
    let ctx = IngestContext::new(tenant(), spec.provider.clone(), id);
    let r = engine
        .ingest(
            &ctx,
            vec![DeviceSnapshot::new(
                "d1",
                "s1",
                DeviceKind::Workstation,
                "pc",
            )],
        )
        .await
        .unwrap();
    let asset_id = r.outcomes[0].asset_id.unwrap();
    let existing = store
        .get_mapping(tenant(), id, &"d1".into())
        .await
        .unwrap()
        .unwrap();
    let asset = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();

    // A second mapping row for the same device (new id): unique (tenant, integration, device).
    let mut dup = existing.clone();
    dup.id = MappingId::new_random();
    let write = |asset: AssetWrite, mapping| DeviceWrite {
        external_id: "d1".into(),
        asset,
        extension: ExtensionWrite::default(),
        mapping,
        asset_id,
    };
    let err = store
        .apply(tenant(), &[write(AssetWrite::Keep, dup)])
        .await
        .expect_err("duplicate device mapping");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    // Inserting an asset id that exists: primary key. The valid first write rolls back too.
    let mut renamed = asset.clone();
    renamed.name = "renamed".into();
    renamed.updated_at += chrono::Duration::seconds(1);
    let batch = [
        write(
            AssetWrite::Update {
                asset: renamed,
                expected_updated_at: asset.updated_at,
            },
            existing.clone(),
        ),
        write(AssetWrite::Insert(asset.clone()), existing.clone()),
    ];
    let err = store
        .apply(tenant(), &batch)
        .await
        .expect_err("duplicate asset");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let now = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();
    assert_eq!(now.name, "pc", "the failed batch left nothing behind");

    // A stale expected_updated_at is a conflict too.
    let stale = [write(
        AssetWrite::Update {
            asset: asset.clone(),
            expected_updated_at: asset.updated_at - chrono::Duration::seconds(5),
        },
        existing,
    )];
    let err = store
        .apply(tenant(), &stale)
        .await
        .expect_err("stale update");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}

#[tokio::test]
async fn an_exhausted_pool_is_retryable_unavailable() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    connect(&db.url).await; // migrate
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(200))
        .connect(&db.url)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool.clone());
    let _held = pool.acquire().await.unwrap();
    let err = store
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .expect_err("no connection is free");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn unreachable_servers_and_bad_urls_never_show_the_password() {
    let err = PostgresStore::connect("postgres://app:hunter2@127.0.0.1:1/db")
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");

    let err = PostgresStore::connect("postgres://app:hunter2@host:port/db")
        .await
        .expect_err("not a URL");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn debug_output_masks_the_password() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Trust authentication ignores the password, so this connects.
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap_or(("postgres", rest));
    let url = with_database(&format!("{scheme}://{user}:hunter2@{host}"), &db.name);
    let Ok(store) = PostgresStore::connect(&url).await else {
        eprintln!("SKIPPED: the server does not accept a password on this role");
        return;
    };
    let shown = format!("{store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(&db.name), "{shown}");
}
