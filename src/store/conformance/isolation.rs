//! Tenant isolation, failure isolation and concurrent writers.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::ErrorKind;
use crate::ingest::{BatchResult, EngineOptions, IngestionEngine};
use crate::model::{ExternalDeviceId, ExternalScopeId, Outcome, OutcomeCounts, Reported};
use crate::store::{
    AssetStore, Correlation, CorrelationQuery, HostAssetUpdate, IdentityQuery, LeaseRequest,
    SyncStatus,
};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, all_outcomes, expect_kind, fleet, workstation};

/// Nothing of one tenant is visible to, or writable by, another — even with the same
/// integration id and device ids — and the other tenant's ingest creates its own assets.
pub async fn tenant_isolation(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let a = Fixture::new(store).await?;
    a.mapped_scope("org-1").await?;
    let devices = fleet("dev", "org-1", 2);
    let created = a.ingest(0, devices.clone()).await?;
    all_outcomes(&created, &Outcome::Created, "tenant A's first ingest")?;
    let a_asset = created.outcomes[0]
        .asset_id
        .or_fail("tenant A's asset id")?;
    let d0 = ExternalDeviceId::new("dev-000");
    let s = &a.store;
    s.set_suppressed(a.tenant, a.integration, &"dev-009".into(), true)
        .await
        .or_fail("set_suppressed")?;
    s.update_failed_devices(
        a.tenant,
        a.integration,
        &[("dev-008".into(), "boom".into())],
        &[],
        a.t0,
    )
    .await
    .or_fail("update_failed_devices")?;
    let lease = |holder: &str| LeaseRequest {
        holder: holder.into(),
        expires_at: a.at(60),
        now: a.t0,
    };
    ensure!(
        s.try_acquire_lease(a.tenant, a.integration, &lease("a"))
            .await
            .or_fail("lease")?,
        "setup: lease for A"
    );

    let b = a.other_tenant().await?;
    ensure!(
        s.get_asset(b.tenant, a_asset)
            .await
            .or_fail("get_asset")?
            .is_none(),
        "B reads A's asset"
    );
    ensure!(
        s.extension_rows(b.tenant, a_asset)
            .await
            .or_fail("extension_rows")?
            .is_empty(),
        "B reads A's extension row"
    );
    ensure!(
        b.maybe_mapping("dev-000").await?.is_none(),
        "B reads A's mapping"
    );
    ensure!(b.all_assets().await?.is_empty(), "B lists A's assets");
    ensure!(
        s.list_scopes(b.tenant, b.integration)
            .await
            .or_fail("list_scopes")?
            .is_empty(),
        "B lists A's scopes"
    );
    ensure!(
        s.failed_devices(b.tenant, b.integration)
            .await
            .or_fail("failed_devices")?
            .is_empty(),
        "B sees A's failed devices"
    );
    let live = s
        .live_device_ids(b.tenant, b.integration, &"org-1".into())
        .await
        .or_fail("live_device_ids")?;
    ensure!(live.is_empty(), "B sees A's live devices");
    let query = CorrelationQuery {
        provider: a.provider.clone(),
        integration_id: a.integration,
        external_ids: vec![d0.clone(), "dev-001".into(), "dev-009".into()],
        scope_ids: vec![ExternalScopeId::new("org-1")],
        identity: Some(IdentityQuery {
            serial_numbers: vec!["SN-DEV-000".into()],
            ..Default::default()
        }),
    };
    let seen = s.correlate(b.tenant, &query).await.or_fail("correlate")?;
    ensure_eq!(
        seen,
        Correlation::default(),
        "B correlates against A's rows"
    );
    let b_integrations = s
        .list_integrations(b.tenant)
        .await
        .or_fail("list_integrations")?;
    ensure_eq!(b_integrations.len(), 1, "B's integrations");
    ensure_eq!(
        b_integrations[0].sync_status,
        SyncStatus::Pending,
        "B's integration state"
    );
    ensure!(
        s.try_acquire_lease(b.tenant, b.integration, &lease("b"))
            .await
            .or_fail("lease")?,
        "A's lease blocks B"
    );

    let edit = HostAssetUpdate {
        name: Some("hijacked".into()),
        ..Default::default()
    };
    expect_kind(
        s.update_asset(b.tenant, a_asset, &edit, a.at(1)).await,
        ErrorKind::NotFound,
        "B edits A's asset",
    )?;
    let _ = s.delete_asset(b.tenant, a_asset).await;
    let a_row = a.asset(a_asset).await?;
    ensure_eq!(
        a_row.name,
        "pc-dev-000",
        "A's asset after B's edit and delete attempts"
    );

    b.mapped_scope("org-1").await?;
    let b_created = b.ingest(5, devices.clone()).await?;
    all_outcomes(
        &b_created,
        &Outcome::Created,
        "B ingests the same device ids",
    )?;
    let a_ids: HashSet<_> = created.outcomes.iter().map(|o| o.asset_id).collect();
    ensure!(
        b_created
            .outcomes
            .iter()
            .all(|o| !a_ids.contains(&o.asset_id)),
        "B's assets must be its own"
    );
    let again = a.ingest(10, devices).await?;
    all_outcomes(&again, &Outcome::Unchanged, "A after B's ingest")?;
    ensure_eq!(a.all_assets().await?.len(), 2, "A's assets");
    Ok(())
}

/// One invalid snapshot (negative RAM) fails alone with an error that names the field; the
/// rest of the batch commits; the device succeeds once fixed.
pub async fn failing_device_isolated(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let mut bad = workstation("bad", "org-1");
    bad.details.ram_gb = Reported::Value(-4.0);
    let batch = vec![
        workstation("good-1", "org-1"),
        bad,
        workstation("good-2", "org-1"),
    ];
    let result = fx.ingest(0, batch).await?;
    ensure_eq!(
        result.counts.created,
        2,
        "created beside the failing device"
    );
    ensure_eq!(result.counts.failed, 1, "failed devices");
    let failed = result
        .outcomes
        .iter()
        .find(|o| o.external_id.as_str() == "bad")
        .or_fail("the bad device's outcome")?;
    match &failed.outcome {
        Outcome::Failed { error } => {
            ensure_eq!(error.kind, ErrorKind::InvalidInput, "error kind");
            ensure!(
                error.message.contains("ram_gb"),
                "the error names the field: {}",
                error.message
            );
        }
        other => return Err(format!("the bad device should fail, got {other:?}")),
    }
    ensure!(
        fx.maybe_mapping("bad").await?.is_none(),
        "the failing device wrote a mapping"
    );
    ensure_eq!(fx.assets().await?.len(), 2, "assets of the integration");

    let o = fx.ingest_one(10, workstation("bad", "org-1")).await?;
    ensure_eq!(
        o.outcome,
        Outcome::Created,
        "the fixed device on the next run"
    );
    Ok(())
}

/// An engine with small batches, so concurrent tasks interleave at batch boundaries.
fn small_batch_engine(fx: &Fixture) -> IngestionEngine {
    let options = EngineOptions {
        batch_size: 5,
        ..EngineOptions::default()
    };
    IngestionEngine::with_options(Arc::clone(&fx.store), options)
}

async fn ingest_concurrently(
    fx: &Fixture,
    batches: Vec<Vec<crate::model::DeviceSnapshot>>,
) -> Result<OutcomeCounts, String> {
    let engine = small_batch_engine(fx);
    // Without a common start, the first task often finishes before the others are scheduled.
    let start = Arc::new(tokio::sync::Barrier::new(batches.len()));
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let (engine, ctx, start) = (engine.clone(), fx.ctx(0), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                engine.ingest(&ctx, batch).await
            })
        })
        .collect();
    let mut counts = OutcomeCounts::default();
    for joined in futures::future::join_all(tasks).await {
        let result: BatchResult = joined
            .map_err(|e| format!("an ingest task panicked: {e}"))?
            .or_fail("a concurrent ingest")?;
        for o in &result.outcomes {
            if let Outcome::Failed { error } = &o.outcome {
                return Err(format!(
                    "{} failed under concurrency: {}",
                    o.external_id, error.message
                ));
            }
        }
        counts.add(&result.counts);
    }
    Ok(counts)
}

/// Four concurrent batches of different devices all land: every device exactly one asset and
/// one mapping.
pub async fn concurrent_disjoint_batches(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let batches: Vec<_> = (0..4)
        .map(|t| fleet(&format!("t{t}"), "org-1", 25))
        .collect();
    let counts = ingest_concurrently(&fx, batches).await?;
    ensure_eq!(
        counts.created,
        100,
        "devices created by four concurrent tasks"
    );
    let assets = fx.assets().await?;
    ensure_eq!(assets.len(), 100, "assets of the integration");
    let mut mapped = HashSet::new();
    for t in 0..4 {
        for i in 0..25 {
            let m = fx.mapping(&format!("t{t}-{i:03}")).await?;
            ensure!(
                mapped.insert(m.asset_id),
                "two devices share asset {}",
                m.asset_id
            );
        }
    }
    Ok(())
}

/// Three tasks ingesting the same new devices at the same time yield exactly one asset per
/// device: the losers' conflicting writes are re-planned, and nobody fails.
pub async fn concurrent_same_devices_one_asset_each(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let devices = fleet("dev", "org-1", 30);
    let counts = ingest_concurrently(&fx, vec![devices.clone(), devices.clone(), devices]).await?;
    ensure_eq!(counts.created, 30, "creations across the three tasks");
    ensure_eq!(
        counts.unchanged,
        60,
        "the other two tasks see the devices unchanged"
    );
    let assets = fx.assets().await?;
    ensure_eq!(assets.len(), 30, "exactly one asset per device");
    let ids: HashSet<_> = assets.iter().map(|a| a.asset_id).collect();
    for i in 0..30 {
        let m = fx.mapping(&format!("dev-{i:03}")).await?;
        ensure!(
            ids.contains(&m.asset_id),
            "dev-{i:03}'s mapping points at a missing asset"
        );
    }
    Ok(())
}
