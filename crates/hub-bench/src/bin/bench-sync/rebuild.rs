//! How long a routing snapshot rebuild takes with 10,000 channels: `Snapshot::build` on synthetic
//! rows in-process, and `Store::config_rows` + `Snapshot::build` on a PostgreSQL database.

use std::time::Instant;

use hub_core::{
    entity::{Channel, UserGroup},
    snapshot::{ConfigRows, Snapshot},
};
use hub_store::{DbTarget, PoolConfig, Store};

use crate::{
    Args, BoxError, Res,
    db::{Backend, BenchDb, RawConn, channel_insert_sql},
};

pub const REBUILD_CHANNELS: usize = 10_000;
const GROUPS: [&str; 3] = ["default", "vip", "svip"];

fn synthetic_channel(i: usize) -> Channel {
    let models: Vec<String> = (0..5)
        .map(|k| format!("m{}", (i * 7 + k * 101) % 500))
        .collect();
    let group = match i % 3 {
        0 => "default",
        1 => "default,vip",
        _ => "vip,svip",
    };
    Channel {
        id: i as i64,
        kind: 1,
        key: format!("sk-synthetic-{i}"),
        status: 1,
        name: format!("synthetic-{i}"),
        weight: Some(1),
        base_url: Some("http://127.0.0.1:9".to_owned()),
        models: models.join(","),
        group: group.to_owned(),
        priority: Some((i % 3) as i64),
        pre_cost: 1,
        ..Default::default()
    }
}

fn synthetic_rows() -> ConfigRows {
    ConfigRows {
        channels: (1..=REBUILD_CHANNELS).map(synthetic_channel).collect(),
        groups: GROUPS
            .iter()
            .enumerate()
            .map(|(i, g)| UserGroup {
                id: i as i64 + 1,
                symbol: (*g).to_owned(),
                name: (*g).to_owned(),
                ratio: 1.0,
                api_rate: 600,
                public: *g == "default",
                enable: Some(true),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

pub struct Rebuild {
    pub in_process: Vec<f64>,
    /// (load, build) per run.
    pub pg: Vec<(f64, f64)>,
    pub pg_channels: usize,
}

pub async fn run_rebuild(args: &Args) -> Res<Rebuild> {
    eprintln!("snapshot rebuild: in-process, {REBUILD_CHANNELS} synthetic channels, 20 runs");
    let rows = synthetic_rows();
    let mut in_process = Vec::new();
    for g in 0..20u64 {
        let r = rows.clone();
        let t = Instant::now();
        let snap = Snapshot::build(r, g + 1);
        in_process.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(snap);
    }

    let db = BenchDb::create(Backend::Postgres, &args.pg_url).await?;
    eprintln!(
        "snapshot rebuild: PostgreSQL database {}, {REBUILD_CHANNELS} channels, 5 runs",
        db.name
    );
    let res = rebuild_pg(&db).await;
    db.drop_db().await;
    let (pg, pg_channels) = res?;
    Ok(Rebuild {
        in_process,
        pg,
        pg_channels,
    })
}

async fn rebuild_pg(db: &BenchDb) -> Res<(Vec<(f64, f64)>, usize)> {
    let store = Store::builder(
        &DbTarget::Postgres {
            url: db.dsn.clone(),
        },
        &PoolConfig {
            max_open: 4,
            max_idle: 4,
            ..PoolConfig::default()
        },
    )
    .open()
    .await?;
    let res = async {
        store.ensure_schema().await?;
        store.seed_user_groups().await?;
        let mut conn = RawConn::open(Backend::Postgres, &db.dsn).await?;
        let t = Instant::now();
        for chunk in (1..=REBUILD_CHANNELS).collect::<Vec<_>>().chunks(1000) {
            let rows: Vec<(String, String, String)> = chunk
                .iter()
                .map(|&i| {
                    let c = synthetic_channel(i);
                    (c.name, c.models, c.base_url.unwrap_or_default())
                })
                .collect();
            conn.exec(channel_insert_sql(Backend::Postgres, &rows))
                .await?;
        }
        conn.close().await;
        eprintln!(
            "  inserted {REBUILD_CHANNELS} channels in {} ms",
            t.elapsed().as_millis()
        );
        let mut out = Vec::new();
        let mut channels = 0;
        for g in 0..5u64 {
            let t = Instant::now();
            let rows = store.config_rows().await?;
            let load = t.elapsed().as_secs_f64() * 1000.0;
            channels = rows.channels.len();
            let t = Instant::now();
            let snap = Snapshot::build(rows, g + 1);
            let build = t.elapsed().as_secs_f64() * 1000.0;
            drop(snap);
            eprintln!("  run {}: load {load:.1} ms + build {build:.1} ms", g + 1);
            out.push((load, build));
        }
        Ok::<_, BoxError>((out, channels))
    }
    .await;
    store.close().await;
    res
}
