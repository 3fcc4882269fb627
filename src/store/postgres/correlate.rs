//! `correlate`: everything the engine needs about one batch in ONE statement and one round
//! trip. Each record kind comes back as rows of one wide `UNION ALL`: a tag column, then a
//! mapping block, an asset block, an extension block and a scope block, of which each row fills
//! the blocks of its kind (the others are NULL, which costs a few bytes per row).
//!
//! Key sets are compared with `= ANY(ARRAY(subquery))` rather than `IN (subquery)`: the
//! planner then probes the primary-key and lookup indexes instead of hashing a sequential scan
//! of the whole table, which it otherwise picks when a batch is a sizeable share of the table.

use std::sync::LazyLock;

use sqlx::PgPool;
use sqlx::postgres::PgRow;

use super::errors::ctx;
use super::rows::{
    self, ASSET_COLUMNS, ASSET_FROM, ASSET_WIDTH, Cols, EXTENSION_SELECT, EXTENSION_WIDTH,
    MAPPING_COLUMNS, MAPPING_WIDTH, SCOPE_COLUMNS, SCOPE_TYPES, typed_nulls,
};
use crate::error::Result;
use crate::model::{ExternalDeviceId, TenantId};
use crate::store::{Correlation, CorrelationQuery, MappingRecord};

const MAPPING_NULLS: [&str; MAPPING_WIDTH] = [
    "uuid",
    "text",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "jsonb",
    "text",
    "jsonb",
    "timestamptz",
];
const ASSET_NULLS: [&str; ASSET_WIDTH] = [
    "uuid",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
    "jsonb",
    "timestamptz",
    "timestamptz",
];
const EXTENSION_NULLS: [&str; EXTENSION_WIDTH] = [
    "boolean",
    "text",
    "text",
    "text",
    "text",
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "integer",
    "integer",
    "integer",
    "integer",
    "timestamptz",
    "text",
    "integer",
    "double precision",
    "jsonb",
    "jsonb",
    "jsonb",
];

/// Offsets of the blocks in a correlation row (column 0 is the tag).
const MAPPING_AT: usize = 1;
const ASSET_AT: usize = MAPPING_AT + MAPPING_WIDTH;
const SCOPE_AT: usize = ASSET_AT + ASSET_WIDTH + EXTENSION_WIDTH;
/// Suppressed device ids travel in the mapping block's `external_entity_id` slot.
const SUPPRESSED_AT: usize = MAPPING_AT + 4;

fn nulls(types: &[&str]) -> String {
    typed_nulls(types).join(", ")
}

/// $1 tenant, $2 integration, $3 provider, $4 device ids, $5 scope ids, $6/$7 identity key
/// kinds and values.
static CORRELATE_SQL: LazyLock<String> = LazyLock::new(|| {
    let (m0, a0, e0, s0) = (
        nulls(&MAPPING_NULLS),
        nulls(&ASSET_NULLS),
        nulls(&EXTENSION_NULLS),
        nulls(&SCOPE_TYPES),
    );
    let mut suppressed_m = typed_nulls(&MAPPING_NULLS);
    suppressed_m[SUPPRESSED_AT - MAPPING_AT] = "d.external_entity_id::text".into();
    let suppressed_m = suppressed_m.join(", ");
    let ext = EXTENSION_SELECT.as_str();
    let asset_from = ASSET_FROM.replacen("assets a", "wanted a", 1);
    // A candidate mapping that is also one of the batch's own mappings (the common case: a
    // device's own asset is its adoption candidate too) comes back as its id only ('C').
    let candidate_m = MAPPING_COLUMNS
        .split(", ")
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                c.to_owned()
            } else {
                format!("CASE WHEN m.dup THEN NULL ELSE {c} END")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH own AS MATERIALIZED (
            SELECT * FROM tenant_external_entity_mappings
            WHERE tenant = $1 AND integration_id = $2 AND alga_entity_type = 'asset'
              AND external_entity_id = ANY($4)
        ),
        -- Adoption candidates, fetched whole: in a re-sync they are the batch's own assets,
        -- which then need no second lookup below.
        by_rmm_id AS MATERIALIZED (
            SELECT * FROM assets
            WHERE tenant = $1 AND rmm_provider = $3 AND rmm_device_id = ANY($4)
        ),
        by_identity AS MATERIALIZED (
            SELECT DISTINCT i.asset_id FROM rmm_sync_asset_identifiers i
            JOIN unnest($6::text[], $7::text[]) AS k(kind, value)
              ON i.kind = k.kind AND i.value = k.value
            WHERE i.tenant = $1
        ),
        candidates AS (
            SELECT asset_id FROM by_rmm_id UNION SELECT asset_id FROM by_identity
        ),
        other_assets AS (
            SELECT alga_entity_id::uuid AS asset_id FROM own
            UNION
            SELECT asset_id FROM by_identity
            EXCEPT
            SELECT asset_id FROM by_rmm_id
        ),
        wanted AS (
            SELECT * FROM by_rmm_id
            UNION ALL
            SELECT * FROM assets
            WHERE tenant = $1 AND asset_id = ANY(ARRAY(SELECT asset_id FROM other_assets))
        )
        SELECT 'm', {MAPPING_COLUMNS}, {a0}, {e0}, {s0} FROM own m
        UNION ALL
        SELECT CASE WHEN m.dup THEN 'C' ELSE 'c' END, {candidate_m}, {a0}, {e0}, {s0}
        FROM (
            SELECT c.*, c.id IN (SELECT id FROM own) AS dup
            FROM tenant_external_entity_mappings c
            WHERE c.tenant = $1 AND c.alga_entity_type = 'asset' AND c.integration_type = $3
              AND c.integration_id IS NOT NULL
              AND c.alga_entity_id = ANY(ARRAY(SELECT asset_id::text FROM candidates))
            OFFSET 0 -- a fence: `dup` is computed once per row, not once per column
        ) m
        UNION ALL
        SELECT 'a', {m0}, {ASSET_COLUMNS}, {ext}, {s0}
        FROM {asset_from}
        UNION ALL
        SELECT 's', {m0}, {a0}, {e0}, {SCOPE_COLUMNS}
        FROM rmm_organization_mappings o
        WHERE o.tenant = $1 AND o.integration_id = $2 AND o.external_organization_id = ANY($5)
        UNION ALL
        SELECT 'x', {suppressed_m}, {a0}, {e0}, {s0}
        FROM rmm_sync_suppressed_devices d
        WHERE d.tenant = $1 AND d.integration_id = $2 AND d.external_entity_id = ANY($4)"
    )
});

pub(super) async fn correlate(
    pool: &PgPool,
    tenant: TenantId,
    q: &CorrelationQuery,
) -> Result<Correlation> {
    if q.identity.is_some() {
        // Cross-provider matching is on for this run: the lookup below needs the tenant's
        // identifier rows, which writes maintain only once they have been built.
        super::identifiers::ensure_built(pool, *tenant.as_uuid()).await?;
    }
    let ids: Vec<&str> = q.external_ids.iter().map(|d| d.as_str()).collect();
    let scopes: Vec<&str> = q.scope_ids.iter().map(|s| s.as_str()).collect();
    let (kinds, values) = identity_keys(q);
    let rows: Vec<PgRow> = sqlx::query(CORRELATE_SQL.as_str())
        .bind(tenant.as_uuid())
        .bind(q.integration_id.as_uuid())
        .bind(q.provider.as_str())
        .bind(&ids)
        .bind(&scopes)
        .bind(&kinds)
        .bind(&values)
        .fetch_all(pool)
        .await
        .map_err(ctx("correlate"))?;
    let mut c = Correlation::default();
    let mut own_candidates = Vec::new();
    for row in &rows {
        let tag: &str = Cols::new(row, 0).next()?;
        match tag {
            "m" => c
                .mappings
                .push(rows::mapping(&mut Cols::new(row, MAPPING_AT))?),
            "c" => c
                .candidate_mappings
                .push(rows::mapping(&mut Cols::new(row, MAPPING_AT))?),
            "C" => own_candidates.push(Cols::new(row, MAPPING_AT).next::<uuid::Uuid>()?),
            "a" => c.assets.push(rows::asset(&mut Cols::new(row, ASSET_AT))?),
            "s" => c.scopes.push(rows::scope(&mut Cols::new(row, SCOPE_AT))?),
            _ => c.suppressed.push(ExternalDeviceId::new(
                Cols::new(row, SUPPRESSED_AT).next::<String>()?,
            )),
        }
    }
    if !own_candidates.is_empty() {
        let by_id: std::collections::HashMap<uuid::Uuid, &MappingRecord> =
            c.mappings.iter().map(|m| (*m.id.as_uuid(), m)).collect();
        let own: Vec<MappingRecord> = own_candidates
            .iter()
            .filter_map(|id| by_id.get(id).map(|m| (*m).clone()))
            .collect();
        c.candidate_mappings.extend(own);
    }
    // Deterministic order, like the in-memory store.
    c.assets.sort_by_key(|a| a.asset_id);
    Ok(c)
}

/// The identity lookups as (kind, value) columns: `s` serial, `m` MAC, `u` system UUID.
fn identity_keys(q: &CorrelationQuery) -> (Vec<&'static str>, Vec<&str>) {
    let mut kinds = Vec::new();
    let mut values = Vec::new();
    if let Some(iq) = &q.identity {
        for (kind, list) in [
            ("s", &iq.serial_numbers),
            ("m", &iq.mac_addresses),
            ("u", &iq.system_uuids),
        ] {
            for v in list {
                kinds.push(kind);
                values.push(v.as_str());
            }
        }
    }
    (kinds, values)
}
