//! `correlate`: everything the store knows about one batch, read in one transaction (one
//! consistent WAL snapshot) with one statement per kind of row, each expanding its id list
//! from a single JSON-array parameter with `json_each`.

use std::collections::{BTreeSet, HashMap};

use sqlx::SqlitePool;

use super::codec::{id, json_array};
use super::errors::SqlResultExt;
use super::rows::{
    MAPPING_COLUMNS, SCOPE_COLUMNS, SELECT_ASSET_WITH_EXTENSION, asset_with_extension, get,
    mapping, scope,
};
use super::write::asset_id_array;
use crate::error::Result;
use crate::model::{AssetId, ExternalDeviceId, TenantId};
use crate::store::{Correlation, CorrelationQuery, MappingRecord};

const OP: &str = "correlate";

const SELECT_MAPPINGS: &str = "FROM tenant_external_entity_mappings \
     WHERE tenant = ?1 AND integration_id = ?2 AND alga_entity_type = 'asset' \
       AND external_entity_id IN (SELECT value FROM json_each(?3))";

/// Adoption candidates (same provider, same device id) and identity matches.
const SELECT_CANDIDATES: &str = "SELECT asset_id FROM assets \
     WHERE tenant = ?1 AND rmm_provider = ?2 \
       AND rmm_device_id IN (SELECT value FROM json_each(?3)) \
     UNION SELECT asset_id FROM rmm_sync_asset_identifiers \
     WHERE tenant = ?1 AND kind = 's' AND value IN (SELECT value FROM json_each(?4)) \
     UNION SELECT asset_id FROM rmm_sync_asset_identifiers \
     WHERE tenant = ?1 AND kind = 'm' AND value IN (SELECT value FROM json_each(?5)) \
     UNION SELECT asset_id FROM rmm_sync_asset_identifiers \
     WHERE tenant = ?1 AND kind = 'u' AND value IN (SELECT value FROM json_each(?6))";

/// Mappings of the provider (any integration) on candidate assets, minus the rows the first
/// statement already returned.
const SELECT_CANDIDATE_MAPPINGS: &str = "FROM tenant_external_entity_mappings \
     WHERE tenant = ?1 AND alga_entity_type = 'asset' AND integration_type = ?2 \
       AND alga_entity_id IN (SELECT value FROM json_each(?3)) \
       AND id NOT IN (SELECT value FROM json_each(?4))";

const SELECT_SCOPES: &str = "FROM rmm_organization_mappings \
     WHERE tenant = ?1 AND integration_id = ?2 \
       AND external_organization_id IN (SELECT value FROM json_each(?3))";

const SELECT_SUPPRESSED: &str = "SELECT external_entity_id FROM rmm_sync_suppressed_devices \
     WHERE tenant = ?1 AND integration_id = ?2 \
       AND external_entity_id IN (SELECT value FROM json_each(?3))";

pub(super) async fn correlate(
    pool: &SqlitePool,
    tenant: TenantId,
    q: &CorrelationQuery,
) -> Result<Correlation> {
    let tenant = id(tenant.as_uuid());
    let integration = id(q.integration_id.as_uuid());
    let devices = json_array(q.external_ids.iter().map(ExternalDeviceId::as_str))?;
    let identity = q.identity.clone().unwrap_or_default();
    let list = |v: &[String]| json_array(v.iter().map(String::as_str));

    let mut tx = pool.begin().await.during(OP)?;
    let mut c = Correlation::default();

    let rows = sqlx::query(&format!("SELECT {MAPPING_COLUMNS} {SELECT_MAPPINGS}"))
        .bind(&tenant)
        .bind(&integration)
        .bind(&devices)
        .fetch_all(&mut *tx)
        .await
        .during(OP)?;
    c.mappings = rows.iter().map(mapping).collect::<Result<_>>()?;

    let rows = sqlx::query(SELECT_CANDIDATES)
        .bind(&tenant)
        .bind(q.provider.as_str())
        .bind(&devices)
        .bind(list(&identity.serial_numbers)?)
        .bind(list(&identity.mac_addresses)?)
        .bind(list(&identity.system_uuids)?)
        .fetch_all(&mut *tx)
        .await
        .during(OP)?;
    let candidates: BTreeSet<AssetId> = rows
        .iter()
        .map(|r| {
            let s: String = get(r, "asset_id")?;
            super::codec::parse_id("asset_id", &s).map(AssetId::from_uuid)
        })
        .collect::<Result<_>>()?;

    let wanted: BTreeSet<AssetId> = c
        .mappings
        .iter()
        .map(|m| m.asset_id)
        .chain(candidates.iter().copied())
        .collect();
    if !wanted.is_empty() {
        let sql = format!(
            "{} WHERE a.tenant = ?1 AND a.asset_id IN (SELECT value FROM json_each(?2)) \
             ORDER BY a.asset_id",
            *SELECT_ASSET_WITH_EXTENSION
        );
        let rows = sqlx::query(&sql)
            .bind(&tenant)
            .bind(asset_id_array(&wanted)?)
            .fetch_all(&mut *tx)
            .await
            .during(OP)?;
        c.assets = rows
            .iter()
            .map(asset_with_extension)
            .collect::<Result<_>>()?;
    }

    if !candidates.is_empty() {
        // Rows already read are reused instead of read twice (on a re-sync every asset of the
        // batch is its own adoption candidate).
        let known: Vec<&MappingRecord> = c
            .mappings
            .iter()
            .filter(|m| m.provider == q.provider && candidates.contains(&m.asset_id))
            .collect();
        let known_ids: Vec<String> = known.iter().map(|m| id(m.id.as_uuid())).collect();
        let rows = sqlx::query(&format!(
            "SELECT {MAPPING_COLUMNS} {SELECT_CANDIDATE_MAPPINGS}"
        ))
        .bind(&tenant)
        .bind(q.provider.as_str())
        .bind(asset_id_array(&candidates)?)
        .bind(json_array(known_ids.iter().map(String::as_str))?)
        .fetch_all(&mut *tx)
        .await
        .during(OP)?;
        let mut cm: Vec<MappingRecord> = known.into_iter().cloned().collect();
        for r in &rows {
            cm.push(mapping(r)?);
        }
        cm.sort_by_key(|m| (m.asset_id, m.id));
        c.candidate_mappings = cm;
    }

    if !q.scope_ids.is_empty() {
        let rows = sqlx::query(&format!("SELECT {SCOPE_COLUMNS} {SELECT_SCOPES}"))
            .bind(&tenant)
            .bind(&integration)
            .bind(json_array(q.scope_ids.iter().map(|s| s.as_str()))?)
            .fetch_all(&mut *tx)
            .await
            .during(OP)?;
        c.scopes = rows.iter().map(scope).collect::<Result<_>>()?;
        let order: HashMap<&str, usize> = q
            .scope_ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        c.scopes
            .sort_by_key(|s| order.get(s.external_id.as_str()).copied());
    }

    let rows = sqlx::query(SELECT_SUPPRESSED)
        .bind(&tenant)
        .bind(&integration)
        .bind(&devices)
        .fetch_all(&mut *tx)
        .await
        .during(OP)?;
    c.suppressed = rows
        .iter()
        .map(|r| get::<String>(r, "external_entity_id").map(ExternalDeviceId::new))
        .collect::<Result<_>>()?;
    tx.commit().await.during(OP)?;

    // Input order, as the engine reports devices in input order anyway.
    let order: HashMap<&str, usize> = q
        .external_ids
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    c.mappings
        .sort_by_key(|m| order.get(m.external_id.as_str()).copied());
    c.suppressed.sort_by_key(|d| order.get(d.as_str()).copied());
    Ok(c)
}
