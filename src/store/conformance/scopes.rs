//! Scope sync and the host's scope assignments.

use std::sync::Arc;

use serde_json::json;

use crate::error::ErrorKind;
use crate::model::{ClientId, ExternalScopeId, ScopeKind, ScopeSnapshot};
use crate::store::{AssetStore, ScopeAssignment, ScopeRecord, ScopeSyncCounts};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, PROVIDER_B, expect_kind};

fn snapshot(id: &str, name: &str) -> ScopeSnapshot {
    ScopeSnapshot::new(id, name, ScopeKind::Organization)
}

async fn sync(
    fx: &Fixture,
    scopes: &[ScopeSnapshot],
    complete: bool,
    minute: i64,
) -> Result<ScopeSyncCounts, String> {
    fx.store
        .sync_scopes(fx.tenant, fx.integration, scopes, complete, fx.at(minute))
        .await
        .or_fail("sync_scopes")
}

async fn list(fx: &Fixture) -> Result<Vec<ScopeRecord>, String> {
    fx.store
        .list_scopes(fx.tenant, fx.integration)
        .await
        .or_fail("list_scopes")
}

async fn find(fx: &Fixture, id: &str) -> Result<ScopeRecord, String> {
    list(fx)
        .await?
        .into_iter()
        .find(|s| s.external_id.as_str() == id)
        .or_fail(format_args!("scope {id}"))
}

fn counts(created: u64, updated: u64, vanished: u64, reappeared: u64) -> ScopeSyncCounts {
    ScopeSyncCounts {
        created,
        updated,
        vanished,
        reappeared,
    }
}

/// New scopes start unmapped with `auto_sync_assets = true`, keep name, parent, kind and
/// metadata, and list in external-id order, per integration.
pub async fn new_scopes_start_unmapped(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let other = fx.sibling(PROVIDER_B).await?;
    let mut site = ScopeSnapshot::new("b-site", "Site \"Nord\" – Ümlaut", ScopeKind::Site);
    site.parent = Some("a-org".into());
    site.metadata = json!({"path": ["Acme", "Nord"], "devices": 12})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let scopes = [site.clone(), snapshot("a-org", "Acme")];
    ensure_eq!(
        sync(&fx, &scopes, true, 0).await?,
        counts(2, 0, 0, 0),
        "counts of a first scope sync"
    );

    let listed = list(&fx).await?;
    let ids: Vec<&str> = listed.iter().map(|s| s.external_id.as_str()).collect();
    ensure_eq!(
        ids,
        vec!["a-org", "b-site"],
        "scopes, ordered by external id"
    );
    for s in &listed {
        ensure_eq!(
            (s.client_id, s.auto_sync_assets),
            (None, true),
            "host fields of new scope {}",
            s.external_id
        );
        ensure_eq!(
            s.vanished_at,
            None,
            "vanished_at of new scope {}",
            s.external_id
        );
        ensure_eq!(
            s.last_synced_at,
            Some(fx.at(0)),
            "last_synced_at of {}",
            s.external_id
        );
        ensure_eq!(
            s.integration_id,
            fx.integration,
            "integration of {}",
            s.external_id
        );
    }
    let b = &listed[1];
    ensure_eq!(
        (&b.name, &b.parent, b.kind),
        (&site.name, &site.parent, site.kind),
        "name, parent and kind"
    );
    ensure_eq!(b.metadata, site.metadata, "metadata");
    ensure!(
        list(&other).await?.is_empty(),
        "another integration sees the scopes"
    );
    Ok(())
}

/// A later scope sync refreshes name, parent, kind and metadata and never touches the host's
/// client assignment or `auto_sync_assets`.
pub async fn scope_refresh_keeps_host_fields(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    sync(&fx, &[snapshot("org-1", "Acme")], true, 0).await?;
    let client = ClientId::new_random();
    fx.assign("org-1", Some(client), false).await?;
    let before = find(&fx, "org-1").await?;

    let mut renamed = ScopeSnapshot::new("org-1", "Acme Corp", ScopeKind::Group);
    renamed.parent = Some("root".into());
    renamed.metadata = json!({"renamed": true})
        .as_object()
        .cloned()
        .unwrap_or_default();
    ensure_eq!(
        sync(&fx, &[renamed.clone()], true, 5).await?,
        counts(0, 1, 0, 0),
        "counts of a refresh"
    );
    let after = find(&fx, "org-1").await?;
    ensure_eq!(
        (after.client_id, after.auto_sync_assets),
        (Some(client), false),
        "host fields after a refresh"
    );
    ensure_eq!(
        after.mapping_id,
        before.mapping_id,
        "the scope row is updated, not replaced"
    );
    ensure_eq!(
        (&after.name, &after.parent, after.kind),
        (&renamed.name, &renamed.parent, renamed.kind),
        "refreshed fields"
    );
    ensure_eq!(after.metadata, renamed.metadata, "refreshed metadata");
    ensure_eq!(after.last_synced_at, Some(fx.at(5)), "last_synced_at");
    Ok(())
}

/// A complete listing flags missing scopes (kept, with `vanished_at`, not re-flagged later); an
/// incomplete listing flags nothing; a flagged scope that returns is un-flagged.
pub async fn vanished_scopes_flagged(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let all = [
        snapshot("s1", "One"),
        snapshot("s2", "Two"),
        snapshot("s3", "Three"),
    ];
    sync(&fx, &all, true, 0).await?;
    let client = ClientId::new_random();
    fx.assign("s2", Some(client), true).await?;

    ensure_eq!(
        sync(&fx, &all[..1], false, 5).await?,
        counts(0, 1, 0, 0),
        "an incomplete listing"
    );
    ensure!(
        list(&fx).await?.iter().all(|s| s.vanished_at.is_none()),
        "an incomplete listing flagged a scope"
    );

    ensure_eq!(
        sync(&fx, &all[..2], true, 10).await?,
        counts(0, 2, 1, 0),
        "a complete listing without s3"
    );
    let s3 = find(&fx, "s3").await?;
    ensure_eq!(
        s3.vanished_at,
        Some(fx.at(10)),
        "s3 is flagged, not deleted"
    );
    ensure_eq!(list(&fx).await?.len(), 3, "no scope is deleted");
    ensure_eq!(
        sync(&fx, &all[..2], true, 15).await?,
        counts(0, 2, 0, 0),
        "s3 still missing"
    );
    ensure_eq!(
        find(&fx, "s3").await?.vanished_at,
        Some(fx.at(10)),
        "s3 is not re-flagged"
    );

    ensure_eq!(
        sync(&fx, &all, true, 20).await?,
        counts(0, 3, 0, 1),
        "s3 is back"
    );
    ensure_eq!(find(&fx, "s3").await?.vanished_at, None, "s3 is un-flagged");
    ensure_eq!(
        find(&fx, "s2").await?.client_id,
        Some(client),
        "s2's client after the syncs"
    );
    Ok(())
}

/// `assign_scope` maps, toggles and unmaps, leaving fields it is not given alone; an unknown
/// scope is `NotFound`.
pub async fn assign_scope_rules(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    sync(&fx, &[snapshot("org-1", "Acme")], true, 0).await?;
    let scope = ExternalScopeId::new("org-1");
    let assign = |a: ScopeAssignment| {
        let (store, tenant, integration, scope) = (
            Arc::clone(&fx.store),
            fx.tenant,
            fx.integration,
            scope.clone(),
        );
        async move {
            store
                .assign_scope(tenant, integration, &scope, &a)
                .await
                .or_fail("assign_scope")
        }
    };
    let client = ClientId::new_random();
    let r = assign(ScopeAssignment {
        client_id: Some(Some(client)),
        auto_sync_assets: None,
    })
    .await?;
    ensure_eq!(
        (r.client_id, r.auto_sync_assets),
        (Some(client), true),
        "after mapping"
    );
    ensure!(r.is_eligible(), "a mapped scope with auto sync is eligible");
    let r = assign(ScopeAssignment {
        client_id: None,
        auto_sync_assets: Some(false),
    })
    .await?;
    ensure_eq!(
        (r.client_id, r.auto_sync_assets),
        (Some(client), false),
        "after turning sync off"
    );
    let r = assign(ScopeAssignment {
        client_id: Some(None),
        auto_sync_assets: None,
    })
    .await?;
    ensure_eq!(
        (r.client_id, r.auto_sync_assets),
        (None, false),
        "after unmapping"
    );
    ensure_eq!(
        find(&fx, "org-1").await?,
        r,
        "assign_scope returns the stored row"
    );

    let unknown = ScopeAssignment {
        client_id: Some(Some(client)),
        auto_sync_assets: None,
    };
    let result = fx
        .store
        .assign_scope(fx.tenant, fx.integration, &"no-such-scope".into(), &unknown)
        .await;
    expect_kind(
        result,
        ErrorKind::NotFound,
        "assign_scope of an unknown scope",
    )?;
    ensure_eq!(
        list(&fx).await?.len(),
        1,
        "assign_scope of an unknown scope must not create it"
    );
    Ok(())
}
