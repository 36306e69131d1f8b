//! Reads the live schema back (tables, columns, indexes). Used at start-up to decide which
//! tables to create, and by tests to prove the schema matches One Hub's and that opening a
//! One Hub database changes nothing.

use crate::{Dialect, Store, StoreError};

/// One column as the database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// Lower-cased type as reported (e.g. `bigint`, `varchar(191)`, `numeric`, `jsonb`).
    pub data_type: String,
    /// Raw default expression, "" when none.
    pub default: String,
    pub nullable: bool,
}

/// One index: name, uniqueness and column list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexInfo {
    pub name: String,
    pub unique: bool,
    pub columns: Vec<String>,
}

impl Store {
    /// Names of the tables in the current database/schema.
    pub async fn tables(&self) -> Result<Vec<String>, StoreError> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            }
            Dialect::Postgres => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()"
            }
            Dialect::MySql => {
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            }
        };
        let mut v: Vec<String> = self
            .query_strings(sql, &[], 1)
            .await?
            .into_iter()
            .flatten()
            .collect();
        v.sort();
        Ok(v)
    }

    pub async fn columns(&self, table: &str) -> Result<Vec<ColumnInfo>, StoreError> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT name, type, COALESCE(dflt_value, ''), CASE WHEN \"notnull\" = 0 THEN 'YES' ELSE 'NO' END \
                 FROM pragma_table_info(?) ORDER BY cid"
            }
            Dialect::Postgres => {
                "SELECT column_name::text, CASE WHEN character_maximum_length IS NOT NULL \
                 THEN data_type || '(' || character_maximum_length || ')' ELSE data_type::text END, \
                 COALESCE(column_default, '')::text, is_nullable::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
            }
            Dialect::MySql => {
                "SELECT column_name, column_type, COALESCE(column_default, ''), is_nullable \
                 FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? \
                 ORDER BY ordinal_position"
            }
        };
        let rows = self.query_strings(sql, &[table], 4).await?;
        Ok(rows
            .into_iter()
            .map(|r| ColumnInfo {
                name: r[0].clone(),
                data_type: r[1].to_lowercase(),
                default: r[2].clone(),
                nullable: r[3].eq_ignore_ascii_case("YES"),
            })
            .collect())
    }

    pub async fn indexes(&self, table: &str) -> Result<Vec<IndexInfo>, StoreError> {
        let (sql, unique_when) = match self.dialect() {
            Dialect::Sqlite => (
                "SELECT il.name AS index_name, CAST(il.\"unique\" AS TEXT) AS is_unique, ii.name AS column_name FROM pragma_index_list(?) il, \
                 pragma_index_info(il.name) ii ORDER BY il.name, ii.seqno",
                "1",
            ),
            Dialect::Postgres => (
                "SELECT i.relname::text, CASE WHEN ix.indisunique THEN '1' ELSE '0' END, a.attname::text \
                 FROM pg_class t JOIN pg_index ix ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid \
                 JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                 WHERE t.relname = $1 AND t.relnamespace = current_schema()::regnamespace ORDER BY i.relname, k.ord",
                "1",
            ),
            Dialect::MySql => (
                "SELECT index_name, CAST(non_unique AS CHAR), column_name FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name = ? ORDER BY index_name, seq_in_index",
                "0",
            ),
        };
        let rows = self.query_strings(sql, &[table], 3).await?;
        let mut out: Vec<IndexInfo> = Vec::new();
        for r in rows {
            match out.last_mut() {
                Some(last) if last.name == r[0] => last.columns.push(r[2].clone()),
                _ => out.push(IndexInfo {
                    name: r[0].clone(),
                    unique: r[1] == unique_when,
                    columns: vec![r[2].clone()],
                }),
            }
        }
        out.sort();
        Ok(out)
    }
}
