//! `rmm_sync_asset_identifiers`: the normalized hardware identifiers of every asset of a
//! tenant whose identifiers are maintained, kept in step with asset writes so cross-provider
//! matching is an index lookup.
//!
//! The rows exist only for cross-provider matching (off by default) and are the most expensive
//! writes of a first load (random keys into the `(tenant, kind, value)` index), so:
//!
//! - **A tenant's rows are built the first time a run with cross-provider matching on
//!   correlates a batch** ([`ensure_built`], called by `correlate` when the query carries
//!   identity facts): the tenant's rows are deleted and rebuilt from its asset rows
//!   (`serial_number` and `rmm_identity`, normalized exactly as an asset write normalizes
//!   them), and the tenant is recorded in `rmm_sync_identifier_tenants`, in one transaction.
//! - **From then on every asset write of that tenant maintains them** (`apply`, and the host's
//!   serial edits in `update_asset`), whichever integration writes and whatever its own
//!   matching setting, so a matching run always finds the assets other integrations wrote.
//! - **A tenant that is not recorded has no rows worth reading**, and its writes skip them.
//!
//! Concurrency: every asset write takes the tenant's identifier advisory lock *shared* for its
//! transaction before it reads the marker ([`maintained`]); the build takes it *exclusively*
//! before it reads the marker and the asset rows. So a write either commits before the build
//! reads (and the build sees its rows) or reads the marker after the build committed. The
//! marker is never removed by the store; an operator who turns matching off for good may
//! delete the tenant's marker row and identifier rows together to stop paying for them.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::errors::ctx;
use crate::error::Result;
use crate::ingest::identity::identity_keys;
use crate::model::IdentityHints;
use crate::store::AssetRecord;

/// (asset, kind, value) rows; kinds: `s` serial, `m` MAC, `u` system UUID.
#[derive(Default)]
pub(super) struct IdentifierColumns {
    asset_id: Vec<Uuid>,
    kind: Vec<&'static str>,
    value: Vec<String>,
}

impl IdentifierColumns {
    pub(super) fn push_asset(&mut self, a: &AssetRecord) {
        self.push_keys(
            *a.asset_id.as_uuid(),
            &a.identity,
            a.serial_number.as_deref(),
        );
    }

    pub(super) fn push_keys(
        &mut self,
        asset: Uuid,
        identity: &IdentityHints,
        serial: Option<&str>,
    ) {
        let keys = identity_keys(identity, serial);
        for (kind, list) in [
            ("s", keys.serial_numbers),
            ("m", keys.mac_addresses),
            ("u", keys.system_uuids),
        ] {
            for v in list {
                self.asset_id.push(asset);
                self.kind.push(kind);
                self.value.push(v);
            }
        }
    }
}

/// The tenant's identifier advisory lock key.
const LOCK_KEY: &str = "hashtextextended('rmm_sync_asset_identifiers:' || $1::text, 0)";

/// Assets read per statement while building.
const BUILD_PAGE: i64 = 10_000;

/// Takes the tenant's identifier lock shared (until the transaction ends) and says whether the
/// tenant's identifiers are maintained. Call it in every transaction that writes assets,
/// before writing them.
pub(super) async fn maintained(tx: &mut Transaction<'_, Postgres>, tenant: Uuid) -> Result<bool> {
    sqlx::query(&format!("SELECT pg_advisory_xact_lock_shared({LOCK_KEY})"))
        .bind(tenant)
        .execute(&mut **tx)
        .await
        .map_err(ctx("identifier lock"))?;
    // A statement of its own: its snapshot is taken after the lock was granted.
    marker(&mut **tx, tenant).await
}

async fn marker<'e, E: sqlx::PgExecutor<'e>>(e: E, tenant: Uuid) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rmm_sync_identifier_tenants WHERE tenant = $1)",
    )
    .bind(tenant)
    .fetch_one(e)
    .await
    .map_err(ctx("identifier marker"))
}

/// Builds the tenant's identifier rows unless they are maintained already. Returns whether it
/// built them.
pub(super) async fn ensure_built(pool: &PgPool, tenant: Uuid) -> Result<bool> {
    const OP: &str = "build identifiers";
    if marker(pool, tenant).await? {
        return Ok(false);
    }
    let mut tx = pool.begin().await.map_err(ctx(OP))?;
    sqlx::query(&format!("SELECT pg_advisory_xact_lock({LOCK_KEY})"))
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .map_err(ctx(OP))?;
    if marker(&mut *tx, tenant).await? {
        return Ok(false); // another session built them meanwhile
    }
    sqlx::query("DELETE FROM rmm_sync_asset_identifiers WHERE tenant = $1")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .map_err(ctx(OP))?;
    let mut after = Uuid::nil();
    loop {
        let page: Vec<(Uuid, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT asset_id, serial_number, rmm_identity::text FROM assets
             WHERE tenant = $1 AND asset_id > $2 ORDER BY asset_id LIMIT $3",
        )
        .bind(tenant)
        .bind(after)
        .bind(BUILD_PAGE)
        .fetch_all(&mut *tx)
        .await
        .map_err(ctx(OP))?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = *last;
        let mut rows = IdentifierColumns::default();
        for (asset, serial, identity) in &page {
            // A host-written rmm_identity that does not decode counts as no hints (the serial
            // column still counts): one bad row must not stop matching for the whole tenant.
            let hints: IdentityHints = identity
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            rows.push_keys(*asset, &hints, serial.as_deref());
        }
        insert(&mut tx, tenant, &rows.sorted()).await?;
        if (page.len() as i64) < BUILD_PAGE {
            break;
        }
    }
    sqlx::query("INSERT INTO rmm_sync_identifier_tenants (tenant) VALUES ($1)")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .map_err(ctx(OP))?;
    tx.commit().await.map_err(ctx(OP))?;
    Ok(true)
}

impl IdentifierColumns {
    /// The rows in lookup-index order, so a bulk insert walks the index instead of hopping.
    fn sorted(self) -> Self {
        let mut rows: Vec<(&'static str, String, Uuid)> = self
            .kind
            .into_iter()
            .zip(self.value)
            .zip(self.asset_id)
            .map(|((k, v), a)| (k, v, a))
            .collect();
        rows.sort_unstable();
        let mut out = IdentifierColumns::default();
        for (k, v, a) in rows {
            out.kind.push(k);
            out.value.push(v);
            out.asset_id.push(a);
        }
        out
    }
}

/// Replaces the identifiers of `replaced` assets (and adds those of new ones) with `rows`.
pub(super) async fn replace(
    tx: &mut Transaction<'_, Postgres>,
    tenant: Uuid,
    replaced: &[Uuid],
    rows: &IdentifierColumns,
) -> Result<()> {
    if !replaced.is_empty() {
        sqlx::query(
            "DELETE FROM rmm_sync_asset_identifiers WHERE tenant = $1 AND asset_id = ANY($2)",
        )
        .bind(tenant)
        .bind(replaced)
        .execute(&mut **tx)
        .await
        .map_err(ctx("apply (clear identifiers)"))?;
    }
    insert(tx, tenant, rows).await
}

/// Inserts identifier rows (existing ones are kept).
async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    tenant: Uuid,
    rows: &IdentifierColumns,
) -> Result<()> {
    if !rows.asset_id.is_empty() {
        sqlx::query(
            "INSERT INTO rmm_sync_asset_identifiers (tenant, asset_id, kind, value)
             SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[])
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(&rows.asset_id)
        .bind(&rows.kind)
        .bind(&rows.value)
        .execute(&mut **tx)
        .await
        .map_err(ctx("apply (insert identifiers)"))?;
    }
    Ok(())
}
