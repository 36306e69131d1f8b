//! Channel health shared by the fleet: our own table `onehub_rs_channel_health`, one row per
//! part of a channel taken out of routing — a whole channel (`model` empty; its One Hub status
//! is then 3, "automatically disabled") or one model of a channel — with the reason, when it
//! went out and when it is probed next. Inserts and deletes are config changes (the change
//! feed watches the table), so every node's routing learns a take-out or a put-back the way it
//! learns a channel edit; the probe schedule (`next_probe`, `probes`) is not a change.
//!
//! Each transition is a conditional write whose rows-affected says whether this call made it,
//! so when several nodes see the same failure at once exactly one of them logs and notifies.

use hub_core::role::{CHANNEL_AUTO_DISABLED, CHANNEL_ENABLED};
use sea_query::{Expr, ExprTrait, OnConflict, Order, Query};

use crate::{RowExt, Store, StoreError, pool::FromRow, schema::CHANNEL_HEALTH};

pub const HEALTH_TABLE: &str = "onehub_rs_channel_health";

/// Columns of the table that are bookkeeping, not routing (the change feed ignores them).
pub const HEALTH_USAGE_COLUMNS: &[&str] = &["next_probe", "probes"];

pub use hub_core::health::TakenOut as HealthRow;

impl FromRow for HealthRow {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(HealthRow {
            channel_id: r.i64("channel_id")?,
            model: r.string("model")?,
            reason: r.string("reason")?,
            since: r.i64("since")?,
            next_probe: r.i64("next_probe")?,
            probes: r.i64("probes")?,
        })
    }
}

fn part(q: &mut sea_query::UpdateStatement, channel: i64, model: &str) {
    q.and_where(Expr::col("channel_id").eq(channel))
        .and_where(Expr::col("model").eq(model));
}

impl Store {
    /// Creates the table when missing. Idempotent; two nodes doing it at once are fine.
    pub async fn ensure_health_table(&self) -> Result<(), StoreError> {
        for sql in CHANNEL_HEALTH.create_sql(self.dialect()) {
            self.execute_raw(&sql).await?;
        }
        Ok(())
    }

    /// Every taken-out part, by channel and model.
    pub async fn health_rows(&self) -> Result<Vec<HealthRow>, StoreError> {
        let mut q = Query::select();
        q.columns([
            "channel_id",
            "model",
            "reason",
            "since",
            "next_probe",
            "probes",
        ])
        .from(HEALTH_TABLE)
        .order_by("channel_id", Order::Asc)
        .order_by("model", Order::Asc);
        self.fetch_all(&q).await
    }

    /// Records a part as taken out; false when it already was (another node was first).
    pub async fn health_take_out(&self, row: &HealthRow) -> Result<bool, StoreError> {
        let mut q = Query::insert();
        q.into_table(HEALTH_TABLE)
            .columns([
                "channel_id",
                "model",
                "reason",
                "since",
                "next_probe",
                "probes",
            ])
            .values([
                row.channel_id.into(),
                row.model.clone().into(),
                row.reason.clone().into(),
                row.since.into(),
                row.next_probe.into(),
                row.probes.into(),
            ])
            .map_err(|e| StoreError::Decode(e.to_string()))?
            .on_conflict(
                OnConflict::columns(["channel_id", "model"])
                    .do_nothing_on(["channel_id", "model"])
                    .to_owned(),
            );
        Ok(self.execute(&q).await? == 1)
    }

    /// Puts a part back; false when it was not out (another node was first).
    pub async fn health_put_back(&self, channel: i64, model: &str) -> Result<bool, StoreError> {
        let mut q = Query::delete();
        q.from_table(HEALTH_TABLE)
            .and_where(Expr::col("channel_id").eq(channel))
            .and_where(Expr::col("model").eq(model));
        Ok(self.execute(&q).await? > 0)
    }

    /// Sets when a part is probed next, after a failed probe.
    pub async fn health_reschedule(
        &self,
        channel: i64,
        model: &str,
        next_probe: i64,
        probes: i64,
    ) -> Result<(), StoreError> {
        let mut q = Query::update();
        q.table(HEALTH_TABLE)
            .value("next_probe", next_probe)
            .value("probes", probes);
        part(&mut q, channel, model);
        self.execute(&q).await.map(|_| ())
    }

    /// Sets an enabled channel to status 3 (One Hub's "automatically disabled"); false when it
    /// was not enabled (disabled by hand, already out, deleted): a manual status is never
    /// overwritten.
    pub async fn channel_auto_disable(&self, id: i64) -> Result<bool, StoreError> {
        self.channel_status_from_to(id, CHANNEL_ENABLED, CHANNEL_AUTO_DISABLED)
            .await
    }

    /// Sets an automatically disabled channel (status 3) back to enabled; false when its
    /// status is another (a channel disabled by hand, status 2, stays disabled).
    pub async fn channel_auto_enable(&self, id: i64) -> Result<bool, StoreError> {
        self.channel_status_from_to(id, CHANNEL_AUTO_DISABLED, CHANNEL_ENABLED)
            .await
    }

    async fn channel_status_from_to(
        &self,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError> {
        let mut q = Query::update();
        q.table("channels")
            .value("status", to)
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("status").eq(from))
            .and_where(super::alive());
        Ok(self.execute(&q).await? == 1)
    }
}
