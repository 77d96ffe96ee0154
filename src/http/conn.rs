//! Slow and stalled clients (decision 0021). Three limits, all on what a client *sends*, none
//! on what it receives, so a long-lived response (an SSE stream) is never cut:
//! - *keep-alive idle*: a connection waiting for its next request (after accept, or after
//!   the previous response ended) is closed after this long;
//! - *header read*: from the first byte of a request to the end of its headers;
//! - *body idle*: the longest silence while a handler waits for more of a request body; the
//!   answer is then 408 `request_timeout`.
//!
//! The first two are per connection: [`Listener`] wraps each accepted socket in [`TimedIo`],
//! which fails a read that waits past the current deadline (hyper then drops the
//! connection), and [`Connection`] (handed to each request as connect info) tells it when a
//! request starts and when its response has ended. hyper's own `header_read_timeout` is not
//! used: its clock starts when the connection goes idle, so it would also cap the idle wait.
//! The third, and `Connection: close` on answers that leave a request body unread (item 5:
//! hyper closes such a connection without saying so), are [`guard_request`]'s, per request.
//! [`TimedIo`] also keeps an HTTP/1.1 connection's read buffer at 8 KiB by ending hyper-util's
//! protocol sniff early (decision 0072).

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::extract::connect_info::Connected;
use axum::http::{HeaderValue, Version, header};
use axum::response::{IntoResponse as _, Response};
use axum::serve::IncomingStream;
use futures_util::task::AtomicWaker;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::config::HttpTimeouts;
use crate::http::problem::ApiError;

/// Accepts connections with TCP_NODELAY (without it, a reply written in several chunks, as
/// SSE is, waits ~40 ms on Nagle's algorithm and delayed ACKs) and the connection deadlines.
pub struct Listener {
    inner: TcpListener,
    timeouts: HttpTimeouts,
}

impl Listener {
    pub fn new(inner: TcpListener, timeouts: HttpTimeouts) -> Self {
        Self { inner, timeouts }
    }
}

impl axum::serve::Listener for Listener {
    type Io = TimedIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (TimedIo, Self::Addr) {
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let _ = tcp.set_nodelay(true);
        (TimedIo::new(tcp, self.timeouts), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Where a connection is between requests, shared by its socket and its requests.
struct ConnState {
    timeouts: HttpTimeouts,
    phase: Mutex<Phase>,
    /// The socket's reader, woken when the deadline changes.
    reader: AtomicWaker,
}

struct Phase {
    /// Requests whose responses have not ended yet (HTTP/2 may have several).
    in_flight: usize,
    /// When the connection last became idle.
    idle_since: Instant,
    /// When the first byte of the next request arrived, while idle.
    head_started: Option<Instant>,
    /// HTTP/2 (decided by its preface): frames between requests are no request head.
    http2: Option<bool>,
}

impl ConnState {
    /// The current deadline: none while a request is in flight.
    fn deadline(&self) -> Option<Instant> {
        let phase = self.phase.lock().expect("connection phase lock");
        if phase.in_flight > 0 {
            return None;
        }
        match phase.head_started {
            Some(at) => self.timeouts.header_read.map(|limit| at + limit),
            None => self.timeouts.keep_alive_idle.map(|limit| phase.idle_since + limit),
        }
    }

    fn received(&self, bytes: &[u8]) {
        let mut phase = self.phase.lock().expect("connection phase lock");
        let http2 = *phase.http2.get_or_insert_with(|| bytes.starts_with(b"PRI * HTTP/2"));
        if phase.in_flight == 0 && phase.head_started.is_none() && !http2 {
            phase.head_started = Some(Instant::now());
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut phase = self.phase.lock().expect("connection phase lock");
        phase.in_flight += 1;
        phase.head_started = None;
        InFlight(self.clone())
    }
}

/// A request whose response has not ended; dropped with the response body.
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut phase = self.0.phase.lock().expect("connection phase lock");
        phase.in_flight -= 1;
        if phase.in_flight == 0 {
            phase.idle_since = Instant::now();
        }
        drop(phase);
        self.0.reader.wake();
    }
}

/// HTTP/2's connection preface (RFC 9113 §3.4): what a prior-knowledge HTTP/2 client sends
/// first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An accepted socket whose reads fail once the connection's deadline has passed.
pub struct TimedIo {
    io: TcpStream,
    state: Arc<ConnState>,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed_for: Option<Instant>,
    /// Until the first read: see [`TimedIo::poll_sniff`].
    first_read: bool,
}

impl TimedIo {
    fn new(io: TcpStream, timeouts: HttpTimeouts) -> Self {
        let phase = Phase { in_flight: 0, idle_since: Instant::now(), head_started: None, http2: None };
        let state = Arc::new(ConnState { timeouts, phase: Mutex::new(phase), reader: AtomicWaker::new() });
        let timer = Box::pin(tokio::time::sleep(Duration::ZERO));
        Self { io, state, timer, armed_for: None, first_read: true }
    }

    /// Ready with an error once the current deadline has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        self.state.reader.register(cx.waker());
        let Some(deadline) = self.state.deadline() else { return Poll::Pending };
        if self.armed_for != Some(deadline) {
            self.timer.as_mut().reset(deadline.into());
            self.armed_for = Some(deadline);
        }
        ready!(self.timer.as_mut().poll(cx));
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the client was too slow to send a request"))
    }

    /// The first read, which is hyper-util's protocol sniff (axum serves every connection
    /// through its `auto` builder): it reads up to 24 bytes alone, looking for HTTP/2's
    /// preface, and hands them to hyper's HTTP/1.1 parser first. hyper then has 8 KiB minus
    /// those bytes left in its read buffer, wants 8 KiB, and the buffer grows to 16 KiB for
    /// the life of the connection — ~4–5 KiB of RSS per idle stream (decision 0072). So when
    /// the first bytes cannot be the preface, this read ends at once with nothing read: the
    /// sniff takes that for HTTP/1.1 with nothing to hand over, and hyper reads the request
    /// straight from the socket into an 8 KiB buffer. Anything that may be the preface (or a
    /// lone `P`) goes the usual way. Ready(true) when the read is over.
    fn poll_sniff(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut first = [0u8; H2_PREFACE.len()];
        let mut peeked = ReadBuf::new(&mut first);
        match self.io.poll_peek(cx, &mut peeked) {
            Poll::Pending => self.poll_deadline(cx).map(Err),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Ready(Ok(_)) => {
                self.first_read = false;
                let bytes = peeked.filled();
                Poll::Ready(Ok(!bytes.is_empty() && !H2_PREFACE.starts_with(bytes)))
            }
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.first_read && ready!(this.poll_sniff(cx))? {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.received(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => this.poll_deadline(cx).map(Err),
        }
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The connection a request arrived on, as connect info, with the peer's address.
#[derive(Clone)]
pub struct Connection(Arc<ConnState>, std::net::SocketAddr);

impl Connection {
    /// The address of the peer (a proxy's, behind one).
    pub fn peer(&self) -> std::net::IpAddr {
        self.1.ip()
    }
}

impl Connected<IncomingStream<'_, Listener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        Self(stream.io().state.clone(), *stream.remote_addr())
    }
}

/// Per request: marks it in flight on its connection until its response body ends, applies
/// the body idle timeout (408), and announces `Connection: close` when the answer leaves the
/// request body unread (hyper closes such a connection; the client must know before it sends
/// the next request on it).
pub async fn guard_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let connection = request.extensions().get::<ConnectInfo<Connection>>().map(|c| c.0.0.clone());
    let in_flight = connection.as_ref().map(ConnState::request_started);
    let body_idle = connection.as_ref().and_then(|c| c.timeouts.body_idle);
    let http1 = request.version() <= Version::HTTP_11;
    let watch = Arc::new(BodyWatch::default());
    let request = request.map(|body| Body::new(WatchedBody::new(body, body_idle, watch.clone())));
    let mut response = next.run(request).await;
    if watch.timed_out.load(Ordering::Acquire) {
        response = ApiError::RequestTimeout.into_response();
    }
    if http1 && !watch.finished.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    match in_flight {
        Some(held) => response.map(|body| Body::new(Holding { inner: body, _held: held })),
        None => response,
    }
}

#[derive(Default)]
struct BodyWatch {
    /// The body was read to its end (or had none).
    finished: AtomicBool,
    /// The client went silent for longer than the body idle timeout.
    timed_out: AtomicBool,
}

/// A request body that records whether it was read to the end and fails after a silence.
struct WatchedBody {
    inner: Body,
    idle: Option<Duration>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    watch: Arc<BodyWatch>,
}

impl WatchedBody {
    fn new(inner: Body, idle: Option<Duration>, watch: Arc<BodyWatch>) -> Self {
        if inner.is_end_stream() {
            watch.finished.store(true, Ordering::Release);
        }
        Self { inner, idle, timer: None, watch }
    }
}

impl HttpBody for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.watch.finished.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Ready(frame) => {
                this.timer = None; // the silence starts again from here
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let Some(idle) = this.idle else { return Poll::Pending };
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                ready!(timer.as_mut().poll(cx));
                this.watch.timed_out.store(true, Ordering::Release);
                Poll::Ready(Some(Err(axum::Error::new("the request body stalled"))))
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

/// A response body that holds something (the request's place in flight) until it ends; its
/// size stays known, so `Content-Length` stays.
struct Holding<T> {
    inner: Body,
    _held: T,
}

impl<T: Unpin> HttpBody for Holding<T> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
