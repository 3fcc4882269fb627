//! The TOML configuration file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rmm_sync::model::{IntegrationId, ProviderId, TenantId};
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
    /// Integrations.
    #[serde(default)]
    pub(crate) integrations: Vec<IntegrationConfig>,
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
#[derive(Debug, Deserialize)]
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
        let config: Config =
            toml::from_str(text).map_err(|e| UsageError(format!("invalid config: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.tenant()?;
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
    fn inline_token_is_refused() {
        let err = Config::parse(
            "store = \"sqlite::memory:\"\n[[integrations]]\nid = \"x\"\nprovider = \"tanium\"\nurl = \"http://127.0.0.1\"\ntoken = \"s3cret\"\n",
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("`token`") && !msg.contains("s3cret"), "{msg}");
    }
}
