//! A throwaway database for one benchmark invocation.

use sqlx::{Connection, Executor, PgConnection};

pub(crate) struct BenchDb {
    pub(crate) url: String,
    admin: String,
    name: String,
}

fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let query = rest[end..]
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{}/{db}{query}", &rest[..end])
}

impl BenchDb {
    /// The database name (to find its server processes).
    pub(crate) fn name(&self) -> &str {
        if self.name.is_empty() {
            self.url
                .rsplit('/')
                .next()
                .unwrap_or("")
                .split('?')
                .next()
                .unwrap_or("")
        } else {
            &self.name
        }
    }

    pub(crate) async fn create(admin: &str) -> BenchDb {
        if let Ok(url) = std::env::var("RMM_SYNC_BENCH_DB_URL") {
            // An existing database (profiling): neither created nor dropped.
            return BenchDb {
                url,
                admin: admin.to_owned(),
                name: String::new(),
            };
        }
        let mut c = PgConnection::connect(admin)
            .await
            .expect("connect to the PostgreSQL admin URL");
        let name = format!("rmm_sync_bench_{}", uuid::Uuid::new_v4().simple());
        c.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("CREATE DATABASE");
        BenchDb {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        if std::env::var_os("RMM_SYNC_BENCH_KEEP_DB").is_some() {
            eprintln!("kept database {}", self.name);
            return;
        }
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect(&admin).await {
                    let _ = c
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}
