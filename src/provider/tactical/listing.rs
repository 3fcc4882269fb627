//! Agent listing, one provider page per call.
//!
//! - **Beta** (`GET /beta/v1/agent/?page=N&page_size=1000&ordering=id`): DRF page-number
//!   pages in id order, optionally filtered server-side by `last_seen_range_after`. The cursor
//!   remembers the first page's `count`: page numbers over a set that shrank would skip agents,
//!   so a shrunken set fails the listing as expired (incomplete: nothing gets swept) instead.
//! - **Classic** (`GET /agents/?client=<id>`): servers without the beta API. One client per
//!   page, in client id order; the response is unpaginated, so memory is bounded by the
//!   largest client.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;

use super::TacticalProvider;
use super::client::{check, decode, error_detail};
use super::config::ApiMode;
use super::dto::{AgentModelDto, AgentTableDto, BetaPage};
use super::mapping::{MapContext, Unplaced, map_model, map_table};
use super::sites::SiteIndex;
use crate::error::{Error, ErrorKind, Result};
use crate::model::DeviceSnapshot;
use crate::provider::{Cursor, DevicePage};

pub(crate) const BETA_AGENTS: &str = "beta/v1/agent/";
pub(crate) const CLASSIC_AGENTS: &str = "agents/";
/// The beta API's largest page (larger values are silently capped by the server).
pub(crate) const MAX_PAGE_SIZE: u32 = 1000;
/// How old the site index may be when a listing starts.
const INDEX_MAX_AGE_AT_START: Duration = Duration::from_secs(60);
/// An unknown site triggers a refresh only if the index is older than this (a role restricted
/// to some clients sees agents of sites it cannot see; no point refreshing on every page).
const INDEX_MIN_AGE_FOR_REFRESH: Duration = Duration::from_secs(5);

/// Where a listing continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListCursor {
    /// The beta page to fetch, and the `count` the first page reported.
    Beta { page: u32, first_count: u64 },
    /// The client whose agents to fetch (classic listing).
    Classic { client: i64 },
}

impl ListCursor {
    pub(crate) fn encode(self) -> Cursor {
        match self {
            ListCursor::Beta { page, first_count } => {
                Cursor::new(format!("beta:{page}:{first_count}"))
            }
            ListCursor::Classic { client } => Cursor::new(format!("classic:{client}")),
        }
    }

    pub(crate) fn decode(cursor: &Cursor) -> Result<Self> {
        let bad = || {
            Error::new(
                ErrorKind::CursorExpired,
                format!(
                    "unknown Tactical RMM listing cursor {:?}; the listing restarts",
                    cursor.as_str()
                ),
            )
        };
        let mut parts = cursor.as_str().split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("beta"), Some(page), Some(count), None) => Ok(ListCursor::Beta {
                page: page.parse().ok().filter(|p| *p >= 1).ok_or_else(bad)?,
                first_count: count.parse().map_err(|_| bad())?,
            }),
            (Some("classic"), Some(client), None, None) => Ok(ListCursor::Classic {
                client: client.parse().map_err(|_| bad())?,
            }),
            _ => Err(bad()),
        }
    }
}

/// A page request, as the listing code sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageArgs {
    pub(crate) page_size: u32,
    pub(crate) since: Option<DateTime<Utc>>,
}

impl TacticalProvider {
    /// The first page of a listing, with the API chosen by configuration or detection.
    pub(crate) async fn first_page(&self, args: PageArgs) -> Result<DevicePage> {
        match self.effective_api() {
            ApiMode::Classic => self.classic_page(None, args).await,
            ApiMode::Beta | ApiMode::Auto => self.beta_page(1, None, args).await,
        }
    }

    pub(crate) async fn beta_page(
        &self,
        page: u32,
        first_count: Option<u64>,
        args: PageArgs,
    ) -> Result<DevicePage> {
        let index = if page == 1 {
            self.sites(INDEX_MAX_AGE_AT_START).await?
        } else {
            self.sites(Duration::MAX).await?
        };
        let mut query = vec![
            ("page", page.to_string()),
            ("page_size", args.page_size.to_string()),
            ("ordering", "id".to_owned()),
        ];
        if let Some(since) = args.since {
            query.push((
                "last_seen_range_after",
                since.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
            ));
        }
        let response = self.authed_get(BETA_AGENTS, &query).await?;
        if response.status == StatusCode::NOT_FOUND {
            if page == 1 {
                return self.beta_missing(args, &response).await;
            }
            return Err(Error::new(
                ErrorKind::CursorExpired,
                format!(
                    "Tactical RMM no longer has agent page {page} ({}): agents were deleted while paging; the listing restarts",
                    error_detail(&response)
                ),
            ));
        }
        let response = check(response, &reqwest::Method::GET, BETA_AGENTS)?;
        let body: BetaPage<AgentModelDto> = decode(&response, BETA_AGENTS)?;
        self.mark_api(ApiMode::Beta);
        let first_count = first_count.unwrap_or(body.count);
        if body.count < first_count {
            return Err(Error::new(
                ErrorKind::CursorExpired,
                format!(
                    "the Tactical RMM agent set shrank from {first_count} to {} while paging, so page numbers shifted; the listing restarts",
                    body.count
                ),
            ));
        }
        let devices = self.place(index, &body.results, map_model).await?;
        tracing::debug!(
            page,
            agents = body.results.len(),
            total = body.count,
            "tactical beta page"
        );
        Ok(DevicePage {
            devices,
            next_cursor: body.next.as_ref().map(|_| {
                ListCursor::Beta {
                    page: page + 1,
                    first_count,
                }
                .encode()
            }),
            total: Some(body.count),
        })
    }

    /// Page 1 of the beta API answered 404: the server runs with `BETA_API_ENABLED = False`.
    async fn beta_missing(
        &self,
        args: PageArgs,
        response: &crate::provider::http::HttpResponse,
    ) -> Result<DevicePage> {
        if self.config.api == ApiMode::Beta {
            return Err(Error::invalid_config(
                "api",
                format!(
                    "the Tactical RMM beta API is not enabled on this server ({}): set BETA_API_ENABLED = True in local_settings.py, or use api = \"auto\" or \"classic\"",
                    error_detail(response)
                ),
            ));
        }
        tracing::info!("Tactical RMM beta API is disabled; using the classic agent listing");
        self.mark_api(ApiMode::Classic);
        self.classic_page(None, args).await
    }

    pub(crate) async fn classic_page(
        &self,
        client: Option<i64>,
        args: PageArgs,
    ) -> Result<DevicePage> {
        let index = match client {
            None => self.sites(INDEX_MAX_AGE_AT_START).await?,
            Some(_) => self.sites(Duration::MAX).await?,
        };
        let Some(client) = client.or_else(|| index.client_after(None)) else {
            return Ok(DevicePage {
                devices: Vec::new(),
                next_cursor: None,
                total: Some(0),
            });
        };
        let query = [("client", client.to_string())];
        let response = self.authed_get(CLASSIC_AGENTS, &query).await?;
        let response = check(response, &reqwest::Method::GET, CLASSIC_AGENTS)?;
        let mut rows: Vec<AgentTableDto> = decode(&response, CLASSIC_AGENTS)?;
        if let Some(since) = args.since {
            // No server-side filter here; keep the `since` contract on our side.
            rows.retain(|r| r.last_seen.is_some_and(|t| t >= since));
        }
        let next_cursor = index
            .client_after(Some(client))
            .map(|c| ListCursor::Classic { client: c }.encode());
        let total = index.agent_total();
        let devices = self
            .place(index, &rows, |row, ctx| map_table(row, client, ctx))
            .await?;
        tracing::debug!(client, agents = devices.len(), "tactical classic page");
        Ok(DevicePage {
            devices,
            next_cursor,
            total,
        })
    }

    /// Maps rows against the site index; rows whose site is unknown get one index refresh, and
    /// are skipped if still unknown (a role limited to some clients lists agents of sites it
    /// cannot see; they are not this integration's to sync).
    async fn place<T: Sync>(
        &self,
        index: Arc<SiteIndex>,
        rows: &[T],
        map: impl Fn(&T, &MapContext<'_>) -> std::result::Result<DeviceSnapshot, Unplaced> + Send + Sync,
    ) -> Result<Vec<DeviceSnapshot>> {
        let now = Utc::now();
        let mut index = index;
        let mut refreshed = false;
        let mut devices = Vec::with_capacity(rows.len());
        let mut skipped: Vec<Unplaced> = Vec::new();
        for row in rows {
            let ctx = self.map_context(&index, now);
            match map(row, &ctx) {
                Ok(d) => devices.push(d),
                Err(unplaced) => {
                    if !refreshed && index.loaded_at.elapsed() > INDEX_MIN_AGE_FOR_REFRESH {
                        refreshed = true;
                        index = self.sites(Duration::ZERO).await?;
                        let ctx = self.map_context(&index, now);
                        if let Ok(d) = map(row, &ctx) {
                            devices.push(d);
                            continue;
                        }
                    }
                    skipped.push(unplaced);
                }
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(
                skipped = skipped.len(),
                first_agent = %skipped[0].agent_id,
                site = %skipped[0].site,
                "Tactical RMM agents in sites the client list does not show were skipped"
            );
        }
        Ok(devices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for c in [
            ListCursor::Beta {
                page: 3,
                first_count: 10_000,
            },
            ListCursor::Classic { client: 42 },
        ] {
            assert_eq!(ListCursor::decode(&c.encode()).unwrap(), c);
        }
        for bad in [
            "",
            "beta:0:1",
            "beta:x:1",
            "beta:2",
            "classic:",
            "classic:1:2",
            "other:1",
        ] {
            let e = ListCursor::decode(&Cursor::new(bad)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::CursorExpired, "{bad}");
        }
    }
}
