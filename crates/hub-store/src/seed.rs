//! Master start-up: create One Hub's missing tables, then the seeds One Hub runs (compat §1.6).
//! Existing tables are never altered.

use hub_core::entity::{ModelOwner, UserGroup};
use tracing::info;

use crate::{Store, StoreError, schema::TABLES};

/// gormigrate ids a fresh One Hub database records, so a One Hub (Go) master opening a
/// database we created does not re-run them.
pub const FRESH_MIGRATION_IDS: &[&str] = &[
    "202405152141",
    "202411300001",
    "202408100001",
    "202408190001",
    "202410300001",
    "202411300002",
    "202504300001",
    "202510160002",
];

/// What start-up found and did.
#[derive(Debug, Clone, Default)]
pub struct SchemaReport {
    /// One Hub tables this start created (empty when the database already had them all).
    pub created: Vec<&'static str>,
    /// True when the database had no `channels` table (a brand-new database).
    pub fresh: bool,
}

impl Store {
    /// Creates the One Hub tables that do not exist. Runs no statement on existing tables.
    pub async fn ensure_schema(&self) -> Result<SchemaReport, StoreError> {
        let existing = self.tables().await?;
        let fresh = !existing.iter().any(|t| t == "channels");
        let mut created = Vec::new();
        for t in TABLES {
            if existing.iter().any(|e| e == t.name) {
                continue;
            }
            for stmt in t.create_sql(self.dialect()) {
                self.execute_raw(&stmt).await?;
            }
            created.push(t.name);
        }
        if created.contains(&"statistics") {
            self.statistics_created();
        }
        if fresh {
            for id in FRESH_MIGRATION_IDS {
                self.execute_raw_params_migration(id).await?;
            }
        }
        if !created.is_empty() {
            info!(tables = ?created, "created One Hub tables");
        }
        Ok(SchemaReport { created, fresh })
    }

    async fn execute_raw_params_migration(&self, id: &str) -> Result<(), StoreError> {
        let mut q = sea_query::Query::insert();
        q.into_table("migrations")
            .columns(["id"])
            .values([id.into()])
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.execute(&q).await?;
        Ok(())
    }

    /// Seeds One Hub's default user groups when the table is empty (migration 202410300001),
    /// honouring a legacy `GroupRatio` option.
    pub async fn seed_user_groups(&self) -> Result<(), StoreError> {
        if !self.group_all().await?.is_empty() {
            return Ok(());
        }
        let legacy: Option<serde_json::Map<String, serde_json::Value>> = self
            .option_get("GroupRatio")
            .await?
            .and_then(|v| serde_json::from_str(&v).ok());
        let groups: Vec<UserGroup> = match legacy {
            Some(map) if !map.is_empty() => map
                .into_iter()
                .map(|(symbol, ratio)| UserGroup {
                    public: symbol == "default",
                    name: symbol.clone(),
                    symbol,
                    ratio: ratio.as_f64().unwrap_or(1.0),
                    api_rate: 600,
                    enable: Some(true),
                    ..Default::default()
                })
                .collect(),
            _ => [
                ("default", "默认分组", true),
                ("vip", "vip分组", false),
                ("svip", "svip分组", false),
            ]
            .into_iter()
            .map(|(symbol, name, public)| UserGroup {
                symbol: symbol.to_owned(),
                name: name.to_owned(),
                ratio: 1.0,
                api_rate: 600,
                public,
                enable: Some(true),
                ..Default::default()
            })
            .collect(),
        };
        for g in &groups {
            self.group_insert(g).await?;
        }
        info!(count = groups.len(), "seeded user groups");
        Ok(())
    }

    /// Inserts the missing default model owners (run at every master start, like One Hub).
    pub async fn seed_model_owners(&self, defaults: &[ModelOwner]) -> Result<usize, StoreError> {
        let have: Vec<i64> = self.owner_all().await?.into_iter().map(|o| o.id).collect();
        let mut n = 0;
        for o in defaults.iter().filter(|o| !have.contains(&o.id)) {
            self.owner_insert(o).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Sets `OldTokenMaxId` to the largest token id when the option is missing.
    pub async fn seed_old_token_max_id(&self) -> Result<(), StoreError> {
        if self.option_get("OldTokenMaxId").await?.is_none() {
            let max = self.token_max_id().await?;
            self.option_upsert("OldTokenMaxId", &max.to_string())
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Everything the routing snapshot is built from, read in one go.
    pub async fn config_rows(&self) -> Result<hub_core::snapshot::ConfigRows, StoreError> {
        Ok(hub_core::snapshot::ConfigRows {
            channels: self.channel_all().await?,
            groups: self.group_all().await?,
            prices: self.price_all().await?,
            owners: self.owner_all().await?,
            options: self.option_all().await?,
            // A node next to a One Hub (Go) master that may not create our table routes
            // without health rows rather than not at all.
            health: match self.health_rows().await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the channel-health table; routing without it");
                    Vec::new()
                }
            },
        })
    }
}

impl Store {
    /// Creates the monthly-invoice tables when missing (`USER_INVOICE_MONTH` on, at start-up),
    /// as One Hub's master does only with that setting.
    pub async fn ensure_invoice_tables(&self) -> Result<Vec<&'static str>, StoreError> {
        use crate::schema::{STATISTICS_MONTH_HISTORIES, STATISTICS_MONTHS};
        let existing = self.tables().await?;
        let mut created = Vec::new();
        for t in [&STATISTICS_MONTHS, &STATISTICS_MONTH_HISTORIES] {
            if existing.iter().any(|e| e == t.name) {
                continue;
            }
            for stmt in t.create_sql(self.dialect()) {
                self.execute_raw(&stmt).await?;
            }
            created.push(t.name);
        }
        if !created.is_empty() {
            info!(tables = ?created, "created the monthly invoice tables");
        }
        Ok(created)
    }
}
