//! The optional in-process cache of token and user rows (`MEMORY_CACHE_ENABLED`).
//!
//! It serves authentication only: entries live for `SYNC_FREQUENCY` seconds and are evicted as
//! soon as the change feed reports a change to their row; quota is always read fresh.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hub_core::entity::{Token, User};

#[derive(Debug)]
pub struct AuthCache {
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
    pub fn new(enabled: bool, ttl_secs: u64) -> Self {
        Self {
            enabled: std::sync::atomic::AtomicBool::new(enabled && ttl_secs > 0),
            ttl: Duration::from_secs(ttl_secs),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Turns caching off (no change feed to evict with) and drops every entry.
    pub fn disable(&self) {
        self.enabled
            .store(false, std::sync::atomic::Ordering::Release);
        self.clear();
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
    }
}
