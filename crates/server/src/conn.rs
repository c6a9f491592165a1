//! The connection loop: accepts TCP connections and serves HTTP/1.1 on each with hyper, as
//! `axum::serve` did (graceful shutdown, `ConnectInfo<SocketAddr>`), and also closes a
//! connection that takes longer than the header-read timeout to send a request head (from its
//! first byte: a slowloris client) or that sits idle, no request in flight and nothing read or
//! written, longer than the idle timeout.
//!
//! hyper's own `header_read_timeout` is not used: its clock starts whenever hyper waits for a
//! head, idle keep-alive time included, so it could not be shorter than the idle timeout.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower_service::Service as _;

/// The connection time limits (`None`: no limit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// From the first byte of a request head to its end.
    pub(crate) header_read: Option<Duration>,
    /// With no request in flight, no byte read or written.
    pub(crate) idle: Option<Duration>,
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in flight finish and returns when every connection is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Dropping the receiver tells every connection task to shut down gracefully.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Each connection task holds a receiver: `closed()` completes when the last one ends.
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    accept_error(&e).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        tokio::spawn(connection(stream, remote, app.clone(), timeouts, signal_tx.clone(), close_rx.clone()));
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

/// An accept error: one connection's (reset before it was accepted) is skipped; anything else
/// (out of file descriptors) is logged and retried after a pause instead of spinning.
async fn accept_error(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!("accepting a connection failed: {e}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One connection: hyper's HTTP/1.1 with the watchdog of [`Activity`] beside it.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    signal_tx: watch::Sender<()>,
    close_rx: watch::Receiver<()>,
) {
    let activity = Arc::new(Activity::new());
    let io = hyper_util::rt::TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let svc_activity = activity.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        let in_flight = InFlight::begin(svc_activity.clone());
        let fut = app.clone().call(req);
        async move {
            let resp = fut.await;
            drop(in_flight);
            resp
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().header_read_timeout(None).serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    let mut signal = std::pin::pin!(signal_tx.closed());
    let mut shutting_down = false;
    loop {
        let check = activity.next_check(timeouts, Instant::now());
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection from {remote}: {e}");
                }
                break;
            }
            () = &mut signal, if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            () = sleep_until(check) => {
                if let Some(why) = activity.expired(timeouts, Instant::now()) {
                    // Dropping the connection closes the socket.
                    tracing::debug!("closing the connection from {remote}: {why}");
                    break;
                }
            }
        }
    }
    drop(close_rx);
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the watchdog knows of a connection.
struct Activity(Mutex<State>);

struct State {
    /// Requests handed to the router and not answered yet.
    in_flight: usize,
    /// When the first byte of the next request head arrived (none read yet: `None`).
    head_started: Option<Instant>,
    /// The last byte read or written, or request begun or answered.
    last: Instant,
}

impl Activity {
    fn new() -> Activity {
        Activity(Mutex::new(State { in_flight: 0, head_started: None, last: Instant::now() }))
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // The state stays consistent whatever panicked while it was held: use it anyway.
        let mut g = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    fn read(&self, n: usize) {
        if n > 0 {
            self.with(|s| {
                s.last = Instant::now();
                if s.in_flight == 0 && s.head_started.is_none() {
                    s.head_started = Some(s.last);
                }
            });
        }
    }

    fn wrote(&self, n: usize) {
        if n > 0 {
            self.with(|s| s.last = Instant::now());
        }
    }

    /// When to look again (`now` is the present). Either a moment at which [`Activity::expired`]
    /// will say why to close, or a later re-check: reads, writes and requests do not wake the
    /// watchdog, so a head that starts while it sleeps is noticed at the next re-check, at most
    /// one header-read timeout later, and then timed from its first byte. Never a moment in the
    /// past that does not expire: the loop would spin.
    fn next_check(&self, t: Timeouts, now: Instant) -> Option<Instant> {
        let shortest = match (t.header_read, t.idle) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let recheck = now + shortest;
        self.with(|s| {
            if s.in_flight > 0 {
                return Some(recheck);
            }
            Some(match (s.head_started, t.header_read, t.idle) {
                (Some(h), Some(limit), _) => h + limit,
                (None, header, Some(idle)) => {
                    let idle_at = s.last + idle;
                    header.map_or(idle_at, |limit| idle_at.min(now + limit))
                }
                // A head without a time limit (nothing to time until its request begins), or
                // no idle limit: look again later.
                (Some(_), None, _) | (None, _, None) => recheck,
            })
        })
    }

    /// Why the connection must be closed at `now`, if it must.
    fn expired(&self, t: Timeouts, now: Instant) -> Option<String> {
        self.with(|s| {
            if s.in_flight > 0 {
                return None;
            }
            if let (Some(h), Some(limit)) = (s.head_started, t.header_read) {
                if now.duration_since(h) >= limit {
                    return Some(format!("no complete request head within {limit:?}"));
                }
            }
            match t.idle {
                Some(limit) if s.head_started.is_none() && now.duration_since(s.last) >= limit => {
                    Some(format!("idle for {limit:?}"))
                }
                _ => None,
            }
        })
    }
}

/// A request in flight until dropped (answered, or cancelled with its connection).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(a: Arc<Activity>) -> InFlight {
        a.with(|s| {
            s.in_flight += 1;
            s.head_started = None;
            s.last = Instant::now();
        });
        InFlight(a)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.with(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.head_started = None;
            s.last = Instant::now();
        });
    }
}

/// The socket, telling [`Activity`] about every byte read and written.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.activity.read(buf.filled().len() - before);
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = r {
            self.activity.wrote(n);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.activity.wrote(n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The watchdog loop sleeps until `next_check`, then closes if `expired`, else asks again:
    /// in every state and with every combination of limits, a check that is due now must
    /// expire, or the loop would spin (an idle keep-alive connection once cost a core this way).
    #[test]
    fn a_due_check_always_expires() {
        let secs = Duration::from_secs;
        let limits = [None, Some(secs(10)), Some(secs(60))];
        for header_read in limits {
            for idle in limits {
                let t = Timeouts { header_read, idle };
                for head in [false, true] {
                    for in_flight in [0, 1] {
                        let a = Activity::new();
                        let t0 = a.with(|s| s.last);
                        a.with(|s| {
                            s.in_flight = in_flight;
                            s.head_started = head.then_some(t0);
                        });
                        for step in 0..200 {
                            let now = t0 + secs(step);
                            let Some(at) = a.next_check(t, now) else { continue };
                            assert!(
                                at > now || a.expired(t, now).is_some(),
                                "{t:?} head={head} in_flight={in_flight}: check at {:?} is due at +{step}s and does not expire",
                                at - t0
                            );
                        }
                    }
                }
            }
        }
    }

    const T: Timeouts = Timeouts { header_read: Some(Duration::from_secs(10)), idle: Some(Duration::from_secs(60)) };

    #[test]
    fn idle_then_a_slow_head_then_a_request() {
        let a = Activity::new();
        let t0 = a.with(|s| s.last);
        // Idle: re-checked every header-read timeout (a head may start), closed after the idle one.
        assert_eq!(a.next_check(T, t0), Some(t0 + Duration::from_secs(10)));
        assert_eq!(a.next_check(T, t0 + Duration::from_secs(10)), Some(t0 + Duration::from_secs(20)));
        assert_eq!(a.next_check(T, t0 + Duration::from_secs(55)), Some(t0 + Duration::from_secs(60)));
        assert_eq!(a.expired(T, t0 + Duration::from_secs(59)), None);
        assert!(a.expired(T, t0 + Duration::from_secs(60)).is_some_and(|w| w.contains("idle")));
        // The first byte of a head starts its clock; more bytes do not reset it.
        a.read(3);
        let h = a.with(|s| s.head_started).expect("head started");
        a.read(3);
        assert_eq!(a.with(|s| s.head_started), Some(h));
        assert_eq!(a.next_check(T, h + Duration::from_secs(3)), Some(h + Duration::from_secs(10)));
        assert!(a.expired(T, h + Duration::from_secs(10)).is_some_and(|w| w.contains("head")));
        // A request in flight is never timed here; its end starts the idle clock again.
        let r = InFlight::begin(Arc::new(Activity::new()));
        assert_eq!(r.0.expired(T, Instant::now() + Duration::from_secs(3600)), None);
        drop(r);
        let none = Timeouts { header_read: None, idle: None };
        assert_eq!(a.next_check(none, Instant::now()), None);
        assert_eq!(a.expired(none, Instant::now() + Duration::from_secs(3600)), None);
    }
}
