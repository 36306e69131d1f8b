//! Streamed bodies: frames produced lazily, delays, aborts, disconnect counting.

use std::{
    io,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    http::{HeaderValue, header},
    response::Response,
};
use tokio::time::Sleep;
use tokio_stream::Stream;

use crate::Shared;

/// The frames of a streamed answer, produced lazily: `head`, then `middle` (each preceded by
/// the request's delay), then `tail`.
pub(crate) struct Frames {
    pub(crate) head: Vec<Bytes>,
    pub(crate) middle: Middle,
    pub(crate) tail: Vec<Bytes>,
}

pub(crate) enum Middle {
    Repeat(Bytes, u64),
    List(Vec<Bytes>),
    /// Frame `i` is `f(i)`, for `i` in `0..n` (frames that differ, e.g. cumulative usage).
    Gen(FrameFn, u64),
}

pub(crate) type FrameFn = Box<dyn Fn(u64) -> Bytes + Send + Sync>;

impl Frames {
    fn middle_len(&self) -> u64 {
        match &self.middle {
            Middle::Repeat(_, n) | Middle::Gen(_, n) => *n,
            Middle::List(l) => l.len() as u64,
        }
    }

    fn len(&self) -> u64 {
        self.head.len() as u64 + self.middle_len() + self.tail.len() as u64
    }

    /// Frame `i` and whether it is a (delayed) middle frame.
    fn get(&self, i: u64) -> Option<(Bytes, bool)> {
        let head = self.head.len() as u64;
        let middle = self.middle_len();
        if i < head {
            return self
                .head
                .get(usize::try_from(i).ok()?)
                .map(|b| (b.clone(), false));
        }
        if i < head + middle {
            return match &self.middle {
                Middle::Repeat(b, _) => Some((b.clone(), true)),
                Middle::List(l) => l
                    .get(usize::try_from(i - head).ok()?)
                    .map(|b| (b.clone(), true)),
                Middle::Gen(f, _) => Some((f(i - head), true)),
            };
        }
        self.tail
            .get(usize::try_from(i - head - middle).ok()?)
            .map(|b| (b.clone(), false))
    }
}

/// Counts the stream as open while alive, and as a disconnect when dropped unfinished.
struct StreamGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl StreamGuard {
    fn new(shared: &Arc<Shared>) -> StreamGuard {
        shared.open_streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard {
            shared: Arc::clone(shared),
            finished: false,
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.shared.open_streams.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.shared.disconnects.fetch_add(1, Ordering::SeqCst);
            self.shared.disconnect_notify.notify_waiters();
        }
    }
}

/// How long an aborting stream waits (pending) before it breaks, so its frames are flushed.
const ABORT_FLUSH: Duration = Duration::from_millis(10);

/// Yields one frame per poll (one body chunk each), sleeping before every middle frame.
struct MockStream {
    frames: Frames,
    next: u64,
    total: u64,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    guard: StreamGuard,
    abort_after: Option<u64>,
}

impl Stream for MockStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.abort_after.is_some_and(|n| this.next >= n) {
            // Simulates an upstream that breaks mid-answer: the body errors, the connection drops.
            // First a short pause (the server flushes while the body is pending), so the client
            // receives exactly the frames produced before the break.
            if this.next > 0 {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(ABORT_FLUSH)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            this.guard.finished = true;
            return Poll::Ready(Some(Err(io::Error::other(
                "mock upstream aborted the stream",
            ))));
        }
        let Some((bytes, delayed)) = this.frames.get(this.next) else {
            this.guard.finished = true;
            return Poll::Ready(None);
        };
        if delayed && !this.delay.is_zero() {
            let delay = this.delay;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        this.next += 1;
        if this.next >= this.total {
            this.guard.finished = true;
        }
        Poll::Ready(Some(Ok(bytes)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.total.saturating_sub(self.next)).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

pub(crate) fn sse(
    shared: &Arc<Shared>,
    frames: Frames,
    delay: Duration,
    abort_after: Option<u64>,
) -> Response {
    streamed(shared, frames, delay, abort_after, "text/event-stream")
}

/// A lazily produced, disconnect-counted streamed body with the given content type.
pub(crate) fn streamed(
    shared: &Arc<Shared>,
    frames: Frames,
    delay: Duration,
    abort_after: Option<u64>,
    content_type: &'static str,
) -> Response {
    let stream = MockStream {
        abort_after,
        total: frames.len(),
        frames,
        next: 0,
        delay,
        sleep: None,
        guard: StreamGuard::new(shared),
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
