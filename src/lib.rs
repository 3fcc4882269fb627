//! # rmm-sync
//!
//! Brings device inventory from RMM and endpoint-management products (Tanium, NinjaOne,
//! Tactical RMM, and any adapter you write) into an asset store, correctly and fast.
//!
//! ```text
//!  provider adapters ──► normalized snapshots ──► ingestion engine ──► AssetStore
//!         ▲                                               ▲
//!         └──────────── sync orchestrator ────────────────┘
//! ```
//!
//! - [`model`]: ids, [`model::DeviceSnapshot`], [`model::ScopeSnapshot`], outcomes.
//! - [`provider`]: the traits adapters implement ([`provider::RmmProvider`],
//!   [`provider::ScopeSource`], [`provider::DeviceSnapshotSource`]), capabilities, paging and
//!   the [`provider::ProviderRegistry`].
//! - [`store`]: the [`store::AssetStore`] trait, [`store::InMemoryStore`], and the public
//!   conformance suite (feature `conformance`).
//! - [`ingest`]: the engine: one correlation round trip and one transaction per batch.
//! - [`sync`]: the orchestrator: runs, status lifecycle, sweeps, leases, progress.
//! - [`transport`]: executors other than the in-process one (Temporal, feature `temporal`).
//! - `testkit` (feature `testkit`): a scripted in-memory provider and HTTP simulators of each
//!   provider, for tests and demos.
//!
//! ## Quick start (offline)
//!
//! ```
//! # #[cfg(feature = "testkit")]
//! # tokio_test_block_on(async {
//! use std::sync::Arc;
//! use rmm_sync::model::{ClientId, TenantId};
//! use rmm_sync::store::{AssetStore, InMemoryStore, IntegrationSpec, ScopeAssignment};
//! use rmm_sync::sync::{RunRequest, SyncOrchestrator};
//! use rmm_sync::testkit::ScriptedProvider;
//!
//! let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
//! let provider = Arc::new(ScriptedProvider::generated(200, 4, 7));
//! let tenant = TenantId::new_random();
//! let spec = provider.integration_spec("demo");
//! store.upsert_integration(tenant, &spec).await?;
//!
//! let orchestrator = SyncOrchestrator::new(Arc::clone(&store));
//! orchestrator.sync_scopes(tenant, spec.integration_id, provider.as_ref()).await?;
//! for scope in store.list_scopes(tenant, spec.integration_id).await? {
//!     let client = ClientId::from_name(scope.external_id.as_str());
//!     let map = ScopeAssignment { client_id: Some(Some(client)), ..Default::default() };
//!     store.assign_scope(tenant, spec.integration_id, &scope.external_id, &map).await?;
//! }
//! let report = orchestrator.run(tenant, spec.integration_id, provider.clone(), RunRequest::full()).await?;
//! assert_eq!(report.counts.created, 200);
//! let again = orchestrator.run(tenant, spec.integration_id, provider, RunRequest::full()).await?;
//! assert_eq!(again.counts.unchanged, 200);
//! # Ok::<(), rmm_sync::Error>(())
//! # }).unwrap();
//! # #[cfg(feature = "testkit")]
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | (none) | model, traits, engine, orchestrator, `InMemoryStore` |
//! | `testkit` | scripted provider and fleet generators for tests |
//! | `conformance` | the public store conformance suite |
//! | `mock` | mockall mocks of every trait |
//! | `tanium` | `provider::tanium`: Tanium Gateway (GraphQL via cynic) |
//! | `ninjaone` | `provider::ninjaone`: NinjaOne (OAuth2, activity deltas, webhooks) |
//! | `tactical` | `provider::tactical`: Tactical RMM (API key / Knox, webhooks) |
//! | `sqlite` | `store::sqlite`: `SqliteStore`, the embedded default |
//! | `postgres` | `store::postgres`: `PostgresStore` on the reference schema |
//! | `service` | `service`: scheduler, webhook receiver, health and metrics |
//! | `temporal` | `transport::temporal`: Temporal connection, ids, retry mapping, Schedules |
//! | `cli` | the `rmm-sync` binary |
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod ingest;
pub mod model;
pub mod provider;
#[cfg(feature = "schedule")]
pub mod schedule;
#[cfg(feature = "service")]
pub mod service;
pub mod store;
pub mod sync;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod transport;

#[cfg(feature = "mock")]
pub mod mock;

pub use error::{Error, ErrorKind, Result};
