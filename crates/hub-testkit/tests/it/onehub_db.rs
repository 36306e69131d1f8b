//! Databases created by One Hub (Go) open unchanged, and our schema matches One Hub's.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_store::{DbTarget, PoolConfig, Store, introspect::ColumnInfo, parse_dsn};
use hub_testkit::{Backend, TestApp, TestDb};
use reqwest::Method;
use serde_json::json;

hub_testkit::on_backends!(
    all: [
        onehub_database_opens_unchanged_and_reads,
        schema_matches_onehub,
    ],
);

const ROOT_TOKEN: &str = "0123456789abcdef0123456789abcdef";

async fn open(db: &TestDb) -> Store {
    let settings = db.settings();
    let target: DbTarget = parse_dsn(&settings.sql_dsn, &settings.sqlite_path, 3000).unwrap();
    Store::builder(&target, &PoolConfig::default())
        .open()
        .await
        .unwrap()
}

type Snapshot = Vec<(
    String,
    Vec<ColumnInfo>,
    Vec<hub_store::introspect::IndexInfo>,
)>;

async fn snapshot(store: &Store) -> Snapshot {
    let mut out = Vec::new();
    // Our own change-feed objects (onehub_rs_*) are additive and excluded here.
    for t in store
        .tables()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| !t.starts_with("onehub_rs_"))
    {
        let cols = store.columns(&t).await.unwrap();
        let idx = store.indexes(&t).await.unwrap();
        out.push((t, cols, idx));
    }
    out
}

async fn onehub_database_opens_unchanged_and_reads(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    db.load_onehub_fixture().await;
    let store = open(&db).await;
    let before = snapshot(&store).await;
    assert!(
        before.iter().any(|(t, _, _)| t == "abilities"),
        "fixture has the extra table"
    );

    let app = TestApp::start(&db.settings()).await;
    let after = snapshot(&store).await;
    // One Hub tables the fixture lacks (`statistics`, `model_info`) are created, as a One Hub
    // master would; the existing ones are untouched.
    let (kept, added): (Snapshot, Snapshot) = after
        .into_iter()
        .partition(|(t, _, _)| before.iter().any(|(b, _, _)| b == t));
    assert!(
        before == kept,
        "opening a One Hub database as master must not alter One Hub's tables"
    );
    for (t, _, _) in &added {
        assert!(
            hub_store::schema::TABLES.iter().any(|d| d.name == t),
            "only One Hub's own missing tables are created, not {t}"
        );
    }
    assert!(
        store
            .tables()
            .await
            .unwrap()
            .iter()
            .any(|t| t == "onehub_rs_changes"),
        "the change feed is installed"
    );
    assert!(
        !app.node.bootstrap.root_created,
        "existing users: no root is created"
    );

    // Both key generations authenticate; a forged key does not.
    let state = &app.node.state;
    let now = hub_store::now_unix();
    let new_key = "kQKMTKyEQA7X6eZ_FRGwDKiA_cq2jSR2zdAme8wN-kNG6vOf5AWD1pKwdwg";
    let a = hub_server::token_auth::authenticate(state, &format!("Bearer sk-{new_key}"), now)
        .await
        .unwrap();
    assert_eq!((a.token.id, a.user.username.as_str()), (1, "root"));
    let legacy = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";
    let b = hub_server::token_auth::authenticate(state, &format!("Bearer {legacy}"), now)
        .await
        .unwrap();
    assert_eq!((b.token.id, b.user.username.as_str()), (2, "alice"));
    assert_eq!(
        b.token.setting.limits.limit_model_setting.models,
        Some(vec!["gpt-4o-mini".to_owned()])
    );
    assert!(
        b.token.setting.limits.limit_model_setting.enabled,
        "old limits shape is read"
    );
    let c = hub_server::token_auth::authenticate(
        state,
        "A6sz1HQ6DpsIjwn_3Zd70tTJVTgybQFKwyVRxuZiYDnbN0RTjEgEVEYo3uo",
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        c.token.setting.limits.limits_ip_setting.whitelist,
        Some(vec!["127.0.0.1".to_owned()])
    );
    let forged = format!("{}x", &new_key[..58]);
    assert!(
        hub_server::token_auth::authenticate(state, &forged, now)
            .await
            .is_err()
    );
    let deleted = "JSazEOuLlYb3jHC_P15BRV3ej5yXaM0tgA-pGDVVP2nQRp3TyFve7V_ALrc";
    assert!(
        hub_server::token_auth::authenticate(state, deleted, now)
            .await
            .is_err(),
        "soft-deleted token"
    );
    let t1 = store.token_get(1, None).await.unwrap().unwrap();
    assert_eq!(
        t1.setting,
        hub_core::setting::TokenSetting::default(),
        "NULL setting reads as default"
    );
    assert_eq!(t1.accessed_time, 0, "NULL scalar reads as 0");

    // One Hub's stored bcrypt hash verifies.
    let login = app.login("root", "123456").await;
    assert_eq!(login["success"], true, "{login}");

    // Channels: NULL pointers stay null, NULL scalars read as zero, JSON columns parse.
    let (_, ch1) = app
        .call(Method::GET, "/api/channel/1", Some(ROOT_TOKEN), None)
        .await;
    let ch1 = &ch1["data"];
    assert_eq!(ch1["weight"], json!(null));
    assert_eq!(ch1["priority"], json!(null));
    assert_eq!(ch1["balance"], json!(0.0));
    assert_eq!(ch1["test_model"], "");
    assert_eq!(ch1["model_mapping"], "{\"gpt-4\":\"gpt-4o\"}");
    assert_eq!(ch1["key"], "sk-upstream-secret-1");
    let (_, ch2) = app
        .call(Method::GET, "/api/channel/2", Some(ROOT_TOKEN), None)
        .await;
    let ch2 = &ch2["data"];
    assert_eq!(
        (
            ch2["weight"].as_i64(),
            ch2["priority"].as_i64(),
            ch2["status"].as_i64()
        ),
        (Some(5), Some(10), Some(2))
    );
    assert_eq!(ch2["balance"], json!(12.5));
    assert_eq!(ch2["disabled_stream"], json!(["claude-3-5-sonnet"]));
    assert_eq!(ch2["plugin"]["customize"]["1"], "/v1/chat/completions");
    let (_, list) = app
        .call(Method::GET, "/api/channel/", Some(ROOT_TOKEN), None)
        .await;
    assert_eq!(
        list["data"]["total_count"], 2,
        "soft-deleted channel hidden: {list}"
    );

    // Users: soft-deleted hidden; NULL email reads "".
    let (_, users) = app
        .call(Method::GET, "/api/user/?order=id", Some(ROOT_TOKEN), None)
        .await;
    let names: Vec<&str> = users["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["root", "alice", "bob"], "{users}");
    let alice = &users["data"]["data"][1];
    assert_eq!(
        (alice["email"].as_str(), alice["github_id_new"].as_i64()),
        (Some(""), Some(0))
    );
    assert_eq!(alice["password"], "");

    // Options: secrets hidden, values kept.
    let (_, opts) = app
        .call(Method::GET, "/api/option/", Some(ROOT_TOKEN), None)
        .await;
    let opts = opts["data"].as_array().unwrap();
    let get = |k: &str| {
        opts.iter()
            .find(|o| o["key"] == k)
            .map(|o| o["value"].clone())
    };
    assert_eq!(get("SystemName"), Some(json!("One Hub Legacy")));
    assert_eq!(get("GitHubClientSecret"), None, "secrets are never listed");

    // Prices (model as primary key in this legacy shape), groups, logs, owners.
    let (_, prices) = app.call(Method::GET, "/api/prices", None, None).await;
    let prices = prices["data"].as_array().unwrap();
    assert_eq!(prices.len(), 3);
    let gpt = prices.iter().find(|p| p["model"] == "gpt-4o").unwrap();
    assert_eq!(
        (gpt["input"].as_f64(), gpt["output"].as_f64()),
        (Some(1.25), Some(5.0))
    );
    let claude = prices
        .iter()
        .find(|p| p["model"] == "claude-3-5-sonnet")
        .unwrap();
    assert_eq!(claude["extra_ratios"]["cached_read_tokens"], json!(0.1));
    assert_eq!(claude["locked"], true);
    let groups = store.group_all().await.unwrap();
    let vip = groups.iter().find(|g| g.symbol == "vip").unwrap();
    assert_eq!(vip.ratio, 0.8);
    assert_eq!(groups.len(), 3, "existing groups: nothing seeded");
    let (_, logs) = app
        .call(
            Method::GET,
            "/api/log/?order=created_at",
            Some(ROOT_TOKEN),
            None,
        )
        .await;
    let logs = logs["data"]["data"].as_array().unwrap().clone();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["metadata"]["group_name"], "vip");
    assert_eq!(logs[0]["is_stream"], true);
    assert_eq!(logs[1]["metadata"], json!(null));
    let owners = store.owner_all().await.unwrap();
    assert_eq!(
        owners.iter().find(|o| o.id == 25).unwrap().name,
        "Google Gemini",
        "existing owner rows are kept"
    );
    assert!(
        owners.iter().any(|o| o.id == 16),
        "missing default owners are added"
    );

    app.stop().await;
    store.close().await;
    db.drop_db().await;
}

/// `(table, column, sqlite type, mysql type, postgres type)` as One Hub's GORM creates them.
const TYPES: &[(&str, &str, &str, &str, &str)] = &[
    ("statistics", "date", "date", "date", "date"),
    ("statistics", "user_id", "integer", "bigint", "bigint"),
    (
        "statistics",
        "model_name",
        "varchar(255)",
        "varchar(255)",
        "character varying(255)",
    ),
    ("statistics", "request_time", "integer", "bigint", "bigint"),
    ("model_info", "id", "integer", "bigint", "bigint"),
    (
        "model_info",
        "model",
        "varchar(100)",
        "varchar(100)",
        "character varying(100)",
    ),
    ("model_info", "support_url", "text", "text", "text"),
    ("channels", "id", "integer", "bigint", "bigint"),
    ("channels", "type", "integer", "bigint", "bigint"),
    ("channels", "key", "text", "text", "text"),
    ("channels", "name", "text", "varchar(191)", "text"),
    ("channels", "weight", "integer", "bigint unsigned", "bigint"),
    ("channels", "other", "text", "longtext", "text"),
    ("channels", "balance", "real", "double", "numeric"),
    (
        "channels",
        "group",
        "varchar(32)",
        "varchar(32)",
        "character varying(32)",
    ),
    (
        "channels",
        "model_headers",
        "varchar(1024)",
        "varchar(1024)",
        "character varying(1024)",
    ),
    ("channels", "only_chat", "numeric", "tinyint(1)", "boolean"),
    ("channels", "disabled_stream", "json", "json", "jsonb"),
    (
        "channels",
        "deleted_at",
        "datetime",
        "datetime(3)",
        "timestamp with time zone",
    ),
    (
        "tokens",
        "key",
        "varchar(59)",
        "varchar(59)",
        "character varying(59)",
    ),
    ("tokens", "group", "text", "varchar(191)", "text"),
    ("tokens", "setting", "json", "json", "jsonb"),
    ("users", "password", "text", "longtext", "text"),
    (
        "users",
        "access_token",
        "char(32)",
        "char(32)",
        "character(32)",
    ),
    (
        "users",
        "avatar_url",
        "varchar(500)",
        "varchar(500)",
        "character varying(500)",
    ),
    ("options", "key", "text", "varchar(191)", "text"),
    (
        "prices",
        "model",
        "varchar(100)",
        "varchar(100)",
        "character varying(100)",
    ),
    ("prices", "input", "real", "double", "numeric"),
    (
        "user_groups",
        "ratio",
        "decimal(10,2)",
        "decimal(10,2)",
        "numeric",
    ),
    ("model_owned_by", "icon", "text", "text", "text"),
    ("logs", "metadata", "json", "json", "jsonb"),
    ("logs", "is_stream", "numeric", "tinyint(1)", "boolean"),
    (
        "migrations",
        "id",
        "varchar(255)",
        "varchar(255)",
        "character varying(255)",
    ),
    ("midjourneys", "id", "integer", "bigint", "bigint"),
    ("midjourneys", "mj_id", "text", "varchar(191)", "text"),
    (
        "midjourneys",
        "action",
        "varchar(40)",
        "varchar(40)",
        "character varying(40)",
    ),
    ("midjourneys", "submit_time", "integer", "bigint", "bigint"),
    ("midjourneys", "prompt", "text", "longtext", "text"),
    ("tasks", "id", "integer", "bigint", "bigint"),
    (
        "tasks",
        "task_id",
        "varchar(50)",
        "varchar(50)",
        "character varying(50)",
    ),
    ("tasks", "progress", "integer", "bigint", "bigint"),
    ("tasks", "fail_reason", "text", "longtext", "text"),
    ("tasks", "data", "json", "json", "json"),
];

/// `(table, column, default must contain)`.
const DEFAULTS: &[(&str, &str, &str)] = &[
    ("channels", "status", "1"),
    ("channels", "group", "default"),
    ("channels", "pre_cost", "1"),
    ("tokens", "expired_time", "-1"),
    ("users", "role", "1"),
    ("users", "group", "default"),
    ("user_groups", "api_rate", "600"),
    ("user_groups", "ratio", "1"),
    ("prices", "type", "tokens"),
    ("midjourneys", "token_id", "0"),
    ("tasks", "token_id", "0"),
];

/// `(table, index name (None: any name), columns, unique)`.
const INDEXES: &[(&str, Option<&str>, &[&str], bool)] = &[
    ("channels", Some("idx_channels_name"), &["name"], false),
    (
        "channels",
        Some("idx_channels_deleted_at"),
        &["deleted_at"],
        false,
    ),
    ("tokens", Some("idx_tokens_key"), &["key"], true),
    ("tokens", Some("idx_tokens_name"), &["name"], false),
    ("users", None, &["username"], true),
    ("users", Some("idx_users_username"), &["username"], false),
    (
        "users",
        Some("idx_users_access_token"),
        &["access_token"],
        true,
    ),
    ("users", Some("idx_users_aff_code"), &["aff_code"], true),
    (
        "user_groups",
        Some("idx_user_groups_symbol"),
        &["symbol"],
        true,
    ),
    (
        "logs",
        Some("idx_created_at_type"),
        &["created_at", "type"],
        false,
    ),
    (
        "logs",
        Some("index_username_model_name"),
        &["model_name", "username"],
        false,
    ),
    ("logs", Some("idx_logs_user_id"), &["user_id"], false),
    (
        "model_owned_by",
        Some("idx_model_owned_by_id"),
        &["id"],
        false,
    ),
    (
        "midjourneys",
        Some("idx_midjourneys_mj_id"),
        &["mj_id"],
        false,
    ),
    (
        "midjourneys",
        Some("idx_midjourneys_submit_time"),
        &["submit_time"],
        false,
    ),
    ("tasks", Some("idx_tasks_task_id"), &["task_id"], false),
    ("tasks", Some("idx_tasks_user_id"), &["user_id"], false),
];

fn normalize(backend: Backend, t: &str) -> String {
    let t = t.to_lowercase();
    if backend != Backend::MySql {
        return t;
    }
    // MariaDB prints display widths (bigint(20)) and stores JSON as longtext.
    let t = t.replace("bigint(20)", "bigint");
    if t == "longtext" {
        t
    } else {
        t.replace("tinyint(4)", "tinyint")
    }
}

async fn schema_matches_onehub(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let app = TestApp::start(&db.settings()).await;
    let store = &app.node.state.store;
    let tables = store.tables().await.unwrap();
    for t in [
        "channels",
        "tokens",
        "users",
        "options",
        "prices",
        "user_groups",
        "model_owned_by",
        "logs",
        "migrations",
        "statistics",
        "model_info",
        "midjourneys",
        "tasks",
    ] {
        assert!(tables.iter().any(|x| x == t), "missing table {t}");
    }
    for (table, col, sqlite, mysql, pg) in TYPES {
        let cols = store.columns(table).await.unwrap();
        let c = cols
            .iter()
            .find(|c| c.name == *col)
            .unwrap_or_else(|| panic!("{table}.{col} missing"));
        let want = match backend {
            Backend::Sqlite => *sqlite,
            Backend::MySql => *mysql,
            Backend::Postgres => *pg,
        };
        let got = normalize(backend, &c.data_type);
        let ok = got == want || (backend == Backend::MySql && want == "json" && got == "longtext");
        assert!(ok, "{backend:?} {table}.{col}: got {got}, want {want}");
    }
    let users = store.columns("users").await.unwrap();
    assert!(
        !users
            .iter()
            .find(|c| c.name == "password")
            .unwrap()
            .nullable,
        "users.password is NOT NULL"
    );
    assert!(users.iter().find(|c| c.name == "email").unwrap().nullable);
    for (table, col, needle) in DEFAULTS {
        let cols = store.columns(table).await.unwrap();
        let c = cols.iter().find(|c| c.name == *col).unwrap();
        assert!(
            c.default.contains(needle),
            "{backend:?} {table}.{col} default {:?} lacks {needle}",
            c.default
        );
    }
    for (table, name, cols, unique) in INDEXES {
        let idx = store.indexes(table).await.unwrap();
        let found = idx.iter().any(|i| {
            name.is_none_or(|n| i.name == n)
                && i.columns
                    .iter()
                    .map(String::as_str)
                    .eq(cols.iter().copied())
                && i.unique == *unique
        });
        assert!(
            found,
            "{backend:?} {table}: no index {name:?} on {cols:?} unique={unique}; have {idx:?}"
        );
    }
    if backend != Backend::Sqlite {
        let users_idx = store.indexes("users").await.unwrap();
        assert!(
            users_idx
                .iter()
                .any(|i| i.name == "uni_users_username" && i.unique),
            "{users_idx:?}"
        );
    }
    // The migrations a fresh One Hub database records are recorded, so a Go master skips them.
    app.stop().await;
    db.drop_db().await;
}
