//! The seen log of a run ([`AssetStore::record_seen`], [`AssetStore::seen_devices`],
//! [`AssetStore::clear_seen`]): what a run whose steps execute in different processes sweeps
//! from. A lost id tombstones a live device; a stale one keeps a vanished device alive; so the
//! log must be exact, idempotent per chunk, and scoped to (tenant, integration, run).

use std::sync::Arc;

use crate::model::{ExternalDeviceId, RunId};
use crate::store::AssetStore;

use super::ScenarioResult;
use super::support::{Fixture, OrFail, PROVIDER_A};

fn ids(items: &[&str]) -> Vec<ExternalDeviceId> {
    items.iter().map(|s| ExternalDeviceId::new(*s)).collect()
}

fn sorted(mut ids: Vec<ExternalDeviceId>) -> Vec<ExternalDeviceId> {
    ids.sort();
    ids
}

impl Fixture {
    async fn record_seen(
        &self,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<(), String> {
        self.store
            .record_seen(self.tenant, self.integration, run, chunk, ids)
            .await
            .or_fail(format!("record_seen of chunk {chunk:?}"))
    }

    /// The run's seen ids, sorted (duplicates kept, so a test comparing with a duplicate-free
    /// list also proves "each once").
    async fn seen(&self, run: RunId) -> Result<Vec<ExternalDeviceId>, String> {
        let found = self
            .store
            .seen_devices(self.tenant, self.integration, run, None)
            .await
            .or_fail("seen_devices")?;
        Ok(sorted(found))
    }

    async fn clear_seen(&self) -> Result<u64, String> {
        self.store
            .clear_seen(self.tenant, self.integration)
            .await
            .or_fail("clear_seen")
    }
}

/// Two chunks that overlap read back as their union, each id once; ids repeated inside one
/// chunk are also returned once.
pub async fn seen_log_union_of_chunks(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let run = RunId::new_v7();
    ensure_eq!(
        fx.seen(run).await?,
        vec![],
        "a run nothing was recorded for"
    );
    fx.record_seen(run, "t1/p1", &ids(&["a", "b", "c", "b"]))
        .await?;
    fx.record_seen(run, "t1/p2", &ids(&["c", "d"])).await?;
    ensure_eq!(
        fx.seen(run).await?,
        ids(&["a", "b", "c", "d"]),
        "the union of two chunks, each id once"
    );
    Ok(())
}

/// Recording a chunk again (a retried step) replaces its ids: ids only in the old version are
/// gone, the other chunks are untouched.
pub async fn seen_log_rerecord_replaces_chunk(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let run = RunId::new_v7();
    fx.record_seen(run, "t1/p1", &ids(&["a", "b", "old"]))
        .await?;
    fx.record_seen(run, "t1/p2", &ids(&["x"])).await?;
    fx.record_seen(run, "t1/p1", &ids(&["a", "b", "new"]))
        .await?;
    ensure_eq!(
        fx.seen(run).await?,
        ids(&["a", "b", "new", "x"]),
        "after re-recording chunk t1/p1"
    );
    fx.record_seen(run, "t1/p1", &ids(&["a", "b", "new"]))
        .await?;
    ensure_eq!(
        fx.seen(run).await?,
        ids(&["a", "b", "new", "x"]),
        "recording the same chunk twice with the same ids is idempotent"
    );
    ensure_eq!(
        fx.clear_seen().await?,
        2,
        "chunks after re-recording one of two (a replace adds no chunk)"
    );
    Ok(())
}

/// An empty chunk (a step that saw no devices) is recorded and counts as a chunk; re-recording a
/// chunk empty removes its ids.
pub async fn seen_log_empty_chunk(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let run = RunId::new_v7();
    fx.record_seen(run, "t1/p1", &[]).await?;
    ensure_eq!(fx.seen(run).await?, vec![], "a run with one empty chunk");
    fx.record_seen(run, "t2/p1", &ids(&["a", "b"])).await?;
    ensure_eq!(
        fx.seen(run).await?,
        ids(&["a", "b"]),
        "an empty chunk beside a full one"
    );
    fx.record_seen(run, "t2/p1", &[]).await?;
    ensure_eq!(
        fx.seen(run).await?,
        vec![],
        "after re-recording the full chunk empty"
    );
    ensure_eq!(fx.clear_seen().await?, 2, "empty chunks are chunks too");
    Ok(())
}

/// A chunk of 5,000 ids (a large provider page) round-trips completely.
pub async fn seen_log_large_chunk_round_trips(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let run = RunId::new_v7();
    let big: Vec<ExternalDeviceId> = (0..5_000)
        .map(|i| ExternalDeviceId::new(format!("endpoint-{i:05}-{}", i * 7919)))
        .collect();
    fx.record_seen(run, "t1/p1", &big).await?;
    fx.record_seen(run, "t1/p2", &big[4_990..]).await?;
    let found = fx.seen(run).await?;
    ensure_eq!(found.len(), 5_000, "ids read back from a 5,000-id chunk");
    ensure_eq!(
        found,
        sorted(big),
        "the 5,000 ids read back exactly, each once"
    );
    Ok(())
}

/// Ids are arbitrary strings: separators, quotes, escapes, array and JSON syntax, whitespace,
/// non-ASCII text and long ids round-trip byte for byte.
pub async fn seen_log_ids_round_trip_exactly(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let run = RunId::new_v7();
    let long = "x".repeat(1_000);
    let awkward = ids(&[
        "a,b",
        ",",
        "\"quoted\"",
        "it's",
        "back\\slash",
        "\\\"",
        "line\nbreak",
        "cr\r\nlf",
        "tab\there",
        " padded ",
        "NULL",
        "null",
        "{a,b}",
        "[\"json\"]",
        "{\"k\":1}",
        "\\N",
        "%_*?",
        "'; DROP TABLE assets; --",
        "Gerät-Ä-ß",
        "端点-東京",
        "🖥️💻",
        "e\u{301}",
        "\u{202e}rtl",
        "\u{7f}\u{1}",
        &long,
    ]);
    fx.record_seen(run, "t1/p1", &awkward[..12]).await?;
    fx.record_seen(run, "t1/p2", &awkward[12..]).await?;
    ensure_eq!(
        fx.seen(run).await?,
        sorted(awkward),
        "awkward ids read back exactly"
    );
    Ok(())
}

/// `seen_devices` reads one run: chunks of other runs of the same integration (with the same
/// chunk names) are not returned.
pub async fn seen_log_runs_are_separate(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let (first, second) = (RunId::new_v7(), RunId::new_v7());
    fx.record_seen(first, "t1/p1", &ids(&["a", "b"])).await?;
    fx.record_seen(second, "t1/p1", &ids(&["c"])).await?;
    ensure_eq!(fx.seen(first).await?, ids(&["a", "b"]), "the first run");
    ensure_eq!(
        fx.seen(second).await?,
        ids(&["c"]),
        "the second run (same chunk name)"
    );
    ensure_eq!(
        fx.seen(RunId::new_v7()).await?,
        vec![],
        "a third run nothing was recorded for"
    );
    Ok(())
}

/// The same integration id and run id in another tenant is another log: neither sees the
/// other's ids, and clearing one leaves the other.
pub async fn seen_log_tenant_isolation(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let a = Fixture::new(store).await?;
    let b = a.other_tenant().await?;
    let run = RunId::new_v7();
    a.record_seen(run, "t1/p1", &ids(&["a-1", "a-2"])).await?;
    ensure_eq!(
        b.seen(run).await?,
        vec![],
        "tenant B reading tenant A's integration and run ids"
    );
    b.record_seen(run, "t1/p1", &ids(&["b-1"])).await?;
    ensure_eq!(
        a.seen(run).await?,
        ids(&["a-1", "a-2"]),
        "tenant A after tenant B recorded the same chunk"
    );
    ensure_eq!(b.clear_seen().await?, 1, "chunks tenant B's clear removes");
    ensure_eq!(
        a.seen(run).await?,
        ids(&["a-1", "a-2"]),
        "tenant A after tenant B cleared"
    );
    ensure_eq!(a.clear_seen().await?, 1, "chunks tenant A's clear removes");
    Ok(())
}

/// Another integration of the same tenant with the same run id is another log: neither sees
/// the other's ids, and clearing one leaves the other.
pub async fn seen_log_integration_isolation(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let a = Fixture::new(store).await?;
    let b = a.sibling(PROVIDER_A).await?;
    let run = RunId::new_v7();
    a.record_seen(run, "t1/p1", &ids(&["a-1", "a-2"])).await?;
    ensure_eq!(
        b.seen(run).await?,
        vec![],
        "integration B reading integration A's run id"
    );
    b.record_seen(run, "t1/p1", &ids(&["b-1"])).await?;
    b.record_seen(run, "t1/p2", &ids(&["b-2"])).await?;
    ensure_eq!(
        a.seen(run).await?,
        ids(&["a-1", "a-2"]),
        "integration A after integration B recorded the same chunk"
    );
    ensure_eq!(
        a.clear_seen().await?,
        1,
        "chunks integration A's clear removes"
    );
    ensure_eq!(
        b.seen(run).await?,
        ids(&["b-1", "b-2"]),
        "integration B after integration A cleared"
    );
    ensure_eq!(
        b.clear_seen().await?,
        2,
        "chunks integration B's clear removes"
    );
    Ok(())
}

/// `clear_seen` forgets every run of the integration and returns how many chunks it removed;
/// a second clear removes nothing, and the log takes new chunks afterwards.
pub async fn seen_log_clear_removes_every_run(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let (first, second) = (RunId::new_v7(), RunId::new_v7());
    ensure_eq!(fx.clear_seen().await?, 0, "clearing an empty log");
    fx.record_seen(first, "t1/p1", &ids(&["a", "b"])).await?;
    fx.record_seen(first, "t1/p2", &ids(&["c"])).await?;
    fx.record_seen(first, "t2/p1", &[]).await?;
    fx.record_seen(second, "t1/p1", &ids(&["a"])).await?;
    ensure_eq!(
        fx.clear_seen().await?,
        4,
        "chunks removed (three of one run, one of another)"
    );
    ensure_eq!(fx.seen(first).await?, vec![], "the first run after clear");
    ensure_eq!(fx.seen(second).await?, vec![], "the second run after clear");
    ensure_eq!(fx.clear_seen().await?, 0, "a second clear");
    fx.record_seen(second, "t1/p1", &ids(&["z"])).await?;
    ensure_eq!(
        fx.seen(second).await?,
        ids(&["z"]),
        "a chunk recorded after a clear"
    );
    ensure_eq!(fx.clear_seen().await?, 1, "the final clear");
    Ok(())
}

/// `seen_devices(.., Some(chunk))` returns the ids of the chunks whose names sort before
/// `chunk` in byte order — never that chunk's own ids, nor later ones: a retried page step reads
/// what the steps before it saw, not what its own first attempt recorded.
pub async fn seen_log_reads_chunks_before_one(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let run = RunId::new_v7();
    fx.record_seen(run, "00000000000000000000", &ids(&["a", "shared"]))
        .await?;
    fx.record_seen(run, "00000000000000000001", &ids(&["b"]))
        .await?;
    fx.record_seen(run, "00000000000000000002", &ids(&["c", "shared"]))
        .await?;
    fx.record_seen(run, "00000000000000000010", &ids(&["d"]))
        .await?;
    let fx_ref = &fx;
    let before = |chunk: &'static str| async move {
        fx_ref
            .store
            .seen_devices(fx_ref.tenant, fx_ref.integration, run, Some(chunk))
            .await
            .map(sorted)
            .or_fail("seen_devices with before_chunk")
    };
    ensure_eq!(
        before("00000000000000000000").await?,
        vec![],
        "before the first chunk"
    );
    ensure_eq!(
        before("00000000000000000002").await?,
        ids(&["a", "b", "shared"]),
        "before chunk 2 (chunks 0 and 1; chunk 2's own ids are not included)"
    );
    ensure_eq!(
        before("00000000000000000003").await?,
        ids(&["a", "b", "c", "shared"]),
        "before a chunk not recorded (0, 1, 2; 10 sorts after 3)"
    );
    // Byte order, not the database's linguistic collation: "Z" (0x5A) < "a" (0x61).
    let other = RunId::new_v7();
    fx.record_seen(other, "Z", &ids(&["upper"])).await?;
    fx.record_seen(other, "a", &ids(&["lower"])).await?;
    ensure_eq!(
        fx.store
            .seen_devices(fx.tenant, fx.integration, other, Some("a"))
            .await
            .map(sorted)
            .or_fail("seen_devices before \"a\"")?,
        ids(&["upper"]),
        "chunk names compare as bytes"
    );
    Ok(())
}
