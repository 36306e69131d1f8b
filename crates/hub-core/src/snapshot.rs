//! The per-node routing snapshot: everything a request needs to route and price itself,
//! built off to the side from one consistent read and swapped in atomically by the server.
//! A request loads one `Arc<Snapshot>` and uses it to the end; nothing here is mutated.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use serde_json::{Map, Value};

pub use crate::options::RetryConfig;
use crate::{
    entity::{Channel, ModelOwner, OptionRow, Price, UserGroup, comma_list},
    options::{OptionProblem, RuntimeOptions},
    provider::{Provider, Unserved},
    redact::Secrets,
    role::CHANNEL_ENABLED,
};

/// A channel prepared for the hot path (lists split, JSON parsed once). Its `Debug` shows no
/// secret: no key, header values or custom parameters, and URLs without credentials.
#[derive(Clone)]
pub struct ChannelRt {
    pub id: i64,
    pub kind: i64,
    pub name: String,
    pub key: String,
    pub status: i64,
    pub models: Vec<String>,
    pub groups: Vec<String>,
    pub weight: u64,
    pub priority: i64,
    /// `requested → upstream`; a leading `+` on the value is kept here (see [`ChannelRt::map_model`]).
    pub model_mapping: HashMap<String, String>,
    pub model_headers: Vec<(String, String)>,
    pub custom_parameter: Option<Map<String, Value>>,
    pub proxy: String,
    pub only_chat: bool,
    /// One Hub's `compatible_response`: serve `/v1/responses` through the channel's chat API
    /// even when its upstream has a Responses API.
    pub compatible_response: bool,
    pub disabled_stream: HashSet<String>,
    pub pre_cost: i64,
    /// `plugin.customize` of Custom channels: relay mode → path.
    pub customize: HashMap<String, String>,
    /// The key (each line of it) and the base URL credentials, masked in relayed errors.
    pub secrets: Secrets,
    /// The provider and its settings (from `type`, `base_url`, `other`), or why this node does
    /// not serve the channel; an unserved channel is never routed to.
    pub provider: Result<Provider, Unserved>,
    /// Models of this channel the fleet took out of routing (channel health); usually empty.
    pub out_models: HashSet<String>,
}

impl std::fmt::Debug for ChannelRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRt")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("provider", &self.provider.as_ref().map(Provider::family))
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .field("status", &self.status)
            .field(
                "base",
                &self
                    .provider
                    .as_ref()
                    .map(|p| crate::redact::url(p.base()))
                    .unwrap_or_default(),
            )
            .field("models", &self.models)
            .field("groups", &self.groups)
            .field("weight", &self.weight)
            .field("priority", &self.priority)
            .field(
                "model_headers",
                &self
                    .model_headers
                    .iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            )
            .field("proxy", &crate::redact::url(&self.proxy))
            .field("only_chat", &self.only_chat)
            .finish_non_exhaustive()
    }
}

/// The model to send upstream and the model to bill and report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedModel {
    pub upstream: String,
    pub billed: String,
    /// True when the upstream name differs from the requested one.
    pub mapped: bool,
}

/// A channel's proxy URL as One Hub uses it: a `%s` in it is replaced by the hex MD5 of the
/// channel key, a stable session id for rotating proxies.
fn proxy_for(proxy: &str, key: &str) -> String {
    let proxy = proxy.trim();
    if !proxy.contains("%s") {
        return proxy.to_owned();
    }
    proxy.replace("%s", &key_md5(key))
}

/// The hex MD5 of a channel key, as One Hub uses it: a proxy's session id, a tag's `KeyMap`.
pub fn key_md5(key: &str) -> String {
    use md5::Digest as _;
    md5::Md5::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ChannelRt {
    pub fn from_channel(c: &Channel) -> Self {
        let model_mapping = c
            .model_mapping
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .and_then(|m| serde_json::from_str::<HashMap<String, Value>>(m).ok())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| {
                        v.as_str()
                            .filter(|s| !s.is_empty())
                            .map(|s| (k, s.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let model_headers = c
            .model_headers
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| match v {
                        Value::String(s) => Some((k, s)),
                        Value::Null => None,
                        other => Some((k, other.to_string())),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let custom_parameter = c
            .custom_parameter
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
            .filter(|m| !m.is_empty());
        let customize = c
            .plugin
            .as_ref()
            .and_then(|p| p.get("customize"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let base_url = c.base_url.as_deref().unwrap_or_default();
        ChannelRt {
            id: c.id,
            kind: c.kind,
            provider: crate::provider::resolve_channel(&crate::provider::ChannelConfig {
                kind: c.kind,
                base_url,
                other: &c.other,
                key: &c.key,
                plugin: c.plugin.as_ref(),
            }),
            name: c.name.clone(),
            key: c.key.clone(),
            status: c.status,
            models: comma_list(&c.models).map(str::to_owned).collect(),
            groups: comma_list(&c.group).map(str::to_owned).collect(),
            weight: c.weight.filter(|w| *w > 0).unwrap_or(1),
            priority: c.priority.unwrap_or(0),
            model_mapping,
            model_headers,
            custom_parameter,
            proxy: proxy_for(c.proxy.as_deref().unwrap_or_default(), &c.key),
            only_chat: c.only_chat,
            compatible_response: c.compatible_response,
            disabled_stream: c
                .disabled_stream
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            pre_cost: c.pre_cost,
            customize,
            secrets: Secrets::of_channel(&c.key, c.base_url.as_deref().unwrap_or_default()),
            out_models: HashSet::new(),
        }
    }

    /// One Hub's `model_mapping`: exact key, one level; a `+` prefix on the value is stripped
    /// for the upstream and the requested name is billed; otherwise the mapped name is billed.
    pub fn map_model(&self, requested: &str) -> MappedModel {
        match self.model_mapping.get(requested) {
            Some(v) => match v.strip_prefix('+') {
                Some(up) => MappedModel {
                    upstream: up.to_owned(),
                    billed: requested.to_owned(),
                    mapped: up != requested,
                },
                None => MappedModel {
                    upstream: v.clone(),
                    billed: v.clone(),
                    mapped: v != requested,
                },
            },
            None => MappedModel {
                upstream: requested.to_owned(),
                billed: requested.to_owned(),
                mapped: false,
            },
        }
    }
}

/// True when `model` contains something that could change an upstream URL if it were placed
/// there unescaped: a control character, `/`, `\\`, `?`, `#`, `%` or `..`. The relay refuses
/// such names unless [`Snapshot::offers_literally`]; the URL builder encodes every name anyway.
pub fn model_name_steers_url(model: &str) -> bool {
    model.contains(['/', '\\', '?', '#', '%'])
        || model.contains("..")
        || model.chars().any(char::is_control)
}

/// Channels of one priority within a (group, model) route.
#[derive(Debug, Clone)]
pub struct Tier {
    pub priority: i64,
    pub members: Vec<Arc<ChannelRt>>,
}

#[derive(Debug, Clone, Default)]
struct GroupRoutes {
    exact: HashMap<String, Vec<Tier>>,
    /// `(prefix, tiers)`, longest prefix first.
    wildcard: Vec<(String, Vec<Tier>)>,
}

/// A user group as routing and billing see it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub symbol: String,
    pub name: String,
    pub ratio: f64,
    pub public: bool,
    pub enabled: bool,
    pub api_rate: i64,
}

/// Everything routing needs, immutable.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Monotonic build number of this node (for status and tests).
    pub generation: u64,
    /// Every live channel by id, enabled or not (pins need to tell "disabled" from "missing").
    pub channels: HashMap<i64, Arc<ChannelRt>>,
    routes: HashMap<String, GroupRoutes>,
    pub groups: HashMap<String, GroupInfo>,
    pub prices: Vec<Price>,
    pub owners: HashMap<i64, String>,
    /// The options table as stored (key → value), for the admin API and the status page. The
    /// relay reads [`Snapshot::runtime`] instead.
    pub options: HashMap<String, String>,
    /// The options read while serving requests, parsed once for this snapshot.
    pub runtime: RuntimeOptions,
    /// Runtime options whose stored value was not used (their default applies); the server
    /// logs them once per build.
    pub option_problems: Vec<OptionProblem>,
    /// The parts of channels taken out of routing, by channel id (the admin list shows them).
    pub health: HashMap<i64, Vec<crate::health::TakenOut>>,
}

impl Snapshot {
    /// Enabled channels this node does not serve, by id, with the reason (never routed to; the
    /// admin channel list, the sync status and the log say so).
    pub fn unserved(&self) -> Vec<(&ChannelRt, &Unserved)> {
        let mut v: Vec<(&ChannelRt, &Unserved)> = self
            .channels
            .values()
            .filter(|c| c.status == CHANNEL_ENABLED)
            .filter_map(|c| c.provider.as_ref().err().map(|e| (c.as_ref(), e)))
            .collect();
        v.sort_by_key(|(c, _)| c.id);
        v
    }
}

/// Config rows read in one go by the store.
#[derive(Debug, Clone, Default)]
pub struct ConfigRows {
    pub channels: Vec<Channel>,
    pub groups: Vec<UserGroup>,
    pub prices: Vec<Price>,
    pub owners: Vec<ModelOwner>,
    pub options: Vec<OptionRow>,
    /// The parts of channels the fleet took out of routing.
    pub health: Vec<crate::health::TakenOut>,
}

fn build_tiers(mut chans: Vec<Arc<ChannelRt>>) -> Vec<Tier> {
    chans.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
    let mut tiers: Vec<Tier> = Vec::new();
    for c in chans {
        match tiers.last_mut() {
            Some(t) if t.priority == c.priority => t.members.push(c),
            _ => tiers.push(Tier {
                priority: c.priority,
                members: vec![c],
            }),
        }
    }
    tiers
}

impl Snapshot {
    pub fn build(rows: ConfigRows, generation: u64) -> Snapshot {
        let mut health: HashMap<i64, Vec<crate::health::TakenOut>> = HashMap::new();
        for h in rows.health {
            health.entry(h.channel_id).or_default().push(h);
        }
        let channels: HashMap<i64, Arc<ChannelRt>> = rows
            .channels
            .iter()
            .map(|c| {
                let mut rt = ChannelRt::from_channel(c);
                if let Some(parts) = health.get(&c.id) {
                    rt.out_models = parts
                        .iter()
                        .filter(|h| !h.model.is_empty())
                        .map(|h| h.model.clone())
                        .collect();
                }
                (c.id, Arc::new(rt))
            })
            .collect();
        let groups: HashMap<String, GroupInfo> = rows
            .groups
            .iter()
            .map(|g| {
                (
                    g.symbol.clone(),
                    GroupInfo {
                        symbol: g.symbol.clone(),
                        name: g.name.clone(),
                        ratio: g.ratio,
                        public: g.public,
                        enabled: g.enable.unwrap_or(true),
                        api_rate: g.api_rate,
                    },
                )
            })
            .collect();
        // group → model → channels
        let mut by_group: HashMap<String, HashMap<String, Vec<Arc<ChannelRt>>>> = HashMap::new();
        let mut ids: Vec<i64> = channels.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(c) = channels.get(&id) else { continue };
            if c.status != CHANNEL_ENABLED || c.provider.is_err() {
                continue;
            }
            for g in &c.groups {
                let models = by_group.entry(g.clone()).or_default();
                for m in &c.models {
                    models.entry(m.clone()).or_default().push(c.clone());
                }
            }
        }
        let routes = by_group
            .into_iter()
            .map(|(g, models)| {
                let mut r = GroupRoutes::default();
                for (m, chans) in models {
                    match m.strip_suffix('*') {
                        Some(prefix) => r.wildcard.push((prefix.to_owned(), build_tiers(chans))),
                        None => {
                            r.exact.insert(m, build_tiers(chans));
                        }
                    }
                }
                r.wildcard
                    .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
                (g, r)
            })
            .collect();
        let options: HashMap<String, String> =
            rows.options.into_iter().map(|o| (o.key, o.value)).collect();
        let (runtime, option_problems) = RuntimeOptions::from_options(&options);
        Snapshot {
            generation,
            channels,
            routes,
            groups,
            prices: rows.prices,
            owners: rows.owners.into_iter().map(|o| (o.id, o.name)).collect(),
            options,
            runtime,
            option_problems,
            health,
        }
    }

    /// The priority tiers serving `model` in `group`: exact name first, then the longest
    /// matching `prefix*` wildcard (deterministic, unlike One Hub's map-order pick).
    pub fn tiers(&self, group: &str, model: &str) -> Option<&[Tier]> {
        let r = self.routes.get(group)?;
        if let Some(t) = r.exact.get(model) {
            return Some(t);
        }
        r.wildcard
            .iter()
            .find(|(p, _)| model.starts_with(p.as_str()))
            .map(|(_, t)| t.as_slice())
    }

    /// Picks a channel: the highest tier that has an eligible member, weighted random inside
    /// it. `rand` is a uniform random number (the caller owns randomness).
    pub fn pick(
        tiers: &[Tier],
        eligible: impl Fn(&ChannelRt) -> bool,
        rand: u64,
    ) -> Option<Arc<ChannelRt>> {
        for tier in tiers {
            let ok: Vec<&Arc<ChannelRt>> = tier.members.iter().filter(|c| eligible(c)).collect();
            let total: u64 = ok.iter().map(|c| c.weight).sum();
            if total == 0 {
                continue;
            }
            let mut point = rand % total;
            for c in ok {
                if point < c.weight {
                    return Some(c.clone());
                }
                point -= c.weight;
            }
        }
        None
    }

    /// Model names available to `group` (exact names and wildcard entries as written).
    pub fn models_for_group(&self, group: &str) -> BTreeSet<String> {
        let Some(r) = self.routes.get(group) else {
            return BTreeSet::new();
        };
        r.exact
            .keys()
            .cloned()
            .chain(r.wildcard.iter().map(|(p, _)| format!("{p}*")))
            .collect()
    }

    /// The enabled group, if it exists.
    pub fn group(&self, symbol: &str) -> Option<&GroupInfo> {
        self.groups.get(symbol).filter(|g| g.enabled)
    }

    /// The price row for a model: exact, then the longest matching `prefix*` row.
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.prices.iter().find(|p| p.model == model).or_else(|| {
            self.prices
                .iter()
                .filter(|p| {
                    p.model
                        .strip_suffix('*')
                        .is_some_and(|pre| model.starts_with(pre))
                })
                .max_by_key(|p| p.model.len())
        })
    }

    /// Owner name of a model for `/v1/models`: the owner of its price row's channel type, else
    /// the owner of the type of the first channel serving it in `group`, else `未知`.
    pub fn owned_by(&self, group: &str, model: &str) -> String {
        let kind = self
            .price(model)
            .map(|p| p.channel_type)
            .filter(|t| *t != 0)
            .or_else(|| {
                self.tiers(group, model)
                    .and_then(|t| t.first())
                    .and_then(|t| t.members.first())
                    .map(|c| c.kind)
            });
        kind.and_then(|k| self.owners.get(&k))
            .cloned()
            .unwrap_or_else(|| "未知".to_owned())
    }

    /// `model` when some channel of any group serves it by name, else `other` — keeps metric
    /// label sets bounded whatever clients send.
    pub fn metric_model<'a>(&self, model: &'a str) -> &'a str {
        if self.routes.values().any(|r| r.exact.contains_key(model)) {
            model
        } else {
            "other"
        }
    }

    /// Whether a channel offers `model` by its own text: an exact entry in any group, or a
    /// `prefix*` wildcard whose expanded part (what the caller typed beyond the admin's prefix)
    /// is not [`model_name_steers_url`]. A suspicious name that is not offered this way is
    /// refused before routing, so a wildcard like `gflash*` cannot carry `gflash/../gpro`.
    pub fn offers_literally(&self, model: &str) -> bool {
        self.routes.values().any(|r| {
            r.exact.contains_key(model)
                || r.wildcard.iter().any(|(p, _)| {
                    model
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| !model_name_steers_url(rest))
                })
        })
    }
}

#[cfg(test)]
mod tests;
