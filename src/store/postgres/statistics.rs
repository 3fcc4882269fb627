//! Planner statistics after bulk loads.
//!
//! A first load grows the tables from nothing faster than autovacuum re-analyzes them, and
//! plans cached while a table was tiny (sequential scans, including the foreign-key checks'
//! plans) then stay in use while it grows, making each batch slower than the last. So the
//! store runs `ANALYZE` itself whenever the rows it inserted since the last one double
//! (2k, 4k, 8k …): a handful of runs over a whole first load, none in a steady state.

use std::sync::Mutex;

use sqlx::PgPool;

/// First analyze after this many inserted assets.
const FIRST_THRESHOLD: u64 = 2_000;

/// Only the columns our lookups filter and join on: statistics on the JSON columns are
/// expensive to gather and no plan of ours uses them.
const ANALYZE_SQL: &str = "ANALYZE assets (tenant, asset_id, rmm_provider, rmm_device_id), \
    tenant_external_entity_mappings (tenant, id, integration_id, integration_type, \
        alga_entity_type, alga_entity_id, external_entity_id), \
    workstation_assets (tenant, asset_id), server_assets (tenant, asset_id), \
    rmm_sync_asset_identifiers (tenant, asset_id, kind, value)";

#[derive(Debug)]
pub(super) struct Statistics {
    /// (inserted since the last analyze, threshold for the next one)
    state: Mutex<(u64, u64)>,
}

impl Default for Statistics {
    fn default() -> Self {
        Self {
            state: Mutex::new((0, FIRST_THRESHOLD)),
        }
    }
}

impl Statistics {
    /// Records inserted assets; true when it is time to analyze.
    fn note(&self, inserted: u64) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += inserted;
        if s.0 < s.1 {
            return false;
        }
        s.1 = s.1.saturating_mul(2);
        s.0 = 0;
        true
    }

    /// Called after a committed batch. Failures (a role that may not analyze) only cost speed.
    pub(super) async fn after_insert(&self, pool: &PgPool, inserted: u64) {
        if inserted == 0 || !self.note(inserted) {
            return;
        }
        if let Err(e) = sqlx::query(ANALYZE_SQL).execute(pool).await {
            tracing::debug!(error = %e, "ANALYZE after a bulk insert failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyzes_when_inserts_double() {
        let s = Statistics::default();
        assert!(!s.note(1_999));
        assert!(s.note(1));
        assert!(!s.note(3_999));
        assert!(s.note(1));
        assert!(s.note(10_000));
    }
}
