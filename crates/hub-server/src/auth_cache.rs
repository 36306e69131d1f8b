//! The in-process cache of token and user rows that authentication reads.
//!
//! With the change feed's triggers (the normal case) it is on whatever `MEMORY_CACHE_ENABLED`
//! says: every change to a token or user row is announced and evicts its entry at once, on every
//! node, so the cache is exact — a disabled token is refused as fast as without it. Only when
//! the feed has fallen back to content checks (no trigger privilege), which cannot see row
//! changes, does `MEMORY_CACHE_ENABLED` keep One Hub's meaning: on, entries may be stale for up
//! to `SYNC_FREQUENCY` seconds; off, no cache. Entries live at most `SYNC_FREQUENCY` seconds
//! either way; quota is always read fresh.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hub_core::entity::{Token, User};

#[derive(Debug)]
pub struct AuthCache {
    /// `MEMORY_CACHE_ENABLED`.
    configured: bool,
    enabled: std::sync::atomic::AtomicBool,
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: HashMap<String, (Arc<Token>, Instant)>,
    token_keys: HashMap<i64, String>,
    users: HashMap<i64, (Arc<User>, Instant)>,
}

impl AuthCache {
    /// `configured`: `MEMORY_CACHE_ENABLED`. The cache starts as the setting says and follows
    /// the feed once it is known ([`AuthCache::on_feed`]).
    pub fn new(configured: bool, ttl_secs: u64) -> Self {
        Self {
            configured,
            enabled: std::sync::atomic::AtomicBool::new(configured && ttl_secs > 0),
            ttl: Duration::from_secs(ttl_secs),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The change feed is known: `exact` (triggers announce every row change) turns the cache
    /// on; content checks leave it as `MEMORY_CACHE_ENABLED` says. Returns whether it is on.
    pub fn on_feed(&self, exact: bool) -> bool {
        let on = (exact || self.configured) && !self.ttl.is_zero();
        self.enabled.store(on, std::sync::atomic::Ordering::Release);
        if !on {
            self.clear();
        }
        on
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh cached token; with `stale_ok`, also an expired entry (database unreachable).
    pub fn token(&self, key: &str, stale_ok: bool) -> Option<Arc<Token>> {
        if !self.enabled() {
            return None;
        }
        let g = self.lock();
        g.tokens
            .get(key)
            .filter(|(_, t)| stale_ok || t.elapsed() < self.ttl)
            .map(|(t, _)| t.clone())
    }

    pub fn user(&self, id: i64, stale_ok: bool) -> Option<Arc<User>> {
        if !self.enabled() {
            return None;
        }
        let g = self.lock();
        g.users
            .get(&id)
            .filter(|(_, t)| stale_ok || t.elapsed() < self.ttl)
            .map(|(u, _)| u.clone())
    }

    pub fn put_token(&self, t: &Arc<Token>) {
        if self.enabled() {
            let mut g = self.lock();
            g.token_keys.insert(t.id, t.key.clone());
            g.tokens.insert(t.key.clone(), (t.clone(), Instant::now()));
        }
    }

    pub fn put_user(&self, u: &Arc<User>) {
        if self.enabled() {
            self.lock().users.insert(u.id, (u.clone(), Instant::now()));
        }
    }

    pub fn evict_token(&self, id: i64) {
        let mut g = self.lock();
        if let Some(key) = g.token_keys.remove(&id) {
            g.tokens.remove(&key);
        }
    }

    pub fn evict_user(&self, id: i64) {
        self.lock().users.remove(&id);
    }

    pub fn clear(&self) {
        let mut g = self.lock();
        g.tokens.clear();
        g.token_keys.clear();
        g.users.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_precisely() {
        let c = AuthCache::new(true, 60);
        c.put_token(&Arc::new(Token {
            id: 1,
            key: "a".into(),
            ..Default::default()
        }));
        c.put_token(&Arc::new(Token {
            id: 2,
            key: "b".into(),
            ..Default::default()
        }));
        c.put_user(&Arc::new(User {
            id: 7,
            ..Default::default()
        }));
        c.evict_token(1);
        assert!(c.token("a", false).is_none());
        assert!(c.token("b", false).is_some());
        c.evict_user(7);
        assert!(c.user(7, false).is_none());
        let off = AuthCache::new(false, 60);
        off.put_token(&Arc::new(Token {
            id: 1,
            key: "a".into(),
            ..Default::default()
        }));
        assert!(off.token("a", false).is_none());
        // Triggers turn it on whatever the setting; content checks follow the setting.
        assert!(off.on_feed(true));
        assert!(!off.on_feed(false));
        assert!(AuthCache::new(true, 60).on_feed(false));
        assert!(
            !AuthCache::new(true, 0).on_feed(true),
            "no lifetime, no cache"
        );
    }
}
