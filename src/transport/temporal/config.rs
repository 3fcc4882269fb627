//! Where the Temporal server is and how to reach it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_client::{Client, ClientOptions, ConnectionOptions, Url};

use crate::error::{Error, ErrorKind, Result};

/// How long [`connect`] waits for the TCP connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `[temporal]` settings: server address, namespace and task queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemporalConfig {
    /// The frontend's gRPC address: `"host:port"` or `"http://host:port"`. Default
    /// `127.0.0.1:7233` (what `temporal server start-dev` listens on).
    pub address: String,
    /// The namespace. Default `default`.
    pub namespace: String,
    /// The task queue workers poll and schedules start workflows on. Default `rmm-sync`.
    pub task_queue: String,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:7233".to_owned(),
            namespace: "default".to_owned(),
            task_queue: "rmm-sync".to_owned(),
        }
    }
}

impl TemporalConfig {
    /// The address as a URL: `host:port` becomes `http://host:port`. TLS (`https://`) is not
    /// supported yet: this build connects in plaintext, as to a dev server or a sidecar.
    pub fn url(&self) -> Result<Url> {
        let raw = self.address.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let invalid = |why: String| {
            Error::invalid_config("temporal.address", why).with_context("address", raw)
        };
        let url = Url::parse(&with_scheme)
            .map_err(|e| invalid(format!("{raw:?} is not host:port or http://host:port: {e}")))?;
        if url.scheme() != "http" {
            return Err(invalid(format!(
                "{raw:?}: only plaintext http:// addresses are supported (no TLS yet)"
            )));
        }
        if url.host_str().is_none_or(str::is_empty) || url.port_or_known_default().is_none() {
            return Err(invalid(format!("{raw:?} is not host:port")));
        }
        if url.port().is_none() {
            return Err(invalid(format!(
                "{raw:?} has no port; Temporal listens on 7233 by default"
            )));
        }
        Ok(url)
    }
}

/// Connects to the server and binds a client to the namespace.
///
/// An unreachable server is [`ErrorKind::Unavailable`] naming the address (context
/// `address`); a malformed address is [`ErrorKind::InvalidConfig`].
pub async fn connect(config: &TemporalConfig) -> Result<Client> {
    let url = config.url()?;
    let options = ConnectionOptions::new(url)
        .identity(format!(
            "rmm-sync {}@{}",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        ))
        .connect_timeout(CONNECT_TIMEOUT)
        .build();
    Client::connect(options, ClientOptions::new(config.namespace.clone()).build())
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cannot reach the Temporal server at {} (is it running? `temporal server start-dev` starts one)",
                    config.address
                ),
            )
            .with_context("address", &config.address)
            .with_source(e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(address: &str) -> TemporalConfig {
        TemporalConfig {
            address: address.to_owned(),
            ..TemporalConfig::default()
        }
    }

    #[test]
    fn host_port_and_http_urls_are_accepted() {
        assert_eq!(
            at("127.0.0.1:7233").url().unwrap().as_str(),
            "http://127.0.0.1:7233/"
        );
        assert_eq!(
            at("http://temporal.internal:7233").url().unwrap().as_str(),
            "http://temporal.internal:7233/"
        );
        assert_eq!(TemporalConfig::default().address, "127.0.0.1:7233");
    }

    #[test]
    fn bad_addresses_are_invalid_config_naming_the_address() {
        for bad in ["", "https://cloud:7233", "temporal", "grpc://x:1", "::::"] {
            let e = at(bad).url().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{bad}: {e}");
            assert_eq!(e.context("key"), Some("temporal.address"));
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_naming_the_address() {
        // A port nothing listens on: bind one, then drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let started = std::time::Instant::now();
        let e = connect(&at(&address)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        assert_eq!(e.context("address"), Some(address.as_str()));
        assert!(e.to_string().contains(&address), "{e}");
        assert!(started.elapsed() < Duration::from_secs(30), "{e}");
    }
}
