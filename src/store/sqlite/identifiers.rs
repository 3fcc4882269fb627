//! `rmm_sync_asset_identifiers`, built per tenant on demand.
//!
//! The identifier rows (normalized serials, MACs, system UUIDs) exist only for cross-provider
//! matching, which is off by default, and on a first load they are the most expensive writes
//! of all (random keys into the `(tenant, kind, value)` index). So:
//!
//! - **A tenant's rows are built the first time a run with cross-provider matching on
//!   correlates a batch** ([`ensure_built`], called by `correlate` when the query carries
//!   identity facts): in one `BEGIN IMMEDIATE` transaction, the tenant's rows are deleted and
//!   rebuilt from its asset rows (`serial_number` and `rmm_identity`, normalized exactly as an
//!   asset write normalizes them), and the tenant is recorded in `rmm_sync_identifier_tenants`.
//! - **From then on every asset write of that tenant maintains them** (`apply`, and the host's
//!   serial edits in `update_asset`), whichever integration writes and whatever its own
//!   matching setting, so a matching run always finds the assets other integrations wrote.
//! - **A tenant that is not recorded has no rows worth reading**, and its writes skip them.
//!   Nothing reads them there: lookups happen only after [`ensure_built`].
//!
//! SQLite serializes writers, and both the build and every asset write check the marker inside
//! their write transaction, so a write either commits before the build (and the build reads its
//! asset row) or after it (and sees the marker). The marker is never removed by the store; an
//! operator who turns matching off for good may delete the tenant's marker row and identifier
//! rows together to stop paying for them.

use sqlx::{SqliteConnection, SqlitePool};

use super::bulk::execute_rows;
use super::codec::ts;
use super::errors::SqlResultExt;
use crate::error::Result;
use crate::ingest::identity::identity_keys;
use crate::model::IdentityHints;

/// Assets read per statement while building.
const BUILD_PAGE: i64 = 10_000;

const OP: &str = "build identifiers";

/// Whether the tenant's identifier rows are maintained (`tenant` in its stored form).
pub(super) async fn maintained(conn: &mut SqliteConnection, tenant: &str) -> Result<bool> {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM rmm_sync_identifier_tenants WHERE tenant = ?1",
    )
    .bind(tenant)
    .fetch_one(&mut *conn)
    .await
    .during("identifier marker")
    .map(|n| n > 0)
}

/// Builds the tenant's identifier rows unless they are maintained already. Returns whether it
/// built them.
pub(super) async fn ensure_built(pool: &SqlitePool, tenant: &str) -> Result<bool> {
    {
        let mut conn = pool.acquire().await.during(OP)?;
        if maintained(&mut conn, tenant).await? {
            return Ok(false);
        }
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    if maintained(&mut tx, tenant).await? {
        return Ok(false); // another connection built them meanwhile
    }
    sqlx::query("DELETE FROM rmm_sync_asset_identifiers WHERE tenant = ?1")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .during(OP)?;
    let mut after = String::new();
    loop {
        let page: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT asset_id, serial_number, rmm_identity FROM assets \
             WHERE tenant = ?1 AND asset_id > ?2 ORDER BY asset_id LIMIT ?3",
        )
        .bind(tenant)
        .bind(&after)
        .bind(BUILD_PAGE)
        .fetch_all(&mut *tx)
        .await
        .during(OP)?;
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = last.clone();
        let mut rows: Vec<(&'static str, String, &str)> = Vec::new();
        for (asset, serial, identity) in &page {
            // A host-written rmm_identity that is not valid JSON counts as no hints (the serial
            // column still counts): one bad row must not stop matching for the whole tenant.
            let hints: IdentityHints = identity
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            for (kind, value) in key_rows(&hints, serial.as_deref()) {
                rows.push((kind, value, asset));
            }
        }
        // In index order: the inserts then walk the lookup index instead of hopping about it.
        rows.sort_unstable();
        let rows = rows
            .into_iter()
            .map(|(kind, value, asset)| {
                vec![tenant.into(), asset.into(), kind.into(), value.into()]
            })
            .collect();
        execute_rows(&mut tx, OP, INSERT_IDENTIFIERS, rows, "").await?;
        if (page.len() as i64) < BUILD_PAGE {
            break;
        }
    }
    sqlx::query("INSERT INTO rmm_sync_identifier_tenants (tenant, built_at) VALUES (?1, ?2)")
        .bind(tenant)
        .bind(ts(chrono::Utc::now()))
        .execute(&mut *tx)
        .await
        .during(OP)?;
    tx.commit().await.during(OP)?;
    Ok(true)
}

/// The multi-row insert head for identifier rows.
pub(super) const INSERT_IDENTIFIERS: &str =
    "INSERT OR IGNORE INTO rmm_sync_asset_identifiers (tenant, asset_id, kind, value) ";

/// The identifier rows of one asset's facts: kind `s` (serial), `m` (MAC), `u` (system UUID).
pub(super) fn key_rows(hints: &IdentityHints, serial: Option<&str>) -> Vec<(&'static str, String)> {
    let keys = identity_keys(hints, serial);
    let mut out = Vec::new();
    out.extend(keys.serial_numbers.into_iter().map(|v| ("s", v)));
    out.extend(keys.mac_addresses.into_iter().map(|v| ("m", v)));
    out.extend(keys.system_uuids.into_iter().map(|v| ("u", v)));
    out
}
