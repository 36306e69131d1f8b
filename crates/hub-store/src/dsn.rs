//! `SQL_DSN` → database target, with One Hub's three forms (compat spec §6).

use std::path::PathBuf;

/// Which database a node talks to, parsed from `SQL_DSN` / `SQLITE_PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Sqlite {
        path: PathBuf,
        busy_timeout_ms: u64,
    },
    /// A `postgres://` URL as given.
    Postgres {
        url: String,
    },
    /// A `mysql://` URL (converted from the go-sql-driver form when needed).
    MySql {
        url: String,
    },
}

impl DbTarget {
    pub fn dialect_name(&self) -> &'static str {
        match self {
            DbTarget::Sqlite { .. } => "sqlite",
            DbTarget::Postgres { .. } => "postgres",
            DbTarget::MySql { .. } => "mysql",
        }
    }

    /// A description safe for logs: no password.
    pub fn redacted(&self) -> String {
        match self {
            DbTarget::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            DbTarget::Postgres { url } | DbTarget::MySql { url } => hub_core::redact::url(url),
        }
    }
}

/// Parses `SQL_DSN`. Empty → SQLite at `sqlite_path`.
pub fn parse_dsn(dsn: &str, sqlite_path: &str, busy_timeout_ms: u64) -> Result<DbTarget, String> {
    let dsn = dsn.trim();
    if dsn.is_empty() {
        let path = sqlite_path.trim();
        if path.is_empty() {
            return Err("SQLITE_PATH must not be empty".to_owned());
        }
        return Ok(DbTarget::Sqlite {
            path: PathBuf::from(path),
            busy_timeout_ms,
        });
    }
    if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
        return Ok(DbTarget::Postgres {
            url: dsn.to_owned(),
        });
    }
    if dsn.starts_with("mysql://") || dsn.starts_with("mariadb://") {
        return Ok(DbTarget::MySql {
            url: dsn.replacen("mariadb://", "mysql://", 1),
        });
    }
    go_mysql_to_url(dsn).map(|url| DbTarget::MySql { url })
}

/// Converts go-sql-driver's `[user[:pass]@][net[(addr)]]/db[?k=v&…]` to a `mysql://` URL.
fn go_mysql_to_url(dsn: &str) -> Result<String, String> {
    const FORM: &str = "expected postgres://…, mysql://… or user:pass@tcp(host:port)/db";
    let (main, params) = match dsn.split_once('?') {
        Some((m, p)) => (m, p),
        None => (dsn, ""),
    };
    let slash = main
        .rfind('/')
        .ok_or_else(|| format!("SQL_DSN has no '/dbname' part ({FORM})"))?;
    let (before, db) = (&main[..slash], &main[slash + 1..]);
    let (cred, netaddr) = match before.rfind('@') {
        Some(at) => (&before[..at], &before[at + 1..]),
        None => ("", before),
    };
    let (user, pass) = match cred.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (cred, None),
    };
    let (net, addr) = match netaddr.find('(') {
        Some(open) => {
            let close = netaddr
                .rfind(')')
                .ok_or_else(|| format!("SQL_DSN has an unclosed '(' ({FORM})"))?;
            (&netaddr[..open], &netaddr[open + 1..close])
        }
        None => (netaddr, ""),
    };
    let mut query: Vec<String> = Vec::new();
    let host = match net {
        "" | "tcp" | "tcp6" => {
            if addr.is_empty() {
                "127.0.0.1:3306".to_owned()
            } else {
                addr.to_owned()
            }
        }
        "unix" => {
            query.push(format!(
                "socket={}",
                pct(if addr.is_empty() {
                    "/tmp/mysql.sock"
                } else {
                    addr
                })
            ));
            "localhost".to_owned()
        }
        other => {
            return Err(format!(
                "SQL_DSN network '{other}' is not supported ({FORM})"
            ));
        }
    };
    for kv in params.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "charset" => {
                if let Some(first) = v.split(',').next() {
                    query.push(format!("charset={first}"));
                }
            }
            "tls" => match v {
                "true" => query.push("ssl-mode=verify_identity".to_owned()),
                "skip-verify" => query.push("ssl-mode=required".to_owned()),
                "preferred" => query.push("ssl-mode=preferred".to_owned()),
                "false" => query.push("ssl-mode=disabled".to_owned()),
                _ => {}
            },
            // parseTime, loc, timeout, collation…: Go driver knobs with no meaning here.
            _ => {}
        }
    }
    let auth = match (user.is_empty(), pass) {
        (true, _) => String::new(),
        (false, None) => format!("{}@", pct(user)),
        (false, Some(p)) => format!("{}:{}@", pct(user), pct(p)),
    };
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    Ok(format!("mysql://{auth}{host}/{}{q}", pct(db)))
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            parse_dsn("", "one-api.db", 3000).unwrap(),
            DbTarget::Sqlite {
                path: "one-api.db".into(),
                busy_timeout_ms: 3000
            }
        );
        assert_eq!(
            parse_dsn("postgres://u:p@h:5432/db?sslmode=disable", "", 0).unwrap(),
            DbTarget::Postgres {
                url: "postgres://u:p@h:5432/db?sslmode=disable".into()
            }
        );
        assert_eq!(
            parse_dsn(
                "root:123456@tcp(localhost:3306)/oneapi?charset=utf8mb4&parseTime=True&loc=Local",
                "",
                0
            )
            .unwrap(),
            DbTarget::MySql {
                url: "mysql://root:123456@localhost:3306/oneapi?charset=utf8mb4".into()
            }
        );
        assert_eq!(
            parse_dsn("root@tcp(db:3307)/x", "", 0).unwrap(),
            DbTarget::MySql {
                url: "mysql://root@db:3307/x".into()
            }
        );
        assert_eq!(
            parse_dsn("/oneapi", "", 0).unwrap(),
            DbTarget::MySql {
                url: "mysql://127.0.0.1:3306/oneapi".into()
            }
        );
        // Password with '@' and ':' — credentials end at the last '@'.
        assert_eq!(
            parse_dsn("u:p@ss:w@tcp(h:1)/d", "", 0).unwrap(),
            DbTarget::MySql {
                url: "mysql://u:p%40ss%3Aw@h:1/d".into()
            }
        );
        assert_eq!(
            parse_dsn("u:p@unix(/run/mysqld/mysqld.sock)/d", "", 0).unwrap(),
            DbTarget::MySql {
                url: "mysql://u:p@localhost/d?socket=/run/mysqld/mysqld.sock".into()
            }
        );
        assert!(parse_dsn("garbage", "", 0).is_err());
        assert!(parse_dsn("u@pipe(x)/d", "", 0).is_err());
    }

    #[test]
    fn redaction_hides_password() {
        let t = parse_dsn("postgres://user:hunter2@h/db", "", 0).unwrap();
        assert_eq!(t.redacted(), "postgres://user:***@h/db");
        assert!(!t.redacted().contains("hunter2"));
    }
}
