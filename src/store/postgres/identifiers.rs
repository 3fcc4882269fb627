//! `rmm_sync_asset_identifiers`: the normalized hardware identifiers of every asset, kept in
//! step with asset writes so cross-provider matching is an index lookup.

use sqlx::{Postgres, Transaction};
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
