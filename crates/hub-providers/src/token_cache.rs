//! Access tokens obtained by an exchange (Vertex AI's JWT bearer grant, Baidu's client
//! credentials), cached per credential until shortly before they expire and shared by every
//! request: concurrent requests on a credential without a token wait for one exchange (an async
//! lock per credential, checked again after waiting); a failed exchange is remembered briefly so
//! a broken credential does not turn every request into a token call.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// A token is replaced this long before it expires (or at half its life, if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// After a failed exchange, requests get the same error for this long before trying again.
const FAILURE_BACKOFF: Duration = Duration::from_secs(5);

enum Cached<E> {
    Token { token: String, refresh_at: Instant },
    Failed { error: E, until: Instant },
}

struct Entry<E> {
    cached: Mutex<Option<Cached<E>>>,
    /// Held while exchanging, so concurrent requests wait for one exchange.
    exchange: tokio::sync::Mutex<()>,
}

impl<E: Clone> Entry<E> {
    fn current(&self) -> Option<Result<String, E>> {
        let now = Instant::now();
        match &*self.cached.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(Cached::Token { token, refresh_at }) if now < *refresh_at => {
                Some(Ok(token.clone()))
            }
            Some(Cached::Failed { error, until }) if now < *until => Some(Err(error.clone())),
            _ => None,
        }
    }

    fn store(&self, c: Cached<E>) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(c);
    }
}

/// Tokens by credential key; `E` is the exchange's error.
pub struct TokenCache<E> {
    entries: Mutex<HashMap<String, Arc<Entry<E>>>>,
    exchanges: AtomicU64,
}

impl<E> Default for TokenCache<E> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            exchanges: AtomicU64::new(0),
        }
    }
}

impl<E> std::fmt::Debug for TokenCache<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("exchanges", &self.exchanges.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<E: Clone + std::fmt::Display> TokenCache<E> {
    /// Exchanges made so far (successful or not).
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(Ordering::Relaxed)
    }

    /// Drops the cached token of `key` (the upstream refused it before it expired): the next
    /// request exchanges a new one.
    pub fn forget(&self, key: &str) {
        let entry = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned();
        if let Some(e) = entry {
            *e.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// A valid token for the credential `key`; when none is cached, `exchange` gets one (the
    /// token and its lifetime). `what` names the exchange in the log.
    pub async fn get<F, Fut>(&self, key: &str, what: &str, exchange: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Duration), E>>,
    {
        let entry = {
            let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            map.entry(key.to_owned())
                .or_insert_with(|| {
                    Arc::new(Entry {
                        cached: Mutex::new(None),
                        exchange: tokio::sync::Mutex::new(()),
                    })
                })
                .clone()
        };
        if let Some(r) = entry.current() {
            return r;
        }
        let _one = entry.exchange.lock().await;
        // Another request may have exchanged while this one waited.
        if let Some(r) = entry.current() {
            return r;
        }
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        match exchange().await {
            Ok((token, ttl)) => {
                let keep = ttl.saturating_sub(REFRESH_MARGIN).max(ttl / 2);
                entry.store(Cached::Token {
                    token: token.clone(),
                    refresh_at: Instant::now() + keep,
                });
                Ok(token)
            }
            Err(error) => {
                tracing::warn!(%error, "{what} failed");
                entry.store(Cached::Failed {
                    error: error.clone(),
                    until: Instant::now() + FAILURE_BACKOFF,
                });
                Err(error)
            }
        }
    }
}
