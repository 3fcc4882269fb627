//! Optional cross-provider matching by hardware identity (off by default).

use std::sync::Arc;

use crate::model::{DeviceSnapshot, Outcome, Reported};
use crate::store::AssetStore;

use super::ScenarioResult;
use super::support::{Fixture, PROVIDER_B, workstation};

/// Provider A's fixture and provider B's, each with a mapped scope `org-1` of its own client.
async fn two_providers(store: &Arc<dyn AssetStore>) -> Result<(Fixture, Fixture), String> {
    let a = Fixture::new(store).await?;
    a.mapped_scope("org-1").await?;
    let b = a.sibling(PROVIDER_B).await?;
    b.mapped_scope("org-1").await?;
    Ok((a, b))
}

fn with_serial(id: &str, serial: &str) -> DeviceSnapshot {
    let mut s = workstation(id, "org-1");
    s.serial_number = Reported::Value(serial.into());
    s
}

/// Matching on: one asset of another provider with the same serial is linked (a mapping is
/// added) without overwriting that provider's columns or the asset's client. Matching is off
/// by default, and an asset this provider already maps is never a candidate.
pub async fn cross_provider_single_match_links(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let (a, b) = two_providers(store).await?;
    let serial = "C02XK1ABJG5H";
    let a_asset = a.create(0, with_serial("a-1", serial)).await?;
    let before = a.asset(a_asset).await?;

    // Off by default: B creates its own asset.
    let own = b.create(1, with_serial("b-0", serial)).await?;
    ensure!(
        own != a_asset,
        "matching is off by default, yet b-0 was linked to a-1's asset"
    );

    let ctx = b.ctx(2).with_cross_provider_matching(true);
    let mut snap = with_serial("b-1", &serial.to_lowercase());
    snap.display_name = "b-name".into();
    let result = b.ingest_with(ctx, vec![snap]).await?;
    let o = &result.outcomes[0];
    ensure_eq!(
        o.outcome,
        Outcome::Updated,
        "outcome of a single identity match"
    );
    ensure_eq!(
        o.asset_id,
        Some(a_asset),
        "b-1 links to a-1's asset (not to b-0's, which B maps)"
    );
    ensure_eq!(b.mapping("b-1").await?.asset_id, a_asset, "B's mapping");
    let after = a.asset(a_asset).await?;
    ensure_eq!(
        after,
        before,
        "the other provider's asset is not rewritten by a secondary link"
    );
    ensure_eq!(
        a.all_assets().await?.len(),
        2,
        "assets in the tenant (a-1's and b-0's)"
    );
    Ok(())
}

/// Matching on: two candidate assets (one by serial, one by MAC) are reported `ambiguous` with
/// both ids, and nothing is written.
pub async fn cross_provider_ambiguous_match_reported(
    store: &Arc<dyn AssetStore>,
) -> ScenarioResult {
    let (a, b) = two_providers(store).await?;
    let mac = "00:1A:2B:3C:4D:5E";
    let by_serial = a.create(0, with_serial("a-1", "SERIAL-0042")).await?;
    let mut second = with_serial("a-2", "SERIAL-0043");
    second.identity.mac_addresses = vec![mac.into()];
    let by_mac = a.create(0, second).await?;

    let mut snap = with_serial("b-1", "serial-0042");
    snap.identity.mac_addresses = vec!["001a.2b3c.4d5e".into()];
    let result = b
        .ingest_with(b.ctx(5).with_cross_provider_matching(true), vec![snap])
        .await?;
    let mut candidates = vec![by_serial, by_mac];
    candidates.sort();
    ensure_eq!(
        result.outcomes[0].outcome,
        Outcome::Ambiguous { candidates },
        "outcome"
    );
    ensure!(
        b.maybe_mapping("b-1").await?.is_none(),
        "an ambiguous device gets no mapping"
    );
    ensure_eq!(
        a.all_assets().await?.len(),
        2,
        "no asset is created for an ambiguous device"
    );
    Ok(())
}

/// Junk identifiers never match: "To be filled by O.E.M.", "0" and the all-zero system UUID
/// shared by two devices do not link them.
pub async fn junk_identifiers_never_match(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let (a, b) = two_providers(store).await?;
    let zero_uuid = "00000000-0000-0000-0000-000000000000";
    let junk = [
        ("1", "To be filled by O.E.M."),
        ("2", "0"),
        ("3", "System Serial Number"),
    ];
    for (n, serial) in junk {
        let mut s = with_serial(&format!("a-{n}"), serial);
        s.identity.system_uuid = Some(zero_uuid.into());
        a.create(0, s).await?;
    }
    let ctx = b.ctx(5).with_cross_provider_matching(true);
    let mut snaps = Vec::new();
    for (n, serial) in junk {
        let mut s = with_serial(&format!("b-{n}"), serial);
        s.identity.system_uuid = Some(zero_uuid.into());
        snaps.push(s);
    }
    let result = b.ingest_with(ctx, snaps).await?;
    for o in &result.outcomes {
        ensure_eq!(
            o.outcome,
            Outcome::Created,
            "junk-only identity of {}",
            o.external_id
        );
    }
    ensure_eq!(a.all_assets().await?.len(), 6, "assets in the tenant");
    let first = b.mapping("b-1").await?;
    ensure!(
        a.maybe_mapping("a-1")
            .await?
            .is_some_and(|m| m.asset_id != first.asset_id),
        "b-1 must not share a-1's asset"
    );
    Ok(())
}
