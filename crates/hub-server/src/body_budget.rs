//! A bound on the memory held by request bodies across all requests (`HTTP_BODY_MEMORY_MB`).
//!
//! A request reserves its body's size in KiB permits before buffering it: all of it up front
//! when `Content-Length` is given, else as the chunks arrive. A reservation waits while the
//! budget is spent (FIFO, at most `max_wait`), so concurrent big bodies are queued instead of
//! buffered; a body larger than the whole budget (or the route's cap) is refused without being
//! read. The reservation is held until the caller drops the [`BodyPermit`] — the relay keeps it
//! until the upstream answered, which covers the parsed copy of the body too.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::body::{Body, Bytes, HttpBody};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a body was not buffered.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the route's cap (or than the whole budget); not read.
    #[error("request body too large (limit {limit} bytes)")]
    TooLarge { limit: usize },
    /// The budget stayed spent for `max_wait`.
    #[error("too many large request bodies in progress; retry later")]
    Busy,
    /// The client did not send the body within `HTTP_BODY_TIMEOUT`.
    #[error("the request body was not received in time")]
    Timeout,
    /// The client broke off or sent a malformed body.
    #[error("cannot read the request body")]
    Read,
}

/// The node's request-body budget (cheap to share: one `Arc`).
#[derive(Debug, Clone)]
pub struct BodyBudget(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    sem: Arc<Semaphore>,
    total_kib: usize,
    max_wait: Duration,
    /// Highest number of KiB ever reserved at once (for tests and diagnostics).
    peak_kib: AtomicUsize,
}

/// Reserved budget; given back when dropped.
#[derive(Debug)]
pub struct BodyPermit(Option<OwnedSemaphorePermit>);

fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

impl BodyBudget {
    /// `bytes` of budget (at least 1 KiB); a reservation waits at most `max_wait`.
    pub fn new(bytes: u64, max_wait: Duration) -> Self {
        let total_kib = usize::try_from(bytes.div_ceil(1024))
            .unwrap_or(usize::MAX)
            .clamp(1, Semaphore::MAX_PERMITS);
        Self(Arc::new(Inner {
            sem: Arc::new(Semaphore::new(total_kib)),
            total_kib,
            max_wait,
            peak_kib: AtomicUsize::new(0),
        }))
    }

    /// The whole budget in bytes.
    pub fn total_bytes(&self) -> usize {
        self.0.total_kib.saturating_mul(1024)
    }

    /// The most bytes reserved at once since start.
    pub fn peak_bytes(&self) -> usize {
        self.0.peak_kib.load(Ordering::Relaxed).saturating_mul(1024)
    }

    /// Bytes reserved right now.
    pub fn in_use_bytes(&self) -> usize {
        self.0
            .total_kib
            .saturating_sub(self.0.sem.available_permits())
            .saturating_mul(1024)
    }

    async fn reserve(&self, kib: usize, into: &mut BodyPermit) -> Result<(), BodyError> {
        if kib == 0 {
            return Ok(());
        }
        let n = u32::try_from(kib).map_err(|_| BodyError::TooLarge {
            limit: self.total_bytes(),
        })?;
        // Fast path without a timer: the budget has room (the usual case).
        let permit = match self.0.sem.clone().try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(BodyError::Busy),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                tokio::time::timeout(self.0.max_wait, self.0.sem.clone().acquire_many_owned(n))
                    .await
                    .map_err(|_| BodyError::Busy)?
                    .map_err(|_| BodyError::Busy)?
            }
        };
        match into.0.as_mut() {
            Some(held) => held.merge(permit),
            None => into.0 = Some(permit),
        }
        let used = self
            .0
            .total_kib
            .saturating_sub(self.0.sem.available_permits());
        self.0.peak_kib.fetch_max(used, Ordering::Relaxed);
        Ok(())
    }

    /// Buffers `body` (at most `max` bytes) under the budget. `content_length` (the header)
    /// reserves everything before the first byte is read. `cost` is what one buffered byte
    /// costs the route in memory while the permit is held (the relay keeps the raw body, its
    /// parsed copy and the body it sends upstream: 3), so the budget bounds real memory; a body
    /// whose cost exceeds the whole budget is refused.
    ///
    /// On an error the body is left partly read; the caller may drain it.
    pub async fn read(
        &self,
        body: &mut Body,
        content_length: Option<u64>,
        max: usize,
        cost: usize,
    ) -> Result<(Bytes, BodyPermit), BodyError> {
        let cost = cost.max(1);
        let cap = max.min(self.total_bytes() / cost);
        let mut permit = BodyPermit(None);
        let declared = match content_length {
            Some(n) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > cap {
                    return Err(BodyError::TooLarge { limit: cap });
                }
                self.reserve(kib(n) * cost, &mut permit).await?;
                Some(n)
            }
            None => None,
        };
        let mut buf: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0));
        let mut held_kib = declared.map(|n| kib(n) * cost).unwrap_or(0);
        loop {
            let frame =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await;
            let data = match frame {
                None => break,
                Some(Err(e)) => {
                    return Err(if crate::serve::BodyTimeout::caused(&e) {
                        BodyError::Timeout
                    } else {
                        BodyError::Read
                    });
                }
                Some(Ok(f)) => match f.into_data() {
                    Ok(d) => d,
                    Err(_) => continue,
                },
            };
            let len = buf.len().saturating_add(data.len());
            if len > cap {
                return Err(BodyError::TooLarge { limit: cap });
            }
            if kib(len) * cost > held_kib {
                self.reserve(kib(len) * cost - held_kib, &mut permit)
                    .await?;
                held_kib = kib(len) * cost;
            }
            buf.extend_from_slice(&data);
        }
        Ok((Bytes::from(buf), permit))
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn chunked(parts: usize, size: usize) -> Body {
        let chunks =
            (0..parts).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; size])));
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn declared_length_is_reserved_and_given_back() {
        let b = BodyBudget::new(10 * 1024, Duration::from_millis(50));
        let (bytes, permit) = b
            .read(&mut chunked(2, 3000), Some(6000), 1 << 20, 1)
            .await
            .unwrap();
        assert_eq!(bytes.len(), 6000);
        assert_eq!(b.in_use_bytes(), 6 * 1024);
        drop(permit);
        assert_eq!(b.in_use_bytes(), 0);
        assert_eq!(b.peak_bytes(), 6 * 1024);
    }

    #[tokio::test]
    async fn cost_scales_the_reservation_and_the_cap() {
        let b = BodyBudget::new(10 * 1024, Duration::from_millis(50));
        let (_, permit) = b
            .read(&mut chunked(1, 3000), Some(3000), 1 << 20, 3)
            .await
            .unwrap();
        assert_eq!(b.in_use_bytes(), 9 * 1024, "3 KiB at 3×");
        drop(permit);
        let (_, permit) = b
            .read(&mut chunked(3, 1000), None, 1 << 20, 3)
            .await
            .unwrap();
        assert_eq!(b.in_use_bytes(), 9 * 1024, "counted as it arrives, at 3×");
        drop(permit);
        assert!(matches!(
            b.read(&mut chunked(1, 10), Some(4 * 1024), 1 << 20, 3).await,
            Err(BodyError::TooLarge { limit }) if limit == 10 * 1024 / 3
        ));
    }

    #[tokio::test]
    async fn too_large_is_refused_before_reading() {
        let b = BodyBudget::new(4 * 1024, Duration::from_millis(50));
        assert!(matches!(
            b.read(&mut chunked(1, 10), Some(5000), 1 << 20, 1).await,
            Err(BodyError::TooLarge { limit: 4096 })
        ));
        assert!(matches!(
            b.read(&mut chunked(1, 10), Some(100), 50, 1).await,
            Err(BodyError::TooLarge { limit: 50 })
        ));
        // Chunked: refused as soon as it passes the cap.
        assert!(matches!(
            b.read(&mut chunked(10, 1000), None, 1 << 20, 1).await,
            Err(BodyError::TooLarge { .. })
        ));
        assert_eq!(b.in_use_bytes(), 0);
    }

    #[tokio::test]
    async fn a_spent_budget_queues_then_refuses() {
        let b = BodyBudget::new(8 * 1024, Duration::from_millis(50));
        let (_, first) = b
            .read(&mut chunked(1, 6000), Some(6000), 1 << 20, 1)
            .await
            .unwrap();
        // 6 KiB held: a 4 KiB body waits, and gives up after max_wait.
        assert!(matches!(
            b.read(&mut chunked(1, 4000), Some(4000), 1 << 20, 1).await,
            Err(BodyError::Busy)
        ));
        // Chunked bodies count as they arrive.
        assert!(matches!(
            b.read(&mut chunked(4, 1000), None, 1 << 20, 1).await,
            Err(BodyError::Busy)
        ));
        // Once the first is done, the queued one goes through.
        let waiting = crate::tasks::Tasks::new().spawn({
            let b = b.clone();
            async move {
                b.read(&mut chunked(1, 4000), Some(4000), 1 << 20, 1)
                    .await
                    .map(|r| r.0.len())
            }
        });
        drop(first);
        assert_eq!(waiting.await.unwrap().unwrap(), 4000);
        assert!(b.peak_bytes() <= b.total_bytes());
    }
}
