//! Optional cross-provider matching by hardware identity (off by default).

use std::sync::Arc;

use crate::model::{AssetId, DeviceSnapshot, Outcome, Reported};
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

/// A third provider, for scenarios where provider B already maps the asset it would match.
const PROVIDER_C: &str = "conformance-c";

fn outcome_of(result: &crate::ingest::BatchResult, device: &str) -> Result<Outcome, String> {
    result
        .outcomes
        .iter()
        .find(|o| o.external_id.as_str() == device)
        .map(|o| o.outcome.clone())
        .ok_or_else(|| format!("no outcome for {device}"))
}

fn linked_to(
    result: &crate::ingest::BatchResult,
    device: &str,
    asset: AssetId,
) -> Result<(), String> {
    let o = result
        .outcomes
        .iter()
        .find(|o| o.external_id.as_str() == device)
        .ok_or_else(|| format!("no outcome for {device}"))?;
    ensure_eq!(
        o.outcome,
        Outcome::Updated,
        "outcome of {device} (an identity match)"
    );
    ensure_eq!(o.asset_id, Some(asset), "the asset {device} is linked to");
    Ok(())
}

/// Matching turned on in a tenant whose assets were all written with it off finds them by
/// serial, by MAC and by system UUID (a store that keeps identifier rows only for matching
/// runs must build them from the asset rows first), and never an asset of another tenant.
pub async fn matching_turned_on_finds_assets_written_with_it_off(
    store: &Arc<dyn AssetStore>,
) -> ScenarioResult {
    let (a, b) = two_providers(store).await?;
    let mac = "00:1A:2B:3C:4D:6F";
    let uuid = "4C4C4544-0042-3510-8052-B4C04F4A4D32";
    let by_serial = a.create(0, with_serial("a-s", "C02MATCH0001")).await?;
    let mut m = with_serial("a-m", "C02OTHER0002");
    m.identity.mac_addresses = vec![mac.into()];
    let by_mac = a.create(0, m).await?;
    let mut u = with_serial("a-u", "C02OTHER0003");
    u.identity.system_uuid = Some(uuid.into());
    let by_uuid = a.create(0, u).await?;
    // The same serial in another tenant, written with matching off too.
    let elsewhere = a.other_tenant().await?;
    elsewhere.mapped_scope("org-1").await?;
    elsewhere
        .create(0, with_serial("a-s", "C02MATCH0001"))
        .await?;

    let mut bm = with_serial("b-m", "C02BBBBB0002");
    bm.identity.mac_addresses = vec!["001a.2b3c.4d6f".into()];
    let mut bu = with_serial("b-u", "C02BBBBB0003");
    bu.identity.system_uuid = Some(uuid.to_lowercase());
    let result = b
        .ingest_with(
            b.ctx(5).with_cross_provider_matching(true),
            vec![with_serial("b-s", "c02match0001"), bm, bu],
        )
        .await?;
    linked_to(&result, "b-s", by_serial)?;
    linked_to(&result, "b-m", by_mac)?;
    linked_to(&result, "b-u", by_uuid)?;
    ensure_eq!(a.all_assets().await?.len(), 3, "assets in the tenant");
    Ok(())
}

/// Identifiers follow the asset rows whatever the writer's setting: an asset whose serial
/// changed while matching was off (before and after a matching run happened in the tenant),
/// or that the host edited, is matched by its new serial and no longer by the old one.
pub async fn matching_sees_changes_made_while_it_was_off(
    store: &Arc<dyn AssetStore>,
) -> ScenarioResult {
    let (a, b) = two_providers(store).await?;
    let one = a.create(0, with_serial("a-1", "OLDSERIAL01")).await?;
    let two = a.create(0, with_serial("a-2", "OLDSERIAL02")).await?;
    let three = a.create(0, with_serial("a-3", "OLDSERIAL03")).await?;
    // Changed before any matching run.
    let o = a.ingest_one(1, with_serial("a-1", "NEWSERIAL01")).await?;
    ensure_eq!(o.outcome, Outcome::Updated, "a-1's serial change");
    let host_edit = crate::store::HostAssetUpdate {
        serial_number: Some(Some("HOSTSERIAL03".into())),
        ..Default::default()
    };
    store
        .update_asset(a.tenant, three, &host_edit, a.at(1))
        .await
        .map_err(|e| format!("update_asset (host serial edit): {e}"))?;

    let on = |m| b.ctx(m).with_cross_provider_matching(true);
    let result = b
        .ingest_with(
            on(2),
            vec![
                with_serial("b-1", "NEWSERIAL01"),
                with_serial("b-0", "OLDSERIAL01"),
                with_serial("b-3", "HOSTSERIAL03"),
            ],
        )
        .await?;
    linked_to(&result, "b-1", one)?;
    linked_to(&result, "b-3", three)?;
    ensure_eq!(
        outcome_of(&result, "b-0")?,
        Outcome::Created,
        "a device with a-1's old serial (a stale identifier must not match)"
    );

    // Changed after a matching run, by an integration with matching off.
    let o = a.ingest_one(3, with_serial("a-2", "NEWSERIAL02")).await?;
    ensure_eq!(o.outcome, Outcome::Updated, "a-2's serial change");
    let result = b
        .ingest_with(
            on(4),
            vec![
                with_serial("b-2", "NEWSERIAL02"),
                with_serial("b-9", "OLDSERIAL02"),
            ],
        )
        .await?;
    linked_to(&result, "b-2", two)?;
    ensure_eq!(
        outcome_of(&result, "b-9")?,
        Outcome::Created,
        "a device with a-2's old serial"
    );
    Ok(())
}

/// Identifiers are kept once per asset: after matching runs, rewrites of the same asset with
/// matching off and on, a third provider's device with that serial has exactly one candidate.
pub async fn identifiers_kept_once_per_asset(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let (a, b) = two_providers(store).await?;
    let c = a.sibling(PROVIDER_C).await?;
    c.mapped_scope("org-1").await?;
    let serial = "ONCESERIAL01";
    let asset = a.create(0, with_serial("a-1", serial)).await?;
    let on = |f: &super::support::Fixture, m| f.ctx(m).with_cross_provider_matching(true);
    let result = b
        .ingest_with(on(&b, 1), vec![with_serial("b-1", serial)])
        .await?;
    linked_to(&result, "b-1", asset)?;
    // Rewrites of the asset: matching off, then on (a rename changes the fingerprint).
    for (m, matching) in [(2, false), (3, true), (4, false)] {
        let mut s = with_serial("a-1", serial);
        s.display_name = format!("renamed-{m}");
        let ctx = a.ctx(m).with_cross_provider_matching(matching);
        let r = a.ingest_with(ctx, vec![s]).await?;
        ensure_eq!(
            r.outcomes[0].outcome,
            Outcome::Updated,
            "rewrite {m} of a-1"
        );
    }
    let result = c
        .ingest_with(on(&c, 5), vec![with_serial("c-1", serial)])
        .await?;
    linked_to(&result, "c-1", asset)?;
    ensure_eq!(a.all_assets().await?.len(), 1, "assets in the tenant");
    Ok(())
}

/// Assets written with matching off while another integration's matching run starts are all
/// found by a later matching run: no write slips between a store's building of the tenant's
/// identifiers and its maintaining them.
pub async fn concurrent_writes_while_matching_starts(
    store: &Arc<dyn AssetStore>,
) -> ScenarioResult {
    let (a, b) = two_providers(store).await?;
    let c = a.sibling(PROVIDER_C).await?;
    c.mapped_scope("org-1").await?;
    let serial = |i: usize| format!("RACESERIAL{i:04}");
    let start = Arc::new(tokio::sync::Barrier::new(5));
    let mut tasks = Vec::new();
    for batch in 0..4 {
        let (a, start) = (a.clone(), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let snaps = (0..10)
                .map(|i| with_serial(&format!("a-{batch}-{i}"), &serial(batch * 10 + i)))
                .collect();
            a.ingest(0, snaps).await
        }));
    }
    let (b2, start2) = (b.clone(), Arc::clone(&start));
    let matching = tokio::spawn(async move {
        start2.wait().await;
        let ctx = b2.ctx(0).with_cross_provider_matching(true);
        b2.ingest_with(ctx, vec![with_serial("b-x", "UNRELATED0001")])
            .await
    });
    for t in tasks {
        let r = t
            .await
            .map_err(|e| format!("an ingest task panicked: {e}"))??;
        for o in &r.outcomes {
            ensure_eq!(
                o.outcome,
                Outcome::Created,
                "A's concurrent {}",
                o.external_id
            );
        }
    }
    matching
        .await
        .map_err(|e| format!("the matching task panicked: {e}"))??;
    let snaps = (0..40)
        .map(|i| with_serial(&format!("c-{i}"), &serial(i)))
        .collect();
    let result = c
        .ingest_with(c.ctx(1).with_cross_provider_matching(true), snaps)
        .await?;
    for o in &result.outcomes {
        ensure_eq!(
            o.outcome,
            Outcome::Updated,
            "{} (its serial is on an asset A wrote concurrently)",
            o.external_id
        );
    }
    Ok(())
}
