//! The fleet's reports: our own table `onehub_rs_nodes`, one row per node (upserted by node id
//! every few seconds by the node itself) with its role, configuration version, last sync, lag,
//! push channel and last error, so any node can show the whole fleet. One Hub's tables are not
//! touched; Go nodes do not report.

use sea_query::{ColumnDef, Expr, ExprTrait, OnConflict, Order, Query, Table};

use crate::{RowExt, Store, StoreError, pool::FromRow};

pub const NODES_TABLE: &str = "onehub_rs_nodes";

/// What a node reports about itself.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NodeReport {
    /// `host:pid:random`, fixed for the life of the process.
    pub node_id: String,
    /// `master` or `slave`.
    pub node_type: String,
    /// The program's version.
    pub version: String,
    /// Where it listens (host name and port), for the operator's eyes.
    pub address: String,
    pub started_at: i64,
    /// When this report was written (Unix s).
    pub reported_at: i64,
    /// The change-feed version its routing snapshot has applied.
    pub config_version: i64,
    pub snapshot_generation: i64,
    /// The last successful sync check (Unix s; 0 = none yet).
    pub last_sync_time: i64,
    /// Milliseconds since that check, when there was one.
    pub lag_ms: Option<i64>,
    /// The push channels that wake its sync (`postgres`, `redis`, `none`).
    pub push: String,
    /// `triggers`, `content_check` or `starting`.
    pub feed: String,
    pub ready: bool,
    /// The last sync failure, while it lasts.
    pub last_error: Option<String>,
}

impl FromRow for NodeReport {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        let lag = r.i64("lag_ms")?;
        let error = r.string("last_error")?;
        Ok(NodeReport {
            node_id: r.string("node_id")?,
            node_type: r.string("node_type")?,
            version: r.string("version")?,
            address: r.string("address")?,
            started_at: r.i64("started_at")?,
            reported_at: r.i64("reported_at")?,
            config_version: r.i64("config_version")?,
            snapshot_generation: r.i64("snapshot_generation")?,
            last_sync_time: r.i64("last_sync_time")?,
            lag_ms: (lag >= 0).then_some(lag),
            push: r.string("push")?,
            feed: r.string("feed")?,
            ready: r.bool("ready")?,
            last_error: (!error.is_empty()).then_some(error),
        })
    }
}

const COLUMNS: [&str; 14] = [
    "node_id",
    "node_type",
    "version",
    "address",
    "started_at",
    "reported_at",
    "config_version",
    "snapshot_generation",
    "last_sync_time",
    "lag_ms",
    "push",
    "feed",
    "ready",
    "last_error",
];

/// Text columns are cut to what they hold (an error message can be long).
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl Store {
    /// Creates `onehub_rs_nodes` when missing. Idempotent; two nodes doing it at once are fine.
    pub async fn ensure_nodes_table(&self) -> Result<(), StoreError> {
        let mut t = Table::create();
        let text = |name: &'static str, len: u32| {
            ColumnDef::new(name)
                .string_len(len)
                .not_null()
                .default("")
                .to_owned()
        };
        let int = |name: &'static str| {
            ColumnDef::new(name)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned()
        };
        t.table(NODES_TABLE)
            .if_not_exists()
            .col(
                ColumnDef::new("node_id")
                    .string_len(128)
                    .not_null()
                    .primary_key(),
            )
            .col(text("node_type", 16))
            .col(text("version", 64))
            .col(text("address", 255))
            .col(int("started_at"))
            .col(int("reported_at"))
            .col(int("config_version"))
            .col(int("snapshot_generation"))
            .col(int("last_sync_time"))
            .col(int("lag_ms"))
            .col(text("push", 64))
            .col(text("feed", 32))
            .col(int("ready"))
            .col(text("last_error", 1000));
        self.execute_raw(&self.render_ddl(&t)).await
    }

    /// Writes a node's report (insert, or replace the node's previous one).
    pub async fn node_report(&self, r: &NodeReport) -> Result<(), StoreError> {
        let mut q = Query::insert();
        q.into_table(NODES_TABLE)
            .columns(COLUMNS)
            .values([
                cut(&r.node_id, 128).into(),
                cut(&r.node_type, 16).into(),
                cut(&r.version, 64).into(),
                cut(&r.address, 255).into(),
                r.started_at.into(),
                r.reported_at.into(),
                r.config_version.into(),
                r.snapshot_generation.into(),
                r.last_sync_time.into(),
                r.lag_ms.unwrap_or(-1).into(),
                cut(&r.push, 64).into(),
                cut(&r.feed, 32).into(),
                i64::from(r.ready).into(),
                cut(r.last_error.as_deref().unwrap_or_default(), 1000).into(),
            ])
            .map_err(|e| StoreError::Decode(e.to_string()))?
            .on_conflict(
                OnConflict::column("node_id")
                    .update_columns(COLUMNS.into_iter().skip(1))
                    .to_owned(),
            );
        self.execute(&q).await.map(|_| ())
    }

    /// Every node's last report, by node id.
    pub async fn node_list(&self) -> Result<Vec<NodeReport>, StoreError> {
        let mut q = Query::select();
        q.columns(COLUMNS)
            .from(NODES_TABLE)
            .order_by("node_id", Order::Asc);
        self.fetch_all(&q).await
    }

    /// Forgets nodes whose last report is older than `before` (Unix s). Returns how many.
    pub async fn node_forget(&self, before: i64) -> Result<u64, StoreError> {
        let mut q = Query::delete();
        q.from_table(NODES_TABLE)
            .and_where(Expr::col("reported_at").lt(before));
        self.execute(&q).await
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("数据库错误", 4), "数");
    }
}
