//! Every task a node spawns: background loops (config sync, push listeners, feed pruning, log
//! retention, the billing writer), the server loop and its connections, and short jobs that must
//! outlive the request that started them (a quota hold, a settlement waiting for queue room).
//!
//! [`Tasks`] is one task tracker plus one cancellation token, held by the app state. Shutdown
//! cancels the token and then waits (bounded) for the tracker to empty. Cancellation is
//! cooperative: a loop notices it at its waiting points ([`Tasks::sleep`], or a `select!` on
//! [`Tasks::cancelled`]) and returns between two steps, so no write is ever cut in half. Short
//! jobs and connections simply run to their end.
//!
//! Architecture invariant: outside tests, nothing in the workspace calls `tokio::spawn`;
//! `clippy.toml` bans it, so every task is spawned here and a clean stop can account for all of
//! them.

use std::{future::Future, time::Duration};

use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The node's task tracker and cancellation token. Cheap to clone; clones share both.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns a tracked task. A loop must also watch [`Tasks::cancelled`] (or sleep through
    /// [`Tasks::sleep`]) so that it stops when the node does.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Completes once shutdown has begun.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// Whether shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Sleeps for `d`. `false`: shutdown began first, and the caller should return.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => false,
            () = tokio::time::sleep(d) => true,
        }
    }

    /// How many tracked tasks are still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Whether shutdown has run: no task can be added and the token is cancelled.
    pub fn is_closed(&self) -> bool {
        self.tracker.is_closed()
    }

    /// Cancels every loop and waits up to `grace` for all tracked tasks to end. Returns how
    /// many are still running after that (0 on a clean stop); those are left to the runtime.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(grace, self.tracker.wait()).await;
        self.tracker.len()
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[tokio::test]
    async fn a_loop_stops_at_its_next_sleep_and_is_awaited() {
        let tasks = Tasks::new();
        let rounds = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let handle = tasks.spawn({
            let (tasks, rounds) = (tasks.clone(), rounds.clone());
            async move {
                while tasks.sleep(Duration::from_secs(60)).await {
                    rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                "stopped"
            }
        });
        assert_eq!(tasks.running(), 1);
        assert!(!tasks.is_cancelled());
        assert_eq!(tasks.shutdown(Duration::from_secs(5)).await, 0);
        assert!(tasks.is_closed() && tasks.is_cancelled());
        assert_eq!(handle.await.unwrap(), "stopped");
        assert_eq!(rounds.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_task_that_ignores_cancellation_is_reported_after_the_grace() {
        let tasks = Tasks::new();
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(async move {
            let _ = rx.await;
        });
        assert_eq!(tasks.shutdown(Duration::from_millis(20)).await, 1);
    }
}
