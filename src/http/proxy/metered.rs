//! The relayed body as an HTTP body, frame by frame: counts the bytes, holds whatever must
//! live as long as the body (the active-streams gauge, the tenant's stream slot), and can end
//! cleanly at shutdown. Written by hand because `http-body-util`'s `map_frame` drops the size
//! hint, and a known length must stay `Content-Length` rather than chunked framing.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use metrics::Counter;
use tokio_util::sync::WaitForCancellationFutureOwned;

pub struct Metered<Held> {
    inner: Body,
    bytes: Counter,
    /// When set and complete, the body ends (cleanly) before its upstream does.
    stop: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    _held: Held,
}

impl<Held> Metered<Held> {
    pub fn new(
        inner: Body,
        bytes: Counter,
        stop: Option<WaitForCancellationFutureOwned>,
        held: Held,
    ) -> Self {
        Self { inner, bytes, stop: stop.map(Box::pin), _held: held }
    }
}

impl<Held: Unpin> HttpBody for Metered<Held> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Some(stop) = &mut this.stop
            && stop.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(None);
        }
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.bytes.increment(data.len() as u64);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;

    #[tokio::test]
    async fn a_known_length_stays_known_and_stopping_ends_the_body_cleanly() {
        let known = Metered::new(Body::from("hello"), Counter::noop(), None, ());
        assert_eq!(known.size_hint().exact(), Some(5));
        assert_eq!(axum::body::to_bytes(Body::new(known), 64).await.unwrap(), "hello");

        let endless = Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let stop = CancellationToken::new();
        let stopped = Metered::new(endless, Counter::noop(), Some(stop.clone().cancelled_owned()), ());
        stop.cancel();
        assert!(axum::body::to_bytes(Body::new(stopped), 64).await.unwrap().is_empty());
    }
}
