//! `correlate_digest`: the narrow first phase of a correlation, read in one transaction. Per
//! device a handful of mapping columns and the asset's type (a primary-key probe); then the
//! batch's scopes and suppressed devices, as `correlate` reads them.

use serde::Deserialize;
use sqlx::SqlitePool;

use super::codec::{id, json_array, parse_id, parse_ts};
use super::correlate::{read_scopes, read_suppressed};
use super::errors::SqlResultExt;
use super::rows::decode_array;
use crate::error::Result;
use crate::model::{AssetId, DeviceKind, ExternalDeviceId, ExternalScopeId, MappingId, TenantId};
use crate::store::{CorrelationDigest, CorrelationQuery, MappingDigest, MappingStatus};

const OP: &str = "correlate_digest";

const SELECT_DIGESTS: &str = "SELECT json_group_array(json_object('id', m.id, \
     'external_id', m.external_entity_id, 'asset_id', m.alga_entity_id, \
     'realm', m.external_realm_id, 'status', m.sync_status, 'fingerprint', m.fingerprint, \
     'last_synced_at', COALESCE(m.last_synced_at, m.created_at), \
     'asset_type', (SELECT a.asset_type FROM assets a \
                    WHERE a.tenant = m.tenant AND a.asset_id = m.alga_entity_id))) \
     FROM tenant_external_entity_mappings m \
     WHERE m.tenant = ?1 AND m.integration_id = ?2 AND m.alga_entity_type = 'asset' \
       AND m.integration_type = ?3 \
       AND m.external_entity_id IN (SELECT value FROM json_each(?4))";

#[derive(Deserialize)]
struct DigestJson {
    id: String,
    external_id: String,
    asset_id: String,
    realm: Option<String>,
    status: Option<String>,
    fingerprint: Option<String>,
    last_synced_at: String,
    asset_type: Option<String>,
}

impl DigestJson {
    fn into_digest(self) -> Result<MappingDigest> {
        Ok(MappingDigest {
            id: MappingId::from_uuid(parse_id("id", &self.id)?),
            external_id: ExternalDeviceId::new(self.external_id),
            asset_id: AssetId::from_uuid(parse_id("alga_entity_id", &self.asset_id)?),
            scope_id: ExternalScopeId::new(self.realm.unwrap_or_default()),
            status: MappingStatus::parse_lenient(self.status.as_deref().unwrap_or_default()),
            fingerprint: self.fingerprint,
            last_synced_at: parse_ts("last_synced_at", &self.last_synced_at)?,
            asset_type: self.asset_type.map(|t| DeviceKind::parse_lenient(&t)),
        })
    }
}

pub(super) async fn correlate_digest(
    pool: &SqlitePool,
    tenant: TenantId,
    q: &CorrelationQuery,
) -> Result<CorrelationDigest> {
    let tenant = id(tenant.as_uuid());
    let integration = id(q.integration_id.as_uuid());
    let devices = json_array(q.external_ids.iter().map(ExternalDeviceId::as_str))?;
    // One transaction: one consistent WAL snapshot for the three reads.
    let mut tx = pool.begin().await.during(OP)?;
    let json: String = sqlx::query_scalar(SELECT_DIGESTS)
        .bind(&tenant)
        .bind(&integration)
        .bind(q.provider.as_str())
        .bind(&devices)
        .fetch_one(&mut *tx)
        .await
        .during(OP)?;
    let digest = CorrelationDigest {
        mappings: decode_array(&json, "mapping digests", DigestJson::into_digest)?,
        scopes: read_scopes(&mut tx, &tenant, &integration, q).await?,
        suppressed: read_suppressed(&mut tx, &tenant, &integration, &devices).await?,
    };
    tx.commit().await.during(OP)?;
    Ok(digest)
}
