//! Running the `rmm-sync` binary from tests: temp directories, config files, output capture.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The environment variable the test configs read the token from.
pub(crate) const TOKEN_VAR: &str = "RMM_SYNC_CLI_TEST_TOKEN";

/// A directory under the system temp dir, removed (with its SQLite files) on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("rmm-sync-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// Panics with both streams unless the exit code is `code`.
    pub(crate) fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Stdout parsed as one JSON document.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Stdout and stderr together, for "is it mentioned anywhere" checks.
    pub(crate) fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the binary with `args`; `token` goes into [`TOKEN_VAR`] (removed when `None`).
pub(crate) async fn run_binary(args: &[&str], token: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmm-sync"));
    cmd.args(args).env_remove("RMM_SYNC_LOG").kill_on_drop(true);
    match token {
        Some(t) => cmd.env(TOKEN_VAR, t),
        None => cmd.env_remove(TOKEN_VAR),
    };
    let out = cmd.output().await.expect("run rmm-sync");
    Output {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A config file with one integration (Tanium or NinjaOne) and a SQLite store, in a temp dir.
#[derive(Debug)]
pub(crate) struct Setup {
    _dir: TempDir,
    pub(crate) config: PathBuf,
    pub(crate) token: Option<String>,
}

impl Setup {
    /// A Tanium integration at `gateway` reading its token from [`TOKEN_VAR`], plus `extra`
    /// lines appended to the integration table.
    pub(crate) fn tanium(gateway: &str, token: Option<&str>, extra: &str) -> Self {
        let dir = TempDir::new();
        let db = dir.join("x.db");
        let text = format!(
            r#"store = "sqlite://{db}"
tenant = "6f1c7c1e-0000-4000-8000-000000000042"

[[integrations]]
id = "tanium"
provider = "tanium"
url = "{gateway}"
token_env = "{TOKEN_VAR}"
page_size = 40
retry = {{ max_attempts = 2, initial_backoff_ms = 5, max_backoff_ms = 20 }}
{extra}
"#,
            db = db.display()
        );
        Self::with_text(dir, &text, token)
    }

    /// A NinjaOne integration named `ninjaone` at `url` for client `client_id` (no `client_id`
    /// key when `None`), its secret read from [`TOKEN_VAR`], plus `extra` lines appended to the
    /// integration table.
    pub(crate) fn ninjaone(
        url: &str,
        client_id: Option<&str>,
        secret: Option<&str>,
        extra: &str,
    ) -> Self {
        let dir = TempDir::new();
        let db = dir.join("x.db");
        let client_id = client_id
            .map(|c| format!("client_id = \"{c}\""))
            .unwrap_or_default();
        let text = format!(
            r#"store = "sqlite://{db}"

[[integrations]]
id = "ninjaone"
provider = "ninjaone"
url = "{url}"
token_env = "{TOKEN_VAR}"
{client_id}
page_size = 25
retry = {{ max_attempts = 2, initial_backoff_ms = 5, max_backoff_ms = 20 }}
{extra}
"#,
            db = db.display()
        );
        Self::with_text(dir, &text, secret)
    }

    /// Any config text.
    pub(crate) fn with_text(dir: TempDir, text: &str, token: Option<&str>) -> Self {
        let config = dir.join("rmm-sync.toml");
        std::fs::write(&config, text).expect("write config");
        Self {
            _dir: dir,
            config,
            token: token.map(str::to_owned),
        }
    }

    /// A config holding just `text`, no token in the environment.
    pub(crate) fn raw(text: &str) -> Self {
        Self::with_text(TempDir::new(), text, None)
    }

    /// Runs `rmm-sync --config <file> args…`.
    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        let config = self.config.to_str().expect("utf-8 path");
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        run_binary(&all, self.token.as_deref()).await
    }

    /// Runs `rmm-sync --config <file> --json args…`, expects exit 0 and returns the JSON.
    pub(crate) async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).await.expect_code(0).json()
    }

    /// The config file's path.
    pub(crate) fn config_path(&self) -> &Path {
        &self.config
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The port a `serve` or `simulate` child wrote to its `--port-file`, waiting up to 30 s.
pub(crate) async fn wait_for_port_file(path: &Path, what: &str) -> u16 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(port) = text.trim().parse::<u16>()
        {
            return port;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} wrote no port file"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}
