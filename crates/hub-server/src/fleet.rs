//! The fleet view: every node writes its sync state to `onehub_rs_nodes` every [`REPORT_EVERY`]
//! (upsert by node id), and `GET /api/sync/nodes` lists the reports, a node whose report is
//! older than [`GONE_AFTER`] marked as gone. So one page on any node shows that every node is
//! current (the same configuration version), or which one is not and why.

use std::time::Duration;

use axum::extract::State;
use hub_store::repo::nodes::{NODES_TABLE, NodeReport};
use serde_json::{Value, json};
use tracing::{debug, warn};

use crate::{
    AppState, NodeType,
    error::{ApiResult, ok_data},
};

/// How often a node reports.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);

/// A node that has not reported for this long is shown as gone (six missed reports).
pub const GONE_AFTER: i64 = 30;

/// Reports of nodes gone for this long are deleted by the master.
pub const FORGET_AFTER: i64 = 7 * 86_400;

/// This node's name in the fleet: `host:pid:random`, new for each start.
pub fn new_node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        crate::api::random_alnum(6)
    )
}

/// What this node reports now.
pub fn report(state: &AppState, address: &str, now: i64) -> NodeReport {
    let node_type = state.config.node_type.as_str();
    let generation = state.snapshot.load().generation;
    let s = state
        .sync
        .status(node_type, generation, state.cache.enabled());
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    NodeReport {
        node_id: state.node_id.clone(),
        node_type: node_type.to_owned(),
        version: state.config.version.clone(),
        address: address.to_owned(),
        started_at: state.config.start_time,
        reported_at: now,
        config_version: s["config_version"].as_i64().unwrap_or(0),
        snapshot_generation: i64::try_from(generation).unwrap_or(i64::MAX),
        last_sync_time: s["last_sync_time"].as_i64().unwrap_or(0),
        lag_ms: s["lag_ms"].as_i64(),
        push: text(&s["push"]),
        feed: text(&s["feed"]),
        ready: s["ready"].as_bool().unwrap_or(false),
        last_error: s["last_error"].as_str().map(str::to_owned),
    }
}

/// The loop every node runs (spawned through the node's tasks): a report at once, then every
/// [`REPORT_EVERY`], until the node stops. A failed write is logged once until one succeeds.
pub async fn run(state: AppState, address: String) {
    let mut failing = false;
    let mut table_ready = false;
    loop {
        if !table_ready {
            // The master creates the table at start-up; a slave beside a One Hub (Go) master
            // creates it here, once the schema is there (it runs no DDL when the table is, and
            // none before its database is up).
            table_ready = match state.store.tables().await {
                Ok(t) if t.iter().any(|t| t == NODES_TABLE) => true,
                Ok(t) if state.sync.ready() && t.iter().any(|t| t == "channels") => {
                    state.store.ensure_nodes_table().await.is_ok()
                }
                _ => false,
            };
            if !table_ready {
                if !state.tasks.sleep(REPORT_EVERY).await {
                    return;
                }
                continue;
            }
        }
        let now = hub_store::now_unix();
        match state
            .store
            .node_report(&report(&state, &address, now))
            .await
        {
            Ok(()) if failing => {
                failing = false;
                debug!("the fleet report is written again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                warn!(error = %e, "cannot write this node's fleet report (onehub_rs_nodes); the fleet page will show it as gone");
            }
            Err(e) => debug!(error = %e, "fleet report still failing"),
        }
        if state.config.node_type == NodeType::Master
            && let Err(e) = state.store.node_forget(now - FORGET_AFTER).await
        {
            debug!(error = %e, "cannot forget old fleet reports");
        }
        if !state.tasks.sleep(REPORT_EVERY).await {
            return;
        }
    }
}

/// `GET /api/sync/nodes` (admin, ours): every node's last report.
pub async fn nodes(State(state): State<AppState>) -> ApiResult {
    let now = hub_store::now_unix();
    let db_version = state.store.feed_version().await.ok();
    let nodes: Vec<Value> = state
        .store
        .node_list()
        .await?
        .into_iter()
        .map(|n| {
            let gone = n.reported_at < now - GONE_AFTER;
            let this = n.node_id == state.node_id;
            let mut v = serde_json::to_value(n).unwrap_or(Value::Null);
            v["gone"] = gone.into();
            v["this_node"] = this.into();
            v
        })
        .collect();
    ok_data(json!({
        "now": now,
        "gone_after": GONE_AFTER,
        "db_version": db_version,
        "node_id": state.node_id,
        "nodes": nodes,
    }))
}
