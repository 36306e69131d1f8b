//! Start-up of a node's data: the master creates missing tables and runs One Hub's seeds,
//! including a safe root bootstrap; a slave only checks the schema is there (it runs no DDL).

use std::path::{Path, PathBuf};

use hub_core::{
    channel_types::default_owners,
    entity::User,
    pricing::list::{SyncMode, default_prices, plan_sync},
    role::ROLE_ROOT,
};
use hub_store::{Store, StoreError};
use tracing::{info, warn};

use crate::api::{hash_password, new_access_token, random_alnum};

/// File the generated root password is written to, beside the database.
pub const ROOT_PASSWORD_FILE: &str = "initial-root-password";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot hash the initial root password")]
    Hash,
}

/// How to create the root user on a brand-new database.
#[derive(Debug, Clone, Default)]
pub struct RootSeed {
    /// `INITIAL_ROOT_PASSWORD`; generated when `None`.
    pub password: Option<String>,
    /// `INITIAL_ROOT_ACCESS_TOKEN`; random when `None`.
    pub access_token: Option<String>,
    /// Directory for [`ROOT_PASSWORD_FILE`] (the SQLite file's directory, or the working directory).
    pub dir: PathBuf,
}

/// When the master seeds One Hub's built-in price list (`AUTO_PRICE_UPDATES`,
/// `AUTO_PRICE_UPDATES_MODE`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PriceSeed {
    pub auto_updates: bool,
    pub mode: SyncMode,
}

/// What the master did at start-up.
#[derive(Debug, Clone, Default)]
pub struct BootstrapReport {
    pub created_tables: Vec<&'static str>,
    /// Set when a root user was created; the path holds the generated password, if any.
    pub root_created: bool,
    pub password_file: Option<PathBuf>,
}

/// Master start-up.
pub async fn init_master(
    store: &Store,
    root: &RootSeed,
    prices: &PriceSeed,
) -> Result<BootstrapReport, BootstrapError> {
    let schema = store.ensure_schema().await?;
    store.ensure_session_table().await?;
    store.ensure_account_codes_table().await?;
    store.ensure_nodes_table().await?;
    store.ensure_health_table().await?;
    store.seed_user_groups().await?;
    store.seed_old_token_max_id().await?;
    let added = store.seed_model_owners(&default_owners()).await?;
    if added > 0 {
        info!(added, "seeded model owners");
    }
    let added = seed_prices(store, prices).await?;
    if added > 0 {
        info!(added, "seeded prices from the built-in list");
    }
    let mut report = BootstrapReport {
        created_tables: schema.created,
        ..Default::default()
    };
    if store.user_count().await? == 0 {
        report.password_file = create_root(store, root).await?;
        report.root_created = true;
    }
    Ok(report)
}

/// One Hub's start-up price seed: in `system` mode, when the table is empty or automatic
/// updates are on, the built-in list's models that the table lacks are inserted (locked and
/// existing rows are never touched). Returns how many were inserted.
pub async fn seed_prices(store: &Store, seed: &PriceSeed) -> Result<usize, StoreError> {
    if seed.mode != SyncMode::System {
        return Ok(0);
    }
    let current = store.price_locks().await?;
    if !seed.auto_updates && !current.is_empty() {
        return Ok(0);
    }
    let plan = plan_sync(&current, default_prices(), SyncMode::System);
    store.price_apply_sync(&plan).await?;
    Ok(plan.insert.len())
}

async fn create_root(store: &Store, seed: &RootSeed) -> Result<Option<PathBuf>, BootstrapError> {
    let (password, generated) = match &seed.password {
        Some(p) => (p.clone(), false),
        None => (random_alnum(20), true),
    };
    let file = if generated {
        let path = seed.dir.join(ROOT_PASSWORD_FILE);
        write_secret_file(&path, &format!("{password}\n"))?;
        Some(path)
    } else {
        None
    };
    let hash = hash_password(password)
        .await
        .map_err(|_| BootstrapError::Hash)?;
    let user = User {
        username: "root".to_owned(),
        password: hash,
        display_name: "Root User".to_owned(),
        role: ROLE_ROOT,
        status: 1,
        access_token: seed.access_token.clone().unwrap_or_else(new_access_token),
        quota: 100_000_000,
        group: "default".to_owned(),
        aff_code: random_alnum(4),
        created_time: hub_store::now_unix(),
        ..Default::default()
    };
    store.user_insert(&user).await?;
    match &file {
        Some(path) => warn!(
            path = %path.display(),
            "created the root user with a generated password; read it from this file, log in as 'root', then change it and delete the file"
        ),
        None => info!("created the root user with the password from INITIAL_ROOT_PASSWORD"),
    }
    Ok(file)
}

/// Writes `content` to `path` readable only by the owner (0600 on Unix).
pub fn write_secret_file(path: &Path, content: &str) -> Result<(), BootstrapError> {
    use std::io::Write;
    let io = |source| BootstrapError::Io {
        path: path.to_owned(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    f.write_all(content.as_bytes()).map_err(io)
}
