//! Pagination rules of One Hub's list endpoints (compat spec §4.0).

/// A parsed `page`/`size`/`order` triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub page: u64,
    pub size: u64,
    /// (field, descending); never empty (defaults to `id DESC`).
    pub order: Vec<(String, bool)>,
}

/// Largest row offset handed to the database: SQLite and PostgreSQL take a signed 64-bit
/// `OFFSET`, so `?page=9223372036854775807` must neither overflow nor exceed it.
pub const MAX_OFFSET: u64 = i64::MAX as u64;

impl PageParams {
    /// `(page - 1) × size`, saturating at [`MAX_OFFSET`] (a page that far is simply empty).
    pub fn offset(&self) -> u64 {
        self.page
            .saturating_sub(1)
            .saturating_mul(self.size)
            .min(MAX_OFFSET)
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
    // `max(1)` makes both values positive, so the casts below are lossless.
    let page = int("page", page)?.max(1).unsigned_abs();
    let size = int("size", size)?;
    if size > 100 {
        return Err("size 参数不能超过 100".to_owned());
    }
    let size = if size < 1 { 10 } else { size.unsigned_abs() };
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
    fn huge_pages_saturate() {
        let p = parse_page(
            Some("9223372036854775807"),
            Some("100"),
            None,
            ALLOWED,
            "-id",
        )
        .unwrap();
        assert_eq!(p.page, i64::MAX as u64);
        assert_eq!(p.offset(), MAX_OFFSET);
        let p = parse_page(Some("-9223372036854775808"), None, None, ALLOWED, "-id").unwrap();
        assert_eq!((p.page, p.offset()), (1, 0));
    }

    proptest::proptest! {
        /// Any text as `page`, `size` and `order`: an `Ok` with an offset the database accepts
        /// and a size in 1..=100, or a clear message; never a panic.
        #[test]
        fn any_input_is_ok_or_a_message(
            page in proptest::option::of(any_param()),
            size in proptest::option::of(any_param()),
            order in proptest::option::of(any_param()),
        ) {
            match parse_page(page.as_deref(), size.as_deref(), order.as_deref(), ALLOWED, "-id") {
                Ok(p) => {
                    proptest::prop_assert!(p.page >= 1);
                    proptest::prop_assert!((1..=100).contains(&p.size));
                    proptest::prop_assert!(p.offset() <= MAX_OFFSET);
                    proptest::prop_assert!(!p.order.is_empty());
                }
                Err(m) => proptest::prop_assert!(!m.is_empty()),
            }
        }
    }

    /// Integers at and around the edges of i64/u64, signs, spaces, and arbitrary text.
    fn any_param() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            Just("9223372036854775807".to_owned()),
            Just("9223372036854775808".to_owned()),
            Just("-9223372036854775808".to_owned()),
            Just(" 100 ".to_owned()),
            "[-+ 0-9]{0,25}",
            "[-,a-z_ ]{0,20}",
            ".{0,30}",
        ]
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
