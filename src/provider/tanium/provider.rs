//! [`TaniumProvider`]: the three provider traits over the Gateway.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::ExposeSecret;
use url::Url;

use super::client::GatewayClient;
use super::config::{
    MAX_PAGE_SIZE, TaniumBuilder, TaniumConfig, normalize_asset_api_url, normalize_gateway_url,
    validate_token,
};
use super::listing::ListingCursor;
use super::mapping::{asset_row_to_snapshot, endpoint_to_snapshot};
use super::queries::{
    self, Cursor as GqlCursor, EndpointFieldFilter, EndpointsVariables, FieldFilterOp, Time,
};
use super::values::parse_time;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, IdentityChange, ProviderId, ScopeKind,
    ScopeSnapshot,
};
use crate::provider::http::redact_url;
use crate::provider::{
    Capabilities, ConnectionReport, DevicePage, DevicePageRequest, DeviceSnapshotSource,
    ProviderInfo, RmmProvider, ScopeSource,
};

/// Margin subtracted from `since` before asking for identity changes: the Gateway stamps
/// changes with its own clock.
const CLOCK_SKEW_MARGIN: Duration = Duration::from_secs(600);

/// The Tanium Gateway adapter. Build it with [`TaniumProvider::builder`] or from a
/// [`TaniumConfig`]; share it as `Arc<dyn RmmProvider>`.
#[derive(Debug)]
pub struct TaniumProvider {
    client: GatewayClient,
    base_url: Url,
    graphql_url: Url,
    asset_api: Option<Url>,
    use_asset_api_fallback: bool,
    page_size: u32,
    thresholds: AgentStatusThresholds,
    identity_lookback: Duration,
    token_has_prefix: bool,
    /// Set once the Gateway refused an `eidLastSeen` filter: later listings skip it.
    since_filter_rejected: AtomicBool,
}

/// One page as the Gateway returned it, mapped.
struct GatewayPage {
    devices: Vec<DeviceSnapshot>,
    edges: u64,
    total: u64,
    has_next: bool,
    end_cursor: Option<String>,
}

impl TaniumProvider {
    /// A builder.
    pub fn builder() -> TaniumBuilder {
        TaniumBuilder::default()
    }

    /// Validates a configuration and builds the provider (no network call; use
    /// [`RmmProvider::test_connection`] for that).
    pub fn new(config: TaniumConfig) -> Result<Self> {
        let (base_url, graphql_url) = normalize_gateway_url(&config.gateway_url, &config.http)?;
        let token = validate_token(&config.api_token)?;
        if config.page_size == 0 || config.page_size > MAX_PAGE_SIZE {
            return Err(Error::invalid_config(
                "page_size",
                format!(
                    "page_size must be between 1 and {MAX_PAGE_SIZE}, not {}",
                    config.page_size
                ),
            ));
        }
        let asset_api = match config.asset_api_url.as_deref().map(str::trim) {
            Some(raw) if !raw.is_empty() => Some(normalize_asset_api_url(raw, &config.http)?),
            _ => None,
        };
        if config.use_asset_api_fallback && asset_api.is_none() {
            return Err(Error::invalid_config(
                "asset_api_url",
                "use_asset_api_fallback is on but no asset_api_url is configured",
            ));
        }
        let token_has_prefix = token
            .expose_secret()
            .to_ascii_lowercase()
            .starts_with("token-");
        let http = config.http.build_client()?;
        Ok(Self {
            client: GatewayClient::new(
                http,
                graphql_url.clone(),
                token,
                config.retry.clone(),
                config.http.max_response_bytes,
            ),
            base_url,
            graphql_url,
            asset_api,
            use_asset_api_fallback: config.use_asset_api_fallback,
            page_size: config.page_size,
            thresholds: config.agent_status,
            identity_lookback: Duration::from_secs(
                u64::from(config.identity_change_lookback_days) * 24 * 3600,
            ),
            token_has_prefix,
            since_filter_rejected: AtomicBool::new(false),
        })
    }

    /// Builds the provider from its JSON configuration (what a [`crate::provider::ProviderRegistry`]
    /// factory receives).
    pub fn from_json(config: &serde_json::Value) -> Result<Self> {
        let config: TaniumConfig = serde_json::from_value(config.clone()).map_err(|e| {
            // serde's message names the key but never echoes values.
            Error::invalid_config("tanium", format!("invalid Tanium configuration: {e}"))
        })?;
        Self::new(config)
    }

    /// The GraphQL endpoint requests go to.
    pub fn graphql_url(&self) -> &Url {
        &self.graphql_url
    }

    /// Whether this Gateway refused the `eidLastSeen` filter (incremental listings then walk
    /// every endpoint).
    pub fn since_filter_rejected(&self) -> bool {
        self.since_filter_rejected.load(Ordering::Relaxed)
    }

    fn capabilities_static(page_size: u32) -> Capabilities {
        Capabilities {
            test_connection: true,
            list_scopes: true,
            list_devices: true,
            list_devices_per_scope: true,
            list_devices_since: true,
            identity_changes: true,
            get_device: true,
            deletion_detection: true,
            device_has_software: true,
            device_has_last_seen: true,
            device_has_serial: true,
            list_devices_max_page_size: Some(page_size),
            ..Capabilities::default()
        }
    }

    /// What instances can do with the default page size (for registries).
    pub fn default_capabilities() -> Capabilities {
        Self::capabilities_static(super::config::DEFAULT_PAGE_SIZE)
    }

    fn scope_filter(scope: &str, since: Option<DateTime<Utc>>) -> EndpointFieldFilter {
        let member = EndpointFieldFilter::member_of(scope);
        match since {
            None => member,
            Some(t) => EndpointFieldFilter::all(vec![
                member,
                EndpointFieldFilter::compare("eidLastSeen", FieldFilterOp::Gt, gateway_time(t)),
            ]),
        }
    }

    async fn fetch_page(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        after: Option<&str>,
        first: u32,
        software: bool,
    ) -> Result<GatewayPage> {
        let vars = EndpointsVariables {
            first: Some(i32::try_from(first).unwrap_or(i32::MAX)),
            after: after.map(|a| GqlCursor(a.to_owned())),
            filter: Some(Self::scope_filter(scope, since)),
        };
        let missing = || {
            Error::new(
                ErrorKind::Decode,
                "Tanium Gateway answered the endpoints query with null (no error given)",
            )
        };
        if software {
            let conn = self
                .client
                .query(&queries::endpoints_with_software(vars))
                .await?
                .endpoints
                .ok_or_else(missing)?;
            Ok(GatewayPage {
                edges: conn.edges.len() as u64,
                devices: conn
                    .edges
                    .iter()
                    .map(|e| {
                        endpoint_to_snapshot(
                            &e.node.fields,
                            scope,
                            Some(&e.node.installed_applications),
                        )
                    })
                    .collect(),
                total: u64::try_from(conn.total_records).unwrap_or(0),
                has_next: conn.page_info.has_next_page,
                end_cursor: conn.page_info.end_cursor.map(|c| c.0),
            })
        } else {
            let conn = self
                .client
                .query(&queries::endpoints(vars))
                .await?
                .endpoints
                .ok_or_else(missing)?;
            Ok(GatewayPage {
                edges: conn.edges.len() as u64,
                devices: conn
                    .edges
                    .iter()
                    .map(|e| endpoint_to_snapshot(&e.node, scope, None))
                    .collect(),
                total: u64::try_from(conn.total_records).unwrap_or(0),
                has_next: conn.page_info.has_next_page,
                end_cursor: conn.page_info.end_cursor.map(|c| c.0),
            })
        }
    }

    /// The first page of a listing; falls back to an unfiltered listing when the Gateway
    /// refuses the `eidLastSeen` filter.
    async fn first_page(
        &self,
        scope: &str,
        since: Option<DateTime<Utc>>,
        first: u32,
        software: bool,
        restarted: bool,
    ) -> Result<(ListingCursor, GatewayPage)> {
        let filtered = since.is_some() && !self.since_filter_rejected();
        let start = |filtered| ListingCursor {
            filtered,
            restarted,
            yielded: 0,
            after: String::new(),
        };
        if !filtered {
            let page = self.fetch_page(scope, None, None, first, software).await?;
            return Ok((start(false), page));
        }
        match self.fetch_page(scope, since, None, first, software).await {
            Ok(page) => Ok((start(true), page)),
            Err(e) if rejects_filter(&e) => {
                tracing::warn!(
                    scope,
                    error = %e,
                    "the Tanium Gateway refused the eidLastSeen filter; incremental listings now walk every endpoint"
                );
                let page = self.fetch_page(scope, None, None, first, software).await?;
                self.since_filter_rejected.store(true, Ordering::Relaxed);
                Ok((start(false), page))
            }
            Err(e) => Err(e),
        }
    }

    /// The first group (in id order) that endpoint `id` is a member of, asked in one aliased
    /// request per [`queries::MEMBERSHIP_BATCH`] groups (one request up to 200 groups). Id
    /// order: the orchestrator lists scopes in the same order, so a device in several groups
    /// lands in the same scope either way.
    async fn group_of(&self, id: &str, mut groups: Vec<String>) -> Result<Option<String>> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Count {
            total_records: i64,
        }
        groups.sort();
        groups.dedup();
        for batch in groups.chunks(queries::MEMBERSHIP_BATCH) {
            let (document, variables) = queries::memberships(id, batch);
            let counts: std::collections::HashMap<String, Option<Count>> = self
                .client
                .query_document("EndpointMembershipsQuery", &document, variables)
                .await?;
            let member = batch.iter().enumerate().find(|(i, _)| {
                counts
                    .get(&format!("g{i}"))
                    .and_then(Option::as_ref)
                    .is_some_and(|c| c.total_records > 0)
            });
            if let Some((_, group)) = member {
                return Ok(Some(group.clone()));
            }
        }
        Ok(None)
    }

    async fn asset_api_page(&self, scope: &str) -> Result<Vec<DeviceSnapshot>> {
        let Some(base) = &self.asset_api else {
            return Ok(Vec::new());
        };
        let mut url = base.clone();
        url.query_pairs_mut().append_pair("computerGroupId", scope);
        let rows = self.client.asset_rows(&url).await.map_err(|e| {
            e.with_context("fallback", "asset_api")
                .with_context("url", redact_url(base))
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| asset_row_to_snapshot(r, scope))
            .collect())
    }
}

/// The Gateway's time format (RFC 3339, UTC, whole seconds).
fn gateway_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Whether an error on a filtered request means "this Gateway does not accept the filter": the
/// Gateway itself rejected the query (GraphQL errors, or HTTP 400) — not an auth, throttling,
/// transport or garbled-response problem, which must not switch incremental filtering off.
fn rejects_filter(e: &Error) -> bool {
    let graphql = std::error::Error::source(e).is_some_and(|s| s.is::<super::GatewayErrors>());
    let bad_request = e.context("status") == Some("400");
    (graphql || bad_request)
        && matches!(
            e.kind(),
            ErrorKind::Decode | ErrorKind::Unsupported | ErrorKind::Other
        )
}

#[async_trait]
impl RmmProvider for TaniumProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            provider: ProviderId::TANIUM,
            title: "Tanium".into(),
            base_url: Some(redact_url(&self.base_url)),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Self::capabilities_static(self.page_size)
    }

    fn agent_status_thresholds(&self) -> AgentStatusThresholds {
        self.thresholds
    }

    async fn test_connection(&self) -> Result<ConnectionReport> {
        let mut report = ConnectionReport::default();
        let now = self.client.query(&queries::now()).await?.now;
        report.details.push(format!("Gateway time: {}", now.0));
        if let Some(server) = parse_time(&now.0) {
            let skew = (Utc::now() - server).num_seconds().abs();
            if skew > 300 {
                report.warnings.push(format!(
                    "the Gateway's clock differs from this host's by {skew} s; incremental windows follow the Gateway's clock"
                ));
            }
        }
        let groups = self
            .client
            .query(&queries::computer_groups(1, None))
            .await
            .map_err(|e| e.with_context("probe", "computerGroups"))?
            .computer_groups
            .map_or(0, |c| c.total_records);
        report
            .details
            .push(format!("computer groups visible: {groups}"));
        if groups == 0 {
            report.warnings.push(
                "the token sees no computer groups, so there is no scope to map: give its user management rights on the computer groups to sync".into(),
            );
        }
        let endpoints = self
            .client
            .query(&queries::endpoint_count(None))
            .await
            .map_err(|e| e.with_context("probe", "endpoints"))?
            .endpoints
            .map_or(0, |c| c.total_records);
        report
            .details
            .push(format!("endpoints visible: {endpoints}"));
        if endpoints == 0 {
            report.warnings.push(
                "the token sees no endpoints: check the user's content-set permissions and that TDS collects from the endpoints".into(),
            );
        }
        let hour_ago = Utc::now() - chrono::Duration::hours(1);
        let probe =
            EndpointFieldFilter::compare("eidLastSeen", FieldFilterOp::Gt, gateway_time(hour_ago));
        match self
            .client
            .query(&queries::endpoint_count(Some(probe)))
            .await
        {
            Ok(c) => report.details.push(format!(
                "eidLastSeen filter supported ({} endpoints seen in the last hour)",
                c.endpoints.map_or(0, |c| c.total_records)
            )),
            Err(e) if rejects_filter(&e) => {
                self.since_filter_rejected.store(true, Ordering::Relaxed);
                report.warnings.push(format!(
                    "this Gateway refuses the eidLastSeen filter ({}); incremental runs will list every endpoint",
                    e.message()
                ));
            }
            Err(e) => return Err(e.with_context("probe", "eidLastSeen filter")),
        }
        if !self.token_has_prefix {
            report.warnings.push(
                "the API token does not start with token-: Tanium API tokens carry that prefix, and it must be kept".into(),
            );
        }
        if let Some(asset) = &self.asset_api {
            report.details.push(format!(
                "Asset API fallback: {} ({})",
                if self.use_asset_api_fallback {
                    "on"
                } else {
                    "off"
                },
                redact_url(asset)
            ));
        }
        Ok(report)
    }
}

#[async_trait]
impl ScopeSource for TaniumProvider {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        let first = i32::try_from(self.page_size).unwrap_or(i32::MAX);
        let mut scopes: Vec<ScopeSnapshot> = Vec::new();
        let mut after: Option<String> = None;
        let mut restarted = false;
        loop {
            let op = queries::computer_groups(first, after.clone().map(GqlCursor));
            let conn = match self.client.query(&op).await {
                Ok(q) => q.computer_groups.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Decode,
                        "Tanium Gateway answered the computerGroups query with null (no error given)",
                    )
                })?,
                Err(e) if e.kind() == ErrorKind::CursorExpired && after.is_some() && !restarted => {
                    tracing::warn!(error = %e, "computer group cursor expired; listing the groups again");
                    restarted = true;
                    scopes.clear();
                    after = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for edge in conn.edges {
                let g = edge.node;
                let id = g.id.into_inner();
                if id.trim().is_empty() || scopes.iter().any(|s| s.id.as_str() == id) {
                    continue;
                }
                let name = if g.name.trim().is_empty() {
                    id.clone()
                } else {
                    g.name
                };
                let mut scope = ScopeSnapshot::new(id, name, ScopeKind::Group);
                let m = &mut scope.metadata;
                let group_type = match g.group_type {
                    queries::ComputerGroupType::Standard => "STANDARD".to_owned(),
                    queries::ComputerGroupType::Manual => "MANUAL".to_owned(),
                    queries::ComputerGroupType::Other(o) => o,
                };
                m.insert("type".into(), group_type.into());
                m.insert(
                    "management_rights_enabled".into(),
                    g.management_rights_enabled.into(),
                );
                m.insert("filter_enabled".into(), g.filter_enabled.into());
                if !g.expression.trim().is_empty() {
                    m.insert("expression".into(), g.expression.into());
                }
                if let Some(cs) = g.content_set {
                    if let Some(id) = cs.id {
                        m.insert("content_set_id".into(), id.into_inner().into());
                    }
                    if let Some(name) = cs.name {
                        m.insert("content_set".into(), name.into());
                    }
                }
                scopes.push(scope);
            }
            if !conn.page_info.has_next_page {
                return Ok(scopes);
            }
            let next = conn
                .page_info
                .end_cursor
                .map(|c| c.0)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Decode,
                        "Tanium Gateway said more computer groups follow but gave no cursor; the group list would be incomplete",
                    )
                })?;
            if after.as_deref() == Some(next.as_str()) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "Tanium Gateway returned the same computer group cursor twice; stopping instead of looping",
                ));
            }
            after = Some(next);
        }
    }
}

#[async_trait]
impl DeviceSnapshotSource for TaniumProvider {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        let scope = request.scope.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                "the Tanium adapter lists endpoints per computer group; the request needs a scope",
            )
        })?;
        let scope = scope.as_str();
        let first = request
            .page_size
            .unwrap_or(self.page_size)
            .clamp(1, self.page_size);
        let software = request.include_software;
        let (state, page) = match &request.cursor {
            None => {
                self.first_page(scope, request.since, first, software, false)
                    .await?
            }
            Some(cursor) => {
                let state = ListingCursor::decode(cursor)?;
                let since = if state.filtered { request.since } else { None };
                match self
                    .fetch_page(scope, since, Some(&state.after), first, software)
                    .await
                {
                    Ok(page) => (state, page),
                    Err(e) if e.kind() == ErrorKind::CursorExpired && !state.restarted => {
                        tracing::warn!(scope, error = %e, "Gateway cursor expired mid-listing; restarting the scope once");
                        self.first_page(scope, since, first, software, true).await?
                    }
                    Err(e) if e.kind() == ErrorKind::CursorExpired => {
                        return Err(Error::new(
                            ErrorKind::CursorExpired,
                            format!(
                                "the Gateway cursor expired again after the listing of computer group {scope} was restarted; the listing is incomplete and nothing in it is swept ({})",
                                e.message()
                            ),
                        )
                        .with_source(e));
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let yielded = state.yielded + page.edges;
        let mut devices = page.devices;
        let next_cursor = if page.has_next {
            let end = page
                .end_cursor
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Decode,
                        format!("Tanium Gateway said more endpoints of computer group {scope} follow but gave no cursor; refusing to end the listing early"),
                    )
                })?;
            if request.cursor.is_some() && end == state.after {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "Tanium Gateway returned the same cursor twice for computer group {scope}; stopping instead of looping"
                    ),
                ));
            }
            Some(
                ListingCursor {
                    yielded,
                    after: end,
                    ..state
                }
                .encode(),
            )
        } else {
            if yielded < page.total {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the listing of computer group {scope} ended after {yielded} of {} endpoints; treating it as incomplete",
                        page.total
                    ),
                ));
            }
            if request.cursor.is_none()
                && request.since.is_none()
                && page.total == 0
                && self.use_asset_api_fallback
            {
                devices = self.asset_api_page(scope).await?;
            }
            None
        };
        let total = Some(page.total.max(devices.len() as u64));
        Ok(DevicePage {
            devices,
            next_cursor,
            total,
        })
    }

    async fn identity_changes(&self, since: Option<DateTime<Utc>>) -> Result<Vec<IdentityChange>> {
        let after = match since {
            Some(t) => t - CLOCK_SKEW_MARGIN,
            None => Utc::now() - self.identity_lookback,
        };
        let payload = self
            .client
            .query(&queries::endpoint_id_changes(Time(gateway_time(after))))
            .await?
            .endpoint_id_changes;
        Ok(payload
            .changes
            .into_iter()
            .filter(|c| !c.old_id.inner().is_empty() && c.old_id != c.new_id)
            .map(|c| IdentityChange {
                previous: c.old_id.into_inner().into(),
                current: c.new_id.into_inner().into(),
                changed_at: None,
            })
            .collect())
    }

    /// Two requests whatever the number of groups (up to 200 groups per membership request,
    /// and 500 group ids per page): the endpoint by id together with the group ids, then one
    /// aliased membership check (`group_of`).
    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        let first = i32::try_from(self.page_size).unwrap_or(i32::MAX);
        let lookup = self
            .client
            .query(&queries::device_lookup(id.as_str(), first, None))
            .await?;
        let Some(node) = lookup
            .endpoints
            .into_iter()
            .flat_map(|c| c.edges)
            .map(|e| e.node)
            .find(|n| n.id.inner() == id.as_str())
        else {
            return Ok(None);
        };
        let mut groups = Vec::new();
        let mut page = lookup.computer_groups;
        while let Some(conn) = page {
            groups.extend(conn.edges.into_iter().map(|e| e.node.id.into_inner()));
            let next = conn
                .page_info
                .end_cursor
                .map(|c| c.0)
                .filter(|c| !c.is_empty());
            page = match next {
                Some(after) if conn.page_info.has_next_page => {
                    // More groups than one page: the rest of the ids (rare; still no
                    // per-group request).
                    self.client
                        .query(&queries::device_lookup(
                            id.as_str(),
                            first,
                            Some(GqlCursor(after)),
                        ))
                        .await?
                        .computer_groups
                }
                _ => None,
            };
        }
        // An endpoint in no computer group is outside every scope, as a full listing sees it.
        let Some(group) = self.group_of(id.as_str(), groups).await? else {
            return Ok(None);
        };
        Ok(Some(endpoint_to_snapshot(&node, &group, None)))
    }
}
