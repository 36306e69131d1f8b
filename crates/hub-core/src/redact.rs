//! Redaction of credentials in URLs (database DSNs, Redis URLs, channel proxies) before they go
//! to a log or an error message.

/// `scheme://user:***@host/path` — the password and the query string are removed. A string that
/// is not a URL becomes `<url>`.
pub fn url(u: &str) -> String {
    let Some((scheme, rest)) = u.split_once("://") else {
        return "<url>".to_owned();
    };
    let rest = match rest.rfind('@') {
        Some(at) => {
            let (cred, host) = rest.split_at(at);
            let user = cred.split(':').next().unwrap_or_default();
            format!("{user}:***{host}")
        }
        None => rest.to_owned(),
    };
    let rest = rest.split('?').next().unwrap_or_default();
    format!("{scheme}://{rest}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hides_passwords_and_queries() {
        assert_eq!(
            super::url("postgres://u:hunter2@h:5432/db?sslmode=x"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            super::url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(super::url("socks5://h:1080"), "socks5://h:1080");
        assert_eq!(super::url("not a url secret"), "<url>");
    }
}
