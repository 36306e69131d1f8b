//! Whole price lists (admin-API contract §4): One Hub's built-in default list, the price-list
//! document of the update service, and what syncing a list in each mode does to the table.

use std::{
    collections::{BTreeMap, BTreeSet},
    str::FromStr,
    sync::LazyLock,
};

use serde::Deserialize;

use crate::entity::Price;

/// One Hub's built-in list as data: `[channel_type, model, type, input, output]` rows.
const DEFAULT_LIST: &str = include_str!("default_prices.json");

static DEFAULTS: LazyLock<Vec<Price>> = LazyLock::new(|| {
    let rows: Vec<(i64, String, String, f64, f64)> =
        serde_json::from_str(DEFAULT_LIST).unwrap_or_default();
    let mut prices: Vec<Price> = rows
        .into_iter()
        .map(|(channel_type, model, kind, input, output)| Price {
            model,
            kind,
            channel_type,
            input,
            output,
            locked: false,
            extra_ratios: None,
        })
        .collect();
    sort(&mut prices);
    prices
});

/// One Hub's built-in price list (what `?type=default` answers, `--export` writes and the
/// start-up seed inserts): 180 rows, sorted by channel type then model, none locked, no
/// `extra_ratios`.
pub fn default_prices() -> &'static [Price] {
    &DEFAULTS
}

/// One Hub's order of prices: channel type, then model (byte order).
pub fn sort(prices: &mut [Price]) {
    prices.sort_by(|a, b| {
        a.channel_type
            .cmp(&b.channel_type)
            .then_with(|| a.model.cmp(&b.model))
    });
}

/// How a list is applied to the `prices` table (`updateMode`, `auto_price_updates_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Insert the models the table does not have (also `add`).
    #[default]
    System,
    Add,
    /// Replace the unlocked rows of models the list has.
    Update,
    /// Delete every unlocked row, then insert the list but for models with a locked row.
    Overwrite,
}

impl SyncMode {
    /// The route's reading of `updateMode`: anything unknown is `system`, as in One Hub.
    pub fn lenient(s: &str) -> Self {
        s.parse().unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Add => "add",
            Self::Update => "update",
            Self::Overwrite => "overwrite",
        }
    }
}

impl FromStr for SyncMode {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "system" => Ok(Self::System),
            "add" => Ok(Self::Add),
            "update" => Ok(Self::Update),
            "overwrite" => Ok(Self::Overwrite),
            _ => Err(()),
        }
    }
}

/// What a sync writes, in one transaction: first the deletes (unlocked rows only), then the
/// inserts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncPlan {
    /// Every unlocked row goes (`overwrite`).
    pub delete_all_unlocked: bool,
    /// The unlocked rows of these models go.
    pub delete: Vec<String>,
    pub insert: Vec<Price>,
}

impl SyncPlan {
    pub fn is_empty(&self) -> bool {
        !self.delete_all_unlocked && self.delete.is_empty() && self.insert.is_empty()
    }
}

/// The plan that applies `list` in `mode` to a table whose rows are `current` as
/// `(model, locked)`. A model listed twice counts once (its first entry); a model with any
/// locked row is never touched.
pub fn plan_sync(current: &[(String, bool)], list: &[Price], mode: SyncMode) -> SyncPlan {
    let mut existing: BTreeMap<&str, bool> = BTreeMap::new();
    for (model, locked) in current {
        *existing.entry(model.as_str()).or_default() |= *locked;
    }
    let mut seen = BTreeSet::new();
    let list = list.iter().filter(|p| seen.insert(p.model.as_str()));
    let mut plan = SyncPlan::default();
    match mode {
        SyncMode::System | SyncMode::Add => {
            plan.insert = list
                .filter(|p| !existing.contains_key(p.model.as_str()))
                .cloned()
                .collect();
        }
        SyncMode::Update => {
            for p in list {
                if existing.get(p.model.as_str()) == Some(&false) {
                    plan.delete.push(p.model.clone());
                    plan.insert.push(p.clone());
                }
            }
        }
        SyncMode::Overwrite => {
            plan.delete_all_unlocked = true;
            plan.insert = list
                .filter(|p| existing.get(p.model.as_str()) != Some(&true))
                .cloned()
                .collect();
        }
    }
    plan
}

/// The update service's document: `{"data":[Price…]}` or a bare `[Price…]`.
pub fn parse_document(body: &[u8]) -> Result<Vec<Price>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Doc {
        Wrapped { data: Vec<Price> },
        Bare(Vec<Price>),
    }
    Ok(match serde_json::from_slice(body)? {
        Doc::Wrapped { data } => data,
        Doc::Bare(list) => list,
    })
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn p(model: &str, input: f64) -> Price {
        Price {
            model: model.into(),
            kind: "tokens".into(),
            channel_type: 1,
            input,
            output: input,
            ..Default::default()
        }
    }

    #[test]
    fn the_default_list() {
        let list = default_prices();
        assert_eq!(list.len(), 180);
        let models: BTreeSet<&str> = list.iter().map(|p| p.model.as_str()).collect();
        assert_eq!(models.len(), 180, "unique models");
        let mut sorted = list.to_vec();
        sort(&mut sorted);
        assert_eq!(sorted, list, "sorted by channel type then model");
        assert_eq!(list.iter().filter(|p| p.kind == "tokens").count(), 129);
        assert_eq!(list.iter().filter(|p| p.channel_type == 34).count(), 48);
        assert!(list.iter().all(|p| !p.locked && p.extra_ratios.is_none()));
        let get = |m: &str| list.iter().find(|p| p.model == m).unwrap();
        let gpt4o = get("gpt-4o");
        assert_eq!(
            (gpt4o.channel_type, gpt4o.input, gpt4o.output),
            (1, 2.5, 7.5)
        );
        let sonnet = get("claude-3-sonnet-20240229");
        assert_eq!(
            (sonnet.channel_type, sonnet.input, sonnet.output),
            (14, 1.3, 3.9)
        );
        let ernie = get("ERNIE-Bot-8k");
        assert_eq!((ernie.input, ernie.output), (1.7143, 3.4286));
        let mj = get("mj_relax_swap_face");
        assert_eq!(
            (mj.kind.as_str(), mj.input, mj.output),
            ("times", 25.0, 25.0)
        );
        assert_eq!(get("suno_lyrics").input, 5.0);
        assert_eq!(get("@hf/google/gemma-7b-it").channel_type, 35);
        assert_eq!(list.first().unwrap().model, "babbage-002");
        assert_eq!(list.last().unwrap().model, "suno_lyrics");
    }

    #[test]
    fn modes() {
        let current = vec![
            ("a".to_owned(), false),
            ("b".to_owned(), true),
            ("c".to_owned(), false),
        ];
        let list = vec![p("a", 1.0), p("b", 2.0), p("d", 3.0), p("d", 4.0)];
        let models = |v: &[Price]| v.iter().map(|p| p.model.clone()).collect::<Vec<_>>();

        let add = plan_sync(&current, &list, SyncMode::Add);
        assert_eq!(add, plan_sync(&current, &list, SyncMode::System));
        assert!(add.delete.is_empty() && !add.delete_all_unlocked);
        assert_eq!(models(&add.insert), ["d"]);
        assert_eq!(add.insert[0].input, 3.0, "the first of a repeated model");

        let update = plan_sync(&current, &list, SyncMode::Update);
        assert_eq!(update.delete, ["a"]);
        assert_eq!(models(&update.insert), ["a"]);

        let overwrite = plan_sync(&current, &list, SyncMode::Overwrite);
        assert!(overwrite.delete_all_unlocked);
        assert_eq!(models(&overwrite.insert), ["a", "d"]);

        assert!(plan_sync(&current, &[], SyncMode::Add).is_empty());
    }

    #[test]
    fn mode_names() {
        for m in [
            SyncMode::System,
            SyncMode::Add,
            SyncMode::Update,
            SyncMode::Overwrite,
        ] {
            assert_eq!(m.as_str().parse(), Ok(m));
        }
        assert_eq!(SyncMode::lenient("nonsense"), SyncMode::System);
        assert_eq!(SyncMode::lenient(""), SyncMode::System);
        assert!("Add".parse::<SyncMode>().is_err());
    }

    #[test]
    fn documents_wrapped_or_bare() {
        let bare = br#"[{"model":"m","type":"tokens","channel_type":1,"input":1,"output":2}]"#;
        let wrapped =
            br#"{"data":[{"model":"m","type":"tokens","channel_type":1,"input":1,"output":2}]}"#;
        assert_eq!(
            parse_document(bare).unwrap(),
            parse_document(wrapped).unwrap()
        );
        assert_eq!(parse_document(bare).unwrap()[0].output, 2.0);
        assert!(parse_document(b"{}").is_err());
    }
}
