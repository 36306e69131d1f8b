use super::*;

#[test]
fn trigger_sql_covers_every_table_per_dialect() {
    for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
        let t = trigger_sql(d);
        for table in CONFIG_TABLES.iter().chain(["tokens", "users"].iter()) {
            assert!(
                t.iter()
                    .any(|(_, s)| s.contains(&format!(" ON {}", q(d, table)))),
                "{d:?} {table}"
            );
        }
        for watched in ["onehub_rs_tokens_upd", "onehub_rs_channels_upd"] {
            let sql = t
                .iter()
                .find(|(n, _)| n == watched)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            assert!(
                !sql.contains("remain_quota") && !sql.contains("used_quota"),
                "quota use is not a change: {sql}"
            );
            assert!(sql.contains("status"), "{sql}");
        }
    }
}

/// Every column of a watched table is either watched or named in its usage list, the usage
/// lists name real columns, and every watched column appears in each dialect's trigger.
#[test]
fn every_column_but_the_usage_columns_is_watched() {
    for w in WATCHES {
        for u in w.usage {
            assert!(
                w.table.has_column(u),
                "{}.{u} is not a column",
                w.table.name
            );
        }
        let Some(watched) = w.watched() else {
            assert!(w.usage.is_empty());
            continue;
        };
        for col in w.table.columns() {
            assert!(
                watched.contains(&col) != w.usage.contains(&col),
                "{}.{col} must be watched or named a usage column, not both",
                w.table.name
            );
        }
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let upd = watch_sql(d, w)
                .into_iter()
                .find(|(n, _)| n.ends_with("_upd"))
                .map(|(_, s)| s)
                .unwrap_or_default();
            for col in w.table.columns() {
                let old = format!("OLD.{}", q(d, col));
                assert_eq!(
                    upd.contains(&old),
                    !w.usage.contains(&col),
                    "{d:?} {}.{col}: {upd}",
                    w.table.name
                );
            }
        }
    }
    let config: Vec<_> = WATCHES
        .iter()
        .filter(|w| w.inserts)
        .map(|w| w.table.name)
        .collect();
    assert_eq!(config, CONFIG_TABLES);
}

/// A column added to the schema description is watched with no other edit.
#[test]
fn a_column_added_to_the_description_is_watched() {
    #![expect(clippy::unwrap_used, reason = "test")]
    let mut cols = CHANNELS.cols.to_vec();
    cols.push(crate::schema::Col {
        name: "added_later",
        class: crate::schema::Class::S,
        default: None,
        not_null: false,
    });
    let table: &'static TableDef = Box::leak(Box::new(TableDef {
        cols: Box::leak(cols.into_boxed_slice()),
        ..CHANNELS
    }));
    let w = Watch {
        table,
        inserts: true,
        usage: CHANNEL_USAGE_COLUMNS,
    };
    assert!(w.watched().unwrap().contains(&"added_later"));
    let sql = watch_sql(Dialect::Postgres, &w);
    assert!(sql[1].1.contains("OLD.\"added_later\""), "{}", sql[1].1);
}

#[test]
fn privilege_codes_are_error_numbers_not_sqlstate_categories() {
    for n in [1142, 1419, 1227, 1044] {
        assert!(is_privilege_code(ErrCode::MySql(n)), "{n}");
    }
    // Lock-wait timeout (HY000), deadlock, syntax error (42000), table missing.
    for n in [1205, 1213, 1064, 1146] {
        assert!(!is_privilege_code(ErrCode::MySql(n)), "{n}");
    }
    assert!(is_privilege_code(ErrCode::Postgres("42501")));
    for state in ["HY000", "42000", "40P01", "55P03"] {
        assert!(!is_privilege_code(ErrCode::Postgres(state)), "{state}");
    }
    assert!(!is_privilege_code(ErrCode::Other));
    assert!(!is_privilege_error(&sqlx::Error::PoolTimedOut));
}

mod mysql {
    //! Real MySQL/MariaDB (`TEST_MYSQL_URL`): a user without the TRIGGER privilege gets the
    //! content check; a lock-wait timeout (SQLSTATE HY000) is an error, not a privilege problem.

    #![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use sqlx::{Connection, Executor, MySqlConnection};

    use super::*;
    use crate::{DbTarget, PoolConfig};

    fn admin_url() -> Option<String> {
        match std::env::var("TEST_MYSQL_URL") {
            Ok(u) if !u.trim().is_empty() => Some(u),
            _ => {
                eprintln!("NOTE: TEST_MYSQL_URL is not set; the MySQL feed tests did not run");
                None
            }
        }
    }

    /// `url` with its credentials and database replaced.
    fn url_for(url: &str, user: &str, password: &str, db: &str) -> String {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let (authority, query) = match rest.split_once('/') {
            Some((a, path)) => (a, path.split_once('?').map(|(_, q)| q)),
            None => (rest, None),
        };
        let host = authority
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(authority);
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        format!("mysql://{user}:{password}@{host}/{db}{query}")
    }

    /// A fresh database with One Hub's schema (no feed yet), dropped by [`Fresh::drop`].
    struct Fresh {
        admin: MySqlConnection,
        name: String,
        url: String,
    }

    impl Fresh {
        async fn create(admin_url: &str) -> Fresh {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            let name = format!("onehub_feed_{}_{nanos:08x}", std::process::id());
            let mut admin = MySqlConnection::connect(admin_url).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
                .await
                .unwrap();
            let url = replace_db(admin_url, &name);
            let store = Store::builder(
                &DbTarget::MySql { url: url.clone() },
                &PoolConfig::default(),
            )
            .open()
            .await
            .unwrap();
            store.ensure_schema().await.unwrap();
            store.close().await;
            Fresh { admin, name, url }
        }

        async fn exec(&mut self, sql: String) {
            self.admin.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        }

        async fn drop(mut self) {
            let name = self.name.clone();
            self.exec(format!("DROP DATABASE IF EXISTS `{name}`")).await;
        }
    }

    fn replace_db(url: &str, db: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url, String::new()),
        };
        let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
        let base = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        format!("{base}/{db}{query}")
    }

    #[tokio::test]
    async fn a_user_without_the_trigger_privilege_gets_the_content_check() {
        let Some(admin_url) = admin_url() else { return };
        let mut db = Fresh::create(&admin_url).await;
        let user = db.name.clone();
        db.exec(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'"
        ))
        .await;
        db.exec(format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON `{user}`.* TO '{user}'@'%'"
        ))
        .await;
        let limited = Store::builder(
            &DbTarget::MySql {
                url: url_for(&admin_url, &user, &format!("pw-{user}"), &user),
            },
            &PoolConfig::default(),
        )
        .open()
        .await
        .unwrap();
        // The error itself is classified by its number.
        let err = match limited.try_install_feed().await {
            Err(StoreError::Db(e)) => e,
            other => panic!("installing the feed without privileges: {other:?}"),
        };
        assert_eq!(err_code(&err), ErrCode::MySql(1142), "{err}");
        assert!(is_privilege_error(&err), "{err}");
        let mode = limited.install_change_feed().await.unwrap();
        assert!(
            matches!(&mode, FeedMode::ContentCheck { reason } if reason.contains("cannot install")),
            "{mode:?}"
        );
        limited.close().await;
        db.exec(format!("DROP USER '{user}'@'%'")).await;
        db.drop().await;
    }

    #[tokio::test]
    async fn a_lock_wait_timeout_is_an_error_not_a_missing_privilege() {
        let Some(admin_url) = admin_url() else { return };
        let db = Fresh::create(&admin_url).await;
        // One pooled connection whose metadata-lock wait is one second.
        let store = Store::builder(
            &DbTarget::MySql {
                url: db.url.clone(),
            },
            &PoolConfig {
                max_open: 1,
                ..PoolConfig::default()
            },
        )
        .open()
        .await
        .unwrap();
        if let Pool::MySql(p) = &store.pool {
            p.execute("SET SESSION lock_wait_timeout = 1")
                .await
                .unwrap();
        }
        // Another session reads `channels` in an open transaction: it holds a metadata lock
        // that CREATE TRIGGER on `channels` must wait for.
        let mut reader = MySqlConnection::connect(&db.url).await.unwrap();
        reader.execute("BEGIN").await.unwrap();
        reader
            .execute("SELECT COUNT(*) FROM channels")
            .await
            .unwrap();
        let err = match store.try_install_feed().await {
            Err(StoreError::Db(e)) => e,
            other => panic!("installing the feed under a held lock: {other:?}"),
        };
        assert_eq!(err_code(&err), ErrCode::MySql(1205), "{err}");
        assert!(!is_privilege_error(&err), "{err}");
        // The node reports the failure (and retries); it does not fall back to content checks.
        let res = store.install_change_feed().await;
        assert!(res.is_err(), "{res:?}");
        reader.execute("COMMIT").await.unwrap();
        assert_eq!(
            store.install_change_feed().await.unwrap(),
            FeedMode::Triggers
        );
        store.close().await;
        drop(reader);
        db.drop().await;
    }
}
