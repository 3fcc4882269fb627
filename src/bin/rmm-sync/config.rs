//! The TOML configuration file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rmm_sync::model::{IntegrationId, ProviderId, TenantId};
use rmm_sync::service::{Schedule, SyncSchedule};
use rmm_sync::sync::SyncOptions;
use serde::Deserialize;

use crate::exit::UsageError;

/// The default tenant when the config names none.
pub(crate) const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-000000000001";

/// Keys that would hold a secret inline: ours (`token`) and the adapters' own names for
/// credentials, which would otherwise reach the adapter straight from the file.
const SECRET_KEYS: [&str; 5] = ["token", "api_token", "api_key", "client_secret", "password"];

/// `rmm-sync.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// `sqlite://…` or `postgres://…`.
    pub(crate) store: String,
    /// Tenant id (UUID).
    #[serde(default)]
    pub(crate) tenant: Option<String>,
    /// How long a run lease lives without renewal (`"2m"`); a killed run blocks its
    /// integration at most this long. Default: the library's (2 minutes).
    #[serde(default, with = "duration_opt")]
    pub(crate) lease_ttl: Option<Duration>,
    /// Attach a device to an asset another provider already brought in, by serial number +
    /// manufacturer, MAC address or system UUID (junk values ignored, several candidates
    /// reported as `ambiguous`). Default off.
    #[serde(default)]
    pub(crate) cross_provider_matching: bool,
    /// `rmm-sync serve` settings.
    #[serde(default)]
    pub(crate) serve: ServeConfig,
    /// `[temporal]`: server address, namespace, task queue.
    #[cfg(feature = "temporal")]
    #[serde(default)]
    pub(crate) temporal: rmm_sync::transport::temporal::TemporalConfig,
    /// `[temporal]` in a binary built without the feature: refused in `validate`.
    #[cfg(not(feature = "temporal"))]
    #[serde(default)]
    pub(crate) temporal: Option<toml::Value>,
    /// Integrations.
    #[serde(default)]
    pub(crate) integrations: Vec<IntegrationConfig>,
}

/// `[serve]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServeConfig {
    /// Address to listen on; default `127.0.0.1:8080`. Anything but loopback must be written
    /// here (or passed as `--listen`).
    #[serde(default)]
    pub(crate) listen: Option<String>,
    /// How long running syncs get to stop on SIGTERM (`"30s"`).
    #[serde(default, with = "duration_opt")]
    pub(crate) shutdown_timeout: Option<Duration>,
    /// Events for one device within this window become one refresh (`"1s"`).
    #[serde(default, with = "duration_opt")]
    pub(crate) coalesce_window: Option<Duration>,
    /// Largest webhook body in bytes (default 1 MiB).
    #[serde(default)]
    pub(crate) webhook_body_limit: Option<usize>,
    /// Where webhook refreshes run: `"direct"` (in `serve`, default) or `"temporal"` (signals
    /// to a `DeviceRefreshWorkflow` on the `[temporal]` task queue).
    #[serde(default)]
    pub(crate) transport: ServeTransport,
}

/// `[serve] transport`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ServeTransport {
    /// In the `serve` process.
    #[default]
    Direct,
    /// Through Temporal.
    Temporal,
}

/// `schedule = { full = "0 3 * * *", incremental = "10m" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleConfig {
    /// Full runs: an interval or a 5-field cron expression (UTC).
    #[serde(default)]
    pub(crate) full: Option<String>,
    /// Incremental runs.
    #[serde(default)]
    pub(crate) incremental: Option<String>,
    /// Largest random delay added to each run (default: a tenth of an interval, at most 30 s).
    #[serde(default, with = "duration_opt")]
    pub(crate) jitter: Option<Duration>,
}

/// `webhook = { secret_env = "VAR" }` or `{ secret_file = "path" }`; never inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookConfig {
    /// Environment variable holding the shared secret.
    #[serde(default)]
    pub(crate) secret_env: Option<String>,
    /// File holding the shared secret.
    #[serde(default)]
    pub(crate) secret_file: Option<PathBuf>,
    /// The header the secret travels in (the provider's default otherwise).
    #[serde(default)]
    pub(crate) header: Option<String>,
}

/// Durations written the human way (`"90s"`, `"2m"`, `"1h 30m"`).
mod duration_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let Some(raw) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        humantime::parse_duration(&raw).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "{raw:?} is not a duration ({e}); write e.g. \"90s\", \"2m\" or \"1h\""
            ))
        })
    }
}

/// One `[[integrations]]` entry. Keys other than the common ones are the adapter's own and are
/// validated by the adapter (an unknown one is an error naming it).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IntegrationConfig {
    /// Unique name.
    pub(crate) id: String,
    /// Provider slug.
    pub(crate) provider: String,
    /// Base URL.
    pub(crate) url: String,
    /// Environment variable holding the token.
    #[serde(default)]
    pub(crate) token_env: Option<String>,
    /// File holding the token.
    #[serde(default)]
    pub(crate) token_file: Option<PathBuf>,
    /// Scheduled runs for `serve`.
    #[serde(default)]
    pub(crate) schedule: Option<ScheduleConfig>,
    /// Webhooks for `serve` (NinjaOne, Tactical RMM).
    #[serde(default)]
    pub(crate) webhook: Option<WebhookConfig>,
    /// Adapter-specific keys.
    #[serde(flatten)]
    pub(crate) extra: toml::Table,
}

impl Config {
    /// Reads and validates a config file.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read config file {}: {e} (pass --config FILE or create ./rmm-sync.toml)",
                path.display()
            ))
        })?;
        Self::parse(&text).with_context(|| format!("in config file {}", path.display()))
    }

    /// Parses and validates config text.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        // The parser's own rendering quotes the offending line, which may hold a secret written
        // inline by mistake: name the line number and the problem only.
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            UsageError(match line {
                Some(line) => format!("invalid config (line {line}): {}", e.message()),
                None => format!("invalid config: {}", e.message()),
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.tenant()?;
        #[cfg(not(feature = "temporal"))]
        if self.temporal.is_some() {
            bail!(UsageError(
                "section `[temporal]`: this binary was built without the `temporal` feature (build with --features cli,temporal)".to_owned()
            ));
        }
        if let Some(ttl) = self.lease_ttl
            && ttl < Duration::from_secs(2)
        {
            bail!(UsageError(format!(
                "key `lease_ttl`: {} is too short for a lease renewed every quarter of it; use at least 2s",
                humantime::format_duration(ttl)
            )));
        }
        let mut seen = BTreeSet::new();
        for i in &self.integrations {
            if !seen.insert(i.id.as_str()) {
                bail!(UsageError(format!(
                    "integration id {:?} is used twice (key `id`)",
                    i.id
                )));
            }
            match i.provider.as_str() {
                "tanium" | "ninjaone" | "tacticalrmm" => {}
                other => bail!(UsageError(format!(
                    "integration {:?}: unknown provider {other:?} (key `provider`; expected tanium, ninjaone or tacticalrmm)",
                    i.id
                ))),
            }
            if i.token_env.is_some() && i.token_file.is_some() {
                bail!(UsageError(format!(
                    "integration {:?}: set either `token_env` or `token_file`, not both",
                    i.id
                )));
            }
            i.sync_schedule()?;
            if let Some(w) = &i.webhook {
                if i.provider == "tanium" {
                    bail!(UsageError(format!(
                        "integration {:?}: key `webhook`: Tanium sends no webhooks; use `schedule`",
                        i.id
                    )));
                }
                if w.secret_env.is_some() == w.secret_file.is_some() {
                    bail!(UsageError(format!(
                        "integration {:?}: key `webhook`: set exactly one of `secret_env` or `secret_file` (secrets are never inline)",
                        i.id
                    )));
                }
            }
            if let Some(key) = SECRET_KEYS.iter().find(|k| i.extra.contains_key(**k)) {
                bail!(UsageError(format!(
                    "integration {:?}: key `{key}`: secrets are never inline; use `token_env` or `token_file`",
                    i.id
                )));
            }
        }
        Ok(())
    }

    /// The orchestration settings the config asks for; the library's defaults elsewhere.
    pub(crate) fn sync_options(&self) -> SyncOptions {
        let defaults = SyncOptions::default();
        SyncOptions {
            lease_ttl: self.lease_ttl.unwrap_or(defaults.lease_ttl),
            cross_provider_matching: self.cross_provider_matching,
            ..defaults
        }
    }

    /// The tenant.
    pub(crate) fn tenant(&self) -> anyhow::Result<TenantId> {
        let raw = self.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        raw.parse()
            .map_err(|_| UsageError(format!("key `tenant`: {raw:?} is not a UUID")).into())
    }

    /// Integrations, optionally just one by name.
    pub(crate) fn select(&self, only: Option<&str>) -> anyhow::Result<Vec<&IntegrationConfig>> {
        match only {
            None => Ok(self.integrations.iter().collect()),
            Some(name) => match self.integrations.iter().find(|i| i.id == name) {
                Some(i) => Ok(vec![i]),
                None => bail!(UsageError(format!(
                    "no integration {name:?} in the config (known: {})",
                    self.integrations
                        .iter()
                        .map(|i| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            },
        }
    }
}

impl IntegrationConfig {
    /// The `schedule` table as the service's schedule (each expression checked).
    pub(crate) fn sync_schedule(&self) -> anyhow::Result<SyncSchedule> {
        let Some(c) = &self.schedule else {
            return Ok(SyncSchedule::none());
        };
        let parse = |key: &str, raw: &Option<String>| -> anyhow::Result<Option<Schedule>> {
            raw.as_deref()
                .map(|r| {
                    r.parse::<Schedule>().map_err(|e| {
                        anyhow::Error::new(UsageError(format!(
                            "integration {:?}: key `schedule.{key}`: {}",
                            self.id,
                            e.message()
                        )))
                    })
                })
                .transpose()
        };
        Ok(SyncSchedule {
            full: parse("full", &c.full)?,
            incremental: parse("incremental", &c.incremental)?,
            jitter: c.jitter,
        })
    }

    /// The webhook secret from the environment or a file. Never logged.
    pub(crate) fn webhook_secret(&self) -> anyhow::Result<Option<String>> {
        let Some(w) = &self.webhook else {
            return Ok(None);
        };
        if let Some(var) = &w.secret_env {
            return match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(v)),
                _ => bail!(UsageError(format!(
                    "integration {:?}: environment variable {var} (key `webhook.secret_env`) is not set",
                    self.id
                ))),
            };
        }
        if let Some(path) = &w.secret_file {
            let raw = std::fs::read_to_string(path).map_err(|e| {
                UsageError(format!(
                    "integration {:?}: cannot read webhook secret file {} (key `webhook.secret_file`): {e}",
                    self.id,
                    path.display()
                ))
            })?;
            return Ok(Some(raw.trim().to_owned()));
        }
        Ok(None)
    }

    /// The stable integration id derived from the name.
    pub(crate) fn integration_id(&self) -> IntegrationId {
        IntegrationId::from_name(&self.id)
    }

    /// The provider slug.
    pub(crate) fn provider_id(&self) -> ProviderId {
        self.provider
            .parse()
            .expect("validated in Config::validate")
    }

    /// Reads the token from the environment or a file. Never logged.
    pub(crate) fn token(&self) -> anyhow::Result<String> {
        if let Some(var) = &self.token_env {
            return std::env::var(var).map_err(|_| {
                UsageError(format!(
                    "integration {:?}: environment variable {var} (key `token_env`) is not set",
                    self.id
                ))
                .into()
            });
        }
        if let Some(path) = &self.token_file {
            let raw = std::fs::read_to_string(path).map_err(|e| {
                UsageError(format!(
                    "integration {:?}: cannot read token file {} (key `token_file`): {e}",
                    self.id,
                    path.display()
                ))
            })?;
            return Ok(raw.trim().to_owned());
        }
        bail!(UsageError(format!(
            "integration {:?}: no credentials; set `token_env` or `token_file`",
            self.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_top_level_key_is_named() {
        let err = Config::parse("store = \"sqlite::memory:\"\nstoer = 1\n").unwrap_err();
        assert!(format!("{err:#}").contains("stoer"), "{err:#}");
    }

    #[test]
    fn unknown_provider_is_named() {
        let err = Config::parse(
            "store = \"sqlite::memory:\"\n[[integrations]]\nid = \"x\"\nprovider = \"kaseya\"\nurl = \"http://127.0.0.1\"\n",
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("kaseya") && msg.contains("`provider`"),
            "{msg}"
        );
    }

    #[test]
    fn lease_ttl_and_cross_provider_matching_reach_the_sync_options() {
        let c = Config::parse(
            "store = \"sqlite::memory:\"\nlease_ttl = \"90s\"\ncross_provider_matching = true\n",
        )
        .unwrap();
        let o = c.sync_options();
        assert_eq!(o.lease_ttl, Duration::from_secs(90));
        assert!(o.cross_provider_matching);
        let d = Config::parse("store = \"sqlite::memory:\"\n")
            .unwrap()
            .sync_options();
        assert_eq!(d, SyncOptions::default());
        let err = Config::parse("store = \"sqlite::memory:\"\nlease_ttl = \"soon\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("not a duration"), "{err:#}");
        let err = Config::parse("store = \"sqlite::memory:\"\nlease_ttl = \"1s\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("`lease_ttl`"), "{err:#}");
    }

    #[test]
    fn schedules_and_webhooks_are_checked_when_the_config_is_read() {
        let base = "store = \"sqlite::memory:\"\n[[integrations]]\nid = \"n\"\nprovider = \"ninjaone\"\nurl = \"http://127.0.0.1\"\n";
        let ok = Config::parse(&format!(
            "{base}schedule = {{ full = \"0 3 * * *\", incremental = \"10m\" }}\nwebhook = {{ secret_env = \"HOOK\" }}\n"
        ))
        .unwrap();
        let s = ok.integrations[0].sync_schedule().unwrap();
        assert!(s.full.is_some() && s.incremental.is_some());
        for (bad, needle) in [
            ("schedule = { full = \"at three\" }\n", "`schedule.full`"),
            (
                "schedule = { incremental = \"0 3 * *\" }\n",
                "`schedule.incremental`",
            ),
            (
                "webhook = { secret_env = \"A\", secret_file = \"b\" }\n",
                "exactly one",
            ),
            ("webhook = { secret = \"s3cret\" }\n", "secret"),
        ] {
            let err = Config::parse(&format!("{base}{bad}")).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains(needle), "{bad}: {msg}");
            assert!(!msg.contains("s3cret"), "{msg}");
        }
        let tanium = base.replace("ninjaone", "tanium");
        let err =
            Config::parse(&format!("{tanium}webhook = {{ secret_env = \"H\" }}\n")).unwrap_err();
        assert!(
            format!("{err:#}").contains("Tanium sends no webhooks"),
            "{err:#}"
        );
    }

    #[test]
    fn the_temporal_section_needs_the_feature() {
        let text = "store = \"sqlite::memory:\"\n[temporal]\naddress = \"10.0.0.5:7233\"\ntask_queue = \"sync\"\n";
        #[cfg(feature = "temporal")]
        {
            let c = Config::parse(text).unwrap();
            assert_eq!(c.temporal.address, "10.0.0.5:7233");
            assert_eq!(c.temporal.task_queue, "sync");
            assert_eq!(c.temporal.namespace, "default");
            let d = Config::parse("store = \"sqlite::memory:\"\n").unwrap();
            assert_eq!(
                d.temporal,
                rmm_sync::transport::temporal::TemporalConfig::default()
            );
            let err = Config::parse(&format!("{text}adress = \"x\"\n")).unwrap_err();
            assert!(format!("{err:#}").contains("adress"), "{err:#}");
        }
        #[cfg(not(feature = "temporal"))]
        {
            let err = Config::parse(text).unwrap_err();
            assert!(
                format!("{err:#}").contains("built without the `temporal` feature"),
                "{err:#}"
            );
        }
    }

    #[test]
    fn inline_token_is_refused() {
        let err = Config::parse(
            "store = \"sqlite::memory:\"\n[[integrations]]\nid = \"x\"\nprovider = \"tanium\"\nurl = \"http://127.0.0.1\"\ntoken = \"s3cret\"\n",
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("`token`") && !msg.contains("s3cret"), "{msg}");
    }
}
