//! Integration rows: upsert, settings merge, run state.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::error::ErrorKind;
use crate::model::{IntegrationId, TenantId};
use crate::store::{AssetStore, IntegrationSpec, SyncStateUpdate, SyncStatus};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, PROVIDER_A, PROVIDER_B, expect_kind, provider};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Upsert creates, then refreshes only provider, URL and `is_active` while deep-merging
/// settings (unrelated keys survive, `null` removes); run state survives a re-upsert;
/// `merge_settings` merges the same way; integrations list in id order.
pub async fn integration_upsert_merges_settings(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let tenant = TenantId::new_random();
    let id = IntegrationId::new_random();
    let mut spec = IntegrationSpec {
        integration_id: id,
        provider: provider(PROVIDER_A),
        instance_url: Some("https://one.example.test".into()),
        is_active: true,
        settings: obj(json!({
            "deviceSync": {"enabled": true, "intervalMinutes": 60},
            "alertPolling": {"enabled": true},
            "region": "us"
        })),
    };
    let created = store
        .upsert_integration(tenant, &spec)
        .await
        .or_fail("upsert_integration")?;
    ensure_eq!(created.integration_id, id, "integration id");
    ensure_eq!(
        (created.sync_status, created.cursor.clone()),
        (SyncStatus::Pending, None),
        "a new integration's state"
    );
    ensure_eq!(
        created.settings,
        spec.settings,
        "settings of a new integration"
    );
    let state = SyncStateUpdate {
        sync_status: Some(SyncStatus::Completed),
        cursor: Some(Some("cursor-1".into())),
        ..Default::default()
    };
    store
        .update_sync_state(tenant, id, &state)
        .await
        .or_fail("update_sync_state")?;

    spec.instance_url = Some("https://two.example.test".into());
    spec.is_active = false;
    spec.settings = obj(json!({"deviceSync": {"intervalMinutes": 30}, "alertPolling": null}));
    let refreshed = store
        .upsert_integration(tenant, &spec)
        .await
        .or_fail("upsert_integration again")?;
    ensure_eq!(
        refreshed.instance_url,
        spec.instance_url,
        "instance_url refreshed"
    );
    ensure!(!refreshed.is_active, "is_active refreshed");
    let merged =
        obj(json!({"deviceSync": {"enabled": true, "intervalMinutes": 30}, "region": "us"}));
    ensure_eq!(refreshed.settings, merged, "settings deep-merged by upsert");
    ensure_eq!(
        refreshed.created_at,
        created.created_at,
        "created_at survives a re-upsert"
    );
    ensure_eq!(
        refreshed.sync_status,
        SyncStatus::Completed,
        "sync_status survives a re-upsert"
    );
    ensure_eq!(
        refreshed.cursor.as_deref(),
        Some("cursor-1"),
        "cursor survives a re-upsert"
    );

    let patch = obj(json!({
        "deviceSync": {"enabled": false, "filters": {"os": ["win"]}},
        "region": null,
        "new": 1
    }));
    let result = store
        .merge_settings(tenant, id, &patch)
        .await
        .or_fail("merge_settings")?;
    let expected = obj(json!({
        "deviceSync": {"enabled": false, "intervalMinutes": 30, "filters": {"os": ["win"]}},
        "new": 1
    }));
    ensure_eq!(result, expected, "merge_settings result");
    let stored = store
        .get_integration(tenant, id)
        .await
        .or_fail("get_integration")?
        .or_fail("the integration")?;
    ensure_eq!(
        stored.settings,
        expected,
        "stored settings after merge_settings"
    );
    let unknown = IntegrationId::new_random();
    expect_kind(
        store.merge_settings(tenant, unknown, &patch).await,
        ErrorKind::NotFound,
        "merge_settings of an unknown integration",
    )?;
    ensure!(
        store
            .get_integration(tenant, unknown)
            .await
            .or_fail("get_integration")?
            .is_none(),
        "an unknown integration reads as None"
    );

    let other = IntegrationSpec {
        integration_id: IntegrationId::new_random(),
        provider: provider(PROVIDER_B),
        ..spec
    };
    store
        .upsert_integration(tenant, &other)
        .await
        .or_fail("upsert_integration (second)")?;
    let listed: Vec<IntegrationId> = store
        .list_integrations(tenant)
        .await
        .or_fail("list_integrations")?
        .iter()
        .map(|i| i.integration_id)
        .collect();
    let mut ids = vec![id, other.integration_id];
    ids.sort();
    ensure_eq!(listed, ids, "list_integrations, ordered by id");
    Ok(())
}

/// `update_sync_state` changes only the fields it is given; `Some(None)` clears; an unknown
/// integration is `NotFound`.
pub async fn sync_state_partial_updates(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let read = || async {
        fx.store
            .get_integration(fx.tenant, fx.integration)
            .await
            .or_fail("get_integration")?
            .or_fail("the integration")
    };
    let update = |u: SyncStateUpdate| {
        let fx = fx.clone();
        async move {
            fx.store
                .update_sync_state(fx.tenant, fx.integration, &u)
                .await
                .or_fail("update_sync_state")
        }
    };
    update(SyncStateUpdate {
        sync_status: Some(SyncStatus::Syncing),
        ..Default::default()
    })
    .await?;
    let r = read().await?;
    ensure_eq!(r.sync_status, SyncStatus::Syncing, "sync_status");
    ensure_eq!(
        (r.sync_error, r.cursor, r.last_sync_at),
        (None, None, None),
        "untouched fields"
    );

    update(SyncStateUpdate {
        sync_error: Some(Some("unauthorized: token expired (provider: acme)".into())),
        cursor: Some(Some("2026-01-01T00:00:00Z".into())),
        connected_at: Some(fx.at(-60)),
        last_sync_at: Some(fx.at(1)),
        last_full_sync_at: Some(fx.at(1)),
        ..Default::default()
    })
    .await?;
    let r = read().await?;
    ensure_eq!(
        r.sync_status,
        SyncStatus::Syncing,
        "sync_status untouched by an update without it"
    );
    ensure_eq!(
        r.sync_error.as_deref(),
        Some("unauthorized: token expired (provider: acme)"),
        "sync_error"
    );
    ensure_eq!(r.cursor.as_deref(), Some("2026-01-01T00:00:00Z"), "cursor");
    ensure_eq!(
        (r.connected_at, r.last_sync_at, r.last_full_sync_at),
        (Some(fx.at(-60)), Some(fx.at(1)), Some(fx.at(1))),
        "timestamps"
    );

    update(SyncStateUpdate {
        sync_status: Some(SyncStatus::Completed),
        last_incremental_sync_at: Some(fx.at(2)),
        ..Default::default()
    })
    .await?;
    let r = read().await?;
    ensure!(
        r.sync_error.is_some() && r.cursor.is_some(),
        "error and cursor survive an unrelated update"
    );
    ensure_eq!(
        (r.last_sync_at, r.last_incremental_sync_at),
        (Some(fx.at(1)), Some(fx.at(2))),
        "timestamps"
    );

    update(SyncStateUpdate {
        sync_error: Some(None),
        cursor: Some(None),
        ..Default::default()
    })
    .await?;
    let r = read().await?;
    ensure_eq!((r.sync_error, r.cursor), (None, None), "Some(None) clears");
    ensure_eq!(
        (r.sync_status, r.last_full_sync_at),
        (SyncStatus::Completed, Some(fx.at(1))),
        "untouched fields"
    );

    let unknown = fx
        .store
        .update_sync_state(
            fx.tenant,
            IntegrationId::new_random(),
            &SyncStateUpdate::default(),
        )
        .await;
    expect_kind(
        unknown,
        ErrorKind::NotFound,
        "update_sync_state of an unknown integration",
    )
}
