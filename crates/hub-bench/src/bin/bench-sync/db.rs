//! The databases of a run: a uniquely named database per scenario (created and dropped through
//! an admin connection), and raw SQL writes that change the config as any database writer would.

use std::time::Duration;

use sqlx::{Connection, Executor};

use crate::Res;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MySql,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MariaDB",
        }
    }

    fn quote(self, ident: &str) -> String {
        match self {
            Backend::Postgres => format!("\"{ident}\""),
            Backend::MySql => format!("`{ident}`"),
        }
    }
}

pub enum RawConn {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl RawConn {
    pub async fn open(backend: Backend, url: &str) -> Res<RawConn> {
        Ok(match backend {
            Backend::Postgres => RawConn::Pg(sqlx::PgConnection::connect(url).await?),
            Backend::MySql => RawConn::My(sqlx::MySqlConnection::connect(url).await?),
        })
    }

    pub async fn exec(&mut self, sql: String) -> Res<()> {
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match self {
            RawConn::Pg(c) => c.execute(sql).await.map(|_| ())?,
            RawConn::My(c) => c.execute(sql).await.map(|_| ())?,
        }
        Ok(())
    }

    pub async fn close(self) {
        let _ = match self {
            RawConn::Pg(c) => c.close().await,
            RawConn::My(c) => c.close().await,
        };
    }
}

/// Replaces the database name (the last path segment) of a URL.
fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

/// A uniquely named database, created for one scenario and dropped after it.
pub struct BenchDb {
    pub backend: Backend,
    admin_url: String,
    pub name: String,
    pub dsn: String,
}

impl BenchDb {
    pub async fn create(backend: Backend, admin_url: &str) -> Res<BenchDb> {
        let name = format!(
            "onehub_bench_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut c = RawConn::open(backend, admin_url)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", backend.label()))?;
        let res = c
            .exec(format!("CREATE DATABASE {}", backend.quote(&name)))
            .await;
        c.close().await;
        res?;
        Ok(BenchDb {
            backend,
            admin_url: admin_url.to_owned(),
            dsn: replace_db(admin_url, &name),
            name,
        })
    }

    pub async fn drop_db(&self) {
        let stmt = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            Backend::MySql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        let res = async {
            let mut c = RawConn::open(self.backend, &self.admin_url).await?;
            let r = c.exec(stmt).await;
            c.close().await;
            r
        };
        match tokio::time::timeout(Duration::from_secs(30), res).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("WARNING: cannot drop database {}: {e}", self.name),
            Err(_) => eprintln!("WARNING: dropping database {} timed out", self.name),
        }
    }
}

/// `INSERT INTO channels` with the values the admin API would write, `rows` as
/// `(name, models, base_url)`.
pub fn channel_insert_sql(backend: Backend, rows: &[(String, String, String)]) -> String {
    let cols = [
        "type",
        "key",
        "status",
        "name",
        "weight",
        "created_time",
        "test_time",
        "response_time",
        "base_url",
        "other",
        "balance",
        "balance_updated_time",
        "models",
        "group",
        "tag",
        "used_quota",
        "model_mapping",
        "model_headers",
        "custom_parameter",
        "priority",
        "proxy",
        "test_model",
        "only_chat",
        "pre_cost",
        "compatible_response",
        "allow_extra_body",
    ];
    let esc = |s: &str| s.replace('\'', "''");
    let now = hub_store::now_unix();
    let values: Vec<String> = rows
        .iter()
        .map(|(name, models, base_url)| {
            format!(
                "(1, 'k', 1, '{}', 1, {now}, 0, 0, '{}', '', 0, 0, '{}', 'default', '', 0, NULL, '', '', 0, '', '', \
                 FALSE, 1, FALSE, FALSE)",
                esc(name),
                esc(base_url),
                esc(models)
            )
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        backend.quote("channels"),
        cols.iter()
            .map(|c| backend.quote(c))
            .collect::<Vec<_>>()
            .join(", "),
        values.join(", ")
    )
}
