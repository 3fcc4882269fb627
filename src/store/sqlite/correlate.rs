//! `correlate`: everything the store knows about one batch, read in one transaction (one
//! consistent WAL snapshot) with one statement per kind of row. Each statement takes its ids as
//! a single JSON-array parameter (`json_each`) and returns all its rows as one JSON array.

use std::collections::{BTreeSet, HashMap};

use sqlx::SqlitePool;

use super::codec::{id, json_array, parse_id};
use super::errors::SqlResultExt;
use super::rows::{
    AssetJson, MAPPING_JSON, MappingJson, SCOPE_JSON, ScopeJson, decode_array, parse_rows,
    select_asset_array,
};
use super::write::asset_id_array;
use crate::error::Result;
use crate::model::{AssetId, ExternalDeviceId, TenantId};
use crate::store::{Correlation, CorrelationQuery, MappingRecord, ScopeRecord};

const OP: &str = "correlate";

const MAPPINGS_FROM: &str = "FROM tenant_external_entity_mappings \
     WHERE tenant = ?1 AND integration_id = ?2 AND alga_entity_type = 'asset' \
       AND external_entity_id IN (SELECT value FROM json_each(?3))";

/// Adoption candidates (same provider, same device id) and identity matches.
const SELECT_CANDIDATES: &str = "SELECT json_group_array(asset_id) FROM ( \
     SELECT asset_id FROM assets \
     WHERE tenant = ?1 AND rmm_provider = ?2 \
       AND rmm_device_id IN (SELECT value FROM json_each(?3)) \
     UNION SELECT asset_id FROM rmm_sync_asset_identifiers \
     WHERE tenant = ?1 AND kind = 's' AND value IN (SELECT value FROM json_each(?4)) \
     UNION SELECT asset_id FROM rmm_sync_asset_identifiers \
     WHERE tenant = ?1 AND kind = 'm' AND value IN (SELECT value FROM json_each(?5)) \
     UNION SELECT asset_id FROM rmm_sync_asset_identifiers \
     WHERE tenant = ?1 AND kind = 'u' AND value IN (SELECT value FROM json_each(?6)))";

/// Mappings of the provider (any integration) on candidate assets, minus the rows the first
/// statement already returned.
const CANDIDATE_MAPPINGS_FROM: &str = "FROM tenant_external_entity_mappings \
     WHERE tenant = ?1 AND alga_entity_type = 'asset' AND integration_type = ?2 \
       AND alga_entity_id IN (SELECT value FROM json_each(?3)) \
       AND id NOT IN (SELECT value FROM json_each(?4))";

const SCOPES_FROM: &str = "FROM rmm_organization_mappings \
     WHERE tenant = ?1 AND integration_id = ?2 \
       AND external_organization_id IN (SELECT value FROM json_each(?3))";

const SELECT_SUPPRESSED: &str = "SELECT json_group_array(external_entity_id) \
     FROM rmm_sync_suppressed_devices \
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

    if q.identity.is_some() {
        // Cross-provider matching is on for this run: the lookups below need the tenant's
        // identifier rows, which writes maintain only once they have been built.
        super::identifiers::ensure_built(pool, &tenant).await?;
    }
    let mut tx = pool.begin().await.during(OP)?;
    let mut c = Correlation::default();

    let json: String = sqlx::query_scalar(&format!(
        "SELECT json_group_array({MAPPING_JSON}) {MAPPINGS_FROM}"
    ))
    .bind(&tenant)
    .bind(&integration)
    .bind(&devices)
    .fetch_one(&mut *tx)
    .await
    .during(OP)?;
    c.mappings = decode_array(&json, "mappings", MappingJson::into_record)?;

    let json: String = sqlx::query_scalar(SELECT_CANDIDATES)
        .bind(&tenant)
        .bind(q.provider.as_str())
        .bind(&devices)
        .bind(list(&identity.serial_numbers)?)
        .bind(list(&identity.mac_addresses)?)
        .bind(list(&identity.system_uuids)?)
        .fetch_one(&mut *tx)
        .await
        .during(OP)?;
    let candidates: BTreeSet<AssetId> = parse_rows::<Vec<String>>("candidate assets", &json)?
        .iter()
        .map(|s| parse_id("asset_id", s).map(AssetId::from_uuid))
        .collect::<Result<_>>()?;

    let wanted: BTreeSet<AssetId> = c
        .mappings
        .iter()
        .map(|m| m.asset_id)
        .chain(candidates.iter().copied())
        .collect();
    if !wanted.is_empty() {
        let json: String = sqlx::query_scalar(&format!(
            "{} WHERE a.tenant = ?1 AND a.asset_id IN (SELECT value FROM json_each(?2))",
            select_asset_array()
        ))
        .bind(&tenant)
        .bind(asset_id_array(&wanted)?)
        .fetch_one(&mut *tx)
        .await
        .during(OP)?;
        c.assets = decode_array(&json, "assets", AssetJson::into_record)?;
        c.assets.sort_by_key(|a| a.asset_id);
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
        let json: String = sqlx::query_scalar(&format!(
            "SELECT json_group_array({MAPPING_JSON}) {CANDIDATE_MAPPINGS_FROM}"
        ))
        .bind(&tenant)
        .bind(q.provider.as_str())
        .bind(asset_id_array(&candidates)?)
        .bind(json_array(known_ids.iter().map(String::as_str))?)
        .fetch_one(&mut *tx)
        .await
        .during(OP)?;
        let mut cm: Vec<MappingRecord> = known.into_iter().cloned().collect();
        cm.extend(decode_array(
            &json,
            "candidate mappings",
            MappingJson::into_record,
        )?);
        cm.sort_by_key(|m| (m.asset_id, m.id));
        c.candidate_mappings = cm;
    }

    c.scopes = read_scopes(&mut tx, &tenant, &integration, q).await?;
    c.suppressed = read_suppressed(&mut tx, &tenant, &integration, &devices).await?;
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

/// The scope rows of the query's scopes, in query order.
pub(super) async fn read_scopes(
    tx: &mut sqlx::SqliteConnection,
    tenant: &str,
    integration: &str,
    q: &CorrelationQuery,
) -> Result<Vec<ScopeRecord>> {
    if q.scope_ids.is_empty() {
        return Ok(Vec::new());
    }
    let json: String = sqlx::query_scalar(&format!(
        "SELECT json_group_array({SCOPE_JSON}) {SCOPES_FROM}"
    ))
    .bind(tenant)
    .bind(integration)
    .bind(json_array(q.scope_ids.iter().map(|s| s.as_str()))?)
    .fetch_one(&mut *tx)
    .await
    .during(OP)?;
    let mut scopes = decode_array(&json, "scopes", ScopeJson::into_record)?;
    let order: HashMap<&str, usize> = q
        .scope_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    scopes.sort_by_key(|s| order.get(s.external_id.as_str()).copied());
    Ok(scopes)
}

/// The suppressed devices among `devices` (a JSON array of external ids).
pub(super) async fn read_suppressed(
    tx: &mut sqlx::SqliteConnection,
    tenant: &str,
    integration: &str,
    devices: &str,
) -> Result<Vec<ExternalDeviceId>> {
    let json: String = sqlx::query_scalar(SELECT_SUPPRESSED)
        .bind(tenant)
        .bind(integration)
        .bind(devices)
        .fetch_one(&mut *tx)
        .await
        .during(OP)?;
    Ok(parse_rows::<Vec<String>>("suppressed devices", &json)?
        .into_iter()
        .map(ExternalDeviceId::new)
        .collect())
}
