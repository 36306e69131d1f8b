//! The tables of compat spec §1.1–§1.6, in GORM's column order.

use super::{Class::*, Col, Index, TableDef};

const fn c(name: &'static str, class: super::Class) -> Col {
    Col {
        name,
        class,
        default: None,
        not_null: false,
    }
}
const fn d(name: &'static str, class: super::Class, default: &'static str) -> Col {
    Col {
        name,
        class,
        default: Some(default),
        not_null: false,
    }
}
const fn ix(name: &'static str, cols: &'static [&'static str]) -> Index {
    Index {
        name,
        cols,
        unique: false,
    }
}
const fn ux(name: &'static str, cols: &'static [&'static str]) -> Index {
    Index {
        name,
        cols,
        unique: true,
    }
}

pub static CHANNELS: TableDef = TableDef {
    name: "channels",
    cols: &[
        c("id", Pk),
        d("type", I, "0"),
        c("key", Ty("text")),
        d("status", I, "1"),
        c("name", SKey),
        d("weight", U, "1"),
        c("created_time", I),
        c("test_time", I),
        c("response_time", I),
        d("base_url", SKey, "''"),
        c("other", S),
        c("balance", F),
        c("balance_updated_time", I),
        c("models", S),
        d("group", Ty("varchar(32)"), "'default'"),
        d("tag", Ty("varchar(32)"), "''"),
        d("used_quota", I, "0"),
        c("model_mapping", Ty("text")),
        d("model_headers", Ty("varchar(1024)"), "''"),
        d("custom_parameter", Ty("varchar(1024)"), "''"),
        d("priority", I, "0"),
        d("proxy", Ty("varchar(255)"), "''"),
        d("test_model", Ty("varchar(50)"), "''"),
        d("only_chat", B, "false"),
        d("pre_cost", I, "1"),
        d("compatible_response", B, "false"),
        d("allow_extra_body", B, "false"),
        c("disabled_stream", J),
        c("plugin", J),
        c("deleted_at", T),
    ],
    indexes: &[
        ix("idx_channels_name", &["name"]),
        ix("idx_channels_deleted_at", &["deleted_at"]),
    ],
    unique: &[],
    primary: &[],
};

pub static TOKENS: TableDef = TableDef {
    name: "tokens",
    cols: &[
        c("id", Pk),
        c("user_id", I),
        c("key", Ty("varchar(59)")),
        d("status", I, "1"),
        c("name", SKey),
        c("created_time", I),
        c("accessed_time", I),
        d("expired_time", I, "-1"),
        d("remain_quota", I, "0"),
        d("unlimited_quota", B, "false"),
        d("used_quota", I, "0"),
        d("group", SKey, "''"),
        d("backup_group", SKey, "''"),
        c("deleted_at", T),
        c("setting", J),
    ],
    indexes: &[
        ux("idx_tokens_key", &["key"]),
        ix("idx_tokens_name", &["name"]),
        ix("idx_tokens_deleted_at", &["deleted_at"]),
    ],
    unique: &[],
    primary: &[],
};

pub static USERS: TableDef = TableDef {
    name: "users",
    cols: &[
        c("id", Pk),
        c("username", SKey),
        Col {
            name: "password",
            class: S,
            default: None,
            not_null: true,
        },
        c("display_name", SKey),
        d("role", I, "1"),
        d("status", I, "1"),
        c("email", SKey),
        d("avatar_url", Ty("varchar(500)"), "''"),
        c("oidc_id", SKey),
        c("github_id", SKey),
        c("github_id_new", I),
        c("wechat_id", SKey),
        d("telegram_id", I, "0"),
        c("lark_id", SKey),
        c("access_token", Ty("char(32)")),
        d("quota", I, "0"),
        d("used_quota", I, "0"),
        d("request_count", I, "0"),
        d("group", Ty("varchar(32)"), "'default'"),
        c("aff_code", Ty("varchar(32)")),
        d("aff_count", I, "0"),
        d("aff_quota", I, "0"),
        d("aff_history", I, "0"),
        c("inviter_id", I),
        d("last_login_time", I, "0"),
        d("last_login_ip", Ty("varchar(128)"), "''"),
        c("created_time", I),
        c("deleted_at", T),
    ],
    indexes: &[
        ix("idx_users_username", &["username"]),
        ix("idx_users_display_name", &["display_name"]),
        ix("idx_users_email", &["email"]),
        ix("idx_users_oidc_id", &["oidc_id"]),
        ix("idx_users_github_id", &["github_id"]),
        ix("idx_users_github_id_new", &["github_id_new"]),
        ix("idx_users_wechat_id", &["wechat_id"]),
        ix("idx_users_lark_id", &["lark_id"]),
        ux("idx_users_access_token", &["access_token"]),
        ux("idx_users_aff_code", &["aff_code"]),
        ix("idx_users_inviter_id", &["inviter_id"]),
        ix("idx_users_deleted_at", &["deleted_at"]),
    ],
    unique: &[("uni_users_username", "username")],
    primary: &[],
};

pub static OPTIONS: TableDef = TableDef {
    name: "options",
    cols: &[c("key", SKey), c("value", S)],
    indexes: &[],
    unique: &[],
    primary: &["key"],
};

pub static PRICES: TableDef = TableDef {
    name: "prices",
    cols: &[
        c("model", Ty("varchar(100)")),
        d("type", SKey, "'tokens'"),
        d("channel_type", I, "0"),
        d("input", F, "0"),
        d("output", F, "0"),
        d("locked", B, "false"),
        c("extra_ratios", J),
    ],
    indexes: &[],
    unique: &[],
    primary: &[],
};

pub static USER_GROUPS: TableDef = TableDef {
    name: "user_groups",
    cols: &[
        c("id", Pk),
        c("symbol", Ty("varchar(50)")),
        c("name", Ty("varchar(50)")),
        d("ratio", Ty("decimal(10,2)"), "1"),
        d("api_rate", I, "600"),
        d("public", B, "false"),
        d("promotion", B, "false"),
        d("min", I, "0"),
        d("max", I, "0"),
        d("enable", B, "true"),
    ],
    indexes: &[ux("idx_user_groups_symbol", &["symbol"])],
    unique: &[],
    primary: &[],
};

pub static MODEL_OWNED_BY: TableDef = TableDef {
    name: "model_owned_by",
    cols: &[
        c("id", Pk),
        c("name", Ty("varchar(100)")),
        c("icon", Ty("text")),
    ],
    indexes: &[ix("idx_model_owned_by_id", &["id"])],
    unique: &[],
    primary: &[],
};

pub static LOGS: TableDef = TableDef {
    name: "logs",
    cols: &[
        c("id", Pk),
        c("user_id", I),
        c("created_at", I),
        c("type", I),
        c("content", S),
        d("username", SKey, "''"),
        d("token_name", SKey, "''"),
        d("model_name", SKey, "''"),
        d("quota", I, "0"),
        d("prompt_tokens", I, "0"),
        d("completion_tokens", I, "0"),
        d("request_time", I, "0"),
        c("channel_id", I),
        d("is_stream", B, "false"),
        d("source_ip", SKey, "''"),
        c("metadata", J),
    ],
    indexes: &[
        ix("idx_logs_user_id", &["user_id"]),
        ix("idx_created_at_type", &["created_at", "type"]),
        ix("index_username_model_name", &["model_name", "username"]),
        ix("idx_logs_token_name", &["token_name"]),
        ix("idx_logs_model_name", &["model_name"]),
        ix("idx_logs_channel_id", &["channel_id"]),
    ],
    unique: &[],
    primary: &[],
};

pub static MIGRATIONS: TableDef = TableDef {
    name: "migrations",
    cols: &[c("id", Ty("varchar(255)"))],
    indexes: &[],
    unique: &[],
    primary: &["id"],
};

/// One Hub's daily rollup of consume logs (contract §1.1): a composite primary key, no `id`.
pub static STATISTICS: TableDef = TableDef {
    name: "statistics",
    cols: &[
        c("date", Ty("date")),
        c("user_id", I),
        c("channel_id", I),
        c("model_name", Ty("varchar(255)")),
        c("request_count", I),
        c("quota", I),
        c("prompt_tokens", I),
        c("completion_tokens", I),
        c("request_time", I),
    ],
    indexes: &[],
    unique: &[],
    primary: &["date", "user_id", "channel_id", "model_name"],
};

/// Model descriptions attached to the price list (contract §10.2; explicit table name).
pub static MODEL_INFO: TableDef = TableDef {
    name: "model_info",
    cols: &[
        c("id", Pk),
        c("model", Ty("varchar(100)")),
        c("name", Ty("varchar(100)")),
        c("description", Ty("text")),
        c("context_length", I),
        c("max_tokens", I),
        c("input_modalities", Ty("text")),
        c("output_modalities", Ty("text")),
        c("tags", Ty("text")),
        c("support_url", Ty("text")),
        c("created_at", I),
        c("updated_at", I),
    ],
    indexes: &[
        ix("idx_model_info_id", &["id"]),
        ix("idx_model_info_model", &["model"]),
    ],
    unique: &[],
    primary: &[],
};

/// Monthly invoices (contract §1.8), created only when `USER_INVOICE_MONTH` is on. One Hub
/// declares `date` as `datetime`, which PostgreSQL lacks (its migration fails there); we use
/// `date` on PostgreSQL.
pub static STATISTICS_MONTHS: TableDef = TableDef {
    name: "statistics_months",
    cols: &[
        c("date", Ty("datetime")),
        c("user_id", I),
        c("model_name", Ty("varchar(255)")),
        c("request_count", I),
        c("quota", I),
        c("prompt_tokens", I),
        c("completion_tokens", I),
        c("request_time", I),
    ],
    indexes: &[],
    unique: &[],
    primary: &["date", "user_id", "model_name"],
};

/// The months whose invoices were generated (contract §1.8).
pub static STATISTICS_MONTH_HISTORIES: TableDef = TableDef {
    name: "statistics_month_generated_histories",
    cols: &[
        c("id", Pk),
        c("date", Ty("date")),
        c("count", I),
        c("created_at", I),
    ],
    indexes: &[],
    unique: &[],
    primary: &[],
};

/// Midjourney tasks (One Hub's `model.Midjourney`), written by a Go node's `/mj` relay; we
/// only list them. The time columns hold milliseconds, as the Midjourney proxies report them.
pub static MIDJOURNEYS: TableDef = TableDef {
    name: "midjourneys",
    cols: &[
        c("id", Pk),
        c("code", I),
        c("user_id", I),
        c("action", Ty("varchar(40)")),
        c("mj_id", SKey),
        c("prompt", S),
        c("prompt_en", S),
        c("description", S),
        c("state", S),
        c("submit_time", I),
        c("start_time", I),
        c("finish_time", I),
        c("image_url", S),
        c("status", Ty("varchar(20)")),
        c("progress", Ty("varchar(30)")),
        c("fail_reason", S),
        c("channel_id", I),
        c("quota", I),
        c("buttons", S),
        c("properties", S),
        c("mode", S),
        d("token_id", I, "0"),
    ],
    indexes: &[
        ix("idx_midjourneys_user_id", &["user_id"]),
        ix("idx_midjourneys_action", &["action"]),
        ix("idx_midjourneys_mj_id", &["mj_id"]),
        ix("idx_midjourneys_submit_time", &["submit_time"]),
        ix("idx_midjourneys_start_time", &["start_time"]),
        ix("idx_midjourneys_finish_time", &["finish_time"]),
        ix("idx_midjourneys_status", &["status"]),
        ix("idx_midjourneys_progress", &["progress"]),
    ],
    unique: &[],
    primary: &[],
};

/// Asynchronous tasks of the Suno and Kling relays (One Hub's `model.Task`), written by a Go
/// node; we only list them. `properties` and `data` are declared `type:json`, so PostgreSQL
/// gets `json`, not the `JSONB` of an untyped `datatypes.JSON`.
pub static TASKS: TableDef = TableDef {
    name: "tasks",
    cols: &[
        c("id", Pk),
        c("created_at", I),
        c("updated_at", I),
        c("task_id", Ty("varchar(50)")),
        c("platform", Ty("varchar(30)")),
        c("user_id", I),
        c("channel_id", I),
        c("quota", I),
        c("action", Ty("varchar(40)")),
        c("status", Ty("varchar(20)")),
        c("fail_reason", S),
        c("submit_time", I),
        c("start_time", I),
        c("finish_time", I),
        c("progress", I),
        c("properties", Ty("json")),
        c("data", Ty("json")),
        c("notify_hook", S),
        d("token_id", I, "0"),
    ],
    indexes: &[
        ix("idx_tasks_created_at", &["created_at"]),
        ix("idx_tasks_task_id", &["task_id"]),
        ix("idx_tasks_platform", &["platform"]),
        ix("idx_tasks_user_id", &["user_id"]),
        ix("idx_tasks_channel_id", &["channel_id"]),
        ix("idx_tasks_action", &["action"]),
        ix("idx_tasks_status", &["status"]),
        ix("idx_tasks_submit_time", &["submit_time"]),
        ix("idx_tasks_start_time", &["start_time"]),
        ix("idx_tasks_finish_time", &["finish_time"]),
    ],
    unique: &[],
    primary: &[],
};

/// Redemption codes (contract §6.1; hard-deleted). `user_id` is the admin who created the code.
pub static REDEMPTIONS: TableDef = TableDef {
    name: "redemptions",
    cols: &[
        c("id", Pk),
        c("user_id", I),
        c("key", Ty("char(32)")),
        d("status", I, "1"),
        c("name", SKey),
        d("quota", I, "100"),
        c("created_time", I),
        c("redeemed_time", I),
    ],
    indexes: &[
        ux("idx_redemptions_key", &["key"]),
        ix("idx_redemptions_name", &["name"]),
    ],
    unique: &[],
    primary: &[],
};

/// Payment gateways (contract §6.2; soft-deleted). `config` holds the gateway's credentials.
pub static PAYMENTS: TableDef = TableDef {
    name: "payments",
    cols: &[
        c("id", Pk),
        c("type", Ty("varchar(16)")),
        c("uuid", Ty("char(32)")),
        Col {
            name: "name",
            class: Ty("varchar(255)"),
            default: None,
            not_null: true,
        },
        c("icon", Ty("varchar(300)")),
        c("notify_domain", Ty("varchar(300)")),
        d("fixed_fee", Ty("decimal(10,2)"), "0.00"),
        d("percent_fee", Ty("decimal(10,2)"), "0.00"),
        c("currency", Ty("varchar(5)")),
        c("config", Ty("text")),
        d("sort", I, "1"),
        d("enable", B, "true"),
        c("created_at", I),
        c("updated_at", I),
        c("deleted_at", T),
    ],
    indexes: &[
        ux("idx_payments_uuid", &["uuid"]),
        ix("idx_payments_deleted_at", &["deleted_at"]),
    ],
    unique: &[],
    primary: &[],
};

/// Top-up orders (contract §6.2; soft-deleted).
pub static ORDERS: TableDef = TableDef {
    name: "orders",
    cols: &[
        c("id", Pk),
        c("user_id", I),
        c("gateway_id", I),
        c("trade_no", Ty("varchar(50)")),
        c("gateway_no", Ty("varchar(100)")),
        d("amount", I, "0"),
        d("order_amount", Ty("decimal(10,2)"), "0"),
        c("order_currency", Ty("varchar(16)")),
        d("quota", I, "0"),
        d("fee", Ty("decimal(10,2)"), "0"),
        d("discount", Ty("decimal(10,2)"), "0"),
        c("status", Ty("varchar(32)")),
        c("created_at", I),
        c("updated_at", I),
        c("deleted_at", T),
    ],
    indexes: &[
        ux("idx_orders_trade_no", &["trade_no"]),
        ix("idx_orders_deleted_at", &["deleted_at"]),
    ],
    unique: &[],
    primary: &[],
};

/// Every One Hub table, in creation order.
pub static TABLES: &[&TableDef] = &[
    &CHANNELS,
    &TOKENS,
    &USERS,
    &OPTIONS,
    &PRICES,
    &USER_GROUPS,
    &MODEL_OWNED_BY,
    &LOGS,
    &MIGRATIONS,
    &STATISTICS,
    &MODEL_INFO,
    &MIDJOURNEYS,
    &TASKS,
    &REDEMPTIONS,
    &PAYMENTS,
    &ORDERS,
];

/// Our own table (not One Hub's): the parts of channels the fleet has taken out of routing
/// (`hub_store::repo::health`). `model` is empty for a whole channel (then also status 3).
pub static CHANNEL_HEALTH: TableDef = TableDef {
    name: "onehub_rs_channel_health",
    cols: &[
        c("channel_id", I),
        c("model", Ty("varchar(191)")),
        c("reason", Ty("text")),
        d("since", I, "0"),
        d("next_probe", I, "0"),
        d("probes", I, "0"),
    ],
    indexes: &[],
    unique: &[],
    primary: &["channel_id", "model"],
};
