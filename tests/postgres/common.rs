//! Fleet setup shared by the PostgreSQL-specific tests.

use std::sync::Arc;

use rmm_sync::model::{ClientId, IntegrationId, ScopeSnapshot, TenantId};
use rmm_sync::store::postgres::PostgresStore;
use rmm_sync::store::{AssetStore, ScopeAssignment};
use sqlx::PgConnection;

pub(crate) fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0x7e57_0000_0000_4000_8000_0000_0000_0001,
    ))
}

/// Creates the integration, syncs the scopes and maps every scope to one client.
pub(crate) async fn prepare(
    store: &PostgresStore,
    spec: &rmm_sync::store::IntegrationSpec,
    scopes: &[ScopeSnapshot],
) -> IntegrationId {
    let t = tenant();
    store
        .upsert_integration(t, spec)
        .await
        .expect("integration");
    store
        .sync_scopes(
            t,
            spec.integration_id,
            scopes,
            true,
            rmm_sync::ingest::now_micros(),
        )
        .await
        .expect("scopes");
    for s in scopes {
        store
            .assign_scope(
                t,
                spec.integration_id,
                &s.id,
                &ScopeAssignment {
                    client_id: Some(Some(ClientId::from_name("acme"))),
                    auto_sync_assets: None,
                },
            )
            .await
            .expect("assign scope");
    }
    spec.integration_id
}

pub(crate) async fn connect(url: &str) -> Arc<PostgresStore> {
    Arc::new(PostgresStore::connect(url).await.expect("connect"))
}

pub(crate) async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.expect(sql)
}
