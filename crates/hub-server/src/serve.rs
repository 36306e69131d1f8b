//! The HTTP server loop: accepts connections up to a limit and serves each with hyper (HTTP/1.1
//! and HTTP/2), with the timeouts that keep slow and idle clients from holding the server:
//!
//! - **header**: a request's headers must arrive within `header_timeout` — counted from the
//!   connection's opening for its first request (a socket that sends nothing is closed), and
//!   from the first byte of each later request;
//! - **body**: a request body must arrive in full within `body_timeout` of its headers; a
//!   slower body ends with [`BodyTimeout`] (the relay answers 408) and the connection closes;
//! - **idle**: a keep-alive connection with no request in flight is closed after
//!   `idle_timeout`; a response that is still streaming is a request in flight, so a long
//!   stream is never cut;
//! - **connections**: at most `max_connections` are served at once; the next ones wait in the
//!   kernel's accept queue.
//!
//! Each connection has one small shared [`ConnState`] (atomics) and one watchdog timer that
//! wakes every quarter of the shorter timeout (so a limit is enforced up to 25% late); a
//! request costs a few atomic operations and two clock reads on top of hyper's own work.
//! TCP_NODELAY is set on every socket and the peer address is given to handlers as axum's
//! `ConnectInfo<SocketAddr>`. On shutdown: stop accepting, close idle connections, let
//! requests in flight (streams included) finish.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::Request,
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
    time::Instant,
};

use crate::tasks::Tasks;

/// The edge limits (settings `HTTP_HEADER_TIMEOUT`, `HTTP_BODY_TIMEOUT`, `HTTP_IDLE_TIMEOUT`,
/// `HTTP_MAX_CONNECTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// The request body did not arrive within `HTTP_BODY_TIMEOUT`.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time (HTTP_BODY_TIMEOUT)")]
pub struct BodyTimeout;

impl BodyTimeout {
    /// True when a body read failed because of the body deadline.
    pub fn caused(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut cur = Some(e);
        while let Some(err) = cur {
            if err.is::<BodyTimeout>() {
                return true;
            }
            cur = err.source();
        }
        false
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish and returns. Each connection is a task tracked by `tasks`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    tasks: Tasks,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (close_tx, close_rx) = watch::channel(());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Header timing is ours (the watchdog), so hyper needs no timer.
    builder.http1().header_read_timeout(None).keep_alive(true);
    let builder = Arc::new(builder);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        // A response written as headers then body (or a stream of small frames) must not wait
        // for the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let conn = Connection {
            router: router.clone(),
            builder: builder.clone(),
            limits,
            close: close_rx.clone(),
        };
        tasks.spawn(async move {
            conn.run(tcp, peer).await;
            drop(permit);
        });
    }
    drop(listener);
    drop(close_rx);
    // Tell every connection to finish, and wait until all of them have.
    let _ = close_tx.send(());
    close_tx.closed().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

struct Connection {
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: EdgeLimits,
    close: watch::Receiver<()>,
}

/// Why the watchdog wants a connection gone.
enum Verdict {
    /// Headers (or, on a new connection, anything at all) did not arrive in time: drop it.
    SlowHeader,
    /// No request in flight for `idle_timeout`: close it gracefully.
    Idle,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, peer: SocketAddr) {
        let state = Arc::new(ConnState::new());
        let io = TokioIo::new(Tracked {
            inner: tcp,
            state: state.clone(),
        });
        let router = self.router.clone();
        let body_timeout = self.limits.body_timeout;
        let svc_state = state.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let active = Active::start(&svc_state);
            let deadline = Instant::now() + body_timeout;
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            let req = Request::from_parts(
                parts,
                Body::new(Deadline {
                    inner: body,
                    deadline,
                    sleep: None,
                }),
            );
            let mut router = router.clone();
            async move {
                let resp = tower_service::Service::call(&mut router, req).await?;
                Ok::<_, std::convert::Infallible>(resp.map(|inner| Guarded {
                    inner,
                    _active: active,
                }))
            }
        });
        let conn = self.builder.serve_connection_with_upgrades(io, svc);
        let mut conn = std::pin::pin!(conn);
        let mut closing = false;
        loop {
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    break;
                }
                _ = self.close.changed(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                verdict = watchdog(&state, &self.limits) => match verdict {
                    Verdict::Idle if !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    Verdict::Idle => break,
                    Verdict::SlowHeader => {
                        tracing::debug!(%peer, "closing a connection that sent no complete request in time");
                        break;
                    }
                },
            }
        }
    }
}

/// Sleeps until the connection breaks a limit. The state changes without waking it, so it
/// re-reads the state every quarter of the shorter timeout: a limit is enforced at most 25%
/// late, for one timer wake-up per connection every few seconds.
async fn watchdog(state: &ConnState, limits: &EdgeLimits) -> Verdict {
    let header = ms(limits.header_timeout);
    let idle = ms(limits.idle_timeout);
    let step = (header.min(idle) / 4).max(10);
    loop {
        let now = state.now_ms();
        let wait = if state.active.load(Ordering::Acquire) > 0 {
            step
        } else {
            let head = state.head_since.load(Ordering::Acquire);
            let first = state.requests.load(Ordering::Acquire) == 0;
            let (deadline, verdict) = if head != NONE {
                (head.saturating_add(header), Verdict::SlowHeader)
            } else if first {
                (header, Verdict::SlowHeader)
            } else {
                (
                    state
                        .idle_since
                        .load(Ordering::Acquire)
                        .saturating_add(idle),
                    Verdict::Idle,
                )
            };
            if now >= deadline {
                return verdict;
            }
            (deadline - now).min(step)
        };
        tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

const NONE: u64 = u64::MAX;

/// What the watchdog reads; written by the socket reader and the request guards.
struct ConnState {
    epoch: Instant,
    /// Requests in flight (a response still streaming counts).
    active: AtomicUsize,
    /// Requests started on this connection.
    requests: AtomicU64,
    /// Milliseconds since `epoch` when the last request finished.
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` of the first byte of a request not yet dispatched, or NONE.
    head_since: AtomicU64,
}

impl ConnState {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            active: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
        }
    }

    fn now_ms(&self) -> u64 {
        ms(self.epoch.elapsed())
    }

    /// Bytes arrived: if no request is in flight, a new one has begun.
    fn on_read(&self) {
        if self.active.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE
        {
            self.head_since.store(self.now_ms(), Ordering::Release);
        }
    }
}

/// A request in flight, from dispatch until its response body is finished or dropped.
struct Active(Arc<ConnState>);

impl Active {
    fn start(state: &Arc<ConnState>) -> Self {
        state.active.fetch_add(1, Ordering::AcqRel);
        state.requests.fetch_add(1, Ordering::AcqRel);
        state.head_since.store(NONE, Ordering::Release);
        Active(state.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let s = &self.0;
        s.idle_since.store(s.now_ms(), Ordering::Release);
        s.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting when bytes arrive.
struct Tracked {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.on_read();
        }
        res
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The request body with the `HTTP_BODY_TIMEOUT` deadline (the timer is armed only when the
/// body is not already there).
struct Deadline {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body, keeping its request "in flight" until it is finished or dropped.
struct Guarded {
    inner: Body,
    _active: Active,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
