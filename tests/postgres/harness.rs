//! A fresh database per test: created on the server named by `RMM_SYNC_TEST_POSTGRES_URL`
//! and dropped when the guard drops (also when the test panics).

use sqlx::{Connection, Executor, PgConnection};

/// The environment variable naming the PostgreSQL server (an admin URL).
pub(crate) const URL_VAR: &str = "RMM_SYNC_TEST_POSTGRES_URL";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub(crate) fn admin_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database replaced by `db`.
pub(crate) fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{db}{query}")
}

/// A database that exists for the life of the guard.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub(crate) name: String,
    pub(crate) url: String,
    admin: String,
}

impl TestDb {
    /// Creates a fresh database, or returns `None` (after saying why) when PostgreSQL is
    /// unreachable outside CI. With `CI=true` an unreachable server fails the test.
    pub(crate) async fn create() -> Option<TestDb> {
        let admin = admin_url();
        let connected = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            PgConnection::connect(&admin),
        )
        .await;
        let mut conn = match connected {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return unreachable(&e.to_string()),
            Err(_) => return unreachable("connection timed out"),
        };
        let name = format!("rmm_sync_test_{}", uuid::Uuid::new_v4().simple());
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("CREATE DATABASE (the test role needs CREATEDB)");
        let _ = conn.close().await;
        Some(TestDb {
            url: with_database(&admin, &name),
            name,
            admin,
        })
    }

    /// A plain connection to the test database, for assertions in SQL.
    pub(crate) async fn conn(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

fn unreachable(why: &str) -> Option<TestDb> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "PostgreSQL is unreachable ({why}); CI=true requires it. Start the server or set \
             {URL_VAR} to an admin URL (default {DEFAULT_URL})."
        );
    }
    eprintln!(
        "SKIPPED: PostgreSQL is unreachable ({why}). Set {URL_VAR} to an admin URL of a server \
         (default {DEFAULT_URL}) to run the PostgreSQL store tests."
    );
    None
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime (or while panicking): use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut c = PgConnection::connect(&admin).await?;
                c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                c.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}
