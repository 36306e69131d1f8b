//! One Hub's schema (compat spec §1), described once and rendered per dialect the way GORM's
//! AutoMigrate renders it.
//!
//! The master creates the tables that do not exist yet. Tables that exist — for example
//! because One Hub (Go) created them — are never altered: no DDL of any kind touches them.

mod tables;

pub use tables::{
    CHANNEL_HEALTH, CHANNELS, LOGS, MIDJOURNEYS, MIGRATIONS, MODEL_INFO, MODEL_OWNED_BY, OPTIONS,
    ORDERS, PAYMENTS, PRICES, REDEMPTIONS, STATISTICS, STATISTICS_MONTH_HISTORIES,
    STATISTICS_MONTHS, TABLES, TASKS, TOKENS, USER_GROUPS, USERS,
};

use crate::Dialect;

/// GORM's type classes (compat spec §1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `Id int` primary key.
    Pk,
    /// int / int64 / `type:int`.
    I,
    /// uint.
    U,
    /// bool.
    B,
    /// float64.
    F,
    /// Plain string.
    S,
    /// String with a default, index, unique or primary key (varchar(191) on MySQL).
    SKey,
    /// datatypes JSON.
    J,
    /// gorm.DeletedAt.
    T,
    /// An explicit `type:` tag, used verbatim in every dialect.
    Ty(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub name: &'static str,
    pub class: Class,
    pub default: Option<&'static str>,
    pub not_null: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Index {
    pub name: &'static str,
    pub cols: &'static [&'static str],
    pub unique: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub name: &'static str,
    pub cols: &'static [Col],
    pub indexes: &'static [Index],
    /// `(constraint name, column)` UNIQUE constraints (GORM's `unique` tag).
    pub unique: &'static [(&'static str, &'static str)],
    /// Non-`Pk` primary key columns (options.key, migrations.id; several for a composite key,
    /// as `statistics` has).
    pub primary: &'static [&'static str],
}

impl Class {
    pub fn sql(self, d: Dialect) -> &'static str {
        use Dialect::*;
        match (self, d) {
            (Class::Pk, Sqlite) => "integer PRIMARY KEY AUTOINCREMENT",
            (Class::Pk, MySql) => "bigint AUTO_INCREMENT",
            (Class::Pk, Postgres) => "bigserial",
            (Class::I, Sqlite) | (Class::U, Sqlite) => "integer",
            (Class::I, _) | (Class::U, Postgres) => "bigint",
            (Class::U, MySql) => "bigint unsigned",
            (Class::B, Sqlite) => "numeric",
            (Class::B, _) => "boolean",
            (Class::F, Sqlite) => "real",
            (Class::F, MySql) => "double",
            (Class::F, Postgres) => "decimal",
            (Class::S, MySql) => "longtext",
            (Class::S, _) | (Class::SKey, Sqlite) | (Class::SKey, Postgres) => "text",
            (Class::SKey, MySql) => "varchar(191)",
            (Class::J, Postgres) => "JSONB",
            (Class::J, _) => "JSON",
            (Class::T, Sqlite) => "datetime",
            (Class::T, MySql) => "datetime(3) NULL",
            (Class::T, Postgres) => "timestamptz",
            // PostgreSQL has no `datetime` (One Hub's invoice table declares it).
            (Class::Ty("datetime"), Postgres) => "date",
            (Class::Ty(t), _) => t,
        }
    }
}

fn quote(d: Dialect, ident: &str) -> String {
    match d {
        Dialect::MySql | Dialect::Sqlite => format!("`{ident}`"),
        Dialect::Postgres => format!("\"{ident}\""),
    }
}

impl TableDef {
    /// Every column name, in schema order. Repositories and the change feed take their column
    /// lists from here (sea-query takes a `&'static str` as an identifier), so a column added
    /// to the description is selected and watched without another edit.
    pub fn columns(&self) -> impl Iterator<Item = &'static str> + Clone + use<> {
        let cols: &'static [Col] = self.cols;
        cols.iter().map(|c| c.name)
    }

    /// Every column except those named in `skip`, in schema order.
    pub fn columns_except(
        &self,
        skip: &'static [&'static str],
    ) -> impl Iterator<Item = &'static str> + Clone + use<> {
        self.columns().filter(move |c| !skip.contains(c))
    }

    /// True when the description has a column `name`.
    pub fn has_column(&self, name: &str) -> bool {
        self.cols.iter().any(|c| c.name == name)
    }

    /// The statements that create this table and its indexes in `d`.
    pub fn create_sql(&self, d: Dialect) -> Vec<String> {
        let q = |s: &str| quote(d, s);
        let mut parts: Vec<String> = self
            .cols
            .iter()
            .map(|c| {
                let mut s = format!("{} {}", q(c.name), c.class.sql(d));
                if c.not_null {
                    s.push_str(" NOT NULL");
                }
                if let Some(def) = c.default {
                    s.push_str(" DEFAULT ");
                    s.push_str(def);
                }
                s
            })
            .collect();
        let pk: Vec<&str> = match self.cols.iter().find(|c| c.class == Class::Pk) {
            // SQLite declares an integer key on its column (`PRIMARY KEY AUTOINCREMENT`).
            Some(_) if d == Dialect::Sqlite => Vec::new(),
            Some(c) => vec![c.name],
            None => self.primary.to_vec(),
        };
        if !pk.is_empty() {
            let cols: Vec<String> = pk.iter().map(|c| q(c)).collect();
            parts.push(format!("PRIMARY KEY ({})", cols.join(",")));
        }
        for (name, col) in self.unique {
            parts.push(format!("CONSTRAINT {} UNIQUE ({})", q(name), q(col)));
        }
        let idx_cols = |ix: &Index| ix.cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(",");
        if d == Dialect::MySql {
            for ix in self.indexes {
                let kind = if ix.unique { "UNIQUE INDEX" } else { "INDEX" };
                parts.push(format!("{kind} {} ({})", q(ix.name), idx_cols(ix)));
            }
        }
        let mut out = vec![format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            q(self.name),
            parts.join(",")
        )];
        if d != Dialect::MySql {
            for ix in self.indexes {
                let kind = if ix.unique { "UNIQUE INDEX" } else { "INDEX" };
                out.push(format!(
                    "CREATE {kind} IF NOT EXISTS {} ON {}({})",
                    q(ix.name),
                    q(self.name),
                    idx_cols(ix)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_dialect() {
        let users = TABLES
            .iter()
            .find(|t| t.name == "users")
            .map(|t| t.create_sql(Dialect::MySql));
        let users = users.unwrap_or_default();
        assert!(users[0].contains("`username` varchar(191)"), "{}", users[0]);
        assert!(users[0].contains("`password` longtext NOT NULL"));
        assert!(users[0].contains("CONSTRAINT `uni_users_username` UNIQUE (`username`)"));
        assert!(users[0].contains("UNIQUE INDEX `idx_users_access_token` (`access_token`)"));
        let ch = TABLES
            .iter()
            .find(|t| t.name == "channels")
            .map(|t| t.create_sql(Dialect::Postgres));
        let ch = ch.unwrap_or_default();
        assert!(ch[0].contains("\"balance\" decimal"));
        assert!(ch[0].contains("\"id\" bigserial"));
        assert!(ch[0].contains("PRIMARY KEY (\"id\")"));
        assert!(
            ch.iter()
                .any(|s| s.contains("\"idx_channels_name\" ON \"channels\"(\"name\")"))
        );
        let ch = TABLES
            .iter()
            .find(|t| t.name == "channels")
            .map(|t| t.create_sql(Dialect::Sqlite));
        let ch = ch.unwrap_or_default();
        assert!(ch[0].contains("`id` integer PRIMARY KEY AUTOINCREMENT"));
        assert!(!ch[0].contains("PRIMARY KEY (`id`)"));
    }
}
