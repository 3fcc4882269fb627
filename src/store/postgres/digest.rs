//! `correlate_digest`: the narrow first phase of a correlation, in one statement. Per device a
//! handful of mapping columns and the asset's type (a scalar subquery, so each asset is one
//! primary-key probe whatever share of the table the batch is); then the batch's scopes and
//! suppressed devices. A re-sync of unchanged devices reads nothing else.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::errors::ctx;
use super::rows::{self, Cols, SCOPE_COLUMNS, SCOPE_TYPES, typed_nulls};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{DeviceKind, ExternalDeviceId, ExternalScopeId, MappingId, TenantId};
use crate::store::{CorrelationDigest, CorrelationQuery, MappingDigest, MappingStatus};

/// Column types of the digest block: id, external id, asset id, realm, status, fingerprint,
/// last synced, asset type.
const DIGEST_NULLS: [&str; 8] = [
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
    "text",
];
const DIGEST_AT: usize = 1;
const SCOPE_AT: usize = DIGEST_AT + DIGEST_NULLS.len();

/// $1 tenant, $2 integration, $3 provider, $4 device ids, $5 scope ids.
static DIGEST_SQL: LazyLock<String> = LazyLock::new(|| {
    let scope_nulls = typed_nulls(&SCOPE_TYPES).join(", ");
    let digest_nulls = typed_nulls(&DIGEST_NULLS).join(", ");
    // Suppressed ids travel in the external-id slot of the digest block.
    let mut suppressed = typed_nulls(&DIGEST_NULLS);
    suppressed[1] = "d.external_entity_id::text".into();
    let suppressed = suppressed.join(", ");
    format!(
        "SELECT 'm', m.id, m.external_entity_id::text, m.alga_entity_id::text,
                m.external_realm_id::text, m.sync_status::text, m.fingerprint,
                COALESCE(m.last_synced_at, m.created_at),
                (SELECT a.asset_type::text FROM assets a
                 WHERE a.tenant = $1 AND a.asset_id = m.alga_entity_id::uuid),
                {scope_nulls}
         FROM tenant_external_entity_mappings m
         WHERE m.tenant = $1 AND m.integration_id = $2 AND m.alga_entity_type = 'asset'
           AND m.integration_type = $3 AND m.external_entity_id = ANY($4)
         UNION ALL
         SELECT 's', {digest_nulls}, {SCOPE_COLUMNS}
         FROM rmm_organization_mappings o
         WHERE o.tenant = $1 AND o.integration_id = $2 AND o.external_organization_id = ANY($5)
         UNION ALL
         SELECT 'x', {suppressed}, {scope_nulls}
         FROM rmm_sync_suppressed_devices d
         WHERE d.tenant = $1 AND d.integration_id = $2 AND d.external_entity_id = ANY($4)"
    )
});

pub(super) async fn correlate_digest(
    pool: &PgPool,
    tenant: TenantId,
    q: &CorrelationQuery,
) -> Result<CorrelationDigest> {
    let ids: Vec<&str> = q.external_ids.iter().map(|d| d.as_str()).collect();
    let scopes: Vec<&str> = q.scope_ids.iter().map(|s| s.as_str()).collect();
    let rows: Vec<PgRow> = sqlx::query(DIGEST_SQL.as_str())
        .bind(tenant.as_uuid())
        .bind(q.integration_id.as_uuid())
        .bind(q.provider.as_str())
        .bind(&ids)
        .bind(&scopes)
        .fetch_all(pool)
        .await
        .map_err(ctx("correlate_digest"))?;
    let mut d = CorrelationDigest::default();
    for row in &rows {
        let tag: &str = Cols::new(row, 0).next()?;
        match tag {
            "m" => d
                .mappings
                .push(mapping_digest(&mut Cols::new(row, DIGEST_AT))?),
            "s" => d.scopes.push(rows::scope(&mut Cols::new(row, SCOPE_AT))?),
            _ => d.suppressed.push(ExternalDeviceId::new(
                Cols::new(row, DIGEST_AT + 1).next::<String>()?,
            )),
        }
    }
    Ok(d)
}

fn mapping_digest(c: &mut Cols<'_>) -> Result<MappingDigest> {
    let id: Uuid = c.next()?;
    let external: String = c.next()?;
    let asset: String = c.next()?;
    let realm: Option<String> = c.next()?;
    let status: Option<String> = c.next()?;
    let fingerprint: Option<String> = c.next()?;
    let last_synced_at: DateTime<Utc> = c.next()?;
    let asset_type: Option<String> = c.next()?;
    Ok(MappingDigest {
        id: MappingId::from_uuid(id),
        external_id: ExternalDeviceId::new(external),
        asset_id: asset.parse().map_err(|_| {
            Error::new(
                ErrorKind::Decode,
                format!("mapping alga_entity_id {asset:?} is not an asset id (uuid)"),
            )
        })?,
        scope_id: ExternalScopeId::new(realm.unwrap_or_default()),
        status: MappingStatus::parse_lenient(status.as_deref().unwrap_or("")),
        fingerprint,
        last_synced_at,
        asset_type: asset_type.map(|t| DeviceKind::parse_lenient(&t)),
    })
}
