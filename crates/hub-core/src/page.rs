//! Pagination rules of One Hub's list endpoints (compat spec §4.0).

/// A parsed `page`/`size`/`order` triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub page: u64,
    pub size: u64,
    /// (field, descending); never empty (defaults to `id DESC`).
    pub order: Vec<(String, bool)>,
}

impl PageParams {
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.size
    }
}

/// Parses the raw query values. `allowed` is the endpoint's sortable fields;
/// `default_order` is used when `order` is absent.
pub fn parse_page(
    page: Option<&str>,
    size: Option<&str>,
    order: Option<&str>,
    allowed: &[&str],
    default_order: &str,
) -> Result<PageParams, String> {
    let int = |name: &str, v: Option<&str>| -> Result<i64, String> {
        match v.map(str::trim) {
            None | Some("") => Ok(0),
            Some(s) => s
                .parse::<i64>()
                .map_err(|_| format!("参数 {name} 无效：应为整数，收到 '{s}'")),
        }
    };
    let page = int("page", page)?.max(1) as u64;
    let size = int("size", size)?;
    if size > 100 {
        return Err("size 参数不能超过 100".to_owned());
    }
    let size = if size < 1 { 10 } else { size as u64 };
    let spec = match order.map(str::trim) {
        None | Some("") => default_order,
        Some(s) => s,
    };
    let mut fields = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|x| !x.is_empty()) {
        let (name, desc) = match item.strip_prefix('-') {
            Some(n) => (n, true),
            None => (item, false),
        };
        if !allowed.contains(&name) {
            return Err(format!("不允许对字段 '{name}' 进行排序"));
        }
        fields.push((name.to_owned(), desc));
    }
    if fields.is_empty() {
        fields.push(("id".to_owned(), true));
    }
    Ok(PageParams {
        page,
        size,
        order: fields,
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const ALLOWED: &[&str] = &["id", "name"];

    #[test]
    fn defaults_and_clamps() {
        let p = parse_page(None, None, None, ALLOWED, "-id").unwrap();
        assert_eq!((p.page, p.size), (1, 10));
        assert_eq!(p.order, vec![("id".to_owned(), true)]);
        let p = parse_page(Some("0"), Some("-5"), Some("name,-id"), ALLOWED, "-id").unwrap();
        assert_eq!((p.page, p.size), (1, 10));
        assert_eq!(
            p.order,
            vec![("name".to_owned(), false), ("id".to_owned(), true)]
        );
        assert_eq!(
            parse_page(Some("3"), Some("20"), None, ALLOWED, "-id")
                .unwrap()
                .offset(),
            40
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_page(None, Some("101"), None, ALLOWED, "-id").unwrap_err(),
            "size 参数不能超过 100"
        );
        assert_eq!(
            parse_page(None, None, Some("password"), ALLOWED, "-id").unwrap_err(),
            "不允许对字段 'password' 进行排序"
        );
        assert!(
            parse_page(Some("x"), None, None, ALLOWED, "-id")
                .unwrap_err()
                .contains("page")
        );
    }
}
